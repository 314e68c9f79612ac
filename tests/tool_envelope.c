/* tool_envelope: seal or open an envelope from the command line, for
 * tests/e2e_envelope_openssl.sh (a platform's side is played by openssl).
 *   tool_envelope seal ALG KEYHEX IVHEX HMACKEYHEX wire|body APPID DATAID [SIGN [ENC]]
 *                 < body > envelope
 *   tool_envelope open ALG KEYHEX HMACKEYHEX wire|body [SIGN [ENC]] < envelope > body
 * ALG: A256GCM, A128CBC, SM4-CBC, SM4-GCM or none; "-" for an absent key or IV.
 * SIGN: HMAC-SHA256 (the default) or HMAC-SM3; ENC: base64 (the default), hex, HEX. */
#include "proto/envelope.h"
#include "proto/mac.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t unhex(const char *s, unsigned char *out, size_t cap)
{
    size_t n = strlen(s);
    if (strcmp(s, "-") == 0)
        return 0;
    if (n % 2 || n / 2 > cap) {
        fprintf(stderr, "bad hex '%s'\n", s);
        exit(2);
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            fprintf(stderr, "bad hex '%s'\n", s);
            exit(2);
        }
        out[i] = (unsigned char)v;
    }
    return n / 2;
}

static char *slurp(size_t *len)
{
    size_t cap = 1 << 20, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, stdin)) > 0)
        if ((n += r) == cap && !(b = realloc(b, cap *= 2)))
            break;
    *len = n;
    return b;
}

int main(int argc, char **argv)
{
    int seal = argc >= 9 && argc <= 11 && strcmp(argv[1], "seal") == 0;
    int open = argc >= 6 && argc <= 8 && strcmp(argv[1], "open") == 0;
    if (!seal && !open) {
        fprintf(stderr, "usage: %s seal ALG KEYHEX IVHEX HMACKEYHEX wire|body APPID DATAID "
                        "[SIGN [ENC]]\n"
                        "       %s open ALG KEYHEX HMACKEYHEX wire|body [SIGN [ENC]]\n",
                argv[0], argv[0]);
        return 2;
    }
    struct envelope_keys k = { 0 };
    unsigned char key[64], iv[32], hk[128];
    if (envelope_alg_parse(argv[2], &k.alg)) {
        fprintf(stderr, "bad alg %s\n", argv[2]);
        return 2;
    }
    k.key = key;
    k.keylen = unhex(argv[3], key, sizeof key);
    size_t ivlen = seal ? unhex(argv[4], iv, sizeof iv) : 0;
    const char *hkhex = argv[seal ? 5 : 4], *mode = argv[seal ? 6 : 5];
    k.hmac_keylen = unhex(hkhex, hk, sizeof hk);
    k.hmac_key = k.hmac_keylen ? hk : NULL;
    k.sign_over = strcmp(mode, "body") == 0 ? ENVELOPE_SIGN_BODY : ENVELOPE_SIGN_WIRE;
    int opt = seal ? 9 : 6;
    if (argc > opt && mac_parse(argv[opt], &k.sign_alg) != 0) {
        fprintf(stderr, "bad signature algorithm %s\n", argv[opt]);
        return 2;
    }
    if (argc > opt + 1 && envelope_encoding_parse(argv[opt + 1], &k.encoding) != 0) {
        fprintf(stderr, "bad encoding %s\n", argv[opt + 1]);
        return 2;
    }
    size_t len;
    char *in = slurp(&len);
    char err[256];
    if (seal) {
        size_t n;
        char *e = envelope_seal(&k, argv[7], argv[8], iv, ivlen, in, len, &n, err, sizeof err);
        free(in);
        if (!e) {
            fprintf(stderr, "seal: %s\n", err);
            return 1;
        }
        fwrite(e, 1, n, stdout);
        free(e);
        return 0;
    }
    unsigned char *body;
    size_t n;
    int rc = envelope_open(&k, in, len, &body, &n, err, sizeof err);
    free(in);
    if (rc) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    fwrite(body, 1, n, stdout);
    free(body);
    return 0;
}
