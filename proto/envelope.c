/* envelope: AES-GCM / AES-CBC (mbedTLS) and SM4-CBC / SM4-GCM (OpenSSL, via
 * proto/gm) payload encryption, HMAC-SHA256 / HMAC-SM3 signatures (proto/mac),
 * in the JSON envelope drawn in envelope.h. */
#include "proto/envelope.h"
#include "proto/gm.h"
#include "proto/json_out.h"
#include "proto/mac.h"
#include <cjson/cJSON.h>
#include <mbedtls/aes.h>
#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GCM_TAG 16

static const char *const alg_names[ENVELOPE_ALGS] = { "none", "A256GCM", "A128CBC", "SM4-CBC",
                                                      "SM4-GCM" };
static const char *const alg_aliases[ENVELOPE_ALGS] = { "none", "aes-256-gcm", "aes-128-cbc",
                                                        "sm4-cbc", "sm4-gcm" };

const char *envelope_alg_name(enum envelope_alg a)
{
    return (unsigned)a < ENVELOPE_ALGS ? alg_names[a] : "none";
}

int envelope_alg_parse(const char *s, enum envelope_alg *out)
{
    for (int i = 0; i < ENVELOPE_ALGS; i++)
        if (!strcasecmp(s, alg_names[i]) || !strcasecmp(s, alg_aliases[i])) {
            *out = (enum envelope_alg)i;
            return 0;
        }
    return -1;
}

static int is_gcm(enum envelope_alg a)
{
    return a == ENVELOPE_A256GCM || a == ENVELOPE_SM4GCM;
}

size_t envelope_iv_len(enum envelope_alg a)
{
    return is_gcm(a) ? 12 : a == ENVELOPE_NONE ? 0 : 16;
}

size_t envelope_key_len(enum envelope_alg a)
{
    return a == ENVELOPE_A256GCM ? 32 : a == ENVELOPE_NONE ? 0 : 16;
}

const char *envelope_encoding_name(enum envelope_encoding e)
{
    return e == ENVELOPE_HEX ? "hex" : e == ENVELOPE_HEX_UPPER ? "HEX" : "base64";
}

int envelope_encoding_parse(const char *s, enum envelope_encoding *out)
{
    if (!strcmp(s, "base64"))
        *out = ENVELOPE_BASE64;
    else if (!strcmp(s, "hex"))
        *out = ENVELOPE_HEX;
    else if (!strcmp(s, "HEX"))
        *out = ENVELOPE_HEX_UPPER;
    else
        return -1;
    return 0;
}

int envelope_override(struct envelope_keys *k, const char *key, const char *value, char *err,
                      size_t errlen)
{
    enum envelope_encoding e;
    if (strcmp(key, "envelope.encoding") != 0) {
        snprintf(err, errlen, "'override.%s' is not an envelope override (expected "
                 "override.envelope.encoding)", key);
        return -1;
    }
    if (envelope_encoding_parse(value, &e) != 0) {
        snprintf(err, errlen, "override.%s: '%s' is not an encoding (expected base64, hex or "
                 "HEX: upper-case hex)", key, value);
        return -1;
    }
    if (k)
        k->encoding = e;
    return 0;
}

int envelope_hmac_hex(const unsigned char *key, size_t keylen, const void *data, size_t len,
                      char out[65])
{
    return mac_hex(MAC_HMAC_SHA256, key, keylen, data, len, out);
}

static char *b64(const unsigned char *src, size_t n)
{
    size_t cap = (n + 2) / 3 * 4 + 1, olen = 0;
    char *s = malloc(cap);
    if (s && mbedtls_base64_encode((unsigned char *)s, cap, &olen, src, n)) {
        free(s);
        return NULL;
    }
    if (s)
        s[olen] = 0;
    return s;
}

static unsigned char *unb64(const char *s, size_t *n)
{
    size_t len = strlen(s), olen = 0;
    unsigned char *b = malloc(len / 4 * 3 + 3);
    if (!b)
        return NULL;
    if (mbedtls_base64_decode(b, len / 4 * 3 + 3, &olen, (const unsigned char *)s, len)) {
        free(b);
        return NULL;
    }
    *n = olen;
    return b;
}

/* iv, data, tag as the envelope writes them (malloc'd; NULL: out of memory). */
static char *encode(enum envelope_encoding e, const unsigned char *src, size_t n)
{
    if (e == ENVELOPE_BASE64)
        return b64(src, n);
    const char *digits = e == ENVELOPE_HEX_UPPER ? "0123456789ABCDEF" : "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[src[i] >> 4];
        s[2 * i + 1] = digits[src[i] & 15];
    }
    s[2 * n] = 0;
    return s;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The bytes of an encoded field (malloc'd; NULL: not in the encoding). */
static unsigned char *decode(enum envelope_encoding e, const char *s, size_t *n)
{
    if (e == ENVELOPE_BASE64)
        return unb64(s, n);
    size_t len = strlen(s);
    if (len % 2)
        return NULL;
    unsigned char *b = malloc(len / 2 + 1);
    for (size_t i = 0; b && i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    *n = len / 2;
    return b;
}

static int has_ctl(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20)
            return 1;
    return 0;
}

/* The signature of an envelope's fields (ENVELOPE_SIGN_WIRE): the six joined by
 * "\n" into one buffer, signed with the uplink's sign_alg. */
static int sign_wire(const struct envelope_keys *k, const char *app, const char *id,
                     const char *alg, const char *iv, const char *data, const char *tag,
                     char out[65])
{
    const char *part[6] = { app, id, alg, iv ? iv : "", data, tag ? tag : "" };
    size_t plen[6], total = 5;
    for (int i = 0; i < 6; i++)
        total += plen[i] = strlen(part[i]);
    char *buf = malloc(total + 1), *p = buf;
    if (!buf)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (i)
            *p++ = '\n';
        memcpy(p, part[i], plen[i]);
        p += plen[i];
    }
    int rc = mac_hex(k->sign_alg, k->hmac_key, k->hmac_keylen, buf, total, out);
    free(buf);
    return rc;
}

static int sign_body(const struct envelope_keys *k, const void *body, size_t len, char out[65])
{
    return mac_hex(k->sign_alg, k->hmac_key, k->hmac_keylen, body, len, out);
}

static int check_keys(const struct envelope_keys *k, char *err, size_t errlen)
{
    if ((unsigned)k->alg >= ENVELOPE_ALGS) {
        snprintf(err, errlen, "unknown envelope algorithm %d", (int)k->alg);
        return -1;
    }
    size_t need = envelope_key_len(k->alg);
    if (need && (!k->key || k->keylen != need)) {
        snprintf(err, errlen, "%s needs a %zu-byte key (got %zu)", envelope_alg_name(k->alg),
                 need, k->key ? k->keylen : 0);
        return -1;
    }
    if (k->hmac_key && k->hmac_keylen == 0) {
        snprintf(err, errlen, "empty HMAC key");
        return -1;
    }
    return 0;
}

/* Encrypt body with k's algorithm: the ciphertext (malloc'd) and, for GCM, the
 * tag. 0, or -1 with why in err. */
static int encrypt(const struct envelope_keys *k, const unsigned char *iv, const void *body,
                   size_t len, unsigned char **ctp, size_t *ctlen, unsigned char tag[16],
                   char *err, size_t errlen)
{
    /* CBC: PKCS#7 pads 1 to 16 bytes, always at least one. */
    int cbc = k->alg == ENVELOPE_A128CBC || k->alg == ENVELOPE_SM4CBC;
    size_t cap = cbc ? len + 16 - len % 16 : len;
    unsigned char *ct = malloc(cap ? cap : 1);
    int rc = 0;
    *ctp = NULL;
    if (!ct) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    switch (k->alg) {
    case ENVELOPE_NONE:
        if (len)
            memcpy(ct, body, len);
        *ctlen = len;
        break;
    case ENVELOPE_A256GCM: {
        mbedtls_gcm_context g;
        mbedtls_gcm_init(&g);
        rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, k->key, 256);
        if (!rc)
            rc = mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, iv, 12, NULL, 0, body,
                                           ct, 16, tag);
        mbedtls_gcm_free(&g);
        *ctlen = len;
        break;
    }
    case ENVELOPE_A128CBC: {
        unsigned char *pt = malloc(cap), ivc[16];
        if (!pt) {
            free(ct);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (len)
            memcpy(pt, body, len);
        memset(pt + len, (int)(cap - len), cap - len);
        memcpy(ivc, iv, 16);
        mbedtls_aes_context a;
        mbedtls_aes_init(&a);
        rc = mbedtls_aes_setkey_enc(&a, k->key, 128);
        if (!rc)
            rc = mbedtls_aes_crypt_cbc(&a, MBEDTLS_AES_ENCRYPT, cap, ivc, pt, ct);
        mbedtls_aes_free(&a);
        free(pt);
        *ctlen = cap;
        break;
    }
    case ENVELOPE_SM4CBC:
    case ENVELOPE_SM4GCM:
        if ((k->alg == ENVELOPE_SM4CBC ? gm_sm4_cbc_encrypt(k->key, iv, body, len, ct, ctlen)
                                       : gm_sm4_gcm_encrypt(k->key, iv, NULL, 0, body, len, ct,
                                                            tag)) != 0) {
            free(ct);
            snprintf(err, errlen, "%s failed (this OpenSSL without SM4?)",
                     envelope_alg_name(k->alg));
            return -1;
        }
        if (k->alg == ENVELOPE_SM4GCM)
            *ctlen = len;
        break;
    }
    if (rc) {
        free(ct);
        snprintf(err, errlen, "%s failed (mbedTLS error -0x%04x)", envelope_alg_name(k->alg),
                 (unsigned)-rc);
        return -1;
    }
    *ctp = ct;
    return 0;
}

char *envelope_seal(const struct envelope_keys *k, const char *app_id, const char *data_id,
                    const unsigned char *iv, size_t ivlen, const void *body, size_t len,
                    size_t *outlen, char *err, size_t errlen)
{
    if (check_keys(k, err, errlen))
        return NULL;
    if (!app_id)
        app_id = "";
    if (!data_id)
        data_id = "";
    if (has_ctl(app_id) || has_ctl(data_id)) {
        snprintf(err, errlen, "appId and dataId cannot hold control characters");
        return NULL;
    }
    if (ivlen != envelope_iv_len(k->alg) || (ivlen && !iv)) {
        snprintf(err, errlen, "%s needs a %zu-byte IV (got %zu)", envelope_alg_name(k->alg),
                 envelope_iv_len(k->alg), ivlen);
        return NULL;
    }
    unsigned char *ct = NULL, tag[16];
    size_t ctlen = 0;
    char *ivs = NULL, *datas = NULL, *tags = NULL, *out = NULL;
    if (encrypt(k, iv, body, len, &ct, &ctlen, tag, err, errlen))
        return NULL;
    datas = encode(k->encoding, ct, ctlen);
    if (ivlen)
        ivs = encode(k->encoding, iv, ivlen);
    if (is_gcm(k->alg))
        tags = encode(k->encoding, tag, 16);
    if (!datas || (ivlen && !ivs) || (is_gcm(k->alg) && !tags)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    char sign[65] = "";
    if (k->hmac_key) {
        int bad = k->sign_over == ENVELOPE_SIGN_BODY
                      ? sign_body(k, body, len, sign)
                      : sign_wire(k, app_id, data_id, envelope_alg_name(k->alg), ivs, datas,
                                  tags, sign);
        if (bad) {
            snprintf(err, errlen, "%s failed (this OpenSSL without it?)", mac_name(k->sign_alg));
            goto out;
        }
    }
    struct json_out j;
    json_init(&j);
    json_lit(&j, "{\"appId\":");
    json_str(&j, app_id);
    json_lit(&j, ",\"dataId\":");
    json_str(&j, data_id);
    json_lit(&j, ",\"alg\":");
    json_str(&j, envelope_alg_name(k->alg));
    if (ivs) {
        json_lit(&j, ",\"iv\":");
        json_str(&j, ivs);
    }
    json_lit(&j, ",\"data\":");
    json_str(&j, datas);
    if (tags) {
        json_lit(&j, ",\"tag\":");
        json_str(&j, tags);
    }
    if (sign[0]) {
        json_lit(&j, ",\"sign\":");
        json_str(&j, sign);
    }
    json_lit(&j, "}");
    size_t n = j.len;
    out = json_take(&j);
    if (!out)
        snprintf(err, errlen, "out of memory");
    else if (outlen)
        *outlen = n;
out:
    free(ct);
    free(ivs);
    free(datas);
    free(tags);
    return out;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* Compare without an early exit, so timing says nothing about the signature. */
static int same(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* Decrypt ct (ctn bytes) into pt (room for ctn bytes): *n bytes. 0, or -1 with
 * why in err. */
static int decrypt(const struct envelope_keys *k, const unsigned char *iv,
                   const unsigned char *ct, size_t ctn, const unsigned char *tag,
                   unsigned char *pt, size_t *n, char *err, size_t errlen)
{
    const char *alg = envelope_alg_name(k->alg);
    *n = ctn;
    switch (k->alg) {
    case ENVELOPE_NONE:
        if (ctn)
            memcpy(pt, ct, ctn);
        return 0;
    case ENVELOPE_A256GCM: {
        mbedtls_gcm_context g;
        mbedtls_gcm_init(&g);
        int rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, k->key, 256);
        if (!rc)
            rc = mbedtls_gcm_auth_decrypt(&g, ctn, iv, 12, NULL, 0, tag, 16, ct, pt);
        mbedtls_gcm_free(&g);
        if (rc) {
            snprintf(err, errlen, "GCM authentication failed");
            return -1;
        }
        return 0;
    }
    case ENVELOPE_SM4GCM:
        if (gm_sm4_gcm_decrypt(k->key, iv, NULL, 0, ct, ctn, tag, pt) != 0) {
            snprintf(err, errlen, "GCM authentication failed");
            return -1;
        }
        return 0;
    case ENVELOPE_A128CBC:
    case ENVELOPE_SM4CBC:
        break;
    }
    if (ctn == 0 || ctn % 16) {
        snprintf(err, errlen, "%s ciphertext is not whole blocks", alg);
        return -1;
    }
    if (k->alg == ENVELOPE_SM4CBC) {
        if (gm_sm4_cbc_decrypt(k->key, iv, ct, ctn, pt, n) != 0) {
            snprintf(err, errlen, "bad padding (wrong key?)");
            return -1;
        }
        return 0;
    }
    unsigned char ivc[16];
    memcpy(ivc, iv, 16);
    mbedtls_aes_context ac;
    mbedtls_aes_init(&ac);
    int rc = mbedtls_aes_setkey_dec(&ac, k->key, 128);
    if (!rc)
        rc = mbedtls_aes_crypt_cbc(&ac, MBEDTLS_AES_DECRYPT, ctn, ivc, ct, pt);
    mbedtls_aes_free(&ac);
    unsigned pad = rc ? 0 : pt[ctn - 1];
    int ok = pad >= 1 && pad <= 16;
    for (unsigned i = 0; ok && i < pad; i++)
        ok = pt[ctn - 1 - i] == pad;
    if (!ok) {
        snprintf(err, errlen, "bad padding (wrong key?)");
        return -1;
    }
    *n = ctn - pad;
    return 0;
}

int envelope_open(const struct envelope_keys *k, const char *env, size_t len,
                  unsigned char **body, size_t *bodylen, char *err, size_t errlen)
{
    *body = NULL;
    if (check_keys(k, err, errlen))
        return -1;
    cJSON *o = cJSON_ParseWithLength(env, len);
    unsigned char *iv = NULL, *ct = NULL, *tag = NULL, *pt = NULL;
    size_t ivn = 0, ctn = 0, tagn = 0;
    int ret = -1;
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    const char *app = str_of(o, "appId"), *id = str_of(o, "dataId"), *alg = str_of(o, "alg");
    const char *ivs = str_of(o, "iv"), *datas = str_of(o, "data"), *tags = str_of(o, "tag");
    const char *sign = str_of(o, "sign");
    enum envelope_alg a;
    if (!app || !id || !alg || !datas) {
        snprintf(err, errlen, "appId, dataId, alg and data are required");
        goto out;
    }
    if (envelope_alg_parse(alg, &a) || a != k->alg || strcmp(alg, envelope_alg_name(a))) {
        snprintf(err, errlen, "alg '%s' is not the configured %s", alg, envelope_alg_name(k->alg));
        goto out;
    }
    if ((envelope_iv_len(a) && !ivs) || (is_gcm(a) && !tags)) {
        snprintf(err, errlen, "%s needs iv%s", alg, is_gcm(a) ? " and tag" : "");
        goto out;
    }
    if (k->hmac_key && k->sign_over == ENVELOPE_SIGN_WIRE) {
        char want[65];
        if (!sign || sign_wire(k, app, id, alg, ivs, datas, tags, want) || !same(sign, want)) {
            snprintf(err, errlen, sign ? "signature does not match" : "no signature");
            goto out;
        }
    }
    if ((ivs && !(iv = decode(k->encoding, ivs, &ivn))) ||
        !(ct = decode(k->encoding, datas, &ctn)) ||
        (tags && !(tag = decode(k->encoding, tags, &tagn)))) {
        snprintf(err, errlen, "bad %s", envelope_encoding_name(k->encoding));
        goto out;
    }
    if (ivn != envelope_iv_len(a) || (is_gcm(a) && tagn != 16)) {
        snprintf(err, errlen, "bad IV or tag length");
        goto out;
    }
    size_t n = 0;
    pt = malloc(ctn + 1);
    if (!pt) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (decrypt(k, iv, ct, ctn, tag, pt, &n, err, errlen))
        goto out;
    pt[n] = 0;
    if (k->hmac_key && k->sign_over == ENVELOPE_SIGN_BODY) {
        char want[65];
        if (!sign || sign_body(k, pt, n, want) || !same(sign, want)) {
            snprintf(err, errlen, sign ? "signature does not match" : "no signature");
            goto out;
        }
    }
    *body = pt;
    pt = NULL;
    if (bodylen)
        *bodylen = n;
    ret = 0;
out:
    cJSON_Delete(o);
    free(iv);
    free(ct);
    free(tag);
    free(pt);
    return ret;
}
