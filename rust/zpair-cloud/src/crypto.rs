//! The cloud's [`Crypto`] provider, in pure Rust (RustCrypto crates: `sha2`, `hmac`, `hkdf`,
//! `pbkdf2`, `aes` + `ccm`, `p256`), with the OS random source.
//!
//! Devices use mbedTLS (`zpair-mbedtls`); the cloud deliberately uses an independent
//! implementation, so the integration tests double as an interoperability check of the two.

use aes::Aes128;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U16};
use hmac::{Hmac, Mac};
use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::elliptic_curve::PrimeField;
use p256::{AffinePoint, EncodedPoint, FieldBytes, NonZeroScalar, ProjectivePoint, Scalar, U256};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;
use zpair_crypto::{Crypto, CryptoError, Point, Scalar as ScalarBytes};

type Aes128Ccm = ccm::Ccm<Aes128, U16, U13>;

/// Pure-Rust provider. Stateless and cheap to create: make one where needed.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostCrypto;

fn decode_point(p: &Point) -> Result<ProjectivePoint, CryptoError> {
    if p[0] != 0x04 {
        return Err(CryptoError::InvalidPoint);
    }
    let ep = EncodedPoint::from_bytes(&p[..]).map_err(|_| CryptoError::InvalidPoint)?;
    let affine: Option<AffinePoint> = AffinePoint::from_encoded_point(&ep).into();
    let pt = ProjectivePoint::from(affine.ok_or(CryptoError::InvalidPoint)?);
    if bool::from(pt.is_identity()) {
        return Err(CryptoError::InvalidPoint);
    }
    Ok(pt)
}

fn encode_point(pt: ProjectivePoint) -> Result<Point, CryptoError> {
    if bool::from(pt.is_identity()) {
        return Err(CryptoError::InvalidPoint);
    }
    let ep = pt.to_affine().to_encoded_point(false);
    ep.as_bytes().try_into().map_err(|_| CryptoError::InvalidPoint)
}

impl Crypto for HostCrypto {
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        OsRng.try_fill_bytes(out).map_err(|_| CryptoError::Rng)
    }

    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of every length; this cannot fail.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    fn hkdf_sha256(
        &mut self,
        salt: &[u8],
        ikm: &[u8],
        info: &[u8],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, okm)
            .map_err(|_| CryptoError::BadLength)
    }

    fn pbkdf2_hmac_sha256(
        &mut self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        if iterations == 0 || out.is_empty() {
            return Err(CryptoError::BadLength);
        }
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out);
        Ok(())
    }

    fn p256_mul(&mut self, k: &ScalarBytes, p: Option<&Point>) -> Result<Point, CryptoError> {
        let s: Option<Scalar> = Scalar::from_repr(FieldBytes::from(*k)).into();
        let s = s.ok_or(CryptoError::InvalidScalar)?;
        let base = match p {
            Some(p) => decode_point(p)?,
            None => ProjectivePoint::GENERATOR,
        };
        encode_point(base * s)
    }

    fn p256_add(&mut self, a: &Point, b: &Point) -> Result<Point, CryptoError> {
        encode_point(decode_point(a)? + decode_point(b)?)
    }

    fn p256_random_scalar(&mut self) -> Result<ScalarBytes, CryptoError> {
        Ok(NonZeroScalar::random(&mut OsRng).to_repr().into())
    }

    fn p256_reduce(&mut self, wide: &[u8]) -> Result<ScalarBytes, CryptoError> {
        if wide.len() > 64 {
            return Err(CryptoError::BadLength);
        }
        let mut buf = [0u8; 64];
        buf[64 - wide.len()..].copy_from_slice(wide);
        let hi = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&buf[..32]));
        let lo = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&buf[32..]));
        buf.zeroize();
        // 2^256 mod n, as (2^128)^2.
        let mut two128 = [0u8; 32];
        two128[15] = 1;
        let t = <Scalar as Reduce<U256>>::reduce_bytes(&FieldBytes::from(two128));
        Ok((hi * t * t + lo).to_repr().into())
    }

    fn aes128_ccm_seal(
        &mut self,
        key: &[u8; 16],
        nonce: &[u8; 13],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; 16],
    ) -> Result<(), CryptoError> {
        let c = Aes128Ccm::new(key.into());
        let t = c
            .encrypt_in_place_detached(nonce.into(), aad, buf)
            .map_err(|_| CryptoError::BadLength)?;
        tag.copy_from_slice(&t);
        Ok(())
    }

    fn aes128_ccm_open(
        &mut self,
        key: &[u8; 16],
        nonce: &[u8; 13],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        let c = Aes128Ccm::new(key.into());
        c.decrypt_in_place_detached(nonce.into(), aad, buf, tag.into()).map_err(|_| {
            buf.zeroize();
            CryptoError::AuthFailed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpair_core::activation::*;
    use zpair_core::types::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// The golden vectors of `zpair_core::activation`'s tests (computed with Python's hmac and
    /// cryptography), checked with this provider.
    #[test]
    fn activation_golden_vectors() {
        let mut c = HostCrypto;
        let secret = ActivationSecret::new(std::array::from_fn(|i| i as u8));
        let nonce: Nonce = std::array::from_fn(|i| 0xa0 + i as u8);
        let dev = DeviceId(0x0123_4567_89ab_cdef);
        let token = ActivationToken::new(b"AbCdEf0123456789").unwrap();
        let proof = activation_proof(
            &mut c, &secret, &nonce, dev, ProductId(0x00c0_ffee), &token, (1, 2, 0x0304), Mode::Ble,
        );
        assert_eq!(proof[..], h("a7c2257474d1f9ad2906fabfabd6425e08e5e5f2c1aabd7f301c3588e0071881"));
        let poll = poll_proof(&mut c, &secret, &nonce, dev);
        assert_eq!(poll[..], h("5c4f13e2fe8b80526d7c15d9430cb347aeb59c44045cbb112f6291aa29f10afa"));
        let id = CloudDeviceId::new("dev-0123456789abcdef").unwrap();
        let ep = CloudEndpoint::new(b"eu", Some(b"localhost"), 8443).unwrap();
        let op = OperationalSecret::new(std::array::from_fn(|i| 0x40 + i as u8));
        let sealed = seal_operational_secret(&mut c, &secret, &nonce, dev, &id, &ep, &op).unwrap();
        assert_eq!(sealed.ciphertext[..], h("8a6ebd0b3a853252084879f9c4b1d5c9733322dc81e78acffa8aabf7367d0e39"));
        assert_eq!(sealed.tag[..], h("a92407676aeaee8f83bf5549b365c6ef"));
        let opened = open_operational_secret(&mut c, &secret, &nonce, dev, &id, &ep, &sealed).unwrap();
        assert_eq!(opened, op);
    }

    #[test]
    fn p256_basics() {
        let mut c = HostCrypto;
        let mut one = [0u8; 32];
        one[31] = 1;
        let g = c.p256_mul(&one, None).unwrap();
        // Known generator x coordinate.
        assert_eq!(g[1..33], h("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"));
        let mut two = [0u8; 32];
        two[31] = 2;
        assert_eq!(c.p256_add(&g, &g).unwrap(), c.p256_mul(&two, None).unwrap());
        assert_eq!(c.p256_mul(&[0xff; 32], None), Err(CryptoError::InvalidScalar));
        let mut bad = g;
        bad[64] ^= 1;
        assert_eq!(c.p256_mul(&one, Some(&bad)), Err(CryptoError::InvalidPoint));
        // Reduction: n itself reduces to zero, n + 1 (as 64 bytes) to one.
        let n = h("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        assert_eq!(c.p256_reduce(&n).unwrap(), [0u8; 32]);
        let mut wide = [0u8; 64];
        wide[32..].copy_from_slice(&n);
        wide[63] += 1;
        assert_eq!(c.p256_reduce(&wide).unwrap(), one);
        // 2^256 mod n = 2^256 - n (since n < 2^256 < 2n).
        let mut pow = [0u8; 64];
        pow[31] = 1;
        let want = h("00000000ffffffff00000000000000004319055258e8617b0c46353d039cdaaf");
        assert_eq!(c.p256_reduce(&pow).unwrap()[..], want);
    }
}
