/* fuzz_batch: a stored batch row: the base time (8 bytes LE), the count
 * (2 bytes LE) and the blob, decoded as store.c does. Every reading that
 * decodes must encode and decode again to the same reading. */
#include "tests/fuzz/fuzz_util.h"
#include "agent/batch_codec.h"
#include <stdint.h>

static void same(const struct reading *a, const struct reading *b)
{
    if (a->point != b->point || a->quality != b->quality || a->ts_ms != b->ts_ms ||
        a->has_value != b->has_value || a->code != b->code)
        abort();
    if (a->has_value && a->value == a->value && a->value != b->value)
        abort();
    if (a->has_value && a->value != a->value && b->value == b->value)
        abort();    /* a NaN stays a NaN */
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 10)
        return 0;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | data[i];
    int64_t base = (int64_t)u;
    unsigned n = (unsigned)(data[8] | data[9] << 8);
    size_t len = size - 10;
    uint8_t *blob = malloc(len ? len : 1);  /* its own size: ASan sees any overread */
    if (!blob)
        return 0;
    memcpy(blob, data + 10, len);
    size_t pos = 0;
    for (unsigned i = 0; i < n; i++) {
        struct reading r, back;
        size_t before = pos;
        if (batch_decode_next(blob, len, &pos, base, &r))
            break;
        if (pos <= before || pos > len || r.ts_ms < base)
            abort();
        uint8_t enc[BATCH_CODEC_MAX_READING];
        size_t elen = batch_encode(&r, 1, base, enc), epos = 0;
        if (elen > BATCH_CODEC_MAX_READING || batch_decode_next(enc, elen, &epos, base, &back) ||
            epos != elen)
            abort();
        same(&r, &back);
    }
    free(blob);
    return 0;
}
