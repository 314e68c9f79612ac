/* json_out: direct JSON text output with exact, short number formatting. */
#include "proto/json_out.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_init(struct json_out *j) { memset(j, 0, sizeof *j); }

void json_init_hint(struct json_out *j, size_t hint)
{
    json_init(j);
    if (hint && (j->buf = malloc(hint)))
        j->cap = hint;
}

void json_free(struct json_out *j)
{
    free(j->buf);
    json_init(j);
}

char *json_take(struct json_out *j)
{
    json_raw(j, "", 1);     /* the terminating NUL */
    char *s = j->failed ? NULL : j->buf;
    if (!s)
        free(j->buf);
    json_init(j);
    return s;
}

static int reserve(struct json_out *j, size_t n)
{
    if (j->failed)
        return -1;
    if (j->len + n <= j->cap)
        return 0;
    size_t cap = j->cap ? j->cap : 1024;
    while (cap < j->len + n)
        cap *= 2;
    char *b = realloc(j->buf, cap);
    if (!b) {
        j->failed = 1;
        return -1;
    }
    j->buf = b;
    j->cap = cap;
    return 0;
}

void json_raw_grow(struct json_out *j, const char *s, size_t n)
{
    if (reserve(j, n))
        return;
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

void json_str(struct json_out *j, const char *s)
{
    size_t n = strlen(s);
    if (reserve(j, n * 6 + 2))
        return;
    char *o = j->buf + j->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            o += sprintf(o, "u%04x", c);
        }
    }
    *o++ = '"';
    j->len = (size_t)(o - j->buf);
}

/* Digits of v into the end of buf; returns the start. */
static char *utoa_rev(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void json_u64(struct json_out *j, uint64_t v)
{
    char tmp[24];
    char *s = utoa_rev(v, tmp + sizeof tmp);
    json_raw(j, s, (size_t)(tmp + sizeof tmp - s));
}

void json_num(struct json_out *j, double v)
{
    static const double p10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
    if (!isfinite(v)) {
        json_lit(j, "null");
        return;
    }
    /* Short decimals, the common case (3.215 m, 24.8 ℃): v == m / 10^k with m
     * and 10^k exact doubles. Division is correctly rounded, so the decimal text
     * "m e-k" reads back as v: exact and shortest, without printf. */
    for (int k = 0; k <= 6; k++) {
        double s = v * p10[k];
        if (fabs(s) >= 9007199254740992.0)
            break;
        double m = nearbyint(s);
        if (m / p10[k] != v)
            continue;
        char tmp[32];
        uint64_t u = (uint64_t)fabs(m);
        char *end = tmp + sizeof tmp, *p = end;
        for (int d = 0; d < k; d++) {
            *--p = (char)('0' + u % 10);
            u /= 10;
        }
        if (k)
            *--p = '.';
        p = utoa_rev(u, p);
        if (m < 0)
            *--p = '-';
        json_raw(j, p, (size_t)(end - p));
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    json_raw(j, tmp, (size_t)n);
}
