/* fuzz_cursor: a stored delivery cursor's text through ranges_parse. What it
 * accepts must hold ranges.h's invariant (sorted, disjoint, non-adjacent, lo <=
 * hi) and survive ranges_format and ranges_parse unchanged; adding the seqs at
 * the text's end keeps the invariant too. */
#include "tests/fuzz/fuzz_util.h"
#include "agent/ranges.h"
#include <stdint.h>

static void check(const struct ranges *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].lo > s->r[i].hi)
            abort();
        if (i && (s->r[i - 1].hi == UINT64_MAX || s->r[i - 1].hi + 1 >= s->r[i].lo))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct ranges s;
    ranges_init(&s);
    if (ranges_parse(&s, text) == 0) {
        check(&s);
        char buf[4096];
        if (ranges_format(&s, buf, sizeof buf) == 0) {
            struct ranges t;
            ranges_init(&t);
            if (ranges_parse(&t, buf) != 0 || t.n != s.n ||
                (s.n && memcmp(t.r, s.r, s.n * sizeof s.r[0]) != 0))
                abort();
            ranges_free(&t);
        }
        /* As the lanes do: add intervals taken from the input's bytes. */
        for (size_t i = 0; i + 2 <= size && i < 64; i += 2) {
            uint64_t lo = data[i] * 3ull, hi = lo + data[i + 1] % 8;
            if (data[i] == 0xff)
                hi = UINT64_MAX;
            ranges_add(&s, lo, hi);
            check(&s);
            uint64_t g = ranges_next_gap(&s, lo);
            if (g != 0 && ranges_contains(&s, g))
                abort();
        }
    }
    ranges_free(&s);
    free(text);
    return 0;
}
