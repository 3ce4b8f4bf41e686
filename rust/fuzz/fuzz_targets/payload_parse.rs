//! Setup payload and manual code parsers: arbitrary strings never panic; an accepted payload
//! string is canonical (re-renders to the same string), an accepted manual code re-renders to
//! a string that parses to the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::payload::{parse, parse_manual, render, render_manual, MANUAL_LEN, PAYLOAD_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = core::str::from_utf8(data) else { return };
    if let Ok(p) = parse(s) {
        let mut buf = [0u8; PAYLOAD_LEN];
        assert_eq!(render(&p, &mut buf).unwrap(), s);
    }
    if let Ok(m) = parse_manual(s) {
        let mut buf = [0u8; MANUAL_LEN];
        let again = render_manual(&m, &mut buf).unwrap();
        assert_eq!(parse_manual(again).unwrap(), m);
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(again.replace('-', ""), digits);
    }
});
