//! Random bytes into every session entry point never panic, always yield a typed error, and
//! never disturb an established session.

use std::sync::OnceLock;

use proptest::prelude::*;
use zpair_core::session::{AppSession, DeviceSession, Phase, SessionError, PAIR_RESPONSE_LEN};
use zpair_core::spake2plus::{Secrets, Verifier};
use zpair_core::types::{DeviceId, Mode, SetupCode};
use zpair_mbedtls::{MbedTls, OsEntropy};

type Crypto = MbedTls<OsEntropy>;
const DEVICE: DeviceId = DeviceId(7);

/// PBKDF2 once, not per case.
fn registration() -> &'static (Secrets, Verifier) {
    static REG: OnceLock<(Secrets, Verifier)> = OnceLock::new();
    REG.get_or_init(|| {
        let mut c = MbedTls::os();
        let code = SetupCode::new(31_415_926).unwrap();
        let secrets = Secrets::for_setup_code(&mut c, &code, DEVICE).unwrap();
        let verifier = secrets.verifier(&mut c).unwrap();
        (secrets, verifier)
    })
}

fn device() -> DeviceSession<Crypto> {
    DeviceSession::new(MbedTls::os(), registration().1.clone(), DEVICE)
}

/// App and device right after the device answered the request; returns the response.
fn half_way() -> (AppSession<Crypto>, DeviceSession<Crypto>, [u8; PAIR_RESPONSE_LEN]) {
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    let mut req = [0u8; 68];
    app.start(&registration().0, DEVICE, Mode::Ble, &mut req).unwrap();
    let mut resp = [0u8; PAIR_RESPONSE_LEN];
    dev.handle_pair_request(&req, &mut resp).unwrap();
    (app, dev, resp)
}

fn established() -> (AppSession<Crypto>, DeviceSession<Crypto>) {
    let (mut app, mut dev, resp) = half_way();
    let mut confirm = [0u8; 33];
    app.handle_pair_response(&resp, None, &mut confirm).unwrap();
    dev.handle_pair_confirm(&confirm, &mut []).unwrap();
    (app, dev)
}

/// Garbage, or garbage behind a plausible type byte (and version), to get past the first checks.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..160),
        (1u8..=5, proptest::collection::vec(any::<u8>(), 0..140)).prop_map(|(t, rest)| {
            let mut v = vec![t, 1];
            v.extend(rest);
            v
        }),
        // Exact flight sizes with random content.
        (1u8..=5, prop_oneof![Just(2usize), Just(33), Just(54), Just(68), Just(99)], any::<u64>())
            .prop_map(|(t, len, seed)| {
                let mut v: Vec<u8> =
                    (0..len as u64).map(|i| (seed.rotate_left(i as u32 % 64) ^ i) as u8).collect();
                v[0] = t;
                if len > 1 && t <= 2 {
                    v[1] = 1;
                }
                if len > 2 && t == 1 {
                    v[2] &= 3;
                }
                v
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn device_request_handler(bytes in packet()) {
        let mut dev = device();
        let mut out = [0u8; 128];
        // Only a valid shareP could succeed; random bytes are not a point (probability ~2^-128
        // for x on the curve, and then y must match).
        let r = dev.handle_pair_request(&bytes, &mut out);
        prop_assert!(r.is_err(), "{:?}", r);
    }

    #[test]
    fn device_confirm_handler(bytes in packet()) {
        let (_app, mut dev, _) = half_way();
        let mut out = [0u8; 256];
        let r = dev.handle_pair_confirm(&bytes, &mut out);
        prop_assert!(r.is_err(), "{:?}", r);
        prop_assert_ne!(dev.phase(), Phase::Established);
    }

    #[test]
    fn app_response_handler(bytes in packet()) {
        let (mut app, _dev, _) = half_way();
        let mut out = [0u8; 256];
        let r = app.handle_pair_response(&bytes, Some(b"hi"), &mut out);
        prop_assert!(r.is_err(), "{:?}", r);
        prop_assert_ne!(app.phase(), Phase::Established);
    }

    #[test]
    fn open_rejects_garbage_without_state_change(bytes in packet()) {
        let (mut app, mut dev) = established();
        let mut out = [0u8; 256];
        let r = dev.open(&bytes, &mut out);
        prop_assert!(matches!(
            r,
            Err(SessionError::RecordRejected | SessionError::Malformed(_) | SessionError::BadState
                | SessionError::Peer(_) | SessionError::UnsupportedVersion | SessionError::BufferTooSmall)
        ), "{:?}", r);
        prop_assert!(app.open(&bytes, &mut out).is_err());
        // Both directions still work from sequence number 0.
        let mut rec = [0u8; 64];
        let n = app.seal(b"still fine", &mut rec).unwrap();
        prop_assert_eq!(dev.open(&rec[..n], &mut out), Ok(10));
        let n = dev.seal(b"ok", &mut rec).unwrap();
        prop_assert_eq!(app.open(&rec[..n], &mut out), Ok(2));
    }
}
