/* unit_store: the batch codec (every value kind and quality) and the SQLite store
 * (seq assignment, scanning from inside a batch, cursors, reopening). */
#include "tests/unit.h"
#include "agent/batch_codec.h"
#include "agent/store.h"
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

int main(void)
{
    RUN(test_pack_in_place);
    RUN(test_codec_values);
    RUN(test_codec_truncated);
    RUN(test_codec_huge_delta);
    RUN(test_store);
    return UNIT_END();
}
