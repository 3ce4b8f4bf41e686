//! The commissioner's pairing flow against the real device engine (`zpair_core::device`),
//! in process: the device's network and cloud outcomes are scripted, the packets are real.
//! Covers the app side of the failure matrix without sockets (the transports have their own
//! tests, and `sim_*.rs` run everything over loopback with the simulated device).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zpair_cli::commission::{self, ConfirmedBy, Target, Timeouts, Watch};
use zpair_cli::error::CliError;
use zpair_cli::events::{Event, Recorder, Step};
use zpair_cli::link::{Link, LinkError};
use zpair_core::device::{Device, Identity, Output};
use zpair_core::error::PairError;
use zpair_core::machine::{Action, CloudName, Config, ConfigParams, ConnId, DeviceSecret, Event as Ev, OperationalCredentials, PersistReason};
use zpair_core::msg::{Capabilities, FirmwareVersion};
use zpair_core::spake2plus::Verifier;
use zpair_core::types::{ActivationToken, CloudEndpoint, DeviceId, Mode, Modes, ProductId, SetupCode};
use zpair_mbedtls::{MbedTls, OsEntropy};

const DEVICE: DeviceId = DeviceId(0x0011_2233_4455_6677);
const CODE: u32 = 20_202_021;
const SSID: &str = "HomeNet-24";
const PASS: &str = "correct-pass";

struct Engine {
    dev: Device<MbedTls<OsEntropy>>,
    now: u64,
    pending: VecDeque<Ev>,
    outbox: HashMap<u32, VecDeque<Vec<u8>>>,
    closed: HashSet<u32>,
    next_conn: u32,
    /// Outcomes of successive activation calls (empty: success).
    activation: VecDeque<PairError>,
    /// The DHCP server answers.
    dhcp_ok: bool,
    activations: u32,
}

impl Engine {
    fn new(max_attempts: u8) -> Arc<Mutex<Self>> {
        let mut c = MbedTls::os();
        let verifier = Verifier::for_setup_code(&mut c, &SetupCode::new(CODE).unwrap(), DEVICE).unwrap();
        let identity = Identity {
            product: ProductId(0x5a50),
            device: DEVICE,
            modes: Modes::ALL,
            firmware: FirmwareVersion { major: 1, minor: 0, patch: 0 },
            capabilities: Capabilities::from_bits(0b1111),
        };
        let params = ConfigParams { max_attempts, backoff_base_ms: 100, backoff_cap_ms: 400, ..ConfigParams::default() };
        let dev = Device::new(identity, verifier, c, Config::new(params).unwrap(), None, 0);
        let mut e = Engine {
            dev,
            now: 0,
            pending: VecDeque::new(),
            outbox: HashMap::new(),
            closed: HashSet::new(),
            next_conn: 1,
            activation: VecDeque::new(),
            dhcp_ok: true,
            activations: 0,
        };
        e.drain();
        Arc::new(Mutex::new(e))
    }

    fn drain(&mut self) {
        let Engine { dev, now, pending, outbox, closed, activation, dhcp_ok, activations, .. } = self;
        while let Some(out) = dev.poll(*now) {
            match out {
                Output::Transmit { conn, packet } => outbox.entry(conn.0).or_default().push_back(packet.to_vec()),
                Output::Action(a) => match a {
                    Action::ConnectNetwork { wifi, .. } => {
                        let ev = match wifi {
                            Some(w) if w.ssid.as_bytes() != SSID.as_bytes() => Ev::NetworkFailed { error: PairError::ApNotFound },
                            Some(w) if w.passphrase.expose() != PASS.as_bytes() => Ev::NetworkFailed { error: PairError::WrongPassword },
                            _ if !*dhcp_ok => Ev::NetworkFailed { error: PairError::DhcpTimeout },
                            _ => Ev::NetworkUp { ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 50)) },
                        };
                        pending.push_back(ev);
                    }
                    Action::StartActivation { .. } => {
                        *activations += 1;
                        pending.push_back(Ev::ActivationResult(match activation.pop_front() {
                            Some(e) => Err(e),
                            None => Ok(OperationalCredentials {
                                name: CloudName::new(b"zp-dev").unwrap(),
                                secret: DeviceSecret::new([7; 32]),
                                endpoint: CloudEndpoint::new(b"eu", None, 0).unwrap(),
                            }),
                        }));
                    }
                    Action::Persist { reason: PersistReason::Commit, .. } => pending.push_back(Ev::CommitDone),
                    Action::DisconnectApp(c) => {
                        closed.insert(c.0);
                    }
                    _ => {}
                },
            }
        }
    }

    /// One step of the world: an outcome, or a timer.
    fn step(&mut self) -> bool {
        self.now += 10;
        if let Some(ev) = self.pending.pop_front() {
            let _ = self.dev.handle(self.now, ev);
            self.drain();
            return true;
        }
        if let Some(d) = self.dev.next_deadline() {
            if d <= self.now + 2_000 {
                self.now = self.now.max(d);
                self.drain();
                return true;
            }
        }
        false
    }
}

struct EngineLink {
    eng: Arc<Mutex<Engine>>,
    conn: u32,
    mode: Mode,
}

impl EngineLink {
    fn connect(eng: &Arc<Mutex<Engine>>, mode: Mode) -> Self {
        let mut e = eng.lock().unwrap();
        let conn = e.next_conn;
        e.next_conn += 1;
        let now = e.now;
        e.dev.app_connected(now, ConnId(conn), mode);
        e.drain();
        EngineLink { eng: eng.clone(), conn, mode }
    }
}

impl Drop for EngineLink {
    fn drop(&mut self) {
        let mut e = self.eng.lock().unwrap();
        let now = e.now;
        e.dev.app_disconnected(now, ConnId(self.conn));
        e.drain();
    }
}

impl Link for EngineLink {
    fn mode(&self) -> Mode {
        self.mode
    }
    fn send(&mut self, packet: &[u8]) -> Result<(), LinkError> {
        let mut e = self.eng.lock().unwrap();
        if e.closed.contains(&self.conn) {
            return Err(LinkError::Closed);
        }
        let now = e.now;
        if let Some(r) = e.dev.receive(now, ConnId(self.conn), packet).map(<[u8]>::to_vec) {
            e.outbox.entry(self.conn).or_default().push_back(r);
        }
        e.drain();
        Ok(())
    }
    fn recv(&mut self, _timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let mut e = self.eng.lock().unwrap();
        for _ in 0..10_000 {
            if let Some(p) = e.outbox.get_mut(&self.conn).and_then(VecDeque::pop_front) {
                return Ok(p);
            }
            if e.closed.contains(&self.conn) {
                return Err(LinkError::Closed);
            }
            if !e.step() {
                return Err(LinkError::Timeout);
            }
        }
        Err(LinkError::Timeout)
    }
    fn describe(&self) -> String {
        format!("engine conn {}", self.conn)
    }
}

fn target(code: u32) -> Target {
    Target { device: DEVICE, product: Some(ProductId(0x5a50)), code: SetupCode::new(code).unwrap() }
}

fn timeouts() -> Timeouts {
    Timeouts {
        reply: Duration::from_secs(5),
        deadline: Duration::from_secs(20),
        status_poll: Duration::from_millis(50),
        cloud_poll: Duration::from_millis(1),
        reconnect_every: Duration::from_millis(1),
    }
}

fn provision(pass: &str, ssid: &str) -> zpair_core::msg::Provision {
    let wifi = zpair_cli::wifi::credentials(ssid, Some(pass), None, false).unwrap();
    commission::provision(Some(wifi), ActivationToken::new(b"tok-0123456789ab").unwrap(), None)
}

fn provision_for(mode: Mode, pass: &str, ssid: &str) -> zpair_core::msg::Provision {
    let mut p = provision(pass, ssid);
    if !mode.needs_wifi() {
        p.wifi = None;
    }
    p
}

fn pair(eng: &Arc<Mutex<Engine>>, mode: Mode, code: u32, pass: &str, ssid: &str) -> (Result<commission::PairOutcome, CliError>, Recorder) {
    let mut link = EngineLink::connect(eng, mode);
    let mut rec = Recorder::default();
    let r = commission::pair(&mut link, &target(code), &provision_for(mode, pass, ssid), &timeouts(), None, &mut rec);
    (r, rec)
}

fn steps_done(rec: &Recorder) -> Vec<Step> {
    rec.events.iter().filter_map(|(_, e)| if let Event::StepDone { step, .. } = e { Some(*step) } else { None }).collect()
}

#[test]
fn every_session_mode_pairs_and_reports_each_step() {
    for mode in [Mode::SoftAp, Mode::Ble, Mode::Wired] {
        let eng = Engine::new(5);
        let (r, rec) = pair(&eng, mode, CODE, PASS, SSID);
        let out = r.unwrap();
        assert_eq!((out.device, out.mode, out.confirmed_by), (DEVICE, mode, ConfirmedBy::Device));
        assert_eq!(
            steps_done(&rec),
            vec![Step::Handshake, Step::Credentials, Step::Joining, Step::Activating],
            "{mode:?}"
        );
        assert_eq!(eng.lock().unwrap().dev.machine().state(), zpair_core::machine::State::Activated);
    }
}

#[test]
fn wrong_wifi_password_is_reported_the_window_reopens_and_a_retry_succeeds() {
    let eng = Engine::new(5);
    let (r, _) = pair(&eng, Mode::Ble, CODE, "wrong-password", SSID);
    let e = r.unwrap_err();
    assert_eq!(e.error, "wrong_password");
    assert_eq!(e.exit_code(), 5);
    assert!(e.hint.contains("ready to try again"), "{}", e.hint);
    assert!(e.hint.contains("window is open again"));
    // No reboot: the same device object takes the right password.
    assert_eq!(eng.lock().unwrap().dev.machine().state(), zpair_core::machine::State::WindowOpen);
    let (r, _) = pair(&eng, Mode::Ble, CODE, PASS, SSID);
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn ap_not_found_and_dhcp_timeout_are_named() {
    let eng = Engine::new(5);
    let (r, _) = pair(&eng, Mode::SoftAp, CODE, PASS, "Nope");
    assert_eq!(r.unwrap_err().error, "ap_not_found");
    eng.lock().unwrap().dhcp_ok = false;
    let (r, _) = pair(&eng, Mode::SoftAp, CODE, PASS, SSID);
    let e = r.unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("dhcp_timeout", 5));
}

#[test]
fn wrong_setup_code_fails_cleanly_and_locks_after_max_attempts() {
    let eng = Engine::new(3);
    for _ in 0..3 {
        let (r, rec) = pair(&eng, Mode::Ble, CODE + 1, PASS, SSID);
        let e = r.unwrap_err();
        assert_eq!((e.error.as_str(), e.exit_code()), ("wrong_setup_code", 4));
        assert!(steps_done(&rec).is_empty(), "no step completes with a wrong code");
    }
    let (r, _) = pair(&eng, Mode::Ble, CODE, PASS, SSID);
    let e = r.unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("locked_out", 4));
    assert!(e.hint.contains("lockout"));
}

#[test]
fn activation_refusals_reach_the_app_and_transient_ones_are_retried() {
    let eng = Engine::new(5);
    eng.lock().unwrap().activation.push_back(PairError::TokenExpired);
    let (r, _) = pair(&eng, Mode::Wired, CODE, PASS, SSID);
    let e = r.unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("token_expired", 6));

    for err in [PairError::TokenUsed, PairError::TokenMismatch] {
        eng.lock().unwrap().activation.push_back(err);
        let (r, _) = pair(&eng, Mode::Wired, CODE, PASS, SSID);
        assert_eq!(r.unwrap_err().pair_error(), Some(err));
    }

    // Cloud down twice, then back: the device backs off and the app sees it retry.
    {
        let mut e = eng.lock().unwrap();
        e.activation.extend([PairError::CloudUnreachable, PairError::CloudUnreachable]);
        e.activations = 0;
    }
    let (r, rec) = pair(&eng, Mode::Wired, CODE, PASS, SSID);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(eng.lock().unwrap().activations, 3);
    let retries = rec
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Status { error: Some("cloud_unreachable"), .. }))
        .count();
    assert!(retries >= 1, "the app saw the device retry");
}

#[test]
fn an_app_that_disconnects_mid_session_leaves_the_window_open() {
    let eng = Engine::new(5);
    {
        // Handshake started, then the app vanishes.
        let mut link = EngineLink::connect(&eng, Mode::Ble);
        let mut app = zpair_core::session::AppSession::new(zpair_cli::commission::AppCrypto::default());
        let mut buf = [0u8; 128];
        let n = app.start_with_setup_code(&SetupCode::new(CODE).unwrap(), DEVICE, Mode::Ble, &mut buf).unwrap();
        link.request(&buf[..n], Duration::from_secs(1)).unwrap();
    }
    assert_eq!(eng.lock().unwrap().dev.machine().state(), zpair_core::machine::State::WindowOpen);
    let (r, _) = pair(&eng, Mode::Ble, CODE, PASS, SSID);
    assert!(r.is_ok(), "{r:?}");
}

/// A watch that says "activated" after a few polls.
struct SlowCloud(u32);

impl Watch for SlowCloud {
    fn activated(&mut self, _: DeviceId) -> Result<Option<String>, CliError> {
        self.0 = self.0.saturating_sub(1);
        Ok((self.0 == 0).then(|| "zp-dev".into()))
    }
}

/// A link that drops right after the credentials were accepted (the SoftAP going down).
struct DropAfterFirstStatus {
    inner: EngineLink,
    seen: u32,
}

impl Link for DropAfterFirstStatus {
    fn mode(&self) -> Mode {
        Mode::SoftAp
    }
    fn send(&mut self, p: &[u8]) -> Result<(), LinkError> {
        self.inner.send(p)
    }
    fn recv(&mut self, t: Duration) -> Result<Vec<u8>, LinkError> {
        self.seen += 1;
        if self.seen > 2 {
            return Err(LinkError::Closed);
        }
        self.inner.recv(t)
    }
    fn describe(&self) -> String {
        "dropping".into()
    }
}

#[test]
fn a_dropped_softap_link_falls_back_to_the_cloud() {
    let eng = Engine::new(5);
    let mut link = DropAfterFirstStatus { inner: EngineLink::connect(&eng, Mode::SoftAp), seen: 0 };
    let mut rec = Recorder::default();
    let mut watch = SlowCloud(3);
    let out = commission::pair(&mut link, &target(CODE), &provision(PASS, SSID), &timeouts(), Some(&mut watch), &mut rec).unwrap();
    assert_eq!(out.confirmed_by, ConfirmedBy::Cloud);
    assert_eq!(out.cloud_device_id.as_deref(), Some("zp-dev"));
    assert!(rec.events.iter().any(|(_, e)| matches!(e, Event::Note { message } if message.contains("one radio"))));
}

/// The dropped link comes back (the device rolled back): the reconnect tells why.
struct Reconnecting {
    eng: Arc<Mutex<Engine>>,
}

impl Watch for Reconnecting {
    fn activated(&mut self, _: DeviceId) -> Result<Option<String>, CliError> {
        // Let the device run (join fails, rollback) while the app polls.
        let mut e = self.eng.lock().unwrap();
        e.step();
        Ok(None)
    }
    fn reconnect(&mut self) -> Option<Box<dyn Link>> {
        Some(Box::new(EngineLink::connect(&self.eng, Mode::SoftAp)))
    }
}

#[test]
fn a_softap_rollback_is_learned_by_reconnecting() {
    let eng = Engine::new(5);
    let inner = EngineLink::connect(&eng, Mode::SoftAp);
    // Drop after the first status, before the device's join attempt is processed.
    let mut link = DropAfterFirstStatus { inner, seen: 0 };
    let mut rec = Recorder::default();
    let mut watch = Reconnecting { eng: eng.clone() };
    let e = commission::pair(&mut link, &target(CODE), &provision("wrong-password", SSID), &timeouts(), Some(&mut watch), &mut rec)
        .unwrap_err();
    assert_eq!(e.error, "wrong_password");
    assert!(e.message.contains("reopened pairing"), "{}", e.message);
}

#[test]
fn scan_needs_a_session_and_reports_the_device_refusal() {
    // The engine asks the platform to scan (Action::StartScan), which this harness does not
    // answer: the flow times out waiting, without panicking or leaking the session.
    let eng = Engine::new(5);
    let mut link = EngineLink::connect(&eng, Mode::Ble);
    let mut rec = Recorder::default();
    let r = commission::scan(&mut link, &target(CODE), &timeouts(), &mut rec);
    assert!(r.is_err());
    assert_eq!(steps_done(&rec), vec![Step::Handshake]);
}

