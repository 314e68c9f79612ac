/* envelope: HMAC-SHA256 signatures and AES-GCM / AES-CBC payload encryption
 * with mbedTLS, in the JSON envelope drawn in envelope.h. */
#include "proto/envelope.h"
#include "proto/json_out.h"
#include <cjson/cJSON.h>
#include <mbedtls/aes.h>
#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GCM_TAG 16

const char *envelope_alg_name(enum envelope_alg a)
{
    return a == ENVELOPE_A256GCM ? "A256GCM" : a == ENVELOPE_A128CBC ? "A128CBC" : "none";
}

int envelope_alg_parse(const char *s, enum envelope_alg *out)
{
    if (!strcasecmp(s, "A256GCM") || !strcasecmp(s, "aes-256-gcm"))
        *out = ENVELOPE_A256GCM;
    else if (!strcasecmp(s, "A128CBC") || !strcasecmp(s, "aes-128-cbc"))
        *out = ENVELOPE_A128CBC;
    else if (!strcasecmp(s, "none"))
        *out = ENVELOPE_NONE;
    else
        return -1;
    return 0;
}

size_t envelope_iv_len(enum envelope_alg a)
{
    return a == ENVELOPE_A256GCM ? 12 : a == ENVELOPE_A128CBC ? 16 : 0;
}

size_t envelope_key_len(enum envelope_alg a)
{
    return a == ENVELOPE_A256GCM ? 32 : a == ENVELOPE_A128CBC ? 16 : 0;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* HMAC over parts joined by "\n" (one part: no separator). */
static int hmac_parts(const unsigned char *key, size_t keylen, const char *const *part,
                      const size_t *plen, int nparts, char out[65])
{
    unsigned char mac[32];
    mbedtls_md_context_t c;
    mbedtls_md_init(&c);
    int rc = mbedtls_md_setup(&c, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (!rc)
        rc = mbedtls_md_hmac_starts(&c, key, keylen);
    for (int i = 0; !rc && i < nparts; i++) {
        if (i)
            rc = mbedtls_md_hmac_update(&c, (const unsigned char *)"\n", 1);
        if (!rc && plen[i])
            rc = mbedtls_md_hmac_update(&c, (const unsigned char *)part[i], plen[i]);
    }
    if (!rc)
        rc = mbedtls_md_hmac_finish(&c, mac);
    mbedtls_md_free(&c);
    if (rc)
        return -1;
    to_hex(mac, 32, out);
    return 0;
}

int envelope_hmac_hex(const unsigned char *key, size_t keylen, const void *data, size_t len,
                      char out[65])
{
    const char *p = data;
    return hmac_parts(key, keylen, &p, &len, 1, out);
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

static int has_ctl(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20)
            return 1;
    return 0;
}

/* The signature of an envelope's fields (ENVELOPE_SIGN_WIRE). */
static int sign_wire(const struct envelope_keys *k, const char *app, const char *id,
                     const char *alg, const char *iv, const char *data, const char *tag,
                     char out[65])
{
    const char *part[6] = { app, id, alg, iv ? iv : "", data, tag ? tag : "" };
    size_t plen[6];
    for (int i = 0; i < 6; i++)
        plen[i] = strlen(part[i]);
    return hmac_parts(k->hmac_key, k->hmac_keylen, part, plen, 6, out);
}

static int check_keys(const struct envelope_keys *k, char *err, size_t errlen)
{
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
    unsigned char *ct = NULL, tag[GCM_TAG];
    size_t ctlen = 0;
    char *iv64 = NULL, *data64 = NULL, *tag64 = NULL, *out = NULL;
    int rc = 0;
    switch (k->alg) {
    case ENVELOPE_NONE:
        data64 = b64(body, len);
        break;
    case ENVELOPE_A256GCM: {
        ct = malloc(len ? len : 1);
        if (!ct)
            break;
        mbedtls_gcm_context g;
        mbedtls_gcm_init(&g);
        rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, k->key, 256);
        if (!rc)
            rc = mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, iv, ivlen, NULL, 0,
                                           body, ct, GCM_TAG, tag);
        mbedtls_gcm_free(&g);
        ctlen = len;
        if (!rc) {
            data64 = b64(ct, ctlen);
            tag64 = b64(tag, GCM_TAG);
        }
        break;
    }
    case ENVELOPE_A128CBC: {
        /* PKCS#7: 1 to 16 bytes of the pad length, always at least one. */
        size_t pad = 16 - len % 16;
        ctlen = len + pad;
        unsigned char *pt = malloc(ctlen);
        ct = malloc(ctlen);
        if (!pt || !ct) {
            free(pt);
            break;
        }
        memcpy(pt, body, len);
        memset(pt + len, (int)pad, pad);
        unsigned char ivc[16];
        memcpy(ivc, iv, 16);
        mbedtls_aes_context a;
        mbedtls_aes_init(&a);
        rc = mbedtls_aes_setkey_enc(&a, k->key, 128);
        if (!rc)
            rc = mbedtls_aes_crypt_cbc(&a, MBEDTLS_AES_ENCRYPT, ctlen, ivc, pt, ct);
        mbedtls_aes_free(&a);
        free(pt);
        if (!rc)
            data64 = b64(ct, ctlen);
        break;
    }
    }
    if (rc) {
        snprintf(err, errlen, "%s failed (mbedTLS error -0x%04x)", envelope_alg_name(k->alg),
                 (unsigned)-rc);
        goto out;
    }
    if (ivlen)
        iv64 = b64(iv, ivlen);
    if (!data64 || (ivlen && !iv64) || (k->alg == ENVELOPE_A256GCM && !tag64)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    char sign[65] = "";
    if (k->hmac_key) {
        int bad = k->sign_over == ENVELOPE_SIGN_BODY
                      ? envelope_hmac_hex(k->hmac_key, k->hmac_keylen, body, len, sign)
                      : sign_wire(k, app_id, data_id, envelope_alg_name(k->alg), iv64, data64,
                                  tag64, sign);
        if (bad) {
            snprintf(err, errlen, "HMAC-SHA256 failed");
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
    if (iv64) {
        json_lit(&j, ",\"iv\":");
        json_str(&j, iv64);
    }
    json_lit(&j, ",\"data\":");
    json_str(&j, data64);
    if (tag64) {
        json_lit(&j, ",\"tag\":");
        json_str(&j, tag64);
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
    free(iv64);
    free(data64);
    free(tag64);
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
    const char *iv64 = str_of(o, "iv"), *data64 = str_of(o, "data"), *tag64 = str_of(o, "tag");
    const char *sign = str_of(o, "sign");
    enum envelope_alg a;
    if (!app || !id || !alg || !data64) {
        snprintf(err, errlen, "appId, dataId, alg and data are required");
        goto out;
    }
    if (envelope_alg_parse(alg, &a) || a != k->alg || strcmp(alg, envelope_alg_name(a))) {
        snprintf(err, errlen, "alg '%s' is not the configured %s", alg, envelope_alg_name(k->alg));
        goto out;
    }
    if ((envelope_iv_len(a) && !iv64) || (a == ENVELOPE_A256GCM && !tag64)) {
        snprintf(err, errlen, "%s needs iv%s", alg, a == ENVELOPE_A256GCM ? " and tag" : "");
        goto out;
    }
    if (k->hmac_key && k->sign_over == ENVELOPE_SIGN_WIRE) {
        char want[65];
        if (!sign || sign_wire(k, app, id, alg, iv64, data64, tag64, want) || !same(sign, want)) {
            snprintf(err, errlen, sign ? "signature does not match" : "no signature");
            goto out;
        }
    }
    if ((iv64 && !(iv = unb64(iv64, &ivn))) || !(ct = unb64(data64, &ctn)) ||
        (tag64 && !(tag = unb64(tag64, &tagn)))) {
        snprintf(err, errlen, "bad base64");
        goto out;
    }
    if (ivn != envelope_iv_len(a) || (a == ENVELOPE_A256GCM && tagn != GCM_TAG)) {
        snprintf(err, errlen, "bad IV or tag length");
        goto out;
    }
    size_t n = ctn;
    pt = malloc(ctn + 1);
    if (!pt) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (a == ENVELOPE_NONE) {
        memcpy(pt, ct, ctn);
    } else if (a == ENVELOPE_A256GCM) {
        mbedtls_gcm_context g;
        mbedtls_gcm_init(&g);
        int rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, k->key, 256);
        if (!rc)
            rc = mbedtls_gcm_auth_decrypt(&g, ctn, iv, ivn, NULL, 0, tag, tagn, ct, pt);
        mbedtls_gcm_free(&g);
        if (rc) {
            snprintf(err, errlen, "GCM authentication failed");
            goto out;
        }
    } else {
        if (ctn == 0 || ctn % 16) {
            snprintf(err, errlen, "ciphertext is not whole AES blocks");
            goto out;
        }
        mbedtls_aes_context ac;
        mbedtls_aes_init(&ac);
        int rc = mbedtls_aes_setkey_dec(&ac, k->key, 128);
        if (!rc)
            rc = mbedtls_aes_crypt_cbc(&ac, MBEDTLS_AES_DECRYPT, ctn, iv, ct, pt);
        mbedtls_aes_free(&ac);
        unsigned pad = rc ? 0 : pt[ctn - 1];
        int ok = pad >= 1 && pad <= 16;
        for (unsigned i = 0; ok && i < pad; i++)
            ok = pt[ctn - 1 - i] == pad;
        if (!ok) {
            snprintf(err, errlen, "bad padding (wrong key?)");
            goto out;
        }
        n = ctn - pad;
    }
    pt[n] = 0;
    if (k->hmac_key && k->sign_over == ENVELOPE_SIGN_BODY) {
        char want[65];
        if (!sign || envelope_hmac_hex(k->hmac_key, k->hmac_keylen, pt, n, want) ||
            !same(sign, want)) {
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
