//! SPAKE2+ against RFC 9383 Appendix C (P256-SHA256-HKDF-SHA256-HMAC-SHA256) through the
//! mbedTLS provider, plus failure cases and zpair's registration parameters.
//!
//! The fixed ephemeral scalars x and y of the vector are injected by a test provider that wraps
//! `MbedTls` and answers `p256_random_scalar` from a queue; it also records what the protocol
//! hashes (TT) and what it derives keys from (K_main), so that every intermediate value of the
//! vector is checked without any test-only API in the library.

use std::cell::RefCell;
use std::rc::Rc;

use zpair_core::crypto::{
    Crypto, CryptoError, Point, Scalar, AES128_KEY_LEN, CCM_NONCE_LEN, CCM_TAG_LEN, SHA256_LEN,
};
use zpair_core::spake2plus::{
    Identities, Prover, Secrets, Spake2pError, Verifier, VerifierKeys, M, PBKDF2_ITERATIONS,
};
use zpair_core::types::{DeviceId, SetupCode};
use zpair_mbedtls::{MbedTls, OsEntropy};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn arr<const L: usize>(s: &str) -> [u8; L] {
    hex(s).try_into().unwrap()
}

#[derive(Default)]
struct Log {
    hashed: Vec<Vec<u8>>,
    hkdf_ikm: Vec<Vec<u8>>,
    hkdf_okm: Vec<Vec<u8>>,
}

/// `MbedTls` with scripted ephemeral scalars and a log of hash / KDF inputs.
struct Scripted {
    inner: MbedTls<OsEntropy>,
    scalars: Vec<Scalar>,
    log: Rc<RefCell<Log>>,
}

impl Scripted {
    fn new(scalars: &[Scalar]) -> Self {
        Scripted { inner: MbedTls::os(), scalars: scalars.to_vec(), log: Rc::default() }
    }
}

impl Crypto for Scripted {
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.fill_random(out)
    }
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; SHA256_LEN] {
        self.log.borrow_mut().hashed.push(parts.concat());
        self.inner.sha256(parts)
    }
    fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; SHA256_LEN] {
        self.inner.hmac_sha256(key, parts)
    }
    fn hkdf_sha256(
        &mut self,
        salt: &[u8],
        ikm: &[u8],
        info: &[u8],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        let r = self.inner.hkdf_sha256(salt, ikm, info, okm);
        let mut log = self.log.borrow_mut();
        log.hkdf_ikm.push(ikm.to_vec());
        log.hkdf_okm.push(okm.to_vec());
        r
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
        self.inner.p256_mul(k, p)
    }
    fn p256_add(&mut self, a: &Point, b: &Point) -> Result<Point, CryptoError> {
        self.inner.p256_add(a, b)
    }
    fn p256_random_scalar(&mut self) -> Result<Scalar, CryptoError> {
        assert!(!self.scalars.is_empty(), "the protocol drew more scalars than scripted");
        Ok(self.scalars.remove(0))
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
}

// RFC 9383 Appendix C, SPAKE2+-P256-SHA256-HKDF-SHA256-HMAC-SHA256.
const CONTEXT: &[u8] = b"SPAKE2+-P256-SHA256-HKDF-SHA256-HMAC-SHA256 Test Vectors";
const ID_PROVER: &[u8] = b"client";
const ID_VERIFIER: &[u8] = b"server";
const W0: &str = "bb8e1bbcf3c48f62c08db243652ae55d3e5586053fca77102994f23ad95491b3";
const W1: &str = "7e945f34d78785b8a3ef44d0df5a1a97d6b3b460409a345ca7830387a74b1dba";
const L: &str = "04eb7c9db3d9a9eb1f8adab81b5794c1f13ae3e225efbe91ea487425854c7fc00f00bfedcbd09b2400142d40a14f2064ef31dfaa903b91d1faea7093d835966efd";
const X: &str = "d1232c8e8693d02368976c174e2088851b8365d0d79a9eee709c6a05a2fad539";
const SHARE_P: &str = "04ef3bd051bf78a2234ec0df197f7828060fe9856503579bb1733009042c15c0c1de127727f418b5966afadfdd95a6e4591d171056b333dab97a79c7193e341727";
const Y: &str = "717a72348a182085109c8d3917d6c43d59b224dc6a7fc4f0483232fa6516d8b3";
const SHARE_V: &str = "04c0f65da0d11927bdf5d560c69e1d7d939a05b0e88291887d679fcadea75810fb5cc1ca7494db39e82ff2f50665255d76173e09986ab46742c798a9a68437b048";
const Z: &str = "04bbfce7dd7f277819c8da21544afb7964705569bdf12fb92aa388059408d50091a0c5f1d3127f56813b5337f9e4e67e2ca633117a4fbd559946ab474356c41839";
const V: &str = "0458bf27c6bca011c9ce1930e8984a797a3419797b936629a5a937cf2f11c8b9514b82b993da8a46e664f23db7c01edc87faa530db01c2ee405230b18997f16b68";
const TT: &str = "
    38000000000000005350414b45322b2d503235362d5348413235362d484b44462d5348413235362d484d41432d
    534841323536205465737420566563746f72730600000000000000636c69656e74060000000000000073657276
    6572410000000000000004886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f5ff3
    55163e43ce224e0b0e65ff02ac8e5c7be09419c785e0ca547d55a12e2d20410000000000000004d8bbd6c639c6
    2937b04d997f38c3770719c629d7014d49a24b4f98baa1292b4907d60aa6bfade45008a636337f5168c64d9bd3
    6034808cd564490b1e656edbe7410000000000000004ef3bd051bf78a2234ec0df197f7828060fe9856503579b
    b1733009042c15c0c1de127727f418b5966afadfdd95a6e4591d171056b333dab97a79c7193e34172741000000
    0000000004c0f65da0d11927bdf5d560c69e1d7d939a05b0e88291887d679fcadea75810fb5cc1ca7494db39e8
    2ff2f50665255d76173e09986ab46742c798a9a68437b048410000000000000004bbfce7dd7f277819c8da2154
    4afb7964705569bdf12fb92aa388059408d50091a0c5f1d3127f56813b5337f9e4e67e2ca633117a4fbd559946
    ab474356c4183941000000000000000458bf27c6bca011c9ce1930e8984a797a3419797b936629a5a937cf2f11
    c8b9514b82b993da8a46e664f23db7c01edc87faa530db01c2ee405230b18997f16b6820000000000000
    00bb8e1bbcf3c48f62c08db243652ae55d3e5586053fca77102994f23ad95491b3";
const K_MAIN: &str = "4c59e1ccf2cfb961aa31bd9434478a1089b56cd11542f53d3576fb6c2a438a29";
const K_CONFIRM_P: &str = "871ae3f7b78445e34438fb284504240239031c39d80ac23eb5ab9be5ad6db58a";
const K_CONFIRM_V: &str = "ccd53c7c1fa37b64a462b40db8be101cedcf838950162902054e644b400f1680";
const CONFIRM_P: &str = "926cc713504b9b4d76c9162ded04b5493e89109f6d89462cd33adc46fda27527";
const CONFIRM_V: &str = "9747bcc4f8fe9f63defee53ac9b07876d907d55047e6ff2def2e7529089d3e68";
const K_SHARED: &str = "0c5f8ccd1413423a54f6c1fb26ff01534a87f893779c6e68666d772bfd91f3e7";

fn rfc_ids() -> Identities<'static> {
    Identities { context: CONTEXT, id_prover: ID_PROVER, id_verifier: ID_VERIFIER }
}

fn rfc_secrets() -> Secrets {
    Secrets::from_scalars(arr(W0), arr(W1)).unwrap()
}

/// Checks the log of one side's key schedule against the vector.
fn check_schedule(log: &Log) {
    let tt = log.hashed.last().expect("TT hashed");
    assert_eq!(tt, &hex(TT), "TT");
    // TT embeds Z and V at fixed offsets after the 8-byte length prefixes.
    let z_at = 8 + CONTEXT.len() + 8 + ID_PROVER.len() + 8 + ID_VERIFIER.len() + 4 * (8 + 65) + 8;
    assert_eq!(&tt[z_at..z_at + 65], &hex(Z)[..], "Z");
    assert_eq!(&tt[z_at + 65 + 8..z_at + 130 + 8], &hex(V)[..], "V");
    assert_eq!(log.hkdf_ikm.len(), 2);
    for ikm in &log.hkdf_ikm {
        assert_eq!(ikm, &hex(K_MAIN), "K_main");
    }
    let confirm_keys = &log.hkdf_okm[0];
    assert_eq!(&confirm_keys[..32], &hex(K_CONFIRM_P)[..], "K_confirmP");
    assert_eq!(&confirm_keys[32..], &hex(K_CONFIRM_V)[..], "K_confirmV");
    assert_eq!(&log.hkdf_okm[1], &hex(K_SHARED), "K_shared");
}

#[test]
fn rfc9383_appendix_c_p256_sha256() {
    // Registration: L = w1*G.
    let mut reg = Scripted::new(&[]);
    let verifier = rfc_secrets().verifier(&mut reg).unwrap();
    assert_eq!(&verifier.l()[..], &hex(L)[..], "L");
    assert_eq!(&verifier.to_bytes()[..32], &hex(W0)[..]);

    // Prover: shareP = x*G + w0*M.
    let mut app = Scripted::new(&[arr(X)]);
    let prover = Prover::start(&mut app, &rfc_secrets()).unwrap();
    assert_eq!(&prover.share()[..], &hex(SHARE_P)[..], "shareP");

    // Verifier: shareV = y*G + w0*N, confirmV.
    let mut dev = Scripted::new(&[arr(Y)]);
    let vk = VerifierKeys::respond(&mut dev, &verifier, &rfc_ids(), prover.share()).unwrap();
    assert_eq!(&vk.share()[..], &hex(SHARE_V)[..], "shareV");
    assert_eq!(&vk.confirm_v()[..], &hex(CONFIRM_V)[..], "confirmV");
    check_schedule(&dev.log.borrow());

    // Prover: Z, V, confirmP; checks confirmV.
    let pk = prover.finish(&mut app, &rfc_ids(), vk.share()).unwrap();
    assert_eq!(&pk.confirm_p()[..], &hex(CONFIRM_P)[..], "confirmP");
    check_schedule(&app.log.borrow());
    let confirm_p = *pk.confirm_p();
    let app_key = pk.verify(vk.confirm_v()).unwrap();
    let dev_key = vk.verify(&confirm_p).unwrap();
    assert_eq!(&app_key.expose()[..], &hex(K_SHARED)[..], "K_shared (prover)");
    assert_eq!(&dev_key.expose()[..], &hex(K_SHARED)[..], "K_shared (verifier)");
}

#[test]
fn the_transcript_binds_context_and_identities() {
    for ids in [
        Identities { context: b"other context", ..rfc_ids() },
        Identities { id_prover: b"", ..rfc_ids() },
        Identities { id_verifier: b"server2", ..rfc_ids() },
    ] {
        let mut c = MbedTls::os();
        let verifier = rfc_secrets().verifier(&mut c).unwrap();
        let prover = Prover::start(&mut c, &rfc_secrets()).unwrap();
        let vk = VerifierKeys::respond(&mut c, &verifier, &rfc_ids(), prover.share()).unwrap();
        let pk = prover.finish(&mut c, &ids, vk.share()).unwrap();
        let confirm_p = *pk.confirm_p();
        assert_eq!(pk.verify(vk.confirm_v()).unwrap_err(), Spake2pError::ConfirmationFailed);
        assert_eq!(vk.verify(&confirm_p).unwrap_err(), Spake2pError::ConfirmationFailed);
    }
}

#[test]
fn wrong_password_fails_both_confirmations() {
    let mut c = MbedTls::os();
    let device = DeviceId(42);
    let right = SetupCode::new(20_202_021).unwrap();
    let wrong = SetupCode::new(20_202_022).unwrap();
    let verifier = Verifier::for_setup_code(&mut c, &right, device).unwrap();
    let ids = Identities { context: b"ctx", id_prover: b"", id_verifier: b"dev" };

    let secrets = Secrets::for_setup_code(&mut c, &wrong, device).unwrap();
    let prover = Prover::start(&mut c, &secrets).unwrap();
    let vk = VerifierKeys::respond(&mut c, &verifier, &ids, prover.share()).unwrap();
    let pk = prover.finish(&mut c, &ids, vk.share()).unwrap();
    let confirm_p = *pk.confirm_p();
    // The app detects the bad confirmV ...
    assert_eq!(pk.verify(vk.confirm_v()).unwrap_err(), Spake2pError::ConfirmationFailed);
    // ... and the device the bad confirmP, should the app send it anyway.
    assert_eq!(vk.verify(&confirm_p).unwrap_err(), Spake2pError::ConfirmationFailed);

    // The right code succeeds with random x and y, and both get the same key.
    let secrets = Secrets::for_setup_code(&mut c, &right, device).unwrap();
    let prover = Prover::start(&mut c, &secrets).unwrap();
    let vk = VerifierKeys::respond(&mut c, &verifier, &ids, prover.share()).unwrap();
    let pk = prover.finish(&mut c, &ids, vk.share()).unwrap();
    let confirm_p = *pk.confirm_p();
    let a = pk.verify(vk.confirm_v()).unwrap();
    let d = vk.verify(&confirm_p).unwrap();
    assert_eq!(a.expose(), d.expose());
}

fn bad_points(c: &mut MbedTls<OsEntropy>, w0: &Scalar, base: &Point) -> Vec<(&'static str, Point)> {
    let good: Point = arr(SHARE_P);
    let mut off_curve = good;
    off_curve[64] ^= 1;
    let mut compressed = good;
    compressed[0] = 0x03;
    let mut big_x = [0xff; 65];
    big_x[0] = 4;
    // share = w0*base makes share - w0*base the identity.
    let cancel = c.p256_mul(w0, Some(base)).unwrap();
    vec![
        ("off curve", off_curve),
        ("compressed tag", compressed),
        ("all zero (identity encoding)", [0; 65]),
        ("x >= p", big_x),
        ("w0*M / w0*N", cancel),
    ]
}

#[test]
fn invalid_and_identity_shares_are_rejected() {
    let mut c = MbedTls::os();
    let verifier = rfc_secrets().verifier(&mut c).unwrap();
    for (what, share_p) in bad_points(&mut c, &arr(W0), &M) {
        assert_eq!(
            VerifierKeys::respond(&mut c, &verifier, &rfc_ids(), &share_p).unwrap_err(),
            Spake2pError::InvalidShare,
            "shareP {what}"
        );
    }
    for (what, share_v) in bad_points(&mut c, &arr(W0), &zpair_core::spake2plus::N) {
        let prover = Prover::start(&mut c, &rfc_secrets()).unwrap();
        assert_eq!(
            prover.finish(&mut c, &rfc_ids(), &share_v).unwrap_err(),
            Spake2pError::InvalidShare,
            "shareV {what}"
        );
    }
}

#[test]
fn a_corrupt_registration_record_is_not_blamed_on_the_peer() {
    let mut c = MbedTls::os();
    let mut bytes = rfc_secrets().verifier(&mut c).unwrap().to_bytes();
    bytes[96] ^= 1; // L off the curve
    let verifier = Verifier::from_bytes(&bytes[..]).unwrap();
    let prover = Prover::start(&mut c, &rfc_secrets()).unwrap();
    assert_eq!(
        VerifierKeys::respond(&mut c, &verifier, &rfc_ids(), prover.share()).unwrap_err(),
        Spake2pError::Crypto(CryptoError::InvalidPoint)
    );
}

#[test]
fn zpair_registration_parameters() {
    // Independent computation (Python hashlib / cryptography) of
    // PBKDF2-HMAC-SHA256("20202021", "zpair/1 salt" || 0123456789abcdef, 1000, 80).
    let mut c = MbedTls::os();
    let code = SetupCode::new(20_202_021).unwrap();
    let device = DeviceId(0x0123_4567_89ab_cdef);
    assert_eq!(PBKDF2_ITERATIONS, 1000);
    let v = Verifier::for_setup_code(&mut c, &code, device).unwrap();
    let bytes = v.to_bytes();
    assert_eq!(
        &bytes[..32],
        &hex("5e15264221b7528b332eead93f9e0fbe9a3b185b012dd30f2e3ce289937ad26a")[..],
        "w0"
    );
    assert_eq!(
        &bytes[32..],
        &hex("04991e6b9063010e62b6a81037c88e865ec89c1c90a307f93752e94a081259b1cb0728f63c12f37c4dc5b2d377fa64d04ae93a3db7b5e4581a4b943f44d27e026e")[..],
        "L"
    );
    let w1: Scalar = arr("aab7a1f204ab77ababfa301cb7611a6fb99abed48053c8387ef64872b6cbdbe6");
    assert_eq!(&c.p256_mul(&w1, None).unwrap()[..], &bytes[32..]);

    // Round trip, and the salt binds the device id.
    assert_eq!(Verifier::from_bytes(&bytes[..]).unwrap(), v);
    let other = Verifier::for_setup_code(&mut c, &code, DeviceId(device.0 + 1)).unwrap();
    assert_ne!(other, v);
    assert_eq!(format!("{v:?}"), "Verifier(<redacted>)");
    let s = Secrets::for_setup_code(&mut c, &code, device).unwrap();
    assert_eq!(format!("{s:?}"), "Secrets(<redacted>)");
}
