/* mac: HMAC over OpenSSL 3's EVP_MAC. */
#include "proto/mac.h"
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *mac_name(enum mac_alg a)
{
    return a == MAC_HMAC_SM3 ? "HMAC-SM3" : "HMAC-SHA256";
}

int mac_parse(const char *s, enum mac_alg *out)
{
    if (!strcasecmp(s, "HMAC-SHA256") || !strcasecmp(s, "sha256"))
        *out = MAC_HMAC_SHA256;
    else if (!strcasecmp(s, "HMAC-SM3") || !strcasecmp(s, "sm3"))
        *out = MAC_HMAC_SM3;
    else
        return -1;
    return 0;
}

static int mac_raw(enum mac_alg a, const unsigned char *key, size_t keylen, const void *data,
                   size_t len, unsigned char out[32])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[16];
    snprintf(digest, sizeof digest, "%s", a == MAC_HMAC_SM3 ? "SM3" : "SHA256");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    /* An empty key is still a key to HMAC; OpenSSL wants a pointer to something. */
    static const unsigned char none[1];
    size_t n = 0;
    int ok = ctx && EVP_MAC_init(ctx, keylen ? key : none, keylen, params) == 1 &&
             EVP_MAC_update(ctx, data, len) == 1 && EVP_MAC_final(ctx, out, &n, 32) == 1 &&
             n == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? 0 : -1;
}

int mac_hex(enum mac_alg a, const unsigned char *key, size_t keylen, const void *data,
            size_t len, char out[MAC_HEX_LEN + 1])
{
    unsigned char raw[32];
    if (mac_raw(a, key, keylen, data, len, raw) != 0)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int mac_verify_hex(enum mac_alg a, const unsigned char *key, size_t keylen, const void *data,
                   size_t len, const char *hex)
{
    char want[MAC_HEX_LEN + 1], got[MAC_HEX_LEN + 1];
    if (!hex || strlen(hex) != MAC_HEX_LEN || mac_hex(a, key, keylen, data, len, want) != 0)
        return 0;
    for (int i = 0; i < MAC_HEX_LEN; i++)
        got[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
    got[MAC_HEX_LEN] = 0;
    return CRYPTO_memcmp(want, got, MAC_HEX_LEN) == 0;
}
