/* gm: the national algorithms (国密) the envelopes use, over OpenSSL 3's EVP
 * interface (mbedTLS 2.28 has neither): the SM3 hash (GB/T 32905) and the SM4
 * block cipher (GB/T 32907, 16-byte key and block) in two modes:
 *
 *   SM4-CBC  PKCS#7 padding (1 to 16 bytes, always at least one): what
 *            `openssl enc -sm4-cbc` reads and writes.
 *   SM4-GCM  NIST SP 800-38D's GCM over SM4, as RFC 8998 specifies it: a 12-byte
 *            IV, a 16-byte tag, optional AAD. OpenSSL 3.0 has no SM4-GCM cipher
 *            (later releases do), so the mode is put together here: its counter
 *            blocks from OpenSSL's SM4-CTR (which counts as GCM's inc32 does for
 *            every length GCM allows, at most 2^32 - 2 blocks), its GHASH in
 *            constant-time C, checked against RFC 8998's test vector.
 *
 * Pure: keys and bytes in, bytes out. Every function returns 0, or -1 (an
 * argument out of range, OpenSSL without SM3/SM4, or, opening, a bad padding
 * or tag: nothing is written to out that the caller may use). */
#ifndef GANZHI_GM_H
#define GANZHI_GM_H

#include <stddef.h>

#define GM_SM4_KEY 16
#define GM_SM4_BLOCK 16
#define GM_GCM_IV 12
#define GM_GCM_TAG 16

/* SM3 of data: 32 bytes. */
int gm_sm3(const void *data, size_t len, unsigned char out[32]);

/* SM4-CBC with PKCS#7 padding. Encrypting writes len rounded up to the next
 * whole block (len + 1 .. len + 16 bytes) to out; decrypting writes at most len
 * bytes, and fails on a length not a whole number of blocks or a bad padding
 * (the wrong key, most often). *outlen: the bytes written. */
int gm_sm4_cbc_encrypt(const unsigned char key[16], const unsigned char iv[16], const void *in,
                       size_t len, unsigned char *out, size_t *outlen);
int gm_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16],
                       const unsigned char *in, size_t len, unsigned char *out, size_t *outlen);

/* SM4-GCM: len bytes of ciphertext (as many as the plaintext) to out and the
 * tag to tag. Decrypting checks the tag (in constant time) and fails when it
 * does not match; out then holds nothing of use. aad may be NULL when aadlen 0. */
int gm_sm4_gcm_encrypt(const unsigned char key[16], const unsigned char iv[12],
                       const void *aad, size_t aadlen, const void *in, size_t len,
                       unsigned char *out, unsigned char tag[16]);
int gm_sm4_gcm_decrypt(const unsigned char key[16], const unsigned char iv[12],
                       const void *aad, size_t aadlen, const unsigned char *in, size_t len,
                       const unsigned char tag[16], unsigned char *out);

#endif
