//! SPAKE2+ (RFC 9383), ciphersuite P256-SHA256-HKDF-SHA256-HMAC-SHA256.
//!
//! The app is the **prover** (it knows the setup code); the device is the **verifier** (it
//! stores only the registration record [`Verifier`] = `(w0, L)`, never the code).
//!
//! ```text
//! registration:  w0s || w1s = PBKDF2-HMAC-SHA256(password, salt, iterations, 80 bytes)
//!                w0 = w0s mod n,  w1 = w1s mod n,  L = w1*G      (40 + 40 bytes, as Matter)
//! prover:        x <- [1, n)   shareP = X = x*G + w0*M                        --> shareP
//! verifier:      y <- [1, n)   shareV = Y = y*G + w0*N
//!                Z = y*(X - w0*M),  V = y*L                        <-- shareV, confirmV
//! prover:        Z = x*(Y - w0*N),  V = w1*(Y - w0*N)                         --> confirmP
//! both:          TT = len(Context) || Context || len(idProver) || idProver
//!                  || len(idVerifier) || idVerifier || len(M) || M || len(N) || N
//!                  || len(shareP) || shareP || len(shareV) || shareV
//!                  || len(Z) || Z || len(V) || V || len(w0) || w0      (len: 8 bytes LE)
//!                K_main = SHA-256(TT)
//!                K_confirmP || K_confirmV = HKDF(nil, K_main, "ConfirmationKeys")  (32 + 32)
//!                K_shared = HKDF(nil, K_main, "SharedKey")                         (32)
//!                confirmP = HMAC(K_confirmP, shareV),  confirmV = HMAC(K_confirmV, shareP)
//! ```
//!
//! The cofactor of P-256 is 1. Every received share is validated by the provider (on the
//! curve, not the identity) and `X - w0*M` / `Y - w0*N` must not be the identity either.
//! Confirmations are compared in constant time. Every secret (`w0`, `w1`, `x`, `y`, `Z`, `V`,
//! `K_main`, the confirmation keys, `K_shared`) is wiped when dropped.
//!
//! zpair's registration parameters: password = the 8 ASCII digits of the
//! [`SetupCode`], salt = `b"zpair/1 salt" || device_id (u64 BE)`,
//! [`PBKDF2_ITERATIONS`] = 1000. See [`Verifier::for_setup_code`] and
//! [`Secrets::for_setup_code`].

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{Crypto, CryptoError, Point, Scalar, P256_POINT_LEN, P256_SCALAR_LEN};
use crate::error::WireError;
use crate::types::{DeviceId, SetupCode};

/// The SPAKE2+ point M for P-256 (RFC 9383 section 4), SEC1 uncompressed.
pub const M: Point = [
    0x04, 0x88, 0x6e, 0x2f, 0x97, 0xac, 0xe4, 0x6e, 0x55, 0xba, 0x9d, 0xd7, 0x24, 0x25, 0x79, 0xf2,
    0x99, 0x3b, 0x64, 0xe1, 0x6e, 0xf3, 0xdc, 0xab, 0x95, 0xaf, 0xd4, 0x97, 0x33, 0x3d, 0x8f, 0xa1,
    0x2f, 0x5f, 0xf3, 0x55, 0x16, 0x3e, 0x43, 0xce, 0x22, 0x4e, 0x0b, 0x0e, 0x65, 0xff, 0x02, 0xac,
    0x8e, 0x5c, 0x7b, 0xe0, 0x94, 0x19, 0xc7, 0x85, 0xe0, 0xca, 0x54, 0x7d, 0x55, 0xa1, 0x2e, 0x2d,
    0x20,
];

/// The SPAKE2+ point N for P-256 (RFC 9383 section 4), SEC1 uncompressed.
pub const N: Point = [
    0x04, 0xd8, 0xbb, 0xd6, 0xc6, 0x39, 0xc6, 0x29, 0x37, 0xb0, 0x4d, 0x99, 0x7f, 0x38, 0xc3, 0x77,
    0x07, 0x19, 0xc6, 0x29, 0xd7, 0x01, 0x4d, 0x49, 0xa2, 0x4b, 0x4f, 0x98, 0xba, 0xa1, 0x29, 0x2b,
    0x49, 0x07, 0xd6, 0x0a, 0xa6, 0xbf, 0xad, 0xe4, 0x50, 0x08, 0xa6, 0x36, 0x33, 0x7f, 0x51, 0x68,
    0xc6, 0x4d, 0x9b, 0xd3, 0x60, 0x34, 0x80, 0x8c, 0xd5, 0x64, 0x49, 0x0b, 0x1e, 0x65, 0x6e, 0xdb,
    0xe7,
];

/// The P-256 group order n, big endian.
const ORDER: Scalar = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Length of a share (`shareP`, `shareV`): a SEC1 uncompressed P-256 point.
pub const SHARE_LEN: usize = P256_POINT_LEN;
/// Length of a confirmation (`confirmP`, `confirmV`): an HMAC-SHA256 tag.
pub const CONFIRM_LEN: usize = 32;
/// Length of `K_shared`.
pub const SHARED_KEY_LEN: usize = 32;
/// Length of a serialized [`Verifier`]: `w0` (32) || `L` (65).
pub const VERIFIER_LEN: usize = P256_SCALAR_LEN + P256_POINT_LEN;
/// PBKDF2 output length: two halves of `ceil(log2 n)/8 + 8 = 40` bytes each (RFC 9383 3.2).
pub const PBKDF2_OUTPUT_LEN: usize = 80;
/// zpair's PBKDF2 iteration count for the setup code.
pub const PBKDF2_ITERATIONS: u32 = 1000;
/// The constant prefix of zpair's PBKDF2 salt; the device id (u64 BE) follows.
pub const SALT_PREFIX: &[u8; 12] = b"zpair/1 salt";
/// Length of zpair's PBKDF2 salt.
pub const SALT_LEN: usize = SALT_PREFIX.len() + 8;

/// A confirmation tag.
pub type Confirmation = [u8; CONFIRM_LEN];

/// Why a SPAKE2+ step failed. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Spake2pError {
    /// The peer's share is not a valid P-256 point, is the identity, or cancels `w0*M` / `w0*N`.
    InvalidShare,
    /// The peer's confirmation did not verify: the peer used another password (setup code),
    /// context or identity, or the messages were tampered with.
    ConfirmationFailed,
    /// The crypto provider failed (including an invalid registration record).
    Crypto(CryptoError),
}

impl From<CryptoError> for Spake2pError {
    fn from(e: CryptoError) -> Self {
        Spake2pError::Crypto(e)
    }
}

impl core::fmt::Display for Spake2pError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Spake2pError::InvalidShare => f.write_str("invalid SPAKE2+ share"),
            Spake2pError::ConfirmationFailed => f.write_str("SPAKE2+ confirmation failed"),
            Spake2pError::Crypto(e) => write!(f, "crypto: {e}"),
        }
    }
}

/// Maps a provider error on an operation involving the peer's share.
fn share_err(e: CryptoError) -> Spake2pError {
    match e {
        CryptoError::InvalidPoint => Spake2pError::InvalidShare,
        other => Spake2pError::Crypto(other),
    }
}

/// Whether a 32-byte big-endian scalar is in `[1, n)`. Constant time.
fn scalar_in_range(s: &Scalar) -> bool {
    let mut borrow: u16 = 0;
    let mut nonzero: u8 = 0;
    for i in (0..P256_SCALAR_LEN).rev() {
        let d = u16::from(s[i]).wrapping_sub(u16::from(ORDER[i])).wrapping_sub(borrow);
        borrow = (d >> 8) & 1;
        nonzero |= s[i];
    }
    // s - n borrows exactly when s < n.
    (borrow == 1) & (nonzero != 0)
}

/// The transcript's public inputs: Context, idProver, idVerifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identities<'a> {
    /// Application context (RFC 9383 "Context"); zpair: see `session`.
    pub context: &'a [u8],
    /// The prover's identity (may be empty).
    pub id_prover: &'a [u8],
    /// The verifier's identity (may be empty).
    pub id_verifier: &'a [u8],
}

/// The prover's password-derived secrets `w0`, `w1` (each in `[0, n)`). Wiped on drop;
/// `Debug` shows nothing.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    w0: Scalar,
    w1: Scalar,
}

impl core::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Secrets {
    /// From already derived scalars (e.g. test vectors, or a commissioning tool that derived
    /// them elsewhere). They must be below the group order.
    pub fn from_scalars(w0: Scalar, w1: Scalar) -> Result<Self, CryptoError> {
        // w0 = 0 is harmless in the arithmetic, but a reduced PBKDF2 output is 0 with
        // probability 2^-256: refuse it like any other out-of-range value.
        if !scalar_in_range(&w0) || !scalar_in_range(&w1) {
            return Err(CryptoError::InvalidScalar);
        }
        Ok(Secrets { w0, w1 })
    }

    /// `w0s || w1s = PBKDF2-HMAC-SHA256(password, salt, iterations, 80)`, each half reduced
    /// modulo n (RFC 9383 section 3.2, as Matter does).
    pub fn from_password<C: Crypto>(
        crypto: &mut C,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, CryptoError> {
        let mut ws = Zeroizing::new([0u8; PBKDF2_OUTPUT_LEN]);
        crypto.pbkdf2_hmac_sha256(password, salt, iterations, &mut ws[..])?;
        let half = PBKDF2_OUTPUT_LEN / 2;
        let w0 = Zeroizing::new(crypto.p256_reduce(&ws[..half])?);
        let w1 = Zeroizing::new(crypto.p256_reduce(&ws[half..])?);
        Self::from_scalars(*w0, *w1)
    }

    /// zpair's secrets for a setup code and device: password = the code's 8 ASCII digits,
    /// salt = [`setup_code_salt`], [`PBKDF2_ITERATIONS`] iterations.
    pub fn for_setup_code<C: Crypto>(
        crypto: &mut C,
        code: &SetupCode,
        device: DeviceId,
    ) -> Result<Self, CryptoError> {
        let digits = Zeroizing::new(code.digits());
        Self::from_password(crypto, &digits[..], &setup_code_salt(device), PBKDF2_ITERATIONS)
    }

    /// The registration record the verifier stores: `(w0, L = w1*G)`.
    pub fn verifier<C: Crypto>(&self, crypto: &mut C) -> Result<Verifier, CryptoError> {
        let l = crypto.p256_mul(&self.w1, None)?;
        Ok(Verifier { w0: self.w0, l, blinds: None })
    }
}

/// zpair's PBKDF2 salt: `b"zpair/1 salt" || device_id` (u64 big endian), 20 bytes.
pub fn setup_code_salt(device: DeviceId) -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    salt[..SALT_PREFIX.len()].copy_from_slice(SALT_PREFIX);
    salt[SALT_PREFIX.len()..].copy_from_slice(&device.0.to_be_bytes());
    salt
}

/// The verifier's registration record `(w0, L)`: all the device stores to check a setup code.
/// Wiped on drop; `Debug` shows nothing.
///
/// `w0*M` and `w0*N` are constants of the record: [`Verifier::precompute`] computes them once
/// (the device session does it when it is created, at boot), so that a handshake costs one
/// fixed-base and two variable-base multiplications instead of one and four. A record without
/// them (fresh from [`Verifier::from_bytes`]) computes them in every handshake, with the same
/// result.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Verifier {
    w0: Scalar,
    l: Point,
    /// `-(w0*M)` and `w0*N`, once [`Verifier::precompute`] ran. As secret as `w0`.
    blinds: Option<Blinds>,
}

/// The precomputed blinding points of a [`Verifier`]: `-(w0*M)` (unblinds `shareP`) and
/// `w0*N` (blinds `shareV`).
#[derive(Clone, Zeroize)]
struct Blinds {
    neg_w0_m: Point,
    w0_n: Point,
}

impl Blinds {
    fn compute<C: Crypto>(crypto: &mut C, w0: &Scalar) -> Result<Self, CryptoError> {
        let w0_m = Zeroizing::new(crypto.p256_mul(w0, Some(&M))?);
        let w0_n = crypto.p256_mul(w0, Some(&N))?;
        // w0*M is a valid point (the provider wrote it), so its negation is well formed.
        let neg_w0_m = crate::crypto::p256_negate(&w0_m).ok_or(CryptoError::InvalidPoint)?;
        Ok(Blinds { neg_w0_m, w0_n })
    }
}

impl core::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Verifier(<redacted>)")
    }
}

impl PartialEq for Verifier {
    /// Constant time. Compares the record `(w0, L)` (not whether it was precomputed).
    fn eq(&self, other: &Self) -> bool {
        (self.w0.ct_eq(&other.w0) & self.l.ct_eq(&other.l)).into()
    }
}

impl Eq for Verifier {}

impl Verifier {
    /// The record for a setup code and device (computed at manufacturing, or by the device
    /// once, after which the code itself is not kept).
    pub fn for_setup_code<C: Crypto>(
        crypto: &mut C,
        code: &SetupCode,
        device: DeviceId,
    ) -> Result<Self, CryptoError> {
        Secrets::for_setup_code(crypto, code, device)?.verifier(crypto)
    }

    /// Computes `-(w0*M)` and `w0*N` once and keeps them with the record (wiped with it), so
    /// that every later handshake skips two variable-base multiplications. Call it once when
    /// the record is loaded (the device session does it when it is created); calling it again
    /// does nothing. On a provider error the record stays as it was and each handshake
    /// computes the two points itself.
    pub fn precompute<C: Crypto>(&mut self, crypto: &mut C) -> Result<(), CryptoError> {
        if self.blinds.is_none() {
            self.blinds = Some(Blinds::compute(crypto, &self.w0)?);
        }
        Ok(())
    }

    /// Whether [`Verifier::precompute`] has run (successfully) on this record.
    pub fn is_precomputed(&self) -> bool {
        self.blinds.is_some()
    }

    /// `w0 (32, big endian) || L (65, SEC1 uncompressed)`; wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; VERIFIER_LEN]> {
        let mut out = Zeroizing::new([0u8; VERIFIER_LEN]);
        out[..P256_SCALAR_LEN].copy_from_slice(&self.w0);
        out[P256_SCALAR_LEN..].copy_from_slice(&self.l);
        out
    }

    /// Parses [`Verifier::to_bytes`]. Checks the length, `w0` in `[1, n)` and the point
    /// encoding tag; whether `L` is on the curve is checked by the provider when it is used
    /// (the handshake then fails with [`Spake2pError::Crypto`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() < VERIFIER_LEN {
            return Err(WireError::Truncated);
        }
        if bytes.len() > VERIFIER_LEN {
            return Err(WireError::TrailingBytes);
        }
        let mut v = Verifier { w0: [0; P256_SCALAR_LEN], l: [0; P256_POINT_LEN], blinds: None };
        v.w0.copy_from_slice(&bytes[..P256_SCALAR_LEN]);
        v.l.copy_from_slice(&bytes[P256_SCALAR_LEN..]);
        if !scalar_in_range(&v.w0) || v.l[0] != 0x04 {
            return Err(WireError::Malformed);
        }
        Ok(v)
    }

    /// The registration point `L = w1*G` (public).
    pub fn l(&self) -> &Point {
        &self.l
    }
}

/// `K_shared`: the secret both sides hold after a successful exchange. Wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SharedKey([u8; SHARED_KEY_LEN]);

impl SharedKey {
    /// The key bytes. Derive further keys from them; do not log them.
    pub fn expose(&self) -> &[u8; SHARED_KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedKey(<redacted>)")
    }
}

/// Where the key schedule writes: `confirmP`, `confirmV`, `K_shared` (written in place, in
/// the keys that keep them: returning them moves 96 bytes (size report)).
struct Schedule<'k> {
    confirm_p: &'k mut Confirmation,
    confirm_v: &'k mut Confirmation,
    k_shared: &'k mut SharedKey,
}

/// TT, K_main and the keys derived from it (RFC 9383 3.4). `z`, `v`: the shared points.
#[allow(clippy::too_many_arguments)]
fn key_schedule<C: Crypto>(
    out: Schedule<'_>,
    crypto: &mut C,
    ids: &Identities<'_>,
    share_p: &Point,
    share_v: &Point,
    z: &Point,
    v: &Point,
    w0: &Scalar,
) -> Result<(), CryptoError> {
    let len = |s: &[u8]| (s.len() as u64).to_le_bytes();
    let (l_ctx, l_idp, l_idv) = (len(ids.context), len(ids.id_prover), len(ids.id_verifier));
    let l_point = len(&M);
    let l_scalar = len(w0);
    let k_main = Zeroizing::new(crypto.sha256(&[
        &l_ctx,
        ids.context,
        &l_idp,
        ids.id_prover,
        &l_idv,
        ids.id_verifier,
        &l_point,
        &M,
        &l_point,
        &N,
        &l_point,
        share_p,
        &l_point,
        share_v,
        &l_point,
        z,
        &l_point,
        v,
        &l_scalar,
        w0,
    ]));
    let mut confirm_keys = Zeroizing::new([0u8; 64]);
    crypto.hkdf_sha256(&[], &k_main[..], b"ConfirmationKeys", &mut confirm_keys[..])?;
    crypto.hkdf_sha256(&[], &k_main[..], b"SharedKey", &mut out.k_shared.0)?;
    *out.confirm_p = crypto.hmac_sha256(&confirm_keys[..32], &[share_v]);
    *out.confirm_v = crypto.hmac_sha256(&confirm_keys[32..], &[share_p]);
    Ok(())
}

/// `share - w0*base`, validating `share` (the identity result is refused too).
fn unblind<C: Crypto>(
    crypto: &mut C,
    share: &Point,
    w0: &Scalar,
    base: &Point,
) -> Result<Zeroizing<Point>, Spake2pError> {
    let w0_base = Zeroizing::new(crypto.p256_mul(w0, Some(base))?);
    // w0*base is a valid point, so its negation is well formed.
    let neg = Zeroizing::new(
        crate::crypto::p256_negate(&w0_base).ok_or(Spake2pError::Crypto(CryptoError::InvalidPoint))?,
    );
    crypto.p256_add(share, &neg).map(Zeroizing::new).map_err(share_err)
}

/// `k*G + w0*base`: a share.
fn blind<C: Crypto>(
    crypto: &mut C,
    k: &Scalar,
    w0: &Scalar,
    base: &Point,
) -> Result<Point, CryptoError> {
    let kg = Zeroizing::new(crypto.p256_mul(k, None)?);
    let w0_base = Zeroizing::new(crypto.p256_mul(w0, Some(base))?);
    crypto.p256_add(&kg, &w0_base)
}

/// The prover (app side) after sending `shareP`, waiting for `shareV` and `confirmV`.
/// Wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Prover {
    w0: Scalar,
    w1: Scalar,
    x: Scalar,
    share_p: Point,
}

impl core::fmt::Debug for Prover {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Prover { .. }")
    }
}

impl Prover {
    /// Picks `x` and computes `shareP = x*G + w0*M`.
    pub fn start<C: Crypto>(crypto: &mut C, secrets: &Secrets) -> Result<Self, Spake2pError> {
        let x = Zeroizing::new(crypto.p256_random_scalar()?);
        let share_p = blind(crypto, &x, &secrets.w0, &M)?;
        Ok(Prover { w0: secrets.w0, w1: secrets.w1, x: *x, share_p })
    }

    /// `shareP`, to send to the verifier.
    pub fn share(&self) -> &Point {
        &self.share_p
    }

    /// Processes the verifier's `shareV`: computes `Z`, `V`, the transcript and the keys.
    /// Fails with [`Spake2pError::InvalidShare`] if `shareV` is not a valid point.
    pub fn finish<C: Crypto>(
        self,
        crypto: &mut C,
        ids: &Identities<'_>,
        share_v: &Point,
    ) -> Result<ProverKeys, Spake2pError> {
        let t = unblind(crypto, share_v, &self.w0, &N)?;
        let z = Zeroizing::new(crypto.p256_mul(&self.x, Some(&t))?);
        let v = Zeroizing::new(crypto.p256_mul(&self.w1, Some(&t))?);
        let mut keys = ProverKeys {
            confirm_p: [0; CONFIRM_LEN],
            expected_confirm_v: [0; CONFIRM_LEN],
            k_shared: SharedKey([0; SHARED_KEY_LEN]),
        };
        let out = Schedule {
            confirm_p: &mut keys.confirm_p,
            confirm_v: &mut keys.expected_confirm_v,
            k_shared: &mut keys.k_shared,
        };
        key_schedule(out, crypto, ids, &self.share_p, share_v, &z, &v, &self.w0)?;
        Ok(keys)
    }
}

/// The prover's keys: `confirmP` to send, and the check of the verifier's `confirmV`.
/// Wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ProverKeys {
    confirm_p: Confirmation,
    expected_confirm_v: Confirmation,
    k_shared: SharedKey,
}

impl core::fmt::Debug for ProverKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ProverKeys { .. }")
    }
}

impl ProverKeys {
    /// `confirmP = HMAC(K_confirmP, shareV)`. Send it only after [`ProverKeys::verify`]
    /// succeeded (RFC 9383: the prover confirms after checking the verifier).
    pub fn confirm_p(&self) -> &Confirmation {
        &self.confirm_p
    }

    /// Checks the verifier's `confirmV` in constant time and yields `K_shared`.
    pub fn verify(self, confirm_v: &Confirmation) -> Result<SharedKey, Spake2pError> {
        if bool::from(self.expected_confirm_v.ct_eq(confirm_v)) {
            Ok(self.k_shared.clone())
        } else {
            Err(Spake2pError::ConfirmationFailed)
        }
    }
}

/// The verifier's (device's) side after receiving `shareP`: `shareV` and `confirmV` to send,
/// and the check of the prover's `confirmP`. Wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct VerifierKeys {
    share_v: Point,
    confirm_v: Confirmation,
    expected_confirm_p: Confirmation,
    k_shared: SharedKey,
}

impl core::fmt::Debug for VerifierKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("VerifierKeys { .. }")
    }
}

impl VerifierKeys {
    /// Processes the prover's `shareP`: picks `y`, computes `shareV = y*G + w0*N`,
    /// `Z = y*(X - w0*M)`, `V = y*L`, the transcript and the keys. Fails with
    /// [`Spake2pError::InvalidShare`] if `shareP` is not a valid point.
    pub fn respond<C: Crypto>(
        crypto: &mut C,
        verifier: &Verifier,
        ids: &Identities<'_>,
        share_p: &Point,
    ) -> Result<Self, Spake2pError> {
        let mut keys = VerifierKeys::EMPTY;
        keys.respond_in_place(crypto, verifier, ids, share_p)?;
        Ok(keys)
    }

    /// No keys yet (all zero), to be filled by [`VerifierKeys::respond_in_place`].
    pub(crate) const EMPTY: VerifierKeys = VerifierKeys {
        share_v: [0; P256_POINT_LEN],
        confirm_v: [0; CONFIRM_LEN],
        expected_confirm_p: [0; CONFIRM_LEN],
        k_shared: SharedKey([0; SHARED_KEY_LEN]),
    };

    /// [`VerifierKeys::respond`] into `self`, where the keys are kept (the device session's
    /// state): returning them moves 164 bytes (size report). On an error `self` holds partial
    /// results: drop it (it is wiped).
    pub(crate) fn respond_in_place<C: Crypto>(
        &mut self,
        crypto: &mut C,
        verifier: &Verifier,
        ids: &Identities<'_>,
        share_p: &Point,
    ) -> Result<(), Spake2pError> {
        // Precomputed: 1 fixed-base + 2 variable-base multiplications per handshake (with Z
        // and V); otherwise w0*M and w0*N are computed here first (1 + 4).
        let computed;
        let b = match &verifier.blinds {
            Some(b) => b,
            None => {
                computed = Zeroizing::new(Blinds::compute(crypto, &verifier.w0)?);
                &*computed
            }
        };
        let t = Zeroizing::new(crypto.p256_add(share_p, &b.neg_w0_m).map_err(share_err)?);
        let y = Zeroizing::new(crypto.p256_random_scalar()?);
        let yg = Zeroizing::new(crypto.p256_mul(&y, None)?);
        self.share_v = crypto.p256_add(&yg, &b.w0_n)?;
        let z = Zeroizing::new(crypto.p256_mul(&y, Some(&t))?);
        let v = Zeroizing::new(crypto.p256_mul(&y, Some(&verifier.l))?);
        let out = Schedule {
            confirm_p: &mut self.expected_confirm_p,
            confirm_v: &mut self.confirm_v,
            k_shared: &mut self.k_shared,
        };
        key_schedule(out, crypto, ids, share_p, &self.share_v, &z, &v, &verifier.w0)?;
        Ok(())
    }

    /// `shareV`, to send to the prover.
    pub fn share(&self) -> &Point {
        &self.share_v
    }

    /// `confirmV = HMAC(K_confirmV, shareP)`, to send with `shareV`.
    pub fn confirm_v(&self) -> &Confirmation {
        &self.confirm_v
    }

    /// Checks the prover's `confirmP` in constant time and yields `K_shared`. (Borrows: the
    /// device session checks the keys where they are stored and then wipes them, instead of
    /// moving them out first.)
    pub fn verify(&self, confirm_p: &Confirmation) -> Result<SharedKey, Spake2pError> {
        self.check(confirm_p).cloned().ok_or(Spake2pError::ConfirmationFailed)
    }

    /// [`VerifierKeys::verify`] without a copy of `K_shared`.
    pub(crate) fn check(&self, confirm_p: &Confirmation) -> Option<&SharedKey> {
        bool::from(self.expected_confirm_p.ct_eq(confirm_p)).then_some(&self.k_shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_range() {
        assert!(!scalar_in_range(&[0; 32]));
        assert!(!scalar_in_range(&ORDER));
        assert!(!scalar_in_range(&[0xff; 32]));
        let mut n1 = ORDER;
        n1[31] -= 1;
        assert!(scalar_in_range(&n1));
        let mut one = [0; 32];
        one[31] = 1;
        assert!(scalar_in_range(&one));
        let mut above = ORDER;
        above[0] = 0xff;
        above[4] = 1;
        assert!(!scalar_in_range(&above));
    }

    #[test]
    fn verifier_bytes_checked() {
        let mut bytes = [0u8; VERIFIER_LEN];
        bytes[31] = 5;
        bytes[32] = 4;
        let v = Verifier::from_bytes(&bytes).unwrap();
        assert_eq!(&v.to_bytes()[..], &bytes[..]);
        assert_eq!(Verifier::from_bytes(&bytes[..96]), Err(WireError::Truncated));
        let mut long = [0u8; VERIFIER_LEN + 1];
        long[..VERIFIER_LEN].copy_from_slice(&bytes);
        assert_eq!(Verifier::from_bytes(&long), Err(WireError::TrailingBytes));
        let mut bad = bytes;
        bad[32] = 2;
        assert_eq!(Verifier::from_bytes(&bad), Err(WireError::Malformed));
        let mut zero_w0 = bytes;
        zero_w0[31] = 0;
        assert_eq!(Verifier::from_bytes(&zero_w0), Err(WireError::Malformed));
        assert_eq!(std::format!("{v:?}"), "Verifier(<redacted>)");
    }

    /// `MbedTls` whose ephemeral scalars come from a queue, and whose point multiplication
    /// number `fail_mul` (counting from 1; 0 = never) fails.
    struct Fixed {
        inner: zpair_mbedtls::MbedTls<zpair_mbedtls::OsEntropy>,
        scalars: std::vec::Vec<Scalar>,
        fail_mul: usize,
    }

    impl Fixed {
        fn new(scalars: &[Scalar]) -> Self {
            Fixed { inner: zpair_mbedtls::MbedTls::os(), scalars: scalars.to_vec(), fail_mul: 0 }
        }
    }

    impl Crypto for Fixed {
        fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
            self.inner.fill_random(out)
        }
        fn sha256(&mut self, parts: &[&[u8]]) -> [u8; 32] {
            self.inner.sha256(parts)
        }
        fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
            self.inner.hmac_sha256(key, parts)
        }
        fn hkdf_sha256(
            &mut self,
            salt: &[u8],
            ikm: &[u8],
            info: &[u8],
            okm: &mut [u8],
        ) -> Result<(), CryptoError> {
            self.inner.hkdf_sha256(salt, ikm, info, okm)
        }
        fn pbkdf2_hmac_sha256(
            &mut self,
            password: &[u8],
            salt: &[u8],
            iterations: u32,
            out: &mut [u8],
        ) -> Result<(), CryptoError> {
            self.inner.pbkdf2_hmac_sha256(password, salt, iterations, out)
        }
        fn p256_mul(&mut self, k: &Scalar, p: Option<&Point>) -> Result<Point, CryptoError> {
            if self.fail_mul > 0 {
                self.fail_mul -= 1;
                if self.fail_mul == 0 {
                    return Err(CryptoError::Backend(-1));
                }
            }
            self.inner.p256_mul(k, p)
        }
        fn p256_add(&mut self, a: &Point, b: &Point) -> Result<Point, CryptoError> {
            self.inner.p256_add(a, b)
        }
        fn p256_random_scalar(&mut self) -> Result<Scalar, CryptoError> {
            match self.scalars.pop() {
                Some(s) => Ok(s),
                None => self.inner.p256_random_scalar(),
            }
        }
        fn p256_reduce(&mut self, wide: &[u8]) -> Result<Scalar, CryptoError> {
            self.inner.p256_reduce(wide)
        }
        fn aes128_ccm_seal(
            &mut self,
            key: &[u8; 16],
            nonce: &[u8; 13],
            aad: &[u8],
            buf: &mut [u8],
            tag: &mut [u8; 16],
        ) -> Result<(), CryptoError> {
            self.inner.aes128_ccm_seal(key, nonce, aad, buf, tag)
        }
        fn aes128_ccm_open(
            &mut self,
            key: &[u8; 16],
            nonce: &[u8; 13],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; 16],
        ) -> Result<(), CryptoError> {
            self.inner.aes128_ccm_open(key, nonce, aad, buf, tag)
        }
    }

    const IDS: Identities<'static> =
        Identities { context: b"zpair/1 test", id_prover: b"", id_verifier: b"device" };

    fn secrets(c: &mut Fixed) -> Secrets {
        Secrets::for_setup_code(c, &SetupCode::new(20_202_021).unwrap(), DeviceId(7)).unwrap()
    }

    #[test]
    fn precomputed_and_plain_verifiers_answer_identically() {
        let mut c = Fixed::new(&[]);
        let s = secrets(&mut c);
        let plain = s.verifier(&mut c).unwrap();
        let mut pre = plain.clone();
        assert!(!pre.is_precomputed());
        pre.precompute(&mut c).unwrap();
        assert!(pre.is_precomputed());
        pre.precompute(&mut c).unwrap(); // idempotent
        assert_eq!(pre, plain, "equality is about the record, not the cache");
        assert_eq!(pre.to_bytes()[..], plain.to_bytes()[..]);

        let prover = Prover::start(&mut c, &s).unwrap();
        let y = c.p256_random_scalar().unwrap();
        let mut with_y = Fixed::new(&[y]);
        let a = VerifierKeys::respond(&mut with_y, &plain, &IDS, prover.share()).unwrap();
        let mut with_y = Fixed::new(&[y]);
        let b = VerifierKeys::respond(&mut with_y, &pre, &IDS, prover.share()).unwrap();
        assert_eq!(a.share(), b.share(), "shareV");
        assert_eq!(a.confirm_v(), b.confirm_v(), "confirmV");
        assert_eq!(a.expected_confirm_p, b.expected_confirm_p);
        assert_eq!(a.k_shared.expose(), b.k_shared.expose());

        // And the prover agrees with the precomputed verifier.
        let pk = prover.finish(&mut c, &IDS, b.share()).unwrap();
        let confirm_p = *pk.confirm_p();
        let app_key = pk.verify(b.confirm_v()).unwrap();
        assert_eq!(b.verify(&confirm_p).unwrap().expose(), app_key.expose());
    }

    #[test]
    fn precomputed_verifier_still_refuses_bad_shares() {
        let mut c = Fixed::new(&[]);
        let s = secrets(&mut c);
        let mut v = s.verifier(&mut c).unwrap();
        v.precompute(&mut c).unwrap();
        // shareP = w0*M makes shareP - w0*M the identity.
        let cancel = c.p256_mul(&s.w0, Some(&M)).unwrap();
        let mut off_curve = cancel;
        off_curve[64] ^= 1;
        for share in [cancel, off_curve, [0; 65]] {
            assert_eq!(
                VerifierKeys::respond(&mut c, &v, &IDS, &share).unwrap_err(),
                Spake2pError::InvalidShare
            );
        }
    }

    #[test]
    fn a_failed_precomputation_changes_nothing() {
        let mut c = Fixed::new(&[]);
        let s = secrets(&mut c);
        let mut v = s.verifier(&mut c).unwrap();
        for fail in [1, 2] {
            c.fail_mul = fail;
            assert_eq!(v.precompute(&mut c), Err(CryptoError::Backend(-1)));
            assert!(!v.is_precomputed());
        }
        // The handshake still works, computing w0*M and w0*N itself.
        let prover = Prover::start(&mut c, &s).unwrap();
        let vk = VerifierKeys::respond(&mut c, &v, &IDS, prover.share()).unwrap();
        let pk = prover.finish(&mut c, &IDS, vk.share()).unwrap();
        assert!(pk.verify(vk.confirm_v()).is_ok());
    }

    #[test]
    fn salt_layout() {
        let s = setup_code_salt(DeviceId(0x0102_0304_0506_0708));
        assert_eq!(&s[..], b"zpair/1 salt\x01\x02\x03\x04\x05\x06\x07\x08");
    }
}
