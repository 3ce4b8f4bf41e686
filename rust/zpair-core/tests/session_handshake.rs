//! The zpair session through the mbedTLS provider: handshakes, wrong setup codes, and the
//! record layer's replay / reorder / tamper protection.

use zpair_core::error::{PairError, WireError};
use zpair_core::session::{
    encode_alert, pair_confirm_len, parse_packet, record_len, AppSession, DeviceSession, Packet,
    Phase, SessionError, PAIR_CONFIRM_LEN, PAIR_REQUEST_LEN, PAIR_RESPONSE_LEN,
};
use zpair_core::spake2plus::{Identities, Prover, Secrets, Verifier};
use zpair_core::types::{DeviceId, Mode, SetupCode};
use zpair_core::PROTOCOL_VERSION;
use zpair_mbedtls::{MbedTls, OsEntropy};

type Crypto = MbedTls<OsEntropy>;

const DEVICE: DeviceId = DeviceId(0x00c0_ffee_0000_0042);
const CODE: u32 = 20_202_021;

fn code(c: u32) -> SetupCode {
    SetupCode::new(c).unwrap()
}

fn device() -> DeviceSession<Crypto> {
    let mut c = MbedTls::os();
    let verifier = Verifier::for_setup_code(&mut c, &code(CODE), DEVICE).unwrap();
    DeviceSession::new(c, verifier, DEVICE)
}

/// Runs a handshake; returns both established sessions and the embedded plaintext the device
/// received.
fn handshake(
    mode: Mode,
    first: Option<&[u8]>,
) -> (AppSession<Crypto>, DeviceSession<Crypto>, Option<Vec<u8>>) {
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    let mut req = [0u8; 128];
    let n = app.start_with_setup_code(&code(CODE), DEVICE, mode, &mut req).unwrap();
    assert_eq!(n, PAIR_REQUEST_LEN);
    assert_eq!(app.phase(), Phase::Handshaking);

    let mut resp = [0u8; 128];
    let m = dev.handle_pair_request(&req[..n], &mut resp).unwrap();
    assert_eq!(m, PAIR_RESPONSE_LEN);
    assert_eq!(dev.phase(), Phase::Handshaking);
    assert_eq!(dev.mode(), Some(mode));

    let mut confirm = [0u8; 512];
    let k = app.handle_pair_response(&resp[..m], first, &mut confirm).unwrap();
    assert_eq!(k, pair_confirm_len(first.map(<[u8]>::len)));
    assert_eq!(app.phase(), Phase::Established);

    let mut plain = [0u8; 512];
    let got = dev.handle_pair_confirm(&confirm[..k], &mut plain).unwrap();
    assert_eq!(dev.phase(), Phase::Established);
    (app, dev, got.map(|len| plain[..len].to_vec()))
}

fn seal(s: &mut impl Sealer, msg: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; record_len(msg.len())];
    let n = s.seal_to(msg, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// Both session kinds, for the helpers.
trait Sealer {
    fn seal_to(&mut self, msg: &[u8], out: &mut [u8]) -> Result<usize, SessionError>;
    fn open_to(&mut self, rec: &[u8], out: &mut [u8]) -> Result<usize, SessionError>;
}

impl Sealer for AppSession<Crypto> {
    fn seal_to(&mut self, msg: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        self.seal(msg, out)
    }
    fn open_to(&mut self, rec: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        self.open(rec, out)
    }
}

impl Sealer for DeviceSession<Crypto> {
    fn seal_to(&mut self, msg: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        self.seal(msg, out)
    }
    fn open_to(&mut self, rec: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        self.open(rec, out)
    }
}

fn open(s: &mut impl Sealer, rec: &[u8]) -> Result<Vec<u8>, SessionError> {
    let mut out = vec![0u8; rec.len()];
    s.open_to(rec, &mut out).map(|n| out[..n].to_vec())
}

fn seq_of(rec: &[u8]) -> u32 {
    match parse_packet(rec).unwrap() {
        Packet::Record(r) => r.seq,
        other => panic!("not a record: {other:?}"),
    }
}

#[test]
fn handshake_then_records_both_ways() {
    for mode in [Mode::SoftAp, Mode::Ble, Mode::Wired, Mode::Cellular] {
        let (mut app, mut dev, first) = handshake(mode, None);
        assert_eq!(first, None);
        let r0 = seal(&mut app, b"hello device");
        assert_eq!(seq_of(&r0), 0);
        assert_eq!(open(&mut dev, &r0).unwrap(), b"hello device");
        let d0 = seal(&mut dev, b"hello app");
        assert_eq!(open(&mut app, &d0).unwrap(), b"hello app");
        // The record layer encrypts.
        assert!(!r0.windows(12).any(|w| w == b"hello device"));
    }
}

#[test]
fn embedded_first_record_in_pair_confirm() {
    let creds = b"{ssid: home, pass: hunter2hunter2}";
    let (mut app, mut dev, first) = handshake(Mode::SoftAp, Some(creds));
    assert_eq!(first.as_deref(), Some(&creds[..]));
    // The embedded record was app->dev record 0: the next one is 1 ...
    let r1 = seal(&mut app, b"second");
    assert_eq!(seq_of(&r1), 1);
    assert_eq!(open(&mut dev, &r1).unwrap(), b"second");
    // ... while the device's own counter starts at 0.
    let d0 = seal(&mut dev, b"credentials accepted");
    assert_eq!(seq_of(&d0), 0);
    assert_eq!(open(&mut app, &d0).unwrap(), b"credentials accepted");
    // An empty embedded message is still a record.
    let (_, _, first) = handshake(Mode::Ble, Some(b""));
    assert_eq!(first.as_deref(), Some(&b""[..]));
}

#[test]
fn counters_are_per_direction() {
    let (mut app, mut dev, _) = handshake(Mode::Wired, None);
    let a: Vec<_> = (0..3).map(|i| seal(&mut app, &[i; 5])).collect();
    let d: Vec<_> = (0..2).map(|i| seal(&mut dev, &[0x80 | i; 7])).collect();
    assert_eq!(a.iter().map(|r| seq_of(r)).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(d.iter().map(|r| seq_of(r)).collect::<Vec<_>>(), [0, 1]);
    // Interleaved delivery across directions is fine; order within one is enforced.
    assert_eq!(open(&mut dev, &a[0]).unwrap(), [0; 5]);
    assert_eq!(open(&mut app, &d[0]).unwrap(), [0x80; 7]);
    assert_eq!(open(&mut dev, &a[1]).unwrap(), [1; 5]);
    assert_eq!(open(&mut app, &d[1]).unwrap(), [0x81; 7]);
    assert_eq!(open(&mut dev, &a[2]).unwrap(), [2; 5]);
    // A record of one direction is not valid in the other (different keys / IVs).
    let mirror = seal(&mut app, b"to the device");
    assert_eq!(open(&mut app, &mirror), Err(SessionError::RecordRejected));
}

#[test]
fn replay_reorder_tamper_truncation_are_rejected_without_state_change() {
    let (mut app, mut dev, _) = handshake(Mode::Ble, None);
    let r0 = seal(&mut app, b"zero");
    let r1 = seal(&mut app, b"one");
    let r2 = seal(&mut app, b"two");

    // Reordered: r1 before r0.
    assert_eq!(open(&mut dev, &r1), Err(SessionError::RecordRejected));
    // Every single-bit flip of r0, anywhere (header, ciphertext, tag).
    for byte in 0..r0.len() {
        for bit in 0..8 {
            let mut bad = r0.clone();
            bad[byte] ^= 1 << bit;
            let res = open(&mut dev, &bad);
            assert!(
                matches!(res, Err(SessionError::RecordRejected) | Err(SessionError::Malformed(_)) | Err(SessionError::BadState) | Err(SessionError::Peer(_))),
                "flip {byte}/{bit}: {res:?}"
            );
        }
    }
    // Truncated and extended.
    for len in 0..r0.len() {
        assert!(open(&mut dev, &r0[..len]).is_err(), "truncated to {len}");
    }
    let mut longer = r0.clone();
    longer.push(0);
    assert_eq!(open(&mut dev, &longer), Err(SessionError::RecordRejected));
    // Output buffer too small: rejected, nothing consumed.
    let mut tiny = [0u8; 3];
    assert_eq!(dev.open(&r0, &mut tiny), Err(SessionError::BufferTooSmall));

    // None of that moved the counter: r0 still opens, then r1, r2.
    assert_eq!(open(&mut dev, &r0).unwrap(), b"zero");
    // Replay.
    assert_eq!(open(&mut dev, &r0), Err(SessionError::RecordRejected));
    assert_eq!(open(&mut dev, &r1).unwrap(), b"one");
    assert_eq!(open(&mut dev, &r2).unwrap(), b"two");
    assert_eq!(open(&mut dev, &r1), Err(SessionError::RecordRejected));
}

#[test]
fn a_forged_sequence_number_does_not_open() {
    let (mut app, mut dev, _) = handshake(Mode::SoftAp, None);
    let r0 = seal(&mut app, b"a");
    let r1 = seal(&mut app, b"b");
    // Relabel r1 as seq 0: AAD and nonce change, the tag fails.
    let mut relabeled = r1.clone();
    relabeled[1..5].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(open(&mut dev, &relabeled), Err(SessionError::RecordRejected));
    assert_eq!(open(&mut dev, &r0).unwrap(), b"a");
}

#[test]
fn wrong_setup_code_is_detected_by_both_sides() {
    // App side: the device's confirmV does not verify.
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    let mut req = [0u8; PAIR_REQUEST_LEN];
    app.start_with_setup_code(&code(CODE + 1), DEVICE, Mode::SoftAp, &mut req).unwrap();
    let mut resp = [0u8; PAIR_RESPONSE_LEN];
    dev.handle_pair_request(&req, &mut resp).unwrap();
    let mut confirm = [0u8; 64];
    let err = app.handle_pair_response(&resp, None, &mut confirm).unwrap_err();
    assert_eq!(err, SessionError::WrongSetupCode);
    assert_eq!(PairError::from(err), PairError::WrongSetupCode);
    assert_eq!(app.phase(), Phase::Failed);
    assert_eq!(app.seal(b"x", &mut [0; 64]), Err(SessionError::BadState));

    // Device side: a prover with the wrong code that sends confirmP anyway.
    let mut c = MbedTls::os();
    let mut dev = device();
    let wrong = Secrets::for_setup_code(&mut c, &code(CODE + 1), DEVICE).unwrap();
    let prover = Prover::start(&mut c, &wrong).unwrap();
    let mut req = vec![0x01, PROTOCOL_VERSION, 0];
    req.extend_from_slice(prover.share());
    let mut resp = [0u8; PAIR_RESPONSE_LEN];
    dev.handle_pair_request(&req, &mut resp).unwrap();
    let Packet::PairResponse(r) = parse_packet(&resp).unwrap() else { panic!() };
    let ctx = zpair_core::session::spake2p_context(DEVICE, Mode::SoftAp);
    let idv = zpair_core::session::spake2p_id_verifier(DEVICE);
    let ids = Identities { context: &ctx, id_prover: b"", id_verifier: &idv };
    let keys = prover.finish(&mut c, &ids, r.share_v).unwrap();
    let mut confirm = vec![0x03];
    confirm.extend_from_slice(keys.confirm_p());
    let mut out = [0u8; 16];
    let err = dev.handle_pair_confirm(&confirm, &mut out).unwrap_err();
    assert_eq!(err, SessionError::WrongSetupCode);
    assert_eq!(PairError::from(err), PairError::WrongSetupCode);
    assert_eq!(dev.phase(), Phase::Failed);
    assert_eq!(dev.handle_pair_confirm(&confirm, &mut out), Err(SessionError::BadState));
    dev.reset();
    assert_eq!(dev.phase(), Phase::Idle);
}

#[test]
fn tampered_handshake_fails_confirmation() {
    // Changing the mode byte on the way changes the device's SPAKE2+ context.
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    let mut req = [0u8; PAIR_REQUEST_LEN];
    app.start_with_setup_code(&code(CODE), DEVICE, Mode::SoftAp, &mut req).unwrap();
    req[2] = 1;
    let mut resp = [0u8; PAIR_RESPONSE_LEN];
    dev.handle_pair_request(&req, &mut resp).unwrap();
    assert_eq!(dev.mode(), Some(Mode::Ble));
    assert_eq!(
        app.handle_pair_response(&resp, None, &mut [0; 64]),
        Err(SessionError::WrongSetupCode)
    );

    // A flipped confirmV.
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    app.start_with_setup_code(&code(CODE), DEVICE, Mode::Wired, &mut req).unwrap();
    dev.handle_pair_request(&req, &mut resp).unwrap();
    resp[98] ^= 0x01;
    assert_eq!(
        app.handle_pair_response(&resp, None, &mut [0; 64]),
        Err(SessionError::WrongSetupCode)
    );

    // A flipped confirmP.
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    app.start_with_setup_code(&code(CODE), DEVICE, Mode::Wired, &mut req).unwrap();
    dev.handle_pair_request(&req, &mut resp).unwrap();
    let mut confirm = [0u8; PAIR_CONFIRM_LEN];
    app.handle_pair_response(&resp, None, &mut confirm).unwrap();
    confirm[5] ^= 0x40;
    assert_eq!(dev.handle_pair_confirm(&confirm, &mut []), Err(SessionError::WrongSetupCode));

    // Another device id (the salt and the context differ).
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    app.start_with_setup_code(&code(CODE), DeviceId(DEVICE.0 ^ 1), Mode::Wired, &mut req).unwrap();
    dev.handle_pair_request(&req, &mut resp).unwrap();
    assert_eq!(
        app.handle_pair_response(&resp, None, &mut [0; 64]),
        Err(SessionError::WrongSetupCode)
    );
}

#[test]
fn tampered_embedded_record_is_rejected_after_confirmation() {
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    let mut req = [0u8; PAIR_REQUEST_LEN];
    app.start_with_setup_code(&code(CODE), DEVICE, Mode::Ble, &mut req).unwrap();
    let mut resp = [0u8; PAIR_RESPONSE_LEN];
    dev.handle_pair_request(&req, &mut resp).unwrap();
    let mut confirm = [0u8; 128];
    let n = app.handle_pair_response(&resp, Some(b"credentials"), &mut confirm).unwrap();
    // Too small an output buffer is refused before anything happens.
    assert_eq!(
        dev.handle_pair_confirm(&confirm[..n], &mut [0; 5]),
        Err(SessionError::BufferTooSmall)
    );
    assert_eq!(dev.phase(), Phase::Handshaking);
    let mut tampered = confirm;
    tampered[n - 1] ^= 1;
    let mut out = [0xaau8; 32];
    assert_eq!(
        dev.handle_pair_confirm(&tampered[..n], &mut out),
        Err(SessionError::RecordRejected)
    );
    assert!(out[..11].iter().all(|&b| b == 0), "no unauthenticated plaintext");
    // The keys were confirmed; the session expects record 0 again.
    assert_eq!(dev.phase(), Phase::Established);
    let r = seal(&mut app, b"retry");
    assert_eq!(seq_of(&r), 1);
    assert_eq!(open(&mut dev, &r), Err(SessionError::RecordRejected));
}

#[test]
fn phase_and_packet_type_errors() {
    let mut app = AppSession::new(MbedTls::os());
    let mut dev = device();
    let mut buf = [0u8; 256];
    assert_eq!(app.seal(b"x", &mut buf), Err(SessionError::BadState));
    assert_eq!(app.handle_pair_response(&[0x02], None, &mut buf), Err(SessionError::BadState));
    assert_eq!(dev.handle_pair_confirm(&[0x03], &mut buf), Err(SessionError::BadState));
    assert_eq!(dev.open(&[0x04], &mut buf), Err(SessionError::BadState));

    let mut req = [0u8; PAIR_REQUEST_LEN];
    app.start_with_setup_code(&code(CODE), DEVICE, Mode::SoftAp, &mut req).unwrap();
    // Wrong packet types and garbage leave the device idle.
    assert_eq!(dev.handle_pair_request(&[0x03; 33], &mut buf), Err(SessionError::BadState));
    assert_eq!(
        dev.handle_pair_request(&req[..40], &mut buf),
        Err(SessionError::Malformed(WireError::Truncated))
    );
    assert_eq!(dev.handle_pair_request(&req, &mut buf[..98]), Err(SessionError::BufferTooSmall));
    assert_eq!(dev.phase(), Phase::Idle);

    // Unsupported version.
    let mut v2 = req;
    v2[1] = 2;
    let err = dev.handle_pair_request(&v2, &mut buf).unwrap_err();
    assert_eq!(err, SessionError::UnsupportedVersion);
    assert_eq!(PairError::from(err), PairError::UnsupportedVersion);

    // An invalid shareP ends the session.
    let mut bad_share = req;
    bad_share[10] ^= 1;
    assert!(matches!(
        dev.handle_pair_request(&bad_share, &mut buf),
        Err(SessionError::Malformed(_))
    ));
    assert_eq!(dev.phase(), Phase::Failed);
    dev.reset();

    // The device may answer with an alert instead.
    let mut alert = [0u8; 2];
    encode_alert(PairError::Busy, &mut alert).unwrap();
    assert_eq!(
        app.handle_pair_response(&alert, None, &mut buf),
        Err(SessionError::Peer(PairError::Busy))
    );
    assert_eq!(app.phase(), Phase::Failed);

    // A retransmitted PairRequest restarts the device's handshake; the app completes with the
    // response to the request it sent last.
    let mut app = AppSession::new(MbedTls::os());
    app.start_with_setup_code(&code(CODE), DEVICE, Mode::Wired, &mut req).unwrap();
    let mut resp = [0u8; PAIR_RESPONSE_LEN];
    dev.handle_pair_request(&req, &mut resp).unwrap();
    dev.handle_pair_request(&req, &mut resp).unwrap();
    let mut confirm = [0u8; PAIR_CONFIRM_LEN];
    app.handle_pair_response(&resp, None, &mut confirm).unwrap();
    assert_eq!(dev.handle_pair_confirm(&confirm, &mut []), Ok(None));
    assert_eq!(dev.handle_pair_request(&req, &mut buf), Err(SessionError::BadState));
    // Alerts in an established session surface as Peer.
    assert_eq!(dev.open(&alert, &mut buf), Err(SessionError::Peer(PairError::Busy)));
}

#[test]
fn secrets_and_keys_do_not_leak_through_debug() {
    let (app, dev, _) = handshake(Mode::SoftAp, None);
    let s = format!("{app:?} {dev:?}");
    assert!(s.contains("Established"), "{s}");
    assert!(!s.contains("key"), "{s}");
}
