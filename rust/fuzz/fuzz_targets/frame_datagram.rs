//! Datagram framing: arbitrary datagrams never panic; accepted ones re-encode identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::frame::datagram::DATAGRAM_MAX;
use zpair_core::frame::{parse_datagram, write_datagram};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = parse_datagram(data) {
        let mut buf = [0u8; DATAGRAM_MAX];
        assert_eq!(write_datagram(packet, &mut buf).unwrap(), data);
    }
});
