/*
 * zpair-bench baselines: the device side of the key exchanges zpair replaces, written against
 * the same mbedTLS 2.28 that zpair's provider uses (mbedtls-sys-auto), so that instruction
 * counts compare constructions, not libraries.
 *
 *   sec2   ESP-IDF protocomm security 2: SRP6a, RFC 5054 3072-bit group, g = 5, SHA-512
 *          (components/protocomm/src/security/security2.c, src/crypto/srp6a/esp_srp.c).
 *   sec1   ESP-IDF protocomm security 1: X25519 ECDH + SHA-256(PoP) XOR + AES-256-CTR
 *          verification (components/protocomm/src/security/security1.c).
 *   p256   A plain ephemeral P-256 ECDH (reference).
 *
 * Every device-side step is a function named zbdev_<construction>_<step>: the benchmark counts
 * instructions with `valgrind --tool=callgrind --toggle-collect=zbdev_<construction>_*`.
 * The client sides (zb_*_client_*) exist to drive the device and to check that both sides
 * agree; they are never counted.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZPAIR_BENCH_BASELINES_H
#define ZPAIR_BENCH_BASELINES_H

#include <stddef.h>
#include <stdint.h>

#define ZB_SEC2_KEY_LEN 384   /* 3072-bit public keys A, B and the verifier v */
#define ZB_SEC2_SALT_LEN 16
#define ZB_SEC2_PROOF_LEN 64
#define ZB_SEC2_NONCE_LEN 12
#define ZB_SEC1_KEY_LEN 32
#define ZB_SEC1_RAND_LEN 16
#define ZB_P256_POINT_LEN 65

typedef struct zb_sec2_device zb_sec2_device;
typedef struct zb_sec2_client zb_sec2_client;
typedef struct zb_sec1_device zb_sec1_device;
typedef struct zb_sec1_client zb_sec1_client;

/* ---- security 2 (SRP6a-3072, SHA-512) ---- */

/* Factory / phone side: salt and verifier v = g^x, x = H(salt | H(user ":" pass)). */
int zb_sec2_make_verifier(const uint8_t *user, size_t user_len, const uint8_t *pass,
                          size_t pass_len, uint8_t salt[ZB_SEC2_SALT_LEN],
                          uint8_t verifier[ZB_SEC2_KEY_LEN]);

zb_sec2_device *zb_sec2_device_new(const uint8_t salt[ZB_SEC2_SALT_LEN],
                                   const uint8_t verifier[ZB_SEC2_KEY_LEN]);
void zb_sec2_device_free(zb_sec2_device *d);
/* SessionCmd0 -> SessionResp0: B = k v + g^b, u = H(A, B), S = (A v^u)^b, K = H(S). */
int zbdev_sec2_cmd0(zb_sec2_device *d, const uint8_t *user, size_t user_len,
                    const uint8_t a_pub[ZB_SEC2_KEY_LEN], uint8_t b_pub[ZB_SEC2_KEY_LEN],
                    uint8_t salt[ZB_SEC2_SALT_LEN]);
/* SessionCmd1 -> SessionResp1: checks M1, answers M2 = H(A, M1, K), sets up AES-256-GCM. */
int zbdev_sec2_cmd1(zb_sec2_device *d, const uint8_t m1[ZB_SEC2_PROOF_LEN],
                    uint8_t m2[ZB_SEC2_PROOF_LEN], uint8_t nonce[ZB_SEC2_NONCE_LEN]);

zb_sec2_client *zb_sec2_client_new(const uint8_t *user, size_t user_len, const uint8_t *pass,
                                   size_t pass_len);
void zb_sec2_client_free(zb_sec2_client *c);
int zb_sec2_client_start(zb_sec2_client *c, uint8_t a_pub[ZB_SEC2_KEY_LEN]);
int zb_sec2_client_finish(zb_sec2_client *c, const uint8_t salt[ZB_SEC2_SALT_LEN],
                          const uint8_t b_pub[ZB_SEC2_KEY_LEN], uint8_t m1[ZB_SEC2_PROOF_LEN]);
int zb_sec2_client_verify(zb_sec2_client *c, const uint8_t m2[ZB_SEC2_PROOF_LEN]);

/* ---- security 1 (X25519 + PoP + AES-256-CTR) ---- */

zb_sec1_device *zb_sec1_device_new(void);
void zb_sec1_device_free(zb_sec1_device *d);
/* SessionCmd0 -> SessionResp0: ephemeral X25519 key, shared key XOR SHA-256(PoP), random. */
int zbdev_sec1_cmd0(zb_sec1_device *d, const uint8_t client_pub[ZB_SEC1_KEY_LEN],
                    const uint8_t *pop, size_t pop_len, uint8_t dev_pub[ZB_SEC1_KEY_LEN],
                    uint8_t dev_rand[ZB_SEC1_RAND_LEN]);
/* SessionCmd1 -> SessionResp1: AES-256-CTR-decrypts the client's verifier (= device pubkey),
 * compares in constant time, encrypts the client's pubkey as the device's verifier. */
int zbdev_sec1_cmd1(zb_sec1_device *d, const uint8_t client_verify[ZB_SEC1_KEY_LEN],
                    uint8_t device_verify[ZB_SEC1_KEY_LEN]);

zb_sec1_client *zb_sec1_client_new(void);
void zb_sec1_client_free(zb_sec1_client *c);
int zb_sec1_client_start(zb_sec1_client *c, uint8_t client_pub[ZB_SEC1_KEY_LEN]);
int zb_sec1_client_finish(zb_sec1_client *c, const uint8_t dev_pub[ZB_SEC1_KEY_LEN],
                          const uint8_t dev_rand[ZB_SEC1_RAND_LEN], const uint8_t *pop,
                          size_t pop_len, uint8_t client_verify[ZB_SEC1_KEY_LEN]);
int zb_sec1_client_verify(zb_sec1_client *c, const uint8_t device_verify[ZB_SEC1_KEY_LEN]);

/* ---- P-256 ECDH (reference) ---- */

/* A key pair for the peer (not counted). */
int zb_p256_keypair(uint8_t priv[32], uint8_t pub[ZB_P256_POINT_LEN]);
/* The device's whole ECDH: fresh key pair, peer key validated, shared secret. */
int zbdev_p256_ecdh(const uint8_t peer_pub[ZB_P256_POINT_LEN], uint8_t pub[ZB_P256_POINT_LEN],
                    uint8_t shared[32]);
/* The peer's side of the same exchange (not counted). */
int zb_p256_shared(const uint8_t priv[32], const uint8_t peer_pub[ZB_P256_POINT_LEN],
                   uint8_t shared[32]);

/* ---- P-256 scalar multiplication micro-benchmarks (explain zpair's cost) ---- */

/* k*G with a fresh group each call (the comb table of G is rebuilt every time, as
 * zpair-mbedtls does today), or with one group kept across calls (table built once). */
int zbdev_p256mul_fresh_g(const uint8_t k[32], uint8_t out[ZB_P256_POINT_LEN]);
int zb_p256mul_kept_warm(void);
int zbdev_p256mul_kept_g(const uint8_t k[32], uint8_t out[ZB_P256_POINT_LEN]);
/* k*P for a variable point P (validated). */
int zbdev_p256mul_var(const uint8_t k[32], const uint8_t p[ZB_P256_POINT_LEN],
                      uint8_t out[ZB_P256_POINT_LEN]);

#endif
