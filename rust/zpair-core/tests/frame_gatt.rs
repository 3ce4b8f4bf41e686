//! GATT framing: every MTU, random packets and MTU changes, every rejection, exact overhead.

use proptest::prelude::*;
use zpair_core::frame::gatt::{
    att_bytes, fragment_count, framing_overhead, ATT_MTU_MAX, ATT_MTU_MIN, FLAG_BEGIN, FLAG_END,
};
use zpair_core::frame::{FrameError, GattRx, GattTx, MAX_PACKET};

/// All fragments of one packet.
fn fragments(tx: &mut GattTx, packet: &[u8], mtu: u16) -> Vec<Vec<u8>> {
    let mut f = tx.fragment(packet, mtu).unwrap();
    let expected = f.remaining_fragments();
    let mut out = Vec::new();
    let mut buf = vec![0u8; f.max_fragment_len()];
    while let Some(frag) = f.next_fragment(&mut buf).unwrap() {
        out.push(frag.to_vec());
        assert_eq!(f.remaining_fragments(), expected - out.len());
    }
    assert!(f.is_done());
    assert_eq!(f.next_fragment(&mut buf), Ok(None));
    out
}

/// Sends one packet through `tx` and `rx` and checks the exact fragment layout.
fn transfer(tx: &mut GattTx, rx: &mut GattRx, packet: &[u8], mtu: u16) {
    rx.set_mtu(mtu).unwrap();
    let frags = fragments(tx, packet, mtu);
    let p = usize::from(mtu) - 3;
    assert_eq!(
        Some(frags.len()),
        fragment_count(packet.len(), mtu),
        "count, len {} mtu {mtu}",
        packet.len()
    );
    let framed: usize = frags.iter().map(Vec::len).sum();
    assert_eq!(Some(framed - packet.len()), framing_overhead(packet.len(), mtu));
    assert_eq!(Some(framed + 3 * frags.len()), att_bytes(packet.len(), mtu));
    for (i, f) in frags.iter().enumerate() {
        let last = i + 1 == frags.len();
        assert!(f.len() <= p);
        if !last {
            assert_eq!(f.len(), p, "non-final fragments are full");
        }
        assert_eq!(f[0] & FLAG_BEGIN != 0, i == 0);
        assert_eq!(f[0] & FLAG_END != 0, last);
        let got = rx.push(f).unwrap();
        if last {
            assert_eq!(got, Some(packet));
        } else {
            assert_eq!(got, None);
            assert!(!rx.is_idle());
        }
    }
    assert!(rx.is_idle());
}

#[test]
fn every_mtu_from_23_to_517() {
    for mtu in ATT_MTU_MIN..=ATT_MTU_MAX {
        let p = usize::from(mtu) - 3;
        let mut tx = GattTx::new();
        let mut rx: GattRx = GattRx::new();
        let sizes = [1, p - 4, p - 3, p - 2, p - 1, p, 2 * p - 5, 2 * p - 4, 2 * p - 3, 511, 512];
        for len in sizes.into_iter().filter(|l| (1..=MAX_PACKET).contains(l)) {
            let packet: Vec<u8> = (0..len).map(|i| (i * 7 + usize::from(mtu)) as u8).collect();
            transfer(&mut tx, &mut rx, &packet, mtu);
        }
    }
}

#[test]
fn exact_overhead_examples() {
    // MTU 247 (the common LE Data Length Extension value): 244-byte ATT values.
    assert_eq!(fragment_count(241, 247), Some(1));
    assert_eq!(framing_overhead(241, 247), Some(3));
    assert_eq!(att_bytes(241, 247), Some(247));
    assert_eq!(fragment_count(242, 247), Some(2));
    assert_eq!(framing_overhead(242, 247), Some(4));
    assert_eq!(fragment_count(MAX_PACKET, 247), Some(3));
    assert_eq!(att_bytes(MAX_PACKET, 247), Some(512 + 2 + 12));
    // MTU 23: 20-byte values, 17 packet bytes in the first fragment, 19 in the others.
    assert_eq!(fragment_count(17, 23), Some(1));
    assert_eq!(fragment_count(18, 23), Some(2));
    assert_eq!(fragment_count(MAX_PACKET, 23), Some(28));
    assert_eq!(framing_overhead(MAX_PACKET, 23), Some(30));
    assert_eq!(att_bytes(MAX_PACKET, 23), Some(512 + 2 + 28 * 4));
    // A one-byte packet: header + 2-byte length + the byte.
    let mut tx = GattTx::new();
    assert_eq!(fragments(&mut tx, &[0x33], 23), vec![vec![0xc0, 0x00, 0x01, 0x33]]);
    // The formula itself, for every length and MTU.
    for mtu in ATT_MTU_MIN..=ATT_MTU_MAX {
        let p = usize::from(mtu) - 3;
        for len in 1..=MAX_PACKET {
            let f = if len <= p - 3 { 1 } else { 1 + (len - (p - 3)).div_ceil(p - 1) };
            assert_eq!(fragment_count(len, mtu), Some(f));
            assert_eq!(framing_overhead(len, mtu), Some(f + 2));
            assert_eq!(att_bytes(len, mtu), Some(len + 2 + 4 * f));
        }
    }
}

#[test]
fn exact_fragment_layout_at_mtu_23() {
    let packet: Vec<u8> = (0..40).collect();
    let mut tx = GattTx::new();
    let frags = fragments(&mut tx, &packet, 23);
    let mut first = vec![0x80, 0x00, 40];
    first.extend(0..17u8);
    let mut second = vec![0x01];
    second.extend(17..36u8);
    let mut third = vec![0x42];
    third.extend(36..40u8);
    assert_eq!(frags, vec![first, second, third]);
    // The next packet continues the sequence.
    assert_eq!(fragments(&mut tx, &[1], 23), vec![vec![0xc3, 0, 1, 1]]);
}

#[test]
fn sequence_wraps_mod_64() {
    let mut tx = GattTx::new();
    let mut rx: GattRx = GattRx::new();
    for i in 0..200u32 {
        let frags = fragments(&mut tx, &[i as u8], 23);
        assert_eq!(frags[0][0], 0xc0 | (i % 64) as u8);
        assert_eq!(rx.push(&frags[0]), Ok(Some(&[i as u8][..])));
    }
}

fn packet_and_mtu() -> impl Strategy<Value = (Vec<u8>, u16)> {
    (prop::collection::vec(any::<u8>(), 1..=MAX_PACKET), ATT_MTU_MIN..=ATT_MTU_MAX)
}

proptest! {
    #[test]
    fn round_trip_with_mtu_changes(items in prop::collection::vec(packet_and_mtu(), 1..8)) {
        let mut tx = GattTx::new();
        let mut rx: GattRx = GattRx::new();
        for (packet, mtu) in &items {
            transfer(&mut tx, &mut rx, packet, *mtu);
        }
    }

    #[test]
    fn lost_fragment_is_detected(
        packet in prop::collection::vec(any::<u8>(), 40..=MAX_PACKET),
        drop in any::<prop::sample::Index>(),
    ) {
        // Any one fragment lost, the last one included: the receiver notices at the latest on
        // the first fragment of the next packet, and never delivers a packet.
        let mut tx = GattTx::new();
        let mut frags = fragments(&mut tx, &packet, 23);
        frags.extend(fragments(&mut tx, &[0x77], 23));
        let drop = drop.index(frags.len() - 1);
        frags.remove(drop);
        let mut rx: GattRx = GattRx::new();
        let mut err = None;
        for f in &frags {
            match rx.push(f) {
                Ok(Some(_)) => prop_assert!(false, "packet delivered despite a lost fragment"),
                Ok(None) => {}
                Err(e) => { err = Some(e); break; }
            }
        }
        prop_assert_eq!(err, Some(FrameError::OutOfSequence));
    }

    #[test]
    fn arbitrary_fragments_never_panic(
        mtu in ATT_MTU_MIN..=ATT_MTU_MAX,
        frags in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..20),
    ) {
        let mut rx: GattRx<64> = GattRx::new();
        rx.set_mtu(mtu).unwrap();
        for f in &frags {
            match rx.push(f) {
                Ok(Some(p)) => prop_assert!(!p.is_empty() && p.len() <= 64),
                Ok(None) => prop_assert!(!rx.is_idle()),
                Err(_) => prop_assert!(rx.is_idle()),
            }
        }
    }
}

#[test]
fn duplicate_fragment_is_rejected() {
    let mut tx = GattTx::new();
    let frags = fragments(&mut tx, &[5u8; 50], 23);
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&frags[0]), Ok(None));
    assert_eq!(rx.push(&frags[1]), Ok(None));
    assert_eq!(rx.push(&frags[1]), Err(FrameError::OutOfSequence));
    assert!(rx.is_idle());
}

#[test]
fn lost_single_fragment_packet_is_detected() {
    let mut tx = GattTx::new();
    let a = fragments(&mut tx, &[1], 23);
    let _lost = fragments(&mut tx, &[2], 23);
    let c = fragments(&mut tx, &[3], 23);
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&a[0]), Ok(Some(&[1u8][..])));
    assert_eq!(rx.push(&c[0]), Err(FrameError::OutOfSequence));
}

#[test]
fn first_fragment_must_have_sequence_zero() {
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0xc1, 0, 1, 7]), Err(FrameError::OutOfSequence));
    rx.reset();
    assert_eq!(rx.push(&[0xc0, 0, 1, 7]), Ok(Some(&[7u8][..])));
}

#[test]
fn new_begin_in_the_middle_resets() {
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0, 30, 1, 2, 3]), Ok(None));
    assert_eq!(rx.push(&[0x81, 0, 1, 9]), Err(FrameError::UnexpectedBegin));
    assert!(rx.is_idle());
    // The rest of the interrupted packet is refused...
    assert_eq!(rx.push(&[0x42, 4, 5]), Err(FrameError::NoBegin));
    // ...until a begin fragment resynchronises (any sequence number).
    assert_eq!(rx.push(&[0xd7, 0, 2, 8, 9]), Ok(Some(&[8u8, 9][..])));
    assert_eq!(rx.push(&[0xd8, 0, 1, 1]), Ok(Some(&[1u8][..])));
    assert_eq!(rx.push(&[0xda, 0, 1, 1]), Err(FrameError::OutOfSequence));
}

#[test]
fn continuation_without_begin() {
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x00, 1, 2]), Err(FrameError::NoBegin));
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x40, 1, 2]), Err(FrameError::NoBegin));
    // Also right after a complete packet.
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0xc0, 0, 1, 1]), Ok(Some(&[1u8][..])));
    assert_eq!(rx.push(&[0x41, 1]), Err(FrameError::NoBegin));
}

#[test]
fn oversized_and_zero_totals() {
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0x02, 0x01, 1]), Err(FrameError::TooLong)); // 513
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0xff, 0xff, 1]), Err(FrameError::TooLong));
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0xc0, 0, 0]), Err(FrameError::ZeroLength));
    let mut small: GattRx<8> = GattRx::new();
    assert_eq!(small.push(&[0x80, 0, 9, 1]), Err(FrameError::TooLong));
    let mut small: GattRx<8> = GattRx::new();
    assert_eq!(
        small.push(&[0xc0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]).map(|p| p.map(<[u8]>::len)),
        Ok(Some(8))
    );
}

#[test]
fn fragment_longer_than_mtu_minus_3() {
    let mut rx: GattRx = GattRx::new();
    let mut f = vec![0xc0, 0, 18];
    f.extend([0u8; 18]); // 21 bytes > 20
    assert_eq!(rx.push(&f), Err(FrameError::FragmentTooLong));
    rx.set_mtu(24).unwrap();
    assert_eq!(rx.push(&f).map(|p| p.map(<[u8]>::len)), Ok(Some(18)));
    rx.set_mtu(517).unwrap();
    let mut g = vec![0xc1, 0x02, 0x00];
    g.extend([0u8; 512]);
    assert_eq!(rx.push(&g), Err(FrameError::FragmentTooLong)); // 515 > 514
    g.pop();
    g[1] = 0x01;
    g[2] = 0xff;
    assert_eq!(rx.push(&g).map(|p| p.map(<[u8]>::len)), Ok(Some(511)));
}

#[test]
fn lengths_must_add_up() {
    // End flag before the total is reached.
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0xc0, 0, 3, 1, 2]), Err(FrameError::LengthMismatch));
    // Total reached without the end flag.
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0, 2, 1, 2]), Err(FrameError::LengthMismatch));
    // More bytes than the total.
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0xc0, 0, 1, 1, 2]), Err(FrameError::LengthMismatch));
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0, 3, 1]), Ok(None));
    assert_eq!(rx.push(&[0x41, 2, 3, 4]), Err(FrameError::LengthMismatch));
    // Continuation ends early.
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0, 4, 1]), Ok(None));
    assert_eq!(rx.push(&[0x41, 2, 3]), Err(FrameError::LengthMismatch));
}

#[test]
fn short_and_empty_fragments() {
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[]), Err(FrameError::Truncated));
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0]), Err(FrameError::Truncated));
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0, 5]), Err(FrameError::EmptyFragment));
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.push(&[0x80, 0, 5, 1]), Ok(None));
    assert_eq!(rx.push(&[0x01]), Err(FrameError::EmptyFragment));
}

#[test]
fn mtu_bounds() {
    let mut rx: GattRx = GattRx::new();
    assert_eq!(rx.mtu(), 23);
    assert_eq!(rx.set_mtu(22), Err(FrameError::InvalidMtu));
    assert_eq!(rx.set_mtu(518), Err(FrameError::InvalidMtu));
    assert_eq!(rx.mtu(), 23);
    assert_eq!(rx.set_mtu(517), Ok(()));
    let mut tx = GattTx::new();
    assert_eq!(tx.fragment(&[1], 22).err(), Some(FrameError::InvalidMtu));
    assert_eq!(tx.fragment(&[1], 518).err(), Some(FrameError::InvalidMtu));
    assert_eq!(tx.fragment(&[], 23).err(), Some(FrameError::ZeroLength));
    assert_eq!(tx.fragment(&[0; MAX_PACKET + 1], 23).err(), Some(FrameError::TooLong));
    // A refused packet does not advance the sequence.
    assert_eq!(fragments(&mut tx, &[1], 23)[0][0], 0xc0);
}

#[test]
fn mtu_change_between_packets_both_ways() {
    let mut tx = GattTx::new();
    let mut rx: GattRx = GattRx::new();
    let packet = [0x5a; 300];
    transfer(&mut tx, &mut rx, &packet, 23);
    transfer(&mut tx, &mut rx, &packet, 247);
    transfer(&mut tx, &mut rx, &packet, 185);
    transfer(&mut tx, &mut rx, &packet, 517);
}
