/* tool_fill_store: fill an agent store with days of history, for tests/bench_resend.sh
 * and tests/soak_outage.sh.
 *   tool_fill_store --dir DIR --points N --interval-ms MS --days D
 *                   [--tag-prefix P] [--device NAME] [--unit U] [--csv FILE]
 *                   [--delivered UPLINK | --outage UPLINK]
 *                   [--store-max BYTES] [--retention-h H] [--chunk-s S]
 *                   [--alarm-every-h H] [--alarms FILE] [--rss FILE]
 * Opens (creating) DIR/store.db with the agent's own store code, registers the
 * points P-0001 .. P-N of device NAME, and appends one batch of N good readings
 * per interval, sampled from D days ago up to one interval ago (values that drift
 * a little), many batches a transaction. With --csv, writes a point table for
 * those tags (holding registers 0.., uint16, scale 0.001), so that an agent's
 * [device NAME] configures exactly them. With --delivered, the cursor of that
 * uplink says all of it was acknowledged (a new uplink re-uploads everything the
 * store holds as its backlog). Prints the readings stored and the time.
 *
 * As an outage (soak_outage.sh): --outage UPLINK stores one batch sampled just
 * before the D days and marks it delivered to UPLINK, so that the D days are
 * that uplink's backlog and what is evicted of them counts as lost. The clock is
 * the samples' own: after each transaction of --chunk-s seconds of samples (60:
 * the writer's retention period), the store is kept within --store-max and
 * --retention-h the way the agent's writer does (agent/writer.c, keep_budget:
 * retention first, the WAL checkpointed past its reserve, the oldest readings
 * evicted down to 80 % of the budget once past 90 %), "now" being the newest
 * sample. --alarm-every-h H writes, through the store's alarm API with the
 * readings of the same time, an alarm raised on the first point every H hours
 * (at 30 min past the hour) and cleared 10 minutes later; --alarms FILE lists
 * them as "id ts_ms raised". --rss FILE gets a line per percent of the fill:
 * "percent readings_appended VmRSS_kB used_bytes file_bytes wal_bytes evicted".
 * Ends with "key=value" figures for the script. */
#include "agent/batch_codec.h"
#include "agent/store.h"
#include "agent/alarm.h"
#include "core/clock.h"
#include "core/reading.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCHES_PER_TX 2000

static void usage(const char *me)
{
    fprintf(stderr, "usage: %s --dir DIR --points N --interval-ms MS --days D [--tag-prefix P]"
                    " [--device NAME] [--unit U] [--csv FILE] [--delivered UPLINK | --outage UPLINK]"
                    " [--store-max BYTES] [--retention-h H] [--chunk-s S] [--alarm-every-h H]"
                    " [--alarms FILE] [--rss FILE]\n", me);
    exit(2);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int64_t file_size(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* The agent's disk budget, as agent/writer.c keeps it (keep_budget), with the
 * samples' clock. */
struct budget {
    int64_t store_max, retention_ms, wal_bytes, reserve_bytes;
    int64_t last_cutoff;            /* the last retention pass's: nothing older stays */
    uint64_t evicted_budget, evicted_retention;
    int64_t peak_used_wal, peak_disk;   /* pages in use + WAL; store.db + its WAL */
};

static void budget_init(struct store *s, struct budget *b)
{
    /* writer_start: a WAL of a sixty-fourth of the budget (64 KB .. 4 MB), a
     * reserve of twice that, checkpoints at half of it. */
    b->wal_bytes = b->store_max / 64;
    if (b->wal_bytes < 64 * 1024)
        b->wal_bytes = 64 * 1024;
    if (b->wal_bytes > 4 * 1024 * 1024)
        b->wal_bytes = 4 * 1024 * 1024;
    b->reserve_bytes = 2 * b->wal_bytes;
    if (b->store_max)
        store_limit_wal(s, (int)(b->wal_bytes / 4096 / 2), b->wal_bytes);
}

static void budget_peaks(const char *dir, struct budget *b, const struct store_usage *u)
{
    if (u->used + u->wal > b->peak_used_wal)
        b->peak_used_wal = u->used + u->wal;
    int64_t disk = file_size(dir, "store.db") + file_size(dir, "store.db-wal");
    if (disk > b->peak_disk)
        b->peak_disk = disk;
}

static int budget_keep(struct store *s, const char *dir, struct budget *b, int64_t now)
{
    struct store_usage u;
    store_usage(s, dir, &u);
    budget_peaks(dir, b, &u);     /* the fullest moment: a commit's batches in, none out */
    if (b->retention_ms > 0) {
        int64_t n = store_evict_before(s, now - b->retention_ms);
        if (n < 0)
            return -1;
        b->evicted_retention += (uint64_t)n;
        b->last_cutoff = now - b->retention_ms;
    }
    store_usage(s, dir, &u);
    if (b->store_max) {
        if (u.wal > b->reserve_bytes) {
            store_checkpoint(s);
            store_usage(s, dir, &u);
        }
        int64_t total = u.used + u.wal;
        if (total > b->store_max / 10 * 9) {
            int64_t n = store_evict_bytes(s, total - b->store_max / 10 * 8);
            if (n < 0)
                return -1;
            b->evicted_budget += (uint64_t)n;
            store_usage(s, dir, &u);
        }
    }
    budget_peaks(dir, b, &u);
    return 0;
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

static void die(const char *me, const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", me, what, why);
    exit(1);
}

/* The readings of batch k of the fill, sampled at ts. */
static struct packed_batch *make_batch(const uint32_t *id, long long npoints, long long k,
                                       int64_t ts)
{
    struct batch *b = malloc(sizeof *b + (size_t)npoints * sizeof b->r[0]);
    if (!b)
        return NULL;
    b->seq0 = 0;
    b->ts_ms = ts;
    b->n = (uint32_t)npoints;
    for (long long i = 0; i < npoints; i++) {
        /* A level of 1..6 m that drifts a little, to the millimetre. */
        double v = 1.0 + (double)(i % 50) * 0.1 + 0.05 * sin((double)k / 60.0 + (double)i);
        b->r[i] = (struct reading){ .point = id[i], .quality = Q_GOOD, .has_value = 1,
                                    .ts_ms = ts, .value = round(v * 1000.0) / 1000.0 };
    }
    return batch_pack(b);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *prefix = "H", *device = "history", *unit = "m", *csv = NULL,
               *uplink = NULL, *outage = NULL, *alarms_out = NULL, *rss_out = NULL;
    long long npoints = 0, interval = 0, days = 0, chunk_s = 0, alarm_every_h = 0;
    struct budget bud = { 0 };
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
        else if (!strcmp(a, "--outage"))
            outage = v;
        else if (!strcmp(a, "--store-max"))
            bud.store_max = number(argv[0], v, 1 << 20, INT64_MAX / 2);
        else if (!strcmp(a, "--retention-h"))
            bud.retention_ms = number(argv[0], v, 1, 24 * 3660) * 3600000;
        else if (!strcmp(a, "--chunk-s"))
            chunk_s = number(argv[0], v, 1, 86400);
        else if (!strcmp(a, "--alarm-every-h"))
            alarm_every_h = number(argv[0], v, 1, 24 * 366);
        else if (!strcmp(a, "--alarms"))
            alarms_out = v;
        else if (!strcmp(a, "--rss"))
            rss_out = v;
        else
            usage(argv[0]);
    }
    if (!dir || !npoints || !interval || !days || (uplink && outage))
        usage(argv[0]);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        die(argv[0], dir, strerror(errno));
    int64_t t0 = mono_ms();
    char err[256];
    struct store *s = store_open(dir, STORE_WRITE, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return 1;
    }
    budget_init(s, &bud);
    uint32_t *id = calloc((size_t)npoints, sizeof *id);
    FILE *f = csv ? fopen(csv, "w") : NULL;
    if (!id || (csv && !f))
        die(argv[0], csv && !f ? csv : "memory", csv && !f ? strerror(errno) : "exhausted");
    if (f)
        fprintf(f, "# %lld points filled by tool_fill_store\ntag,area,address,type,scale,unit\n",
                npoints);
    for (long long i = 0; i < npoints; i++) {
        char tag[128];
        snprintf(tag, sizeof tag, "%s-%04lld", prefix, i + 1);
        if (store_point_id(s, tag, device, unit, &id[i]) != 0)
            die(argv[0], tag, store_errmsg(s));
        if (f)
            fprintf(f, "%s,holding,%lld,uint16,0.001,%s\n", tag, i, unit);
    }
    if (f && fclose(f) != 0)
        die(argv[0], csv, strerror(errno));
    FILE *fa = alarms_out ? fopen(alarms_out, "w") : NULL;
    FILE *fr = rss_out ? fopen(rss_out, "w") : NULL;
    if ((alarms_out && !fa) || (rss_out && !fr))
        die(argv[0], alarms_out && !fa ? alarms_out : rss_out, strerror(errno));

    /* Batches at now - count*interval .. now - interval: all in the past. */
    int64_t now = wall_ms();
    long long count = days * 86400000LL / interval;
    int64_t first = now - count * interval;
    long long per_tx = chunk_s ? chunk_s * 1000 / interval : BATCHES_PER_TX;
    if (per_tx < 1)
        per_tx = 1;
    struct packed_batch **pb = calloc((size_t)per_tx, sizeof *pb);
    if (!pb)
        die(argv[0], "memory", "exhausted");
    uint64_t outage_from = 0;
    if (outage) {
        /* The last poll before the outage: delivered, so the uplink's history is
         * known and what the outage's eviction takes of the rest is lost. */
        pb[0] = make_batch(id, npoints, -1, first - interval);
        struct store_cursor c = { 0 };
        if (!pb[0] || store_append(s, pb, 1, NULL, 0) != 0)
            die(argv[0], "append", store_errmsg(s));
        c.acked = pb[0]->seq0 + pb[0]->n - 1;
        free(pb[0]);
        if (store_cursor_set(s, outage, &c) != 0)
            die(argv[0], outage, store_errmsg(s));
        outage_from = c.acked + 1;
    }
    /* Alarm events: raised at first + k*H h + 30 min, cleared 10 min later. */
    int64_t alarm_step = alarm_every_h * 3600000LL;
    int64_t next_alarm = alarm_step ? first + 30 * 60000 : INT64_MAX;
    int alarm_raised = 0;
    unsigned long long readings = 0, nalarms = 0;
    int pct = 0;
    for (long long k = 0; k < count;) {
        size_t n = 0;
        struct alarm_event ev[128];   /* 2 an hour: a day of them */
        size_t nev = 0;
        for (; n < (size_t)per_tx && k < count; n++, k++) {
            int64_t ts = first + k * interval;
            pb[n] = make_batch(id, npoints, k, ts);
            if (!pb[n])
                die(argv[0], "batch", "cannot pack");
            /* Events with the readings of their time, as the writer stores them. */
            while (ts >= next_alarm && nev < sizeof ev / sizeof ev[0]) {
                ev[nev++] = (struct alarm_event){ .point = id[0], .level = ALARM_HI,
                                                  .raised = !alarm_raised, .ts_ms = next_alarm,
                                                  .value = alarm_raised ? 7.9 : 8.6,
                                                  .threshold = 8.5 };
                next_alarm += alarm_raised ? alarm_step - 10 * 60000 : 10 * 60000;
                alarm_raised = !alarm_raised;
            }
        }
        if (store_append(s, pb, n, ev, nev) != 0)
            die(argv[0], "append", store_errmsg(s));
        for (size_t j = 0; j < nev; j++)
            if (fa)
                fprintf(fa, "%llu %lld %d\n", (unsigned long long)ev[j].id,
                        (long long)ev[j].ts_ms, ev[j].raised);
        nalarms += nev;
        int64_t newest = pb[n - 1]->ts_ms;
        for (size_t j = 0; j < n; j++) {
            readings += pb[j]->n;
            free(pb[j]);
        }
        if ((bud.store_max || bud.retention_ms) &&
            budget_keep(s, dir, &bud, newest + interval) != 0)
            die(argv[0], "eviction", store_errmsg(s));
        for (; fr && pct < 100 && k * 100 >= (long long)(pct + 1) * count; pct++) {
            struct store_usage u;
            store_usage(s, dir, &u);
            fprintf(fr, "%d %llu %ld %lld %lld %lld %llu\n", pct + 1, readings, rss_kb(),
                    (long long)u.used, (long long)u.file, (long long)u.wal,
                    (unsigned long long)(bud.evicted_budget + bud.evicted_retention));
            fflush(fr);
        }
    }
    uint64_t next = store_next_seq(s);
    if (uplink) {
        struct store_cursor c = { .acked = next - 1 };
        if (store_cursor_set(s, uplink, &c) != 0)
            die(argv[0], uplink, store_errmsg(s));
    }
    uint64_t held_from = 0;
    store_first_seq(s, &held_from);
    store_checkpoint(s);
    struct store_usage u;
    store_usage(s, dir, &u);
    store_close(s);
    free(pb);
    free(id);
    if ((fa && fclose(fa) != 0) || (fr && fclose(fr) != 0))
        die(argv[0], "output", strerror(errno));
    double secs = (double)(mono_ms() - t0) / 1000.0;
    printf("filled %s/store.db: %llu readings (%lld points x %lld batches, every %lld ms, "
           "%lld days), next seq %llu%s%s, in %.1f s\n", dir, readings, npoints, count,
           interval, days, (unsigned long long)next, uplink ? ", all delivered to " : "",
           uplink ? uplink : "", secs);
    if (outage || bud.store_max || bud.retention_ms)
        printf("fill_s=%.1f readings=%llu outage_from=%llu held_from=%llu next_seq=%llu "
               "evicted_budget=%llu evicted_retention=%llu alarms=%llu last_cutoff=%lld "
               "used=%lld file=%lld wal=%lld peak_used_wal=%lld peak_disk=%lld\n",
               secs, readings, (unsigned long long)outage_from, (unsigned long long)held_from,
               (unsigned long long)next, (unsigned long long)bud.evicted_budget,
               (unsigned long long)bud.evicted_retention, nalarms, (long long)bud.last_cutoff,
               (long long)u.used, (long long)u.file, (long long)u.wal,
               (long long)bud.peak_used_wal, (long long)bud.peak_disk);
    return 0;
}
