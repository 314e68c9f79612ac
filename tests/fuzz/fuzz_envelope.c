/* fuzz_envelope: an envelope to open (a message written by a platform or a
 * captured one), with fixed keys. The first byte picks the algorithm, what is
 * signed, the HMAC and the encoding; the rest is the envelope. */
#include "tests/fuzz/fuzz_util.h"
#include "proto/envelope.h"

static const unsigned char key[32] = "ganzhi-fuzz-envelope-key-32-byte";
static const unsigned char hkey[] = "ganzhi-fuzz-hmac-key";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned b = data[0];
    struct envelope_keys k = {
        .alg = (enum envelope_alg)(b % ENVELOPE_ALGS),
        .sign_over = (enum envelope_sign)((b / 5) % 2),
        .sign_alg = (enum mac_alg)((b / 10) % 2),
        .encoding = (enum envelope_encoding)((b / 20) % 3),
    };
    k.key = key;
    k.keylen = envelope_key_len(k.alg);
    if ((b / 60) % 2) {
        k.hmac_key = hkey;
        k.hmac_keylen = sizeof hkey - 1;
    }
    size_t n = size - 1;
    char *env = malloc(n ? n : 1);
    if (!env)
        return 0;
    memcpy(env, data + 1, n);
    unsigned char *body = NULL;
    size_t bodylen = 0;
    char err[256];
    if (envelope_open(&k, env, n, &body, &bodylen, err, sizeof err) == 0 && bodylen && body)
        (void)body[bodylen - 1];
    free(body);
    free(env);
    return 0;
}
