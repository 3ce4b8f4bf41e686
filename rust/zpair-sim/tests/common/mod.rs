//! Shared harness of the integration tests: the real cloud on 127.0.0.1:0 with TLS in a temp
//! dir, a generated batch of devices, simulated devices on short timers, the app side of each
//! transport written with `AppSession` and the frames, and a log capture that every test scans
//! for the secrets it used.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use zpair_cloud::client::AppClient;
use zpair_cloud::crypto::HostCrypto;
use zpair_cloud::manifest::{generate_batch, write_batch, Batch};
use zpair_cloud::ratelimit::Limit;
use zpair_cloud::server::DeviceView;
use zpair_cloud::store::Store;
use zpair_cloud::{Cloud, CloudHandle, Limits};
use zpair_core::error::PairError;
use zpair_core::frame::{encode_stream, parse_datagram, write_datagram, GattRx, GattTx, StreamDecoder};
use zpair_core::machine::ConfigParams;
use zpair_core::msg::{Announce, AppToDevice, DeviceToApp, PairState, Provision, ScanRequest, Status};
use zpair_core::session::{encode_alert, AppSession};
use zpair_core::types::{
    ActivationToken, CloudEndpoint, DeviceId, Mode, Modes, Passphrase, ProductId, Security, SetupCode, Ssid,
    WifiCredentials,
};
use zpair_sim::{AccessPoint, Air, SimConfig};

pub const PRODUCT: ProductId = ProductId(0x5a50);
pub const T: Duration = Duration::from_secs(20);
pub const HOME_SSID: &str = "HomeNet-24";
pub const HOME_PASS: &str = "correct-horse-42";

pub type Crypto = zpair_mbedtls::MbedTls<zpair_mbedtls::OsEntropy>;

// ---------------------------------------------------------------------------------------------
// Log capture and the secrets scan
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

fn capture() -> &'static Capture {
    static C: OnceLock<Capture> = OnceLock::new();
    C.get_or_init(|| {
        let c = Capture::default();
        let _ = tracing_subscriber::fmt()
            .with_writer(c.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .try_init();
        c
    })
}

fn secrets() -> &'static Mutex<Vec<String>> {
    static S: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// Registers a secret that must never appear in any log of this test process.
pub fn secret(s: &str) {
    assert!(s.len() >= 6, "too short to scan for");
    secrets().lock().unwrap().push(s.to_owned());
}

/// The captured logs so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&capture().0.lock().unwrap()).into_owned()
}

/// Scans every log line captured so far for every registered secret.
pub fn assert_no_secret_in_logs() {
    let logs = logs();
    assert!(logs.contains("simulated device started"), "the capture works");
    for s in secrets().lock().unwrap().iter() {
        assert!(!logs.contains(s.as_str()), "a secret ({} chars) appears in the logs", s.len());
        let upper = s.to_uppercase();
        assert!(upper == *s || !logs.contains(&upper), "a secret (upper case) appears in the logs");
    }
    // The secrets scan would be worthless if nothing sensitive-looking was ever logged around.
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"));
}

// ---------------------------------------------------------------------------------------------
// Cloud + devices
// ---------------------------------------------------------------------------------------------

pub struct Env {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub cloud: Option<CloudHandle>,
    pub cloud_port: u16,
    pub batch: Batch,
    pub ca_pem: Vec<u8>,
    pub base: String,
    pub user: AppClient,
    pub air: Air,
}

pub fn relaxed() -> Limits {
    Limits {
        device: Limit::new(10_000, 10_000),
        user_tokens: Limit::new(10_000, 10_000),
        user_bind: Limit::new(10_000, 10_000),
        device_bind: Limit::new(10_000, 10_000),
    }
}

pub fn cloud_config(dir: &Path, port: u16) -> zpair_cloud::Config {
    let mut cfg = zpair_cloud::Config::new(SocketAddr::from(([127, 0, 0, 1], port)), dir);
    cfg.limits = relaxed();
    cfg.poll_retry_s = 1;
    cfg
}

impl Env {
    /// A cloud with `n` registered devices (all modes), a user, an air with the home network.
    pub fn start(n: usize) -> Env {
        capture();
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let cloud_dir = dir.path().join("cloud");
        let cloud = rt.block_on(Cloud::start(cloud_config(&cloud_dir, 0))).unwrap();
        let batch = generate_batch(&mut HostCrypto, PRODUCT, n, Modes::ALL).unwrap();
        let manifest = write_batch(&batch, &dir.path().join("factory")).unwrap();
        let ids = zpair_cloud::manifest::read_manifest(&manifest).unwrap();
        cloud.store().import_devices(&ids, 0).unwrap();
        for d in &batch.devices {
            secret(&d.setup_code);
            secret(&d.entry.activation_secret);
            secret(&d.entry.w0);
            secret(d.entry.setup_payload.as_deref().unwrap());
        }
        let ca_pem = std::fs::read(cloud.ca_pem_path().unwrap()).unwrap();
        let base = cloud.base_url();
        let app = AppClient::new(&base, Some(&ca_pem)).unwrap();
        let u = rt.block_on(app.create_user("tester")).unwrap();
        secret(&u.api_key);
        let user = app.with_key(&u.api_key);
        let air = Air::new(dir.path().join("air")).unwrap();
        air.set_access_points(&[AccessPoint::wpa2(HOME_SSID, HOME_PASS), AccessPoint::open("Cafe-Free")]).unwrap();
        secret(HOME_PASS);
        let cloud_port = cloud.addr().port();
        Env { dir, rt, cloud: Some(cloud), cloud_port, batch, ca_pem, base, user, air }
    }

    pub fn device_id(&self, i: usize) -> DeviceId {
        DeviceId(u64::from_str_radix(&self.batch.devices[i].entry.device_id, 16).unwrap())
    }

    pub fn setup_code(&self, i: usize) -> SetupCode {
        SetupCode::new(self.batch.devices[i].setup_code.parse().unwrap()).unwrap()
    }

    pub fn factory_path(&self, i: usize) -> PathBuf {
        self.dir.path().join("factory/devices").join(format!("{}.json", self.batch.devices[i].entry.device_id))
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("dev{i}"))
    }

    /// A device configuration with short timers.
    pub fn device_config(&self, i: usize, modes: Modes) -> SimConfig {
        let factory = zpair_sim::factory::load(&self.factory_path(i)).unwrap();
        let mut cfg = SimConfig::new(factory, self.data_dir(i), self.air.dir(), &self.base).fast();
        cfg.ca_pem = Some(self.ca_pem.clone());
        cfg.modes = modes;
        cfg.machine = ConfigParams {
            window_ms: 60_000,
            session_idle_ms: 10_000,
            deadline_ms: 20_000,
            max_attempts: 5,
            lockout_ms: 60_000,
            modes,
            ..cfg.machine
        };
        cfg.cloud_timeout_ms = 5_000;
        cfg
    }

    pub fn token(&self) -> String {
        let t = self.rt.block_on(self.user.request_token("eu", None)).unwrap().token;
        secret(&t);
        t
    }

    pub fn devices(&self) -> Vec<DeviceView> {
        self.rt.block_on(self.user.devices()).unwrap()
    }

    /// The cloud's view of device `i`, if the user owns it.
    pub fn device_view(&self, i: usize) -> Option<DeviceView> {
        let id = &self.batch.devices[i].entry.device_id;
        self.devices().into_iter().find(|d| &d.device_id == id)
    }

    /// The endpoint an app gives the device: this cloud, explicitly.
    pub fn endpoint(&self) -> CloudEndpoint {
        CloudEndpoint::new(b"eu", Some(b"localhost"), self.cloud_port).unwrap()
    }

    /// Registers the device's stored operational secret (after activation) as a secret.
    pub fn register_stored_secret(&self, i: usize) {
        let mut store = zpair_sim::storage::open_store(&self.data_dir(i), zpair_sim::StorageMode::Atomic).unwrap();
        if let Some(op) = store.load().state.and_then(|s| s.operational) {
            secret(&hex::encode(op.secret.expose()));
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.cloud.take();
    }
}

pub fn wifi(ssid: &str, pass: &str) -> WifiCredentials {
    WifiCredentials {
        ssid: Ssid::new(ssid.as_bytes()).unwrap(),
        hidden: false,
        security: if pass.is_empty() { Security::Open } else { Security::Wpa2Psk },
        passphrase: if pass.is_empty() { Passphrase::none() } else { Passphrase::new(pass.as_bytes()).unwrap() },
        bssid: None,
        channel: None,
    }
}

pub fn provision(wifi: Option<WifiCredentials>, token: &str, endpoint: Option<CloudEndpoint>) -> Vec<u8> {
    let msg = AppToDevice::Provision(Provision {
        wifi,
        token: Some(ActivationToken::new(token.as_bytes()).unwrap()),
        endpoint,
        commit_deadline_s: None,
        unix_time_s: None,
    });
    let mut buf = [0u8; 512];
    let n = msg.encode(&mut buf).unwrap();
    buf[..n].to_vec()
}

pub fn encode_msg(msg: &AppToDevice) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let n = msg.encode(&mut buf).unwrap();
    buf[..n].to_vec()
}

// ---------------------------------------------------------------------------------------------
// The app side of each transport
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    Closed,
    Timeout,
}

/// One app connection: whole session packets in and out.
pub trait AppLink {
    fn send(&mut self, packet: &[u8]);
    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvError>;
    fn mode(&self) -> Mode;
}

/// BLE: SOCK_SEQPACKET with the MTU exchange and GATT fragments; counts ATT bytes like the device.
pub struct BleApp {
    sock: socket2::Socket,
    pub mtu: u16,
    tx: GattTx,
    rx: GattRx,
    pub att_bytes_tx: u64,
    pub att_bytes_rx: u64,
    pub packets_tx: u64,
    pub packets_rx: u64,
}

impl BleApp {
    pub fn connect(path: &Path, client_mtu: u16) -> BleApp {
        let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None).unwrap();
        sock.connect(&socket2::SockAddr::unix(path).unwrap()).unwrap();
        let [a, b] = client_mtu.to_le_bytes();
        sock.send(&[0x02, a, b]).unwrap();
        let mut buf = [0u8; 8];
        sock.set_read_timeout(Some(T)).unwrap();
        let n = (&sock).read(&mut buf).unwrap();
        assert_eq!(n, 3);
        assert_eq!(buf[0], 0x03);
        let server = u16::from_le_bytes([buf[1], buf[2]]);
        let mtu = zpair_sim::transport::negotiated_mtu(client_mtu, server);
        let mut rx = GattRx::new();
        rx.set_mtu(mtu).unwrap();
        BleApp { sock, mtu, tx: GattTx::new(), rx, att_bytes_tx: 0, att_bytes_rx: 0, packets_tx: 0, packets_rx: 0 }
    }

    /// Connects to the advertised socket of `device`.
    pub fn connect_to(air: &Air, device: DeviceId, client_mtu: u16) -> BleApp {
        let hex = format!("{:016x}", device.0);
        let ad = wait_until(T, || air.ble_adverts().into_iter().find(|a| a.device == hex && a.state == "window_open"))
            .expect("BLE advertisement");
        BleApp::connect(ad.socket.as_deref().unwrap(), client_mtu)
    }
}

impl AppLink for BleApp {
    fn send(&mut self, packet: &[u8]) {
        let mut frag = self.tx.fragment(packet, self.mtu).unwrap();
        let mut buf = [0u8; 517];
        while let Some(f) = frag.next_fragment(&mut buf).unwrap() {
            self.att_bytes_tx += (f.len() + 3) as u64;
            let _ = self.sock.send(f);
        }
        self.packets_tx += 1;
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvError> {
        self.sock.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 600];
        loop {
            let n = match (&self.sock).read(&mut buf) {
                Ok(0) => return Err(RecvError::Closed),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Err(RecvError::Timeout)
                }
                Err(_) => return Err(RecvError::Closed),
            };
            self.att_bytes_rx += (n + 3) as u64;
            if let Some(p) = self.rx.push(&buf[..n]).expect("valid GATT fragment") {
                self.packets_rx += 1;
                return Ok(p.to_vec());
            }
        }
    }

    fn mode(&self) -> Mode {
        Mode::Ble
    }
}

/// SoftAP: TCP with stream framing.
pub struct SoftApApp {
    stream: TcpStream,
    dec: StreamDecoder,
    pending: Vec<u8>,
}

impl SoftApApp {
    pub fn connect(addr: SocketAddr) -> SoftApApp {
        let stream = TcpStream::connect(addr).unwrap();
        SoftApApp { stream, dec: StreamDecoder::new(), pending: Vec::new() }
    }

    /// "Joins" the device's SoftAP as published in the air.
    pub fn join(air: &Air, device: DeviceId) -> SoftApApp {
        let hex = format!("{:016x}", device.0);
        let ap = wait_until(T, || air.softaps().into_iter().find(|a| a.device == hex)).expect("SoftAP");
        assert_eq!(ap.ssid, format!("zpair-{}", &hex[12..]));
        SoftApApp::connect(ap.socket_addr().unwrap())
    }
}

impl AppLink for SoftApApp {
    fn send(&mut self, packet: &[u8]) {
        let mut buf = [0u8; 600];
        let f = encode_stream(packet, &mut buf).unwrap();
        let _ = self.stream.write_all(f);
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvError> {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        loop {
            if !self.pending.is_empty() {
                let mut input = &self.pending[..];
                let got = self.dec.feed(&mut input).unwrap().map(<[u8]>::to_vec);
                let rest = input.to_vec();
                self.pending = rest;
                if let Some(p) = got {
                    return Ok(p);
                }
            }
            let mut buf = [0u8; 1024];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(RecvError::Closed),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Err(RecvError::Timeout)
                }
                Err(_) => return Err(RecvError::Closed),
            }
        }
    }

    fn mode(&self) -> Mode {
        Mode::SoftAp
    }
}

/// Wired: UDP datagrams to the announced port, retransmitting after a silence.
pub struct WiredApp {
    pub sock: UdpSocket,
    pub peer: SocketAddr,
    pub last_sent: Vec<u8>,
    pub retransmit_after: Duration,
    pub retransmissions: u32,
}

/// Listens for one announcement of `device` on `listener`.
pub fn wait_announcement(listener: &UdpSocket, device: DeviceId) -> Announce {
    listener.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + T;
    let mut buf = [0u8; 600];
    while Instant::now() < deadline {
        if let Ok(n) = listener.recv(&mut buf) {
            let p = parse_datagram(&buf[..n]).unwrap();
            assert_eq!(p[0], 0x06, "announcements are type 0x06");
            assert!(zpair_core::session::parse_packet(p).is_err());
            let a = Announce::decode(&p[1..]).unwrap();
            if a.device == device && a.window_open {
                return a;
            }
        }
    }
    panic!("no announcement");
}

impl WiredApp {
    pub fn connect(port: u16) -> WiredApp {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        WiredApp {
            sock,
            peer: SocketAddr::from(([127, 0, 0, 1], port)),
            last_sent: Vec::new(),
            retransmit_after: Duration::from_millis(500),
            retransmissions: 0,
        }
    }

    /// Sends the last datagram again, byte for byte.
    pub fn retransmit(&mut self) {
        self.retransmissions += 1;
        self.sock.send_to(&self.last_sent, self.peer).unwrap();
    }

    /// Receives one datagram's packet without retransmitting.
    pub fn recv_raw(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvError> {
        self.sock.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 600];
        match self.sock.recv_from(&mut buf) {
            Ok((n, _)) => Ok(parse_datagram(&buf[..n]).unwrap().to_vec()),
            Err(_) => Err(RecvError::Timeout),
        }
    }
}

impl AppLink for WiredApp {
    fn send(&mut self, packet: &[u8]) {
        let mut buf = [0u8; 600];
        let d = write_datagram(packet, &mut buf).unwrap();
        self.last_sent = d.to_vec();
        self.sock.send_to(d, self.peer).unwrap();
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            match self.recv_raw(left.min(self.retransmit_after)) {
                Ok(p) => return Ok(p),
                Err(_) if !self.last_sent.is_empty() && Instant::now() < deadline => self.retransmit(),
                Err(e) => return Err(e),
            }
        }
    }

    fn mode(&self) -> Mode {
        Mode::Wired
    }
}

/// An app: a secure session over one link.
pub struct App<L: AppLink> {
    pub link: L,
    pub session: AppSession<Crypto>,
}

impl<L: AppLink> App<L> {
    pub fn new(link: L) -> Self {
        App { link, session: AppSession::new(zpair_mbedtls::MbedTls::os()) }
    }

    /// Handshake with `code`; `first` is carried in the PairConfirm. A plaintext alert from the
    /// device, or a wrong code detected here, is the error (the app then sends the alert).
    pub fn handshake(&mut self, code: &SetupCode, device: DeviceId, first: Option<&[u8]>) -> Result<(), PairError> {
        let mode = self.link.mode();
        let mut buf = [0u8; 600];
        let n = self.session.start_with_setup_code(code, device, mode, &mut buf).unwrap();
        self.link.send(&buf[..n]);
        let resp = self.link.recv(T).map_err(|_| PairError::Disconnected)?;
        if resp[0] == 0x05 {
            return Err(PairError::from_code(resp[1]));
        }
        match self.session.handle_pair_response(&resp, first, &mut buf) {
            Ok(n) => {
                self.link.send(&buf[..n]);
                Ok(())
            }
            Err(e) => {
                let e = PairError::from(e);
                let mut alert = [0u8; 2];
                encode_alert(e, &mut alert).unwrap();
                self.link.send(&alert);
                Err(e)
            }
        }
    }

    pub fn send_msg(&mut self, plaintext: &[u8]) {
        let mut buf = [0u8; 600];
        let n = self.session.seal(plaintext, &mut buf).unwrap();
        self.link.send(&buf[..n]);
    }

    /// The next message; alerts come back as `Err(error)`, a closed link as `Disconnected`.
    pub fn recv_msg(&mut self, timeout: Duration) -> Result<DeviceToApp, PairError> {
        let p = self.link.recv(timeout).map_err(|e| match e {
            RecvError::Closed => PairError::Disconnected,
            RecvError::Timeout => PairError::SessionTimeout,
        })?;
        if p[0] == 0x05 {
            return Err(PairError::from_code(p[1]));
        }
        let mut pt = [0u8; 1024];
        let n = self.session.open(&p, &mut pt).expect("record opens");
        Ok(DeviceToApp::decode(&pt[..n]).expect("message decodes"))
    }

    pub fn recv_status(&mut self, timeout: Duration) -> Result<Status, PairError> {
        match self.recv_msg(timeout)? {
            DeviceToApp::Status(s) => Ok(s),
            other => panic!("expected a status, got {other:?}"),
        }
    }

    /// Statuses until one satisfies `f` (or the link ends).
    pub fn status_until(&mut self, f: impl Fn(&Status) -> bool) -> Result<Vec<Status>, (Vec<Status>, PairError)> {
        let mut seen = Vec::new();
        loop {
            match self.recv_status(T) {
                Ok(s) => {
                    let done = f(&s);
                    seen.push(s);
                    if done {
                        return Ok(seen);
                    }
                }
                Err(e) => return Err((seen, e)),
            }
        }
    }

    pub fn scan(&mut self) -> Vec<String> {
        self.send_msg(&encode_msg(&AppToDevice::ScanRequest(ScanRequest::default())));
        let mut names = Vec::new();
        loop {
            match self.recv_msg(T).unwrap() {
                DeviceToApp::ScanResults(r) => {
                    names.extend(r.entries.iter().map(|e| String::from_utf8_lossy(e.ssid.as_bytes()).into_owned()));
                    if !r.more {
                        return names;
                    }
                }
                other => panic!("expected scan results, got {other:?}"),
            }
        }
    }
}

pub fn states(v: &[Status]) -> Vec<(PairState, Option<PairError>)> {
    v.iter().map(|s| (s.state, s.error)).collect()
}

/// Polls `f` until it gives a value (I/O on the air directory; no fixed sleeps in assertions).
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The secrets registered so far.
pub fn secrets_snapshot() -> Vec<String> {
    secrets().lock().unwrap().clone()
}
