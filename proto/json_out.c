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

#ifdef __SIZEOF_INT128__  /* 64-bit targets; 32-bit ARM (armhf) uses printf below */
typedef unsigned __int128 u128;

/* Digits of a 128-bit v into the end of buf; returns the start. */
static char *u128toa_rev(u128 v, char *end)
{
    while (v > UINT64_MAX) {
        *--end = (char)('0' + (int)(v % 10));
        v /= 10;
    }
    return utoa_rev((uint64_t)v, end);
}

/*
 * The shortest fixed-point decimal that reads back as v, exactly, for doubles
 * from about 1e-22 to 2^53 with at most 21 decimals; 0 outside that range.
 * v = M * 2^e. The decimals that read back as v are those strictly inside the
 * half-way points to its neighbours (or on them when M is even: ties go to
 * even). Scaled by 4 * 10^k those bounds are integers over 2^(2-e), so for each
 * k the question "is there a k-decimal number in between" is integer arithmetic
 * in 128 bits: no bignums, no printf. Long values (a float64 totaliser,
 * 0.1 + 0.2) cost printf several microseconds each; this a few dozen
 * multiplications.
 */
static size_t shortest_fixed(double v, char *out)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int bexp = (int)(bits >> 52 & 0x7ff);
    uint64_t frac = bits & ((1ULL << 52) - 1);
    if (bexp == 0 || bexp == 0x7ff)
        return 0;                       /* zero, subnormal, inf, nan: not here */
    uint64_t m = frac | 1ULL << 52;
    int e = bexp - 1075;                /* v = m * 2^e */
    int s = 2 - e;
    if (e > 0 || s > 127)
        return 0;
    int even = (m & 1) == 0;
    u128 center = (u128)m * 4;
    u128 lo = center - (frac == 0 && bexp > 1 ? 1 : 2);    /* closer below a power of 2 */
    u128 hi = center + 2;
    u128 mask = ((u128)1 << s) - 1;
    u128 p10 = 1;
    for (int k = 0; k <= 21; k++, p10 *= 10) {
        u128 l = lo * p10, h = hi * p10, c = center * p10;
        /* the integers d with l <= d * 2^s <= h (strictly, for odd m) */
        u128 dlo = (l >> s) + ((l & mask) != 0 || !even);
        u128 dhi = (h >> s) - ((h & mask) == 0 && !even);
        if (dlo > dhi)
            continue;
        u128 d = (c >> s) + ((c & mask) >= ((u128)1 << (s - 1)));  /* nearest to v */
        if (d < dlo)
            d = dlo;
        if (d > dhi)
            d = dhi;
        char tmp[64];
        char *end = tmp + sizeof tmp, *q = end;
        for (int i = 0; i < k; i++) {
            *--q = (char)('0' + (int)(d % 10));
            d /= 10;
        }
        if (k)
            *--q = '.';
        q = u128toa_rev(d, q);
        if (bits >> 63)
            *--q = '-';
        size_t n = (size_t)(end - q);
        memcpy(out, q, n);
        return n;
    }
    return 0;
}
#else
static size_t shortest_fixed(double v, char *out)
{
    (void)v, (void)out;
    return 0;
}
#endif

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
    char tmp[64];
    size_t len = shortest_fixed(v, tmp);
    if (len) {
        json_raw(j, tmp, len);
        return;
    }
    /* Very large or very small: the least precision that reads back. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    json_raw(j, tmp, (size_t)n);
}
