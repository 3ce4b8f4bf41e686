//! Manual pairing code: golden codes, round trips, every single-digit error and adjacent swap
//! rejected, separators accepted.

use proptest::prelude::*;
use zpair_core::payload::{
    parse_manual, render_manual, ManualCode, PayloadError, SetupPayload, MANUAL_DIGITS, MANUAL_LEN,
};
use zpair_core::types::{DeviceId, Modes, ProductId, SetupCode};

fn render_string(c: &ManualCode) -> String {
    let mut buf = [0u8; MANUAL_LEN];
    render_manual(c, &mut buf).unwrap().to_owned()
}

/// (device id, setup code, manual code), from an independent reference implementation (Python,
/// Verhoeff built from the dihedral group D5 rather than from the tables).
const GOLDEN: [(u64, u32, &str); 4] = [
    (0x0000_0000_0000_0001, 20_202_021, "0001-2020-20215"),
    (0xfedc_ba98_7654_3210, 34_567_890, "0528-3456-78900"),
    (0xffff_ffff_ffff_ffff, 99_999_998, "4095-9999-99988"),
    (0x0000_0000_dead_beef, 1, "3823-0000-00014"),
];

#[test]
fn golden_codes() {
    for (device, code, s) in GOLDEN {
        let payload = SetupPayload {
            product: ProductId(1),
            device: DeviceId(device),
            setup_code: SetupCode::new(code).unwrap(),
            modes: Modes::ALL,
        };
        let m = payload.manual_code();
        assert_eq!(render_string(&m), s);
        let parsed = parse_manual(s).unwrap();
        assert_eq!(parsed, m);
        assert_eq!(parsed.setup_code().expose(), code);
        assert_eq!(u64::from(parsed.discriminator()), device & 0xfff);
        assert!(parsed.matches(DeviceId(device)));
        assert!(!parsed.matches(DeviceId(device ^ 0x800)));
        assert!(parsed.matches(DeviceId(device ^ 0x1000)), "only the low 12 bits are compared");
    }
    assert_eq!(MANUAL_DIGITS, 13);
    assert_eq!(MANUAL_LEN, 15);
}

#[test]
fn separators_are_ignored() {
    let m = parse_manual("0001-2020-20215").unwrap();
    for s in ["0001202020215", "0001 2020 20215", " 000-120-2020-215 ", "0--0 01202020215"] {
        assert_eq!(parse_manual(s).unwrap(), m, "{s}");
    }
}

#[test]
fn every_single_digit_error_is_rejected() {
    for (.., s) in GOLDEN {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
        for i in 0..digits.len() {
            for d in b'0'..=b'9' {
                if d == digits[i] {
                    continue;
                }
                let mut c = digits.clone();
                c[i] = d;
                let c = String::from_utf8(c).unwrap();
                assert_eq!(parse_manual(&c), Err(PayloadError::BadCheck), "{c}");
            }
        }
    }
}

#[test]
fn every_adjacent_swap_is_rejected() {
    for (.., s) in GOLDEN {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
        for i in 0..digits.len() - 1 {
            if digits[i] == digits[i + 1] {
                continue;
            }
            let mut c = digits.clone();
            c.swap(i, i + 1);
            let c = String::from_utf8(c).unwrap();
            assert_eq!(parse_manual(&c), Err(PayloadError::BadCheck), "{c}");
        }
    }
}

#[test]
fn lengths_and_characters() {
    let s = "0001202020215";
    for n in 0..s.len() {
        assert_eq!(parse_manual(&s[..n]), Err(PayloadError::BadLength));
    }
    assert_eq!(parse_manual("00012020202150"), Err(PayloadError::BadLength));
    assert_eq!(parse_manual("0001_2020_20215"), Err(PayloadError::BadChar));
    assert_eq!(parse_manual("0001-2020-2021a"), Err(PayloadError::BadChar));
    assert_eq!(parse_manual("０001202020215"), Err(PayloadError::BadChar));
}

/// Appends the Verhoeff digit (computed by the crate's renderer through a valid code is not
/// possible for out-of-range fields, so brute-force the one digit that passes).
fn with_check(twelve: &str) -> String {
    (b'0'..=b'9')
        .map(|d| format!("{twelve}{}", d as char))
        .find(|c| parse_manual(c) != Err(PayloadError::BadCheck))
        .expect("exactly one check digit passes")
}

#[test]
fn out_of_range_fields() {
    assert_eq!(parse_manual(&with_check("409620202021")), Err(PayloadError::OutOfRange));
    assert_eq!(parse_manual(&with_check("999920202021")), Err(PayloadError::OutOfRange));
    assert_eq!(parse_manual(&with_check("000112345678")), Err(PayloadError::InvalidSetupCode));
    assert_eq!(parse_manual(&with_check("000100000000")), Err(PayloadError::InvalidSetupCode));
    assert_eq!(parse_manual(&with_check("000199999999")), Err(PayloadError::InvalidSetupCode));
    assert!(parse_manual(&with_check("409599999998")).is_ok());
    assert_eq!(
        ManualCode::new(4096, SetupCode::new(20_202_021).unwrap()).err(),
        Some(PayloadError::OutOfRange)
    );
}

#[test]
fn render_needs_room_and_debug_hides_the_code() {
    let m = ManualCode::new(7, SetupCode::new(20_202_021).unwrap()).unwrap();
    assert_eq!(render_manual(&m, &mut [0u8; MANUAL_LEN - 1]), Err(PayloadError::BufferTooSmall));
    let dbg = format!("{m:?}");
    assert!(!dbg.contains("20202021") && !dbg.contains("2020"), "{dbg}");
    assert!(dbg.contains("discriminator: 7"), "{dbg}");
}

proptest! {
    #[test]
    fn round_trip(disc in 0u16..4096, code in 1u32..=SetupCode::MAX) {
        let Ok(code) = SetupCode::new(code) else { return Ok(()) };
        let m = ManualCode::new(disc, code)?;
        let s = render_string(&m);
        prop_assert_eq!(s.len(), MANUAL_LEN);
        prop_assert_eq!(parse_manual(&s)?, m.clone());
        prop_assert_eq!(parse_manual(&s.replace('-', ""))?, m);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "[0-9 \\-]{0,30}|\\PC{0,30}") {
        let _ = parse_manual(&s);
    }
}
