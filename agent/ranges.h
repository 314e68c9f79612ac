/*
 * ranges: a set of seqs kept as sorted, disjoint, non-adjacent closed intervals.
 * An uplink's delivered readings are such a set: everything up to its cursor,
 * plus what the live lane delivered while a backlog was still being re-uploaded.
 * A handful of intervals describe any history of outages and crashes.
 */
#ifndef GANZHI_RANGES_H
#define GANZHI_RANGES_H

#include <stddef.h>
#include <stdint.h>

struct range {
    uint64_t lo, hi;    /* lo <= hi */
};

struct ranges {
    struct range *r;
    size_t n, cap;
};

void ranges_init(struct ranges *s);
void ranges_free(struct ranges *s);
/* Add [lo, hi], merging with neighbours. 0, or -1 out of memory. */
int ranges_add(struct ranges *s, uint64_t lo, uint64_t hi);
int ranges_contains(const struct ranges *s, uint64_t x);
/* The lowest seq >= from that is not in the set. */
uint64_t ranges_next_gap(const struct ranges *s, uint64_t from);
/* The lowest seq > x that is in the set, or UINT64_MAX. */
uint64_t ranges_next_member(const struct ranges *s, uint64_t x);
/* How many of [lo, hi] are not in the set. */
uint64_t ranges_missing(const struct ranges *s, uint64_t lo, uint64_t hi);

/* Text form for the store: "lo-hi,lo-hi" ("" when empty). */
int ranges_format(const struct ranges *s, char *buf, size_t len);
int ranges_parse(struct ranges *s, const char *text);

#endif
