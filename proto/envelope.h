/* envelope: per-uplink signing and encryption of a message body, for platforms
 * that ask for it. Pure: the caller gives the key bytes (read from key files by
 * the agent) and the random IV bytes; nothing here reads a clock or /dev/urandom.
 * AES is mbedTLS's; SM4 (GB/T 32907) and every HMAC are OpenSSL 3's (proto/gm.h,
 * proto/mac.h).
 *
 * ---- The envelope (one JSON object, UTF-8, no whitespace) ----
 *   {"appId":"APP","dataId":"32 hex","alg":"A256GCM","iv":"B64","data":"B64",
 *    "tag":"B64","sign":"64 hex"}
 *
 *   alg    "A256GCM"  AES-256-GCM, 32-byte key, 12-byte IV, 16-byte tag, no AAD.
 *          "A128CBC"  AES-128-CBC, 16-byte key, 16-byte IV, PKCS#7 padding; no "tag".
 *          "SM4-CBC"  SM4 in CBC mode, 16-byte key, 16-byte IV, PKCS#7 padding (1 to
 *                     16 bytes of the pad length, always at least one); no "tag".
 *          "SM4-GCM"  SM4 in GCM mode (SP 800-38D over SM4, as RFC 8998), 16-byte
 *                     key, 12-byte IV, 16-byte tag, no AAD.
 *          "none"     not encrypted; "data" is the body itself, encoded; no "iv", "tag".
 *   iv     the IV.  data: the ciphertext (GCM: without the tag).  tag: the GCM tag.
 *          All three in the uplink's encoding (override.envelope.encoding):
 *            base64  RFC 4648 base64 with padding (the default)
 *            hex     lowercase hex, two digits a byte
 *            HEX     upper-case hex, as the ministry channels publish SM4-CBC
 *                    ciphertext ("68 1E DF 34" -> "681EDF34")
 *   sign   present when an HMAC key is configured: HMAC-SHA256 or HMAC-SM3
 *          (sign_alg; GB/T 32905's hash in RFC 2104's HMAC), 64 lowercase hex
 *          digits whatever the encoding, over (ENVELOPE_SIGN_WIRE, the default)
 *          the six fields exactly as written in the envelope (iv, data, tag in
 *          their encoding), joined by "\n", no trailing newline, absent fields empty:
 *              appId \n dataId \n alg \n iv \n data \n tag
 *          so that the IV, the ciphertext and both ids are authenticated before
 *          anything is decrypted; or (ENVELOPE_SIGN_BODY) the exact body bytes
 *          (the plaintext message the profile produced).
 *
 * ---- Verifying and decrypting with OpenSSL alone (tests/e2e_envelope_openssl.sh) ----
 *   Fields: APP=... ID=... ALG=... IV=... DATA=... TAG=... SIGN=... (from the JSON)
 *   Keys as hex: HKEY (HMAC), KEY (AES, SM4).
 *   Signature (wire):
 *     printf '%s\n%s\n%s\n%s\n%s\n%s' "$APP" "$ID" "$ALG" "$IV" "$DATA" "$TAG" |
 *       openssl dgst -sha256 -mac HMAC -macopt hexkey:$HKEY     # == SIGN
 *   (HMAC-SM3: -sm3 for -sha256; a text key: openssl dgst -sha256 -hmac 'the key')
 *   Signature (body): openssl dgst -sha256 -mac HMAC -macopt hexkey:$HKEY < body
 *   AES-128-CBC, base64:
 *     printf %s "$DATA" | openssl base64 -d -A |
 *       openssl enc -d -aes-128-cbc -K $KEY -iv $(printf %s "$IV" | openssl base64 -d -A |
 *       od -An -tx1 | tr -d ' \n')
 *   SM4-CBC, HEX (the IV is already the hex openssl wants; for lowercase hex,
 *   xxd -r -p in place of basenc, which reads upper case only):
 *     printf %s "$DATA" | basenc --base16 -d | openssl enc -d -sm4-cbc -K $KEY -iv $IV
 *   SM4-CBC, HMAC-SM3 over the wire fields, text key:
 *     printf '%s\n%s\n%s\n%s\n%s\n%s' "$APP" "$ID" "$ALG" "$IV" "$DATA" "$TAG" |
 *       openssl dgst -sm3 -hmac 'the key'
 *   AES-256-GCM, SM4-GCM: `openssl enc` does not do AEAD modes. In Python (cryptography):
 *     AESGCM(key).decrypt(b64decode(IV), b64decode(DATA) + b64decode(TAG), None)
 *     d = Cipher(algorithms.SM4(key), modes.GCM(iv, tag)).decryptor()
 *     body = d.update(data) + d.finalize()     # iv, data, tag: bytes.fromhex(...) for hex
 *   (SM4-GCM needs a cryptography on an OpenSSL newer than 3.0, as its wheels
 *   bundle; Debian 12's python3-cryptography on OpenSSL 3.0 has SM4 but not
 *   SM4-GCM: tests/e2e_envelope_openssl.sh then writes GCM out over SM4-ECB). In
 *   Java (Bouncy Castle): Cipher "SM4/GCM/NoPadding", GCMParameterSpec(128, iv),
 *   doFinal(data||tag); AES: "AES/GCM/NoPadding".
 */
#ifndef GANZHI_ENVELOPE_H
#define GANZHI_ENVELOPE_H

#include <stddef.h>
#include "proto/mac.h"

enum envelope_alg { ENVELOPE_NONE, ENVELOPE_A256GCM, ENVELOPE_A128CBC, ENVELOPE_SM4CBC,
                    ENVELOPE_SM4GCM };
#define ENVELOPE_ALGS 5
enum envelope_sign { ENVELOPE_SIGN_WIRE, ENVELOPE_SIGN_BODY };
enum envelope_encoding { ENVELOPE_BASE64, ENVELOPE_HEX, ENVELOPE_HEX_UPPER };

struct envelope_keys {
    enum envelope_alg alg;
    const unsigned char *key;       /* 32 bytes (A256GCM), 16 (A128CBC, SM4-*) */
    size_t keylen;
    const unsigned char *hmac_key;  /* NULL: no "sign" */
    size_t hmac_keylen;
    enum envelope_sign sign_over;
    enum mac_alg sign_alg;          /* HMAC-SHA256 (0, the default) or HMAC-SM3 */
    enum envelope_encoding encoding;    /* of iv, data, tag: base64 (0, the default) */
};

/* "A256GCM", "A128CBC", "SM4-CBC", "SM4-GCM", "none". */
const char *envelope_alg_name(enum envelope_alg a);
/* Accepts the names above (case-insensitive) and aes-256-gcm, aes-128-cbc,
 * sm4-cbc, sm4-gcm. 0 or -1. */
int envelope_alg_parse(const char *s, enum envelope_alg *out);
/* Bytes of IV the caller supplies: 12, 16 or 0. */
size_t envelope_iv_len(enum envelope_alg a);
/* Key bytes the alg needs: 32, 16 or 0. */
size_t envelope_key_len(enum envelope_alg a);

/* "base64", "hex", "HEX". */
const char *envelope_encoding_name(enum envelope_encoding e);
/* Exactly one of those names (hex and HEX differ). 0 or -1. */
int envelope_encoding_parse(const char *s, enum envelope_encoding *out);

/* An uplink's `override.envelope.KEY = VALUE`, KEY given without "override.":
 *   envelope.encoding = base64 | hex | HEX
 * applied to k (NULL: only checked). 0, or -1 with "what is wrong (what is
 * expected)" in err. */
int envelope_override(struct envelope_keys *k, const char *key, const char *value, char *err,
                      size_t errlen);

/* Seal body (len bytes) into an envelope. iv: envelope_iv_len() random bytes
 * (never reuse one with a key: GCM loses all security). appId and dataId may not
 * hold control characters. Returns the malloc'd, NUL-terminated envelope and its
 * length in *outlen (may be NULL), or NULL with why in err. */
char *envelope_seal(const struct envelope_keys *k, const char *app_id, const char *data_id,
                    const unsigned char *iv, size_t ivlen, const void *body, size_t len,
                    size_t *outlen, char *err, size_t errlen);

/* Verify (when k->hmac_key) and decrypt an envelope. 0 and the malloc'd,
 * NUL-terminated body in *body (*bodylen bytes), or -1 with why in err. The
 * envelope's alg must be k->alg, its iv, data and tag in k->encoding (hex and
 * HEX both read either case; the signature covers them as written). */
int envelope_open(const struct envelope_keys *k, const char *env, size_t len,
                  unsigned char **body, size_t *bodylen, char *err, size_t errlen);

/* HMAC-SHA256 of data as 64 lowercase hex characters (mac_hex). 0 or -1. */
int envelope_hmac_hex(const unsigned char *key, size_t keylen, const void *data, size_t len,
                      char out[65]);

#endif
