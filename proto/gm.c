/* gm: SM3 and SM4 (CBC, GCM) over OpenSSL 3's EVP; GCM's GHASH here. */
#include "proto/gm.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* Lengths handed to EVP are ints; a message is far shorter. */
#define GM_MAX ((size_t)INT_MAX - 64)

int gm_sm3(const void *data, size_t len, unsigned char out[32])
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SM3", NULL);
    unsigned n = 0;
    int ok = md && EVP_Digest(data, len, out, &n, md, NULL) == 1 && n == 32;
    EVP_MD_free(md);
    return ok ? 0 : -1;
}

/* One pass of the cipher `name` (no padding unless pad) over len bytes of in:
 * *outlen bytes to out. */
static int evp_crypt(const char *name, int enc, int pad, const unsigned char *key,
                     const unsigned char *iv, const unsigned char *in, size_t len,
                     unsigned char *out, size_t *outlen)
{
    if (len > GM_MAX)
        return -1;
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *x = c ? EVP_CIPHER_CTX_new() : NULL;
    int n1 = 0, n2 = 0;
    int ok = x && EVP_CipherInit_ex2(x, c, key, iv, enc, NULL) == 1 &&
             EVP_CIPHER_CTX_set_padding(x, pad) == 1 &&
             (len == 0 || EVP_CipherUpdate(x, out, &n1, in, (int)len) == 1) &&
             EVP_CipherFinal_ex(x, out + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    if (!ok)
        return -1;
    if (outlen)
        *outlen = (size_t)n1 + (size_t)n2;
    return 0;
}

int gm_sm4_cbc_encrypt(const unsigned char key[16], const unsigned char iv[16], const void *in,
                       size_t len, unsigned char *out, size_t *outlen)
{
    size_t n = 0;
    if (evp_crypt("SM4-CBC", 1, 1, key, iv, in, len, out, &n) != 0 || n != len + 16 - len % 16)
        return -1;
    *outlen = n;
    return 0;
}

int gm_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16],
                       const unsigned char *in, size_t len, unsigned char *out, size_t *outlen)
{
    /* Without OpenSSL's padding (its output may run a block past len) and the
     * PKCS#7 check here, touching every padding byte whatever it finds. */
    if (len == 0 || len % 16 || evp_crypt("SM4-CBC", 0, 0, key, iv, in, len, out, NULL) != 0)
        return -1;
    unsigned pad = out[len - 1];
    unsigned bad = (unsigned)(pad == 0) | (unsigned)(pad > 16);
    for (unsigned i = 1; i <= 16; i++) {
        unsigned in_pad = (unsigned)(i <= pad);
        bad |= in_pad & (unsigned)(out[len - i] != pad);
    }
    if (bad) {
        OPENSSL_cleanse(out, len);
        return -1;
    }
    *outlen = len - pad;
    return 0;
}

/* ---- GCM (SP 800-38D) ---- */

/* x = x . h in GF(2^128), GCM's bit order (the first bit the most significant
 * of byte 0); no branch or index on secret bits. */
static void gf_mul(uint64_t x[2], const uint64_t h[2])
{
    uint64_t zh = 0, zl = 0, vh = h[0], vl = h[1];
    for (int i = 0; i < 128; i++) {
        uint64_t bit = (i < 64 ? x[0] >> (63 - i) : x[1] >> (127 - i)) & 1;
        zh ^= vh & (0 - bit);
        zl ^= vl & (0 - bit);
        uint64_t lsb = vl & 1;
        vl = (vl >> 1) | (vh << 63);
        vh = (vh >> 1) ^ (0xE100000000000000ULL & (0 - lsb));
    }
    x[0] = zh;
    x[1] = zl;
}

static uint64_t load64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static void store64(unsigned char *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
}

/* GHASH over data, zero-padded to whole blocks, into y. */
static void ghash(uint64_t y[2], const uint64_t h[2], const unsigned char *data, size_t len)
{
    for (size_t at = 0; at < len; at += 16) {
        unsigned char b[16] = { 0 };
        memcpy(b, data + at, len - at < 16 ? len - at : 16);
        y[0] ^= load64(b);
        y[1] ^= load64(b + 8);
        gf_mul(y, h);
    }
}

/* The tag of (aad, ct) under key and iv. */
static int gcm_tag(const unsigned char *key, const unsigned char *iv, const unsigned char *aad,
                   size_t aadlen, const unsigned char *ct, size_t len, unsigned char tag[16])
{
    /* H = E(0^128) and E(J0), J0 = IV || 0^31 || 1, in one ECB call */
    unsigned char blocks[32] = { 0 }, enc[32];
    memcpy(blocks + 16, iv, 12);
    blocks[31] = 1;
    if (evp_crypt("SM4-ECB", 1, 0, key, NULL, blocks, 32, enc, NULL) != 0)
        return -1;
    uint64_t h[2] = { load64(enc), load64(enc + 8) }, y[2] = { 0, 0 };
    ghash(y, h, aad, aadlen);
    ghash(y, h, ct, len);
    y[0] ^= (uint64_t)aadlen * 8;
    y[1] ^= (uint64_t)len * 8;
    gf_mul(y, h);
    store64(tag, y[0] ^ load64(enc + 16));
    store64(tag + 8, y[1] ^ load64(enc + 24));
    OPENSSL_cleanse(enc, sizeof enc);
    OPENSSL_cleanse(h, sizeof h);
    return 0;
}

/* GCM's keystream starts at inc32(J0) = IV || 0^30 || 10, and OpenSSL's CTR
 * counts from there as inc32 does until the low 32 bits wrap: past the 2^32 - 2
 * blocks GCM allows (and past GM_MAX). */
static int gcm_ctr(const unsigned char *key, const unsigned char *iv, const unsigned char *in,
                   size_t len, unsigned char *out)
{
    unsigned char ctr[16] = { 0 };
    memcpy(ctr, iv, 12);
    ctr[15] = 2;
    return evp_crypt("SM4-CTR", 1, 0, key, ctr, in, len, out, NULL);
}

int gm_sm4_gcm_encrypt(const unsigned char key[16], const unsigned char iv[12],
                       const void *aad, size_t aadlen, const void *in, size_t len,
                       unsigned char *out, unsigned char tag[16])
{
    if (len > GM_MAX || aadlen > GM_MAX || gcm_ctr(key, iv, in, len, out) != 0)
        return -1;
    return gcm_tag(key, iv, aad, aadlen, out, len, tag);
}

int gm_sm4_gcm_decrypt(const unsigned char key[16], const unsigned char iv[12],
                       const void *aad, size_t aadlen, const unsigned char *in, size_t len,
                       const unsigned char tag[16], unsigned char *out)
{
    unsigned char want[16];
    if (len > GM_MAX || aadlen > GM_MAX || gcm_tag(key, iv, aad, aadlen, in, len, want) != 0)
        return -1;
    /* the tag first: nothing is decrypted from a forged message */
    if (CRYPTO_memcmp(want, tag, 16) != 0)
        return -1;
    return gcm_ctr(key, iv, in, len, out);
}
