//! QR payload string: golden strings, round trips, every corruption and truncation rejected.

use proptest::prelude::*;
use zpair_core::error::{PairError, WireError};
use zpair_core::payload::{
    parse, render, PayloadError, SetupPayload, PAYLOAD_CHARS, PAYLOAD_LEN, PAYLOAD_VERSION, PREFIX,
};
use zpair_core::types::{DeviceId, Modes, ProductId, SetupCode};

fn payload(product: u32, device: u64, code: u32, modes: u8) -> SetupPayload {
    SetupPayload {
        product: ProductId(product),
        device: DeviceId(device),
        setup_code: SetupCode::new(code).unwrap(),
        modes: Modes::from_bits(modes).unwrap(),
    }
}

fn render_string(p: &SetupPayload) -> String {
    let mut buf = [0u8; PAYLOAD_LEN];
    render(p, &mut buf).unwrap().to_owned()
}

/// Golden strings, computed by an independent reference implementation (Python, from the
/// layout in the module documentation).
const GOLDEN: [(u32, u64, u32, u8, &str); 4] = [
    (0x0000_0001, 0x0000_0000_0000_0001, 20_202_021, 0b0011, "ZP:EBQAAAAAEAAAAAAAAAAAAJGRBCLOX5"),
    (0x1234_5678, 0xfedc_ba98_7654_3210, 34_567_890, 0b1111, "ZP:EHRENCWPD7NZOUYOZKDEECB53NFT2H"),
    (0xffff_ffff, 0xffff_ffff_ffff_ffff, 99_999_998, 0b0000, "ZP:EAP77777777777777777756XQP5LUV"),
    (0x0000_abcd, 0x0000_0000_dead_beef, 1, 0b1000, "ZP:EEAAAFLZUAAAAAA32W353YAAAAC4WC"),
];

#[test]
fn golden_strings() {
    for (product, device, code, modes, s) in GOLDEN {
        let p = payload(product, device, code, modes);
        assert_eq!(render_string(&p), s);
        assert_eq!(parse(s).unwrap(), p);
        assert_eq!(s.len(), PAYLOAD_LEN);
    }
    assert_eq!(PAYLOAD_LEN, 33);
    assert_eq!(PAYLOAD_CHARS, 30);
    assert_eq!(PAYLOAD_VERSION, 1);
}

#[test]
fn debug_hides_the_setup_code() {
    let p = payload(0x1234_5678, 0xfedc_ba98_7654_3210, 34_567_890, 0b1111);
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("34567890"), "{dbg}");
    assert!(!dbg.contains(&format!("{:x}", 34_567_890)), "{dbg}");
    assert!(dbg.contains("ProductId(305419896)"), "{dbg}");
    assert!(!dbg.contains("setup_code"), "{dbg}");
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#[test]
fn every_single_character_corruption_is_rejected() {
    for (product, device, code, modes, s) in GOLDEN {
        let _ = (product, device, code, modes);
        let bytes = s.as_bytes();
        for i in 0..bytes.len() {
            // Every other byte value: alphabet letters must fail the CRC, others the prefix or
            // the alphabet.
            for b in 0u8..=127 {
                if b == bytes[i] {
                    continue;
                }
                let mut c = bytes.to_vec();
                c[i] = b;
                let c = String::from_utf8(c).unwrap();
                let r = parse(&c);
                let expected_kind = if i < PREFIX.len() {
                    Err(PayloadError::BadPrefix)
                } else if !ALPHABET.contains(&b) {
                    Err(PayloadError::BadChar)
                } else {
                    Err(PayloadError::BadCheck)
                };
                assert_eq!(r, expected_kind, "{c}");
            }
        }
    }
}

#[test]
fn every_adjacent_swap_is_rejected() {
    for (.., s) in GOLDEN {
        let bytes = s.as_bytes();
        for i in PREFIX.len()..bytes.len() - 1 {
            if bytes[i] == bytes[i + 1] {
                continue;
            }
            let mut c = bytes.to_vec();
            c.swap(i, i + 1);
            assert_eq!(parse(std::str::from_utf8(&c).unwrap()), Err(PayloadError::BadCheck));
        }
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    for (.., s) in GOLDEN {
        for n in 0..s.len() {
            let r = parse(&s[..n]);
            let expected =
                if n < PREFIX.len() { PayloadError::BadPrefix } else { PayloadError::BadLength };
            assert_eq!(r, Err(expected), "{:?}", &s[..n]);
        }
        assert_eq!(parse(&format!("{s}A")), Err(PayloadError::BadLength));
        assert_eq!(parse(&format!("{s}\n")), Err(PayloadError::BadChar));
        assert_eq!(parse(&s.to_lowercase()), Err(PayloadError::BadPrefix));
        assert_eq!(parse(&format!("ZP:{}", s[3..].to_lowercase())), Err(PayloadError::BadChar));
    }
}

/// Builds a payload string from raw fields, with a correct CRC (to reach the checks behind it).
fn forge(version: u8, modes: u8, code: u32) -> String {
    fn push(bits: &mut Vec<u8>, v: u64, w: usize) {
        (0..w).rev().for_each(|i| bits.push(((v >> i) & 1) as u8));
    }
    let mut bits = vec![];
    push(&mut bits, u64::from(version), 3);
    push(&mut bits, u64::from(modes), 8);
    push(&mut bits, 7, 32);
    push(&mut bits, 9, 64);
    push(&mut bits, u64::from(code), 27);
    let mut bytes = [0u8; 17];
    for (i, b) in bits.iter().enumerate() {
        bytes[i / 8] |= b << (7 - i % 8);
    }
    let mut crc: u16 = 0xffff;
    for byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    push(&mut bits, u64::from(crc), 16);
    let body: String = bits
        .chunks(5)
        .map(|c| ALPHABET[c.iter().fold(0, |v, b| v * 2 + *b as usize)] as char)
        .collect();
    format!("ZP:{body}")
}

#[test]
fn typed_errors_behind_the_crc() {
    assert!(parse(&forge(1, 0b0101, 20_202_021)).is_ok());
    assert_eq!(parse(&forge(0, 1, 20_202_021)), Err(PayloadError::UnsupportedVersion(0)));
    assert_eq!(parse(&forge(2, 1, 20_202_021)), Err(PayloadError::UnsupportedVersion(2)));
    assert_eq!(parse(&forge(7, 1, 20_202_021)), Err(PayloadError::UnsupportedVersion(7)));
    for bit in 4..8 {
        assert_eq!(parse(&forge(1, 1 << bit, 20_202_021)), Err(PayloadError::UnknownModes));
    }
    for bad in [0, 11_111_111, 12_345_678, 99_999_999, (1 << 27) - 1] {
        assert_eq!(parse(&forge(1, 1, bad)), Err(PayloadError::InvalidSetupCode), "{bad}");
    }
}

#[test]
fn other_versions_of_another_length_say_so() {
    // First character 'I' = 01000: version 2.
    assert_eq!(
        parse("ZP:IAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Err(PayloadError::UnsupportedVersion(2))
    );
    assert_eq!(parse("ZP:EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), Err(PayloadError::BadLength));
    assert_eq!(parse("ZP:"), Err(PayloadError::BadLength));
}

#[test]
fn buffer_too_small() {
    let p = payload(1, 2, 20_202_021, 1);
    let mut buf = [0u8; PAYLOAD_LEN - 1];
    assert_eq!(render(&p, &mut buf), Err(PayloadError::BufferTooSmall));
    let mut buf = [0u8; 64];
    assert_eq!(render(&p, &mut buf).map(str::len), Ok(PAYLOAD_LEN));
}

#[test]
fn error_conversions() {
    assert_eq!(WireError::from(PayloadError::BadCheck), WireError::Malformed);
    assert_eq!(
        WireError::from(PayloadError::UnsupportedVersion(3)),
        WireError::UnsupportedVersion(3)
    );
    assert_eq!(
        WireError::from(PayloadError::InvalidSetupCode),
        WireError::Invalid(PairError::WrongSetupCode)
    );
    assert_eq!(PairError::from(PayloadError::BadPrefix), PairError::MalformedMessage);
    assert_eq!(PairError::from(PayloadError::BufferTooSmall), PairError::NoResources);
    assert_eq!(PayloadError::BadCheck.to_string(), "setup payload: bad_check");
}

fn any_payload() -> impl Strategy<Value = SetupPayload> {
    (any::<u32>(), any::<u64>(), 1u32..=SetupCode::MAX, 0u8..16).prop_filter_map(
        "trivial setup codes are invalid",
        |(product, device, code, modes)| {
            Some(SetupPayload {
                product: ProductId(product),
                device: DeviceId(device),
                setup_code: SetupCode::new(code).ok()?,
                modes: Modes::from_bits(modes)?,
            })
        },
    )
}

proptest! {
    #[test]
    fn round_trip(p in any_payload()) {
        let s = render_string(&p);
        prop_assert_eq!(s.len(), PAYLOAD_LEN);
        prop_assert!(s.starts_with("ZP:"));
        prop_assert!(s[3..].bytes().all(|c| ALPHABET.contains(&c)));
        prop_assert_eq!(parse(&s)?, p);
    }

    #[test]
    fn random_corruption_is_rejected(p in any_payload(), i in 3usize..PAYLOAD_LEN, c in 0usize..32) {
        let mut s = render_string(&p).into_bytes();
        prop_assume!(s[i] != ALPHABET[c]);
        s[i] = ALPHABET[c];
        prop_assert_eq!(parse(std::str::from_utf8(&s).unwrap()), Err(PayloadError::BadCheck));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,40}") {
        let _ = parse(&s);
        let _ = parse(&format!("ZP:{s}"));
    }
}
