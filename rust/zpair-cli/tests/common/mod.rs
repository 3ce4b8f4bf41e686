//! A world for the integration tests: the real cloud (TLS, SQLite, optionally a manual clock),
//! a user, a factory batch imported into the cloud, an air directory with one WPA2 access point,
//! the commissioner's announce listener, and simulated devices (`zpair-sim`) on demand. All on
//! loopback, all in one temporary directory.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;
use zpair_cli::air::Air;
use zpair_cli::cloud::{Cloud, CloudSettings};
use zpair_cli::link::AnnounceListener;
use zpair_cli::run::PairJob;
use zpair_cli::setup::SetupSource;
use zpair_cloud::manifest::Batch;
use zpair_cloud::store::{DeviceStatus, Store};
use zpair_cloud::{CloudHandle, ManualClock};
use zpair_core::types::{DeviceId, Mode, Modes, ProductId};
use zpair_sim::{SimConfig, SimDevice, SimHandle};

pub const SSID: &str = "HomeNet-24";
pub const PASSWORD: &str = "tr0ub4dor-and-3";
pub const PRODUCT: u32 = 23120;

/// Everything secret a test used, to check that no output shows it.
#[derive(Default, Clone)]
pub struct Secrets(pub Arc<Mutex<Vec<String>>>);

impl Secrets {
    pub fn add(&self, s: impl Into<String>) {
        let s = s.into();
        if !s.is_empty() {
            self.0.lock().unwrap().push(s);
        }
    }
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub cloud: Mutex<Option<CloudHandle>>,
    pub addr: SocketAddr,
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub clock: Option<ManualClock>,
    pub api_key: Zeroizing<String>,
    pub user_id: i64,
    pub batch: Batch,
    pub air_dir: PathBuf,
    pub sim_air: zpair_sim::Air,
    pub listener: AnnounceListener,
    pub secrets: Secrets,
}

pub struct Options {
    pub devices: usize,
    pub manual_clock: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { devices: 4, manual_clock: false }
    }
}

fn cloud_config(dir: &Path, listen: SocketAddr, clock: Option<&ManualClock>) -> zpair_cloud::Config {
    let mut cfg = zpair_cloud::Config::new(listen, dir.join("cloud"));
    cfg.long_poll_s = 10;
    cfg.poll_retry_s = 1;
    if let Some(c) = clock {
        cfg.clock = Arc::new(c.clone());
    }
    cfg
}

impl World {
    pub fn new(opts: Options) -> World {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let clock = opts.manual_clock.then(|| ManualClock::new(1_800_000_000_000));
        let handle = rt.block_on(zpair_cloud::Cloud::start(cloud_config(dir.path(), "127.0.0.1:0".parse().unwrap(), clock.as_ref()))).unwrap();
        let url = handle.base_url();
        let ca_pem = std::fs::read(handle.ca_pem_path().unwrap()).unwrap();
        let anon = Cloud::new(CloudSettings { url: url.clone(), ca_pem: Some(ca_pem.clone()), api_key: None, region: "eu".into() }).unwrap();
        let (user_id, api_key) = anon.create_user("test").unwrap();
        let batch = zpair_cloud::manifest::generate_batch(&mut zpair_cloud::crypto::HostCrypto, ProductId(PRODUCT), opts.devices, Modes::ALL).unwrap();
        let manifest = zpair_cloud::manifest::write_batch(&batch, &dir.path().join("factory")).unwrap();
        let ids = zpair_cloud::manifest::read_manifest(&manifest).unwrap();
        handle.store().import_devices(&ids, 0).unwrap();
        let air_dir = dir.path().join("air");
        let sim_air = zpair_sim::Air::new(&air_dir).unwrap();
        sim_air.set_access_points(&[zpair_sim::AccessPoint::wpa2(SSID, PASSWORD)]).unwrap();
        let listener = AnnounceListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let secrets = Secrets::default();
        secrets.add(PASSWORD);
        secrets.add(api_key.as_str());
        for d in &batch.devices {
            secrets.add(d.setup_code.clone());
            secrets.add(d.entry.setup_payload.clone().unwrap_or_default());
            secrets.add(d.entry.activation_secret.clone());
            if let Ok(p) = zpair_core::payload::parse(d.entry.setup_payload.as_deref().unwrap_or("")) {
                let mut b = [0u8; 32];
                if let Ok(m) = zpair_core::payload::render_manual(&p.manual_code(), &mut b) {
                    secrets.add(m);
                    secrets.add(m.replace('-', ""));
                }
            }
        }
        let addr = handle.addr();
        World { dir, rt, cloud: Mutex::new(Some(handle)), addr, url, ca_pem, clock, api_key, user_id, batch, air_dir, sim_air, listener, secrets }
    }

    /// Runs `f` on the running cloud's store.
    pub fn with_store<R>(&self, f: impl FnOnce(&zpair_cloud::sqlite::SqliteStore) -> R) -> R {
        let g = self.cloud.lock().unwrap();
        f(g.as_ref().expect("cloud running").store())
    }

    /// The commissioner's cloud client for the test user.
    pub fn client(&self) -> Cloud {
        self.client_with_key(Some(self.api_key.as_str()))
    }

    pub fn client_with_key(&self, key: Option<&str>) -> Cloud {
        let mut c = Cloud::new(CloudSettings {
            url: self.url.clone(),
            ca_pem: Some(self.ca_pem.clone()),
            api_key: key.map(|k| Zeroizing::new(k.to_owned())),
            region: "eu".into(),
        })
        .unwrap();
        c.retries = 1;
        c
    }

    /// A second user (its key is recorded as a secret).
    pub fn other_user(&self) -> Cloud {
        let (_, key) = self.client_with_key(None).create_user("other").unwrap();
        self.secrets.add(key.as_str());
        self.client_with_key(Some(&key))
    }

    pub fn air(&self) -> Air {
        Air::new(&self.air_dir)
    }

    pub fn device_id(&self, i: usize) -> DeviceId {
        DeviceId(u64::from_str_radix(&self.batch.devices[i].entry.device_id, 16).unwrap())
    }

    pub fn payload(&self, i: usize) -> String {
        self.batch.devices[i].entry.setup_payload.clone().unwrap()
    }

    pub fn setup_code(&self, i: usize) -> String {
        self.batch.devices[i].setup_code.clone()
    }

    /// A simulated device `i` enabling `mode` only; `tweak` adjusts its configuration.
    pub fn start_device(&self, i: usize, mode: Mode, tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
        let text = serde_json::to_string(&self.batch.devices[i]).unwrap();
        let factory = zpair_sim::factory::from_record_json(&text).unwrap();
        let mut sc = SimConfig::new(factory, self.dir.path().join(format!("device-{i}")), &self.air_dir, &self.url);
        sc.ca_pem = Some(self.ca_pem.clone());
        sc.modes = mode.bit();
        sc.announce_to = self.listener.local_addr().unwrap();
        sc.announce_interval_ms = 200;
        sc.bind_retry_ms = 200;
        sc.machine.backoff_base_ms = 200;
        sc.machine.backoff_cap_ms = 800;
        tweak(&mut sc);
        SimDevice::start(sc).unwrap()
    }

    /// A pairing job for device `i` over `mode` with the QR payload and the right Wi-Fi.
    pub fn job(&self, i: usize, mode: Mode) -> PairJob {
        let mut job = PairJob::new(mode, SetupSource::payload(&self.payload(i)).unwrap());
        if mode.needs_wifi() {
            job.wifi = Some(zpair_cli::wifi::credentials(SSID, Some(PASSWORD), None, false).unwrap());
        }
        job.discover_wait = Duration::from_secs(10);
        job.timeouts.deadline = Duration::from_secs(30);
        job
    }

    /// What the cloud's database says about device `i`: (status, mode, owner).
    pub fn db(&self, i: usize) -> (DeviceStatus, Option<String>, Option<i64>) {
        let r = self.with_store(|s| s.device(self.device_id(i)).unwrap().unwrap());
        (r.status, r.mode.clone(), r.owner)
    }

    pub fn assert_activated(&self, i: usize, mode: Mode) {
        let (status, m, owner) = self.db(i);
        assert_eq!(status, DeviceStatus::Activated, "device {i} in the database");
        assert_eq!(m.as_deref(), Some(mode.name()));
        assert_eq!(owner, Some(self.user_id));
    }

    pub fn stop_cloud(&self) {
        let h = self.cloud.lock().unwrap().take();
        if let Some(h) = h {
            self.rt.block_on(h.shutdown()).unwrap();
        }
    }

    pub fn restart_cloud(&self) {
        let h = self
            .rt
            .block_on(zpair_cloud::Cloud::start(cloud_config(self.dir.path(), self.addr, self.clock.as_ref())))
            .unwrap();
        *self.cloud.lock().unwrap() = Some(h);
    }

    /// Writes a config file for the `zpair` binary and returns its path.
    pub fn config_file(&self) -> PathBuf {
        let path = self.dir.path().join("config.toml");
        let ca = self.dir.path().join("cloud").join("ca.pem");
        let text = format!(
            "cloud_url = \"{}\"\nca_cert = \"{}\"\napi_key = \"{}\"\nregion = \"eu\"\nair = \"{}\"\nannounce = \"{}\"\n",
            self.url,
            ca.display(),
            self.api_key.as_str(),
            self.air_dir.display(),
            "127.0.0.1:0"
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs the `zpair` binary with this world's configuration.
    pub fn zpair(&self, args: &[&str]) -> Output {
        self.zpair_env(args, &[])
    }

    pub fn zpair_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let config = self.config_file();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zpair"));
        cmd.args(args)
            .env("ZPAIR_CONFIG", &config)
            .env_remove("ZPAIR_API_KEY")
            .env_remove("ZPAIR_CLOUD")
            .env_remove("ZPAIR_CA")
            .env_remove("ZPAIR_AIR")
            .env_remove("ZPAIR_WIFI_PASS")
            .env_remove("ZPAIR_ANNOUNCE")
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

/// A UDP port free right now on loopback (for a `zpair` process to listen for announcements).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The JSON lines of an output.
pub fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Fails if any secret appears in `text`.
pub fn assert_no_secret(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} shows a secret ({} chars)", s.len());
    }
    // Activation tokens are 16 random alphanumerics; device ids are 16 lowercase hex digits.
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.len() == 16 && !word.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            assert!(word.chars().all(|c| c.is_ascii_alphabetic()), "{what} shows something like a token: {word}");
        }
    }
    assert!(!text.contains("zpk_"), "{what} shows an API key");
}
