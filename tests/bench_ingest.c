/* bench_ingest: the store's ingest figures for tests/bench_store.sh, and the data
 * the store bench drains. Three modes:
 *
 *   ingest (default)  a fresh store in DIR; the demo table's points registered;
 *                     batches of one poll of the table (36 readings with realistic
 *                     values) handed to the agent's writer thread (commit_interval
 *                     200 ms, a large queue) as fast as it takes them, for
 *                     --seconds S or --readings N; then a full checkpoint and
 *     bench_ingest readings=N seconds=S readings_per_s=R commits=C store_bytes=B
 *                  bytes_per_reading=X batches=K
 *
 *   --make-backlog    the same into DIR, but sample times one --interval-ms apart
 *                     ending --age-s seconds ago (older than any live window), and
 *                     points registered under the table's tags with device
 *                     --device: an agent started on DIR with an uplink finds N
 *                     undelivered readings. Prints the same line.
 *
 *   --payload FILE    writes one realtime message of --message-readings readings
 *                     of the table (generic profile, resend:true, as the agent's
 *                     backfill lane sends it) to FILE for bench_paho.
 *
 * Exit 0 on success, 1 on a runtime failure, 2 on bad usage. */
#include "core/reading.h"
#include "agent/store.h"
#include "agent/writer.h"
#include "proto/profile_generic.h"
#include "proto/wire.h"
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_POINTS 4096

enum kind { K_BOOL, K_DEC, K_F32, K_F64_TOTAL, K_INT_TOTAL, K_INT_WALK };

struct point {
    char tag[64], unit[32];
    enum kind kind;
    int decimals;           /* K_DEC, K_INT_*: value = raw / 10^decimals */
    int64_t raw, step;      /* integer state */
    double f;               /* float state */
    int area;               /* read request it belongs to: small sample-time offset */
    uint32_t id;
};

static struct point pts[MAX_POINTS];
static size_t npts;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pow10_of(double scale)
{
    double p = 1;
    for (int k = 0; k <= 6; k++, p *= 10)
        if (scale == 1 / p)
            return k;
    return 0;
}

/* The shortest decimal that reads back as the same float32 (as the agent stores a
 * float32 register). */
static double float32_decimal(float f)
{
    char buf[32];
    for (int prec = 1; prec < 10; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;
}

/* split: the comma-separated fields of line (no quoting in the demo tables). */
static size_t split(char *line, char **f, size_t max)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = 0;
    while (n < max) {
        f[n++] = line;
        char *c = strchr(line, ',');
        if (!c)
            break;
        *c = 0;
        line = c + 1;
    }
    return n;
}

static void add_point(const char *tag, const char *type, const char *scale, const char *unit,
                      const char *area)
{
    struct point *p = &pts[npts++];
    memset(p, 0, sizeof *p);
    snprintf(p->tag, sizeof p->tag, "%s", tag);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->area = !strcmp(area, "holding") ? 0 : !strcmp(area, "input") ? 1
            : !strcmp(area, "coil") ? 2 : 3;
    double sc = scale[0] ? strtod(scale, NULL) : 1;
    p->decimals = pow10_of(sc);
    if (!strcmp(type, "bool") || !strncmp(type, "bit", 3)) {
        p->kind = K_BOOL;
        p->raw = (int64_t)(next_rand() % 4 == 0);
    } else if (!strcmp(type, "float32")) {
        p->kind = K_F32;
        p->f = 1 + (double)(next_rand() % 4000) / 1000;
    } else if (!strcmp(type, "float64")) {
        p->kind = K_F64_TOTAL;
        p->f = 10000 + (double)(next_rand() % 100000) / 7.0;
    } else if (!strcmp(type, "uint32") || !strcmp(type, "uint64") || !strcmp(type, "int64")) {
        p->kind = K_INT_TOTAL;
        p->raw = (int64_t)(next_rand() % 10000000);
        p->step = 1 + (int64_t)(next_rand() % 50);
    } else {
        p->kind = p->decimals ? K_DEC : K_INT_WALK;
        /* 1.000..6.000 m of level; 15.0..45.0 degrees, %LEL, ... */
        p->raw = p->decimals >= 3 ? 1000 + (int64_t)(next_rand() % 5000)
                                  : 150 + (int64_t)(next_rand() % 300);
        if (!strcmp(type, "int32"))
            p->kind = K_INT_WALK;
    }
}

static int load_points(const char *csv)
{
    FILE *f = fopen(csv, "r");
    if (!f) {
        fprintf(stderr, "bench_ingest: %s: %s\n", csv, strerror(errno));
        return -1;
    }
    char line[1024], *fld[16];
    int header = 1;
    while (fgets(line, sizeof line, f) && npts < MAX_POINTS) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        size_t n = split(line, fld, 16);
        if (header) {
            header = 0;
            continue;
        }
        /* tag,name,area,address,type,order,scale,offset,unit,... */
        if (n < 9)
            continue;
        add_point(fld[0], fld[4], fld[6], fld[8], fld[2]);
    }
    fclose(f);
    if (!npts) {
        fprintf(stderr, "bench_ingest: no points in %s\n", csv);
        return -1;
    }
    return 0;
}

/* One poll of the table: most analog values move a little, switches rarely. */
static void sample(struct point *p, struct reading *r, int64_t ts)
{
    static const double p10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
    uint64_t x = next_rand();
    r->point = p->id;
    r->quality = Q_GOOD;
    r->has_value = 1;
    r->ts_ms = ts + p->area;
    r->code = 0;
    switch (p->kind) {
    case K_BOOL:
        if (x % 600 == 0)
            p->raw = !p->raw;
        r->value = (double)p->raw;
        break;
    case K_DEC:
    case K_INT_WALK:
        if (x % 3)
            p->raw += (int64_t)(x >> 8) % 11 - 5;
        r->value = (double)p->raw / p10[p->decimals];
        break;
    case K_INT_TOTAL:
        p->raw += p->step;
        r->value = (double)p->raw / p10[p->decimals];
        break;
    case K_F32:
        p->f += (double)((int64_t)(x >> 8) % 2001 - 1000) / 100000;
        r->value = float32_decimal((float)p->f);
        break;
    case K_F64_TOTAL:
        p->f += 0.0137 * (double)(x % 7);
        r->value = p->f;
        break;
    }
}

/* A poll's batch, packed as the poller hands it over. */
static struct packed_batch *make_batch(int64_t ts, size_t n)
{
    struct batch *b = malloc(sizeof *b + n * sizeof b->r[0]);
    if (!b)
        return NULL;
    b->seq0 = 0;
    b->ts_ms = ts;
    b->n = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        sample(&pts[i], &b->r[i], ts);
    return batch_pack(b);
}

static long long file_size(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static int checkpoint(const char *dir)
{
    char path[4096];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/store.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    char *msg = NULL;
    int rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "bench_ingest: checkpoint: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int write_payload(const char *path, size_t n)
{
    struct wire_site site = { "220102000001", "示例化工有限公司", "GW01", "220102", 480 };
    struct wire_reading *w = calloc(n, sizeof *w);
    struct reading *r = calloc(n, sizeof *r);
    if (!w || !r)
        return -1;
    int64_t ts = wall_ms() - 3600 * 1000;
    for (size_t i = 0; i < n; i++) {
        size_t k = i % npts;
        if (i && k == 0)
            ts += 1000;
        pts[k].id = (uint32_t)(k + 1);
        sample(&pts[k], &r[i], ts);
        w[i] = (struct wire_reading){ 5000001 + i, pts[k].tag, "tank_plc", pts[k].unit, r[i] };
    }
    char *body = generic_realtime(&site, w, n, 1, NULL, 0);
    FILE *f = fopen(path, "w");
    int rc = body && f && fputs(body, f) >= 0 ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    if (rc == 0)
        printf("bench_ingest payload=%s bytes=%zu readings=%zu\n", path, strlen(body), n);
    free(body);
    free(w);
    free(r);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: bench_ingest --dir DIR [--seconds S | --readings N] [--points CSV]\n"
        "                    [--device NAME] [--make-backlog [--interval-ms MS] [--age-s S]]\n"
        "       bench_ingest --payload FILE [--message-readings N] [--points CSV]\n"
        "  --dir DIR            data_dir of a store to create (must hold no store.db)\n"
        "  --seconds S          ingest for S seconds (default 10)\n"
        "  --readings N         ingest N readings (backlog: default 10000000)\n"
        "  --points CSV         point table (default conf/demo/points/tank_farm.csv)\n"
        "  --device NAME        device the points are registered under (default tank_plc)\n"
        "  --make-backlog       sample times in the past: a backlog for an agent\n"
        "  --interval-ms MS     backlog: time between polls (default 1000)\n"
        "  --age-s S            backlog: the newest poll is S seconds old (default 600)\n"
        "  --payload FILE       write one realtime message to FILE\n"
        "  --message-readings N readings in that message (default 100)\n");
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *csv = "conf/demo/points/tank_farm.csv", *device = "tank_plc";
    const char *payload = NULL;
    double seconds = 0;
    long long readings = 0;
    long interval_ms = 1000, age_s = 600, msg_readings = 100;
    int backlog = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--make-backlog")) {
            backlog = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--dir"))
            dir = v;
        else if (!strcmp(a, "--seconds"))
            seconds = strtod(v, NULL);
        else if (!strcmp(a, "--readings"))
            readings = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--points"))
            csv = v;
        else if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--interval-ms"))
            interval_ms = strtol(v, NULL, 10);
        else if (!strcmp(a, "--age-s"))
            age_s = strtol(v, NULL, 10);
        else if (!strcmp(a, "--payload"))
            payload = v;
        else if (!strcmp(a, "--message-readings"))
            msg_readings = strtol(v, NULL, 10);
        else {
            usage(stderr);
            return 2;
        }
    }
    if ((!dir && !payload) || seconds < 0 || readings < 0 || interval_ms < 1 || age_s < 0 ||
        msg_readings < 1 || msg_readings > 10000) {
        usage(stderr);
        return 2;
    }
    if (load_points(csv) != 0)
        return 1;
    if (payload)
        return write_payload(payload, (size_t)msg_readings) == 0 ? 0 : 1;
    if (backlog && !readings)
        readings = 10000000;
    if (!readings && seconds == 0)
        seconds = 10;

    char err[256], path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/store.db", dir);
    if (stat(path, &st) == 0) {
        fprintf(stderr, "bench_ingest: %s exists: give a fresh directory\n", path);
        return 2;
    }
    mkdir(dir, 0755);
    struct store *s = store_open(dir, STORE_WRITE, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_ingest: %s\n", err);
        return 1;
    }
    /* As the agent's poller does: one transaction for the table. */
    int ok = store_begin(s) == 0;
    for (size_t k = 0; ok && k < npts; k++)
        ok = store_point_id(s, pts[k].tag, device, pts[k].unit, &pts[k].id) == 0;
    if (!ok || store_commit(s) != 0) {
        fprintf(stderr, "bench_ingest: registering points: %s\n", store_errmsg(s));
        return 1;
    }
    /* The agent's defaults: store_max 2 GB, retention 90 d; a large queue. */
    const unsigned queue_max = 1000000;
    struct writer_limits lim = { dir, (int64_t)2 << 30, 90LL * 86400 * 1000 };
    struct writer *w = writer_start(s, queue_max, 200, &lim);
    if (!w) {
        fprintf(stderr, "bench_ingest: cannot start the writer\n");
        return 1;
    }
    long long nbatches = readings ? (readings + (long long)npts - 1) / (long long)npts : 0;
    int64_t ts = backlog ? wall_ms() - (int64_t)age_s * 1000 - (int64_t)nbatches * interval_ms
                         : wall_ms();
    double t0 = mono_s(), deadline = seconds > 0 ? t0 + seconds : 0;
    long long submitted = 0, batches = 0;
    struct writer_stats ws;
    for (;;) {
        if (readings && submitted >= readings)
            break;
        if ((batches & 63) == 0 && deadline && mono_s() >= deadline)
            break;
        size_t n = npts;
        if (readings && readings - submitted < (long long)n)
            n = (size_t)(readings - submitted);
        /* Keep the queue below its bound: a full queue drops, we wait instead. */
        for (;;) {
            writer_get_stats(w, &ws);
            if (ws.queued_readings + n <= queue_max)
                break;
            struct timespec pause = { 0, 200000 };
            nanosleep(&pause, NULL);
        }
        struct packed_batch *b = make_batch(ts, n);
        if (!b || writer_submit(w, b) != 0) {
            fprintf(stderr, "bench_ingest: submit failed\n");
            return 1;
        }
        submitted += (long long)n;
        batches++;
        ts += backlog ? interval_ms : 1000;
    }
    writer_stop(w);
    double elapsed = mono_s() - t0;
    writer_get_stats(w, &ws);
    writer_free(w);
    store_close(s);
    if (ws.committed_readings != (uint64_t)submitted || ws.dropped_readings) {
        fprintf(stderr, "bench_ingest: %llu committed of %lld submitted (%llu dropped, %llu "
                "failed commits)\n", (unsigned long long)ws.committed_readings, submitted,
                (unsigned long long)ws.dropped_readings, (unsigned long long)ws.commit_failures);
        return 1;
    }
    if (checkpoint(dir) != 0)
        return 1;
    long long bytes = file_size(dir, "store.db") + file_size(dir, "store.db-wal");
    printf("bench_ingest readings=%lld seconds=%.2f readings_per_s=%.0f commits=%llu "
           "store_bytes=%lld bytes_per_reading=%.2f batches=%lld points=%zu\n",
           submitted, elapsed, (double)submitted / elapsed, (unsigned long long)ws.commits,
           bytes, (double)bytes / (double)submitted, batches, npts);
    return 0;
}
