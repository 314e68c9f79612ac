/* unit_envelope: HMAC-SHA256 (RFC 4231), AES-256-GCM (McGrew-Viega test case 14),
 * AES-128-CBC (NIST SP 800-38A F.2.1) through the envelope; whole envelopes byte
 * for byte against ones made independently (Python cryptography); round trips and
 * tampering. */
#include "tests/unit.h"
#include "proto/mac.h"
#include "proto/envelope.h"
#include <stdlib.h>

static const char BODY[] = "{\"dataId\":\"a6fdeef747d7bdd5d7166148559931a4\",\"data\":"
                           "[{\"pointName\":\"1号储罐液位\",\"value\":3.215}]}";
static const char ID[] = "a6fdeef747d7bdd5d7166148559931a4";
static const unsigned char HKEY[] = "ganzhi-hmac-key";

static void seq(unsigned char *b, size_t n, int from)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(from + (int)i);
}

static void test_hmac_rfc4231(void)
{
    unsigned char k1[20];
    memset(k1, 0x0b, sizeof k1);
    char hex[65];
    CHECK(envelope_hmac_hex(k1, sizeof k1, "Hi There", 8, hex) == 0);
    CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(envelope_hmac_hex((const unsigned char *)"Jefe", 4, "what do ya want for nothing?",
                            28, hex) == 0);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* test case 6: a key longer than the block */
    unsigned char k6[131];
    memset(k6, 0xaa, sizeof k6);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK(envelope_hmac_hex(k6, sizeof k6, d6, strlen(d6), hex) == 0);
    CHECK_STR(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_gcm_vector(void)
{
    unsigned char key[32] = { 0 }, iv[12] = { 0 }, zero[16] = { 0 };
    struct envelope_keys k = { ENVELOPE_A256GCM, key, 32, NULL, 0, ENVELOPE_SIGN_WIRE };
    char err[128];
    char *e = envelope_seal(&k, "a", "b", iv, 12, zero, 16, NULL, err, sizeof err);
    CHECK_STR(e, "{\"appId\":\"a\",\"dataId\":\"b\",\"alg\":\"A256GCM\",\"iv\":\"AAAAAAAAAAAAAAAA\","
                 "\"data\":\"zqdAPU1ga24HTsXTuvOdGA==\",\"tag\":\"0NHIp5mZa/AmW5i11Iq5GQ==\"}");
    free(e);
}

static void test_cbc_vector(void)
{
    static const unsigned char key[16] = { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                           0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c };
    static const unsigned char p[16] = { 0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96,
                                         0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a };
    unsigned char iv[16];
    seq(iv, 16, 0);
    struct envelope_keys k = { ENVELOPE_A128CBC, key, 16, NULL, 0, ENVELOPE_SIGN_WIRE };
    char err[128];
    char *e = envelope_seal(&k, "a", "b", iv, 16, p, 16, NULL, err, sizeof err);
    /* 7649abac8119b246cee98e9b12e9197d, then the PKCS#7 block of sixteen 0x10 */
    CHECK(e && strstr(e, "\"data\":\"dkmrrIEZskbO6Y6bEukZf"));
    CHECK(e && !strstr(e, "\"tag\""));
    unsigned char *body = NULL;
    size_t n;
    CHECK(e && envelope_open(&k, e, strlen(e), &body, &n, err, sizeof err) == 0 && n == 16 &&
          memcmp(body, p, 16) == 0);
    free(body);
    free(e);
}

/* Envelopes made by Python's cryptography from the same inputs. */
static void test_envelopes_byte_for_byte(void)
{
    unsigned char k32[32], iv12[12], k16[16], iv16[16];
    seq(k32, 32, 0);
    seq(iv12, 12, 100);
    seq(k16, 16, 0);
    seq(iv16, 16, 200);
    char err[128];
    size_t len = 0;
    struct envelope_keys g = { ENVELOPE_A256GCM, k32, 32, HKEY, sizeof HKEY - 1,
                               ENVELOPE_SIGN_WIRE };
    char *e = envelope_seal(&g, "APP1", ID, iv12, 12, BODY, strlen(BODY), &len, err, sizeof err);
    CHECK_STR(e, "{\"appId\":\"APP1\",\"dataId\":\"a6fdeef747d7bdd5d7166148559931a4\","
                 "\"alg\":\"A256GCM\",\"iv\":\"ZGVmZ2hpamtsbW5v\",\"data\":\"Mzm6Bw2IH/ocWH2J7AMOmCe"
                 "kMT68CMQQw7WZLMySk36l3Xj1eSuiN8ySTB3RYK6ubzq63XsxY1iVmMKioeDI7yq2+T8zxIzgCccK/oFsh1S"
                 "AxZIWi+f7p7OEU+ZBIGBjv0TvIxY=\",\"tag\":\"4nZCq5psaJWjv2xIOcRmuQ==\",\"sign\":"
                 "\"92f6c0cd0a5b132071fab5f0ab324eca7775150b8198d889b0eba2d718e09540\"}");
    CHECK(e && len == strlen(e));
    free(e);
    struct envelope_keys c = { ENVELOPE_A128CBC, k16, 16, HKEY, sizeof HKEY - 1,
                               ENVELOPE_SIGN_BODY };
    e = envelope_seal(&c, "APP1", ID, iv16, 16, BODY, strlen(BODY), NULL, err, sizeof err);
    CHECK_STR(e, "{\"appId\":\"APP1\",\"dataId\":\"a6fdeef747d7bdd5d7166148559931a4\","
                 "\"alg\":\"A128CBC\",\"iv\":\"yMnKy8zNzs/Q0dLT1NXW1w==\",\"data\":\"r7tfasl4/uHGfjQ"
                 "awRQR00MUWqVmJXY6cgXtHgoKFsIxr2zWrSygFOG2IBhHWSgBgq1WHRluFsMelbQ6jTP7deqf4kuTOcGka"
                 "nwgqRv3MhKFMQjOIPNZrO9JWtfOmrKVD0GBqQ/Qdbub5uX/6O2IRA==\",\"sign\":\"a47a50a3fcb0d"
                 "2fdbd6e67c17b2ae7a9b4f5ac4a8de44a91c55200a348f8f501\"}");
    free(e);
}

static int roundtrip(enum envelope_alg alg, enum envelope_sign so, size_t bodylen)
{
    unsigned char key[32], iv[16];
    seq(key, 32, 7);
    seq(iv, 16, 9);
    char *body = malloc(bodylen + 1);
    for (size_t i = 0; i < bodylen; i++)
        body[i] = (char)('a' + i % 26);
    struct envelope_keys k = { alg, key, envelope_key_len(alg), HKEY, sizeof HKEY - 1, so };
    char err[128];
    size_t len;
    char *e = envelope_seal(&k, "app", ID, iv, envelope_iv_len(alg), body, bodylen, &len, err,
                            sizeof err);
    unsigned char *out = NULL;
    size_t n = 0;
    int ok = e && envelope_open(&k, e, len, &out, &n, err, sizeof err) == 0 && n == bodylen &&
             memcmp(out, body, n) == 0 && out[n] == 0;
    if (!ok)
        printf("  roundtrip %s %zu: %s\n", envelope_alg_name(alg), bodylen, err);
    free(out);
    free(e);
    free(body);
    return ok;
}

static void test_roundtrips(void)
{
    static const size_t sizes[] = { 0, 1, 15, 16, 17, 31, 32, 1000, 65537 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int a = 0; a < 3; a++)
            for (int s = 0; s < 2; s++)
                CHECK(roundtrip((enum envelope_alg)a, (enum envelope_sign)s, sizes[i]));
}

/* Replace the first `from` in e with `to` (same length). */
static void poke(char *e, const char *from, const char *to)
{
    char *at = strstr(e, from);
    if (at)
        memcpy(at, to, strlen(to));
}

static void test_tampering(void)
{
    unsigned char key[32], iv[16];
    seq(key, 32, 1);
    seq(iv, 16, 2);
    char err[128];
    unsigned char *out;
    size_t n;
    for (int a = 1; a < 3; a++) {
        struct envelope_keys k = { (enum envelope_alg)a, key, envelope_key_len(a), HKEY,
                                   sizeof HKEY - 1, ENVELOPE_SIGN_WIRE };
        size_t ivn = envelope_iv_len(a);
        char *e = envelope_seal(&k, "APP1", ID, iv, ivn, BODY, strlen(BODY), NULL, err,
                                sizeof err);
        /* another app id, another IV, another ciphertext: the signature says so */
        char *t = strdup(e);
        poke(t, "APP1", "APP2");
        CHECK(envelope_open(&k, t, strlen(t), &out, &n, err, sizeof err) == -1);
        CHECK(strstr(err, "signature does not match"));
        strcpy(t, e);
        poke(t, "\"iv\":\"A", "\"iv\":\"B");
        CHECK(envelope_open(&k, t, strlen(t), &out, &n, err, sizeof err) == -1);
        strcpy(t, e);
        poke(strstr(t, "\"data\""), "\"data\":\"", "\"data\":\"+");
        CHECK(envelope_open(&k, t, strlen(t), &out, &n, err, sizeof err) == -1);
        /* without the HMAC, GCM's tag still catches it; CBC's padding usually does */
        struct envelope_keys nos = k;
        nos.hmac_key = NULL;
        if (a == ENVELOPE_A256GCM) {
            CHECK(envelope_open(&nos, t, strlen(t), &out, &n, err, sizeof err) == -1);
            CHECK(strstr(err, "GCM authentication failed"));
        }
        /* the wrong key */
        unsigned char other[32];
        seq(other, 32, 3);
        struct envelope_keys wk = nos;
        wk.key = other;
        out = NULL;
        int rc = envelope_open(&wk, e, strlen(e), &out, &n, err, sizeof err);
        /* CBC has no integrity of its own: a wrong key yields bad padding or garbage */
        CHECK(rc == -1 || (a == ENVELOPE_A128CBC && strcmp((char *)out, BODY) != 0));
        free(out);
        /* the wrong algorithm */
        struct envelope_keys wa = k;
        wa.alg = a == 1 ? ENVELOPE_A128CBC : ENVELOPE_A256GCM;
        wa.keylen = envelope_key_len(wa.alg);
        CHECK(envelope_open(&wa, e, strlen(e), &out, &n, err, sizeof err) == -1);
        CHECK(strstr(err, "is not the configured"));
        free(t);
        free(e);
    }
    /* body signature: a changed body is caught after decryption */
    struct envelope_keys k = { ENVELOPE_NONE, NULL, 0, HKEY, sizeof HKEY - 1, ENVELOPE_SIGN_BODY };
    char *e = envelope_seal(&k, "APP1", ID, NULL, 0, "abcdef", 6, NULL, err, sizeof err);
    CHECK_STR(e, "{\"appId\":\"APP1\",\"dataId\":\"a6fdeef747d7bdd5d7166148559931a4\","
                 "\"alg\":\"none\",\"data\":\"YWJjZGVm\",\"sign\":"
                 "\"808e4d4a04059a84b322bded3720852df7764b77db8be5be9d4f8c09ac042d05\"}");
    poke(e, "YWJjZGVm", "YWJjZGVn");
    CHECK(envelope_open(&k, e, strlen(e), &out, &n, err, sizeof err) == -1);
    free(e);
}

static void test_bad_arguments(void)
{
    unsigned char key[32] = { 0 }, iv[16] = { 0 };
    char err[128];
    struct envelope_keys k = { ENVELOPE_A256GCM, key, 16, NULL, 0, ENVELOPE_SIGN_WIRE };
    CHECK(envelope_seal(&k, "a", "b", iv, 12, "x", 1, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "32-byte key"));
    k.keylen = 32;
    CHECK(envelope_seal(&k, "a", "b", iv, 16, "x", 1, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "12-byte IV"));
    CHECK(envelope_seal(&k, "a\n", "b", iv, 12, "x", 1, NULL, err, sizeof err) == NULL);
    unsigned char *out;
    size_t n;
    CHECK(envelope_open(&k, "[1]", 3, &out, &n, err, sizeof err) == -1);
    CHECK(envelope_open(&k, "{\"appId\":\"a\",\"dataId\":\"b\",\"alg\":\"A256GCM\",\"iv\":\"!!\","
                        "\"data\":\"\",\"tag\":\"\"}", 70, &out, &n, err, sizeof err) == -1);
    enum envelope_alg a;
    CHECK(envelope_alg_parse("aes-128-cbc", &a) == 0 && a == ENVELOPE_A128CBC);
    CHECK(envelope_alg_parse("sm4", &a) == -1);
}

/* HMAC-SHA256: RFC 4231 test case 2; HMAC-SM3: as Python's hmac over OpenSSL's
 * SM3 computes it (the SM3 hash itself is checked against GB/T 32905). */
static void test_mac(void)
{
    char hex[MAC_HEX_LEN + 1];
    const char *data = "what do ya want for nothing?";
    CHECK(mac_hex(MAC_HMAC_SHA256, (const unsigned char *)"Jefe", 4, data, strlen(data), hex) == 0);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(mac_hex(MAC_HMAC_SM3, (const unsigned char *)"k", 1, "abc", 3, hex) == 0);
    CHECK_STR(hex, "af684d81732e81f6a9c5dd0aa68f27667b36debcebe29e094a654c3d496a898a");
    CHECK(mac_verify_hex(MAC_HMAC_SM3, (const unsigned char *)"k", 1, "abc", 3,
                         "AF684D81732E81F6A9C5DD0AA68F27667B36DEBCEBE29E094A654C3D496A898A"));
    CHECK(!mac_verify_hex(MAC_HMAC_SM3, (const unsigned char *)"k", 1, "abd", 3, hex));
    CHECK(!mac_verify_hex(MAC_HMAC_SHA256, (const unsigned char *)"k", 1, "abc", 3, hex));
    CHECK(!mac_verify_hex(MAC_HMAC_SM3, (const unsigned char *)"k", 1, "abc", 3, "af68"));
    enum mac_alg a;
    CHECK(mac_parse("sm3", &a) == 0 && a == MAC_HMAC_SM3);
    CHECK(mac_parse("HMAC-SHA256", &a) == 0 && a == MAC_HMAC_SHA256);
    CHECK(mac_parse("md5", &a) == -1);
}

int main(void)
{
    RUN(test_mac);
    RUN(test_hmac_rfc4231);
    RUN(test_gcm_vector);
    RUN(test_cbc_vector);
    RUN(test_envelopes_byte_for_byte);
    RUN(test_roundtrips);
    RUN(test_tampering);
    RUN(test_bad_arguments);
    return UNIT_END();
}
