//! Datagram framing (UDP, wired mode): one packet per datagram behind a 3-byte header.
//!
//! ```text
//! +------+------+---------+------------------------+
//! | 'Z'  | 'P'  | version | packet (1..=MAX_PACKET) |
//! | 0x5a | 0x50 |  0x01   |                        |
//! +------+------+---------+------------------------+
//! ```
//!
//! Overhead: exactly 3 bytes per packet. UDP keeps datagram boundaries, so there is no length
//! field: the packet is the rest of the datagram. The magic rejects stray LAN traffic (discovery
//! protocols, port scans) before any state is touched; the version byte is the framing format's
//! own version ([`DATAGRAM_VERSION`]), independent of the session protocol's version.
//!
//! The largest datagram is `3 + MAX_PACKET` = 515 bytes, far below the 1232 bytes of UDP payload
//! that any IPv6 path (and any Ethernet IPv4 path) carries without IP fragmentation.

use super::{check_packet_len, FrameError, MAX_PACKET};

/// The datagram magic.
pub const DATAGRAM_MAGIC: [u8; 2] = *b"ZP";
/// The framing version written and accepted by this build.
pub const DATAGRAM_VERSION: u8 = 1;
/// Length of the datagram header.
pub const DATAGRAM_HEADER_LEN: usize = 3;
/// The largest datagram: header plus the largest packet.
pub const DATAGRAM_MAX: usize = DATAGRAM_HEADER_LEN + MAX_PACKET;

/// Parses one received datagram and returns the packet inside it (borrowed, no copy).
///
/// Errors, checked in this order: [`FrameError::Truncated`] (shorter than the header),
/// [`FrameError::BadMagic`], [`FrameError::UnsupportedVersion`], [`FrameError::ZeroLength`]
/// (nothing after the header), [`FrameError::TooLong`] (packet above [`MAX_PACKET`]).
pub fn parse_datagram(datagram: &[u8]) -> Result<&[u8], FrameError> {
    let (header, packet) = match datagram.split_first_chunk::<DATAGRAM_HEADER_LEN>() {
        Some(split) => split,
        None => {
            // Report stray traffic as such even when it is short.
            let magic_prefix = DATAGRAM_MAGIC.get(..datagram.len()).unwrap_or(&[]);
            return Err(if datagram == magic_prefix {
                FrameError::Truncated
            } else {
                FrameError::BadMagic
            });
        }
    };
    let [m0, m1, version] = *header;
    if [m0, m1] != DATAGRAM_MAGIC {
        return Err(FrameError::BadMagic);
    }
    if version != DATAGRAM_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    check_packet_len(packet.len())?;
    Ok(packet)
}

/// Writes header + packet into `out` and returns the datagram (`packet.len() + 3` bytes).
///
/// Errors: [`FrameError::ZeroLength`], [`FrameError::TooLong`], [`FrameError::BufferTooSmall`].
pub fn write_datagram<'b>(packet: &[u8], out: &'b mut [u8]) -> Result<&'b [u8], FrameError> {
    check_packet_len(packet.len())?;
    let out =
        out.get_mut(..DATAGRAM_HEADER_LEN + packet.len()).ok_or(FrameError::BufferTooSmall)?;
    let (header, body) = out.split_at_mut(DATAGRAM_HEADER_LEN);
    header.copy_from_slice(&[DATAGRAM_MAGIC[0], DATAGRAM_MAGIC[1], DATAGRAM_VERSION]);
    body.copy_from_slice(packet);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_short_inputs() {
        let mut out = [0u8; 8];
        assert_eq!(write_datagram(&[0x42, 1], &mut out), Ok(&[0x5a, 0x50, 1, 0x42, 1][..]));
        assert_eq!(parse_datagram(&[0x5a, 0x50, 1, 0x42, 1]), Ok(&[0x42, 1][..]));
        assert_eq!(parse_datagram(&[]), Err(FrameError::Truncated));
        assert_eq!(parse_datagram(b"Z"), Err(FrameError::Truncated));
        assert_eq!(parse_datagram(b"ZP"), Err(FrameError::Truncated));
        assert_eq!(parse_datagram(b"X"), Err(FrameError::BadMagic));
        assert_eq!(parse_datagram(b"ZX"), Err(FrameError::BadMagic));
        assert_eq!(parse_datagram(b"ZP\x01"), Err(FrameError::ZeroLength));
        assert_eq!(parse_datagram(b"ZP\x02\x00"), Err(FrameError::UnsupportedVersion(2)));
    }
}
