/* charset: UTF-8 to GBK / GB 18030 with iconv. */
#include "proto/charset.h"
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *charset_iconv_name(const char *name)
{
    if (!strcasecmp(name, "utf-8") || !strcasecmp(name, "utf8"))
        return "UTF-8";
    if (!strcasecmp(name, "gbk") || !strcasecmp(name, "cp936"))
        return "GBK";
    if (!strcasecmp(name, "gb18030"))
        return "GB18030";
    return NULL;
}

/* The bytes of the one character at s: its lead byte and the continuation
 * bytes that follow, at most as many as the lead announces (1 for a stray). */
static size_t char_len(const unsigned char *s, size_t left)
{
    size_t want = s[0] >= 0xf8 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
    size_t n = 1;
    while (n < want && n < left && (s[n] & 0xc0) == 0x80)
        n++;
    return n;
}

char *charset_from_utf8(const char *to, const char *text, size_t len, size_t *outlen,
                        size_t *replaced)
{
    iconv_t cd = iconv_open(to, "UTF-8");
    if (cd == (iconv_t)-1)
        return NULL;
    /* GBK takes at most 2 bytes for a character UTF-8 writes in 2 or 3, and
     * GB 18030 at most 4 for UTF-8's 4: len + 1 always suffices. */
    size_t cap = len + 1;
    char *out = malloc(cap);
    if (!out) {
        iconv_close(cd);
        return NULL;
    }
    char *in = (char *)text, *o = out;
    size_t inleft = len, oleft = cap - 1;
    *replaced = 0;
    while (inleft > 0) {
        if (iconv(cd, &in, &inleft, &o, &oleft) != (size_t)-1)
            break;
        if ((errno == EILSEQ || errno == EINVAL) && oleft > 0) {
            /* not representable, or not UTF-8: one '?' for the character */
            size_t skip = char_len((const unsigned char *)in, inleft);
            in += skip;
            inleft -= skip;
            *o++ = '?';
            oleft--;
            ++*replaced;
            continue;
        }
        free(out);      /* E2BIG cannot happen (see cap); anything else: give up */
        iconv_close(cd);
        return NULL;
    }
    iconv(cd, NULL, NULL, &o, &oleft);  /* the shift state back to its start */
    iconv_close(cd);
    *o = 0;
    *outlen = (size_t)(o - out);
    return out;
}
