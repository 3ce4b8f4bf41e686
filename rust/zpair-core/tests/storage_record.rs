//! The record format: layout, round trips, and rejection of every kind of damage.

mod machine_support;

use machine_support::*;
use zpair_core::error::{PairError, WireError};
use zpair_core::machine::*;
use zpair_core::storage::*;
use zpair_core::types::*;

fn record(state: &PersistedState, generation: u32) -> Vec<u8> {
    let mut buf = [0u8; RECORD_MAX];
    let n = encode_record(state, generation, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// A correctly framed record around arbitrary payload bytes (so that the payload decoder is
/// what gets tested).
fn frame(payload: &[u8], generation: u32) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(b"ZPst");
    r.push(1);
    r.push(0);
    r.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    r.extend_from_slice(&generation.to_le_bytes());
    r.extend_from_slice(payload);
    let crc = crc32(&r);
    r.extend_from_slice(&crc.to_le_bytes());
    r
}

fn samples() -> Vec<PersistedState> {
    let mut hidden = wifi("hidden-net", "correct horse battery");
    hidden.hidden = true;
    hidden.security = Security::Wpa3Sae;
    hidden.bssid = Some(Bssid([0xde, 0xad, 0xbe, 0xef, 0, 1]));
    hidden.channel = Some(11);
    let mut no_host = activated(Mode::Cellular, None, "cell-7");
    no_host.operational.as_mut().unwrap().endpoint = CloudEndpoint::new(b"us", None, 0).unwrap();
    vec![
        PersistedState::default(),
        PersistedState { failed_attempts: 4, ..Default::default() },
        activated(Mode::SoftAp, Some(wifi("home", "password1")), "dev-1"),
        activated(Mode::Ble, Some(wifi("open-cafe", "")), "dev-2"),
        activated(Mode::Ble, Some(hidden), "dev-3"),
        activated(Mode::Wired, None, "dev-4"),
        no_host,
        // activated, Wi-Fi forgotten by a network reset
        activated(Mode::SoftAp, None, "dev-5"),
        max_state(),
    ]
}

#[test]
fn golden_bytes_of_a_counter_only_record() {
    let st = PersistedState { failed_attempts: 2, ..Default::default() };
    let expected: [u8; 19] = [
        0x5a, 0x50, 0x73, 0x74, // "ZPst"
        0x01, 0x00, // version 1, reserved
        0x03, 0x00, // payload length 3
        0x07, 0x00, 0x00, 0x00, // generation 7
        0x00, 0x00, 0x02, // flags, mode none, 2 failed attempts
        0x38, 0x47, 0x96, 0xea, // CRC-32 (computed independently with zlib)
    ];
    assert_eq!(record(&st, 7), expected);
    assert_eq!(decode_record(&expected).unwrap(), (7, st));
}

#[test]
fn golden_payload_of_an_activated_softap_state() {
    let mut w = wifi("home", "password1");
    w.channel = Some(6);
    let st = PersistedState {
        mode: Some(Mode::SoftAp),
        wifi: Some(w),
        operational: Some(OperationalCredentials {
            name: CloudName::new(b"dev1").unwrap(),
            secret: DeviceSecret::new([0x11; 32]),
            endpoint: CloudEndpoint::new(b"eu", None, 0).unwrap(),
        }),
        activated: true,
        failed_attempts: 0,
    };
    let mut expected = vec![0x07, 0x01, 0x00];
    expected.extend_from_slice(b"\x04home");
    expected.extend_from_slice(&[0x04, 0x01]); // channel present, WPA2-PSK
    expected.extend_from_slice(b"\x09password1");
    expected.push(6);
    expected.extend_from_slice(b"\x04dev1");
    expected.extend_from_slice(&[0x11; 32]);
    expected.extend_from_slice(b"eu\x00\x00\x00");
    let mut buf = [0u8; PAYLOAD_MAX];
    let n = st.encode(&mut buf).unwrap();
    assert_eq!(&buf[..n], &expected[..]);
    assert_eq!(PersistedState::decode(&expected).unwrap(), st);
}

#[test]
fn every_sample_round_trips_with_its_generation() {
    for (i, st) in samples().iter().enumerate() {
        for generation in [0, 1, 0x7fff_ffff, u32::MAX] {
            let r = record(st, generation);
            let (g, back) = decode_record(&r).unwrap_or_else(|e| panic!("sample {i}: {e}"));
            assert_eq!(g, generation);
            assert_eq!(&back, st, "sample {i}");
        }
    }
}

#[test]
fn the_largest_state_fills_record_max_exactly() {
    assert_eq!(record(&max_state(), 1).len(), RECORD_MAX);
}

#[test]
fn every_single_bit_flip_is_detected() {
    for st in [max_state(), PersistedState::default()] {
        let r = record(&st, 42);
        for bit in 0..r.len() * 8 {
            let mut bad = r.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_record(&bad).is_err(), "bit {bit} flip accepted");
        }
    }
}

#[test]
fn every_truncation_and_any_extension_is_rejected() {
    let r = record(&max_state(), 3);
    for n in 0..r.len() {
        let e = decode_record(&r[..n]).unwrap_err();
        assert_eq!(e, RecordError::Truncated, "prefix of {n} bytes");
    }
    let mut long = r.clone();
    long.push(0);
    assert_eq!(decode_record(&long).unwrap_err(), RecordError::TrailingBytes);
}

#[test]
fn header_damage_has_precise_errors() {
    let r = record(&PersistedState::default(), 1);
    let mut m = r.clone();
    m[0] = b'X';
    assert_eq!(decode_record(&m).unwrap_err(), RecordError::BadMagic);
    let mut v = r.clone();
    v[4] = 2;
    assert_eq!(decode_record(&v).unwrap_err(), RecordError::UnsupportedVersion(2));
    let mut res = r.clone();
    res[5] = 1;
    assert_eq!(decode_record(&res).unwrap_err(), RecordError::BadMagic);
    let mut len = r.clone();
    len[6] = 2; // below the 3 fixed bytes
    assert_eq!(decode_record(&len).unwrap_err(), RecordError::BadLength);
    let mut big = r.clone();
    big[6..8].copy_from_slice(&((PAYLOAD_MAX + 1) as u16).to_le_bytes());
    assert_eq!(decode_record(&big).unwrap_err(), RecordError::BadLength);
    let mut crc = r.clone();
    *crc.last_mut().unwrap() ^= 0x80;
    assert_eq!(decode_record(&crc).unwrap_err(), RecordError::BadCrc);
    let erased = vec![0xFF; r.len()];
    assert_eq!(decode_record(&erased).unwrap_err(), RecordError::BadMagic);
}

#[test]
fn payload_damage_is_rejected_even_with_a_valid_crc() {
    let bad = |payload: &[u8]| match decode_record(&frame(payload, 1)) {
        Err(RecordError::Payload(e)) => e,
        other => panic!("{payload:02x?} gave {other:?}"),
    };
    assert_eq!(bad(&[0x08, 0, 0]), WireError::Malformed, "unknown flag bit");
    assert_eq!(bad(&[0x00, 5, 0]), WireError::Malformed, "unknown mode");
    assert_eq!(bad(&[0x00, 0, 0, 0]), WireError::TrailingBytes);
    assert_eq!(bad(&[0x02, 1, 0]), WireError::Truncated, "Wi-Fi flag without Wi-Fi");
    assert_eq!(bad(&[0x02, 1, 0, 0]), WireError::Invalid(PairError::InvalidSsid), "empty SSID");
    let mut long_ssid = vec![0x02, 1, 0, 33];
    long_ssid.extend_from_slice(&[b'a'; 33]);
    assert_eq!(bad(&long_ssid), WireError::TooLong);
    let mut short_pass = vec![0x02, 1, 0, 1, b'a', 0, 1, 7];
    short_pass.extend_from_slice(b"1234567");
    assert_eq!(bad(&short_pass), WireError::Invalid(PairError::InvalidPassphrase));
    let mut open_with_pass = vec![0x02, 1, 0, 1, b'a', 0, 0, 8];
    open_with_pass.extend_from_slice(b"12345678");
    assert_eq!(bad(&open_with_pass), WireError::Invalid(PairError::InvalidPassphrase));
    assert_eq!(
        bad(&[0x02, 1, 0, 1, b'a', 0, 9, 0]),
        WireError::Invalid(PairError::UnsupportedSecurity)
    );
    assert_eq!(bad(&[0x02, 1, 0, 1, b'a', 0x08, 0, 0]), WireError::Malformed, "Wi-Fi flag bit");
    assert_eq!(
        bad(&[0x02, 1, 0, 1, b'a', 0x04, 0, 0, 0]),
        WireError::Invalid(PairError::InvalidSsid),
        "channel 0"
    );
    assert_eq!(
        bad(&[0x02, 3, 0, 1, b'a', 0, 0, 0]),
        WireError::Invalid(PairError::UnexpectedMessage),
        "Wi-Fi credentials for a wired device"
    );
    assert_eq!(
        bad(&[0x01, 1, 0]),
        WireError::Invalid(PairError::MissingCredentials),
        "activated without operational credentials"
    );
    // operational credentials: name, secret, region, host, port
    let op = |name: &[u8], region: &[u8], host: &[u8]| {
        let mut p = vec![0x04, 3, 0, name.len() as u8];
        p.extend_from_slice(name);
        p.extend_from_slice(&[7; 32]);
        p.extend_from_slice(region);
        p.push(host.len() as u8);
        p.extend_from_slice(host);
        p.extend_from_slice(&[0, 0]);
        p
    };
    assert!(decode_record(&frame(&op(b"d", b"eu", b"h"), 1)).is_ok());
    assert_eq!(bad(&op(b"", b"eu", b"h")), WireError::Invalid(PairError::MalformedMessage));
    assert_eq!(bad(&op(b"a b", b"eu", b"h")), WireError::Invalid(PairError::MalformedMessage));
    assert_eq!(bad(&op(b"d", b"EU", b"h")), WireError::Invalid(PairError::InvalidEndpoint));
    assert_eq!(bad(&op(b"d", b"eu", b"a b")), WireError::Invalid(PairError::InvalidEndpoint));
    assert_eq!(bad(&op(b"d", b"eu", &[b'h'; 65])), WireError::TooLong);
    let mut cut = op(b"d", b"eu", b"h");
    cut.pop();
    assert_eq!(bad(&cut), WireError::Truncated);
}

#[test]
fn encoding_refuses_invalid_states_and_small_buffers() {
    let broken = PersistedState { activated: true, ..Default::default() };
    let mut buf = [0u8; RECORD_MAX];
    assert_eq!(
        encode_record(&broken, 1, &mut buf),
        Err(WireError::Invalid(PairError::MissingCredentials))
    );
    let st = max_state();
    let mut small = [0u8; RECORD_MAX - 1];
    assert_eq!(encode_record(&st, 1, &mut small), Err(WireError::BufferTooSmall));
    let mut tiny = [0u8; 5];
    assert_eq!(encode_record(&PersistedState::default(), 1, &mut tiny), Err(WireError::BufferTooSmall));
}

#[test]
fn debug_output_never_shows_secrets() {
    let st = activated(Mode::SoftAp, Some(wifi("home", "supersecretpw")), "dev-1");
    let mut store = Store::new(RamFlash::<RECORD_MAX>::new());
    store.save(&st).unwrap();
    let loaded = store.load();
    for text in [format!("{st:?}"), format!("{loaded:?}"), format!("{store:?}")] {
        assert!(!text.contains("supersecretpw"), "{text}");
        assert!(!text.contains("90, 90") && !text.contains("5a, 5a"), "{text}");
        assert!(!text.contains("0x5a"), "{text}");
    }
}
