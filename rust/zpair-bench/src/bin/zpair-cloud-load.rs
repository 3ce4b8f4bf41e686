//! The reference cloud under load: N simulated devices activate concurrently over HTTPS against
//! `zpair-cloud serve` running as a child process on 127.0.0.1, then the database is checked:
//! every activation recorded exactly once. A second phase kills the cloud with SIGKILL in the
//! middle, restarts it on the same data directory and lets the devices retry with fresh
//! challenges.
//!
//! ```text
//! zpair-cloud-load --cloud-bin target/perf/zpair-cloud --data-dir /tmp/load \
//!     [--devices 1000] [--crash-devices 500] [--concurrency 128] [--out results.tsv]
//! ```
//!
//! Each simulated device is what a real one does: its own HTTPS connection (TLS 1.3 handshake,
//! trusting only the cloud's CA), `POST /v1/device/challenge`, then `POST /v1/device/activate`
//! with the HMAC proof over the nonce and its token, then it opens the sealed operational secret
//! (which authenticates the cloud). Setup (factory records, one user, one token per device) is
//! written to the database before the cloud starts: it is not what is measured.
//!
//! Output: `key<TAB>value` lines (stdout, and `--out`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zpair_cloud::client::{DeviceApiError, DeviceClient};
use zpair_cloud::crypto::HostCrypto;
use zpair_cloud::sqlite::SqliteStore;
use zpair_cloud::store::{DeviceIdentity, NewToken, Store};
use zpair_core::activation::{ActivateRequest, ActivationSecret};
use zpair_core::crypto::Crypto;
use zpair_core::error::PairError;
use zpair_core::types::{ActivationToken, DeviceId, Mode, ProductId};

struct Args {
    cloud_bin: PathBuf,
    data_dir: PathBuf,
    devices: usize,
    crash_devices: usize,
    concurrency: usize,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        cloud_bin: PathBuf::new(),
        data_dir: PathBuf::new(),
        devices: 1000,
        crash_devices: 500,
        concurrency: 128,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|_| format!("{k}: not a number"));
        match k.as_str() {
            "--cloud-bin" => a.cloud_bin = v()?.into(),
            "--data-dir" => a.data_dir = v()?.into(),
            "--devices" => a.devices = num(v()?)?,
            "--crash-devices" => a.crash_devices = num(v()?)?,
            "--concurrency" => a.concurrency = num(v()?)?.max(1),
            "--out" => a.out = Some(v()?.into()),
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if a.cloud_bin.as_os_str().is_empty() || a.data_dir.as_os_str().is_empty() {
        return Err("--cloud-bin and --data-dir are required".into());
    }
    Ok(a)
}

const PRODUCT: ProductId = ProductId(0x2a);

/// One simulated device.
struct Sim {
    id: DeviceId,
    secret: [u8; 32],
    token: String,
}

/// What happened to one device.
#[derive(Default, Clone)]
struct Outcome {
    ok: bool,
    /// The activation committed but its response was lost (the retry saw `token_used`).
    response_lost: bool,
    attempts: u32,
    latency: Duration,
    op_secret: Option<[u8; 32]>,
    error: Option<String>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Factory records, a user and one token per device, straight into the database.
fn provision(store: &SqliteStore, first: u64, n: usize) -> Result<Vec<Sim>, String> {
    let e = |e: zpair_cloud::store::StoreError| e.to_string();
    let mut c = HostCrypto;
    // The SPAKE2+ verifier is not used by activation: one valid record for everyone.
    let (w0, l) = zpair_cloud::manifest::verifier_for_code(
        &mut c,
        DeviceId(first),
        &zpair_core::types::SetupCode::new(20_202_021).map_err(|e| e.name().to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let mut sims = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let mut secret = [0u8; 32];
        c.fill_random(&mut secret).map_err(|e| e.to_string())?;
        let id = DeviceId(first + i);
        ids.push(DeviceIdentity { device_id: id, product_id: PRODUCT, activation_secret: secret, w0, l });
        sims.push(Sim { id, secret, token: String::new() });
    }
    let now = now_ms();
    store.import_devices(&ids, now).map_err(e)?;
    let mut key = [0u8; 32];
    c.fill_random(&mut key).map_err(|e| e.to_string())?;
    let user = store.create_user(&format!("load-{first}"), &key, now).map_err(e)?;
    for (i, s) in sims.iter_mut().enumerate() {
        let mut r = [0u8; 6];
        c.fill_random(&mut r).map_err(|e| e.to_string())?;
        s.token = format!("ld{:06}{}", i % 1_000_000, hex(&r)).chars().take(24).collect();
        let hash = zpair_cloud::server::secret_hash(&s.token);
        store
            .create_token(&NewToken {
                hash,
                user,
                region: "eu".into(),
                product: None,
                device: None,
                created_ms: now,
                expires_ms: now + 3_600_000,
            })
            .map_err(e)?;
    }
    Ok(sims)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The cloud as a child process.
struct CloudProc {
    bin: PathBuf,
    data_dir: PathBuf,
    listen: String,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl CloudProc {
    fn start(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .args(["serve", "--listen", &self.listen, "--data-dir"])
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no graceful shutdown, requests in flight are cut.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for CloudProc {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_up(base: &str, ca: &Path, timeout: Duration) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        if let Ok(pem) = std::fs::read(ca) {
            if let Ok(dc) = DeviceClient::new(base, Some(&pem)) {
                // An unknown device is refused precisely once the service answers.
                if let Err(DeviceApiError { error: PairError::DeviceUnknown, .. }) = dc.challenge(DeviceId(u64::MAX)).await {
                    return Ok(());
                }
            }
        }
        if t0.elapsed() > timeout {
            return Err("the cloud did not come up".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One device's activation, retried with a fresh challenge (and connection) after a transport
/// failure, as a device does.
async fn activate(base: &str, ca: &[u8], sim: &Sim) -> Outcome {
    let mut out = Outcome::default();
    let mut transport_failed = false;
    let t0 = Instant::now();
    loop {
        out.attempts += 1;
        let r: Result<[u8; 32], DeviceApiError> = async {
            let dc = DeviceClient::new(base, Some(ca)).map_err(|_| DeviceApiError::from(PairError::Internal))?;
            let ch = dc.challenge(sim.id).await?;
            let token = ActivationToken::new(sim.token.as_bytes()).map_err(DeviceApiError::from)?;
            let secret = ActivationSecret::new(sim.secret);
            let req = ActivateRequest::new_signed(&mut HostCrypto, &secret, sim.id, PRODUCT, ch.nonce, token, (1, 0, 0), Mode::Ble);
            let resp = dc.activate(&req).await?;
            let op = resp.open(&mut HostCrypto, &secret, &ch.nonce, sim.id)?;
            Ok(*op.expose())
        }
        .await;
        match r {
            Ok(op) => {
                out.ok = true;
                out.op_secret = Some(op);
                out.latency = t0.elapsed();
                return out;
            }
            Err(e) if e.error == PairError::TokenUsed && transport_failed => {
                out.response_lost = true;
                out.latency = t0.elapsed();
                return out;
            }
            Err(e) if matches!(e.error, PairError::CloudUnreachable | PairError::Internal | PairError::RateLimited)
                && out.attempts < 400 =>
            {
                transport_failed |= e.error != PairError::RateLimited;
                let wait = e.retry_after_s.map_or(Duration::from_millis(50), |s| Duration::from_secs(s.into()));
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                out.error = Some(e.to_string());
                out.latency = t0.elapsed();
                return out;
            }
        }
    }
}

struct Phase {
    wall: Duration,
    outcomes: Vec<Outcome>,
}

/// Runs every device with `concurrency` in flight. `on_progress(done)` is polled by a watcher.
async fn run_phase(
    base: Arc<String>,
    ca: Arc<Vec<u8>>,
    sims: Arc<Vec<Sim>>,
    concurrency: usize,
    done: Arc<AtomicUsize>,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(vec![Outcome::default(); sims.len()]));
    let t0 = Instant::now();
    let mut tasks = vec![];
    for _ in 0..concurrency.min(sims.len()) {
        let (base, ca, sims, next, outcomes, done) =
            (base.clone(), ca.clone(), sims.clone(), next.clone(), outcomes.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(sim) = sims.get(i) else { break };
                let o = activate(&base, &ca, sim).await;
                outcomes.lock().unwrap_or_else(|e| e.into_inner())[i] = o;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let wall = t0.elapsed();
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    Phase { wall, outcomes }
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat` (Linux; clock ticks
/// of 1/100 s).
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_string)).unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn report_phase(out: &mut Vec<(String, String)>, name: &str, p: &Phase, concurrency: usize) {
    let mut lat: Vec<Duration> = p.outcomes.iter().filter(|o| o.ok).map(|o| o.latency).collect();
    lat.sort();
    let ok = p.outcomes.iter().filter(|o| o.ok).count();
    let lost = p.outcomes.iter().filter(|o| o.response_lost).count();
    let failed = p.outcomes.iter().filter(|o| !o.ok && !o.response_lost).count();
    let retried = p.outcomes.iter().filter(|o| o.attempts > 1).count();
    let mut kv = |k: &str, v: String| out.push((format!("{name}.{k}"), v));
    kv("devices", p.outcomes.len().to_string());
    kv("concurrency", concurrency.to_string());
    kv("wall_s", format!("{:.3}", p.wall.as_secs_f64()));
    kv("activations_per_s", format!("{:.0}", ok as f64 / p.wall.as_secs_f64()));
    kv("ok", ok.to_string());
    kv("response_lost", lost.to_string());
    kv("failed", failed.to_string());
    kv("retried_devices", retried.to_string());
    kv("p50_ms", format!("{:.1}", percentile(&lat, 0.50)));
    kv("p99_ms", format!("{:.1}", percentile(&lat, 0.99)));
    kv("max_ms", format!("{:.1}", percentile(&lat, 1.0)));
    if let Some(e) = p.outcomes.iter().find_map(|o| o.error.clone()) {
        kv("first_error", e);
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("zpair-cloud-load: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    match rt.block_on(run(&args)) {
        Ok(lines) => {
            let text: String = lines.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
            print!("{text}");
            if let Some(p) = &args.out {
                if let Err(e) = std::fs::write(p, text) {
                    eprintln!("zpair-cloud-load: {}: {e}", p.display());
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("zpair-cloud-load: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: &Args) -> Result<Vec<(String, String)>, String> {
    let _ = std::fs::remove_dir_all(&args.data_dir);
    std::fs::create_dir_all(&args.data_dir).map_err(|e| e.to_string())?;
    let db = zpair_cloud::server::db_path(&args.data_dir);
    let t_setup = Instant::now();
    let (steady, crash) = {
        let store = SqliteStore::open(&db, 1).map_err(|e| e.to_string())?;
        let steady = provision(&store, 0x5a00_0000_0000_0000, args.devices)?;
        let crash = provision(&store, 0x5b00_0000_0000_0000, args.crash_devices)?;
        (Arc::new(steady), Arc::new(crash))
    };
    let setup_s = t_setup.elapsed().as_secs_f64();

    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let base = Arc::new(format!("https://localhost:{port}"));
    let ca_path = args.data_dir.join("ca.pem");
    let mut cloud = CloudProc {
        bin: args.cloud_bin.clone(),
        data_dir: args.data_dir.clone(),
        listen: format!("127.0.0.1:{port}"),
        log: args.data_dir.join("cloud.log"),
        child: None,
        starts: 0,
    };
    cloud.start()?;
    wait_up(&base, &ca_path, Duration::from_secs(30)).await?;
    let ca = Arc::new(std::fs::read(&ca_path).map_err(|e| e.to_string())?);

    let mut out = vec![("setup_s".to_string(), format!("{setup_s:.2}"))];

    // Phase 1: steady load, with the CPU time both sides spend (a figure the machine's other
    // load does not change, unlike the wall-clock rate).
    let server_pid = cloud.child.as_ref().map(Child::id);
    let load_before = load_average();
    let (srv0, cli0) = (cpu_seconds(server_pid), cpu_seconds(None));
    let done = Arc::new(AtomicUsize::new(0));
    let steady_phase = run_phase(base.clone(), ca.clone(), steady.clone(), args.concurrency, done).await;
    let (srv1, cli1) = (cpu_seconds(server_pid), cpu_seconds(None));
    report_phase(&mut out, "steady", &steady_phase, args.concurrency);
    let ok = steady_phase.outcomes.iter().filter(|o| o.ok).count().max(1) as f64;
    if let (Some(a), Some(b), Some(c), Some(d)) = (srv0, srv1, cli0, cli1) {
        let (srv, cli) = ((b - a) / ok * 1e3, (d - c) / ok * 1e3);
        out.push(("steady.server_cpu_ms_per_activation".into(), format!("{srv:.3}")));
        out.push(("steady.client_cpu_ms_per_activation".into(), format!("{cli:.3}")));
        out.push(("steady.server_cpu_s".into(), format!("{:.2}", b - a)));
        out.push(("steady.client_cpu_s".into(), format!("{:.2}", d - c)));
        // What two otherwise idle cores could do: server and clients together.
        out.push(("steady.cpu_bound_per_s_2_cores".into(), format!("{:.0}", 2000.0 / (srv + cli))));
        out.push(("steady.server_only_per_s_2_cores".into(), format!("{:.0}", 2000.0 / srv)));
    }
    out.push(("steady.load_average_before".into(), load_before));
    out.push(("steady.load_average_after".into(), load_average()));

    // Phase 2: SIGKILL at 40 % and restart.
    let done = Arc::new(AtomicUsize::new(0));
    let cloud = Arc::new(tokio::sync::Mutex::new(cloud));
    let killer = {
        let (done, cloud, base, ca_path) = (done.clone(), cloud.clone(), base.clone(), ca_path.clone());
        let kill_at = args.crash_devices * 2 / 5;
        tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < kill_at {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let mut c = cloud.lock().await;
            let t = Instant::now();
            c.kill();
            let at = done.load(Ordering::Relaxed);
            c.start()?;
            drop(c);
            wait_up(&base, &ca_path, Duration::from_secs(30)).await?;
            Ok::<(usize, Duration), String>((at, t.elapsed()))
        })
    };
    let crash_phase = if args.crash_devices > 0 {
        Some(run_phase(base.clone(), ca.clone(), crash.clone(), args.concurrency, done).await)
    } else {
        killer.abort();
        None
    };
    if let Some(p) = &crash_phase {
        report_phase(&mut out, "crash", p, args.concurrency);
        match killer.await {
            Ok(Ok((at, down))) => {
                out.push(("crash.killed_after_devices".into(), at.to_string()));
                out.push(("crash.restart_ms".into(), format!("{:.0}", down.as_secs_f64() * 1e3)));
            }
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(format!("killer: {e}")),
        }
    }
    cloud.lock().await.kill();
    out.push(("cloud_starts".into(), cloud.lock().await.starts.to_string()));

    // The database, after the last SIGKILL.
    let store = SqliteStore::open(&db, 1).map_err(|e| e.to_string())?;
    let q = |sql: &str| store.query_i64(sql).map_err(|e| e.to_string());
    let expected = args.devices + args.crash_devices;
    out.push(("db.expected".into(), expected.to_string()));
    out.push(("db.activation_rows".into(), q("SELECT COUNT(*) FROM activations")?.to_string()));
    out.push(("db.devices_in_log".into(), q("SELECT COUNT(DISTINCT device_id) FROM activations")?.to_string()));
    out.push((
        "db.devices_logged_twice".into(),
        q("SELECT COUNT(*) FROM (SELECT device_id FROM activations GROUP BY device_id HAVING COUNT(*) > 1)")?.to_string(),
    ));
    out.push(("db.devices_activated".into(), q("SELECT COUNT(*) FROM devices WHERE status = 'activated'")?.to_string()));
    out.push(("db.tokens_used".into(), q("SELECT COUNT(*) FROM tokens WHERE used_at IS NOT NULL")?.to_string()));
    out.push((
        "db.tokens_used_by_other_device".into(),
        q("SELECT COUNT(*) FROM activations a JOIN tokens t ON t.hash = a.token_hash WHERE t.used_by IS NOT a.device_id")?
            .to_string(),
    ));
    // Every device that got an answer holds exactly the secret the database recorded.
    let mut mismatched = 0;
    let mut checked = 0;
    let all = steady_phase.outcomes.iter().zip(steady.iter()).chain(
        crash_phase.iter().flat_map(|p| p.outcomes.iter().zip(crash.iter())),
    );
    for (o, sim) in all {
        if let Some(op) = o.op_secret {
            checked += 1;
            let n = q(&format!(
                "SELECT COUNT(*) FROM devices WHERE device_id = {} AND op_secret = x'{}'",
                sim.id.0 as i64,
                hex(&op)
            ))?;
            if n != 1 {
                mismatched += 1;
            }
        }
    }
    out.push(("db.secrets_checked".into(), checked.to_string()));
    out.push(("db.secrets_mismatched".into(), mismatched.to_string()));
    Ok(out)
}
