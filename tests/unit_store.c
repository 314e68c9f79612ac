/* unit_store: the batch codec (every value kind and quality) and the SQLite store
 * (seq assignment, scanning from inside a batch, cursors, reopening, eviction by
 * bytes and by age: oldest batches first, alarm events by retention only, the
 * WAL within its limit meanwhile). */
#include "tests/unit.h"
#include "agent/batch_codec.h"
#include "agent/store.h"
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static void test_codec_values(void)
{
    struct reading in[] = {
        { 1, Q_GOOD, 1, 0, 1000, 3.215 },
        { 2, Q_GOOD, 1, 0, 1001, -0.5 },
        { 300, Q_GOOD, 1, 0, 1002, 123456789012.0 },
        { 4, Q_GOOD, 1, 0, 1000, (double)1.1f },          /* float32 */
        { 5, Q_GOOD, 1, 0, 1000, 0.1 + 0.2 },             /* needs float64 */
        { 6, Q_COMM_FAIL, 0, 0, 1500, 0 },
        { 7, Q_EXCEPTION, 0, 0, 1000, 0 },
        { 70000, Q_SENSOR_FAULT, 1, 0, 1000, 1e300 },
        { 9, Q_GOOD, 1, 0, 1000, -2147483648.0 },
        { 10, Q_GOOD, 1, 0, 1000, 0 },
        { 11, Q_EXCEPTION, 0, 2, 1000, 0 },                /* exception code kept */
    };
    size_t n = sizeof in / sizeof in[0];
    uint8_t buf[sizeof in / sizeof in[0] * BATCH_CODEC_MAX_READING];
    size_t len = batch_encode(in, (uint32_t)n, 1000, buf);
    CHECK(len < n * 10);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        struct reading out;
        CHECK(batch_decode_next(buf, len, &pos, 1000, &out) == 0);
        CHECK(out.point == in[i].point);
        CHECK(out.quality == in[i].quality);
        CHECK(out.has_value == in[i].has_value);
        CHECK(out.ts_ms == in[i].ts_ms);
        CHECK(out.code == in[i].code);
        if (in[i].has_value)
            CHECK(out.value == in[i].value);
    }
    CHECK(pos == len);
    struct reading out;
    CHECK(batch_decode_next(buf, len, &pos, 1000, &out) == -1);
    /* A scaled level is a short decimal: kind, id, dt and a 2-byte mantissa. */
    CHECK(batch_encode(in, 1, 1000, buf) == 5);
}

static void test_codec_truncated(void)
{
    struct reading in = { 1, Q_GOOD, 1, 0, 1000, 0.1 + 0.2 };
    uint8_t buf[BATCH_CODEC_MAX_READING];
    size_t len = batch_encode(&in, 1, 1000, buf);
    for (size_t cut = 0; cut < len; cut++) {
        size_t pos = 0;
        struct reading out;
        CHECK(batch_decode_next(buf, cut, &pos, 1000, &out) == -1);
    }
}

/* A stored time delta near 2^63 (a corrupt row) is refused, not added. */
static void test_codec_huge_delta(void)
{
    /* kind none, point 1, dt = 2^63 - 1 as a varint: eight 0xff, then 0x7f. */
    const uint8_t blob[] = { 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
    const size_t len = sizeof blob;
    struct reading out;
    size_t pos = 0;
    CHECK(batch_decode_next(blob, len, &pos, 1000, &out) == -1);
    pos = 0;
    CHECK(batch_decode_next(blob, len, &pos, 0, &out) == 0 && out.ts_ms == INT64_MAX);
    pos = 0;
    CHECK(batch_decode_next(blob, len, &pos, -5, &out) == 0 && out.ts_ms == INT64_MAX - 5);
    /* dt = 2^64 - 1: beyond any int64 delta. */
    uint8_t big[] = { 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    pos = 0;
    CHECK(batch_decode_next(big, sizeof big, &pos, INT64_MIN, &out) == -1);
}

static struct packed_batch *mk(uint32_t n, int64_t ts, double base)
{
    struct batch *b = malloc(sizeof *b + n * sizeof b->r[0]);
    b->n = n;
    b->ts_ms = ts;
    b->seq0 = 0;
    for (uint32_t i = 0; i < n; i++)
        b->r[i] = (struct reading){ .point = i + 1, .quality = Q_GOOD, .has_value = 1, .ts_ms = ts + i,
                                    .value = base + i };
    return batch_pack(b);
}

struct collect {
    uint64_t seq[64];
    double v[64];
    size_t n;
};

static int collect(void *arg, uint64_t seq, const struct reading *r)
{
    struct collect *c = arg;
    c->seq[c->n] = seq;
    c->v[c->n++] = r->value;
    return 0;
}

static void test_store(void)
{
    char dir[] = "/tmp/ganzhi-unit-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[256];
    struct store *s = store_open(dir, STORE_WRITE, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    uint32_t id1, id2, again;
    CHECK(store_point_id(s, "LT-101", "tank_plc", "m", &id1) == 0);
    CHECK(store_point_id(s, "TE-101", "tank_plc", "℃", &id2) == 0);
    CHECK(store_point_id(s, "LT-101", "tank_plc2", "m", &again) == 0 && again == id1);
    CHECK(id1 != id2);
    CHECK(store_next_seq(s) == 1);
    struct packed_batch *b[3] = { mk(3, 1000, 10), mk(2, 2000, 20), mk(4, 3000, 30) };
    CHECK(store_append(s, b, 2, NULL, 0) == 0);
    CHECK(b[0]->seq0 == 1 && b[1]->seq0 == 4);
    CHECK(store_append(s, &b[2], 1, NULL, 0) == 0 && b[2]->seq0 == 6);
    CHECK(store_next_seq(s) == 10);
    struct collect c = { .n = 0 };
    CHECK(store_scan(s, 2, 100, collect, &c) == 8);
    CHECK(c.n == 8 && c.seq[0] == 2 && c.v[0] == 11 && c.seq[7] == 9 && c.v[7] == 33);
    c.n = 0;
    CHECK(store_scan(s, 5, 3, collect, &c) == 3);
    CHECK(c.seq[0] == 5 && c.v[0] == 21 && c.seq[2] == 7 && c.v[2] == 31);
    c.n = 0;
    CHECK(store_scan(s, 10, 3, collect, &c) == 0);
    struct store_cursor cur;
    CHECK(store_cursor_get(s, "county", &cur) == 0 && cur.acked == 0 && cur.delivered[0] == 0);
    struct store_cursor c5 = { 5, "1-5,8-9", 2, 0 }, c3 = { 3, "1-5,8-9", 2, 0 };
    CHECK(store_cursor_set(s, "county", &c5) == 0);
    CHECK(store_cursor_set(s, "county", &c3) == 0);   /* acked never moves back */
    CHECK(store_cursor_get(s, "county", &cur) == 0 && cur.acked == 5 && cur.lost == 2);
    CHECK_STR(cur.delivered, "1-5,8-9");
    CHECK(store_seq_since(s, 1, 2000) == 4);
    CHECK(store_seq_since(s, 5, 2500) == 6);
    CHECK(store_seq_since(s, 1, 99999) == 10);
    store_close(s);

    /* Reopened: seq continues, ids and cursors stay. */
    s = store_open(dir, STORE_WRITE, err, sizeof err);
    CHECK(s != NULL);
    CHECK(store_next_seq(s) == 10);
    CHECK(store_point_id(s, "TE-101", "tank_plc", "℃", &again) == 0 && again == id2);
    char tag[32], dev[32], unit[16];
    CHECK(store_point_info(s, id2, tag, sizeof tag, dev, sizeof dev, unit, sizeof unit) == 0);
    CHECK_STR(tag, "TE-101");
    CHECK_STR(unit, "℃");
    CHECK(store_cursor_get(s, "county", &cur) == 0 && cur.acked == 5);
    struct packed_batch *b4 = mk(1, 4000, 40);
    CHECK(store_append(s, &b4, 1, NULL, 0) == 0 && b4->seq0 == 10);
    struct store *r = store_open(dir, STORE_READ, err, sizeof err);
    CHECK(r != NULL);
    CHECK(store_next_seq(r) == 11);
    uint64_t first = 0;
    CHECK(store_first_seq(r, &first) == 0 && first == 1);
    store_close(r);
    store_close(s);
    for (int i = 0; i < 3; i++)
        free(b[i]);
    free(b4);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* Packing in place, at the largest encodings (huge point ids, time deltas and
 * doubles that fit no shorter form), decodes to what went in. */
static void test_pack_in_place(void)
{
    enum { N = 64 };
    struct batch *b = malloc(sizeof *b + N * sizeof b->r[0]);
    struct reading in[N];
    b->seq0 = 0;
    b->ts_ms = 1000;
    b->n = N;
    for (uint32_t i = 0; i < N; i++) {
        in[i] = (struct reading){ .point = UINT32_MAX - i, .quality = (uint8_t)(i % Q_COUNT),
                                  .has_value = i % 5 != 0, .code = i % 5 == 0 ? 2 : 0,
                                  .ts_ms = i % 2 ? INT64_MAX - (int64_t)i : 1000 + i,
                                  .value = i % 5 == 0 ? 0 : 0.1 + 0.2 + (double)i * 1e-13 };
        b->r[i] = in[i];
    }
    struct packed_batch *p = batch_pack(b);
    CHECK(p->n == N && p->ts_ms == 1000 && p->len <= N * BATCH_CODEC_MAX_READING);
    size_t pos = 0;
    for (uint32_t i = 0; i < N; i++) {
        struct reading out;
        CHECK(batch_decode_next(p->data, p->len, &pos, p->ts_ms, &out) == 0);
        CHECK(out.point == in[i].point && out.quality == in[i].quality &&
              out.has_value == in[i].has_value && out.ts_ms == in[i].ts_ms &&
              out.code == in[i].code);
        if (in[i].has_value)
            CHECK(out.value == in[i].value);
    }
    CHECK(pos == p->len);
    free(p);
}


/* walpeak: a VFS over the default one that notes the furthest any -wal file was
 * written, to see what one eviction makes the WAL grow to on disk. */
struct wp_file {
    sqlite3_file base;
    sqlite3_file *real;     /* the default VFS's file, right after this struct */
    int wal;
};
static sqlite3_vfs wp_vfs, *wp_under;
static sqlite3_io_methods wp_io;
static sqlite3_int64 wp_peak;

#define REAL(f) (((struct wp_file *)(f))->real)
static int wp_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int wp_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{ return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int wp_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (((struct wp_file *)f)->wal && o + n > wp_peak)
        wp_peak = o + n;
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int wp_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int wp_sync(sqlite3_file *f, int fl) { return REAL(f)->pMethods->xSync(REAL(f), fl); }
static int wp_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int wp_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int wp_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int wp_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int wp_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int wp_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int wp_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int wp_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{ return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p); }
static int wp_shm_lock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void wp_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int wp_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }

static int wp_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    struct wp_file *w = (struct wp_file *)f;
    w->real = (sqlite3_file *)(w + 1);
    w->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = wp_under->xOpen(wp_under, name, w->real, flags, out);
    /* No xFetch: mmap is off in the store; SQLite then reads instead. */
    f->pMethods = rc == SQLITE_OK && w->real->pMethods ? &wp_io : NULL;
    return rc;
}

static void wp_register(void)
{
    wp_under = sqlite3_vfs_find(NULL);
    wp_io = (sqlite3_io_methods){ 2, wp_close, wp_read, wp_write, wp_truncate, wp_sync, wp_size,
                                  wp_lock, wp_unlock, wp_reserved, wp_control, wp_sector, wp_device,
                                  wp_shm_map, wp_shm_lock, wp_shm_barrier, wp_shm_unmap, NULL, NULL };
    wp_vfs = *wp_under;
    wp_vfs.zName = "walpeak";
    wp_vfs.szOsFile = (int)sizeof(struct wp_file) + wp_under->szOsFile;
    wp_vfs.xOpen = wp_open;
    wp_vfs.pNext = NULL;
    sqlite3_vfs_register(&wp_vfs, 1);
}

static long count_alarms(struct store *s)
{
    struct alarm_event ev[16];
    return store_alarms_after(s, 0, ev, 16);
}

/* A store of 6,000 batches (sample times 1000 ms apart) under a 64 KB WAL limit,
 * alarm events among them: evicting half by bytes takes the oldest half of the
 * batches and no event, the WAL never past its limit on the way (one DELETE of
 * the whole half wrote it to several times that); by age, the batches and the
 * events older than the cutoff, but never the newest event or batch. */
static void test_evict(void)
{
    char dir[] = "/tmp/ganzhi-unit-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    wp_register();
    char err[256];
    struct store *s = store_open(dir, STORE_WRITE, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    const int64_t limit = 64 * 1024;
    store_limit_wal(s, 8, limit);
    enum { BATCHES = 6000, PER_TX = 100 };
    for (int k = 0; k < BATCHES; k += PER_TX) {
        struct packed_batch *b[PER_TX];
        for (int j = 0; j < PER_TX; j++)
            b[j] = mk(36, 1000 * (int64_t)(k + j + 1), k + j);
        /* The events of the batches' time: at 500.5, 1000.5, 3500.5 and 5999.5 s. */
        static const int64_t at[] = { 500500, 1000500, 3500500, 5999500 };
        struct alarm_event ev[4];
        size_t nev = 0;
        for (size_t i = 0; i < 4; i++)
            if (at[i] > 1000 * (int64_t)k && at[i] <= 1000 * (int64_t)(k + PER_TX))
                ev[nev++] = (struct alarm_event){ .point = 1, .level = 2, .raised = 1, .ts_ms = at[i],
                                                  .value = 9, .threshold = 8 };
        CHECK(store_append(s, b, PER_TX, ev, nev) == 0);
        for (int j = 0; j < PER_TX; j++)
            free(b[j]);
    }
    CHECK(count_alarms(s) == 4);
    store_checkpoint(s);
    struct store_usage u;
    CHECK(store_usage(s, dir, &u) == 0 && u.used > 16 * limit);

    wp_peak = 0;
    int64_t n = store_evict_bytes(s, u.used / 2);
    uint64_t first = 0;
    CHECK(store_first_seq(s, &first) == 0);
    CHECK(n > 0 && n % 36 == 0 && first == (uint64_t)n + 1);     /* whole batches, oldest first */
    CHECK(n >= 36 * BATCHES / 2 && n <= 36 * BATCHES * 6 / 10);
    CHECK(count_alarms(s) == 4);                                 /* the budget takes no event */
    CHECK(wp_peak > 0 && wp_peak <= limit);
    if (wp_peak > limit)
        printf("  the WAL reached %lld bytes on an eviction by bytes (limit %lld)\n",
               (long long)wp_peak, (long long)limit);

    /* By age: the batches sampled before 4000 s and the events before it. */
    wp_peak = 0;
    uint64_t was = first;
    n = store_evict_before(s, 4000 * 1000);
    CHECK(store_first_seq(s, &first) == 0 && first == 36 * 3999 + 1);
    CHECK(n == (int64_t)(first - was));
    CHECK(count_alarms(s) == 1);
    CHECK(wp_peak <= limit);
    if (wp_peak > limit)
        printf("  the WAL reached %lld bytes on an eviction by age (limit %lld)\n",
               (long long)wp_peak, (long long)limit);
    /* Everything older: the newest batch and the newest event stay. */
    n = store_evict_before(s, INT64_MAX);
    CHECK(n == 36 * (BATCHES - 4000) && store_next_seq(s) == 36 * BATCHES + 1);
    CHECK(store_first_seq(s, &first) == 0 && first == 36 * (BATCHES - 1) + 1);
    CHECK(count_alarms(s) == 1);
    store_close(s);
    sqlite3_vfs_unregister(&wp_vfs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    RUN(test_pack_in_place);
    RUN(test_codec_values);
    RUN(test_codec_truncated);
    RUN(test_codec_huge_delta);
    RUN(test_store);
    RUN(test_evict);
    return UNIT_END();
}
