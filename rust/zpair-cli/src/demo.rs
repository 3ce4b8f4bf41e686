//! `zpair demo`: the cloud, four simulated devices (one per mode) and four pairings, on
//! loopback, with a timeline; exits 0 only if every device is activated and the cloud's
//! database agrees.
//!
//! Everything lives in a temporary directory: the cloud's database and TLS material, the
//! factory batch, the simulated air (one WPA2 access point with a random password) and the
//! devices' flash. Nothing outside it is touched, and nothing but loopback is used.

use crate::air::Air as AirView;
use crate::cloud::{Cloud, CloudSettings};
use crate::commission::ConfirmedBy;
use crate::error::{CliError, ExitClass};
use crate::events::{Event, Human, JsonLines, Observer, Recorder, Step, Tee};
use crate::link::AnnounceListener;
use crate::run::{self, PairJob};
use crate::setup::SetupSource;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;
use zpair_cloud::store::{DeviceStatus, Store};
use zpair_core::types::{DeviceId, Mode, Modes, ProductId};

/// `zpair demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the temporary directory (cloud data, air, factory files) and print its path.
    #[arg(long)]
    pub keep: bool,
    /// Put the temporary directory here instead of the system's temp dir.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// The product id of the demo's devices.
pub const DEMO_PRODUCT: u32 = 23120;
/// The access point the demo devices join.
pub const DEMO_SSID: &str = "HomeNet-24";

/// The result of one device of the demo.
#[derive(Debug, Clone)]
pub struct DemoDevice {
    /// The mode it was paired in.
    pub mode: Mode,
    /// Its id.
    pub device: DeviceId,
    /// What the commissioner saw.
    pub outcome: Result<(ConfirmedBy, Duration), CliError>,
    /// The step durations (step, ms).
    pub steps: Vec<(Step, u64)>,
}

/// What the demo found.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// One per mode.
    pub devices: Vec<DemoDevice>,
    /// Whether the cloud's database holds all four as activated, owned by the demo user, with
    /// the right mode.
    pub cloud_agrees: bool,
    /// Per device, what the database says (device, status, mode).
    pub database: Vec<(String, String, String)>,
    /// Wall time.
    pub elapsed: Duration,
}

impl DemoReport {
    /// Every pairing succeeded and the database agrees.
    pub fn ok(&self) -> bool {
        self.cloud_agrees && self.devices.iter().all(|d| d.outcome.is_ok())
    }
}

fn err(msg: impl Into<String>) -> CliError {
    CliError::new(ExitClass::Internal, "demo", msg, "")
}

fn random_password() -> Zeroizing<String> {
    use zpair_crypto::Crypto;
    let mut b = [0u8; 12];
    let _ = zpair_cloud::crypto::HostCrypto.fill_random(&mut b);
    Zeroizing::new(format!("demo-{}", hex::encode(b)))
}

fn steps_of(rec: &Recorder) -> Vec<(Step, u64)> {
    let mut out = Vec::new();
    for (t, e) in &rec.events {
        if let Event::StepDone { step, .. } = e {
            let started = rec
                .events
                .iter()
                .rev()
                .find(|(ts, x)| ts <= t && matches!(x, Event::StepStarted { step: s, .. } if s == step))
                .map_or(*t, |(ts, _)| *ts);
            out.push((*step, t.saturating_sub(started).as_millis() as u64));
        }
    }
    out
}

/// Runs the demo in `workdir` (a fresh temporary directory when `None`), reporting progress to
/// `obs`. The returned report says whether it succeeded.
pub fn run_demo(workdir: &Path, obs: &mut dyn Observer) -> Result<DemoReport, CliError> {
    let start = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the runtime", &e))?;

    // 1. The cloud (TLS, its own CA), answering bind-polls at once.
    obs.event(&Event::note("starting the cloud (TLS, SQLite) on loopback"));
    let mut cfg = zpair_cloud::Config::new("127.0.0.1:0".parse().map_err(|_| err("address"))?, workdir.join("cloud"));
    cfg.long_poll_s = 10;
    cfg.poll_retry_s = 1;
    let handle = rt.block_on(zpair_cloud::Cloud::start(cfg)).map_err(|e| err(format!("the cloud did not start: {e}")))?;
    let url = handle.base_url();
    let ca_pem = std::fs::read(handle.ca_pem_path().ok_or_else(|| err("no CA"))?).map_err(|e| CliError::io("reading the CA", &e))?;
    let anon = Cloud::new(CloudSettings { url: url.clone(), ca_pem: Some(ca_pem.clone()), api_key: None, region: "eu".into() })?;
    let (user_id, api_key) = anon.create_user("demo")?;
    let cloud = Cloud::new(CloudSettings { url: url.clone(), ca_pem: Some(ca_pem.clone()), api_key: Some(api_key), region: "eu".into() })?;
    obs.event(&Event::note(format!("cloud at {url}; user {user_id} created")));

    // 2. The factory batch, imported into the cloud.
    let batch = zpair_cloud::manifest::generate_batch(&mut zpair_cloud::crypto::HostCrypto, ProductId(DEMO_PRODUCT), 4, Modes::ALL)
        .map_err(|_| err("generating identities failed"))?;
    let manifest = zpair_cloud::manifest::write_batch(&batch, &workdir.join("factory")).map_err(|e| CliError::io("writing the batch", &e))?;
    let identities = zpair_cloud::manifest::read_manifest(&manifest).map_err(|e| err(e.to_string()))?;
    let now = zpair_cloud::clock::Clock::now_ms(&zpair_cloud::SystemClock);
    handle.store().import_devices(&identities, now).map_err(|e| err(format!("import: {e}")))?;
    obs.event(&Event::note(format!("factory batch of 4 imported ({})", manifest.display())));

    // 3. The air: one WPA2 access point; the commissioner's announce listener.
    let air_dir = workdir.join("air");
    let sim_air = zpair_sim::Air::new(&air_dir).map_err(|e| CliError::io("creating the air", &e))?;
    let password = random_password();
    sim_air
        .set_access_points(&[zpair_sim::AccessPoint::wpa2(DEMO_SSID, &password)])
        .map_err(|e| CliError::io("writing aps.json", &e))?;
    let listener = AnnounceListener::bind("127.0.0.1:0".parse().map_err(|_| err("address"))?)
        .map_err(|e| CliError::io("binding the announce listener", &e))?;
    let announce_to = listener.local_addr().map_err(|e| CliError::io("announce listener", &e))?;

    // 4. Four simulated devices, one mode each.
    let modes = [Mode::SoftAp, Mode::Ble, Mode::Wired, Mode::Cellular];
    let mut sims = Vec::new();
    for (i, (rec, mode)) in batch.devices.iter().zip(modes).enumerate() {
        let text = Zeroizing::new(serde_json::to_string(rec).map_err(|e| err(e.to_string()))?);
        let factory = zpair_sim::factory::from_record_json(&text).map_err(|e| err(format!("factory record: {e}")))?;
        let mut sc = zpair_sim::SimConfig::new(factory, workdir.join(format!("device-{i}")), &air_dir, &url);
        sc.ca_pem = Some(ca_pem.clone());
        sc.modes = mode.bit();
        sc.announce_to = announce_to;
        sc.announce_interval_ms = 250;
        sc.bind_retry_ms = 250;
        let h = zpair_sim::SimDevice::start(sc).map_err(|e| err(e.to_string()))?;
        obs.event(&Event::note(format!("simulated device {} pairs over {}", h.device_id(), mode.name())));
        sims.push((mode, h, rec.entry.setup_payload.clone().unwrap_or_default()));
    }

    // 5. Pair each, as a person would.
    let air = AirView::new(&air_dir);
    let wifi = crate::wifi::credentials(DEMO_SSID, Some(&password), None, false)?;
    let mut results = Vec::new();
    for (mode, h, payload) in &sims {
        let device = h.device_id();
        obs.event(&Event::note(format!("── {} ─ device {device}", mode.name())));
        let mut rec = Recorder::default();
        let outcome = {
            let mut tee = Tee(&mut *obs, &mut rec);
            if *mode == Mode::Cellular {
                // "Scan" the QR code the device shows.
                let qr = air.cellular().into_iter().find(|q| crate::air::parse_device_id(&q.device) == Some(device));
                match qr {
                    Some(q) => run::bind_qr(&Zeroizing::new(q.payload.clone()), &cloud, Duration::from_secs(30), &mut tee)
                        .map(|o| (o.confirmed_by, o.elapsed)),
                    None => Err(CliError::not_found(format!("device {device} shows no QR code"), "")),
                }
            } else {
                let mut job = PairJob::new(*mode, SetupSource::payload(payload)?);
                job.wifi = mode.needs_wifi().then(|| wifi.clone());
                job.discover_wait = Duration::from_secs(10);
                job.timeouts.deadline = Duration::from_secs(30);
                let l = (*mode == Mode::Wired).then_some(&listener);
                run::pair(&job, &air, l, &cloud, &mut tee).map(|o| (o.confirmed_by, o.elapsed))
            }
        };
        if let Err(e) = &outcome {
            obs.event(&Event::note(format!("{} failed: {}", mode.name(), e)));
        }
        results.push(DemoDevice { mode: *mode, device, outcome, steps: steps_of(&rec) });
    }

    // 6. Does the cloud's database agree?
    let mut database = Vec::new();
    let mut agrees = true;
    for d in &results {
        let rec = handle.store().device(d.device).map_err(|e| err(format!("store: {e}")))?;
        let (status, mode, owner) = match &rec {
            Some(r) => (r.status, r.mode.clone().unwrap_or_default(), r.owner),
            None => (DeviceStatus::New, String::new(), None),
        };
        let ok = status == DeviceStatus::Activated && mode == d.mode.name() && owner == Some(user_id);
        agrees &= ok;
        let status = if status == DeviceStatus::Activated { "activated" } else { "new" };
        database.push((d.device.to_string(), status.to_owned(), mode));
    }
    // The app API says the same.
    let listed = cloud.devices()?;
    agrees &= results.iter().all(|d| {
        listed.iter().any(|v| v.device_id == d.device.to_string() && v.status == DeviceStatus::Activated)
    });
    // And so do the devices.
    for (_, h, _) in &sims {
        agrees &= h.state() == zpair_core::machine::State::Activated;
    }

    for (_, h, _) in sims {
        h.stop();
    }
    let _ = rt.block_on(handle.shutdown());
    Ok(DemoReport { devices: results, cloud_agrees: agrees, database, elapsed: start.elapsed() })
}

fn print_timeline(r: &DemoReport) {
    println!();
    println!("Timeline (ms per step)");
    println!(
        "{:<9} {:<17} {:>8} {:>6} {:>7} {:>9} {:>11} {:>8} {:>9} {:>8}  RESULT",
        "MODE", "DEVICE", "discover", "token", "connect", "handshake", "credentials", "joining", "activation", "total"
    );
    for d in &r.devices {
        let get = |s: Step| d.steps.iter().find(|(x, _)| *x == s).map_or_else(|| "-".into(), |(_, ms)| ms.to_string());
        let activation = if d.mode == Mode::Cellular {
            format!("{}+{}", get(Step::Bind), get(Step::Activating))
        } else {
            get(Step::Activating)
        };
        let (total, result) = match &d.outcome {
            Ok((by, t)) => (
                format!("{}", t.as_millis()),
                format!("activated{}", if *by == ConfirmedBy::Cloud { " (seen in the cloud)" } else { "" }),
            ),
            Err(e) => ("-".into(), format!("FAILED: {}", e.error)),
        };
        println!(
            "{:<9} {:<17} {:>8} {:>6} {:>7} {:>9} {:>11} {:>8} {:>9} {:>8}  {}",
            d.mode.name(),
            d.device.to_string(),
            get(Step::Discover),
            get(Step::Token),
            get(Step::Connect),
            get(Step::Handshake),
            get(Step::Credentials),
            get(Step::Joining),
            activation,
            total,
            result
        );
    }
    println!();
    println!("Cloud database:");
    for (id, status, mode) in &r.database {
        println!("  {id}  {status:<10} {mode}");
    }
}

/// `zpair demo`.
pub fn run(args: &DemoArgs, json: bool) -> Result<(), CliError> {
    let tmp = match &args.workdir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| CliError::io("creating the work directory", &e))?;
            tempfile::Builder::new().prefix("zpair-demo-").tempdir_in(d)
        }
        None => tempfile::Builder::new().prefix("zpair-demo-").tempdir(),
    }
    .map_err(|e| CliError::io("creating a temporary directory", &e))?;
    let report = {
        let mut obs: Box<dyn Observer> = if json { Box::new(JsonLines::new(std::io::stdout())) } else { Box::new(Human::new()) };
        let r = run_demo(tmp.path(), obs.as_mut());
        if let Ok(rep) = &r {
            if json {
                let devices: Vec<serde_json::Value> = rep
                    .devices
                    .iter()
                    .map(|d| {
                        json!({
                            "mode": d.mode.name(),
                            "device": d.device.to_string(),
                            "activated": d.outcome.is_ok(),
                            "confirmed_by": d.outcome.as_ref().ok().map(|o| o.0),
                            "elapsed_ms": d.outcome.as_ref().ok().map(|o| o.1.as_millis() as u64),
                            "error": d.outcome.as_ref().err().map(|e| e.error.clone()),
                            "steps_ms": d.steps.iter().map(|(s, ms)| (serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), serde_json::Value::from(*ms))).collect::<serde_json::Map<String, serde_json::Value>>(),
                        })
                    })
                    .collect();
                if rep.ok() {
                    obs.event(&Event::result(json!({"devices": devices, "cloud_agrees": rep.cloud_agrees, "elapsed_ms": rep.elapsed.as_millis() as u64})));
                }
            }
        }
        r?
    };
    if !json {
        print_timeline(&report);
    }
    let kept = if args.keep { Some(tmp.keep()) } else { None };
    if report.ok() {
        if !json {
            println!();
            println!(
                "{} All four devices are activated (SoftAP, BLE, wired, cellular) and the cloud's database agrees — {:.1} s.",
                console::style("✔").green().bold(),
                report.elapsed.as_secs_f64()
            );
            if let Some(k) = kept {
                println!("  files kept in {}", k.display());
            }
        }
        Ok(())
    } else {
        let failed: Vec<String> = report
            .devices
            .iter()
            .filter_map(|d| d.outcome.as_ref().err().map(|e| format!("{}: {}", d.mode.name(), e.error)))
            .collect();
        Err(CliError::new(
            ExitClass::Internal,
            "demo_failed",
            if failed.is_empty() {
                "the cloud's database does not agree that all four devices are activated".into()
            } else {
                format!("not every device was activated ({})", failed.join(", "))
            },
            "run with --keep to look at the files",
        ))
    }
}
