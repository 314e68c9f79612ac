/* bytes: text or hex: byte strings, their display, and search. */
#include "core/bytes.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int bytes_parse(const char *spec, uint8_t *out, size_t cap, size_t *len, char *err, size_t errlen)
{
    size_t n = 0;
    if (strncmp(spec, "hex:", 4) != 0) {
        n = strlen(spec);
        if (n == 0) {
            snprintf(err, errlen, "empty");
            return -1;
        }
        if (n > cap) {
            snprintf(err, errlen, "'%s' is longer than %zu bytes", spec, cap);
            return -1;
        }
        memcpy(out, spec, n);
        *len = n;
        return 0;
    }
    const char *p = spec + 4;
    int hi = -1;
    for (; *p; p++) {
        if (*p == ' ' || *p == ':' || *p == '-') {
            if (hi >= 0) {
                snprintf(err, errlen, "'%s': a byte is two hex digits", spec);
                return -1;
            }
            continue;
        }
        int v = hexval((unsigned char)*p);
        if (v < 0) {
            snprintf(err, errlen, "'%s': '%c' is not a hex digit", spec, *p);
            return -1;
        }
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n == cap) {
            snprintf(err, errlen, "'%s' is longer than %zu bytes", spec, cap);
            return -1;
        }
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    if (hi >= 0) {
        snprintf(err, errlen, "'%s': odd number of hex digits", spec);
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, "'%s': no bytes", spec);
        return -1;
    }
    *len = n;
    return 0;
}

const char *bytes_format(const uint8_t *b, size_t n, char *buf, size_t buflen)
{
    int text = n > 0 && strncmp((const char *)b, "hex:", n < 4 ? n : 4) != 0;
    for (size_t i = 0; text && i < n; i++)
        text = b[i] >= 0x20 && b[i] < 0x7f;
    size_t at = 0;
    if (buflen == 0)
        return buf;
    buf[0] = 0;
    if (text) {
        snprintf(buf, buflen, "%.*s", (int)n, (const char *)b);
        return buf;
    }
    at = (size_t)snprintf(buf, buflen, "hex:");
    for (size_t i = 0; i < n && at + 3 < buflen; i++)
        at += (size_t)snprintf(buf + at, buflen - at, "%02X", b[i]);
    return buf;
}

long bytes_find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    if (m == 0 || m > n)
        return -1;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return (long)i;
    return -1;
}
