/* fuzz_charset: text from a device or a table converted to and from UTF-8 (GBK,
 * GB 18030). The first byte picks the charset. What comes out in UTF-8 must be
 * valid UTF-8; GB 18030 covers Unicode, so valid UTF-8 converts there and back
 * unchanged. */
#include "tests/fuzz/fuzz_util.h"
#include "proto/charset.h"
#include "proto/validate.h"

static void bad(void *arg, size_t offset) { ++*(size_t *)arg; }

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *sets[] = { "gbk", "gb18030", "utf-8", "cp936" };
    if (size < 1)
        return 0;
    const char *cs = sets[data[0] % 4];
    /* (glibc's iconv passes code points past U+10FFFF from "utf-8": charset.c
     * mends its output; corpus/fuzz_charset/utf8_surrogate_passes_iconv) */
    int strict = 1;
    size_t n = size - 1, outlen, replaced;
    char *text = malloc(n ? n : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, n);
    char *u = charset_to_utf8(cs, text, n, &outlen, &replaced);
    if (u && strict && !charset_utf8_valid(u, outlen))
        abort();
    free(u);
    size_t nbad = 0;
    u = charset_to_utf8_checked(cs, text, n, &outlen, bad, &nbad);
    if (u && strict && !charset_utf8_valid(u, outlen))
        abort();
    free(u);
    char *g = charset_from_utf8(cs, text, n, &outlen, &replaced);
    if (g && data[0] % 4 == 1 && charset_utf8_valid(text, n) && !replaced) {
        size_t backlen, r2;
        char *back = charset_to_utf8(cs, g, outlen, &backlen, &r2);
        if (back && (r2 || backlen != n || memcmp(back, text, n) != 0))
            abort();
        free(back);
    }
    free(g);
    size_t at;
    if (validate_utf8(text, n, &at) == 0 && !charset_utf8_valid(text, n))
        abort();    /* validate's UTF-8 (no NUL) is charset's, stricter */
    for (size_t i = 0; i < n;) {
        size_t k = charset_utf8_seq((const unsigned char *)text + i, n - i);
        if (k > n - i)
            abort();
        i += k ? k : 1;
    }
    free(text);
    return 0;
}
