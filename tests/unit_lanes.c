/* unit_lanes: live and backfill lanes over an outage, out-of-order acks, rewinds,
 * a second outage during a drain, and eviction. */
#include "tests/unit.h"
#include "agent/lanes.h"

static void test_fresh(void)
{
    struct lanes l;
    lanes_init(&l);
    uint64_t from, limit;
    CHECK(lanes_next(&l, LANE_LIVE, 1, &from, &limit) == 0);    /* nothing stored */
    CHECK(lanes_next(&l, LANE_LIVE, 11, &from, &limit) == 1 && from == 1 && limit == 11);
    CHECK(lanes_next(&l, LANE_BACKFILL, 11, &from, &limit) == 0);
    lanes_sent(&l, LANE_LIVE, 5);
    CHECK(lanes_next(&l, LANE_LIVE, 11, &from, &limit) == 1 && from == 6);
    lanes_acked(&l, 1, 5);
    CHECK(lanes_cursor(&l) == 5);
    CHECK(lanes_waiting(&l, 1, 11) == 5);
    lanes_free(&l);
}

static void test_outage(void)
{
    struct lanes l;
    lanes_init(&l);
    lanes_acked(&l, 1, 100);
    /* Down while 101..1000 were stored; back with live readings from 990. */
    lanes_rewind(&l, 1, 990);
    uint64_t from, limit;
    CHECK(lanes_next(&l, LANE_LIVE, 1001, &from, &limit) && from == 990 && limit == 1001);
    CHECK(lanes_next(&l, LANE_BACKFILL, 1001, &from, &limit) && from == 101 && limit == 990);
    lanes_sent(&l, LANE_LIVE, 1000);
    lanes_sent(&l, LANE_BACKFILL, 150);
    lanes_acked(&l, 990, 1000);     /* live acked first */
    CHECK(lanes_cursor(&l) == 100);
    CHECK(lanes_waiting(&l, 1, 1001) == 889);
    lanes_acked(&l, 101, 150);
    CHECK(lanes_cursor(&l) == 150);
    /* The connection drops with 151..200 in flight: rewind keeps live_start. */
    lanes_sent(&l, LANE_BACKFILL, 200);
    lanes_rewind(&l, 1, 0);
    CHECK(lanes_next(&l, LANE_BACKFILL, 1001, &from, &limit) && from == 151 && limit == 990);
    CHECK(lanes_next(&l, LANE_LIVE, 1001, &from, &limit) == 0);
    /* A second outage before the drain ends: 1001..2000 stored meanwhile. The new
     * live lane starts at 1990; 151..989 and 1001..1989 are both backfill. */
    lanes_rewind(&l, 1, 1990);
    CHECK(lanes_next(&l, LANE_BACKFILL, 2001, &from, &limit) && from == 151 && limit == 990);
    lanes_sent(&l, LANE_BACKFILL, 989);
    lanes_acked(&l, 151, 989);
    CHECK(lanes_next(&l, LANE_BACKFILL, 2001, &from, &limit) && from == 1001 && limit == 1990);
    lanes_acked(&l, 1001, 1989);
    lanes_sent(&l, LANE_BACKFILL, 1989);
    CHECK(lanes_next(&l, LANE_BACKFILL, 2001, &from, &limit) == 0);
    CHECK(lanes_next(&l, LANE_LIVE, 2001, &from, &limit) && from == 1990);
    lanes_acked(&l, 1990, 2000);
    CHECK(lanes_cursor(&l) == 2000);
    CHECK(l.delivered.n == 1);      /* everything merged into one interval */
    lanes_free(&l);
}

static void test_eviction(void)
{
    struct lanes l;
    lanes_init(&l);
    lanes_acked(&l, 1, 50);
    lanes_acked(&l, 80, 90);
    lanes_rewind(&l, 1, 0);
    /* The store evicted everything below 100: 51..79 and 91..99 were never sent. */
    CHECK(lanes_evicted(&l, 100) == 29 + 9);
    CHECK(l.lost == 38);
    CHECK(lanes_cursor(&l) == 99);
    uint64_t from, limit;
    CHECK(lanes_next(&l, LANE_LIVE, 120, &from, &limit) && from == 100);
    CHECK(lanes_evicted(&l, 100) == 0);     /* counted once */
    lanes_free(&l);
}

/* A history that begins above 1 (a fresh store after a corrupt one) loses nothing;
 * evictions after that are counted. */
static void test_begin(void)
{
    struct lanes l;
    lanes_init(&l);
    lanes_begin(&l, 1000);
    CHECK(l.lost == 0);
    CHECK(lanes_waiting(&l, 1000, 1036) == 36);
    uint64_t from, limit;
    CHECK(lanes_next(&l, LANE_LIVE, 1036, &from, &limit) && from == 1000);
    CHECK(lanes_evicted(&l, 1000) == 0);
    CHECK(lanes_evicted(&l, 1010) == 10 && l.lost == 10);
    lanes_free(&l);
}

int main(void)
{
    RUN(test_fresh);
    RUN(test_outage);
    RUN(test_eviction);
    RUN(test_begin);
    return UNIT_END();
}
