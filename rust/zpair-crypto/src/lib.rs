//! The crypto provider trait of zpair.
//!
//! zpair's core never implements a primitive itself: everything goes through [`Crypto`], which is
//! kept deliberately narrow so that one implementation can sit on mbedTLS on the host
//! (`zpair-mbedtls` over `mbedtls-sys-auto`) and on Zephyr's own mbedTLS module inside a Zephyr
//! image (one copy of the crypto in flash).
//!
//! All values cross the trait as fixed-size byte arrays: P-256 points as 65-byte SEC1
//! uncompressed encodings, scalars as 32-byte big-endian integers reduced modulo the group order.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Length of a SEC1 uncompressed P-256 point (`0x04 || X || Y`).
pub const P256_POINT_LEN: usize = 65;
/// Length of a P-256 scalar (big endian).
pub const P256_SCALAR_LEN: usize = 32;
/// Length of a SHA-256 digest and of an HMAC-SHA256 tag.
pub const SHA256_LEN: usize = 32;
/// AES-128 key length.
pub const AES128_KEY_LEN: usize = 16;
/// AES-CCM nonce length used by zpair (the maximum, 13 bytes: L = 2).
pub const CCM_NONCE_LEN: usize = 13;
/// AES-CCM tag length used by zpair.
pub const CCM_TAG_LEN: usize = 16;

/// A P-256 point, SEC1 uncompressed.
pub type Point = [u8; P256_POINT_LEN];
/// A P-256 scalar, big endian, in `[0, n)`.
pub type Scalar = [u8; P256_SCALAR_LEN];

/// Why a crypto operation failed. Small and `Copy`, like every zpair error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CryptoError {
    /// A point is malformed, not on the curve, or the identity.
    InvalidPoint,
    /// A scalar is zero or not below the group order where that is required.
    InvalidScalar,
    /// An AEAD tag did not verify: the record was forged, corrupted or replayed under another nonce.
    AuthFailed,
    /// The random source failed.
    Rng,
    /// A length argument is out of the range the operation supports.
    BadLength,
    /// Any other backend failure, with the backend's own code.
    Backend(i32),
}

impl core::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CryptoError::InvalidPoint => f.write_str("invalid P-256 point"),
            CryptoError::InvalidScalar => f.write_str("invalid P-256 scalar"),
            CryptoError::AuthFailed => f.write_str("authentication tag mismatch"),
            CryptoError::Rng => f.write_str("random source failed"),
            CryptoError::BadLength => f.write_str("length out of range"),
            CryptoError::Backend(code) => write!(f, "crypto backend error {code}"),
        }
    }
}

/// The primitives zpair needs. Implementations must be constant time in every secret input
/// (scalars of [`Crypto::p256_mul`], keys, plaintexts), and must validate every point they are
/// given.
pub trait Crypto {
    /// Fills `out` with cryptographically secure random bytes.
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError>;

    /// SHA-256 over the concatenation of `parts`.
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; SHA256_LEN];

    /// HMAC-SHA256 with `key` over the concatenation of `parts`.
    fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; SHA256_LEN];

    /// HKDF-SHA256 (RFC 5869), extract and expand, into `okm` (at most 255 * 32 bytes).
    fn hkdf_sha256(
        &mut self,
        salt: &[u8],
        ikm: &[u8],
        info: &[u8],
        okm: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// PBKDF2-HMAC-SHA256 (RFC 8018) into `out`.
    fn pbkdf2_hmac_sha256(
        &mut self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        out: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// `k * P`, or `k * G` when `p` is `None`. Constant time in `k`. Fails with
    /// [`CryptoError::InvalidPoint`] if `p` is not a valid point or the result is the identity,
    /// and with [`CryptoError::InvalidScalar`] if `k` is not below the group order.
    fn p256_mul(&mut self, k: &Scalar, p: Option<&Point>) -> Result<Point, CryptoError>;

    /// `a + b` for public points. Fails with [`CryptoError::InvalidPoint`] if an input is not a
    /// valid point or the sum is the identity.
    fn p256_add(&mut self, a: &Point, b: &Point) -> Result<Point, CryptoError>;

    /// A uniformly random scalar in `[1, n)`.
    fn p256_random_scalar(&mut self) -> Result<Scalar, CryptoError>;

    /// A big-endian integer of any length (up to 64 bytes) reduced modulo the group order `n`.
    fn p256_reduce(&mut self, wide: &[u8]) -> Result<Scalar, CryptoError>;

    /// AES-128-CCM encryption in place with a 16-byte tag.
    fn aes128_ccm_seal(
        &mut self,
        key: &[u8; AES128_KEY_LEN],
        nonce: &[u8; CCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; CCM_TAG_LEN],
    ) -> Result<(), CryptoError>;

    /// AES-128-CCM decryption in place; on a tag mismatch `buf` is wiped and
    /// [`CryptoError::AuthFailed`] returned. The tag comparison is constant time.
    fn aes128_ccm_open(
        &mut self,
        key: &[u8; AES128_KEY_LEN],
        nonce: &[u8; CCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; CCM_TAG_LEN],
    ) -> Result<(), CryptoError>;
}

/// A borrowed provider is a provider: lets several users share one (e.g. a session and the
/// activation client of the same device).
impl<T: Crypto + ?Sized> Crypto for &mut T {
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        (**self).fill_random(out)
    }
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; SHA256_LEN] {
        (**self).sha256(parts)
    }
    fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; SHA256_LEN] {
        (**self).hmac_sha256(key, parts)
    }
    fn hkdf_sha256(
        &mut self,
        salt: &[u8],
        ikm: &[u8],
        info: &[u8],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        (**self).hkdf_sha256(salt, ikm, info, okm)
    }
    fn pbkdf2_hmac_sha256(
        &mut self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        (**self).pbkdf2_hmac_sha256(password, salt, iterations, out)
    }
    fn p256_mul(&mut self, k: &Scalar, p: Option<&Point>) -> Result<Point, CryptoError> {
        (**self).p256_mul(k, p)
    }
    fn p256_add(&mut self, a: &Point, b: &Point) -> Result<Point, CryptoError> {
        (**self).p256_add(a, b)
    }
    fn p256_random_scalar(&mut self) -> Result<Scalar, CryptoError> {
        (**self).p256_random_scalar()
    }
    fn p256_reduce(&mut self, wide: &[u8]) -> Result<Scalar, CryptoError> {
        (**self).p256_reduce(wide)
    }
    fn aes128_ccm_seal(
        &mut self,
        key: &[u8; AES128_KEY_LEN],
        nonce: &[u8; CCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; CCM_TAG_LEN],
    ) -> Result<(), CryptoError> {
        (**self).aes128_ccm_seal(key, nonce, aad, buf, tag)
    }
    fn aes128_ccm_open(
        &mut self,
        key: &[u8; AES128_KEY_LEN],
        nonce: &[u8; CCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; CCM_TAG_LEN],
    ) -> Result<(), CryptoError> {
        (**self).aes128_ccm_open(key, nonce, aad, buf, tag)
    }
}

/// The field prime p of P-256, big endian.
const P256_P: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// `-P` for a SEC1 uncompressed point: `(x, p - y)`. Pure arithmetic on public data; the
/// caller's provider validates the result when it is used. Returns `None` for an encoding that is
/// not uncompressed or whose `y` is not below `p`.
pub fn p256_negate(point: &Point) -> Option<Point> {
    if point[0] != 0x04 {
        return None;
    }
    let y = &point[33..65];
    // y must be in [1, p): P-256 has no point with y = 0.
    if y.iter().all(|&b| b == 0) || y >= &P256_P[..] {
        return None;
    }
    let mut out = *point;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = P256_P[i] as i16 - y[i] as i16 - borrow;
        if d < 0 {
            out[33 + i] = (d + 256) as u8;
            borrow = 1;
        } else {
            out[33 + i] = d as u8;
            borrow = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negate_twice_is_identity_map() {
        let mut pt = [0u8; 65];
        pt[0] = 4;
        pt[1..33].copy_from_slice(&[0x11; 32]);
        pt[33..].copy_from_slice(&[0x22; 32]);
        let neg = p256_negate(&pt).unwrap();
        assert_ne!(neg, pt);
        assert_eq!(p256_negate(&neg).unwrap(), pt);
    }

    #[test]
    fn negate_rejects_bad_encodings() {
        let mut pt = [0u8; 65];
        pt[0] = 4;
        assert_eq!(p256_negate(&pt), None, "y = 0");
        pt[33..].copy_from_slice(&P256_P);
        assert_eq!(p256_negate(&pt), None, "y = p");
        pt[0] = 2;
        assert_eq!(p256_negate(&pt), None, "compressed");
    }
}
