/*
 * zpair-bench baselines: see baselines.h.
 *
 * Written for this benchmark from the published constructions (ESP-IDF protocomm security1.c,
 * security2.c and esp_srp.c describe what the device computes; RFC 5054 the SRP6a group);
 * each step calls the same mbedTLS functions in the same order as ESP-IDF does, so that the
 * instruction counts reflect what an ESP-IDF device executes with mbedTLS in software.
 * Differences, all without effect on the cost: fixed-size (padded) public keys on the wire,
 * getrandom() instead of the ESP32 hardware RNG, and the protobuf encoding left out (zpair's
 * figure leaves its packet encoding in, which is cheaper still).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "baselines.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mbedtls/aes.h"
#include "mbedtls/bignum.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecdh.h"
#include "mbedtls/ecp.h"
#include "mbedtls/gcm.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "mbedtls/sha512.h"

#define ZB_CHECK(expr)                                                                           \
    do {                                                                                         \
        ret = (expr);                                                                            \
        if (ret != 0) {                                                                          \
            goto cleanup;                                                                        \
        }                                                                                        \
    } while (0)

#define ZB_ERR_PROOF (-0x7001)
#define ZB_ERR_ALLOC (-0x7002)
#define ZB_ERR_RANGE (-0x7003)

/* The device's random source: the OS (ESP-IDF: esp_fill_random, the hardware RNG). */
static int zb_rng(void *ctx, unsigned char *out, size_t len)
{
    (void) ctx;
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0);
        if (n <= 0) {
            return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
        }
        out += n;
        len -= (size_t) n;
    }
    return 0;
}

/* The entropy callback of a CTR-DRBG (security 1 seeds one per handshake, as ESP-IDF). */
static int zb_entropy(void *ctx, unsigned char *out, size_t len)
{
    return zb_rng(ctx, out, len);
}

static int zb_ct_differ(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t acc = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        acc |= (uint8_t) (a[i] ^ b[i]);
    }
    return acc != 0;
}

/* ========================================================================================== */
/* Security 2: SRP6a over the RFC 5054 3072-bit group, g = 5, H = SHA-512                       */
/* ========================================================================================== */

#define ZB_H_LEN 64

/* RFC 5054, Appendix A, 3072-bit group. */
static const uint8_t zb_n3072[ZB_SEC2_KEY_LEN] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6,
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE4, 0x5B, 0x3D, 0xC2, 0x00, 0x7C, 0xB8, 0xA1, 0x63, 0xBF, 0x05,
    0x98, 0xDA, 0x48, 0x36, 0x1C, 0x55, 0xD3, 0x9A, 0x69, 0x16, 0x3F, 0xA8, 0xFD, 0x24, 0xCF, 0x5F,
    0x83, 0x65, 0x5D, 0x23, 0xDC, 0xA3, 0xAD, 0x96, 0x1C, 0x62, 0xF3, 0x56, 0x20, 0x85, 0x52, 0xBB,
    0x9E, 0xD5, 0x29, 0x07, 0x70, 0x96, 0x96, 0x6D, 0x67, 0x0C, 0x35, 0x4E, 0x4A, 0xBC, 0x98, 0x04,
    0xF1, 0x74, 0x6C, 0x08, 0xCA, 0x18, 0x21, 0x7C, 0x32, 0x90, 0x5E, 0x46, 0x2E, 0x36, 0xCE, 0x3B,
    0xE3, 0x9E, 0x77, 0x2C, 0x18, 0x0E, 0x86, 0x03, 0x9B, 0x27, 0x83, 0xA2, 0xEC, 0x07, 0xA2, 0x8F,
    0xB5, 0xC5, 0x5D, 0xF0, 0x6F, 0x4C, 0x52, 0xC9, 0xDE, 0x2B, 0xCB, 0xF6, 0x95, 0x58, 0x17, 0x18,
    0x39, 0x95, 0x49, 0x7C, 0xEA, 0x95, 0x6A, 0xE5, 0x15, 0xD2, 0x26, 0x18, 0x98, 0xFA, 0x05, 0x10,
    0x15, 0x72, 0x8E, 0x5A, 0x8A, 0xAA, 0xC4, 0x2D, 0xAD, 0x33, 0x17, 0x0D, 0x04, 0x50, 0x7A, 0x33,
    0xA8, 0x55, 0x21, 0xAB, 0xDF, 0x1C, 0xBA, 0x64, 0xEC, 0xFB, 0x85, 0x04, 0x58, 0xDB, 0xEF, 0x0A,
    0x8A, 0xEA, 0x71, 0x57, 0x5D, 0x06, 0x0C, 0x7D, 0xB3, 0x97, 0x0F, 0x85, 0xA6, 0xE1, 0xE4, 0xC7,
    0xAB, 0xF5, 0xAE, 0x8C, 0xDB, 0x09, 0x33, 0xD7, 0x1E, 0x8C, 0x94, 0xE0, 0x4A, 0x25, 0x61, 0x9D,
    0xCE, 0xE3, 0xD2, 0x26, 0x1A, 0xD2, 0xEE, 0x6B, 0xF1, 0x2F, 0xFA, 0x06, 0xD9, 0x8A, 0x08, 0x64,
    0xD8, 0x76, 0x02, 0x73, 0x3E, 0xC8, 0x6A, 0x64, 0x52, 0x1F, 0x2B, 0x18, 0x17, 0x7B, 0x20, 0x0C,
    0xBB, 0xE1, 0x17, 0x57, 0x7A, 0x61, 0x5D, 0x6C, 0x77, 0x09, 0x88, 0xC0, 0xBA, 0xD9, 0x46, 0xE2,
    0x08, 0xE2, 0x4F, 0xA0, 0x74, 0xE5, 0xAB, 0x31, 0x43, 0xDB, 0x5B, 0xFC, 0xE0, 0xFD, 0x10, 0x8E,
    0x4B, 0x82, 0xD1, 0x20, 0xA9, 0x3A, 0xD2, 0xCA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};
static const uint8_t zb_g3072[1] = {5};

/* H(PAD(a) | PAD(b)) for values of at most |N| bytes. */
static int zb_hash_padded(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                          uint8_t out[ZB_H_LEN])
{
    static const uint8_t zeros[ZB_SEC2_KEY_LEN];
    mbedtls_sha512_context h;
    int ret;

    if (a_len > ZB_SEC2_KEY_LEN || b_len > ZB_SEC2_KEY_LEN) {
        return ZB_ERR_RANGE;
    }
    mbedtls_sha512_init(&h);
    ZB_CHECK(mbedtls_sha512_starts_ret(&h, 0));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, zeros, ZB_SEC2_KEY_LEN - a_len));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, a, a_len));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, zeros, ZB_SEC2_KEY_LEN - b_len));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, b, b_len));
    ZB_CHECK(mbedtls_sha512_finish_ret(&h, out));
cleanup:
    mbedtls_sha512_free(&h);
    return ret;
}

/* x = H(salt | H(user ":" pass)). */
static int zb_sec2_x(const uint8_t *user, size_t user_len, const uint8_t *pass, size_t pass_len,
                     const uint8_t salt[ZB_SEC2_SALT_LEN], mbedtls_mpi *x)
{
    uint8_t inner[ZB_H_LEN];
    mbedtls_sha512_context h;
    int ret;

    mbedtls_sha512_init(&h);
    ZB_CHECK(mbedtls_sha512_starts_ret(&h, 0));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, user, user_len));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, (const uint8_t *) ":", 1));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, pass, pass_len));
    ZB_CHECK(mbedtls_sha512_finish_ret(&h, inner));
    ZB_CHECK(mbedtls_sha512_starts_ret(&h, 0));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, salt, ZB_SEC2_SALT_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, inner, ZB_H_LEN));
    ZB_CHECK(mbedtls_sha512_finish_ret(&h, inner));
    ZB_CHECK(mbedtls_mpi_read_binary(x, inner, ZB_H_LEN));
cleanup:
    mbedtls_sha512_free(&h);
    mbedtls_platform_zeroize(inner, sizeof(inner));
    return ret;
}

/* M1 = H(H(N) XOR H(PAD(g)) | H(I) | s | A | B | K); M2 = H(A | M1 | K). */
static int zb_sec2_proofs(const uint8_t *user, size_t user_len, const uint8_t salt[ZB_SEC2_SALT_LEN],
                          const uint8_t a_pub[ZB_SEC2_KEY_LEN], const uint8_t b_pub[ZB_SEC2_KEY_LEN],
                          const uint8_t k_sess[ZB_H_LEN], uint8_t m1[ZB_H_LEN], uint8_t m2[ZB_H_LEN])
{
    static const uint8_t zeros[ZB_SEC2_KEY_LEN];
    uint8_t h_n[ZB_H_LEN], h_g[ZB_H_LEN], h_i[ZB_H_LEN];
    mbedtls_sha512_context h;
    size_t i;
    int ret;

    mbedtls_sha512_init(&h);
    ZB_CHECK(mbedtls_sha512_ret(user, user_len, h_i, 0));
    ZB_CHECK(mbedtls_sha512_ret(zb_n3072, sizeof(zb_n3072), h_n, 0));
    ZB_CHECK(mbedtls_sha512_starts_ret(&h, 0));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, zeros, ZB_SEC2_KEY_LEN - sizeof(zb_g3072)));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, zb_g3072, sizeof(zb_g3072)));
    ZB_CHECK(mbedtls_sha512_finish_ret(&h, h_g));
    for (i = 0; i < ZB_H_LEN; i++) {
        h_n[i] ^= h_g[i];
    }
    ZB_CHECK(mbedtls_sha512_starts_ret(&h, 0));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, h_n, ZB_H_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, h_i, ZB_H_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, salt, ZB_SEC2_SALT_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, a_pub, ZB_SEC2_KEY_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, b_pub, ZB_SEC2_KEY_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, k_sess, ZB_H_LEN));
    ZB_CHECK(mbedtls_sha512_finish_ret(&h, m1));
    ZB_CHECK(mbedtls_sha512_starts_ret(&h, 0));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, a_pub, ZB_SEC2_KEY_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, m1, ZB_H_LEN));
    ZB_CHECK(mbedtls_sha512_update_ret(&h, k_sess, ZB_H_LEN));
    ZB_CHECK(mbedtls_sha512_finish_ret(&h, m2));
cleanup:
    mbedtls_sha512_free(&h);
    return ret;
}

/* K = H(S), S as its minimal big-endian encoding (esp_mpi_to_bin). */
static int zb_sec2_session_key(const mbedtls_mpi *s, uint8_t k_sess[ZB_H_LEN])
{
    uint8_t buf[ZB_SEC2_KEY_LEN];
    size_t len = mbedtls_mpi_size(s);
    int ret;

    if (len > sizeof(buf)) {
        return ZB_ERR_RANGE;
    }
    ZB_CHECK(mbedtls_mpi_write_binary(s, buf, len));
    ZB_CHECK(mbedtls_sha512_ret(buf, len, k_sess, 0));
cleanup:
    mbedtls_platform_zeroize(buf, sizeof(buf));
    return ret;
}

int zb_sec2_make_verifier(const uint8_t *user, size_t user_len, const uint8_t *pass,
                          size_t pass_len, uint8_t salt[ZB_SEC2_SALT_LEN],
                          uint8_t verifier[ZB_SEC2_KEY_LEN])
{
    mbedtls_mpi n, g, x, v;
    int ret;

    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&g);
    mbedtls_mpi_init(&x);
    mbedtls_mpi_init(&v);
    ZB_CHECK(zb_rng(NULL, salt, ZB_SEC2_SALT_LEN));
    ZB_CHECK(mbedtls_mpi_read_binary(&n, zb_n3072, sizeof(zb_n3072)));
    ZB_CHECK(mbedtls_mpi_read_binary(&g, zb_g3072, sizeof(zb_g3072)));
    ZB_CHECK(zb_sec2_x(user, user_len, pass, pass_len, salt, &x));
    ZB_CHECK(mbedtls_mpi_exp_mod(&v, &g, &x, &n, NULL));
    ZB_CHECK(mbedtls_mpi_write_binary(&v, verifier, ZB_SEC2_KEY_LEN));
cleanup:
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&g);
    mbedtls_mpi_free(&x);
    mbedtls_mpi_free(&v);
    return ret;
}

struct zb_sec2_device {
    /* Provisioned (security2 params: salt and verifier bytes). */
    uint8_t salt[ZB_SEC2_SALT_LEN];
    uint8_t verifier[ZB_SEC2_KEY_LEN];
    /* Session. */
    uint8_t user[64];
    size_t user_len;
    uint8_t a_pub[ZB_SEC2_KEY_LEN];
    uint8_t b_pub[ZB_SEC2_KEY_LEN];
    uint8_t k_sess[ZB_H_LEN];
    uint8_t nonce[ZB_SEC2_NONCE_LEN];
    mbedtls_gcm_context gcm;
    int gcm_ready;
};

zb_sec2_device *zb_sec2_device_new(const uint8_t salt[ZB_SEC2_SALT_LEN],
                                   const uint8_t verifier[ZB_SEC2_KEY_LEN])
{
    zb_sec2_device *d = calloc(1, sizeof(*d));
    if (d != NULL) {
        memcpy(d->salt, salt, ZB_SEC2_SALT_LEN);
        memcpy(d->verifier, verifier, ZB_SEC2_KEY_LEN);
        mbedtls_gcm_init(&d->gcm);
    }
    return d;
}

void zb_sec2_device_free(zb_sec2_device *d)
{
    if (d != NULL) {
        mbedtls_gcm_free(&d->gcm);
        mbedtls_platform_zeroize(d, sizeof(*d));
        free(d);
    }
}

int zbdev_sec2_cmd0(zb_sec2_device *d, const uint8_t *user, size_t user_len,
                    const uint8_t a_pub[ZB_SEC2_KEY_LEN], uint8_t b_pub[ZB_SEC2_KEY_LEN],
                    uint8_t salt[ZB_SEC2_SALT_LEN])
{
    /* esp_srp_init + esp_srp_set_salt_verifier: N, g, s, v; ctx = the R^2 mod N cache. */
    mbedtls_mpi n, g, v, rr, k, b, kv, gb, big_b, a, a_mod_n, u, vu, avu, s, t;
    uint8_t digest[ZB_H_LEN];
    int ret;

    if (user_len == 0 || user_len > sizeof(d->user)) {
        return ZB_ERR_RANGE;
    }
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&g);
    mbedtls_mpi_init(&v);
    mbedtls_mpi_init(&rr);
    mbedtls_mpi_init(&k);
    mbedtls_mpi_init(&b);
    mbedtls_mpi_init(&kv);
    mbedtls_mpi_init(&gb);
    mbedtls_mpi_init(&big_b);
    mbedtls_mpi_init(&a);
    mbedtls_mpi_init(&a_mod_n);
    mbedtls_mpi_init(&u);
    mbedtls_mpi_init(&vu);
    mbedtls_mpi_init(&avu);
    mbedtls_mpi_init(&s);
    mbedtls_mpi_init(&t);

    ZB_CHECK(mbedtls_mpi_read_binary(&n, zb_n3072, sizeof(zb_n3072)));
    ZB_CHECK(mbedtls_mpi_read_binary(&g, zb_g3072, sizeof(zb_g3072)));
    ZB_CHECK(mbedtls_mpi_read_binary(&v, d->verifier, ZB_SEC2_KEY_LEN));

    /* esp_srp_srv_pubkey_from_salt_verifier: k = H(N | PAD(g)), b (256 bits),
     * B = (k v + g^b) mod N. */
    ZB_CHECK(zb_hash_padded(zb_n3072, sizeof(zb_n3072), zb_g3072, sizeof(zb_g3072), digest));
    ZB_CHECK(mbedtls_mpi_read_binary(&k, digest, ZB_H_LEN));
    ZB_CHECK(mbedtls_mpi_fill_random(&b, 256 / 8, zb_rng, NULL));
    ZB_CHECK(mbedtls_mpi_mul_mpi(&t, &k, &v));
    ZB_CHECK(mbedtls_mpi_mod_mpi(&kv, &t, &n));
    ZB_CHECK(mbedtls_mpi_exp_mod(&gb, &g, &b, &n, &rr));
    ZB_CHECK(mbedtls_mpi_add_mpi(&t, &kv, &gb));
    ZB_CHECK(mbedtls_mpi_mod_mpi(&big_b, &t, &n));
    ZB_CHECK(mbedtls_mpi_write_binary(&big_b, d->b_pub, ZB_SEC2_KEY_LEN));

    /* esp_srp_get_session_key: A mod N != 0, u = H(PAD(A) | PAD(B)),
     * S = (A v^u)^b mod N, K = H(S). */
    memcpy(d->a_pub, a_pub, ZB_SEC2_KEY_LEN);
    ZB_CHECK(mbedtls_mpi_read_binary(&a, a_pub, ZB_SEC2_KEY_LEN));
    ZB_CHECK(mbedtls_mpi_mod_mpi(&a_mod_n, &a, &n));
    if (mbedtls_mpi_cmp_int(&a_mod_n, 0) == 0) {
        ret = ZB_ERR_PROOF;
        goto cleanup;
    }
    ZB_CHECK(zb_hash_padded(a_pub, ZB_SEC2_KEY_LEN, d->b_pub, ZB_SEC2_KEY_LEN, digest));
    ZB_CHECK(mbedtls_mpi_read_binary(&u, digest, ZB_H_LEN));
    ZB_CHECK(mbedtls_mpi_exp_mod(&vu, &v, &u, &n, &rr));
    ZB_CHECK(mbedtls_mpi_mul_mpi(&t, &a, &vu));
    ZB_CHECK(mbedtls_mpi_mod_mpi(&avu, &t, &n));
    ZB_CHECK(mbedtls_mpi_exp_mod(&s, &avu, &b, &n, &rr));
    ZB_CHECK(zb_sec2_session_key(&s, d->k_sess));

    memcpy(d->user, user, user_len);
    d->user_len = user_len;
    memcpy(b_pub, d->b_pub, ZB_SEC2_KEY_LEN);
    memcpy(salt, d->salt, ZB_SEC2_SALT_LEN);
cleanup:
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&g);
    mbedtls_mpi_free(&v);
    mbedtls_mpi_free(&rr);
    mbedtls_mpi_free(&k);
    mbedtls_mpi_free(&b);
    mbedtls_mpi_free(&kv);
    mbedtls_mpi_free(&gb);
    mbedtls_mpi_free(&big_b);
    mbedtls_mpi_free(&a);
    mbedtls_mpi_free(&a_mod_n);
    mbedtls_mpi_free(&u);
    mbedtls_mpi_free(&vu);
    mbedtls_mpi_free(&avu);
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&t);
    return ret;
}

int zbdev_sec2_cmd1(zb_sec2_device *d, const uint8_t m1[ZB_SEC2_PROOF_LEN],
                    uint8_t m2[ZB_SEC2_PROOF_LEN], uint8_t nonce[ZB_SEC2_NONCE_LEN])
{
    uint8_t expect_m1[ZB_H_LEN], answer_m2[ZB_H_LEN];
    int ret;

    /* esp_srp_exchange_proofs. */
    ZB_CHECK(zb_sec2_proofs(d->user, d->user_len, d->salt, d->a_pub, d->b_pub, d->k_sess,
                            expect_m1, answer_m2));
    if (zb_ct_differ(expect_m1, m1, ZB_H_LEN)) {
        ret = ZB_ERR_PROOF;
        goto cleanup;
    }
    /* IV = random 8-byte session id || counter 1; AES-256-GCM key = K[0..32). */
    ZB_CHECK(zb_rng(NULL, d->nonce, 8));
    d->nonce[8] = 0;
    d->nonce[9] = 0;
    d->nonce[10] = 0;
    d->nonce[11] = 1;
    ZB_CHECK(mbedtls_gcm_setkey(&d->gcm, MBEDTLS_CIPHER_ID_AES, d->k_sess, 256));
    d->gcm_ready = 1;
    memcpy(m2, answer_m2, ZB_H_LEN);
    memcpy(nonce, d->nonce, ZB_SEC2_NONCE_LEN);
cleanup:
    mbedtls_platform_zeroize(expect_m1, sizeof(expect_m1));
    return ret;
}

struct zb_sec2_client {
    uint8_t user[64];
    size_t user_len;
    uint8_t pass[64];
    size_t pass_len;
    mbedtls_mpi a;
    uint8_t a_pub[ZB_SEC2_KEY_LEN];
    uint8_t k_sess[ZB_H_LEN];
    uint8_t m2[ZB_H_LEN];
};

zb_sec2_client *zb_sec2_client_new(const uint8_t *user, size_t user_len, const uint8_t *pass,
                                   size_t pass_len)
{
    zb_sec2_client *c;
    if (user_len > 64 || pass_len > 64) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c != NULL) {
        memcpy(c->user, user, user_len);
        c->user_len = user_len;
        memcpy(c->pass, pass, pass_len);
        c->pass_len = pass_len;
        mbedtls_mpi_init(&c->a);
    }
    return c;
}

void zb_sec2_client_free(zb_sec2_client *c)
{
    if (c != NULL) {
        mbedtls_mpi_free(&c->a);
        mbedtls_platform_zeroize(c, sizeof(*c));
        free(c);
    }
}

int zb_sec2_client_start(zb_sec2_client *c, uint8_t a_pub[ZB_SEC2_KEY_LEN])
{
    mbedtls_mpi n, g, big_a;
    int ret;

    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&g);
    mbedtls_mpi_init(&big_a);
    ZB_CHECK(mbedtls_mpi_read_binary(&n, zb_n3072, sizeof(zb_n3072)));
    ZB_CHECK(mbedtls_mpi_read_binary(&g, zb_g3072, sizeof(zb_g3072)));
    ZB_CHECK(mbedtls_mpi_fill_random(&c->a, 256 / 8, zb_rng, NULL));
    ZB_CHECK(mbedtls_mpi_exp_mod(&big_a, &g, &c->a, &n, NULL));
    ZB_CHECK(mbedtls_mpi_write_binary(&big_a, c->a_pub, ZB_SEC2_KEY_LEN));
    memcpy(a_pub, c->a_pub, ZB_SEC2_KEY_LEN);
cleanup:
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&g);
    mbedtls_mpi_free(&big_a);
    return ret;
}

int zb_sec2_client_finish(zb_sec2_client *c, const uint8_t salt[ZB_SEC2_SALT_LEN],
                          const uint8_t b_pub[ZB_SEC2_KEY_LEN], uint8_t m1[ZB_SEC2_PROOF_LEN])
{
    mbedtls_mpi n, g, k, x, u, big_b, gx, kgx, base, e, s, t;
    uint8_t digest[ZB_H_LEN];
    int ret;

    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&g);
    mbedtls_mpi_init(&k);
    mbedtls_mpi_init(&x);
    mbedtls_mpi_init(&u);
    mbedtls_mpi_init(&big_b);
    mbedtls_mpi_init(&gx);
    mbedtls_mpi_init(&kgx);
    mbedtls_mpi_init(&base);
    mbedtls_mpi_init(&e);
    mbedtls_mpi_init(&s);
    mbedtls_mpi_init(&t);
    ZB_CHECK(mbedtls_mpi_read_binary(&n, zb_n3072, sizeof(zb_n3072)));
    ZB_CHECK(mbedtls_mpi_read_binary(&g, zb_g3072, sizeof(zb_g3072)));
    ZB_CHECK(zb_hash_padded(zb_n3072, sizeof(zb_n3072), zb_g3072, sizeof(zb_g3072), digest));
    ZB_CHECK(mbedtls_mpi_read_binary(&k, digest, ZB_H_LEN));
    ZB_CHECK(zb_sec2_x(c->user, c->user_len, c->pass, c->pass_len, salt, &x));
    ZB_CHECK(zb_hash_padded(c->a_pub, ZB_SEC2_KEY_LEN, b_pub, ZB_SEC2_KEY_LEN, digest));
    ZB_CHECK(mbedtls_mpi_read_binary(&u, digest, ZB_H_LEN));
    ZB_CHECK(mbedtls_mpi_read_binary(&big_b, b_pub, ZB_SEC2_KEY_LEN));
    /* S = (B - k g^x)^(a + u x) mod N. */
    ZB_CHECK(mbedtls_mpi_exp_mod(&gx, &g, &x, &n, NULL));
    ZB_CHECK(mbedtls_mpi_mul_mpi(&t, &k, &gx));
    ZB_CHECK(mbedtls_mpi_mod_mpi(&kgx, &t, &n));
    ZB_CHECK(mbedtls_mpi_sub_mpi(&t, &big_b, &kgx));
    ZB_CHECK(mbedtls_mpi_mod_mpi(&base, &t, &n));
    ZB_CHECK(mbedtls_mpi_mul_mpi(&t, &u, &x));
    ZB_CHECK(mbedtls_mpi_add_mpi(&e, &c->a, &t));
    ZB_CHECK(mbedtls_mpi_exp_mod(&s, &base, &e, &n, NULL));
    ZB_CHECK(zb_sec2_session_key(&s, c->k_sess));
    ZB_CHECK(zb_sec2_proofs(c->user, c->user_len, salt, c->a_pub, b_pub, c->k_sess, m1, c->m2));
cleanup:
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&g);
    mbedtls_mpi_free(&k);
    mbedtls_mpi_free(&x);
    mbedtls_mpi_free(&u);
    mbedtls_mpi_free(&big_b);
    mbedtls_mpi_free(&gx);
    mbedtls_mpi_free(&kgx);
    mbedtls_mpi_free(&base);
    mbedtls_mpi_free(&e);
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&t);
    return ret;
}

int zb_sec2_client_verify(zb_sec2_client *c, const uint8_t m2[ZB_SEC2_PROOF_LEN])
{
    return zb_ct_differ(c->m2, m2, ZB_H_LEN) ? ZB_ERR_PROOF : 0;
}

/* ========================================================================================== */
/* Security 1: X25519 + SHA-256(PoP) + AES-256-CTR                                             */
/* ========================================================================================== */

static void zb_flip(uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n / 2; i++) {
        uint8_t t = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

/* ECDH on Curve25519 as ESP-IDF does it: gen_public, then compute_shared with the peer's x
 * (little endian on the wire), the shared key XOR SHA-256(PoP). */
static int zb_x25519(mbedtls_ctr_drbg_context *drbg, uint8_t own_pub[ZB_SEC1_KEY_LEN],
                     const uint8_t peer_pub[ZB_SEC1_KEY_LEN], const uint8_t *pop, size_t pop_len,
                     uint8_t sym_key[ZB_SEC1_KEY_LEN], mbedtls_ecp_group *grp, mbedtls_mpi *d,
                     int have_key)
{
    mbedtls_ecp_point q, qp;
    mbedtls_mpi z;
    uint8_t peer[ZB_SEC1_KEY_LEN];
    uint8_t sha[32];
    size_t i;
    int ret;

    mbedtls_ecp_point_init(&q);
    mbedtls_ecp_point_init(&qp);
    mbedtls_mpi_init(&z);
    if (!have_key) {
        ZB_CHECK(mbedtls_ecdh_gen_public(grp, d, &q, mbedtls_ctr_drbg_random, drbg));
        ZB_CHECK(mbedtls_mpi_write_binary(&q.X, own_pub, ZB_SEC1_KEY_LEN));
        zb_flip(own_pub, ZB_SEC1_KEY_LEN);
    }
    if (peer_pub != NULL) {
        memcpy(peer, peer_pub, ZB_SEC1_KEY_LEN);
        ZB_CHECK(mbedtls_mpi_lset(&qp.Z, 1));
        zb_flip(peer, ZB_SEC1_KEY_LEN);
        ZB_CHECK(mbedtls_mpi_read_binary(&qp.X, peer, ZB_SEC1_KEY_LEN));
        ZB_CHECK(mbedtls_ecdh_compute_shared(grp, &z, &qp, d, mbedtls_ctr_drbg_random, drbg));
        ZB_CHECK(mbedtls_mpi_write_binary(&z, sym_key, ZB_SEC1_KEY_LEN));
        zb_flip(sym_key, ZB_SEC1_KEY_LEN);
        if (pop != NULL && pop_len != 0) {
            ZB_CHECK(mbedtls_sha256_ret(pop, pop_len, sha, 0));
            for (i = 0; i < ZB_SEC1_KEY_LEN; i++) {
                sym_key[i] ^= sha[i];
            }
        }
    }
cleanup:
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_point_free(&qp);
    mbedtls_mpi_free(&z);
    return ret;
}

struct zb_sec1_device {
    uint8_t device_pubkey[ZB_SEC1_KEY_LEN];
    uint8_t client_pubkey[ZB_SEC1_KEY_LEN];
    uint8_t sym_key[ZB_SEC1_KEY_LEN];
    uint8_t rand[ZB_SEC1_RAND_LEN];
    mbedtls_aes_context aes;
    unsigned char stb[16];
    size_t nc_off;
};

zb_sec1_device *zb_sec1_device_new(void)
{
    zb_sec1_device *d = calloc(1, sizeof(*d));
    if (d != NULL) {
        mbedtls_aes_init(&d->aes);
    }
    return d;
}

void zb_sec1_device_free(zb_sec1_device *d)
{
    if (d != NULL) {
        mbedtls_aes_free(&d->aes);
        mbedtls_platform_zeroize(d, sizeof(*d));
        free(d);
    }
}

int zbdev_sec1_cmd0(zb_sec1_device *d, const uint8_t client_pub[ZB_SEC1_KEY_LEN],
                    const uint8_t *pop, size_t pop_len, uint8_t dev_pub[ZB_SEC1_KEY_LEN],
                    uint8_t dev_rand[ZB_SEC1_RAND_LEN])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi priv;
    mbedtls_ctr_drbg_context drbg;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&priv);
    mbedtls_ctr_drbg_init(&drbg);
    ZB_CHECK(mbedtls_ctr_drbg_seed(&drbg, zb_entropy, NULL, NULL, 0));
    ZB_CHECK(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_CURVE25519));
    memcpy(d->client_pubkey, client_pub, ZB_SEC1_KEY_LEN);
    ZB_CHECK(zb_x25519(&drbg, d->device_pubkey, d->client_pubkey, pop, pop_len, d->sym_key, &grp,
                       &priv, 0));
    ZB_CHECK(mbedtls_ctr_drbg_random(&drbg, d->rand, ZB_SEC1_RAND_LEN));
    memcpy(dev_pub, d->device_pubkey, ZB_SEC1_KEY_LEN);
    memcpy(dev_rand, d->rand, ZB_SEC1_RAND_LEN);
cleanup:
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_mpi_free(&priv);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int zbdev_sec1_cmd1(zb_sec1_device *d, const uint8_t client_verify[ZB_SEC1_KEY_LEN],
                    uint8_t device_verify[ZB_SEC1_KEY_LEN])
{
    uint8_t check[ZB_SEC1_KEY_LEN];
    int ret;

    memset(d->stb, 0, sizeof(d->stb));
    d->nc_off = 0;
    ZB_CHECK(mbedtls_aes_setkey_enc(&d->aes, d->sym_key, 256));
    ZB_CHECK(mbedtls_aes_crypt_ctr(&d->aes, ZB_SEC1_KEY_LEN, &d->nc_off, d->rand, d->stb,
                                   client_verify, check));
    if (zb_ct_differ(check, d->device_pubkey, ZB_SEC1_KEY_LEN)) {
        ret = ZB_ERR_PROOF;
        goto cleanup;
    }
    ZB_CHECK(mbedtls_aes_crypt_ctr(&d->aes, ZB_SEC1_KEY_LEN, &d->nc_off, d->rand, d->stb,
                                   d->client_pubkey, device_verify));
cleanup:
    return ret;
}

struct zb_sec1_client {
    mbedtls_ecp_group grp;
    mbedtls_mpi priv;
    mbedtls_ctr_drbg_context drbg;
    uint8_t pub[ZB_SEC1_KEY_LEN];
    uint8_t sym_key[ZB_SEC1_KEY_LEN];
    uint8_t rand[ZB_SEC1_RAND_LEN];
    mbedtls_aes_context aes;
    unsigned char stb[16];
    size_t nc_off;
};

zb_sec1_client *zb_sec1_client_new(void)
{
    zb_sec1_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    mbedtls_ecp_group_init(&c->grp);
    mbedtls_mpi_init(&c->priv);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_aes_init(&c->aes);
    if (mbedtls_ctr_drbg_seed(&c->drbg, zb_entropy, NULL, NULL, 0) != 0 ||
        mbedtls_ecp_group_load(&c->grp, MBEDTLS_ECP_DP_CURVE25519) != 0) {
        zb_sec1_client_free(c);
        return NULL;
    }
    return c;
}

void zb_sec1_client_free(zb_sec1_client *c)
{
    if (c != NULL) {
        mbedtls_ecp_group_free(&c->grp);
        mbedtls_mpi_free(&c->priv);
        mbedtls_ctr_drbg_free(&c->drbg);
        mbedtls_aes_free(&c->aes);
        mbedtls_platform_zeroize(c, sizeof(*c));
        free(c);
    }
}

int zb_sec1_client_start(zb_sec1_client *c, uint8_t client_pub[ZB_SEC1_KEY_LEN])
{
    int ret = zb_x25519(&c->drbg, c->pub, NULL, NULL, 0, NULL, &c->grp, &c->priv, 0);
    if (ret == 0) {
        memcpy(client_pub, c->pub, ZB_SEC1_KEY_LEN);
    }
    return ret;
}

int zb_sec1_client_finish(zb_sec1_client *c, const uint8_t dev_pub[ZB_SEC1_KEY_LEN],
                          const uint8_t dev_rand[ZB_SEC1_RAND_LEN], const uint8_t *pop,
                          size_t pop_len, uint8_t client_verify[ZB_SEC1_KEY_LEN])
{
    int ret;

    ZB_CHECK(zb_x25519(&c->drbg, c->pub, dev_pub, pop, pop_len, c->sym_key, &c->grp, &c->priv, 1));
    memcpy(c->rand, dev_rand, ZB_SEC1_RAND_LEN);
    memset(c->stb, 0, sizeof(c->stb));
    c->nc_off = 0;
    ZB_CHECK(mbedtls_aes_setkey_enc(&c->aes, c->sym_key, 256));
    ZB_CHECK(mbedtls_aes_crypt_ctr(&c->aes, ZB_SEC1_KEY_LEN, &c->nc_off, c->rand, c->stb, dev_pub,
                                   client_verify));
cleanup:
    return ret;
}

int zb_sec1_client_verify(zb_sec1_client *c, const uint8_t device_verify[ZB_SEC1_KEY_LEN])
{
    uint8_t plain[ZB_SEC1_KEY_LEN];
    int ret;

    ZB_CHECK(mbedtls_aes_crypt_ctr(&c->aes, ZB_SEC1_KEY_LEN, &c->nc_off, c->rand, c->stb,
                                   device_verify, plain));
    ret = zb_ct_differ(plain, c->pub, ZB_SEC1_KEY_LEN) ? ZB_ERR_PROOF : 0;
cleanup:
    return ret;
}

/* ========================================================================================== */
/* P-256                                                                                        */
/* ========================================================================================== */

static int zb_write_point(const mbedtls_ecp_group *grp, const mbedtls_ecp_point *p,
                          uint8_t out[ZB_P256_POINT_LEN])
{
    size_t olen = 0;
    int ret = mbedtls_ecp_point_write_binary(grp, p, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, out,
                                             ZB_P256_POINT_LEN);
    return (ret == 0 && olen != ZB_P256_POINT_LEN) ? ZB_ERR_RANGE : ret;
}

int zb_p256_keypair(uint8_t priv[32], uint8_t pub[ZB_P256_POINT_LEN])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi d;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&d);
    ZB_CHECK(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1));
    ZB_CHECK(mbedtls_ecdh_gen_public(&grp, &d, &q, zb_rng, NULL));
    ZB_CHECK(mbedtls_mpi_write_binary(&d, priv, 32));
    ZB_CHECK(zb_write_point(&grp, &q, pub));
cleanup:
    mbedtls_ecp_group_free(&grp);
    mbedtls_ecp_point_free(&q);
    mbedtls_mpi_free(&d);
    return ret;
}

static int zb_p256_shared_with(mbedtls_ecp_group *grp, const mbedtls_mpi *d,
                               const uint8_t peer_pub[ZB_P256_POINT_LEN], uint8_t shared[32])
{
    mbedtls_ecp_point qp;
    mbedtls_mpi z;
    int ret;

    mbedtls_ecp_point_init(&qp);
    mbedtls_mpi_init(&z);
    ZB_CHECK(mbedtls_ecp_point_read_binary(grp, &qp, peer_pub, ZB_P256_POINT_LEN));
    ZB_CHECK(mbedtls_ecp_check_pubkey(grp, &qp));
    ZB_CHECK(mbedtls_ecdh_compute_shared(grp, &z, &qp, d, zb_rng, NULL));
    ZB_CHECK(mbedtls_mpi_write_binary(&z, shared, 32));
cleanup:
    mbedtls_ecp_point_free(&qp);
    mbedtls_mpi_free(&z);
    return ret;
}

int zbdev_p256_ecdh(const uint8_t peer_pub[ZB_P256_POINT_LEN], uint8_t pub[ZB_P256_POINT_LEN],
                    uint8_t shared[32])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi d;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&d);
    ZB_CHECK(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1));
    ZB_CHECK(mbedtls_ecdh_gen_public(&grp, &d, &q, zb_rng, NULL));
    ZB_CHECK(zb_write_point(&grp, &q, pub));
    ZB_CHECK(zb_p256_shared_with(&grp, &d, peer_pub, shared));
cleanup:
    mbedtls_ecp_group_free(&grp);
    mbedtls_ecp_point_free(&q);
    mbedtls_mpi_free(&d);
    return ret;
}

int zb_p256_shared(const uint8_t priv[32], const uint8_t peer_pub[ZB_P256_POINT_LEN],
                   uint8_t shared[32])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    ZB_CHECK(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1));
    ZB_CHECK(mbedtls_mpi_read_binary(&d, priv, 32));
    ZB_CHECK(zb_p256_shared_with(&grp, &d, peer_pub, shared));
cleanup:
    mbedtls_ecp_group_free(&grp);
    mbedtls_mpi_free(&d);
    return ret;
}

static int zb_p256_mul_in(mbedtls_ecp_group *grp, const uint8_t k[32], const mbedtls_ecp_point *p,
                          uint8_t out[ZB_P256_POINT_LEN])
{
    mbedtls_ecp_point r;
    mbedtls_mpi m;
    int ret;

    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&m);
    ZB_CHECK(mbedtls_mpi_read_binary(&m, k, 32));
    ZB_CHECK(mbedtls_ecp_mul(grp, &r, &m, p, zb_rng, NULL));
    ZB_CHECK(zb_write_point(grp, &r, out));
cleanup:
    mbedtls_ecp_point_free(&r);
    mbedtls_mpi_free(&m);
    return ret;
}

int zbdev_p256mul_fresh_g(const uint8_t k[32], uint8_t out[ZB_P256_POINT_LEN])
{
    mbedtls_ecp_group grp;
    int ret;

    mbedtls_ecp_group_init(&grp);
    ZB_CHECK(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1));
    ZB_CHECK(zb_p256_mul_in(&grp, k, &grp.G, out));
cleanup:
    mbedtls_ecp_group_free(&grp);
    return ret;
}

static mbedtls_ecp_group zb_kept_grp;
static int zb_kept_loaded;

int zb_p256mul_kept_warm(void)
{
    uint8_t k[32] = {0};
    uint8_t out[ZB_P256_POINT_LEN];
    int ret;

    if (!zb_kept_loaded) {
        mbedtls_ecp_group_init(&zb_kept_grp);
        ret = mbedtls_ecp_group_load(&zb_kept_grp, MBEDTLS_ECP_DP_SECP256R1);
        if (ret != 0) {
            return ret;
        }
        zb_kept_loaded = 1;
    }
    /* The first multiplication by G builds the comb table and keeps it in the group. */
    k[31] = 7;
    return zb_p256_mul_in(&zb_kept_grp, k, &zb_kept_grp.G, out);
}

int zbdev_p256mul_kept_g(const uint8_t k[32], uint8_t out[ZB_P256_POINT_LEN])
{
    if (!zb_kept_loaded) {
        return ZB_ERR_RANGE;
    }
    return zb_p256_mul_in(&zb_kept_grp, k, &zb_kept_grp.G, out);
}

int zbdev_p256mul_var(const uint8_t k[32], const uint8_t p[ZB_P256_POINT_LEN],
                      uint8_t out[ZB_P256_POINT_LEN])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point pt;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&pt);
    ZB_CHECK(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1));
    ZB_CHECK(mbedtls_ecp_point_read_binary(&grp, &pt, p, ZB_P256_POINT_LEN));
    ZB_CHECK(mbedtls_ecp_check_pubkey(&grp, &pt));
    ZB_CHECK(zb_p256_mul_in(&grp, k, &pt, out));
cleanup:
    mbedtls_ecp_point_free(&pt);
    mbedtls_ecp_group_free(&grp);
    return ret;
}
