//! zpair's simulated device: the very same [`zpair_core::device::Device`] engine as on
//! Zephyr, with host backends, so that every pairing mode runs end to end on one machine over
//! loopback (see `docs/transports.md`).
//!
//! | part | simulated by |
//! |---|---|
//! | Wi-Fi radio | `aps.json` in the [`Air`]: scans, joins with SSID/security/passphrase checks, DHCP outcome; one radio shared with the SoftAP |
//! | SoftAP | a TCP listener on loopback, published as `softap/<ssid>.json` |
//! | BLE | a `SOCK_SEQPACKET` Unix socket with ATT MTU exchange and GATT fragments, published as `ble/<device>.json` |
//! | wired | UDP announcements and a UDP session socket with a reply cache for retransmissions |
//! | cellular | a modem (IMEI, SIM, attach outcomes) and the QR code, published as `cellular/<device>.json`; bind-polls to the cloud |
//! | activation | HTTPS to the cloud ([`cloud::HttpsLink`]), trusting exactly its CA |
//! | storage | two slot files in the data directory ([`storage::FileStorage`]): a SIGKILL is a power cut |
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use zpair_sim::{SimConfig, SimDevice};
//! let factory = zpair_sim::factory::load("factory/devices/0011223344556677.json".as_ref())?;
//! let cfg = SimConfig::new(factory, "/tmp/dev1", "/tmp/air", "https://localhost:8443");
//! let handle = SimDevice::start(cfg)?;
//! let events = handle.subscribe();
//! handle.wait_for_state(zpair_core::machine::State::Activated, Duration::from_secs(60))?;
//! # drop(events);
//! handle.stop();
//! # Ok(()) }
//! ```
//!
//! One thread owns the `Device`; transports, the cloud worker and the handle talk to it through
//! one channel. Nothing a device logs or reports contains a secret.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod air;
pub mod cloud;
pub mod crash;
pub mod events;
pub mod factory;
pub mod radio;
pub mod storage;
pub mod transport;

mod engine;

pub use air::{AccessPoint, Air, ApSecurity, BleAdvert, CellularQr, Dhcp, SoftApAdvert};
pub use crash::CrashPoint;
pub use events::{LinkStats, NetState, SimEvent, SimStatus, TimelineEntry};
pub use radio::{CellNetwork, ModemConfig, WiredLink};
pub use storage::StorageMode;

use engine::{Control, Engine, Input, Settings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;
use zpair_core::device::{Device, Identity};
use zpair_core::factory::FactoryData;
use zpair_core::machine::{Config, ConfigParams, ResetKind, State};
use zpair_core::msg::{Capabilities, FirmwareVersion};
use zpair_core::types::{DeviceId, Modes};

/// Everything a simulated device needs. Build with [`SimConfig::new`] and adjust the fields.
pub struct SimConfig {
    /// The device's factory data (identity, activation secret, verifier, setup code).
    pub factory: FactoryData,
    /// The device's "flash": the two storage slot files live here.
    pub data_dir: PathBuf,
    /// The air directory (see [`Air`]).
    pub air_dir: PathBuf,
    /// The cloud's base URL (`https://localhost:8443`): the default endpoint.
    pub cloud_url: String,
    /// The cloud's CA certificate (PEM bytes); `None` only for a plain-HTTP cloud.
    pub ca_pem: Option<Vec<u8>>,
    /// The modes this device enables (intersected with the factory data's modes).
    pub modes: Modes,
    /// The machine's timers and limits (`modes` is overwritten by the field above).
    pub machine: ConfigParams,
    /// The firmware version reported to the app and the cloud.
    pub firmware: FirmwareVersion,
    /// The device's largest ATT MTU (23..=517), offered in the MTU exchange.
    pub ble_max_mtu: u16,
    /// Address of the SoftAP's TCP listener (port 0: any free port).
    pub softap_addr: SocketAddr,
    /// Address of the wired UDP session socket (port 0: any free port).
    pub wired_addr: SocketAddr,
    /// Where wired announcements go.
    pub announce_to: SocketAddr,
    /// Interval between wired announcements (ms).
    pub announce_interval_ms: u64,
    /// Time a Wi-Fi join takes until its outcome (ms).
    pub join_delay_ms: u64,
    /// How long a silent DHCP server is waited for after association (ms).
    pub dhcp_timeout_ms: u64,
    /// Time a Wi-Fi scan takes (ms).
    pub scan_delay_ms: u64,
    /// One radio for the SoftAP and the station (the default, as on real hardware): joining
    /// the router takes the AP down, and the app on it loses its connection.
    pub single_radio: bool,
    /// The Ethernet link of wired mode.
    pub wired_link: WiredLink,
    /// The cellular modem.
    pub modem: ModemConfig,
    /// Timeout of one cloud call (ms).
    pub cloud_timeout_ms: u64,
    /// First retry delay of a failed bind-poll (doubles up to 30 s) (ms).
    pub bind_retry_ms: u64,
    /// How storage writes its slot files.
    pub storage_mode: StorageMode,
    /// Debug: kill the process (SIGKILL) at this point. Only for the `zpair-device` binary.
    pub crash: Option<CrashPoint>,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("factory", &self.factory)
            .field("data_dir", &self.data_dir)
            .field("air_dir", &self.air_dir)
            .field("cloud_url", &self.cloud_url)
            .field("modes", &self.modes)
            .field("machine", &self.machine)
            .finish_non_exhaustive()
    }
}

impl SimConfig {
    /// Defaults: the factory data's modes, the machine's default timers, firmware 1.0.0, ATT MTU
    /// 247, loopback listeners on free ports, announcements to `127.0.0.1:5541` every second,
    /// 200 ms joins, 2 s DHCP timeout, 100 ms scans, single radio, Ethernet up, a modem with a
    /// SIM on a network that registers, 10 s cloud calls, atomic storage writes.
    pub fn new(factory: FactoryData, data_dir: impl Into<PathBuf>, air_dir: impl Into<PathBuf>, cloud_url: &str) -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        SimConfig {
            modes: factory.modes,
            factory,
            data_dir: data_dir.into(),
            air_dir: air_dir.into(),
            cloud_url: cloud_url.to_owned(),
            ca_pem: None,
            machine: ConfigParams::default(),
            firmware: FirmwareVersion { major: 1, minor: 0, patch: 0 },
            ble_max_mtu: 247,
            softap_addr: loopback,
            wired_addr: loopback,
            announce_to: SocketAddr::from(([127, 0, 0, 1], 5541)),
            announce_interval_ms: 1000,
            join_delay_ms: 200,
            dhcp_timeout_ms: 2000,
            scan_delay_ms: 100,
            single_radio: true,
            wired_link: WiredLink::Up,
            modem: ModemConfig::default(),
            cloud_timeout_ms: 10_000,
            bind_retry_ms: 1000,
            storage_mode: StorageMode::Atomic,
            crash: None,
        }
    }
}

impl SimConfig {
    /// Short radio and modem delays for tests and demos: 10 ms joins, 50 ms DHCP timeout, 5 ms
    /// scans, announcements every 50 ms, 10 ms modem attach (50 ms timeout and retry), 50 ms
    /// bind-poll retry, 50–400 ms activation backoff. The machine's window, session and
    /// deadline timers are left as they are.
    pub fn fast(mut self) -> Self {
        self.join_delay_ms = 10;
        self.dhcp_timeout_ms = 50;
        self.scan_delay_ms = 5;
        self.announce_interval_ms = 50;
        self.modem.attach_delay_ms = 10;
        self.modem.attach_timeout_ms = 50;
        self.modem.retry_ms = 50;
        self.bind_retry_ms = 50;
        self.machine.backoff_base_ms = 50;
        self.machine.backoff_cap_ms = 400;
        self
    }
}

/// Why a simulated device could not start.
#[derive(Debug)]
pub enum SimError {
    /// An I/O failure (directories, sockets, CA file).
    Io(std::io::Error),
    /// The configuration is invalid (message names the option).
    Config(String),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Io(e) => write!(f, "simulated device: {e}"),
            SimError::Config(m) => write!(f, "simulated device: {m}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<std::io::Error> for SimError {
    fn from(e: std::io::Error) -> Self {
        SimError::Io(e)
    }
}

/// A wait that ended without its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitTimeout {
    /// The status when the wait gave up.
    pub status: Box<SimStatus>,
}

impl std::fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "timed out waiting; device is {} (last error: {:?})", self.status.state.name(), self.status.last_error)
    }
}

impl std::error::Error for WaitTimeout {}

/// State shared between the device thread and its handles.
pub(crate) struct Shared {
    inner: Mutex<SharedInner>,
    cond: Condvar,
}

struct SharedInner {
    status: SimStatus,
    timeline: Vec<TimelineEntry>,
    subscribers: Vec<Sender<TimelineEntry>>,
    links: Vec<LinkStats>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            inner: Mutex::new(SharedInner {
                status: SimStatus::initial(),
                timeline: Vec::new(),
                subscribers: Vec::new(),
                links: Vec::new(),
            }),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SharedInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push_event(&self, entry: TimelineEntry) {
        let mut g = self.lock();
        g.subscribers.retain(|s| s.send(entry.clone()).is_ok());
        g.timeline.push(entry);
        drop(g);
        self.cond.notify_all();
    }

    pub(crate) fn set_status(&self, status: SimStatus, links: Vec<LinkStats>) {
        let mut g = self.lock();
        g.status = status;
        g.links = links;
        drop(g);
        self.cond.notify_all();
    }

    fn wait<T>(&self, timeout: Duration, mut f: impl FnMut(&SharedInner) -> Option<T>) -> Result<T, WaitTimeout> {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            if let Some(v) = f(&g) {
                return Ok(v);
            }
            let now = Instant::now();
            if now >= deadline || !g.status.running {
                return Err(WaitTimeout { status: Box::new(g.status.clone()) });
            }
            g = self.cond.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// Starts simulated devices.
#[derive(Debug)]
pub struct SimDevice;

impl SimDevice {
    /// Restores the device from its data directory and starts its thread. The device then
    /// opens its window (unpaired) or reconnects (activated), exactly as `Device` decides.
    pub fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        let SimConfig { factory, .. } = &cfg;
        let modes = Modes::from_bits(cfg.modes.bits() & factory.modes.bits()).unwrap_or_default();
        if modes.is_empty() {
            return Err(SimError::Config("no mode enabled that the factory data supports".into()));
        }
        let payload = match factory.setup_payload() {
            Some(p) => {
                let mut buf = Zeroizing::new([0u8; zpair_core::payload::PAYLOAD_LEN]);
                let s = zpair_core::payload::render(&p, &mut buf[..])
                    .map_err(|e| SimError::Config(format!("setup payload: {e}")))?;
                Some(Zeroizing::new(s.to_owned()))
            }
            None if modes.contains(Modes::CELLULAR) => {
                return Err(SimError::Config("cellular mode needs the setup code in the factory data (for its QR code)".into()))
            }
            None => None,
        };
        let machine = Config::new(ConfigParams { modes, ..cfg.machine })
            .map_err(|e| SimError::Config(format!("machine: {e}")))?;
        let air = Air::new(&cfg.air_dir)?;
        // A previous run of this device that was killed left its radio files behind.
        air.forget_device(factory.device);
        let mut storage = storage::FileStorage::open(&cfg.data_dir, cfg.storage_mode)?;
        if let Some(CrashPoint::InWrite(n)) = cfg.crash {
            storage.crash_in_write(n);
        }
        let mut store = zpair_core::storage::Store::new(storage);
        let loaded = store.load();
        let corrupt = loaded.is_corrupt();
        if loaded.has_damage() {
            tracing::warn!(slots = ?loaded.slots, "storage holds a damaged slot");
        }
        let persisted = loaded.into_state();

        let link = cloud::HttpsLink::new(&cfg.cloud_url, cfg.ca_pem.as_deref(), Duration::from_millis(cfg.cloud_timeout_ms))?;
        let identity = Identity {
            product: factory.product,
            device: factory.device,
            modes,
            firmware: cfg.firmware,
            capabilities: Capabilities::SEC_OPEN
                .union(Capabilities::SEC_WPA2_PSK)
                .union(Capabilities::SEC_WPA2_WPA3)
                .union(Capabilities::SEC_WPA3_SAE)
                .union(Capabilities::HIDDEN_SSID)
                .union(Capabilities::WIFI_SCAN),
        };
        let worker_identity = cloud::WorkerIdentity {
            product: factory.product,
            device: factory.device,
            secret: factory.activation_secret.clone(),
            firmware: (cfg.firmware.major, cfg.firmware.minor, cfg.firmware.patch),
        };
        let settings = Settings {
            device: factory.device,
            product: factory.product,
            modes,
            payload,
            ble_max_mtu: cfg.ble_max_mtu,
            softap_addr: cfg.softap_addr,
            wired_addr: cfg.wired_addr,
            announce_to: cfg.announce_to,
            announce_interval_ms: cfg.announce_interval_ms,
            join_delay_ms: cfg.join_delay_ms,
            dhcp_timeout_ms: cfg.dhcp_timeout_ms,
            scan_delay_ms: cfg.scan_delay_ms,
            single_radio: cfg.single_radio,
            wired_link: cfg.wired_link,
            modem: cfg.modem.clone(),
            bind_retry_ms: cfg.bind_retry_ms.max(1),
            crash: cfg.crash,
        };
        let verifier = factory.verifier.clone();
        let device_id = factory.device;

        let shared = Arc::new(Shared::new());
        let (tx, rx) = mpsc::channel::<Input>();
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let done = tx.clone();
        std::thread::Builder::new()
            .name(format!("zpair-cloud-{device_id}"))
            .spawn(move || cloud::worker(link, worker_identity, jobs_rx, done, Input::Cloud))?;
        let start = Instant::now();
        let thread_shared = shared.clone();
        let thread_tx = tx.clone();
        let thread = std::thread::Builder::new().name(format!("zpair-device-{device_id}")).spawn(move || {
            let dev = Device::new(identity, verifier, zpair_mbedtls::MbedTls::os(), machine, persisted, 0);
            let engine = Engine::new(dev, settings, air, store, thread_tx, rx, jobs_tx, thread_shared, start);
            engine.run(corrupt);
        })?;
        tracing::info!(device = %device_id, modes = modes.bits(), "simulated device started");
        Ok(SimHandle { device: device_id, shared, tx, thread: Some(thread) })
    }
}

/// A running simulated device. Dropping it stops the device (like [`SimHandle::stop`]).
pub struct SimHandle {
    device: DeviceId,
    shared: Arc<Shared>,
    tx: Sender<Input>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("device", &self.device).finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The device's factory identity.
    pub fn device_id(&self) -> DeviceId {
        self.device
    }

    /// The machine's state now.
    pub fn state(&self) -> State {
        self.shared.lock().status.state
    }

    /// A snapshot of the device.
    pub fn status(&self) -> SimStatus {
        self.shared.lock().status.clone()
    }

    /// Waits until the machine is in `state` (or the timeout passes, or the device stops).
    pub fn wait_for_state(&self, state: State, timeout: Duration) -> Result<SimStatus, WaitTimeout> {
        self.wait_for(timeout, |s| s.state == state)
    }

    /// Waits until `f` holds for the status.
    pub fn wait_for(&self, timeout: Duration, mut f: impl FnMut(&SimStatus) -> bool) -> Result<SimStatus, WaitTimeout> {
        self.shared.wait(timeout, |g| f(&g.status).then(|| g.status.clone()))
    }

    /// Waits until the timeline (from the start) holds an event for which `f` holds; returns
    /// the first such entry.
    pub fn wait_for_event(&self, timeout: Duration, mut f: impl FnMut(&SimEvent) -> bool) -> Result<TimelineEntry, WaitTimeout> {
        self.shared.wait(timeout, |g| g.timeline.iter().find(|e| f(&e.event)).cloned())
    }

    /// Counts the timeline entries for which `f` holds.
    pub fn count_events(&self, mut f: impl FnMut(&SimEvent) -> bool) -> usize {
        self.shared.lock().timeline.iter().filter(|e| f(&e.event)).count()
    }

    /// Every event so far.
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        self.shared.lock().timeline.clone()
    }

    /// A channel of every event from now on (already past events: [`SimHandle::timeline`]).
    pub fn subscribe(&self) -> Receiver<TimelineEntry> {
        let (tx, rx) = mpsc::channel();
        self.shared.lock().subscribers.push(tx);
        rx
    }

    /// The counters of every app connection so far (closed ones included), by connection id.
    pub fn links(&self) -> Vec<LinkStats> {
        self.shared.lock().links.clone()
    }

    fn control(&self, c: Control) {
        let _ = self.tx.send(Input::Control(c));
    }

    /// Presses the "pair" button: opens (or extends) the window for these modes.
    pub fn open_window(&self, modes: Modes) {
        self.control(Control::OpenWindow(modes));
    }

    /// Closes the window (without a session).
    pub fn close_window(&self) {
        self.control(Control::CloseWindow);
    }

    /// Aborts the pairing in progress.
    pub fn abort(&self) {
        self.control(Control::Abort);
    }

    /// Network or factory reset (button / shell).
    pub fn reset(&self, kind: ResetKind) {
        self.control(Control::Reset(kind));
    }

    /// Changes how the cellular network treats the modem's next registration.
    pub fn set_cell_network(&self, n: CellNetwork) {
        self.control(Control::SetCellNetwork(n));
    }

    /// Inserts a SIM with this ICCID (`Some`) or removes it (`None`).
    pub fn set_sim(&self, iccid: Option<String>) {
        self.control(Control::SetSim(iccid));
    }

    /// Stops the device thread (transports closed, air files removed) and waits for it.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        self.control(Control::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_inner();
        }
    }
}

/// The QR code of a setup payload as text (half blocks, 2-module quiet zone), for a display.
pub fn qr_text(payload: &str) -> Option<String> {
    use zpair_core::payload::qr::{QrMatrix, QrTextStyle};
    let qr = QrMatrix::encode(payload).ok()?;
    let mut buf = vec![0u8; qr.text_len(QrTextStyle::HalfBlocks, 2)];
    qr.render_text(QrTextStyle::HalfBlocks, 2, &mut buf).ok().map(str::to_owned)
}
