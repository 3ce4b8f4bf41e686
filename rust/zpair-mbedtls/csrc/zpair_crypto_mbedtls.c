/*
 * zpair's crypto provider over mbedTLS. See include/zpair_crypto_mbedtls.h for the API.
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * Self-contained: needs only this file, its header and an mbedTLS 2.28 or 3.6 include path
 * (plus MBEDTLS_CONFIG_FILE when the library was built with one). Uses the public mbedTLS API
 * only and never touches a structure field, so that MBEDTLS_PRIVATE() in 3.x does not matter.
 *
 * Required mbedTLS configuration: MBEDTLS_SHA256_C, MBEDTLS_MD_C, MBEDTLS_HKDF_C,
 * MBEDTLS_PKCS5_C, MBEDTLS_AES_C, MBEDTLS_CCM_C, MBEDTLS_BIGNUM_C, MBEDTLS_ECP_C and
 * MBEDTLS_ECP_DP_SECP256R1_ENABLED (checked below). Zephyr: CONFIG_MBEDTLS_SHA256,
 * CONFIG_MBEDTLS_HKDF_C, CONFIG_MBEDTLS_PKCS5_C, CONFIG_MBEDTLS_CIPHER_AES_ENABLED,
 * CONFIG_MBEDTLS_CIPHER_CCM_ENABLED, CONFIG_MBEDTLS_ECP_C,
 * CONFIG_MBEDTLS_ECP_DP_SECP256R1_ENABLED (names as of Zephyr 4.x).
 */
#include "zpair_crypto_mbedtls.h"

#include <stddef.h>
#include <string.h>

#include "mbedtls/version.h"
#include "mbedtls/bignum.h"
#include "mbedtls/ccm.h"
#include "mbedtls/ecp.h"
#include "mbedtls/hkdf.h"
#include "mbedtls/md.h"
#include "mbedtls/pkcs5.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"

#if !defined(MBEDTLS_SHA256_C) || !defined(MBEDTLS_MD_C) || !defined(MBEDTLS_HKDF_C) ||         \
    !defined(MBEDTLS_PKCS5_C) || !defined(MBEDTLS_AES_C) || !defined(MBEDTLS_CCM_C) ||          \
    !defined(MBEDTLS_BIGNUM_C) || !defined(MBEDTLS_ECP_C) ||                                   \
    !defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED)
#error "zpair needs SHA256, MD, HKDF, PKCS5, AES, CCM, BIGNUM, ECP and SECP256R1 in mbedTLS"
#endif

#if MBEDTLS_VERSION_MAJOR >= 3
#define ZP_SHA256_STARTS(ctx) mbedtls_sha256_starts((ctx), 0)
#define ZP_SHA256_UPDATE(ctx, p, n) mbedtls_sha256_update((ctx), (p), (n))
#define ZP_SHA256_FINISH(ctx, out) mbedtls_sha256_finish((ctx), (out))
#elif MBEDTLS_VERSION_MAJOR == 2 && MBEDTLS_VERSION_MINOR >= 28
#define ZP_SHA256_STARTS(ctx) mbedtls_sha256_starts_ret((ctx), 0)
#define ZP_SHA256_UPDATE(ctx, p, n) mbedtls_sha256_update_ret((ctx), (p), (n))
#define ZP_SHA256_FINISH(ctx, out) mbedtls_sha256_finish_ret((ctx), (out))
#else
#error "zpair needs mbedTLS 2.28 or 3.x"
#endif

/* C99-compatible static assertion. */
#define ZP_STATIC_ASSERT(cond, name) typedef char zp_static_assert_##name[(cond) ? 1 : -1]

/* ------------------------------------------------------------------------------------------ */
/* SHA-256 and HMAC-SHA256 (RFC 2104) over mbedtls_sha256: no heap, so they cannot fail.       */
/* ------------------------------------------------------------------------------------------ */

#define ZP_BLOCK 64
#define ZP_DIGEST 32

struct zp_hash {
    mbedtls_sha256_context sha;
    unsigned char opad[ZP_BLOCK]; /* key XOR 0x5c, HMAC only */
    int hmac;
};

struct zp_hash_align_probe {
    char c;
    struct zp_hash h;
};
struct zp_ctx_align_probe {
    char c;
    zpair_hash_ctx h;
};

ZP_STATIC_ASSERT(sizeof(struct zp_hash) <= sizeof(zpair_hash_ctx), hash_ctx_size);
ZP_STATIC_ASSERT(offsetof(struct zp_hash_align_probe, h) <=
                     offsetof(struct zp_ctx_align_probe, h),
                 hash_ctx_align);

static struct zp_hash *zp_hash_of(zpair_hash_ctx *ctx)
{
    return (struct zp_hash *) (void *) ctx;
}

int zpair_sha256_start(zpair_hash_ctx *ctx)
{
    struct zp_hash *h = zp_hash_of(ctx);

    memset(ctx, 0, sizeof(*ctx));
    mbedtls_sha256_init(&h->sha);
    h->hmac = 0;
    return ZP_SHA256_STARTS(&h->sha);
}

int zpair_hmac_sha256_start(zpair_hash_ctx *ctx, const uint8_t *key, size_t key_len)
{
    struct zp_hash *h = zp_hash_of(ctx);
    unsigned char k0[ZP_BLOCK];
    unsigned char ipad[ZP_BLOCK];
    size_t i;
    int ret = 0;

    memset(ctx, 0, sizeof(*ctx));
    memset(k0, 0, sizeof(k0));
    mbedtls_sha256_init(&h->sha);
    h->hmac = 1;

    if (key_len > ZP_BLOCK) {
        /* Keys longer than a block are hashed first. */
        ret = ZP_SHA256_STARTS(&h->sha);
        if (ret == 0) {
            ret = ZP_SHA256_UPDATE(&h->sha, key, key_len);
        }
        if (ret == 0) {
            ret = ZP_SHA256_FINISH(&h->sha, k0);
        }
    } else if (key_len > 0) {
        memcpy(k0, key, key_len);
    }

    for (i = 0; i < ZP_BLOCK; i++) {
        ipad[i] = (unsigned char) (k0[i] ^ 0x36);
        h->opad[i] = (unsigned char) (k0[i] ^ 0x5c);
    }
    if (ret == 0) {
        ret = ZP_SHA256_STARTS(&h->sha);
    }
    if (ret == 0) {
        ret = ZP_SHA256_UPDATE(&h->sha, ipad, ZP_BLOCK);
    }

    mbedtls_platform_zeroize(k0, sizeof(k0));
    mbedtls_platform_zeroize(ipad, sizeof(ipad));
    return ret;
}

int zpair_hash_update(zpair_hash_ctx *ctx, const uint8_t *data, size_t len)
{
    if (len == 0) {
        return 0;
    }
    return ZP_SHA256_UPDATE(&zp_hash_of(ctx)->sha, data, len);
}

int zpair_hash_finish(zpair_hash_ctx *ctx, uint8_t out[32])
{
    struct zp_hash *h = zp_hash_of(ctx);
    unsigned char inner[ZP_DIGEST];
    int ret;

    if (h->hmac) {
        ret = ZP_SHA256_FINISH(&h->sha, inner);
        if (ret == 0) {
            ret = ZP_SHA256_STARTS(&h->sha);
        }
        if (ret == 0) {
            ret = ZP_SHA256_UPDATE(&h->sha, h->opad, ZP_BLOCK);
        }
        if (ret == 0) {
            ret = ZP_SHA256_UPDATE(&h->sha, inner, ZP_DIGEST);
        }
        if (ret == 0) {
            ret = ZP_SHA256_FINISH(&h->sha, out);
        }
        mbedtls_platform_zeroize(inner, sizeof(inner));
    } else {
        ret = ZP_SHA256_FINISH(&h->sha, out);
    }

    mbedtls_sha256_free(&h->sha);
    mbedtls_platform_zeroize(ctx, sizeof(*ctx));
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* HKDF and PBKDF2                                                                              */
/* ------------------------------------------------------------------------------------------ */

int zpair_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                      const uint8_t *info, size_t info_len, uint8_t *okm, size_t okm_len)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    if (okm_len > 255u * ZP_DIGEST) {
        return ZPAIR_ERR_BAD_LENGTH;
    }
    if (okm_len == 0) {
        return 0;
    }
    if (md == NULL) {
        return MBEDTLS_ERR_MD_FEATURE_UNAVAILABLE;
    }
    /* An empty salt means HashLen zero bytes (RFC 5869 2.2); mbedTLS does that for NULL. */
    return mbedtls_hkdf(md, salt_len == 0 ? NULL : salt, salt_len, ikm, ikm_len, info, info_len,
                        okm, okm_len);
}

int zpair_pbkdf2_hmac_sha256(const uint8_t *password, size_t password_len, const uint8_t *salt,
                             size_t salt_len, uint32_t iterations, uint8_t *out, size_t out_len)
{
    int ret;

    if (iterations == 0 || out_len == 0) {
        return ZPAIR_ERR_BAD_LENGTH;
    }
#if SIZE_MAX > 0xFFFFFFFFu
    if (out_len > 0xFFFFFFFFu) {
        return ZPAIR_ERR_BAD_LENGTH;
    }
#endif
#if MBEDTLS_VERSION_MAJOR >= 3
    ret = mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, password, password_len, salt, salt_len,
                                        (unsigned int) iterations, (uint32_t) out_len, out);
#else
    {
        const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
        mbedtls_md_context_t md_ctx;

        if (md == NULL) {
            return MBEDTLS_ERR_MD_FEATURE_UNAVAILABLE;
        }
        mbedtls_md_init(&md_ctx);
        ret = mbedtls_md_setup(&md_ctx, md, 1);
        if (ret == 0) {
            ret = mbedtls_pkcs5_pbkdf2_hmac(&md_ctx, password, password_len, salt, salt_len,
                                            (unsigned int) iterations, (uint32_t) out_len, out);
        }
        mbedtls_md_free(&md_ctx);
    }
#endif
    if (ret != 0) {
        mbedtls_platform_zeroize(out, out_len);
    }
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* P-256                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* The group order n, big endian. */
static const unsigned char zp_p256_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* The generator G, SEC1 uncompressed (kept here so that no group field is read). */
static const unsigned char zp_p256_g[65] = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
    0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8,
    0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a,
    0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40,
    0x68, 0x37, 0xbf, 0x51, 0xf5,
};

static int zp_load_group(mbedtls_ecp_group *grp)
{
    return mbedtls_ecp_group_load(grp, MBEDTLS_ECP_DP_SECP256R1);
}

/* Reads and fully validates a point; any encoding or curve problem is INVALID_POINT. */
static int zp_read_point(const mbedtls_ecp_group *grp, mbedtls_ecp_point *pt, const uint8_t in[65])
{
    int ret;

    if (in[0] != 0x04) {
        return ZPAIR_ERR_INVALID_POINT;
    }
    ret = mbedtls_ecp_point_read_binary(grp, pt, in, 65);
    if (ret == MBEDTLS_ERR_MPI_ALLOC_FAILED) {
        return ret;
    }
    if (ret != 0) {
        return ZPAIR_ERR_INVALID_POINT;
    }
    ret = mbedtls_ecp_check_pubkey(grp, pt);
    if (ret == MBEDTLS_ERR_MPI_ALLOC_FAILED) {
        return ret;
    }
    return ret == 0 ? 0 : ZPAIR_ERR_INVALID_POINT;
}

/* Writes a point, refusing the identity. */
static int zp_write_point(const mbedtls_ecp_group *grp, mbedtls_ecp_point *pt, uint8_t out[65])
{
    size_t olen = 0;
    int ret;

    if (mbedtls_ecp_is_zero(pt)) {
        return ZPAIR_ERR_INVALID_POINT;
    }
    ret = mbedtls_ecp_point_write_binary(grp, pt, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, out, 65);
    if (ret == 0 && olen != 65) {
        ret = ZPAIR_ERR_INVALID_POINT;
    }
    return ret;
}

/* Reads a secret scalar and checks 1 <= k < n without branching on its value. */
static int zp_read_scalar(mbedtls_mpi *k, const uint8_t in[32])
{
    mbedtls_mpi n;
    unsigned char acc = 0;
    unsigned lt = 0;
    size_t i;
    int ret;

    for (i = 0; i < 32; i++) {
        acc |= in[i];
    }
    mbedtls_mpi_init(&n);
    ret = mbedtls_mpi_read_binary(k, in, 32);
    if (ret == 0) {
        ret = mbedtls_mpi_read_binary(&n, zp_p256_n, sizeof(zp_p256_n));
    }
    if (ret == 0) {
        ret = mbedtls_mpi_lt_mpi_ct(k, &n, &lt);
    }
    if (ret == 0 && ((lt == 0) | (acc == 0))) {
        ret = ZPAIR_ERR_INVALID_SCALAR;
    }
    mbedtls_mpi_free(&n);
    return ret;
}

static int zp_map_rng_error(int ret)
{
    return ret == MBEDTLS_ERR_ECP_RANDOM_FAILED ? ZPAIR_ERR_RNG : ret;
}

int zpair_p256_mul(const uint8_t k[32], const uint8_t *p_or_null, uint8_t out[65],
                   zpair_rng_fn f_rng, void *p_rng)
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point p, r;
    mbedtls_mpi m;
    int ret;

    if (f_rng == NULL) {
        return ZPAIR_ERR_RNG;
    }
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&p);
    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&m);

    ret = zp_load_group(&grp);
    if (ret == 0) {
        ret = zp_read_scalar(&m, k);
    }
    if (ret == 0) {
        ret = zp_read_point(&grp, &p, p_or_null != NULL ? p_or_null : zp_p256_g);
    }
    if (ret == 0) {
        /* Constant-time multiplication with randomised projective coordinates. */
        ret = zp_map_rng_error(mbedtls_ecp_mul(&grp, &r, &m, &p, f_rng, p_rng));
    }
    if (ret == 0) {
        ret = zp_write_point(&grp, &r, out);
    }

    /* mbedtls_*_free wipe the limbs before releasing them. */
    mbedtls_mpi_free(&m);
    mbedtls_ecp_point_free(&r);
    mbedtls_ecp_point_free(&p);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int zpair_p256_add(const uint8_t a[65], const uint8_t b[65], uint8_t out[65])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point pa, pb, r;
    mbedtls_mpi one;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&pa);
    mbedtls_ecp_point_init(&pb);
    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&one);

    ret = zp_load_group(&grp);
    if (ret == 0) {
        ret = zp_read_point(&grp, &pa, a);
    }
    if (ret == 0) {
        ret = zp_read_point(&grp, &pb, b);
    }
    if (ret == 0) {
        ret = mbedtls_mpi_lset(&one, 1);
    }
    if (ret == 0) {
        ret = mbedtls_ecp_muladd(&grp, &r, &one, &pa, &one, &pb);
    }
    if (ret == 0) {
        ret = zp_write_point(&grp, &r, out);
    }

    mbedtls_mpi_free(&one);
    mbedtls_ecp_point_free(&r);
    mbedtls_ecp_point_free(&pb);
    mbedtls_ecp_point_free(&pa);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int zpair_p256_check_point(const uint8_t p[65])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point pt;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&pt);
    ret = zp_load_group(&grp);
    if (ret == 0) {
        ret = zp_read_point(&grp, &pt, p);
    }
    mbedtls_ecp_point_free(&pt);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int zpair_p256_random_scalar(uint8_t out[32], zpair_rng_fn f_rng, void *p_rng)
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d;
    int ret;

    if (f_rng == NULL) {
        return ZPAIR_ERR_RNG;
    }
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    ret = zp_load_group(&grp);
    if (ret == 0) {
        /* Rejection sampling: uniform in [1, n). */
        ret = zp_map_rng_error(mbedtls_ecp_gen_privkey(&grp, &d, f_rng, p_rng));
    }
    if (ret == 0) {
        ret = mbedtls_mpi_write_binary(&d, out, 32);
    }
    if (ret != 0) {
        mbedtls_platform_zeroize(out, 32);
    }
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int zpair_p256_reduce(const uint8_t *wide, size_t wide_len, uint8_t out[32])
{
    mbedtls_mpi a, n, r;
    int ret;

    if (wide_len > 64) {
        return ZPAIR_ERR_BAD_LENGTH;
    }
    mbedtls_mpi_init(&a);
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&r);
    ret = mbedtls_mpi_read_binary(&a, wide, wide_len);
    if (ret == 0) {
        ret = mbedtls_mpi_read_binary(&n, zp_p256_n, sizeof(zp_p256_n));
    }
    if (ret == 0) {
        ret = mbedtls_mpi_mod_mpi(&r, &a, &n);
    }
    if (ret == 0) {
        ret = mbedtls_mpi_write_binary(&r, out, 32);
    }
    if (ret != 0) {
        mbedtls_platform_zeroize(out, 32);
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&a);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* AES-128-CCM                                                                                  */
/* ------------------------------------------------------------------------------------------ */

#define ZP_CCM_NONCE 13
#define ZP_CCM_TAG 16

int zpair_aes128_ccm_seal(const uint8_t key[16], const uint8_t nonce[13], const uint8_t *aad,
                          size_t aad_len, uint8_t *buf, size_t len, uint8_t tag[16])
{
    mbedtls_ccm_context ccm;
    int ret;

    if (len > 0xFFFFu || aad_len >= 0xFF00u) {
        return ZPAIR_ERR_BAD_LENGTH;
    }
    mbedtls_ccm_init(&ccm);
    ret = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (ret == 0) {
        ret = mbedtls_ccm_encrypt_and_tag(&ccm, len, nonce, ZP_CCM_NONCE, aad, aad_len, buf, buf,
                                          tag, ZP_CCM_TAG);
    }
    mbedtls_ccm_free(&ccm);
    if (ret != 0) {
        /* Never leave a half-encrypted buffer behind. */
        mbedtls_platform_zeroize(buf, len);
        mbedtls_platform_zeroize(tag, ZP_CCM_TAG);
    }
    return ret;
}

int zpair_aes128_ccm_open(const uint8_t key[16], const uint8_t nonce[13], const uint8_t *aad,
                          size_t aad_len, uint8_t *buf, size_t len, const uint8_t tag[16])
{
    mbedtls_ccm_context ccm;
    int ret;

    if (len > 0xFFFFu || aad_len >= 0xFF00u) {
        mbedtls_platform_zeroize(buf, len);
        return ZPAIR_ERR_BAD_LENGTH;
    }
    mbedtls_ccm_init(&ccm);
    ret = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (ret == 0) {
        /* Compares the tag in constant time. */
        ret = mbedtls_ccm_auth_decrypt(&ccm, len, nonce, ZP_CCM_NONCE, aad, aad_len, buf, buf, tag,
                                       ZP_CCM_TAG);
    }
    mbedtls_ccm_free(&ccm);
    if (ret == MBEDTLS_ERR_CCM_AUTH_FAILED) {
        ret = ZPAIR_ERR_AUTH_FAILED;
    }
    if (ret != 0) {
        /* No unauthenticated plaintext ever reaches the caller. */
        mbedtls_platform_zeroize(buf, len);
    }
    return ret;
}
