/*
 * zpair's crypto provider over mbedTLS: a small flat C API.
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * The Rust crate `zpair-mbedtls` calls these functions; they are written against the public
 * API of mbedTLS only and compile against both mbedTLS 2.28 (crates.io `mbedtls-sys-auto`, on the
 * host) and mbedTLS 3.6 (Zephyr's module, inside a Zephyr image), so that a device carries one
 * copy of the crypto.
 *
 * Conventions:
 * - P-256 points are 65-byte SEC1 uncompressed encodings (0x04 || X || Y); every point given to
 *   a function is validated (on the curve, coordinates below p, not the identity) and the
 *   identity is never returned.
 * - Scalars are 32-byte big-endian integers.
 * - Every function returns 0 on success, one of the ZPAIR_ERR_* codes below, or a negative
 *   mbedTLS error code (always in -0x0001 ..= -0x7FFF, so the two sets never overlap).
 * - Random numbers come from the caller through an mbedTLS-style f_rng callback, which is
 *   called with p_rng as its first argument. It must return 0 on success.
 * - Secrets held in temporary mbedTLS objects are wiped before the functions return.
 */
#ifndef ZPAIR_CRYPTO_MBEDTLS_H
#define ZPAIR_CRYPTO_MBEDTLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A point is malformed, not on the curve, or the identity; or a result is the identity. */
#define ZPAIR_ERR_INVALID_POINT (-0x10001)
/** A scalar is zero or not below the group order n. */
#define ZPAIR_ERR_INVALID_SCALAR (-0x10002)
/** An AES-CCM tag did not verify (the buffer has been wiped). */
#define ZPAIR_ERR_AUTH_FAILED (-0x10003)
/** The random source failed (a callback should return this code on failure). */
#define ZPAIR_ERR_RNG (-0x10004)
/** A length is out of the supported range. */
#define ZPAIR_ERR_BAD_LENGTH (-0x10005)
/** A context is too small for this mbedTLS build (should be caught at compile time). */
#define ZPAIR_ERR_CONTEXT (-0x10006)

/** Random source callback, mbedTLS f_rng signature: fill out[0..len), return 0 on success. */
typedef int (*zpair_rng_fn)(void *p_rng, unsigned char *out, size_t len);

/** Size in bytes of the caller-allocated hash/HMAC context. */
#define ZPAIR_HASH_CTX_SIZE 256

/**
 * Caller-allocated, opaque storage for one SHA-256 or HMAC-SHA256 computation. Nothing is
 * allocated on the heap. It must stay at the same address from start to finish (a hardware
 * SHA-256 implementation may keep pointers into it); its size and alignment are checked against
 * the mbedTLS build at compile time.
 */
typedef struct zpair_hash_ctx {
    uint64_t opaque[ZPAIR_HASH_CTX_SIZE / 8];
} zpair_hash_ctx;

/** Starts a SHA-256 computation in ctx. */
int zpair_sha256_start(zpair_hash_ctx *ctx);
/** Starts an HMAC-SHA256 computation in ctx with key[0..key_len) (any length). */
int zpair_hmac_sha256_start(zpair_hash_ctx *ctx, const uint8_t *key, size_t key_len);
/** Feeds data[0..len) to a started SHA-256 or HMAC-SHA256 computation. */
int zpair_hash_update(zpair_hash_ctx *ctx, const uint8_t *data, size_t len);
/**
 * Writes the 32-byte digest or tag to out and wipes ctx. Must be called once after every
 * start, even when an update failed (then its result is an error and out is unspecified).
 */
int zpair_hash_finish(zpair_hash_ctx *ctx, uint8_t out[32]);

/** HKDF-SHA256 (RFC 5869), extract and expand; okm_len at most 255 * 32. */
int zpair_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                      const uint8_t *info, size_t info_len, uint8_t *okm, size_t okm_len);

/** PBKDF2-HMAC-SHA256 (RFC 8018); iterations >= 1, out_len >= 1. */
int zpair_pbkdf2_hmac_sha256(const uint8_t *password, size_t password_len, const uint8_t *salt,
                             size_t salt_len, uint32_t iterations, uint8_t *out, size_t out_len);

/**
 * out = k * P, or k * G when p_or_null is NULL. k must be in [1, n). The multiplication is
 * mbedTLS's constant-time comb/ladder with coordinate blinding randomised by f_rng.
 */
int zpair_p256_mul(const uint8_t k[32], const uint8_t *p_or_null, uint8_t out[65],
                   zpair_rng_fn f_rng, void *p_rng);

/** out = a + b (public points; not constant time). */
int zpair_p256_add(const uint8_t a[65], const uint8_t b[65], uint8_t out[65]);

/** 0 if p is a valid P-256 point other than the identity, ZPAIR_ERR_INVALID_POINT if not. */
int zpair_p256_check_point(const uint8_t p[65]);

/** A uniformly random scalar in [1, n) (mbedTLS rejection sampling over f_rng). */
int zpair_p256_random_scalar(uint8_t out[32], zpair_rng_fn f_rng, void *p_rng);

/** out = wide mod n, for a big-endian integer of 0 ..= 64 bytes. */
int zpair_p256_reduce(const uint8_t *wide, size_t wide_len, uint8_t out[32]);

/**
 * AES-128-CCM encryption in place: buf[0..len) becomes ciphertext; 13-byte nonce, 16-byte tag.
 * len < 65536 (L = 2); aad_len < 0xFF00.
 */
int zpair_aes128_ccm_seal(const uint8_t key[16], const uint8_t nonce[13], const uint8_t *aad,
                          size_t aad_len, uint8_t *buf, size_t len, uint8_t tag[16]);

/**
 * AES-128-CCM decryption in place. The tag is compared in constant time; on any failure
 * buf[0..len) is wiped, and a tag mismatch returns ZPAIR_ERR_AUTH_FAILED.
 */
int zpair_aes128_ccm_open(const uint8_t key[16], const uint8_t nonce[13], const uint8_t *aad,
                          size_t aad_len, uint8_t *buf, size_t len, const uint8_t tag[16]);

#ifdef __cplusplus
}
#endif

#endif /* ZPAIR_CRYPTO_MBEDTLS_H */
