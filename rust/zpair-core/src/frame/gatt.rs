//! GATT framing (BLE mode): packets fragmented over one characteristic.
//!
//! The app writes the characteristic (ATT Write Request, i.e. write *with* response) and the
//! device sends notifications or indications on it. Each ATT operation carries at most
//! `MTU - 3` bytes of value (the ATT header is 1 opcode byte + 2 handle bytes), for any ATT MTU
//! from 23 (the default, 20-byte values) to 517 (512-byte values). A packet is cut into
//! *fragments*, each one ATT value:
//!
//! ```text
//! begin fragment:         other fragments:
//! +-----+--------+--------+---------+     +-----+---------+
//! | hdr | tot_hi | tot_lo | data... |     | hdr | data... |
//! +-----+--------+--------+---------+     +-----+---------+
//!
//! hdr:  bit 7      bit 6    bits 5..0
//!       BEGIN      END      SEQ (rolling, mod 64)
//! ```
//!
//! - `BEGIN` marks the first fragment of a packet, which carries the packet's total length
//!   (`tot`, 2 bytes big-endian, 1..=[`MAX_PACKET`]); `END` marks the last one. A packet that
//!   fits in one fragment has both flags (`0xC0 | seq`).
//! - `SEQ` counts fragments per direction and per connection, starting at 0 and continuing
//!   across packets (mod 64), so a lost or duplicated fragment — or a whole lost single-fragment
//!   packet — is detected.
//! - Every fragment carries at least one packet byte; the sender fills each fragment to
//!   `MTU - 3` bytes except the last one of a packet.
//!
//! # Overhead
//!
//! With `P = MTU - 3` bytes per ATT value, a packet of `L` bytes needs
//! `F = 1 + ceil(max(0, L - (P - 3)) / (P - 1))` fragments ([`fragment_count`]). The framing adds
//! `F + 2` bytes ([`framing_overhead`]); at ATT level, counting the 3-byte ATT header of each
//! operation, the packet costs `L + 2 + 4F` bytes ([`att_bytes`]). At MTU 247 every packet up to
//! 241 bytes is one fragment: 3 bytes of framing, 6 bytes of overhead at ATT level. At MTU 23 a
//! 512-byte packet takes 28 fragments (17 + 27 × 19 bytes).
//!
//! # Errors
//!
//! [`GattRx::push`] rejects a fragment longer than `MTU - 3`, a sequence number other than the
//! expected one, a begin fragment while a packet is being reassembled, a continuation without a
//! begin, a total of 0 or above the buffer, and fragments whose bytes do not add up to the total.
//! On any error the partial packet is dropped and the reassembler waits for the next begin
//! fragment, taking its sequence number as the new reference. A framing error means that a
//! packet was lost or corrupted, which the secure session above cannot recover from: the glue
//! should end the pairing session (or the connection) when it sees one.

use super::{check_packet_len, FrameError, MAX_PACKET};

/// The smallest ATT MTU (the default before an MTU exchange).
pub const ATT_MTU_MIN: u16 = 23;
/// The largest ATT MTU (a 512-byte attribute value plus the 5-byte header of a long read).
pub const ATT_MTU_MAX: u16 = 517;
/// The ATT header of a write or notification (opcode + handle).
pub const ATT_HEADER_LEN: usize = 3;
/// The fragment header (flags and sequence number).
pub const FRAGMENT_HEADER_LEN: usize = 1;
/// The total-length field of a begin fragment.
pub const TOTAL_LEN_LEN: usize = 2;

/// Header flag: first fragment of a packet (carries the total length).
pub const FLAG_BEGIN: u8 = 0x80;
/// Header flag: last fragment of a packet.
pub const FLAG_END: u8 = 0x40;
/// Header mask of the sequence number.
pub const SEQ_MASK: u8 = 0x3f;

const fn payload_len(mtu: u16) -> Result<usize, FrameError> {
    if mtu < ATT_MTU_MIN || mtu > ATT_MTU_MAX {
        Err(FrameError::InvalidMtu)
    } else {
        Ok(mtu as usize - ATT_HEADER_LEN)
    }
}

/// How many fragments a packet of `len` bytes takes at ATT MTU `mtu`; `None` if `len` is not in
/// `1..=MAX_PACKET` or `mtu` not in `23..=517`.
///
/// `F = 1 + ceil(max(0, len - (P - 3)) / (P - 1))` with `P = mtu - 3`.
pub const fn fragment_count(len: usize, mtu: u16) -> Option<usize> {
    let p = match payload_len(mtu) {
        Ok(p) => p,
        Err(_) => return None,
    };
    if check_packet_len(len).is_err() {
        return None;
    }
    let first = p - FRAGMENT_HEADER_LEN - TOTAL_LEN_LEN;
    let rest = len.saturating_sub(first);
    Some(1 + rest.div_ceil(p - FRAGMENT_HEADER_LEN))
}

/// The bytes the framing adds to a packet of `len` bytes at ATT MTU `mtu`: one header byte per
/// fragment plus the 2-byte total length, `F + 2`.
pub const fn framing_overhead(len: usize, mtu: u16) -> Option<usize> {
    match fragment_count(len, mtu) {
        Some(f) => Some(f + TOTAL_LEN_LEN),
        None => None,
    }
}

/// The bytes a packet of `len` bytes costs at ATT level (ATT headers included): `len + 2 + 4F`.
pub const fn att_bytes(len: usize, mtu: u16) -> Option<usize> {
    match fragment_count(len, mtu) {
        Some(f) => Some(len + TOTAL_LEN_LEN + f * (FRAGMENT_HEADER_LEN + ATT_HEADER_LEN)),
        None => None,
    }
}

/// The sending side of one connection's characteristic: holds the rolling sequence number.
/// Create one per connection (or [`reset`](Self::reset) it).
#[derive(Debug, Clone, Default)]
pub struct GattTx {
    next_seq: u8,
}

impl GattTx {
    /// A sender at the start of a connection (sequence number 0).
    pub const fn new() -> Self {
        GattTx { next_seq: 0 }
    }

    /// Back to the start of a connection.
    pub fn reset(&mut self) {
        self.next_seq = 0;
    }

    /// Starts sending `packet` at ATT MTU `mtu`. The returned [`Fragmenter`] borrows the sender,
    /// so the MTU is fixed for the whole packet and packets cannot interleave; a new MTU (after
    /// an MTU exchange) applies from the next packet.
    ///
    /// Errors: [`FrameError::InvalidMtu`], [`FrameError::ZeroLength`], [`FrameError::TooLong`].
    pub fn fragment<'a>(
        &'a mut self,
        packet: &'a [u8],
        mtu: u16,
    ) -> Result<Fragmenter<'a>, FrameError> {
        let payload_max = payload_len(mtu)?;
        check_packet_len(packet.len())?;
        Ok(Fragmenter { packet, pos: 0, payload_max, seq: &mut self.next_seq, begun: false })
    }
}

/// Cuts one packet into fragments, one per call, into caller buffers of at least `MTU - 3`
/// bytes. Obtained from [`GattTx::fragment`].
///
/// ```
/// # use zpair_core::frame::GattTx;
/// let mut tx = GattTx::new();
/// let packet = [0x21u8; 40];
/// let mut frag = tx.fragment(&packet, 23)?;
/// let mut att_value = [0u8; 20];
/// let mut sizes = [0usize; 3];
/// let mut i = 0;
/// while let Some(f) = frag.next_fragment(&mut att_value)? {
///     sizes[i] = f.len(); // send f as one ATT write / notification
///     i += 1;
/// }
/// assert_eq!(sizes, [20, 20, 5]); // 17 + 19 + 4 packet bytes, each plus its headers
/// # Ok::<(), zpair_core::frame::FrameError>(())
/// ```
#[derive(Debug)]
pub struct Fragmenter<'a> {
    packet: &'a [u8],
    pos: usize,
    payload_max: usize,
    seq: &'a mut u8,
    begun: bool,
}

impl Fragmenter<'_> {
    /// Writes the next fragment into `out` and returns it, or `Ok(None)` when the packet is
    /// done. On [`FrameError::BufferTooSmall`] nothing is consumed (retry with a larger buffer).
    pub fn next_fragment<'b>(&mut self, out: &'b mut [u8]) -> Result<Option<&'b [u8]>, FrameError> {
        if self.is_done() {
            return Ok(None);
        }
        let header_len =
            if self.begun { FRAGMENT_HEADER_LEN } else { FRAGMENT_HEADER_LEN + TOTAL_LEN_LEN };
        let remaining = self.packet.len() - self.pos;
        let take = remaining.min(self.payload_max - header_len);
        let out = out.get_mut(..header_len + take).ok_or(FrameError::BufferTooSmall)?;
        let data = self.packet.get(self.pos..self.pos + take).unwrap_or(&[]);
        let (header, body) = out.split_at_mut(header_len);
        let mut flags = *self.seq & SEQ_MASK;
        if !self.begun {
            flags |= FLAG_BEGIN;
        }
        if take == remaining {
            flags |= FLAG_END;
        }
        if let Some(h) = header.first_mut() {
            *h = flags;
        }
        if let Some(t) = header.get_mut(1..) {
            // The packet length was checked against MAX_PACKET, so it fits in u16.
            t.copy_from_slice(&(self.packet.len() as u16).to_be_bytes()[..t.len()]);
        }
        body.copy_from_slice(data);
        self.pos += take;
        self.begun = true;
        *self.seq = (*self.seq + 1) & SEQ_MASK;
        Ok(Some(out))
    }

    /// Whether every fragment has been produced.
    pub fn is_done(&self) -> bool {
        self.begun && self.pos == self.packet.len()
    }

    /// How many fragments are still to come.
    pub fn remaining_fragments(&self) -> usize {
        if !self.begun {
            let first = self.payload_max - FRAGMENT_HEADER_LEN - TOTAL_LEN_LEN;
            let rest = self.packet.len().saturating_sub(first);
            1 + rest.div_ceil(self.payload_max - FRAGMENT_HEADER_LEN)
        } else {
            (self.packet.len() - self.pos).div_ceil(self.payload_max - FRAGMENT_HEADER_LEN)
        }
    }

    /// The largest fragment this fragmenter produces (`MTU - 3`): the size `out` needs.
    pub fn max_fragment_len(&self) -> usize {
        self.payload_max
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxState {
    /// Between packets.
    Idle,
    /// Reassembling a packet of `total` bytes, `got` so far.
    Receiving { total: usize, got: usize },
    /// A packet of `len` bytes is complete in the buffer.
    Ready { len: usize },
}

/// The receiving side of one connection's characteristic: checks and reassembles fragments into
/// an `N`-byte buffer (default [`MAX_PACKET`]).
///
/// The MTU starts at 23; call [`set_mtu`](Self::set_mtu) when the stack reports an MTU
/// exchange. Feed each ATT value written by the peer to [`push`](Self::push).
#[derive(Debug, Clone)]
pub struct GattRx<const N: usize = MAX_PACKET> {
    buf: [u8; N],
    mtu: u16,
    state: RxState,
    /// The expected sequence number; `None` after an error (resynchronise on the next begin).
    next_seq: Option<u8>,
}

impl<const N: usize> Default for GattRx<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> GattRx<N> {
    /// A reassembler at the start of a connection: MTU 23, expecting sequence number 0.
    pub const fn new() -> Self {
        GattRx { buf: [0; N], mtu: ATT_MTU_MIN, state: RxState::Idle, next_seq: Some(0) }
    }

    /// Back to the start of a connection (the MTU is kept).
    pub fn reset(&mut self) {
        self.state = RxState::Idle;
        self.next_seq = Some(0);
    }

    /// Sets the ATT MTU (23..=517) after an MTU exchange; applies to the following fragments.
    pub fn set_mtu(&mut self, mtu: u16) -> Result<(), FrameError> {
        payload_len(mtu)?;
        self.mtu = mtu;
        Ok(())
    }

    /// The current ATT MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Whether no packet is partially reassembled.
    pub fn is_idle(&self) -> bool {
        !matches!(self.state, RxState::Receiving { .. })
    }

    /// Takes one fragment (one ATT value). Returns the packet when this fragment completes it;
    /// the packet stays borrowed until the next call, which discards it.
    ///
    /// Errors: [`FrameError::FragmentTooLong`], [`FrameError::Truncated`] (empty, or a begin
    /// fragment without its length), [`FrameError::OutOfSequence`],
    /// [`FrameError::UnexpectedBegin`], [`FrameError::NoBegin`], [`FrameError::ZeroLength`],
    /// [`FrameError::TooLong`] (total above `N` or [`MAX_PACKET`]),
    /// [`FrameError::EmptyFragment`], [`FrameError::LengthMismatch`]. After an error the partial
    /// packet is dropped and only a begin fragment (with any sequence number) is accepted next.
    pub fn push(&mut self, fragment: &[u8]) -> Result<Option<&[u8]>, FrameError> {
        if let RxState::Ready { .. } = self.state {
            self.state = RxState::Idle;
        }
        match self.accept(fragment) {
            Ok(()) => Ok(match self.state {
                RxState::Ready { len } => self.buf.get(..len),
                _ => None,
            }),
            Err(e) => {
                self.state = RxState::Idle;
                self.next_seq = None;
                Err(e)
            }
        }
    }

    fn accept(&mut self, fragment: &[u8]) -> Result<(), FrameError> {
        if fragment.len() > payload_len(self.mtu)? {
            return Err(FrameError::FragmentTooLong);
        }
        let (&header, rest) = fragment.split_first().ok_or(FrameError::Truncated)?;
        let seq = header & SEQ_MASK;
        let begin = header & FLAG_BEGIN != 0;
        let end = header & FLAG_END != 0;
        match self.next_seq {
            Some(expected) if expected != seq => return Err(FrameError::OutOfSequence),
            None if !begin => return Err(FrameError::NoBegin),
            _ => {}
        }
        let (total, got, data) = match (self.state, begin) {
            (RxState::Receiving { .. }, true) => return Err(FrameError::UnexpectedBegin),
            (RxState::Idle | RxState::Ready { .. }, false) => return Err(FrameError::NoBegin),
            (RxState::Receiving { total, got }, false) => (total, got, rest),
            (RxState::Idle | RxState::Ready { .. }, true) => {
                let (len, data) =
                    rest.split_first_chunk::<TOTAL_LEN_LEN>().ok_or(FrameError::Truncated)?;
                let total = usize::from(u16::from_be_bytes(*len));
                check_packet_len(total)?;
                if total > N {
                    return Err(FrameError::TooLong);
                }
                (total, 0, data)
            }
        };
        if data.is_empty() {
            return Err(FrameError::EmptyFragment);
        }
        let now = got + data.len();
        // The end flag must be set exactly on the fragment that reaches the total.
        if now > total || (now == total) != end {
            return Err(FrameError::LengthMismatch);
        }
        self.buf.get_mut(got..now).ok_or(FrameError::TooLong)?.copy_from_slice(data);
        self.state = if end {
            RxState::Ready { len: total }
        } else {
            RxState::Receiving { total, got: now }
        };
        self.next_seq = Some((seq + 1) & SEQ_MASK);
        Ok(())
    }
}

/// Why [`GattLink::send`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError<E> {
    /// The packet or the MTU is not valid ([`GattTx::fragment`]'s errors).
    Frame(FrameError),
    /// The sink refused a fragment: the rest of the packet was not sent, and the peer will see
    /// a sequence error (end the connection).
    Sink(E),
}

/// Both directions of one connection's characteristic, as a device keeps them per BLE
/// connection: a [`GattRx`] fed with each ATT value the peer writes, at the ATT MTU the stack
/// reports with it, and a [`GattTx`] that cuts outgoing packets at the current MTU.
///
/// The MTU is not stored: the stack knows it and may change it at any time (MTU exchange), so
/// each call takes the current value. Values outside `23..=517` are clamped (a stack reports 0
/// or a local maximum before the exchange completes).
#[derive(Debug, Clone)]
pub struct GattLink<const N: usize = MAX_PACKET> {
    rx: GattRx<N>,
    tx: GattTx,
}

impl<const N: usize> Default for GattLink<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> GattLink<N> {
    /// A link at the start of a connection (both sequence numbers 0).
    pub const fn new() -> Self {
        GattLink { rx: GattRx::new(), tx: GattTx::new() }
    }

    /// Back to the start of a connection (a new app connected).
    pub fn reset(&mut self) {
        self.rx.reset();
        self.tx.reset();
    }

    /// The ATT MTU `mtu` clamped to `23..=517`.
    pub const fn clamp_mtu(mtu: u16) -> u16 {
        if mtu < ATT_MTU_MIN {
            ATT_MTU_MIN
        } else if mtu > ATT_MTU_MAX {
            ATT_MTU_MAX
        } else {
            mtu
        }
    }

    /// Takes one ATT value the peer wrote while the ATT MTU was `mtu`; returns the packet when
    /// this fragment completes it (borrowed until the next call). Errors as [`GattRx::push`]:
    /// after one, a packet was lost and the session cannot continue.
    pub fn receive(&mut self, mtu: u16, fragment: &[u8]) -> Result<Option<&[u8]>, FrameError> {
        self.rx.set_mtu(Self::clamp_mtu(mtu))?;
        self.rx.push(fragment)
    }

    /// Cuts `packet` into fragments for ATT MTU `mtu` and hands each to `sink` (one
    /// notification each), in order. Returns the number of fragments sent.
    pub fn send<E>(
        &mut self,
        packet: &[u8],
        mtu: u16,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<usize, SendError<E>> {
        let mut frag = self.tx.fragment(packet, Self::clamp_mtu(mtu)).map_err(SendError::Frame)?;
        let mut buf = [0u8; ATT_MTU_MAX as usize - ATT_HEADER_LEN];
        let mut n = 0;
        while let Some(f) = frag.next_fragment(&mut buf).map_err(SendError::Frame)? {
            sink(f).map_err(SendError::Sink)?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_examples() {
        assert_eq!(fragment_count(1, 23), Some(1));
        assert_eq!(fragment_count(17, 23), Some(1));
        assert_eq!(fragment_count(18, 23), Some(2));
        assert_eq!(fragment_count(36, 23), Some(2));
        assert_eq!(fragment_count(37, 23), Some(3));
        assert_eq!(fragment_count(512, 23), Some(28));
        assert_eq!(fragment_count(241, 247), Some(1));
        assert_eq!(fragment_count(242, 247), Some(2));
        assert_eq!(fragment_count(512, 247), Some(3));
        assert_eq!(fragment_count(512, 517), Some(2));
        assert_eq!(fragment_count(511, 517), Some(1));
        assert_eq!(fragment_count(0, 23), None);
        assert_eq!(fragment_count(513, 23), None);
        assert_eq!(fragment_count(10, 22), None);
        assert_eq!(fragment_count(10, 518), None);
        assert_eq!(framing_overhead(241, 247), Some(3));
        assert_eq!(att_bytes(241, 247), Some(247));
    }

    #[test]
    fn single_fragment_layout() {
        let mut tx = GattTx::new();
        let mut out = [0u8; 20];
        let mut f = tx.fragment(&[9, 8, 7], 23).unwrap();
        assert_eq!(f.remaining_fragments(), 1);
        assert_eq!(f.next_fragment(&mut out), Ok(Some(&[0xc0, 0, 3, 9, 8, 7][..])));
        assert_eq!(f.next_fragment(&mut out), Ok(None));
        let mut f = tx.fragment(&[1], 23).unwrap();
        assert_eq!(f.next_fragment(&mut out), Ok(Some(&[0xc1, 0, 1, 1][..])));
    }

    #[test]
    fn small_buffer_consumes_nothing() {
        let mut tx = GattTx::new();
        let mut f = tx.fragment(&[5; 30], 23).unwrap();
        assert_eq!(f.next_fragment(&mut [0u8; 19]), Err(FrameError::BufferTooSmall));
        assert_eq!(f.remaining_fragments(), 2);
        let mut out = [0u8; 20];
        assert_eq!(f.next_fragment(&mut out).unwrap().map(|x| x[0]), Some(0x80));
        assert_eq!(f.next_fragment(&mut out).unwrap().map(|x| (x[0], x.len())), Some((0x41, 14)));
        assert!(f.is_done());
    }

    #[test]
    fn rx_resyncs_on_any_begin_after_error() {
        let mut rx: GattRx = GattRx::new();
        assert_eq!(rx.push(&[0xc5, 0, 1, 1]), Err(FrameError::OutOfSequence));
        assert_eq!(rx.push(&[0x46, 1]), Err(FrameError::NoBegin));
        assert_eq!(rx.push(&[0xc9, 0, 1, 1]), Ok(Some(&[1u8][..])));
        assert_eq!(rx.push(&[0xca, 0, 1, 2]), Ok(Some(&[2u8][..])));
    }

    #[test]
    fn link_round_trip_at_any_mtu() {
        let packet: [u8; 512] = core::array::from_fn(|i| (i * 7) as u8);
        for mtu in [0u16, 23, 24, 100, 185, 247, 517, 600] {
            for len in [1usize, 17, 18, 100, 241, 512] {
                let (mut dev, mut app) = (GattLink::<512>::new(), GattLink::<512>::new());
                // Two packets per direction: sequence numbers continue across packets.
                for _ in 0..2 {
                    let mut frags: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
                    let n = dev
                        .send(&packet[..len], mtu, |f| {
                            frags.push(f.to_vec());
                            Ok::<(), ()>(())
                        })
                        .unwrap();
                    assert_eq!(Some(n), fragment_count(len, GattLink::<512>::clamp_mtu(mtu)));
                    let mut got = None;
                    for (i, f) in frags.iter().enumerate() {
                        let r = app.receive(mtu, f).unwrap();
                        assert_eq!(r.is_some(), i + 1 == frags.len());
                        got = r.map(<[u8]>::to_vec);
                    }
                    assert_eq!(got.as_deref(), Some(&packet[..len]));
                }
            }
        }
    }

    #[test]
    fn link_sink_error_and_reset() {
        let mut dev: GattLink = GattLink::new();
        let mut calls = 0;
        let r = dev.send(&[1u8; 40], 23, |_| {
            calls += 1;
            if calls == 2 { Err("queue full") } else { Ok(()) }
        });
        assert_eq!(r, Err(SendError::Sink("queue full")));
        assert_eq!(dev.send::<()>(&[], 23, |_| Ok(())), Err(SendError::Frame(FrameError::ZeroLength)));
        // The peer lost a fragment: its reassembler sees a sequence error.
        let mut app: GattLink = GattLink::new();
        let mut frags: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
        dev.send::<()>(&[2u8; 5], 23, |f| {
            frags.push(f.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(app.receive(23, &frags[0]), Err(FrameError::OutOfSequence));
        // A new connection starts both directions at 0 again.
        dev.reset();
        app.reset();
        frags.clear();
        dev.send::<()>(&[3u8; 5], 23, |f| {
            frags.push(f.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(app.receive(23, &frags[0]), Ok(Some(&[3u8; 5][..])));
    }

    #[test]
    fn link_checks_fragment_against_reported_mtu() {
        let mut dev: GattLink = GattLink::new();
        let mut app: GattLink = GattLink::new();
        let mut frags: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
        dev.send::<()>(&[4u8; 60], 100, |f| {
            frags.push(f.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(frags.len(), 1);
        // Written while the stack still says 23: longer than MTU - 3.
        assert_eq!(app.receive(23, &frags[0]), Err(FrameError::FragmentTooLong));
    }
}
