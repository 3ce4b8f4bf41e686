//! Stream framing: arbitrary bytes in arbitrary chunks never panic; every delivered packet
//! re-encodes to exactly the bytes it was decoded from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::frame::{encode_stream, FrameError, StreamDecoder, MAX_PACKET};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, wire)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut dec: StreamDecoder = StreamDecoder::new();
    let mut reencoded = Vec::new();
    let mut consumed = 0;
    let mut buf = [0u8; MAX_PACKET + 2];
    for piece in wire.chunks(chunk) {
        let mut rest = piece;
        loop {
            let before = rest.len();
            match dec.feed(&mut rest) {
                Ok(Some(p)) => {
                    assert!(!p.is_empty() && p.len() <= MAX_PACKET);
                    reencoded.extend_from_slice(encode_stream(p, &mut buf).unwrap());
                    consumed += before - rest.len();
                }
                Ok(None) => {
                    consumed += before - rest.len();
                    break;
                }
                Err(e) => {
                    assert!(matches!(e, FrameError::ZeroLength | FrameError::TooLong));
                    assert!(dec.is_failed());
                    return;
                }
            }
        }
    }
    // Everything delivered is a prefix of the input, byte for byte.
    assert_eq!(&wire[..reencoded.len()], &reencoded[..]);
    assert!(consumed == wire.len());
    if dec.finish().is_ok() {
        assert_eq!(reencoded.len(), wire.len());
    }
});
