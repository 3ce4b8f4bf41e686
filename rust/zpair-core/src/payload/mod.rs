//! The setup payload: what a device shows (QR code or label on the box, or a QR code on its
//! display in cellular mode) and the app / CLI scans or types.
//!
//! # QR payload string (version 1)
//!
//! `ZP:` followed by 30 characters of the RFC 4648 base32 alphabet `A-Z2-7` (no padding), 33
//! characters in all, every one of them in the QR alphanumeric set, so a QR code holds it in
//! alphanumeric mode (version 2 at error correction level M, 25×25 modules). The 30 characters
//! carry 150 bits, most significant bit first, 5 bits per character:
//!
//! | bits | width | field |
//! |---|---|---|
//! | 0..3 | 3 | payload version, 1 ([`PAYLOAD_VERSION`]) |
//! | 3..11 | 8 | modes ([`Modes`] bits: 0 SoftAP, 1 BLE, 2 wired, 3 cellular; bits 4-7 reserved, 0) |
//! | 11..43 | 32 | product id |
//! | 43..107 | 64 | device id |
//! | 107..134 | 27 | setup code (`1..=99_999_998`, see [`SetupCode::new`]) |
//! | 134..150 | 16 | check: CRC-16 over bits 0..134 |
//!
//! The check is CRC-16/IBM-3740 (a.k.a. CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF,
//! no reflection, no final XOR) over the 17 bytes holding bits 0..134 followed by two zero bits.
//!
//! **Why base32 rather than Matter's base38 or base45:** base32 maps each character to exactly
//! 5 bits, so a single wrong character flips at most 5 adjacent bits and a swap of two adjacent
//! characters at most 10: both are bursts shorter than 16 bits, which a CRC-16 detects *always*
//! (base38 and base45 turn one character into a change of a whole 16- or 24-bit group, which a
//! CRC-16 only detects with probability 1 - 2^-16). It is also short here (30 characters for
//! 150 bits against 32 for base38 of the same 19 bytes), case-free, and free of the space, `%`,
//! `$`, `/` and `:` of base45 that are awkward in URLs, shells and text fields.
//!
//! Parsing checks, in order: the prefix, the alphabet, the length (a string of another length
//! whose first character names another version is reported as that version), the CRC, the
//! version, the reserved mode bits, the setup code.
//!
//! # Manual pairing code
//!
//! See [`ManualCode`]: 13 decimal digits, `DDDD-CCCC-CCCCK`, with a Verhoeff check digit.
//!
//! # Secrets
//!
//! The payload contains the setup code: [`SetupPayload`] and [`ManualCode`] print no code in
//! `Debug` and wipe it on drop; the temporaries of encoding and decoding are wiped too. Rendered
//! strings live in the caller's buffers: wipe them when done.

mod manual;
#[cfg(feature = "qr")]
pub mod qr;

pub use manual::{parse_manual, render_manual, ManualCode, MANUAL_DIGITS, MANUAL_LEN};

use crate::error::{PairError, WireError};
use crate::types::{DeviceId, Modes, ProductId, SetupCode};
use zeroize::Zeroize;

/// The payload version this build writes and reads.
pub const PAYLOAD_VERSION: u8 = 1;
/// The prefix of every payload string.
pub const PREFIX: &str = "ZP:";
/// The number of base32 characters after the prefix (version 1).
pub const PAYLOAD_CHARS: usize = 30;
/// The length of a rendered payload string (prefix included).
pub const PAYLOAD_LEN: usize = PREFIX.len() + PAYLOAD_CHARS;
/// How many low bits of the device id the manual code carries.
pub const DISCRIMINATOR_BITS: u32 = 12;

/// The base32 alphabet (RFC 4648).
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Payload bits in bytes (150 bits, 2 bits of slack).
const BITS_BYTES: usize = 19;
/// Bits before the CRC.
const DATA_BITS: usize = 134;
/// Bytes the CRC is computed over (bits 0..134 and two zero bits).
const CRC_BYTES: usize = 17;

/// Why a payload or manual code could not be rendered or parsed.
///
/// Converts into [`WireError`] (and from there into [`PairError`]) so that `?` works in code
/// that speaks those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadError {
    /// The string does not start with `ZP:`.
    BadPrefix,
    /// A character outside the alphabet (base32 `A-Z2-7`; for manual codes, digits, `-`, space).
    BadChar,
    /// Too few or too many characters (or digits).
    BadLength,
    /// The CRC (or the Verhoeff check digit) does not match: a typo or a misread.
    BadCheck,
    /// A payload version this build does not read.
    UnsupportedVersion(u8),
    /// The setup code is not a valid one (see [`SetupCode::new`]).
    InvalidSetupCode,
    /// Mode bits this build does not know.
    UnknownModes,
    /// A value outside its range (manual code: a discriminator above 4095).
    OutOfRange,
    /// The caller's output buffer is too small.
    BufferTooSmall,
    /// The text does not fit in the largest QR code this crate renders.
    TooLongForQr,
}

impl PayloadError {
    /// A short, stable, `snake_case` name.
    pub const fn name(self) -> &'static str {
        match self {
            PayloadError::BadPrefix => "bad_prefix",
            PayloadError::BadChar => "bad_char",
            PayloadError::BadLength => "bad_length",
            PayloadError::BadCheck => "bad_check",
            PayloadError::UnsupportedVersion(_) => "unsupported_version",
            PayloadError::InvalidSetupCode => "invalid_setup_code",
            PayloadError::UnknownModes => "unknown_modes",
            PayloadError::OutOfRange => "out_of_range",
            PayloadError::BufferTooSmall => "buffer_too_small",
            PayloadError::TooLongForQr => "too_long_for_qr",
        }
    }
}

impl core::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PayloadError::UnsupportedVersion(v) => {
                write!(f, "setup payload: unsupported version {v}")
            }
            other => write!(f, "setup payload: {}", other.name()),
        }
    }
}

impl core::error::Error for PayloadError {}

impl From<PayloadError> for WireError {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::UnsupportedVersion(v) => WireError::UnsupportedVersion(v),
            PayloadError::InvalidSetupCode => WireError::Invalid(PairError::WrongSetupCode),
            PayloadError::BufferTooSmall => WireError::BufferTooSmall,
            PayloadError::TooLongForQr => WireError::TooLong,
            _ => WireError::Malformed,
        }
    }
}

impl From<PayloadError> for PairError {
    fn from(e: PayloadError) -> Self {
        PairError::from(WireError::from(e))
    }
}

/// Everything a setup payload carries.
///
/// `Debug` omits the setup code; the code is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SetupPayload {
    /// The product.
    pub product: ProductId,
    /// The device's factory identity.
    pub device: DeviceId,
    /// The setup code (the SPAKE2+ password).
    pub setup_code: SetupCode,
    /// The pairing modes the device supports.
    pub modes: Modes,
}

impl core::fmt::Debug for SetupPayload {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SetupPayload")
            .field("product", &self.product)
            .field("device", &self.device)
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

impl SetupPayload {
    /// The low [`DISCRIMINATOR_BITS`] bits of the device id, which the manual code carries and
    /// the device advertises so that the app can find it among a few.
    pub fn discriminator(&self) -> u16 {
        discriminator_of(self.device)
    }

    /// The manual pairing code for this payload.
    pub fn manual_code(&self) -> ManualCode {
        ManualCode::from_payload(self)
    }
}

/// The low [`DISCRIMINATOR_BITS`] bits of a device id.
pub const fn discriminator_of(device: DeviceId) -> u16 {
    (device.0 & ((1 << DISCRIMINATOR_BITS) - 1)) as u16
}

/// CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF, no reflection, no final XOR).
pub(crate) fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// Writes `width` low bits of `value` at bit `pos` (MSB first). Bits outside `bits` are dropped
/// (never happens for the fixed layout).
fn put_bits(bits: &mut [u8], pos: usize, width: usize, value: u64) {
    for i in 0..width {
        let bit = (value >> (width - 1 - i)) & 1;
        let p = pos + i;
        if let Some(byte) = bits.get_mut(p / 8) {
            let mask = 0x80u8 >> (p % 8);
            if bit != 0 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

/// Reads `width` bits at bit `pos` (MSB first); bits outside `bits` read as 0.
fn get_bits(bits: &[u8], pos: usize, width: usize) -> u64 {
    let mut v = 0u64;
    for i in 0..width {
        let p = pos + i;
        let bit = bits.get(p / 8).map_or(0, |b| (b >> (7 - p % 8)) & 1);
        v = (v << 1) | u64::from(bit);
    }
    v
}

fn crc_of(bits: &[u8; BITS_BYTES]) -> u16 {
    let mut data: [u8; CRC_BYTES] = bits.first_chunk().copied().unwrap_or([0; CRC_BYTES]);
    // Bits 134 and 135 are the first CRC bits in the payload: zero them for the computation.
    put_bits(&mut data, DATA_BITS, CRC_BYTES * 8 - DATA_BITS, 0);
    let crc = crc16(&data);
    data.zeroize();
    crc
}

fn char_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'2'..=b'7' => Some(c - b'2' + 26),
        _ => None,
    }
}

/// Renders the payload string (`ZP:` + 30 characters, [`PAYLOAD_LEN`] bytes) into `out`.
///
/// Errors: [`PayloadError::BufferTooSmall`]; [`PayloadError::UnknownModes`] cannot happen for a
/// valid [`Modes`] value.
pub fn render<'b>(payload: &SetupPayload, out: &'b mut [u8]) -> Result<&'b str, PayloadError> {
    let out = out.get_mut(..PAYLOAD_LEN).ok_or(PayloadError::BufferTooSmall)?;
    let mut bits = [0u8; BITS_BYTES];
    put_bits(&mut bits, 0, 3, u64::from(PAYLOAD_VERSION));
    put_bits(&mut bits, 3, 8, u64::from(payload.modes.bits()));
    put_bits(&mut bits, 11, 32, u64::from(payload.product.0));
    put_bits(&mut bits, 43, 64, payload.device.0);
    put_bits(&mut bits, 107, 27, u64::from(payload.setup_code.expose()));
    let crc = crc_of(&bits);
    put_bits(&mut bits, DATA_BITS, 16, u64::from(crc));

    let (prefix, body) = out.split_at_mut(PREFIX.len());
    prefix.copy_from_slice(PREFIX.as_bytes());
    for (i, c) in body.iter_mut().enumerate() {
        let v = get_bits(&bits, i * 5, 5) as usize;
        *c = ALPHABET.get(v).copied().unwrap_or(b'A');
    }
    bits.zeroize();
    core::str::from_utf8(out).map_err(|_| PayloadError::BadChar)
}

/// Parses a payload string (exactly as scanned: uppercase, no spaces).
///
/// Errors, in this order: [`PayloadError::BadPrefix`], [`PayloadError::BadChar`],
/// [`PayloadError::BadLength`] (or [`PayloadError::UnsupportedVersion`] if the first character
/// names another version), [`PayloadError::BadCheck`], [`PayloadError::UnsupportedVersion`],
/// [`PayloadError::UnknownModes`], [`PayloadError::InvalidSetupCode`].
pub fn parse(s: &str) -> Result<SetupPayload, PayloadError> {
    let body = s.as_bytes().strip_prefix(PREFIX.as_bytes()).ok_or(PayloadError::BadPrefix)?;
    if !body.iter().all(|&c| char_value(c).is_some()) {
        return Err(PayloadError::BadChar);
    }
    if body.len() != PAYLOAD_CHARS {
        let version = body.first().and_then(|&c| char_value(c)).map(|v| v >> 2);
        return Err(match version {
            Some(v) if v != PAYLOAD_VERSION => PayloadError::UnsupportedVersion(v),
            _ => PayloadError::BadLength,
        });
    }
    let mut bits = [0u8; BITS_BYTES];
    for (i, &c) in body.iter().enumerate() {
        put_bits(&mut bits, i * 5, 5, u64::from(char_value(c).unwrap_or(0)));
    }
    let result = decode_bits(&bits);
    bits.zeroize();
    result
}

fn decode_bits(bits: &[u8; BITS_BYTES]) -> Result<SetupPayload, PayloadError> {
    if get_bits(bits, DATA_BITS, 16) != u64::from(crc_of(bits)) {
        return Err(PayloadError::BadCheck);
    }
    let version = get_bits(bits, 0, 3) as u8;
    if version != PAYLOAD_VERSION {
        return Err(PayloadError::UnsupportedVersion(version));
    }
    let modes = Modes::from_bits(get_bits(bits, 3, 8) as u8).ok_or(PayloadError::UnknownModes)?;
    let product = ProductId(get_bits(bits, 11, 32) as u32);
    let device = DeviceId(get_bits(bits, 43, 64));
    let setup_code = SetupCode::new(get_bits(bits, 107, 27) as u32)
        .map_err(|_| PayloadError::InvalidSetupCode)?;
    Ok(SetupPayload { product, device, setup_code, modes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_catalogue_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29b1);
    }

    #[test]
    fn bits_round_trip() {
        let mut b = [0u8; 4];
        put_bits(&mut b, 3, 17, 0x1abcd);
        assert_eq!(get_bits(&b, 3, 17), 0x1abcd);
        assert_eq!(get_bits(&b, 0, 3), 0);
        put_bits(&mut b, 3, 17, 0);
        assert_eq!(b, [0; 4]);
    }

    #[test]
    fn alphabet_is_qr_alphanumeric() {
        let qr = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        assert!(ALPHABET.iter().chain(PREFIX.as_bytes()).all(|c| qr.contains(c)));
        for (i, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(char_value(c), Some(i as u8));
        }
    }
}
