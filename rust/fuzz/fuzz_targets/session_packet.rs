//! Session packets: arbitrary bytes never panic; accepted handshake packets and alerts
//! re-encode to the same bytes; the stored-verifier parser never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::session::{encode_alert, parse_packet, Packet};
use zpair_core::spake2plus::Verifier;

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 128];
    match parse_packet(data) {
        Ok(Packet::PairRequest(p)) => {
            let n = p.encode(&mut buf).unwrap();
            assert_eq!(&buf[..n], data);
        }
        Ok(Packet::PairResponse(p)) => {
            let n = p.encode(&mut buf).unwrap();
            assert_eq!(&buf[..n], data);
        }
        Ok(Packet::Alert(e)) => {
            let n = encode_alert(e, &mut buf).unwrap();
            assert_eq!(&buf[..n], data);
        }
        Ok(Packet::PairConfirm(_)) | Ok(Packet::Record(_)) | Err(_) => {}
    }
    let _ = Verifier::from_bytes(data);
});
