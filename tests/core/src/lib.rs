//! zpair core on Zephyr, end to end inside one image: the crypto provider over Zephyr's mbedTLS,
//! the factory data in settings, the SPAKE2+ handshake between the device engine and the app
//! side, the state machine up to the committed activation, and the pairing state reloaded from
//! settings on the flash simulator. Every step prints a `PASS:` line for Twister's console
//! harness, or a `FAIL:` line and stops.

#![no_std]

use zpair_zephyr::sys::{self, ZCrypto};
use zpair_zephyr::zpair_core as zc;
use zpair_zephyr::zprintln;

use zc::crypto::{Crypto, CryptoError};
use zc::device::{Device, Identity, Output};
use zc::error::PairError;
use zc::factory::FactoryData;
use zc::machine::{
    Action, CloudName, Config, ConfigParams, ConnId, DeviceSecret, Event, OperationalCredentials,
    PersistReason, State,
};
use zc::msg::{AppToDevice, Capabilities, DeviceToApp, FirmwareVersion, PairState, Provision};
use zc::session::AppSession;
use zc::spake2plus::Verifier;
use zc::storage::Store;
use zc::types::{ActivationToken, CloudEndpoint, DeviceId, Mode, Modes, ProductId, SetupCode};

const DEVICE: DeviceId = DeviceId(0x0011_2233_4455_6677);
const PRODUCT: ProductId = ProductId(0x5a50);
const CODE: u32 = 20_202_021;
const APP: ConnId = ConnId(0x2000_0001);

macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            zprintln!("FAIL: {}", format_args!($($msg)*));
            return Err(());
        }
    };
}

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let b = s.as_bytes();
    for (i, o) in out.iter_mut().enumerate() {
        let nib = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0,
        };
        *o = (nib(b[2 * i]) << 4) | nib(b[2 * i + 1]);
    }
    out
}

/// Known answers through the C provider and Zephyr's mbedTLS.
fn crypto_known_answers(c: &mut ZCrypto) -> Result<(), ()> {
    let abc = c.sha256(&[b"a", b"bc"]);
    check!(
        abc == unhex::<32>("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        "sha256"
    );
    // RFC 5869, test case 1.
    let ikm = [0x0bu8; 22];
    let salt: [u8; 13] = core::array::from_fn(|i| i as u8);
    let info: [u8; 10] = core::array::from_fn(|i| 0xf0 + i as u8);
    let mut okm = [0u8; 42];
    check!(c.hkdf_sha256(&salt, &ikm, &info, &mut okm).is_ok(), "hkdf failed");
    check!(
        okm == unhex::<42>(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        ),
        "hkdf output"
    );
    // 1*G is the generator; 2*G = G + G.
    let mut one = [0u8; 32];
    one[31] = 1;
    let g = c.p256_mul(&one, None).map_err(|_| zprintln!("FAIL: p256 mul"))?;
    let gx = unhex::<32>("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    check!(g[0] == 4 && g[1..33] == gx, "generator");
    let mut two = [0u8; 32];
    two[31] = 2;
    let g2 = c.p256_mul(&two, Some(&g)).map_err(|_| zprintln!("FAIL: p256 mul 2"))?;
    let sum = c.p256_add(&g, &g).map_err(|_| zprintln!("FAIL: p256 add"))?;
    check!(g2 == sum, "2G != G+G");
    // AES-128-CCM round trip and a tampered tag.
    let key = [7u8; 16];
    let nonce = [9u8; 13];
    let mut buf = *b"zpair on zephyr";
    let mut tag = [0u8; 16];
    check!(c.aes128_ccm_seal(&key, &nonce, b"aad", &mut buf, &mut tag).is_ok(), "ccm seal");
    check!(&buf != b"zpair on zephyr", "ccm did not encrypt");
    let mut copy = buf;
    check!(c.aes128_ccm_open(&key, &nonce, b"aad", &mut copy, &tag).is_ok(), "ccm open");
    check!(&copy == b"zpair on zephyr", "ccm round trip");
    tag[0] ^= 1;
    check!(
        c.aes128_ccm_open(&key, &nonce, b"aad", &mut buf, &tag) == Err(CryptoError::AuthFailed),
        "ccm accepted a bad tag"
    );
    zprintln!("PASS: crypto");
    Ok(())
}

fn config() -> Config {
    Config::new(ConfigParams { modes: Modes::WIRED, ..ConfigParams::default() }).unwrap()
}

fn identity() -> Identity {
    Identity {
        product: PRODUCT,
        device: DEVICE,
        modes: Modes::WIRED,
        firmware: FirmwareVersion { major: 0, minor: 1, patch: 0 },
        capabilities: Capabilities::default(),
    }
}

/// What the glue did while draining the device.
#[derive(Default)]
struct Drained {
    to_app: heapless_vec::Packets,
    started_window: bool,
    connect: bool,
    activate: bool,
    commit: Option<Result<u32, ()>>,
    done: bool,
    disconnected: bool,
}

/// A tiny fixed-capacity list of packets (no allocator in this image).
mod heapless_vec {
    pub struct Packets {
        pub bufs: [[u8; 128]; 4],
        pub lens: [usize; 4],
        pub count: usize,
    }
    impl Default for Packets {
        fn default() -> Self {
            Packets { bufs: [[0; 128]; 4], lens: [0; 4], count: 0 }
        }
    }
    impl Packets {
        pub fn push(&mut self, p: &[u8]) {
            if self.count < 4 && p.len() <= 128 {
                self.bufs[self.count][..p.len()].copy_from_slice(p);
                self.lens[self.count] = p.len();
                self.count += 1;
            }
        }
        pub fn get(&self, i: usize) -> &[u8] {
            &self.bufs[i][..self.lens[i]]
        }
    }
}

fn drain<S: zc::storage::Storage>(
    dev: &mut Device<ZCrypto>,
    store: &mut Store<S>,
    now: u64,
) -> Drained {
    let mut d = Drained::default();
    while let Some(out) = dev.poll(now) {
        match out {
            Output::Transmit { packet, .. } => d.to_app.push(packet),
            Output::Action(a) => match a {
                Action::StartWindow(m) => d.started_window = m.contains(Modes::WIRED),
                Action::ConnectNetwork { mode, .. } => d.connect = mode == Mode::Wired,
                Action::StartActivation { .. } => d.activate = true,
                Action::Persist { state, reason: PersistReason::Commit } => {
                    d.commit = Some(store.save(state).map_err(|_| ()));
                }
                Action::Persist { state, .. } => {
                    let _ = store.save(state);
                }
                Action::EraseStorage => {
                    let _ = store.erase();
                }
                Action::DisconnectApp(_) => d.disconnected = true,
                Action::ReportDone { .. } => d.done = true,
                _ => {}
            },
        }
    }
    d
}

fn app_status(app: &mut AppSession<ZCrypto>, packet: &[u8]) -> Option<(PairState, Option<PairError>)> {
    let mut pt = [0u8; 256];
    let n = app.open(packet, &mut pt).ok()?;
    match DeviceToApp::decode(&pt[..n]).ok()? {
        DeviceToApp::Status(s) => Some((s.state, s.error)),
        _ => None,
    }
}

fn factory(c: &mut ZCrypto) -> Result<FactoryData, ()> {
    let code = SetupCode::new(CODE).map_err(|_| ())?;
    let verifier = Verifier::for_setup_code(c, &code, DEVICE).map_err(|_| zprintln!("FAIL: verifier"))?;
    let mut secret = [0u8; 32];
    c.fill_random(&mut secret).map_err(|_| zprintln!("FAIL: csprng"))?;
    let f = FactoryData {
        product: PRODUCT,
        device: DEVICE,
        activation_secret: zc::activation::ActivationSecret::new(secret),
        verifier,
        setup_code: Some(code),
        modes: Modes::WIRED,
    };
    let written = f.encode();
    zpair_zephyr::storage::write_factory(&written[..]).map_err(|e| zprintln!("FAIL: factory write {e}"))?;
    let back = zpair_zephyr::storage::load_factory().map_err(|e| zprintln!("FAIL: factory load {e}"))?;
    check!(back.encode()[..] == written[..], "factory data changed in settings");
    zprintln!("PASS: factory data ({} bytes in settings)", written.len());
    Ok(back)
}

fn provision() -> ([u8; 128], usize) {
    let msg = AppToDevice::Provision(Provision {
        token: Some(ActivationToken::new(b"tok-zephyr-0123").unwrap()),
        endpoint: Some(CloudEndpoint::new(b"eu", None, 0).unwrap()),
        ..Provision::default()
    });
    let mut buf = [0u8; 128];
    let n = msg.encode(&mut buf).unwrap();
    (buf, n)
}

fn handshake_and_activation(f: &FactoryData) -> Result<(), ()> {
    let mut store = zpair_zephyr::storage::store();
    let _ = store.erase();
    let mut dev = Device::new(identity(), f.verifier.clone(), sys::crypto(), config(), None, sys::now_ms());
    let boot = drain(&mut dev, &mut store, sys::now_ms());
    check!(boot.started_window, "window not opened at boot");
    check!(dev.machine().state() == State::WindowOpen, "state after boot");

    let mut app = AppSession::new(sys::crypto());
    let code = SetupCode::new(CODE).unwrap();
    let mut buf = [0u8; 512];
    dev.app_connected(sys::now_ms(), APP, Mode::Wired);
    let n = app
        .start_with_setup_code(&code, DEVICE, Mode::Wired, &mut buf)
        .map_err(|_| zprintln!("FAIL: app start"))?;

    // Device side of the handshake, timed: PairRequest -> PairResponse, PairConfirm.
    let t0 = sys::cycles();
    let resp = dev.receive(sys::now_ms(), APP, &buf[..n]).map(|r| {
        let mut copy = [0u8; 128];
        copy[..r.len()].copy_from_slice(r);
        (copy, r.len())
    });
    let t1 = sys::cycles();
    let Some((resp, rn)) = resp else {
        zprintln!("FAIL: no PairResponse");
        return Err(());
    };
    let (prov, pn) = provision();
    let n = app
        .handle_pair_response(&resp[..rn], Some(&prov[..pn]), &mut buf)
        .map_err(|e| zprintln!("FAIL: app rejected the response: {:?}", e))?;
    let t2 = sys::cycles();
    let immediate = dev.receive(sys::now_ms(), APP, &buf[..n]).is_some();
    let t3 = sys::cycles();
    check!(!immediate, "unexpected immediate reply to PairConfirm");
    let cycles = u64::from(t1.wrapping_sub(t0)) + u64::from(t3.wrapping_sub(t2));
    let hz = u64::from(sys::cycles_per_sec()).max(1);
    zprintln!(
        "PASS: handshake device_cycles={} ({} ms at {} Hz; response {} + confirm {})",
        cycles,
        cycles * 1000 / hz,
        hz,
        t1.wrapping_sub(t0),
        t3.wrapping_sub(t2)
    );

    // The wrong code: a second device, an app with another code.
    {
        let mut other_store = Store::new(zc::storage::RamFlash::<{ zc::storage::RECORD_MAX }>::new());
        let mut dev2 = Device::new(identity(), f.verifier.clone(), sys::crypto(), config(), None, sys::now_ms());
        drain(&mut dev2, &mut other_store, sys::now_ms());
        let mut bad = AppSession::new(sys::crypto());
        dev2.app_connected(sys::now_ms(), APP, Mode::Wired);
        let n = bad
            .start_with_setup_code(&SetupCode::new(CODE + 1).unwrap(), DEVICE, Mode::Wired, &mut buf)
            .map_err(|_| ())?;
        let resp = dev2.receive(sys::now_ms(), APP, &buf[..n]).map(|r| {
            let mut copy = [0u8; 128];
            copy[..r.len()].copy_from_slice(r);
            (copy, r.len())
        });
        let Some((resp, rn)) = resp else {
            zprintln!("FAIL: no PairResponse (wrong code)");
            return Err(());
        };
        let err = bad.handle_pair_response(&resp[..rn], None, &mut buf);
        check!(err.is_err(), "the app accepted a response for another code");
        let mut alert = [0u8; 2];
        zc::session::encode_alert(PairError::WrongSetupCode, &mut alert).map_err(|_| ())?;
        let _ = dev2.receive(sys::now_ms(), APP, &alert);
        let d = drain(&mut dev2, &mut other_store, sys::now_ms());
        check!(d.disconnected, "wrong code: app not disconnected");
        check!(dev2.machine().failed_attempts() == 1, "wrong code: attempt not counted");
        check!(dev2.machine().state() == State::WindowOpen, "wrong code: window not reopened");
        zprintln!("PASS: wrong setup code refused (attempt counted, window open)");
    }

    // Credentials accepted: the device joins the network (wired), activates, commits.
    let d = drain(&mut dev, &mut store, sys::now_ms());
    check!(d.connect, "no ConnectNetwork after the credentials");
    let mut last = None;
    for i in 0..d.to_app.count {
        last = app_status(&mut app, d.to_app.get(i));
    }
    check!(last == Some((PairState::JoiningNetwork, None)), "status after credentials");
    dev.handle(sys::now_ms(), Event::NetworkUp { ip: core::net::IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 7)) })
        .map_err(|_| zprintln!("FAIL: NetworkUp refused"))?;
    let d = drain(&mut dev, &mut store, sys::now_ms());
    check!(d.activate, "no activation after NetworkUp");
    let mut last = None;
    for i in 0..d.to_app.count {
        last = app_status(&mut app, d.to_app.get(i));
    }
    check!(last == Some((PairState::Activating, None)), "status after NetworkUp");
    let op = OperationalCredentials {
        name: CloudName::new(b"dev-zephyr-1").unwrap(),
        secret: DeviceSecret::new([0x42; 32]),
        endpoint: CloudEndpoint::new(b"eu", None, 0).unwrap(),
    };
    dev.handle(sys::now_ms(), Event::ActivationResult(Ok(op)))
        .map_err(|_| zprintln!("FAIL: activation result refused"))?;
    let d = drain(&mut dev, &mut store, sys::now_ms());
    check!(d.commit == Some(Ok(1)), "commit not written as generation 1");
    check!(d.to_app.count == 0, "status before the commit completed");
    dev.handle(sys::now_ms(), Event::CommitDone).map_err(|_| ())?;
    let d = drain(&mut dev, &mut store, sys::now_ms());
    check!(d.done && d.disconnected, "no ReportDone/DisconnectApp after the commit");
    let mut last = None;
    for i in 0..d.to_app.count {
        last = app_status(&mut app, d.to_app.get(i));
    }
    check!(last == Some((PairState::Activated, None)), "app not told Activated");
    check!(dev.machine().state() == State::Activated, "device not activated");
    zprintln!("PASS: machine activated (commit in settings, generation 1)");

    // A fresh store reads the committed state back from settings; a rebooted device restores it.
    let mut again = zpair_zephyr::storage::store();
    let loaded = again.load();
    check!(!loaded.has_damage(), "damaged slot after a clean commit");
    let Some(state) = loaded.into_state() else {
        zprintln!("FAIL: nothing in settings");
        return Err(());
    };
    check!(state.is_activated(), "reloaded state not activated");
    check!(
        state.operational.as_ref().map(|o| o.name.as_bytes()) == Some(&b"dev-zephyr-1"[..]),
        "operational credentials not persisted"
    );
    let mut rebooted = Device::new(identity(), f.verifier.clone(), sys::crypto(), config(), Some(state), sys::now_ms());
    let _ = drain(&mut rebooted, &mut again, sys::now_ms());
    check!(rebooted.machine().state() == State::Activated, "restored device not activated");
    zprintln!("PASS: storage reload (activated state restored from settings)");
    Ok(())
}

#[no_mangle]
extern "C" fn rust_main() {
    zprintln!("zpair core on {}", zephyr::kconfig::CONFIG_BOARD);
    zprintln!(
        "INFO: sizes device={} store={} factory={}",
        core::mem::size_of::<Device<ZCrypto>>(),
        core::mem::size_of::<Store<zpair_zephyr::storage::SettingsStorage>>(),
        core::mem::size_of::<FactoryData>()
    );
    if zpair_zephyr::storage::init().is_err() {
        zprintln!("FAIL: settings init");
        return;
    }
    let mut c = sys::crypto();
    let result = crypto_known_answers(&mut c)
        .and_then(|()| factory(&mut c))
        .and_then(|f| handshake_and_activation(&f));
    if result.is_ok() {
        zprintln!("zpair core: all tests passed");
    }
}
