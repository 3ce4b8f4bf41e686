//! The device side of each key exchange, as a repeatable fixture.
//!
//! Every fixture runs whole handshakes (the peer's side too, so that each run is checked to
//! succeed) but only the device's steps go through functions named `zbdev_<name>_<step>`:
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='zbdev_<name>_*'` counts
//! exactly those, and [`Fixture::run`] returns the wall time spent in them (criterion's
//! `iter_custom`).

use std::time::{Duration, Instant};

use zpair_core::crypto::{
    Crypto, CryptoError, Point, Scalar, AES128_KEY_LEN, CCM_NONCE_LEN, CCM_TAG_LEN, P256_POINT_LEN, SHA256_LEN,
};
use zpair_core::session::{AppSession, DeviceSession, Phase, SessionError};
use zpair_core::spake2plus::{Secrets, Verifier};
use zpair_core::types::{DeviceId, Mode, SetupCode};
use zpair_mbedtls::{MbedTls, OsEntropy};

use crate::ffi;

/// The device of the benchmark.
pub const DEVICE: DeviceId = DeviceId(0x0011_2233_4455_6677);
/// Its setup code.
pub const SETUP_CODE: u32 = 20_202_021;
/// ESP-IDF's example security 2 user name and password (`wifi_prov_mgr` example).
pub const SEC2_USER: &[u8] = b"wifiprov";
/// See [`SEC2_USER`].
pub const SEC2_PASS: &[u8] = b"abcd1234";
/// ESP-IDF's example security 1 proof of possession.
pub const SEC1_POP: &[u8] = b"abcd1234";

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Construction {
    /// zpair's device: `DeviceSession::handle_pair_request` + `handle_pair_confirm`, with the
    /// verifier's `w0*M`, `w0*N` precomputed at session creation (the shipped code).
    Zpair,
    /// The same with the precomputation refused, so every handshake computes `w0*M` and `w0*N`
    /// (the cost before the precomputation was introduced).
    ZpairNoPrecompute,
    /// zpair with a provider that keeps the comb table of G across calls, as mbedTLS >= 3.1
    /// does with its precomputed ROM table (`MBEDTLS_ECP_FIXED_POINT_OPTIM`): what the device's
    /// mbedTLS 3.6 does, emulated on 2.28.
    ZpairGTable,
    /// ESP-IDF security 2: SRP6a-3072 / SHA-512, SessionCmd0 + SessionCmd1.
    Sec2,
    /// ESP-IDF security 1: X25519 + PoP + AES-256-CTR, SessionCmd0 + SessionCmd1.
    Sec1,
    /// One ephemeral P-256 ECDH (key pair, peer key validation, shared secret).
    P256Ecdh,
    /// `k*G` with the group (and G's comb table) rebuilt for the call, as zpair-mbedtls does.
    MulFreshG,
    /// `k*G` with a group whose comb table for G was kept from an earlier call.
    MulKeptG,
    /// `k*P` for a variable point (read and validated).
    MulVar,
}

impl Construction {
    /// Every construction, in report order.
    pub const ALL: [Construction; 9] = [
        Construction::Zpair,
        Construction::ZpairNoPrecompute,
        Construction::ZpairGTable,
        Construction::Sec2,
        Construction::Sec1,
        Construction::P256Ecdh,
        Construction::MulFreshG,
        Construction::MulKeptG,
        Construction::MulVar,
    ];

    /// Short name (command line, result files).
    pub fn name(self) -> &'static str {
        match self {
            Construction::Zpair => "zpair",
            Construction::ZpairNoPrecompute => "zpair-noprecompute",
            Construction::ZpairGTable => "zpair-g-table",
            Construction::Sec2 => "sec2",
            Construction::Sec1 => "sec1",
            Construction::P256Ecdh => "p256-ecdh",
            Construction::MulFreshG => "p256mul-fresh-g",
            Construction::MulKeptG => "p256mul-kept-g",
            Construction::MulVar => "p256mul-var",
        }
    }

    /// The callgrind `--toggle-collect` pattern that selects the device's steps.
    pub fn callgrind_pattern(self) -> &'static str {
        match self {
            Construction::Zpair => "zbdev_zpair_*",
            Construction::ZpairNoPrecompute => "zbdev_zpairnp_*",
            Construction::ZpairGTable => "zbdev_zpairgt_*",
            Construction::Sec2 => "zbdev_sec2_*",
            Construction::Sec1 => "zbdev_sec1_*",
            Construction::P256Ecdh => "zbdev_p256_ecdh",
            Construction::MulFreshG => "zbdev_p256mul_fresh_g",
            Construction::MulKeptG => "zbdev_p256mul_kept_g",
            Construction::MulVar => "zbdev_p256mul_var",
        }
    }

    /// One line on what the device computes.
    pub fn description(self) -> &'static str {
        match self {
            Construction::Zpair => "zpair device: SPAKE2+ P-256 verifier + HKDF session keys (handle_pair_request + handle_pair_confirm), w0·M/w0·N precomputed",
            Construction::ZpairNoPrecompute => "zpair device before the precomputation: w0·M and w0·N computed in every handshake",
            Construction::ZpairGTable => "zpair device with G's comb table kept, as mbedTLS ≥ 3.1's ROM table does (emulated on 2.28)",
            Construction::Sec2 => "ESP-IDF security 2 device: SRP6a-3072/SHA-512 (B = kv + g^b, u, S = (A·v^u)^b, K, M1 check, M2) + AES-256-GCM key",
            Construction::Sec1 => "ESP-IDF security 1 device: X25519 key pair + shared secret, SHA-256(PoP), CTR-DRBG, AES-256-CTR verify",
            Construction::P256Ecdh => "P-256 ECDH: key pair, peer key check, shared secret (reference)",
            Construction::MulFreshG => "one P-256 k·G, group and comb table of G rebuilt per call (zpair-mbedtls today)",
            Construction::MulKeptG => "one P-256 k·G, comb table of G kept across calls",
            Construction::MulVar => "one P-256 k·P, variable P (read + validated)",
        }
    }

    /// The construction with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// A fresh fixture.
    pub fn fixture(self) -> Result<Box<dyn Fixture>, String> {
        Ok(match self {
            Construction::Zpair => Box::new(ZpairFixture::new(MbedTls::os())?),
            Construction::ZpairNoPrecompute => {
                Box::new(ZpairNpFixture(ZpairFixture::new(RefusePrecompute::new())?))
            }
            Construction::ZpairGTable => {
                // SAFETY: no arguments; builds the kept table once, before any measurement.
                rc("p256 kept-G warm-up", unsafe { ffi::zb_p256mul_kept_warm() })?;
                Box::new(ZpairGtFixture(ZpairFixture::new(KeptGTable::new())?))
            }
            Construction::Sec2 => Box::new(Sec2Fixture::new()?),
            Construction::Sec1 => Box::new(Sec1Fixture::new()?),
            Construction::P256Ecdh => Box::new(EcdhFixture),
            Construction::MulFreshG | Construction::MulKeptG | Construction::MulVar => {
                Box::new(MulFixture::new(self)?)
            }
        })
    }
}

/// A repeatable handshake.
pub trait Fixture {
    /// Runs one whole handshake, checks that both sides agree, and returns the time the
    /// device's steps took.
    fn run(&mut self) -> Result<Duration, String>;
}

fn rc(what: &str, rc: core::ffi::c_int) -> Result<(), String> {
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("{what} failed: {rc} (-0x{:x})", -rc))
    }
}

// ---------------------------------------------------------------------------------------
// zpair
// ---------------------------------------------------------------------------------------

/// The device's two steps, as the counted symbols.
#[no_mangle]
#[inline(never)]
pub fn zbdev_zpair_request(
    s: &mut DeviceSession<MbedTls<OsEntropy>>,
    packet: &[u8],
    out: &mut [u8],
) -> Result<usize, SessionError> {
    s.handle_pair_request(packet, out)
}

/// See [`zbdev_zpair_request`].
#[no_mangle]
#[inline(never)]
pub fn zbdev_zpair_confirm(
    s: &mut DeviceSession<MbedTls<OsEntropy>>,
    packet: &[u8],
    out: &mut [u8],
) -> Result<Option<usize>, SessionError> {
    s.handle_pair_confirm(packet, out)
}

/// The device's steps without the precomputation.
#[no_mangle]
#[inline(never)]
pub fn zbdev_zpairnp_request(
    s: &mut DeviceSession<RefusePrecompute>,
    packet: &[u8],
    out: &mut [u8],
) -> Result<usize, SessionError> {
    s.handle_pair_request(packet, out)
}

/// See [`zbdev_zpairnp_request`].
#[no_mangle]
#[inline(never)]
pub fn zbdev_zpairnp_confirm(
    s: &mut DeviceSession<RefusePrecompute>,
    packet: &[u8],
    out: &mut [u8],
) -> Result<Option<usize>, SessionError> {
    s.handle_pair_confirm(packet, out)
}

/// The device's steps with G's comb table kept.
#[no_mangle]
#[inline(never)]
pub fn zbdev_zpairgt_request(
    s: &mut DeviceSession<KeptGTable>,
    packet: &[u8],
    out: &mut [u8],
) -> Result<usize, SessionError> {
    s.handle_pair_request(packet, out)
}

/// See [`zbdev_zpairgt_request`].
#[no_mangle]
#[inline(never)]
pub fn zbdev_zpairgt_confirm(
    s: &mut DeviceSession<KeptGTable>,
    packet: &[u8],
    out: &mut [u8],
) -> Result<Option<usize>, SessionError> {
    s.handle_pair_confirm(packet, out)
}

/// The mbedTLS provider, except that `k*G` uses one P-256 group kept across calls, so that
/// mbedTLS builds the comb table of G once (as mbedTLS >= 3.1 ships it precomputed in ROM)
/// instead of in every call. Same constant-time `mbedtls_ecp_mul` with coordinate blinding.
pub struct KeptGTable {
    inner: MbedTls<OsEntropy>,
}

impl KeptGTable {
    /// The provider.
    pub fn new() -> Self {
        KeptGTable { inner: MbedTls::os() }
    }
}

impl Default for KeptGTable {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! delegate_crypto {
    () => {
        fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
            self.inner.fill_random(out)
        }
        fn sha256(&mut self, parts: &[&[u8]]) -> [u8; SHA256_LEN] {
            self.inner.sha256(parts)
        }
        fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; SHA256_LEN] {
            self.inner.hmac_sha256(key, parts)
        }
        fn hkdf_sha256(&mut self, salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) -> Result<(), CryptoError> {
            self.inner.hkdf_sha256(salt, ikm, info, okm)
        }
        fn pbkdf2_hmac_sha256(&mut self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> Result<(), CryptoError> {
            self.inner.pbkdf2_hmac_sha256(password, salt, iterations, out)
        }
        fn p256_add(&mut self, a: &Point, b: &Point) -> Result<Point, CryptoError> {
            self.inner.p256_add(a, b)
        }
        fn p256_random_scalar(&mut self) -> Result<Scalar, CryptoError> {
            self.inner.p256_random_scalar()
        }
        fn p256_reduce(&mut self, wide: &[u8]) -> Result<Scalar, CryptoError> {
            self.inner.p256_reduce(wide)
        }
        fn aes128_ccm_seal(
            &mut self,
            key: &[u8; AES128_KEY_LEN],
            nonce: &[u8; CCM_NONCE_LEN],
            aad: &[u8],
            buf: &mut [u8],
            tag: &mut [u8; CCM_TAG_LEN],
        ) -> Result<(), CryptoError> {
            self.inner.aes128_ccm_seal(key, nonce, aad, buf, tag)
        }
        fn aes128_ccm_open(
            &mut self,
            key: &[u8; AES128_KEY_LEN],
            nonce: &[u8; CCM_NONCE_LEN],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; CCM_TAG_LEN],
        ) -> Result<(), CryptoError> {
            self.inner.aes128_ccm_open(key, nonce, aad, buf, tag)
        }
    };
}

impl Crypto for KeptGTable {
    delegate_crypto!();
    fn p256_mul(&mut self, k: &Scalar, p: Option<&Point>) -> Result<Point, CryptoError> {
        match p {
            Some(_) => self.inner.p256_mul(k, p),
            None => {
                let mut out = [0u8; P256_POINT_LEN];
                // SAFETY: `k` is 32 readable bytes, `out` 65 writable bytes.
                let r = unsafe { ffi::zbdev_p256mul_kept_g(k.as_ptr(), out.as_mut_ptr()) };
                if r == 0 {
                    Ok(out)
                } else {
                    Err(CryptoError::Backend(r))
                }
            }
        }
    }
}

/// The mbedTLS provider, except that it refuses its first point multiplication: the first of
/// `DeviceSession::new`'s precomputation, which then gives up. The session then computes `w0*M`
/// and `w0*N` in every handshake, which is exactly zpair's cost before the precomputation
/// existed.
pub struct RefusePrecompute {
    inner: MbedTls<OsEntropy>,
    refuse: u8,
}

impl RefusePrecompute {
    /// A provider that refuses its first multiplication.
    pub fn new() -> Self {
        RefusePrecompute { inner: MbedTls::os(), refuse: 1 }
    }
}

impl Default for RefusePrecompute {
    fn default() -> Self {
        Self::new()
    }
}

impl Crypto for RefusePrecompute {
    delegate_crypto!();
    fn p256_mul(&mut self, k: &Scalar, p: Option<&Point>) -> Result<Point, CryptoError> {
        if self.refuse > 0 {
            self.refuse -= 1;
            return Err(CryptoError::Backend(-1));
        }
        self.inner.p256_mul(k, p)
    }
}

type Step<C> = fn(&mut DeviceSession<C>, &[u8], &mut [u8]) -> Result<usize, SessionError>;
type ConfirmStep<C> = fn(&mut DeviceSession<C>, &[u8], &mut [u8]) -> Result<Option<usize>, SessionError>;

/// zpair's device session against an app session (mode BLE, no embedded record: the
/// handshake alone, like the baselines).
pub struct ZpairFixture<C: Crypto> {
    device: DeviceSession<C>,
    secrets: Secrets,
    app: AppSession<MbedTls<OsEntropy>>,
}

impl<C: Crypto> ZpairFixture<C> {
    fn new(device_crypto: C) -> Result<Self, String> {
        let mut c = MbedTls::os();
        let code = SetupCode::new(SETUP_CODE).map_err(|e| format!("{e:?}"))?;
        let secrets = Secrets::for_setup_code(&mut c, &code, DEVICE).map_err(|e| format!("{e}"))?;
        let verifier: Verifier = secrets.verifier(&mut c).map_err(|e| format!("{e}"))?;
        Ok(ZpairFixture {
            device: DeviceSession::new(device_crypto, verifier, DEVICE),
            secrets,
            app: AppSession::new(MbedTls::os()),
        })
    }

    fn run_with(&mut self, request: Step<C>, confirm: ConfirmStep<C>) -> Result<Duration, String> {
        let mut buf = [0u8; 128];
        let mut resp = [0u8; 128];
        let mut plain = [0u8; 64];
        self.device.reset();
        let n = self.app.start(&self.secrets, DEVICE, Mode::Ble, &mut buf).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let m = request(&mut self.device, &buf[..n], &mut resp).map_err(|e| e.to_string())?;
        let mut spent = t0.elapsed();
        let k = self.app.handle_pair_response(&resp[..m], None, &mut buf).map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        let first = confirm(&mut self.device, &buf[..k], &mut plain).map_err(|e| e.to_string())?;
        spent += t1.elapsed();
        if first.is_some() || self.device.phase() != Phase::Established {
            return Err("zpair handshake did not establish the session".into());
        }
        Ok(spent)
    }
}

impl Fixture for ZpairFixture<MbedTls<OsEntropy>> {
    fn run(&mut self) -> Result<Duration, String> {
        self.run_with(zbdev_zpair_request, zbdev_zpair_confirm)
    }
}

struct ZpairNpFixture(ZpairFixture<RefusePrecompute>);

struct ZpairGtFixture(ZpairFixture<KeptGTable>);

impl Fixture for ZpairGtFixture {
    fn run(&mut self) -> Result<Duration, String> {
        self.0.run_with(zbdev_zpairgt_request, zbdev_zpairgt_confirm)
    }
}

impl Fixture for ZpairNpFixture {
    fn run(&mut self) -> Result<Duration, String> {
        self.0.run_with(zbdev_zpairnp_request, zbdev_zpairnp_confirm)
    }
}

// ---------------------------------------------------------------------------------------
// ESP-IDF security 2
// ---------------------------------------------------------------------------------------

struct Sec2Fixture {
    device: *mut ffi::Sec2Device,
}

impl Sec2Fixture {
    fn new() -> Result<Self, String> {
        let mut salt = [0u8; ffi::SEC2_SALT_LEN];
        let mut verifier = [0u8; ffi::SEC2_KEY_LEN];
        // SAFETY: pointers and lengths describe live buffers of the sizes the C side expects.
        rc("sec2 verifier", unsafe {
            ffi::zb_sec2_make_verifier(
                SEC2_USER.as_ptr(),
                SEC2_USER.len(),
                SEC2_PASS.as_ptr(),
                SEC2_PASS.len(),
                salt.as_mut_ptr(),
                verifier.as_mut_ptr(),
            )
        })?;
        // SAFETY: both arrays have the sizes the C side reads.
        let device = unsafe { ffi::zb_sec2_device_new(salt.as_ptr(), verifier.as_ptr()) };
        if device.is_null() {
            return Err("sec2 device allocation failed".into());
        }
        Ok(Sec2Fixture { device })
    }
}

impl Drop for Sec2Fixture {
    fn drop(&mut self) {
        // SAFETY: allocated by zb_sec2_device_new, freed once.
        unsafe { ffi::zb_sec2_device_free(self.device) }
    }
}

impl Fixture for Sec2Fixture {
    fn run(&mut self) -> Result<Duration, String> {
        // SAFETY (whole block): every pointer is a live buffer of the size the C function
        // documents, or an object allocated by its constructor and freed once.
        unsafe {
            let client = ffi::zb_sec2_client_new(SEC2_USER.as_ptr(), SEC2_USER.len(), SEC2_PASS.as_ptr(), SEC2_PASS.len());
            if client.is_null() {
                return Err("sec2 client allocation failed".into());
            }
            let result = (|| {
                let mut a = [0u8; ffi::SEC2_KEY_LEN];
                let mut b = [0u8; ffi::SEC2_KEY_LEN];
                let mut salt = [0u8; ffi::SEC2_SALT_LEN];
                let mut m1 = [0u8; ffi::SEC2_PROOF_LEN];
                let mut m2 = [0u8; ffi::SEC2_PROOF_LEN];
                let mut nonce = [0u8; ffi::SEC2_NONCE_LEN];
                rc("sec2 client start", ffi::zb_sec2_client_start(client, a.as_mut_ptr()))?;
                let t0 = Instant::now();
                rc("sec2 cmd0", ffi::zbdev_sec2_cmd0(self.device, SEC2_USER.as_ptr(), SEC2_USER.len(), a.as_ptr(), b.as_mut_ptr(), salt.as_mut_ptr()))?;
                let mut spent = t0.elapsed();
                rc("sec2 client finish", ffi::zb_sec2_client_finish(client, salt.as_ptr(), b.as_ptr(), m1.as_mut_ptr()))?;
                let t1 = Instant::now();
                rc("sec2 cmd1", ffi::zbdev_sec2_cmd1(self.device, m1.as_ptr(), m2.as_mut_ptr(), nonce.as_mut_ptr()))?;
                spent += t1.elapsed();
                rc("sec2 client verify", ffi::zb_sec2_client_verify(client, m2.as_ptr()))?;
                Ok(spent)
            })();
            ffi::zb_sec2_client_free(client);
            result
        }
    }
}

// ---------------------------------------------------------------------------------------
// ESP-IDF security 1
// ---------------------------------------------------------------------------------------

struct Sec1Fixture {
    device: *mut ffi::Sec1Device,
}

impl Sec1Fixture {
    fn new() -> Result<Self, String> {
        // SAFETY: a plain constructor.
        let device = unsafe { ffi::zb_sec1_device_new() };
        if device.is_null() {
            return Err("sec1 device allocation failed".into());
        }
        Ok(Sec1Fixture { device })
    }
}

impl Drop for Sec1Fixture {
    fn drop(&mut self) {
        // SAFETY: allocated by zb_sec1_device_new, freed once.
        unsafe { ffi::zb_sec1_device_free(self.device) }
    }
}

impl Fixture for Sec1Fixture {
    fn run(&mut self) -> Result<Duration, String> {
        // SAFETY (whole block): as in the security 2 fixture.
        unsafe {
            let client = ffi::zb_sec1_client_new();
            if client.is_null() {
                return Err("sec1 client allocation failed".into());
            }
            let result = (|| {
                let mut cpub = [0u8; ffi::SEC1_KEY_LEN];
                let mut dpub = [0u8; ffi::SEC1_KEY_LEN];
                let mut drand = [0u8; ffi::SEC1_RAND_LEN];
                let mut cver = [0u8; ffi::SEC1_KEY_LEN];
                let mut dver = [0u8; ffi::SEC1_KEY_LEN];
                rc("sec1 client start", ffi::zb_sec1_client_start(client, cpub.as_mut_ptr()))?;
                let t0 = Instant::now();
                rc("sec1 cmd0", ffi::zbdev_sec1_cmd0(self.device, cpub.as_ptr(), SEC1_POP.as_ptr(), SEC1_POP.len(), dpub.as_mut_ptr(), drand.as_mut_ptr()))?;
                let mut spent = t0.elapsed();
                rc("sec1 client finish", ffi::zb_sec1_client_finish(client, dpub.as_ptr(), drand.as_ptr(), SEC1_POP.as_ptr(), SEC1_POP.len(), cver.as_mut_ptr()))?;
                let t1 = Instant::now();
                rc("sec1 cmd1", ffi::zbdev_sec1_cmd1(self.device, cver.as_ptr(), dver.as_mut_ptr()))?;
                spent += t1.elapsed();
                rc("sec1 client verify", ffi::zb_sec1_client_verify(client, dver.as_ptr()))?;
                Ok(spent)
            })();
            ffi::zb_sec1_client_free(client);
            result
        }
    }
}

// ---------------------------------------------------------------------------------------
// P-256
// ---------------------------------------------------------------------------------------

struct EcdhFixture;

impl Fixture for EcdhFixture {
    fn run(&mut self) -> Result<Duration, String> {
        let mut peer_priv = [0u8; 32];
        let mut peer_pub = [0u8; ffi::P256_POINT_LEN];
        let mut dev_pub = [0u8; ffi::P256_POINT_LEN];
        let mut dev_shared = [0u8; 32];
        let mut peer_shared = [0u8; 32];
        // SAFETY: live buffers of the documented sizes.
        unsafe {
            rc("p256 peer key", ffi::zb_p256_keypair(peer_priv.as_mut_ptr(), peer_pub.as_mut_ptr()))?;
            let t0 = Instant::now();
            rc("p256 ecdh", ffi::zbdev_p256_ecdh(peer_pub.as_ptr(), dev_pub.as_mut_ptr(), dev_shared.as_mut_ptr()))?;
            let spent = t0.elapsed();
            rc("p256 peer shared", ffi::zb_p256_shared(peer_priv.as_ptr(), dev_pub.as_ptr(), peer_shared.as_mut_ptr()))?;
            if dev_shared != peer_shared {
                return Err("P-256 ECDH: the two sides disagree".into());
            }
            Ok(spent)
        }
    }
}

struct MulFixture {
    which: Construction,
    crypto: MbedTls<OsEntropy>,
    point: Point,
}

impl MulFixture {
    fn new(which: Construction) -> Result<Self, String> {
        let mut crypto = MbedTls::os();
        let k = crypto.p256_random_scalar().map_err(|e| e.to_string())?;
        let point = crypto.p256_mul(&k, None).map_err(|e| e.to_string())?;
        if which == Construction::MulKeptG {
            // SAFETY: no arguments.
            rc("p256 kept-G warm-up", unsafe { ffi::zb_p256mul_kept_warm() })?;
        }
        Ok(MulFixture { which, crypto, point })
    }
}

impl Fixture for MulFixture {
    fn run(&mut self) -> Result<Duration, String> {
        let k = self.crypto.p256_random_scalar().map_err(|e| e.to_string())?;
        let mut out = [0u8; ffi::P256_POINT_LEN];
        let t0 = Instant::now();
        // SAFETY: live buffers of the documented sizes.
        let r = unsafe {
            match self.which {
                Construction::MulFreshG => ffi::zbdev_p256mul_fresh_g(k.as_ptr(), out.as_mut_ptr()),
                Construction::MulKeptG => ffi::zbdev_p256mul_kept_g(k.as_ptr(), out.as_mut_ptr()),
                _ => ffi::zbdev_p256mul_var(k.as_ptr(), self.point.as_ptr(), out.as_mut_ptr()),
            }
        };
        let spent = t0.elapsed();
        rc(self.which.name(), r)?;
        // Cross-check with zpair's provider.
        let base = if self.which == Construction::MulVar { Some(&self.point) } else { None };
        let expect = self.crypto.p256_mul(&k, base).map_err(|e| e.to_string())?;
        if expect != out {
            return Err(format!("{}: result differs from zpair-mbedtls", self.which.name()));
        }
        Ok(spent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_completes_a_checked_handshake() {
        for c in Construction::ALL {
            let mut f = c.fixture().unwrap();
            for _ in 0..2 {
                f.run().unwrap_or_else(|e| panic!("{}: {e}", c.name()));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for c in Construction::ALL {
            assert_eq!(Construction::from_name(c.name()), Some(c));
            assert!(c.callgrind_pattern().starts_with("zbdev_"));
        }
        assert_eq!(Construction::from_name("nope"), None);
    }

    #[test]
    fn the_refusing_provider_disables_the_precomputation() {
        let mut c = MbedTls::os();
        let code = SetupCode::new(SETUP_CODE).unwrap();
        let mut v = Verifier::for_setup_code(&mut c, &code, DEVICE).unwrap();
        let mut refusing = RefusePrecompute::new();
        assert!(v.precompute(&mut refusing).is_err());
        assert!(!v.is_precomputed());
        v.precompute(&mut refusing).unwrap();
        assert!(v.is_precomputed());
    }
}
