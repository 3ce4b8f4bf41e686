//! zpair's crypto provider over mbedTLS.
//!
//! [`MbedTls`] implements [`zpair_crypto::Crypto`] by calling a small flat C shim,
//! `csrc/zpair_crypto_mbedtls.c` (API in `include/zpair_crypto_mbedtls.h`), written against the
//! public mbedTLS API and portable across mbedTLS 2.28 and 3.6:
//!
//! - with the default feature `bundled` (host builds, tests, the CLI), `build.rs` compiles the
//!   shim against mbedTLS 2.28 from crates.io (`mbedtls-sys-auto`) and links both;
//! - without it (`default-features = false`, inside a Zephyr image), nothing C is built here:
//!   Zephyr's CMake compiles the same C file against Zephyr's mbedTLS 3.6 module, so the image
//!   holds one copy of the crypto, and the linker resolves the `zpair_*` symbols.
//!
//! Randomness is pluggable through [`EntropySource`]: [`OsEntropy`] (feature `std`, the
//! operating system through `getrandom`), [`CEntropy`] (a C function such as Zephyr's
//! `sys_csrand_get`), or any closure `FnMut(&mut [u8]) -> Result<(), CryptoError>`. The source
//! feeds [`Crypto::fill_random`], [`Crypto::p256_random_scalar`] and the coordinate blinding of
//! every point multiplication by a secret scalar (`mbedtls_ecp_mul` with an RNG).
//!
//! Every point crossing the trait is validated by mbedTLS (`mbedtls_ecp_check_pubkey`), the
//! identity is refused on input and output, and AES-CCM decryption wipes the buffer when the tag
//! does not verify.
//!
//! SHA-256 and HMAC-SHA256 use no heap and cannot fail with mbedTLS's software SHA-256. Since
//! the trait makes them infallible, a failing hardware SHA-256 is handled fail-closed: the output
//! is replaced by fresh random bytes (so it never verifies anything), and if the entropy source
//! fails as well the provider panics rather than return a predictable digest.
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

// Links mbedTLS 2.28 (libmbedcrypto) built by mbedtls-sys-auto; its Rust bindings are unused.
#[cfg(feature = "bundled")]
use mbedtls_sys as _;

use core::ffi::{c_int, c_void};

use zeroize::Zeroize;
use zpair_crypto::{
    CryptoError, Point, Scalar, AES128_KEY_LEN, CCM_NONCE_LEN, CCM_TAG_LEN, P256_POINT_LEN,
    P256_SCALAR_LEN, SHA256_LEN,
};

pub use zpair_crypto::Crypto;

/// The raw C API of the shim (`include/zpair_crypto_mbedtls.h`). Prefer [`MbedTls`].
pub mod ffi {
    use core::ffi::{c_int, c_void};

    /// A point is malformed, not on the curve, or the identity.
    pub const ZPAIR_ERR_INVALID_POINT: c_int = -0x10001;
    /// A scalar is zero or not below the group order.
    pub const ZPAIR_ERR_INVALID_SCALAR: c_int = -0x10002;
    /// An AES-CCM tag did not verify.
    pub const ZPAIR_ERR_AUTH_FAILED: c_int = -0x10003;
    /// The random source failed.
    pub const ZPAIR_ERR_RNG: c_int = -0x10004;
    /// A length is out of range.
    pub const ZPAIR_ERR_BAD_LENGTH: c_int = -0x10005;
    /// A context is too small for this mbedTLS build.
    pub const ZPAIR_ERR_CONTEXT: c_int = -0x10006;

    /// Size of [`HashCtx`] in bytes (`ZPAIR_HASH_CTX_SIZE`).
    pub const ZPAIR_HASH_CTX_SIZE: usize = 256;

    /// mbedTLS-style random callback: fill `out[0..len)`, return 0 on success.
    pub type RngFn = unsafe extern "C" fn(p_rng: *mut c_void, out: *mut u8, len: usize) -> c_int;

    /// `zpair_hash_ctx`: caller-allocated storage for one SHA-256 / HMAC-SHA256 computation.
    #[repr(C)]
    pub struct HashCtx {
        opaque: [u64; ZPAIR_HASH_CTX_SIZE / 8],
    }

    impl HashCtx {
        /// Zeroed storage, ready for a `*_start` call.
        pub const fn new() -> Self {
            HashCtx { opaque: [0; ZPAIR_HASH_CTX_SIZE / 8] }
        }
    }

    impl Default for HashCtx {
        fn default() -> Self {
            Self::new()
        }
    }

    extern "C" {
        /// See the C header.
        pub fn zpair_sha256_start(ctx: *mut HashCtx) -> c_int;
        /// See the C header.
        pub fn zpair_hmac_sha256_start(ctx: *mut HashCtx, key: *const u8, key_len: usize) -> c_int;
        /// See the C header.
        pub fn zpair_hash_update(ctx: *mut HashCtx, data: *const u8, len: usize) -> c_int;
        /// See the C header.
        pub fn zpair_hash_finish(ctx: *mut HashCtx, out: *mut u8) -> c_int;
        /// See the C header.
        pub fn zpair_hkdf_sha256(
            salt: *const u8,
            salt_len: usize,
            ikm: *const u8,
            ikm_len: usize,
            info: *const u8,
            info_len: usize,
            okm: *mut u8,
            okm_len: usize,
        ) -> c_int;
        /// See the C header.
        pub fn zpair_pbkdf2_hmac_sha256(
            password: *const u8,
            password_len: usize,
            salt: *const u8,
            salt_len: usize,
            iterations: u32,
            out: *mut u8,
            out_len: usize,
        ) -> c_int;
        /// See the C header.
        pub fn zpair_p256_mul(
            k: *const u8,
            p_or_null: *const u8,
            out: *mut u8,
            f_rng: Option<RngFn>,
            p_rng: *mut c_void,
        ) -> c_int;
        /// See the C header.
        pub fn zpair_p256_add(a: *const u8, b: *const u8, out: *mut u8) -> c_int;
        /// See the C header.
        pub fn zpair_p256_check_point(p: *const u8) -> c_int;
        /// See the C header.
        pub fn zpair_p256_random_scalar(out: *mut u8, f_rng: Option<RngFn>, p_rng: *mut c_void)
            -> c_int;
        /// See the C header.
        pub fn zpair_p256_reduce(wide: *const u8, wide_len: usize, out: *mut u8) -> c_int;
        /// See the C header.
        pub fn zpair_aes128_ccm_seal(
            key: *const u8,
            nonce: *const u8,
            aad: *const u8,
            aad_len: usize,
            buf: *mut u8,
            len: usize,
            tag: *mut u8,
        ) -> c_int;
        /// See the C header.
        pub fn zpair_aes128_ccm_open(
            key: *const u8,
            nonce: *const u8,
            aad: *const u8,
            aad_len: usize,
            buf: *mut u8,
            len: usize,
            tag: *const u8,
        ) -> c_int;
    }
}

/// Maps a shim return code to the trait's error set.
fn check(rc: c_int) -> Result<(), CryptoError> {
    match rc {
        0 => Ok(()),
        ffi::ZPAIR_ERR_INVALID_POINT => Err(CryptoError::InvalidPoint),
        ffi::ZPAIR_ERR_INVALID_SCALAR => Err(CryptoError::InvalidScalar),
        ffi::ZPAIR_ERR_AUTH_FAILED => Err(CryptoError::AuthFailed),
        ffi::ZPAIR_ERR_RNG => Err(CryptoError::Rng),
        ffi::ZPAIR_ERR_BAD_LENGTH => Err(CryptoError::BadLength),
        other => Err(CryptoError::Backend(other)),
    }
}

/// A source of cryptographically secure random bytes for [`MbedTls`].
pub trait EntropySource {
    /// Fills `out` entirely, or fails with [`CryptoError::Rng`]. Must not panic (it is called
    /// from inside mbedTLS through an `extern "C"` callback, where a panic aborts).
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError>;
}

impl<F> EntropySource for F
where
    F: FnMut(&mut [u8]) -> Result<(), CryptoError>,
{
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self(out)
    }
}

/// The operating system's random source (`getrandom`). Host builds only (feature `std`).
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

#[cfg(feature = "std")]
impl EntropySource for OsEntropy {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        getrandom::fill(out).map_err(|_| CryptoError::Rng)
    }
}

/// A C random function with the signature of Zephyr's `sys_csrand_get`:
/// `int f(void *dst, size_t len)`, returning 0 on success.
pub type CRandomFn = unsafe extern "C" fn(dst: *mut c_void, len: usize) -> c_int;

/// An [`EntropySource`] backed by a C function, e.g. Zephyr's `sys_csrand_get`.
#[derive(Clone, Copy)]
pub struct CEntropy {
    f: CRandomFn,
}

impl CEntropy {
    /// Wraps `f`.
    ///
    /// # Safety
    ///
    /// `f(dst, len)` must be safe to call with any writable buffer `dst[0..len)`, write only
    /// within it, fill it with cryptographically secure random bytes and return 0, or return
    /// non-zero on failure; and it must be callable from every thread that uses the provider.
    pub const unsafe fn new(f: CRandomFn) -> Self {
        CEntropy { f }
    }
}

impl core::fmt::Debug for CEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CEntropy")
    }
}

impl EntropySource for CEntropy {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        if out.is_empty() {
            return Ok(());
        }
        // SAFETY: `out` is a valid writable buffer of `out.len()` bytes, and the contract of
        // `CEntropy::new` says `f` writes only within it.
        let rc = unsafe { (self.f)(out.as_mut_ptr().cast(), out.len()) };
        if rc == 0 {
            Ok(())
        } else {
            out.zeroize();
            Err(CryptoError::Rng)
        }
    }
}

/// The mbedTLS `f_rng` trampoline: `p_rng` is a `*mut E`.
///
/// # Safety
///
/// `p_rng` must be null or point to a live `E` not otherwise accessed during the call, and
/// `out` must be null or valid for writes of `len` bytes.
unsafe extern "C" fn rng_callback<E: EntropySource>(
    p_rng: *mut c_void,
    out: *mut u8,
    len: usize,
) -> c_int {
    if len == 0 {
        return 0;
    }
    if p_rng.is_null() || out.is_null() {
        return ffi::ZPAIR_ERR_RNG;
    }
    // SAFETY: per this function's contract (upheld by `MbedTls::rng_parts`, which passes
    // `&mut self.entropy` for the duration of one C call, and by mbedTLS, which passes a
    // writable buffer of `len` bytes), both pointers are valid and unaliased.
    let (entropy, buf) =
        unsafe { (&mut *p_rng.cast::<E>(), core::slice::from_raw_parts_mut(out, len)) };
    match entropy.fill(buf) {
        Ok(()) => 0,
        Err(_) => ffi::ZPAIR_ERR_RNG,
    }
}

/// The mbedTLS crypto provider. Holds only its entropy source; every operation is a
/// self-contained C call (no state kept in mbedTLS between calls).
pub struct MbedTls<E: EntropySource> {
    entropy: E,
}

impl<E: EntropySource> MbedTls<E> {
    /// A provider drawing randomness from `entropy`.
    pub const fn new(entropy: E) -> Self {
        MbedTls { entropy }
    }

    /// The entropy source.
    pub fn entropy_mut(&mut self) -> &mut E {
        &mut self.entropy
    }

    /// The callback and context pointer to hand to the shim for one call.
    fn rng_parts(&mut self) -> (Option<ffi::RngFn>, *mut c_void) {
        (Some(rng_callback::<E>), (&mut self.entropy as *mut E).cast())
    }

    /// Validates a point without computing anything: `Ok` for a valid P-256 point other than
    /// the identity.
    pub fn p256_check_point(&mut self, p: &Point) -> Result<(), CryptoError> {
        // SAFETY: `p` is 65 readable bytes, as the C function expects.
        check(unsafe { ffi::zpair_p256_check_point(p.as_ptr()) })
    }

    /// Runs the rest of a started hash computation and finishes it (fail-closed).
    fn hash_finish(&mut self, ctx: &mut ffi::HashCtx, mut rc: c_int, parts: &[&[u8]]) -> [u8; 32] {
        for part in parts {
            if rc != 0 {
                break;
            }
            // SAFETY: `ctx` was started by the caller and stays in place; `part` is readable
            // for `part.len()` bytes.
            rc = unsafe { ffi::zpair_hash_update(ctx, part.as_ptr(), part.len()) };
        }
        let mut out = [0u8; SHA256_LEN];
        // SAFETY: `ctx` was started; `out` is 32 writable bytes. Finish also wipes `ctx`.
        let rc_finish = unsafe { ffi::zpair_hash_finish(ctx, out.as_mut_ptr()) };
        if rc != 0 || rc_finish != 0 {
            self.fail_closed(&mut out);
        }
        out
    }

    /// Replaces a digest that could not be computed by random bytes, so that it matches
    /// nothing; panics only if the entropy source fails as well.
    #[cold]
    fn fail_closed(&mut self, out: &mut [u8; SHA256_LEN]) {
        if self.entropy.fill(out).is_err() {
            out.zeroize();
            panic!("zpair-mbedtls: SHA-256 backend and entropy source both failed");
        }
    }
}

#[cfg(feature = "std")]
impl MbedTls<OsEntropy> {
    /// A provider using the operating system's random source.
    pub const fn os() -> Self {
        MbedTls::new(OsEntropy)
    }
}

#[cfg(feature = "std")]
impl Default for MbedTls<OsEntropy> {
    fn default() -> Self {
        Self::os()
    }
}

impl<E: EntropySource> core::fmt::Debug for MbedTls<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MbedTls { .. }")
    }
}

impl<E: EntropySource> Crypto for MbedTls<E> {
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.entropy.fill(out)
    }

    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; SHA256_LEN] {
        let mut ctx = ffi::HashCtx::new();
        // SAFETY: `ctx` is a valid, suitably aligned `zpair_hash_ctx` that stays in place
        // until `hash_finish` finishes it.
        let rc = unsafe { ffi::zpair_sha256_start(&mut ctx) };
        self.hash_finish(&mut ctx, rc, parts)
    }

    fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; SHA256_LEN] {
        let mut ctx = ffi::HashCtx::new();
        // SAFETY: as in `sha256`; `key` is readable for `key.len()` bytes.
        let rc = unsafe { ffi::zpair_hmac_sha256_start(&mut ctx, key.as_ptr(), key.len()) };
        self.hash_finish(&mut ctx, rc, parts)
    }

    fn hkdf_sha256(
        &mut self,
        salt: &[u8],
        ikm: &[u8],
        info: &[u8],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        // SAFETY: every pointer/length pair describes a live slice; `okm` is writable.
        let rc = unsafe {
            ffi::zpair_hkdf_sha256(
                salt.as_ptr(),
                salt.len(),
                ikm.as_ptr(),
                ikm.len(),
                info.as_ptr(),
                info.len(),
                okm.as_mut_ptr(),
                okm.len(),
            )
        };
        if rc != 0 {
            okm.zeroize();
        }
        check(rc)
    }

    fn pbkdf2_hmac_sha256(
        &mut self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        // SAFETY: every pointer/length pair describes a live slice; `out` is writable.
        let rc = unsafe {
            ffi::zpair_pbkdf2_hmac_sha256(
                password.as_ptr(),
                password.len(),
                salt.as_ptr(),
                salt.len(),
                iterations,
                out.as_mut_ptr(),
                out.len(),
            )
        };
        if rc != 0 {
            out.zeroize();
        }
        check(rc)
    }

    fn p256_mul(&mut self, k: &Scalar, p: Option<&Point>) -> Result<Point, CryptoError> {
        let mut out = [0u8; P256_POINT_LEN];
        let p_ptr = p.map_or(core::ptr::null(), |p| p.as_ptr());
        let (f_rng, p_rng) = self.rng_parts();
        // SAFETY: `k` is 32 readable bytes, `p_ptr` is null or 65 readable bytes, `out` is 65
        // writable bytes; `p_rng` points to `self.entropy`, exclusively borrowed for this call,
        // and `f_rng` is the matching trampoline.
        let rc = unsafe { ffi::zpair_p256_mul(k.as_ptr(), p_ptr, out.as_mut_ptr(), f_rng, p_rng) };
        check(rc).map(|()| out)
    }

    fn p256_add(&mut self, a: &Point, b: &Point) -> Result<Point, CryptoError> {
        let mut out = [0u8; P256_POINT_LEN];
        // SAFETY: `a` and `b` are 65 readable bytes, `out` 65 writable bytes.
        let rc = unsafe { ffi::zpair_p256_add(a.as_ptr(), b.as_ptr(), out.as_mut_ptr()) };
        check(rc).map(|()| out)
    }

    fn p256_random_scalar(&mut self) -> Result<Scalar, CryptoError> {
        let mut out = [0u8; P256_SCALAR_LEN];
        let (f_rng, p_rng) = self.rng_parts();
        // SAFETY: `out` is 32 writable bytes; `p_rng`/`f_rng` as in `p256_mul`.
        let rc = unsafe { ffi::zpair_p256_random_scalar(out.as_mut_ptr(), f_rng, p_rng) };
        check(rc).map(|()| out)
    }

    fn p256_reduce(&mut self, wide: &[u8]) -> Result<Scalar, CryptoError> {
        if wide.len() > 64 {
            return Err(CryptoError::BadLength);
        }
        let mut out = [0u8; P256_SCALAR_LEN];
        // SAFETY: `wide` is readable for `wide.len()` bytes, `out` is 32 writable bytes.
        let rc = unsafe { ffi::zpair_p256_reduce(wide.as_ptr(), wide.len(), out.as_mut_ptr()) };
        check(rc).map(|()| out)
    }

    fn aes128_ccm_seal(
        &mut self,
        key: &[u8; AES128_KEY_LEN],
        nonce: &[u8; CCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; CCM_TAG_LEN],
    ) -> Result<(), CryptoError> {
        // SAFETY: fixed-size arrays have the lengths the C function expects; `aad` and `buf`
        // are described by their pointer and length; `buf` and `tag` are writable.
        let rc = unsafe {
            ffi::zpair_aes128_ccm_seal(
                key.as_ptr(),
                nonce.as_ptr(),
                aad.as_ptr(),
                aad.len(),
                buf.as_mut_ptr(),
                buf.len(),
                tag.as_mut_ptr(),
            )
        };
        check(rc)
    }

    fn aes128_ccm_open(
        &mut self,
        key: &[u8; AES128_KEY_LEN],
        nonce: &[u8; CCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; CCM_TAG_LEN],
    ) -> Result<(), CryptoError> {
        // SAFETY: as in `aes128_ccm_seal`; `tag` is only read.
        let rc = unsafe {
            ffi::zpair_aes128_ccm_open(
                key.as_ptr(),
                nonce.as_ptr(),
                aad.as_ptr(),
                aad.len(),
                buf.as_mut_ptr(),
                buf.len(),
                tag.as_ptr(),
            )
        };
        if rc != 0 {
            // The shim already wiped it; make the contract independent of the C side.
            buf.zeroize();
        }
        check(rc)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests;
