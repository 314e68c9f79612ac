/* mb_decode: raw registers to numbers and back, for every type and order of the
 * point table (see mb_point.h for the orders). */
#include "drivers/mb_decode.h"
#include <math.h>
#include <string.h>

static uint16_t swap16(uint16_t v) { return (uint16_t)((v << 8) | (v >> 8)); }

static int byte_swapped(enum mb_order o) { return o == MB_BADC || o == MB_DCBA; }
static int word_little(enum mb_order o) { return o == MB_CDAB || o == MB_DCBA; }

/* Gather n (2 or 4) registers into a big-endian integer, undoing the order. */
static uint64_t gather(const uint16_t *regs, unsigned n, enum mb_order o)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        uint16_t r = regs[word_little(o) ? n - 1 - i : i];
        if (byte_swapped(o))
            r = swap16(r);
        v = (v << 16) | r;
    }
    return v;
}

static void scatter(uint64_t v, uint16_t *regs, unsigned n, enum mb_order o)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t r = (uint16_t)(v >> (16 * (n - 1 - i)));
        if (byte_swapped(o))
            r = swap16(r);
        regs[word_little(o) ? n - 1 - i : i] = r;
    }
}

int mb_decode_regs(const struct mb_addr *a, const uint16_t *regs, double *out)
{
    uint16_t r16 = byte_swapped(a->order) ? swap16(regs[0]) : regs[0];
    switch (a->type) {
    case MB_BOOL:   *out = regs[0] != 0; return 0;
    case MB_BIT:    *out = (regs[0] >> a->bit) & 1u; return 0;
    case MB_INT16:  *out = (int16_t)r16; return 0;
    case MB_UINT16: *out = r16; return 0;
    case MB_INT32:  *out = (int32_t)(uint32_t)gather(regs, 2, a->order); return 0;
    case MB_UINT32: *out = (uint32_t)gather(regs, 2, a->order); return 0;
    case MB_INT64:  *out = (double)(int64_t)gather(regs, 4, a->order); return 0;
    case MB_UINT64: *out = (double)gather(regs, 4, a->order); return 0;
    case MB_FLOAT32: {
        uint32_t u = (uint32_t)gather(regs, 2, a->order);
        float f;
        memcpy(&f, &u, sizeof f);
        *out = f;
        return isfinite(f) ? 0 : -1;
    }
    case MB_FLOAT64: {
        uint64_t u = gather(regs, 4, a->order);
        double d;
        memcpy(&d, &u, sizeof d);
        *out = d;
        return isfinite(d) ? 0 : -1;
    }
    }
    return -1;
}

static int64_t clamp_int(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    v = nearbyint(v);
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return (int64_t)v;
}

static uint64_t clamp_uint(double v, double hi)
{
    if (isnan(v) || v <= 0)
        return 0;
    v = nearbyint(v);
    return v >= hi ? (uint64_t)hi : (uint64_t)v;
}

void mb_encode_regs(const struct mb_addr *a, double raw, uint16_t *regs)
{
    uint16_t r16;
    switch (a->type) {
    case MB_BOOL:
        regs[0] = raw != 0;
        return;
    case MB_BIT:
        if (raw != 0) regs[0] |= (uint16_t)(1u << a->bit);
        else regs[0] &= (uint16_t)~(1u << a->bit);
        return;
    case MB_INT16:
        r16 = (uint16_t)(int16_t)clamp_int(raw, -32768, 32767);
        regs[0] = byte_swapped(a->order) ? swap16(r16) : r16;
        return;
    case MB_UINT16:
        r16 = (uint16_t)clamp_uint(raw, 65535);
        regs[0] = byte_swapped(a->order) ? swap16(r16) : r16;
        return;
    case MB_INT32:
        scatter((uint32_t)(int32_t)clamp_int(raw, -2147483648.0, 2147483647.0), regs, 2, a->order);
        return;
    case MB_UINT32:
        scatter(clamp_uint(raw, 4294967295.0), regs, 2, a->order);
        return;
    case MB_INT64:
        /* 2^63 is the first double above INT64_MAX: stay below it. */
        scatter((uint64_t)clamp_int(raw, -9223372036854775808.0, 9223372036854774784.0),
                regs, 4, a->order);
        return;
    case MB_UINT64:
        scatter(clamp_uint(raw, 18446744073709549568.0), regs, 4, a->order);
        return;
    case MB_FLOAT32: {
        float f = (float)raw;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        scatter(u, regs, 2, a->order);
        return;
    }
    case MB_FLOAT64: {
        uint64_t u;
        memcpy(&u, &raw, sizeof u);
        scatter(u, regs, 4, a->order);
        return;
    }
    }
}
