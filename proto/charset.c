/* charset: UTF-8 to and from GBK / GB 18030 with iconv; UTF-8 validity. */
#include "proto/charset.h"
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
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

static size_t utf8_mend(char *s, size_t *len);

/* Convert with iconv; skip(s, left) is how many bytes to replace by one '?'
 * where the input cannot be converted, each reported to bad() when given.
 * Out grows as needed. */
static char *convert(const char *to, const char *from, const char *text, size_t len,
                     size_t (*skip)(const unsigned char *, size_t), size_t *outlen,
                     size_t *replaced, void (*bad)(void *, size_t), void *arg)
{
    iconv_t cd = iconv_open(to, from);
    if (cd == (iconv_t)-1)
        return NULL;
    size_t cap = len + len / 2 + 8;
    char *out = malloc(cap);
    char *in = (char *)text, *o = out;
    size_t inleft = len, oleft = cap - 1;
    *replaced = 0;
    while (out && inleft > 0) {
        if (iconv(cd, &in, &inleft, &o, &oleft) != (size_t)-1)
            break;
        if (errno == E2BIG || oleft == 0) {
            size_t used = (size_t)(o - out);
            char *bigger = realloc(out, cap * 2);
            if (!bigger) {
                free(out);
                out = NULL;
                break;
            }
            out = bigger;
            o = out + used;
            oleft += cap;
            cap *= 2;
            continue;
        }
        if (errno != EILSEQ && errno != EINVAL) {
            free(out);
            out = NULL;
            break;
        }
        if (bad)
            bad(arg, (size_t)(in - text));
        size_t n = skip((const unsigned char *)in, inleft);
        in += n;
        inleft -= n;
        *o++ = '?';
        oleft--;
        ++*replaced;
    }
    if (out) {
        iconv(cd, NULL, NULL, &o, &oleft);  /* the shift state back to its start */
        *o = 0;
        *outlen = (size_t)(o - out);
    }
    iconv_close(cd);
    /* glibc's iconv passes "UTF-8" code points past U+10FFFF through: what we
     * hand on as UTF-8 is valid UTF-8, whatever the converter let by. */
    if (out && strcmp(to, "UTF-8") == 0)
        *replaced += utf8_mend(out, outlen);
    return out;
}

static size_t one_byte(const unsigned char *s, size_t left)
{
    (void)s;
    (void)left;
    return 1;
}

char *charset_from_utf8(const char *to, const char *text, size_t len, size_t *outlen,
                        size_t *replaced)
{
    return convert(to, "UTF-8", text, len, char_len, outlen, replaced, NULL, NULL);
}

char *charset_to_utf8(const char *from, const char *text, size_t len, size_t *outlen,
                      size_t *replaced)
{
    return convert("UTF-8", from, text, len, one_byte, outlen, replaced, NULL, NULL);
}

char *charset_to_utf8_checked(const char *from, const char *text, size_t len, size_t *outlen,
                              void (*bad)(void *arg, size_t offset), void *arg)
{
    size_t replaced;
    return convert("UTF-8", from, text, len, one_byte, outlen, &replaced, bad, arg);
}

size_t charset_utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; cp = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; cp = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; cp = s[0] & 0x07; }
    else return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Replace each byte that does not begin a valid sequence by '?', in place (the
 * text only gets shorter). How many were replaced. */
static size_t utf8_mend(char *s, size_t *len)
{
    size_t r = 0, w = 0, n = 0;
    while (r < *len) {
        size_t k = charset_utf8_seq((const unsigned char *)s + r, *len - r);
        if (k == 0) {
            s[w++] = '?';
            r++;
            n++;
            continue;
        }
        memmove(s + w, s + r, k);
        w += k;
        r += k;
    }
    s[w] = 0;
    *len = w;
    return n;
}

bool charset_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, k; i < len; i += k)
        if (!(k = charset_utf8_seq(u + i, len - i)))
            return false;
    return true;
}

