//! Framing: how session packets travel over a byte stream, datagrams and a GATT characteristic.
//!
//! The session layer produces *packets*: byte 0 is the packet type, the whole packet is
//! 1..=[`MAX_PACKET`] bytes. Framing does not look inside a packet; it only delimits packets on
//! each kind of transport. Every codec here is a pure state machine that the OS callbacks drive
//! with bytes (no I/O, no allocation; receive buffers are sized by const generics):
//!
//! | transport | module | per-packet overhead |
//! |---|---|---|
//! | TCP (SoftAP mode) | [`stream`] | 2 bytes (big-endian length) |
//! | UDP (wired mode) | [`datagram`] | 3 bytes (`"ZP"` + version) |
//! | BLE GATT | [`gatt`] | `F + 2` bytes, `F` = number of fragments (plus `3F` of ATT headers) |
//!
//! Errors are one small `Copy` enum, [`FrameError`], convertible into [`WireError`] and
//! [`PairError`] (`MalformedMessage` for every malformation).

pub mod datagram;
pub mod gatt;
pub mod stream;

pub use datagram::{parse_datagram, write_datagram};
pub use gatt::{Fragmenter, GattLink, GattRx, GattTx};
pub use stream::{encode_stream, stream_header, StreamDecoder};

use crate::error::{PairError, WireError};

/// The largest packet the session layer may produce, in bytes (packet type byte included).
///
/// Every framing rejects longer packets; receive buffers default to this size.
pub const MAX_PACKET: usize = 512;

/// Why framing failed. Small and `Copy`; see each transport's module for when each occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameError {
    /// A packet of length 0 (declared or given). Packets have at least their type byte.
    ZeroLength,
    /// A packet longer than the bound ([`MAX_PACKET`] or the receive buffer).
    TooLong,
    /// The input ends before the header (or the packet) is complete.
    Truncated,
    /// A datagram does not start with the magic `"ZP"`: stray traffic.
    BadMagic,
    /// A datagram carries a framing version this build does not speak.
    UnsupportedVersion(u8),
    /// GATT: the fragment's sequence number is not the expected one (a fragment was lost or
    /// duplicated).
    OutOfSequence,
    /// GATT: a begin fragment arrived while a packet was being reassembled.
    UnexpectedBegin,
    /// GATT: a continuation fragment arrived while no packet was being reassembled.
    NoBegin,
    /// GATT: a fragment is longer than the current ATT payload (`MTU - 3`).
    FragmentTooLong,
    /// GATT: a fragment carries no packet bytes.
    EmptyFragment,
    /// GATT: the fragments' bytes do not add up to the declared total length (the end flag came
    /// early, or bytes go past the total).
    LengthMismatch,
    /// An ATT MTU outside `23..=517`.
    InvalidMtu,
    /// The caller's output buffer is too small.
    BufferTooSmall,
}

impl FrameError {
    /// A short, stable, `snake_case` name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            FrameError::ZeroLength => "zero_length",
            FrameError::TooLong => "too_long",
            FrameError::Truncated => "truncated",
            FrameError::BadMagic => "bad_magic",
            FrameError::UnsupportedVersion(_) => "unsupported_version",
            FrameError::OutOfSequence => "out_of_sequence",
            FrameError::UnexpectedBegin => "unexpected_begin",
            FrameError::NoBegin => "no_begin",
            FrameError::FragmentTooLong => "fragment_too_long",
            FrameError::EmptyFragment => "empty_fragment",
            FrameError::LengthMismatch => "length_mismatch",
            FrameError::InvalidMtu => "invalid_mtu",
            FrameError::BufferTooSmall => "buffer_too_small",
        }
    }
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::UnsupportedVersion(v) => write!(f, "frame: unsupported version {v}"),
            other => write!(f, "frame: {}", other.name()),
        }
    }
}

impl core::error::Error for FrameError {}

impl From<FrameError> for WireError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::TooLong => WireError::TooLong,
            FrameError::Truncated => WireError::Truncated,
            FrameError::UnsupportedVersion(v) => WireError::UnsupportedVersion(v),
            FrameError::BufferTooSmall => WireError::BufferTooSmall,
            _ => WireError::Malformed,
        }
    }
}

impl From<FrameError> for PairError {
    /// `UnsupportedVersion` for a datagram version, `NoResources` for a too small output
    /// buffer, `MalformedMessage` for everything else.
    fn from(e: FrameError) -> Self {
        PairError::from(WireError::from(e))
    }
}

/// Checks a packet length against the protocol bound: `1..=MAX_PACKET`.
pub(crate) const fn check_packet_len(len: usize) -> Result<(), FrameError> {
    if len == 0 {
        Err(FrameError::ZeroLength)
    } else if len > MAX_PACKET {
        Err(FrameError::TooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(WireError::from(FrameError::TooLong), WireError::TooLong);
        assert_eq!(WireError::from(FrameError::BadMagic), WireError::Malformed);
        assert_eq!(
            WireError::from(FrameError::UnsupportedVersion(7)),
            WireError::UnsupportedVersion(7)
        );
        assert_eq!(PairError::from(FrameError::OutOfSequence), PairError::MalformedMessage);
        assert_eq!(PairError::from(FrameError::ZeroLength), PairError::MalformedMessage);
        assert_eq!(PairError::from(FrameError::BufferTooSmall), PairError::NoResources);
        assert_eq!(std::format!("{}", FrameError::NoBegin), "frame: no_begin");
        assert_eq!(check_packet_len(0), Err(FrameError::ZeroLength));
        assert_eq!(check_packet_len(1), Ok(()));
        assert_eq!(check_packet_len(MAX_PACKET), Ok(()));
        assert_eq!(check_packet_len(MAX_PACKET + 1), Err(FrameError::TooLong));
    }
}
