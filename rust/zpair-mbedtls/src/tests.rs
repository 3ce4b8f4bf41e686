//! Known-answer and contract tests of the mbedTLS provider. Expected values come from the RFCs
//! cited, or (AES-CCM, reductions, 3*G) from an independent implementation (Python
//! `cryptography` / plain integer arithmetic).

extern crate std;

use super::*;
use std::vec::Vec;

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().unwrap()
}

fn provider() -> MbedTls<OsEntropy> {
    MbedTls::os()
}

const G: &str = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

#[test]
fn sha256_known_answers_and_parts() {
    let mut c = provider();
    let abc = hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(c.sha256(&[b"abc"]).as_slice(), abc.as_slice());
    assert_eq!(c.sha256(&[b"a", b"", b"bc"]).as_slice(), abc.as_slice());
    assert_eq!(
        c.sha256(&[]).as_slice(),
        hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").as_slice()
    );
}

#[test]
fn hmac_rfc4231() {
    let mut c = provider();
    // Test case 1.
    assert_eq!(
        c.hmac_sha256(&[0x0b; 20], &[b"Hi ", b"There"]).as_slice(),
        hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7").as_slice()
    );
    // Test case 2 (short key).
    assert_eq!(
        c.hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"]).as_slice(),
        hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843").as_slice()
    );
    // Test case 6 (key longer than a block).
    assert_eq!(
        c.hmac_sha256(&[0xaa; 131], &[b"Test Using Larger Than Block-Size Key - Hash Key First"])
            .as_slice(),
        hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54").as_slice()
    );
}

#[test]
fn hkdf_rfc5869() {
    let mut c = provider();
    let mut okm = [0u8; 42];
    let salt: Vec<u8> = (0u8..13).collect();
    let info: Vec<u8> = (0xf0u8..0xfa).collect();
    c.hkdf_sha256(&salt, &[0x0b; 22], &info, &mut okm).unwrap();
    assert_eq!(
        okm.as_slice(),
        hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
            .as_slice()
    );
    // Test case 3: empty salt and info.
    c.hkdf_sha256(&[], &[0x0b; 22], &[], &mut okm).unwrap();
    assert_eq!(
        okm.as_slice(),
        hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
            .as_slice()
    );
    let mut too_long = std::vec![0u8; 255 * 32 + 1];
    assert_eq!(c.hkdf_sha256(&[], b"k", &[], &mut too_long), Err(CryptoError::BadLength));
}

#[test]
fn pbkdf2_rfc7914() {
    let mut c = provider();
    let mut out = [0u8; 64];
    c.pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out).unwrap();
    assert_eq!(
        out.as_slice(),
        hex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783").as_slice()
    );
    assert_eq!(c.pbkdf2_hmac_sha256(b"p", b"s", 0, &mut out), Err(CryptoError::BadLength));
}

#[test]
fn p256_mul_generator_and_errors() {
    let mut c = provider();
    let g: Point = arr(G);
    let mut one = [0u8; 32];
    one[31] = 1;
    assert_eq!(c.p256_mul(&one, None).unwrap(), g);
    let mut three = [0u8; 32];
    three[31] = 3;
    let three_g: Point = arr("045ecbe4d1a6330a44c8f7ef951d4bf165e6c6b721efada985fb41661bc6e7fd6c8734640c4998ff7e374b06ce1a64a2ecd82ab036384fb83d9a79b127a27d5032");
    assert_eq!(c.p256_mul(&three, None).unwrap(), three_g);
    assert_eq!(c.p256_mul(&three, Some(&g)).unwrap(), three_g);
    // 3G = G + 2G, and G + G doubles.
    let mut two = [0u8; 32];
    two[31] = 2;
    let two_g = c.p256_mul(&two, None).unwrap();
    assert_eq!(c.p256_add(&g, &g).unwrap(), two_g);
    assert_eq!(c.p256_add(&g, &two_g).unwrap(), three_g);

    // Scalars: zero, n and above are refused.
    assert_eq!(c.p256_mul(&[0; 32], None), Err(CryptoError::InvalidScalar));
    assert_eq!(c.p256_mul(&arr(N), None), Err(CryptoError::InvalidScalar));
    assert_eq!(c.p256_mul(&[0xff; 32], None), Err(CryptoError::InvalidScalar));
    let mut n_minus_1: Scalar = arr(N);
    n_minus_1[31] -= 1;
    // (n-1)G = -G.
    assert_eq!(c.p256_mul(&n_minus_1, None).unwrap(), zpair_crypto::p256_negate(&g).unwrap());
}

#[test]
fn invalid_points_and_identity_are_rejected() {
    let mut c = provider();
    let g: Point = arr(G);
    let mut k = [0u8; 32];
    k[31] = 7;
    let mut off_curve = g;
    off_curve[64] ^= 1;
    let mut compressed = g;
    compressed[0] = 0x02;
    let zero = [0u8; 65];
    let mut x_too_big = [0xffu8; 65];
    x_too_big[0] = 4;
    for bad in [off_curve, compressed, zero, x_too_big] {
        assert_eq!(c.p256_check_point(&bad), Err(CryptoError::InvalidPoint));
        assert_eq!(c.p256_mul(&k, Some(&bad)), Err(CryptoError::InvalidPoint));
        assert_eq!(c.p256_add(&g, &bad), Err(CryptoError::InvalidPoint));
        assert_eq!(c.p256_add(&bad, &g), Err(CryptoError::InvalidPoint));
    }
    assert_eq!(c.p256_check_point(&g), Ok(()));
    // G + (-G) is the identity.
    let neg_g = zpair_crypto::p256_negate(&g).unwrap();
    assert_eq!(c.p256_add(&g, &neg_g), Err(CryptoError::InvalidPoint));
}

#[test]
fn random_scalars_are_in_range_and_differ() {
    let mut c = provider();
    let a = c.p256_random_scalar().unwrap();
    let b = c.p256_random_scalar().unwrap();
    assert_ne!(a, b);
    assert!(a.as_slice() < hex(N).as_slice() && a != [0; 32]);
    // Usable as a multiplier.
    c.p256_mul(&a, None).unwrap();
}

#[test]
fn entropy_source_is_pluggable_and_failures_propagate() {
    let mut calls = 0usize;
    let mut buf = [0u8; 5];
    let mut k = [0u8; 32];
    k[31] = 5;
    {
        let mut c = MbedTls::new(|out: &mut [u8]| {
            calls += 1;
            out.fill(0x42);
            Ok(())
        });
        c.fill_random(&mut buf).unwrap();
        assert_eq!(buf, [0x42; 5]);
        // 0x42.. is below n, so rejection sampling accepts it at once.
        assert_eq!(c.p256_random_scalar().unwrap(), [0x42; 32]);
        c.p256_mul(&k, None).unwrap();
    }
    assert!(calls >= 3, "blinding draws from the source too ({calls} calls)");

    let mut failing = MbedTls::new(|_: &mut [u8]| Err(CryptoError::Rng));
    assert_eq!(failing.p256_random_scalar(), Err(CryptoError::Rng));
    assert_eq!(failing.p256_mul(&k, None), Err(CryptoError::Rng));
    assert_eq!(failing.fill_random(&mut buf), Err(CryptoError::Rng));
    // Public-point addition needs no randomness.
    let g: Point = arr(G);
    failing.p256_add(&g, &g).unwrap();
}

#[test]
fn c_entropy_wraps_a_c_function() {
    unsafe extern "C" fn fake(dst: *mut c_void, len: usize) -> c_int {
        // SAFETY: the caller passes a writable buffer of `len` bytes.
        unsafe { core::ptr::write_bytes(dst.cast::<u8>(), 0x17, len) };
        0
    }
    unsafe extern "C" fn broken(_: *mut c_void, _: usize) -> c_int {
        -5
    }
    // SAFETY: `fake` and `broken` honour the contract (write within the buffer or not at all).
    let mut ok = MbedTls::new(unsafe { CEntropy::new(fake) });
    let mut buf = [0u8; 9];
    ok.fill_random(&mut buf).unwrap();
    assert_eq!(buf, [0x17; 9]);
    // SAFETY: as above.
    let mut bad = MbedTls::new(unsafe { CEntropy::new(broken) });
    assert_eq!(bad.fill_random(&mut buf), Err(CryptoError::Rng));
}

#[test]
fn reduce_mod_n() {
    let mut c = provider();
    assert_eq!(
        c.p256_reduce(&[0xff; 40]).unwrap().as_slice(),
        hex("fffffffe00000001431905529c0166cd22159165b6faae70f756a571fc632550").as_slice()
    );
    assert_eq!(
        c.p256_reduce(&[0xff; 64]).unwrap().as_slice(),
        hex("66e12d94f3d956202845b2392b6bec594699799c49bd6fa683244c95be79eea1").as_slice()
    );
    assert_eq!(c.p256_reduce(&hex(N)).unwrap(), [0; 32]);
    assert_eq!(c.p256_reduce(&[]).unwrap(), [0; 32]);
    assert_eq!(c.p256_reduce(&[1, 2]).unwrap()[30..], [1, 2]);
    assert_eq!(c.p256_reduce(&[0; 65]), Err(CryptoError::BadLength));
}

#[test]
fn aes_ccm_known_answer_round_trip_and_wipe() {
    let mut c = provider();
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    let nonce: [u8; 13] = core::array::from_fn(|i| 0x10 + i as u8);
    let aad = b"zpair aad";
    let pt = b"The quick brown fox jumps over the lazy dog";
    let expected = hex("28891561c92987b7d0792ae3407002a14cbc2d5915e2f35a4e6d75a5ebcaa5376d1fbfb240eaddba5b03c44b1969a297ec7c5339e14693b56713d7");
    let mut buf = pt.to_vec();
    let mut tag = [0u8; 16];
    c.aes128_ccm_seal(&key, &nonce, aad, &mut buf, &mut tag).unwrap();
    assert_eq!(buf.as_slice(), &expected[..pt.len()]);
    assert_eq!(tag.as_slice(), &expected[pt.len()..]);

    let mut opened = buf.clone();
    c.aes128_ccm_open(&key, &nonce, aad, &mut opened, &tag).unwrap();
    assert_eq!(opened.as_slice(), pt.as_slice());

    // Empty message.
    let mut empty_tag = [0u8; 16];
    c.aes128_ccm_seal(&key, &nonce, &[], &mut [], &mut empty_tag).unwrap();
    assert_eq!(empty_tag.as_slice(), hex("d5e7b9742adec972909274ecbe50c0c9").as_slice());

    // Tampering anywhere fails and wipes the buffer.
    let mut bad_tag = tag;
    bad_tag[0] ^= 1;
    let mut wiped = buf.clone();
    assert_eq!(
        c.aes128_ccm_open(&key, &nonce, aad, &mut wiped, &bad_tag),
        Err(CryptoError::AuthFailed)
    );
    assert!(wiped.iter().all(|&b| b == 0));
    let mut flipped = buf.clone();
    flipped[3] ^= 0x80;
    assert_eq!(
        c.aes128_ccm_open(&key, &nonce, aad, &mut flipped, &tag),
        Err(CryptoError::AuthFailed)
    );
    assert!(flipped.iter().all(|&b| b == 0));
    let mut other_aad = buf.clone();
    assert_eq!(
        c.aes128_ccm_open(&key, &nonce, b"zpair aaD", &mut other_aad, &tag),
        Err(CryptoError::AuthFailed)
    );

    let mut huge = std::vec![0u8; 0x1_0000];
    assert_eq!(
        c.aes128_ccm_seal(&key, &nonce, &[], &mut huge, &mut tag),
        Err(CryptoError::BadLength)
    );
}
