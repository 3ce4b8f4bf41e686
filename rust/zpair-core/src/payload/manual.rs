//! The manual pairing code, for typing when a QR code cannot be scanned.

use super::{discriminator_of, PayloadError, SetupPayload, DISCRIMINATOR_BITS};
use crate::types::{DeviceId, SetupCode};
use zeroize::Zeroize;

/// Digits in a manual code.
pub const MANUAL_DIGITS: usize = 13;
/// Length of a rendered manual code (`DDDD-CCCC-CCCCK`).
pub const MANUAL_LEN: usize = MANUAL_DIGITS + 2;

/// A manual pairing code: 13 decimal digits, rendered `DDDD-CCCC-CCCCK`.
///
/// | digits | meaning |
/// |---|---|
/// | 1-4 | discriminator: the low 12 bits of the device id, `0000..=4095` (4096-9999 reserved) |
/// | 5-12 | setup code, 8 digits, zero padded |
/// | 13 | Verhoeff check digit over digits 1-12 |
///
/// The Verhoeff digit detects every single-digit error and every swap of two adjacent digits.
///
/// **Collision assumption.** The app finds the device by the discriminator, which the device
/// advertises (BLE advertisement / DNS-SD TXT / SoftAP SSID suffix) while its pairing window is
/// open. 12 bits tell apart the few devices (say up to 10) in pairing mode within reach of one
/// phone: with random ids, two of 10 share a discriminator with probability about
/// 10·9/2/4096 ≈ 1.1 %, and ids allocated sequentially by the factory never collide within a
/// run of 4096. On a collision the app tries the candidates in turn: the wrong device fails the
/// SPAKE2+ confirmation (`WrongSetupCode`, one failed attempt on that device's counter) and
/// the right one succeeds. The QR payload carries the full device id and never needs this.
///
/// `Debug` omits the setup code; it is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ManualCode {
    discriminator: u16,
    setup_code: SetupCode,
}

impl core::fmt::Debug for ManualCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ManualCode")
            .field("discriminator", &self.discriminator)
            .finish_non_exhaustive()
    }
}

impl ManualCode {
    /// A manual code from a discriminator (`0..=4095`) and a setup code.
    pub fn new(discriminator: u16, setup_code: SetupCode) -> Result<Self, PayloadError> {
        if u32::from(discriminator) >= 1 << DISCRIMINATOR_BITS {
            return Err(PayloadError::OutOfRange);
        }
        Ok(ManualCode { discriminator, setup_code })
    }

    /// The manual code of a setup payload.
    pub fn from_payload(payload: &SetupPayload) -> Self {
        ManualCode {
            discriminator: payload.discriminator(),
            setup_code: payload.setup_code.clone(),
        }
    }

    /// The discriminator (low 12 bits of the device id).
    pub fn discriminator(&self) -> u16 {
        self.discriminator
    }

    /// The setup code.
    pub fn setup_code(&self) -> &SetupCode {
        &self.setup_code
    }

    /// Whether a device with this id may be the one the code belongs to.
    pub fn matches(&self, device: DeviceId) -> bool {
        discriminator_of(device) == self.discriminator
    }
}

// Verhoeff tables: multiplication in the dihedral group D5, the permutation, the inverse.
const D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

fn table(t: &[[u8; 10]], row: usize, col: u8) -> u8 {
    t.get(row).and_then(|r| r.get(usize::from(col))).copied().unwrap_or(0)
}

/// Runs Verhoeff over digit values (0-9), the last one at position `offset`.
fn verhoeff(digits: &[u8], offset: usize) -> u8 {
    digits
        .iter()
        .rev()
        .enumerate()
        .fold(0, |c, (i, &d)| table(&D, usize::from(c), table(&P, (i + offset) % 8, d)))
}

/// The Verhoeff check digit (0-9) of digit values (0-9).
pub(crate) fn verhoeff_digit(digits: &[u8]) -> u8 {
    INV.get(usize::from(verhoeff(digits, 1))).copied().unwrap_or(0)
}

/// Whether digit values (0-9) end with a correct Verhoeff check digit.
pub(crate) fn verhoeff_valid(digits: &[u8]) -> bool {
    verhoeff(digits, 0) == 0
}

/// Renders `DDDD-CCCC-CCCCK` ([`MANUAL_LEN`] bytes) into `out`.
///
/// Errors: [`PayloadError::BufferTooSmall`].
pub fn render_manual<'b>(code: &ManualCode, out: &'b mut [u8]) -> Result<&'b str, PayloadError> {
    let out = out.get_mut(..MANUAL_LEN).ok_or(PayloadError::BufferTooSmall)?;
    let mut digits = [0u8; MANUAL_DIGITS];
    let mut value =
        u64::from(code.discriminator) * 100_000_000 + u64::from(code.setup_code.expose());
    for d in digits.iter_mut().take(MANUAL_DIGITS - 1).rev() {
        *d = (value % 10) as u8;
        value /= 10;
    }
    let check = verhoeff_digit(digits.get(..MANUAL_DIGITS - 1).unwrap_or(&[]));
    if let Some(last) = digits.last_mut() {
        *last = check;
    }
    let mut src = digits.iter();
    for (i, o) in out.iter_mut().enumerate() {
        *o = if i == 4 || i == 9 { b'-' } else { b'0' + src.next().copied().unwrap_or(0) };
    }
    value.zeroize();
    digits.zeroize();
    core::str::from_utf8(out).map_err(|_| PayloadError::BadChar)
}

/// Parses a manual code: 13 digits; dashes and spaces anywhere are ignored.
///
/// Errors, in this order: [`PayloadError::BadChar`], [`PayloadError::BadLength`],
/// [`PayloadError::BadCheck`], [`PayloadError::OutOfRange`] (discriminator digits above 4095),
/// [`PayloadError::InvalidSetupCode`].
pub fn parse_manual(s: &str) -> Result<ManualCode, PayloadError> {
    let mut digits = [0u8; MANUAL_DIGITS];
    let result = parse_digits(s, &mut digits).and_then(|()| decode_digits(&digits));
    digits.zeroize();
    result
}

fn parse_digits(s: &str, digits: &mut [u8; MANUAL_DIGITS]) -> Result<(), PayloadError> {
    let mut n = 0usize;
    for c in s.bytes() {
        match c {
            b'-' | b' ' => continue,
            b'0'..=b'9' => {
                if let Some(d) = digits.get_mut(n) {
                    *d = c - b'0';
                }
                n += 1;
            }
            _ => return Err(PayloadError::BadChar),
        }
    }
    if n != MANUAL_DIGITS {
        return Err(PayloadError::BadLength);
    }
    Ok(())
}

fn decode_digits(digits: &[u8; MANUAL_DIGITS]) -> Result<ManualCode, PayloadError> {
    if !verhoeff_valid(digits) {
        return Err(PayloadError::BadCheck);
    }
    let number = |range: core::ops::Range<usize>| {
        digits.get(range).unwrap_or(&[]).iter().fold(0u32, |v, &d| v * 10 + u32::from(d))
    };
    let discriminator = number(0..4);
    if discriminator >= 1 << DISCRIMINATOR_BITS {
        return Err(PayloadError::OutOfRange);
    }
    let setup_code = SetupCode::new(number(4..12)).map_err(|_| PayloadError::InvalidSetupCode)?;
    Ok(ManualCode { discriminator: discriminator as u16, setup_code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verhoeff_known_values() {
        // The textbook example: 236 -> check digit 3.
        assert_eq!(verhoeff_digit(&[2, 3, 6]), 3);
        assert!(verhoeff_valid(&[2, 3, 6, 3]));
        assert!(!verhoeff_valid(&[2, 3, 6, 4]));
        // 12345 -> 1 (another published example).
        assert_eq!(verhoeff_digit(&[1, 2, 3, 4, 5]), 1);
    }

    #[test]
    fn tables_are_the_dihedral_group_and_its_permutation() {
        // D is a group with identity 0 and INV its inverses; P[i] is P[1] applied i times.
        for a in 0..10u8 {
            assert_eq!(table(&D, 0, a), a);
            assert_eq!(table(&D, usize::from(a), INV[usize::from(a)]), 0);
            for b in 0..10u8 {
                for c in 0..10u8 {
                    let ab = table(&D, usize::from(a), b);
                    let bc = table(&D, usize::from(b), c);
                    assert_eq!(table(&D, usize::from(ab), c), table(&D, usize::from(a), bc));
                }
            }
        }
        for i in 1..8 {
            for d in 0..10u8 {
                assert_eq!(table(&P, i, d), table(&P, 1, table(&P, i - 1, d)));
            }
        }
        for d in 0..10u8 {
            assert_eq!(table(&P, 1, table(&P, 7, d)), d, "P[1] has order 8");
        }
    }
}
