/* envelope: per-uplink signing and encryption of a message body, for platforms
 * that ask for it. Pure: the caller gives the key bytes (read from key files by
 * the agent) and the random IV bytes; nothing here reads a clock or /dev/urandom.
 *
 * ---- The envelope (one JSON object, UTF-8, no whitespace) ----
 *   {"appId":"APP","dataId":"32 hex","alg":"A256GCM","iv":"B64","data":"B64",
 *    "tag":"B64","sign":"64 hex"}
 *
 *   alg    "A256GCM"  AES-256-GCM, 32-byte key, 12-byte IV, 16-byte tag, no AAD.
 *          "A128CBC"  AES-128-CBC, 16-byte key, 16-byte IV, PKCS#7 padding; no "tag".
 *          "none"     not encrypted; "data" is base64 of the body; no "iv", "tag".
 *   iv     base64 of the IV.  data: base64 of the ciphertext (GCM: without the
 *          tag).  tag: base64 of the GCM tag.  Base64 is RFC 4648 with padding.
 *   sign   present when an HMAC key is configured: HMAC-SHA256, lowercase hex, over
 *          (ENVELOPE_SIGN_WIRE, the default) the six fields as written in the
 *          envelope, joined by "\n", no trailing newline, absent fields empty:
 *              appId \n dataId \n alg \n iv \n data \n tag
 *          so that the IV, the ciphertext and both ids are authenticated before
 *          anything is decrypted; or (ENVELOPE_SIGN_BODY) the exact body bytes
 *          (the plaintext message the profile produced).
 *
 * ---- Verifying and decrypting with OpenSSL alone (tests/e2e_envelope_openssl.sh) ----
 *   Fields: APP=... ID=... ALG=... IV=... DATA=... TAG=... SIGN=... (from the JSON)
 *   Keys as hex: HKEY (HMAC), KEY (AES).
 *   Signature (wire):
 *     printf '%s\n%s\n%s\n%s\n%s\n%s' "$APP" "$ID" "$ALG" "$IV" "$DATA" "$TAG" |
 *       openssl dgst -sha256 -mac HMAC -macopt hexkey:$HKEY     # == SIGN
 *   (a text key: openssl dgst -sha256 -hmac 'the key')
 *   Signature (body): openssl dgst -sha256 -mac HMAC -macopt hexkey:$HKEY < body
 *   AES-128-CBC:
 *     printf %s "$DATA" | openssl base64 -d -A |
 *       openssl enc -d -aes-128-cbc -K $KEY -iv $(printf %s "$IV" | openssl base64 -d -A |
 *       od -An -tx1 | tr -d ' \n')
 *   AES-256-GCM: `openssl enc` does not do AEAD modes. In Python (cryptography):
 *     AESGCM(key).decrypt(b64decode(IV), b64decode(DATA) + b64decode(TAG), None)
 *   in Java: Cipher "AES/GCM/NoPadding", GCMParameterSpec(128, iv), doFinal(data||tag).
 */
#ifndef GANZHI_ENVELOPE_H
#define GANZHI_ENVELOPE_H

#include <stddef.h>

enum envelope_alg { ENVELOPE_NONE, ENVELOPE_A256GCM, ENVELOPE_A128CBC };
enum envelope_sign { ENVELOPE_SIGN_WIRE, ENVELOPE_SIGN_BODY };

struct envelope_keys {
    enum envelope_alg alg;
    const unsigned char *key;       /* AES key: 32 bytes (A256GCM), 16 (A128CBC) */
    size_t keylen;
    const unsigned char *hmac_key;  /* NULL: no "sign" */
    size_t hmac_keylen;
    enum envelope_sign sign_over;
};

/* "A256GCM", "A128CBC", "none". */
const char *envelope_alg_name(enum envelope_alg a);
/* Accepts the names above (case-insensitive) and aes-256-gcm, aes-128-cbc. 0 or -1. */
int envelope_alg_parse(const char *s, enum envelope_alg *out);
/* Bytes of IV the caller supplies: 12, 16 or 0. */
size_t envelope_iv_len(enum envelope_alg a);
/* Key bytes the alg needs: 32, 16 or 0. */
size_t envelope_key_len(enum envelope_alg a);

/* Seal body (len bytes) into an envelope. iv: envelope_iv_len() random bytes
 * (never reuse one with a key: GCM loses all security). appId and dataId may not
 * hold control characters. Returns the malloc'd, NUL-terminated envelope and its
 * length in *outlen (may be NULL), or NULL with why in err. */
char *envelope_seal(const struct envelope_keys *k, const char *app_id, const char *data_id,
                    const unsigned char *iv, size_t ivlen, const void *body, size_t len,
                    size_t *outlen, char *err, size_t errlen);

/* Verify (when k->hmac_key) and decrypt an envelope. 0 and the malloc'd,
 * NUL-terminated body in *body (*bodylen bytes), or -1 with why in err. The
 * envelope's alg must be k->alg. */
int envelope_open(const struct envelope_keys *k, const char *env, size_t len,
                  unsigned char **body, size_t *bodylen, char *err, size_t errlen);

/* HMAC-SHA256 of data as 64 lowercase hex characters. 0 or -1. */
int envelope_hmac_hex(const unsigned char *key, size_t keylen, const void *data, size_t len,
                      char out[65]);

#endif
