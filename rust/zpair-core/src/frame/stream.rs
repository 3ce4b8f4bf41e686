//! Stream framing (TCP, SoftAP mode): a 2-byte big-endian length, then the packet.
//!
//! ```text
//! +--------+--------+------------------------+
//! | len_hi | len_lo | packet (len bytes)     |   1 <= len <= MAX_PACKET
//! +--------+--------+------------------------+
//! ```
//!
//! Overhead: exactly 2 bytes per packet.
//!
//! The [`StreamDecoder`] accepts the bytes of `recv()` in any chunking (one byte at a time,
//! several packets in one read) and hands out whole packets. A length of 0 or above the bound is
//! an error, and errors are **fatal**: a byte stream cannot be resynchronised once a length
//! prefix is wrong, so the decoder stays failed (every later call returns the same error) and
//! the transport must close the connection. [`StreamDecoder::reset`] prepares it for the *next*
//! connection.

use super::{check_packet_len, FrameError, MAX_PACKET};

/// Length of the stream header.
pub const STREAM_HEADER_LEN: usize = 2;

/// The 2-byte header for a packet of `len` bytes (for a scatter/gather send of header and
/// packet without copying).
///
/// Errors: [`FrameError::ZeroLength`], [`FrameError::TooLong`] (above [`MAX_PACKET`]).
pub const fn stream_header(len: usize) -> Result<[u8; STREAM_HEADER_LEN], FrameError> {
    match check_packet_len(len) {
        Ok(()) => Ok((len as u16).to_be_bytes()),
        Err(e) => Err(e),
    }
}

/// Writes header + packet into `out` and returns the written bytes (`packet.len() + 2`).
///
/// Errors: [`FrameError::ZeroLength`], [`FrameError::TooLong`], [`FrameError::BufferTooSmall`].
pub fn encode_stream<'b>(packet: &[u8], out: &'b mut [u8]) -> Result<&'b [u8], FrameError> {
    let header = stream_header(packet.len())?;
    let total = packet.len() + STREAM_HEADER_LEN;
    let out = out.get_mut(..total).ok_or(FrameError::BufferTooSmall)?;
    let (h, body) = out.split_at_mut(STREAM_HEADER_LEN);
    h.copy_from_slice(&header);
    body.copy_from_slice(packet);
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for header bytes; `got` of 2 received, `hi` holds the first one.
    Header { got: u8, hi: u8 },
    /// Receiving `len` packet bytes, `got` so far.
    Body { len: usize, got: usize },
    /// A packet of `len` bytes is complete in the buffer.
    Ready { len: usize },
    /// A framing error happened: the connection must be closed.
    Failed(FrameError),
}

/// Incremental decoder of the stream framing, with an `N`-byte packet buffer (packets longer
/// than `N` are rejected with [`FrameError::TooLong`]; `N` should be [`MAX_PACKET`], the
/// default).
///
/// Two ways to drive it:
///
/// ```
/// # use zpair_core::frame::{StreamDecoder, encode_stream};
/// let mut dec: StreamDecoder = StreamDecoder::new();
/// let mut wire = [0u8; 16];
/// let n = encode_stream(&[1, 2, 3], &mut wire).unwrap().len();
///
/// // 1. `feed`: a lending loop over everything one `recv()` returned.
/// let mut rest = &wire[..n];
/// while let Some(packet) = dec.feed(&mut rest)? {
///     assert_eq!(packet, &[1, 2, 3]);
/// }
///
/// // 2. `push` + `packet`: push returns how many bytes it consumed (it stops after a packet).
/// let consumed = dec.push(&wire[..n])?;
/// assert_eq!(consumed, n);
/// assert_eq!(dec.packet(), Some(&[1u8, 2, 3][..]));
/// # Ok::<(), zpair_core::frame::FrameError>(())
/// ```
///
/// A complete packet stays readable until the next `push`/`feed`, which discards it.
#[derive(Debug, Clone)]
pub struct StreamDecoder<const N: usize = MAX_PACKET> {
    buf: [u8; N],
    state: State,
}

impl<const N: usize> Default for StreamDecoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> StreamDecoder<N> {
    /// A decoder at the start of a connection.
    pub const fn new() -> Self {
        StreamDecoder { buf: [0; N], state: State::Header { got: 0, hi: 0 } }
    }

    /// Forgets everything (including a failure), for a new connection.
    pub fn reset(&mut self) {
        self.state = State::Header { got: 0, hi: 0 };
    }

    /// Consumes bytes from `data` up to the end of the first packet that completes; returns how
    /// many were consumed (the caller passes the rest again). A packet completed by this call is
    /// then available from [`packet`](Self::packet). A packet completed earlier is discarded
    /// first.
    ///
    /// Errors ([`FrameError::ZeroLength`], [`FrameError::TooLong`]) are sticky: the decoder
    /// returns the same error from then on and the connection must be closed.
    pub fn push(&mut self, data: &[u8]) -> Result<usize, FrameError> {
        if let State::Ready { .. } = self.state {
            self.state = State::Header { got: 0, hi: 0 };
        }
        let mut used = 0;
        while used < data.len() {
            match self.state {
                State::Failed(e) => return Err(e),
                State::Ready { .. } => break,
                State::Header { got: 0, .. } => {
                    let hi = data.get(used).copied().unwrap_or(0);
                    self.state = State::Header { got: 1, hi };
                    used += 1;
                }
                State::Header { hi, .. } => {
                    let lo = data.get(used).copied().unwrap_or(0);
                    used += 1;
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    self.state = if len == 0 {
                        State::Failed(FrameError::ZeroLength)
                    } else if len > N || len > MAX_PACKET {
                        State::Failed(FrameError::TooLong)
                    } else {
                        State::Body { len, got: 0 }
                    };
                    if let State::Failed(e) = self.state {
                        return Err(e);
                    }
                }
                State::Body { len, got } => {
                    let want = len - got;
                    let avail = data.len() - used;
                    let take = want.min(avail);
                    let src = data.get(used..used + take).unwrap_or(&[]);
                    if let Some(dst) = self.buf.get_mut(got..got + take) {
                        dst.copy_from_slice(src);
                    }
                    used += take;
                    self.state = if got + take == len {
                        State::Ready { len }
                    } else {
                        State::Body { len, got: got + take }
                    };
                }
            }
        }
        match self.state {
            State::Failed(e) => Err(e),
            _ => Ok(used),
        }
    }

    /// The packet completed by the last `push`, if any.
    pub fn packet(&self) -> Option<&[u8]> {
        match self.state {
            State::Ready { len } => self.buf.get(..len),
            _ => None,
        }
    }

    /// Consumes bytes from the front of `input` until a packet completes (returned) or `input`
    /// is exhausted (`Ok(None)`). Loop on it until `None` for each chunk received. On error the
    /// connection must be closed (see [`push`](Self::push)).
    pub fn feed<'d>(&'d mut self, input: &mut &[u8]) -> Result<Option<&'d [u8]>, FrameError> {
        if input.is_empty() {
            // Discard a packet handed out earlier and report nothing new.
            if let State::Ready { .. } = self.state {
                self.state = State::Header { got: 0, hi: 0 };
            }
            return match self.state {
                State::Failed(e) => Err(e),
                _ => Ok(None),
            };
        }
        let used = self.push(input)?;
        *input = input.get(used..).unwrap_or(&[]);
        Ok(self.packet())
    }

    /// Whether the decoder has failed (the connection must be closed).
    pub fn is_failed(&self) -> bool {
        matches!(self.state, State::Failed(_))
    }

    /// Whether the decoder is between packets (no partial header or body pending).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header { got: 0, .. } | State::Ready { .. })
    }

    /// Call when the peer closed the stream: `Ok` if it closed between packets,
    /// [`FrameError::Truncated`] if a packet was cut, or the earlier failure.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.state {
            State::Failed(e) => Err(e),
            _ if self.is_idle() => Ok(()),
            _ => Err(FrameError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        assert_eq!(stream_header(1), Ok([0, 1]));
        assert_eq!(stream_header(0x1ff), Ok([0x01, 0xff]));
        assert_eq!(stream_header(0), Err(FrameError::ZeroLength));
        assert_eq!(stream_header(MAX_PACKET + 1), Err(FrameError::TooLong));
    }

    #[test]
    fn two_packets_in_one_read_and_split_header() {
        let mut d: StreamDecoder = StreamDecoder::new();
        let wire = [0, 2, 0xa, 0xb, 0, 1, 0xc, 0];
        let mut rest = &wire[..];
        assert_eq!(d.feed(&mut rest), Ok(Some(&[0xa, 0xb][..])));
        assert_eq!(d.feed(&mut rest), Ok(Some(&[0xc][..])));
        assert_eq!(d.feed(&mut rest), Ok(None));
        assert!(!d.is_idle());
        assert_eq!(d.finish(), Err(FrameError::Truncated));
        assert_eq!(d.push(&[3]), Ok(1));
        assert_eq!(d.packet(), None);
        assert_eq!(d.push(&[7, 8, 9, 0]), Ok(3));
        assert_eq!(d.packet(), Some(&[7, 8, 9][..]));
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn errors_are_sticky_until_reset() {
        let mut d: StreamDecoder<8> = StreamDecoder::new();
        assert_eq!(d.push(&[0, 9]), Err(FrameError::TooLong));
        assert!(d.is_failed());
        assert_eq!(d.push(&[0, 1, 5]), Err(FrameError::TooLong));
        assert_eq!(d.feed(&mut &[][..]), Err(FrameError::TooLong));
        assert_eq!(d.finish(), Err(FrameError::TooLong));
        d.reset();
        assert_eq!(d.push(&[0, 8, 1, 2, 3, 4, 5, 6, 7, 8]), Ok(10));
        assert_eq!(d.packet().map(<[u8]>::len), Some(8));
        assert_eq!(d.push(&[0, 0]), Err(FrameError::ZeroLength));
    }
}
