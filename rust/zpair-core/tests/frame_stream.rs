//! Stream framing: round trips under arbitrary chunking, rejections, exact overhead.

use proptest::prelude::*;
use zpair_core::error::{PairError, WireError};
use zpair_core::frame::stream::STREAM_HEADER_LEN;
use zpair_core::frame::{encode_stream, stream_header, FrameError, StreamDecoder, MAX_PACKET};

fn encode_all(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut buf = [0u8; MAX_PACKET + 2];
    for p in packets {
        wire.extend_from_slice(encode_stream(p, &mut buf).unwrap());
    }
    wire
}

/// Feeds `wire` in chunks of the given sizes (cycled) and collects the packets.
fn decode_chunked(wire: &[u8], chunks: &[usize]) -> Result<Vec<Vec<u8>>, FrameError> {
    let mut dec: StreamDecoder = StreamDecoder::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let n = chunks[i % chunks.len()].clamp(1, wire.len() - pos);
        i += 1;
        let mut rest = &wire[pos..pos + n];
        while let Some(p) = dec.feed(&mut rest)? {
            out.push(p.to_vec());
        }
        assert!(rest.is_empty());
        pos += n;
    }
    dec.finish()?;
    Ok(out)
}

fn packet() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..=MAX_PACKET)
}

proptest! {
    #[test]
    fn round_trip_random_chunking(
        packets in prop::collection::vec(packet(), 1..6),
        chunks in prop::collection::vec(1usize..700, 1..8),
    ) {
        let wire = encode_all(&packets);
        prop_assert_eq!(wire.len(), packets.iter().map(|p| p.len() + 2).sum::<usize>());
        prop_assert_eq!(decode_chunked(&wire, &chunks)?, packets);
    }

    #[test]
    fn round_trip_with_push_api(packets in prop::collection::vec(packet(), 1..6)) {
        // Everything in one read, driven through push/packet.
        let wire = encode_all(&packets);
        let mut dec: StreamDecoder = StreamDecoder::new();
        let mut rest = &wire[..];
        let mut got = Vec::new();
        while !rest.is_empty() {
            let n = dec.push(rest)?;
            prop_assert!(n > 0);
            rest = &rest[n..];
            if let Some(p) = dec.packet() {
                got.push(p.to_vec());
            }
        }
        prop_assert_eq!(got, packets);
    }

    #[test]
    fn truncation_is_reported_at_close(p in packet(), cut in 1usize..MAX_PACKET + 2) {
        let wire = encode_all(&[p]);
        let cut = cut.min(wire.len() - 1);
        let mut dec: StreamDecoder = StreamDecoder::new();
        prop_assert_eq!(dec.push(&wire[..cut])?, cut);
        prop_assert_eq!(dec.packet(), None);
        prop_assert_eq!(dec.finish(), Err(FrameError::Truncated));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut dec: StreamDecoder<64> = StreamDecoder::new();
        let mut rest = &data[..];
        loop {
            match dec.feed(&mut rest) {
                Ok(Some(p)) => prop_assert!(!p.is_empty() && p.len() <= 64),
                Ok(None) => break,
                Err(e) => {
                    prop_assert!(matches!(e, FrameError::ZeroLength | FrameError::TooLong));
                    prop_assert!(dec.is_failed());
                    break;
                }
            }
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    let packets = vec![vec![0x10], vec![0x11; 300], vec![0x12; MAX_PACKET]];
    let wire = encode_all(&packets);
    assert_eq!(decode_chunked(&wire, &[1]).unwrap(), packets);
}

#[test]
fn exact_format_and_overhead() {
    let mut buf = [0u8; 8];
    assert_eq!(
        encode_stream(&[0xaa, 0xbb, 0xcc], &mut buf).unwrap(),
        &[0x00, 0x03, 0xaa, 0xbb, 0xcc]
    );
    let mut big = [0u8; MAX_PACKET + 2];
    let p = [7u8; MAX_PACKET];
    let wire = encode_stream(&p, &mut big).unwrap();
    assert_eq!(wire.len(), MAX_PACKET + STREAM_HEADER_LEN);
    assert_eq!(&wire[..2], &[0x02, 0x00]);
    assert_eq!(STREAM_HEADER_LEN, 2);
}

#[test]
fn encoder_rejections() {
    let mut buf = [0u8; MAX_PACKET + 10];
    assert_eq!(encode_stream(&[], &mut buf), Err(FrameError::ZeroLength));
    assert_eq!(encode_stream(&[0; MAX_PACKET + 1], &mut buf), Err(FrameError::TooLong));
    assert_eq!(encode_stream(&[1, 2, 3], &mut buf[..4]), Err(FrameError::BufferTooSmall));
    assert_eq!(stream_header(u16::MAX as usize + 1), Err(FrameError::TooLong));
}

#[test]
fn zero_length_is_fatal() {
    let mut dec: StreamDecoder = StreamDecoder::new();
    let mut rest = &[0u8, 1, 0x42, 0, 0, 0, 1, 0x43][..];
    assert_eq!(dec.feed(&mut rest), Ok(Some(&[0x42u8][..])));
    assert_eq!(dec.feed(&mut rest), Err(FrameError::ZeroLength));
    // The valid packet behind the bad header is never delivered: the stream is dead.
    assert_eq!(dec.feed(&mut rest), Err(FrameError::ZeroLength));
    assert_eq!(dec.push(&[0, 1, 5]), Err(FrameError::ZeroLength));
    assert!(dec.is_failed());
    assert_eq!(dec.finish(), Err(FrameError::ZeroLength));
}

#[test]
fn oversized_lengths_are_fatal() {
    for len in [MAX_PACKET + 1, 0x0fff, 0xffff] {
        let mut dec: StreamDecoder = StreamDecoder::new();
        let h = (len as u16).to_be_bytes();
        assert_eq!(dec.push(&h), Err(FrameError::TooLong), "len {len}");
        assert!(dec.is_failed());
    }
    // A smaller buffer bounds the length too.
    let mut small: StreamDecoder<16> = StreamDecoder::new();
    assert_eq!(small.push(&[0, 17]), Err(FrameError::TooLong));
    let mut small: StreamDecoder<16> = StreamDecoder::new();
    assert_eq!(small.push(&[0, 16]), Ok(2));
}

#[test]
fn reset_revives_for_a_new_connection() {
    let mut dec: StreamDecoder = StreamDecoder::new();
    assert!(dec.push(&[0xff, 0xff]).is_err());
    dec.reset();
    assert!(!dec.is_failed());
    assert!(dec.is_idle());
    assert_eq!(dec.push(&[0, 1, 9]), Ok(3));
    assert_eq!(dec.packet(), Some(&[9u8][..]));
}

#[test]
fn packet_is_discarded_by_the_next_push() {
    let mut dec: StreamDecoder = StreamDecoder::new();
    dec.push(&[0, 1, 9]).unwrap();
    assert_eq!(dec.packet(), Some(&[9u8][..]));
    assert_eq!(dec.push(&[]), Ok(0));
    assert_eq!(dec.packet(), None);
}

#[test]
fn errors_convert() {
    assert_eq!(WireError::from(FrameError::TooLong), WireError::TooLong);
    assert_eq!(PairError::from(FrameError::ZeroLength), PairError::MalformedMessage);
}
