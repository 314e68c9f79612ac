/* ranges: interval sets of seqs (see ranges.h). Sets stay tiny (one interval per
 * outage not yet re-uploaded), so linear scans are the right tool. */
#include "agent/ranges.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ranges_init(struct ranges *s) { memset(s, 0, sizeof *s); }

void ranges_free(struct ranges *s)
{
    free(s->r);
    ranges_init(s);
}

int ranges_add(struct ranges *s, uint64_t lo, uint64_t hi)
{
    if (lo > hi)
        return 0;
    /* Find the first interval that ends at or after lo - 1 (touching merges). */
    size_t i = 0;
    while (i < s->n && s->r[i].hi != UINT64_MAX && s->r[i].hi + 1 < lo)
        i++;
    size_t j = i;   /* intervals i..j-1 overlap or touch [lo, hi] */
    while (j < s->n && s->r[j].lo <= (hi == UINT64_MAX ? hi : hi + 1))
        j++;
    if (j > i) {
        if (s->r[i].lo < lo)
            lo = s->r[i].lo;
        if (s->r[j - 1].hi > hi)
            hi = s->r[j - 1].hi;
        s->r[i] = (struct range){ lo, hi };
        memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof s->r[0]);
        s->n -= j - i - 1;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        struct range *r = realloc(s->r, cap * sizeof *r);
        if (!r)
            return -1;
        s->r = r;
        s->cap = cap;
    }
    memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof s->r[0]);
    s->r[i] = (struct range){ lo, hi };
    s->n++;
    return 0;
}

int ranges_contains(const struct ranges *s, uint64_t x)
{
    for (size_t i = 0; i < s->n; i++)
        if (x >= s->r[i].lo && x <= s->r[i].hi)
            return 1;
    return 0;
}

uint64_t ranges_next_gap(const struct ranges *s, uint64_t from)
{
    for (size_t i = 0; i < s->n; i++)
        if (from >= s->r[i].lo && from <= s->r[i].hi)
            from = s->r[i].hi + 1;
    return from;
}

uint64_t ranges_next_member(const struct ranges *s, uint64_t x)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].hi <= x)
            continue;
        return s->r[i].lo > x ? s->r[i].lo : x + 1;
    }
    return UINT64_MAX;
}

uint64_t ranges_missing(const struct ranges *s, uint64_t lo, uint64_t hi)
{
    if (lo > hi)
        return 0;
    uint64_t missing = hi - lo + 1;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t a = s->r[i].lo > lo ? s->r[i].lo : lo;
        uint64_t b = s->r[i].hi < hi ? s->r[i].hi : hi;
        if (a <= b)
            missing -= b - a + 1;
    }
    return missing;
}

int ranges_format(const struct ranges *s, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < s->n; i++) {
        int n = snprintf(buf + off, len - off, "%s%" PRIu64 "-%" PRIu64, i ? "," : "",
                         s->r[i].lo, s->r[i].hi);
        if (n < 0 || (size_t)n >= len - off)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* A decimal seq at *p: digits only (strtoull alone would take a sign, blanks
 * and wrap on overflow). */
static int parse_seq(const char **p, uint64_t *v)
{
    const char *q = *p;
    if (*q < '0' || *q > '9')
        return -1;
    uint64_t x = 0;
    for (; *q >= '0' && *q <= '9'; q++) {
        if (x > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*q - '0');
    }
    *p = q;
    *v = x;
    return 0;
}

/* Only the form ranges_format writes is accepted: each lo <= hi, the intervals
 * ascending, disjoint and not adjacent; anything else is -1 (the set may then
 * hold part of the text: the caller frees it). */
int ranges_parse(struct ranges *s, const char *text)
{
    const char *p = text;
    int first = 1;
    uint64_t prev_hi = 0;
    while (*p) {
        uint64_t lo, hi;
        if (parse_seq(&p, &lo) || *p++ != '-' || parse_seq(&p, &hi) || hi < lo ||
            (*p && *p != ','))
            return -1;
        if (!first && (prev_hi == UINT64_MAX || lo <= prev_hi + 1))
            return -1;
        if (ranges_add(s, lo, hi))
            return -1;
        first = 0;
        prev_hi = hi;
        if (*p && !*++p)
            return -1;      /* a trailing comma */
    }
    return 0;
}
