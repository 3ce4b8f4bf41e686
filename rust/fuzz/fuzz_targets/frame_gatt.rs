//! GATT framing: arbitrary fragment sequences at an arbitrary MTU never panic; every packet
//! reassembled is re-fragmented and reassembled again identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::frame::gatt::{ATT_MTU_MAX, ATT_MTU_MIN};
use zpair_core::frame::{GattRx, GattTx};

fuzz_target!(|data: &[u8]| {
    // Input: 2 bytes of MTU, then fragments, each prefixed with a 2-byte length.
    let Some((mtu, mut rest)) = data.split_first_chunk::<2>() else { return };
    let mtu = ATT_MTU_MIN + u16::from_be_bytes(*mtu) % (ATT_MTU_MAX - ATT_MTU_MIN + 1);
    let mut rx: GattRx = GattRx::new();
    rx.set_mtu(mtu).unwrap();
    let mut tx = GattTx::new();
    let mut rx2: GattRx = GattRx::new();
    rx2.set_mtu(mtu).unwrap();
    let mut out = [0u8; 514];
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)) % 600;
        let fragment = &tail[..len.min(tail.len())];
        rest = &tail[fragment.len()..];
        match rx.push(fragment) {
            Ok(Some(packet)) => {
                assert!(fragment.len() <= usize::from(mtu) - 3);
                let packet = packet.to_vec();
                let mut frag = tx.fragment(&packet, mtu).unwrap();
                let mut again = None;
                while let Some(f) = frag.next_fragment(&mut out).unwrap() {
                    assert!(again.is_none());
                    again = rx2.push(f).unwrap().map(<[u8]>::to_vec);
                }
                assert_eq!(again.as_deref(), Some(&packet[..]));
            }
            Ok(None) => assert!(!rx.is_idle()),
            Err(_) => assert!(rx.is_idle()),
        }
    }
});
