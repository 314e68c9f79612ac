/* tool_fill_store: fill an agent store with days of history, for tests/bench_resend.sh.
 *   tool_fill_store --dir DIR --points N --interval-ms MS --days D
 *                   [--tag-prefix P] [--device NAME] [--unit U] [--csv FILE]
 *                   [--delivered UPLINK]
 * Opens (creating) DIR/store.db with the agent's own store code, registers the
 * points P-0001 .. P-N of device NAME, and appends one batch of N good readings
 * per interval, sampled from D days ago up to one interval ago (values that drift
 * a little), many batches a transaction. With --csv, writes a point table for
 * those tags (holding registers 0.., uint16, scale 0.001), so that an agent's
 * [device NAME] configures exactly them. With --delivered, the cursor of that
 * uplink says all of it was acknowledged (a new uplink re-uploads everything the
 * store holds as its backlog). Prints the readings stored and the time. */
#include "agent/batch_codec.h"
#include "agent/store.h"
#include "core/clock.h"
#include "core/reading.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BATCHES_PER_TX 2000

static void usage(const char *me)
{
    fprintf(stderr, "usage: %s --dir DIR --points N --interval-ms MS --days D [--tag-prefix P]"
                    " [--device NAME] [--unit U] [--csv FILE]\n", me);
    exit(2);
}

static long long number(const char *me, const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: bad number '%s' (%lld..%lld)\n", me, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *prefix = "H", *device = "history", *unit = "m", *csv = NULL,
               *uplink = NULL;
    long long npoints = 0, interval = 0, days = 0;
    for (int i = 1; i < argc; i += 2) {    /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage(argv[0]);
        if (!strcmp(a, "--dir"))
            dir = v;
        else if (!strcmp(a, "--points"))
            npoints = number(argv[0], v, 1, 10000);
        else if (!strcmp(a, "--interval-ms"))
            interval = number(argv[0], v, 10, 86400000);
        else if (!strcmp(a, "--days"))
            days = number(argv[0], v, 1, 366);
        else if (!strcmp(a, "--tag-prefix"))
            prefix = v;
        else if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--unit"))
            unit = v;
        else if (!strcmp(a, "--csv"))
            csv = v;
        else if (!strcmp(a, "--delivered"))
            uplink = v;
        else
            usage(argv[0]);
    }
    if (!dir || !npoints || !interval || !days)
        usage(argv[0]);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s: %s\n", argv[0], dir, strerror(errno));
        return 1;
    }
    int64_t t0 = mono_ms();
    char err[256];
    struct store *s = store_open(dir, STORE_WRITE, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return 1;
    }
    uint32_t *id = calloc((size_t)npoints, sizeof *id);
    FILE *f = csv ? fopen(csv, "w") : NULL;
    if (!id || (csv && !f)) {
        fprintf(stderr, "%s: %s\n", argv[0], csv && !f ? strerror(errno) : "out of memory");
        return 1;
    }
    if (f)
        fprintf(f, "# %lld points filled by tool_fill_store\ntag,area,address,type,scale,unit\n",
                npoints);
    for (long long i = 0; i < npoints; i++) {
        char tag[128];
        snprintf(tag, sizeof tag, "%s-%04lld", prefix, i + 1);
        if (store_point_id(s, tag, device, unit, &id[i]) != 0) {
            fprintf(stderr, "%s: point %s: %s\n", argv[0], tag, store_errmsg(s));
            return 1;
        }
        if (f)
            fprintf(f, "%s,holding,%lld,uint16,0.001,%s\n", tag, i, unit);
    }
    if (f && fclose(f) != 0) {
        fprintf(stderr, "%s: %s: %s\n", argv[0], csv, strerror(errno));
        return 1;
    }

    /* Batches at now - count*interval .. now - interval: all in the past. */
    int64_t now = wall_ms();
    long long count = days * 86400000LL / interval;
    int64_t first = now - count * interval;
    struct packed_batch **pb = calloc(BATCHES_PER_TX, sizeof *pb);
    if (!pb) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    unsigned long long readings = 0;
    for (long long k = 0; k < count;) {
        size_t n = 0;
        for (; n < BATCHES_PER_TX && k < count; n++, k++) {
            struct batch *b = malloc(sizeof *b + (size_t)npoints * sizeof b->r[0]);
            if (!b) {
                fprintf(stderr, "%s: out of memory\n", argv[0]);
                return 1;
            }
            int64_t ts = first + k * interval;
            b->seq0 = 0;
            b->ts_ms = ts;
            b->n = (uint32_t)npoints;
            for (long long i = 0; i < npoints; i++) {
                /* A level of 1..6 m that drifts a little, to the millimetre. */
                double v = 1.0 + (double)(i % 50) * 0.1 + 0.05 * sin((double)k / 60.0 + (double)i);
                b->r[i] = (struct reading){ .point = id[i], .quality = Q_GOOD, .has_value = 1,
                                            .ts_ms = ts, .value = round(v * 1000.0) / 1000.0 };
            }
            pb[n] = batch_pack(b);
            if (!pb[n]) {
                fprintf(stderr, "%s: cannot pack a batch\n", argv[0]);
                return 1;
            }
        }
        if (store_append(s, pb, n, NULL, 0) != 0) {
            fprintf(stderr, "%s: append: %s\n", argv[0], store_errmsg(s));
            return 1;
        }
        for (size_t j = 0; j < n; j++) {
            readings += pb[j]->n;
            free(pb[j]);
        }
    }
    uint64_t next = store_next_seq(s);
    if (uplink) {
        struct store_cursor c = { .acked = next - 1 };
        if (store_cursor_set(s, uplink, &c) != 0) {
            fprintf(stderr, "%s: cursor of %s: %s\n", argv[0], uplink, store_errmsg(s));
            return 1;
        }
    }
    store_checkpoint(s);
    store_close(s);
    free(pb);
    free(id);
    double secs = (double)(mono_ms() - t0) / 1000.0;
    printf("filled %s/store.db: %llu readings (%lld points x %lld batches, every %lld ms, "
           "%lld days), next seq %llu%s%s, in %.1f s\n", dir, readings, npoints, count,
           interval, days, (unsigned long long)next, uplink ? ", all delivered to " : "",
           uplink ? uplink : "", secs);
    return 0;
}
