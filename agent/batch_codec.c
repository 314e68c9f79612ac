/* batch_codec: varint/zigzag/decimal encoding of readings (format in batch_codec.h). */
#include "agent/batch_codec.h"
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { K_NONE = 0, K_F32 = 1, K_F64 = 2, K_DEC0 = 3, K_DEC_MAX = 9, K_CODE = 10 };

static const double pow10_tab[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* The shortest exact decimal form m / 10^k (k <= 6, |m| < 2^53), or -1. */
static int as_decimal(double v, int64_t *m)
{
    for (int k = 0; k <= 6; k++) {
        double s = v * pow10_tab[k];
        if (fabs(s) >= 9007199254740992.0)
            return -1;
        double r = nearbyint(s);
        if (r / pow10_tab[k] == v) {
            *m = (int64_t)r;
            return k;
        }
    }
    return -1;
}

size_t batch_encode(const struct reading *r, uint32_t n, int64_t base_ts, uint8_t *out)
{
    uint8_t *p = out;
    for (uint32_t i = 0; i < n; i++) {
        /* A copy first: out may be r itself (batch_pack), and this reading's
         * bytes may overwrite its own struct, never the next one's. */
        const struct reading copy = r[i], *x = &copy;
        uint8_t *kind = p++;
        p += put_varint(p, x->point);
        p += put_varint(p, (uint64_t)(x->ts_ms > base_ts ? x->ts_ms - base_ts : 0));
        int k;
        int64_t m;
        float f;
        if (!x->has_value && x->code) {
            *kind = K_CODE;
            *p++ = x->code;
        } else if (!x->has_value) {
            *kind = K_NONE;
        } else if ((k = as_decimal(x->value, &m)) >= 0) {
            *kind = (uint8_t)(K_DEC0 + k);
            p += put_varint(p, zigzag(m));
        } else if ((double)(f = (float)x->value) == x->value) {
            *kind = K_F32;
            memcpy(p, &f, 4);   /* little-endian hosts; see note in store.h */
            p += 4;
        } else {
            *kind = K_F64;
            memcpy(p, &x->value, 8);
            p += 8;
        }
        *kind |= (uint8_t)(x->quality << 4);
    }
    return (size_t)(p - out);
}

int batch_decode_next(const uint8_t *blob, size_t len, size_t *pos, int64_t base_ts,
                      struct reading *out)
{
    if (*pos >= len)
        return -1;
    uint8_t b = blob[(*pos)++];
    unsigned kind = b & 0x0f;
    uint64_t id, dt, zm;
    if (get_varint(blob, len, pos, &id) || id > UINT32_MAX ||
        get_varint(blob, len, pos, &dt))
        return -1;
    /* A delta that takes the time past INT64_MAX is a corrupt blob, not a
     * time: refused here rather than computed on (signed overflow). */
    int64_t ts;
    if (dt > (uint64_t)INT64_MAX || __builtin_add_overflow(base_ts, (int64_t)dt, &ts))
        return -1;
    out->point = (uint32_t)id;
    out->quality = (uint8_t)(b >> 4);
    out->ts_ms = ts;
    out->has_value = kind != K_NONE;
    out->value = 0;
    out->code = 0;
    if (out->quality >= Q_COUNT)
        return -1;
    if (kind == K_CODE) {
        if (*pos >= len)
            return -1;
        out->has_value = 0;
        out->code = blob[(*pos)++];
        return 0;
    }
    if (kind == K_F32) {
        float f;
        if (len - *pos < 4)
            return -1;
        memcpy(&f, blob + *pos, 4);
        *pos += 4;
        out->value = f;
    } else if (kind == K_F64) {
        if (len - *pos < 8)
            return -1;
        memcpy(&out->value, blob + *pos, 8);
        *pos += 8;
    } else if (kind >= K_DEC0 && kind <= K_DEC_MAX) {
        if (get_varint(blob, len, pos, &zm))
            return -1;
        out->value = (double)unzigzag(zm) / pow10_tab[kind - K_DEC0];
    } else if (kind != K_NONE) {
        return -1;
    }
    return 0;
}

/* Packing in place: the readings and the blob start at the same offset, and
 * no reading encodes to more bytes than its struct holds. */
_Static_assert(offsetof(struct batch, r) == offsetof(struct packed_batch, data),
               "a batch and its packed form must share their header's size");
_Static_assert(sizeof(struct reading) >= BATCH_CODEC_MAX_READING,
               "a reading's encoding must fit in its own struct");

struct packed_batch *batch_pack(struct batch *b)
{
    int64_t ts = b->ts_ms;
    uint32_t n = b->n;
    size_t len = batch_encode(b->r, n, ts, (uint8_t *)b->r);
    struct packed_batch *p = (struct packed_batch *)b;
    p->seq0 = 0;
    p->ts_ms = ts;
    p->n = n;
    p->len = (uint32_t)len;
    struct packed_batch *fit = realloc(p, sizeof *p + len);   /* shrinks in place */
    return fit ? fit : p;
}
