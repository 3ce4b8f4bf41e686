//! The device engine end to end against the app side of the session, through the real framing
//! and the mbedTLS provider: the whole pairing as bytes, with the OS outcomes (network up,
//! activation) fed as events the way the glue does.

use std::net::{IpAddr, Ipv4Addr};
use zpair_core::device::{Device, Identity, Output};
use zpair_core::error::PairError;
use zpair_core::frame::gatt::att_bytes;
use zpair_core::frame::{GattRx, GattTx};
use zpair_core::machine::{
    Action, CloudName, Config, ConnId, DeviceSecret, Event, OperationalCredentials, PersistReason,
    PersistedState, State,
};
use zpair_core::msg::{
    AppToDevice, Capabilities, DeviceToApp, FirmwareVersion, PairState, Provision,
};
use zpair_core::session::AppSession;
use zpair_core::spake2plus::Verifier;
use zpair_core::types::{
    ActivationToken, CloudEndpoint, DeviceId, Mode, Modes, Passphrase, ProductId, Security,
    SetupCode, Ssid, WifiCredentials,
};
use zpair_mbedtls::MbedTls;

const DEVICE: DeviceId = DeviceId(0x0011_2233_4455_6677);
const CODE: u32 = 20_202_021;
const APP: ConnId = ConnId(1);

fn identity() -> Identity {
    Identity {
        product: ProductId(0x5a50),
        device: DEVICE,
        modes: Modes::ALL,
        firmware: FirmwareVersion { major: 1, minor: 2, patch: 3 },
        capabilities: Capabilities::from_bits(0b1111),
    }
}

fn new_device(persisted: Option<PersistedState>) -> Device<MbedTls<zpair_mbedtls::OsEntropy>> {
    let mut c = MbedTls::os();
    let verifier =
        Verifier::for_setup_code(&mut c, &SetupCode::new(CODE).unwrap(), DEVICE).unwrap();
    Device::new(identity(), verifier, c, Config::default(), persisted, 0)
}

fn provision() -> Vec<u8> {
    let msg = AppToDevice::Provision(Provision {
        wifi: Some(WifiCredentials {
            ssid: Ssid::new(b"HomeNet-24").unwrap(),
            hidden: false,
            security: Security::Wpa2Psk,
            passphrase: Passphrase::new(b"correct-pass").unwrap(),
            bssid: None,
            channel: None,
        }),
        token: Some(ActivationToken::new(b"tok-0123456789ab").unwrap()),
        endpoint: Some(CloudEndpoint::new(b"eu", None, 0).unwrap()),
        commit_deadline_s: None,
        unix_time_s: None,
    });
    let mut buf = [0u8; 512];
    let n = msg.encode(&mut buf).unwrap();
    buf[..n].to_vec()
}

/// A BLE link at a given ATT MTU: counts every byte at ATT level in both directions.
struct Ble {
    mtu: u16,
    app_tx: GattTx,
    dev_tx: GattTx,
    app_rx: GattRx,
    dev_rx: GattRx,
    att_bytes: usize,
    round_trips: usize,
}

impl Ble {
    fn new(mtu: u16) -> Self {
        let mut app_rx = GattRx::new();
        let mut dev_rx = GattRx::new();
        app_rx.set_mtu(mtu).unwrap();
        dev_rx.set_mtu(mtu).unwrap();
        Ble { mtu, app_tx: GattTx::new(), dev_tx: GattTx::new(), app_rx, dev_rx, att_bytes: 0, round_trips: 0 }
    }

    fn carry(tx: &mut GattTx, rx: &mut GattRx, mtu: u16, packet: &[u8]) -> (Vec<u8>, usize) {
        let mut frag = tx.fragment(packet, mtu).unwrap();
        let mut out = None;
        let mut bytes = 0;
        let mut buf = [0u8; 517];
        while let Some(f) = frag.next_fragment(&mut buf).unwrap() {
            bytes += f.len() + 3; // ATT opcode + handle
            if let Some(p) = rx.push(f).unwrap() {
                out = Some(p.to_vec());
            }
        }
        assert_eq!(Some(bytes), att_bytes(packet.len(), mtu));
        (out.expect("whole packet"), bytes)
    }

    fn deliver_to_device(&mut self, packet: &[u8]) -> Vec<u8> {
        self.round_trips += 1;
        let (p, n) = Self::carry(&mut self.app_tx, &mut self.dev_rx, self.mtu, packet);
        self.att_bytes += n;
        p
    }

    fn deliver_to_app(&mut self, packet: &[u8]) -> Vec<u8> {
        let (p, n) = Self::carry(&mut self.dev_tx, &mut self.app_rx, self.mtu, packet);
        self.att_bytes += n;
        p
    }
}

/// What the glue saw while draining the device.
#[derive(Default, Debug)]
struct Drained {
    to_app: Vec<Vec<u8>>,
    connect: bool,
    activate: Option<Vec<u8>>,
    commit: Option<PersistedState>,
    disconnected: bool,
    done: bool,
    failed: Option<PairError>,
}

fn drain<C: zpair_core::crypto::Crypto>(dev: &mut Device<C>, now: u64) -> Drained {
    let mut d = Drained::default();
    while let Some(out) = dev.poll(now) {
        match out {
            Output::Transmit { conn, packet } => {
                assert_eq!(conn, APP);
                d.to_app.push(packet.to_vec());
            }
            Output::Action(a) => match a {
                Action::ConnectNetwork { mode, wifi } => {
                    assert_eq!(mode, Mode::Ble);
                    assert_eq!(wifi.unwrap().ssid.as_bytes(), b"HomeNet-24");
                    d.connect = true;
                }
                Action::StartActivation { token, .. } => d.activate = Some(token.expose().to_vec()),
                Action::Persist { state, reason: PersistReason::Commit } => d.commit = Some(state.clone()),
                Action::DisconnectApp(_) => d.disconnected = true,
                Action::ReportDone { .. } => d.done = true,
                Action::ReportFailed(e) => d.failed = Some(e),
                _ => {}
            },
        }
    }
    d
}

fn statuses(app: &mut AppSession<MbedTls<zpair_mbedtls::OsEntropy>>, ble: &mut Ble, packets: &[Vec<u8>]) -> Vec<(PairState, Option<PairError>)> {
    packets
        .iter()
        .map(|p| {
            let p = ble.deliver_to_app(p);
            let mut pt = [0u8; 512];
            let n = app.open(&p, &mut pt).unwrap();
            match DeviceToApp::decode(&pt[..n]).unwrap() {
                DeviceToApp::Status(s) => (s.state, s.error),
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect()
}

fn op_creds() -> OperationalCredentials {
    OperationalCredentials {
        name: CloudName::new(b"dev-1").unwrap(),
        secret: DeviceSecret::new([7; 32]),
        endpoint: CloudEndpoint::new(b"eu", None, 0).unwrap(),
    }
}

/// The whole BLE pairing: 2 round trips to "credentials accepted", and the byte count at ATT
/// level for the session (the figure docs/performance.md reports) is exact and stable.
fn ble_pairing(mtu: u16) -> (usize, usize) {
    let mut dev = new_device(None);
    let boot = drain(&mut dev, 0);
    assert!(!boot.connect && boot.to_app.is_empty());
    assert_eq!(dev.machine().state(), State::WindowOpen);

    let mut ble = Ble::new(mtu);
    let mut app = AppSession::new(MbedTls::os());
    dev.app_connected(10, APP, Mode::Ble);
    assert!(drain(&mut dev, 10).to_app.is_empty());

    // Round trip 1: PairRequest -> PairResponse.
    let mut buf = [0u8; 512];
    let n = app.start_with_setup_code(&SetupCode::new(CODE).unwrap(), DEVICE, Mode::Ble, &mut buf).unwrap();
    let req = ble.deliver_to_device(&buf[..n]);
    let resp = dev.receive(20, APP, &req).expect("PairResponse").to_vec();
    let resp = ble.deliver_to_app(&resp);

    // Round trip 2: PairConfirm carrying the credentials -> "joining network".
    let n = app.handle_pair_response(&resp, Some(&provision()), &mut buf).unwrap();
    let confirm = ble.deliver_to_device(&buf[..n]);
    assert!(dev.receive(30, APP, &confirm).is_none());
    let d = drain(&mut dev, 30);
    assert!(d.connect, "the device joins the network");
    assert_eq!(statuses(&mut app, &mut ble, &d.to_app), vec![(PairState::JoiningNetwork, None)]);
    assert_eq!(ble.round_trips, 2);

    // The network comes up; the device activates and commits.
    dev.handle(40, Event::NetworkUp { ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 50)) }).unwrap();
    let d = drain(&mut dev, 40);
    assert_eq!(d.activate.as_deref(), Some(&b"tok-0123456789ab"[..]));
    assert_eq!(statuses(&mut app, &mut ble, &d.to_app), vec![(PairState::Activating, None)]);
    dev.handle(50, Event::ActivationResult(Ok(op_creds()))).unwrap();
    let d = drain(&mut dev, 50);
    let committed = d.commit.expect("commit after the cloud accepted");
    assert!(committed.is_activated());
    dev.handle(60, Event::CommitDone).unwrap();
    let d = drain(&mut dev, 60);
    assert!(d.done && d.disconnected);
    assert_eq!(statuses(&mut app, &mut ble, &d.to_app), vec![(PairState::Activated, None)]);
    assert_eq!(dev.machine().state(), State::Activated);
    (ble.round_trips, ble.att_bytes)
}

#[test]
fn ble_pairing_at_mtu_247() {
    let (rtt, bytes) = ble_pairing(247);
    assert_eq!(rtt, 2);
    // 68 + 99 + (54 + 57) handshake, three 26..27-byte statuses, 6 bytes per packet at ATT.
    println!("BLE session at MTU 247: {bytes} bytes at ATT level, {rtt} round trips");
    assert!(bytes < 400, "{bytes} bytes at ATT level");
}

#[test]
fn ble_pairing_at_mtu_23() {
    let (rtt, bytes) = ble_pairing(23);
    println!("BLE session at MTU 23: {bytes} bytes at ATT level, {rtt} round trips");
    assert_eq!(rtt, 2);
}

#[test]
fn wrong_setup_code_is_reported_and_counted() {
    let mut dev = new_device(None);
    drain(&mut dev, 0);
    let mut app = AppSession::new(MbedTls::os());
    dev.app_connected(1, APP, Mode::SoftAp);
    let mut buf = [0u8; 512];
    let n = app.start_with_setup_code(&SetupCode::new(CODE + 1).unwrap(), DEVICE, Mode::SoftAp, &mut buf).unwrap();
    let resp = dev.receive(2, APP, &buf[..n]).unwrap().to_vec();
    // The app detects the wrong code from confirmV and tells the device.
    let err = app.handle_pair_response(&resp, None, &mut buf).unwrap_err();
    assert_eq!(PairError::from(err), PairError::WrongSetupCode);
    let mut alert = [0u8; 2];
    zpair_core::session::encode_alert(PairError::WrongSetupCode, &mut alert).unwrap();
    assert!(dev.receive(3, APP, &alert).is_none());
    let d = drain(&mut dev, 3);
    assert!(d.disconnected);
    assert_eq!(dev.machine().failed_attempts(), 1);
    assert_eq!(dev.machine().state(), State::WindowOpen);
}

#[test]
fn oversized_values_are_refused_precisely_and_the_session_survives() {
    let mut dev = new_device(None);
    drain(&mut dev, 0);
    let mut app = AppSession::new(MbedTls::os());
    dev.app_connected(1, APP, Mode::Wired);
    let mut buf = [0u8; 512];
    let n = app.start_with_setup_code(&SetupCode::new(CODE).unwrap(), DEVICE, Mode::Wired, &mut buf).unwrap();
    let resp = dev.receive(2, APP, &buf[..n]).unwrap().to_vec();
    let n = app.handle_pair_response(&resp, None, &mut buf).unwrap();
    assert!(dev.receive(3, APP, &buf[..n]).is_none());
    let mut pt = [0u8; 512];
    for p in drain(&mut dev, 3).to_app {
        let m = app.open(&p, &mut pt).unwrap();
        assert!(matches!(DeviceToApp::decode(&pt[..m]).unwrap(), DeviceToApp::Status(s) if s.state == PairState::SessionOpen));
    }

    // A Provision whose token is 40 characters (the bound is 32): hand-encoded CBOR, since
    // the app-side encoder refuses to produce it. [0x03, {1: "aaaa...40"}]
    let mut body = vec![0x82, 0x03, 0xa1, 0x01, 0x78, 40];
    body.extend_from_slice(&[b'a'; 40]);
    let n = app.seal(&body, &mut buf).unwrap();
    let reply = dev.receive(4, APP, &buf[..n]).expect("status").to_vec();
    let m = app.open(&reply, &mut pt).unwrap();
    match DeviceToApp::decode(&pt[..m]).unwrap() {
        DeviceToApp::Status(s) => assert_eq!(s.error, Some(PairError::InvalidToken)),
        other => panic!("{other:?}"),
    }
    // Still in session: a correct Provision (wired: token only) is accepted.
    let msg = AppToDevice::Provision(Provision {
        token: Some(ActivationToken::new(b"tok-0123456789ab").unwrap()),
        ..Provision::default()
    });
    let k = msg.encode(&mut pt).unwrap();
    let n = app.seal(&pt[..k], &mut buf).unwrap();
    assert!(dev.receive(5, APP, &buf[..n]).is_none());
    assert_eq!(dev.machine().state(), State::JoiningNetwork);
}

#[test]
fn a_second_app_is_told_busy() {
    let mut dev = new_device(None);
    drain(&mut dev, 0);
    dev.app_connected(1, APP, Mode::Ble);
    dev.app_connected(2, ConnId(2), Mode::Ble);
    let mut alerts = vec![];
    while let Some(out) = dev.poll(2) {
        if let Output::Transmit { conn, packet } = out {
            alerts.push((conn, packet.to_vec()));
        }
    }
    assert_eq!(alerts, vec![(ConnId(2), vec![0x05, PairError::Busy.code()])]);
}
