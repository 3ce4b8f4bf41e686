//! Datagram framing: round trips, rejections, exact overhead.

use proptest::prelude::*;
use zpair_core::frame::datagram::{DATAGRAM_HEADER_LEN, DATAGRAM_MAX, DATAGRAM_VERSION};
use zpair_core::frame::{parse_datagram, write_datagram, FrameError, MAX_PACKET};

proptest! {
    #[test]
    fn round_trip(p in prop::collection::vec(any::<u8>(), 1..=MAX_PACKET)) {
        let mut buf = [0u8; DATAGRAM_MAX];
        let d = write_datagram(&p, &mut buf)?;
        prop_assert_eq!(d.len(), p.len() + 3);
        prop_assert_eq!(&d[..3], b"ZP\x01");
        prop_assert_eq!(parse_datagram(d)?, &p[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(d in prop::collection::vec(any::<u8>(), 0..700)) {
        match parse_datagram(&d) {
            Ok(p) => {
                prop_assert_eq!(&d[..3], b"ZP\x01");
                prop_assert_eq!(p, &d[3..]);
                prop_assert!(!p.is_empty() && p.len() <= MAX_PACKET);
            }
            Err(e) => prop_assert!(matches!(
                e,
                FrameError::Truncated | FrameError::BadMagic | FrameError::UnsupportedVersion(_)
                    | FrameError::ZeroLength | FrameError::TooLong
            )),
        }
    }

    #[test]
    fn stray_traffic_is_bad_magic(d in prop::collection::vec(any::<u8>(), 1..100)) {
        prop_assume!(!d.starts_with(b"ZP") && d != b"Z");
        prop_assert_eq!(parse_datagram(&d), Err(FrameError::BadMagic));
    }
}

#[test]
fn exact_overhead() {
    assert_eq!(DATAGRAM_HEADER_LEN, 3);
    assert_eq!(DATAGRAM_MAX, 515);
    assert_eq!(DATAGRAM_VERSION, 1);
    let mut buf = [0u8; 8];
    assert_eq!(write_datagram(&[0x01, 0x02], &mut buf).unwrap(), &[b'Z', b'P', 1, 0x01, 0x02]);
}

#[test]
fn rejections() {
    let mut buf = [0u8; DATAGRAM_MAX + 1];
    assert_eq!(write_datagram(&[], &mut buf), Err(FrameError::ZeroLength));
    assert_eq!(write_datagram(&[0; MAX_PACKET + 1], &mut buf), Err(FrameError::TooLong));
    assert_eq!(write_datagram(&[1, 2], &mut buf[..4]), Err(FrameError::BufferTooSmall));

    assert_eq!(parse_datagram(b""), Err(FrameError::Truncated));
    assert_eq!(parse_datagram(b"ZP"), Err(FrameError::Truncated));
    assert_eq!(parse_datagram(b"ZP\x01"), Err(FrameError::ZeroLength));
    assert_eq!(parse_datagram(b"zp\x01\x10"), Err(FrameError::BadMagic));
    assert_eq!(parse_datagram(b"PZ\x01\x10"), Err(FrameError::BadMagic));
    assert_eq!(parse_datagram(b"ZP\x00\x10"), Err(FrameError::UnsupportedVersion(0)));
    assert_eq!(parse_datagram(b"ZP\x02\x10"), Err(FrameError::UnsupportedVersion(2)));
    let mut big = vec![b'Z', b'P', 1];
    big.extend_from_slice(&[0; MAX_PACKET + 1]);
    assert_eq!(parse_datagram(&big), Err(FrameError::TooLong));
    big.pop();
    assert_eq!(parse_datagram(&big).map(<[u8]>::len), Ok(MAX_PACKET));
}
