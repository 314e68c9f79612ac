/* mac: keyed message authentication as the platforms ask for it: HMAC-SHA256,
 * or HMAC-SM3 (GB/T 32905 hash, the national algorithm), both through OpenSSL 3's
 * EVP interface (mbedTLS 2.28 has no SM3). Pure: keys and data in, hex out. Used
 * by the envelopes and the command channel's signatures. */
#ifndef GANZHI_MAC_H
#define GANZHI_MAC_H

#include <stddef.h>

enum mac_alg { MAC_HMAC_SHA256, MAC_HMAC_SM3 };

#define MAC_HEX_LEN 64      /* both digests are 32 bytes */

/* "HMAC-SHA256" or "HMAC-SM3". */
const char *mac_name(enum mac_alg a);
/* Accepts HMAC-SHA256, HMAC-SM3, sha256, sm3 (any case). 0, or -1. */
int mac_parse(const char *s, enum mac_alg *out);

/* The MAC of data as 64 lowercase hex characters and a NUL. 0, or -1 (the
 * algorithm is not available in this OpenSSL). */
int mac_hex(enum mac_alg a, const unsigned char *key, size_t keylen, const void *data,
            size_t len, char out[MAC_HEX_LEN + 1]);

/* 1 when hex (any case, 64 characters) is the MAC of data, compared in
 * constant time; else 0. */
int mac_verify_hex(enum mac_alg a, const unsigned char *key, size_t keylen, const void *data,
                   size_t len, const char *hex);

#endif
