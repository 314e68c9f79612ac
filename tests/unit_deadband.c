/* unit_deadband: the store-or-skip rule: first reading, deadband, quality
 * changes, heartbeat, and a clock that steps back. */
#include "tests/unit.h"
#include "agent/deadband.h"

static struct reading rd(int64_t ts, double v, enum quality q)
{
    return (struct reading){ .point = 1, .quality = (uint8_t)q, .has_value = q == Q_GOOD,
                              .ts_ms = ts, .value = v };
}

static int feed(struct deadband_state *st, double db, struct reading r)
{
    int keep = deadband_keep(st, db, &r, 60000);
    if (keep)
        deadband_kept(st, &r);
    return keep;
}

static void test_deadband(void)
{
    struct deadband_state st = { 0 };
    CHECK(feed(&st, 0.5, rd(1000, 10.0, Q_GOOD)) == 1);    /* first */
    CHECK(feed(&st, 0.5, rd(2000, 10.4, Q_GOOD)) == 0);    /* inside */
    CHECK(feed(&st, 0.5, rd(3000, 10.5, Q_GOOD)) == 0);    /* exactly the band: not past it */
    CHECK(feed(&st, 0.5, rd(4000, 10.51, Q_GOOD)) == 1);   /* past it */
    CHECK(feed(&st, 0.5, rd(5000, 10.2, Q_GOOD)) == 0);    /* measured from the last kept */
    CHECK(feed(&st, 0.5, rd(6000, 10.0, Q_GOOD)) == 1);
}

static void test_every_poll(void)
{
    struct deadband_state st = { 0 };
    for (int i = 0; i < 5; i++)
        CHECK(feed(&st, 0, rd(1000 + i, 7.0, Q_GOOD)) == 1);
}

static void test_quality_changes(void)
{
    struct deadband_state st = { 0 };
    CHECK(feed(&st, 100, rd(1000, 1, Q_GOOD)) == 1);
    CHECK(feed(&st, 100, rd(2000, 0, Q_COMM_FAIL)) == 1);
    CHECK(feed(&st, 100, rd(3000, 0, Q_COMM_FAIL)) == 0);  /* still failing: no repeat */
    CHECK(feed(&st, 100, rd(4000, 1, Q_GOOD)) == 1);       /* back */
    CHECK(feed(&st, 100, rd(5000, 1, Q_EXCEPTION)) == 1);
}

static void test_heartbeat(void)
{
    struct deadband_state st = { 0 };
    CHECK(feed(&st, 1, rd(0 + 1, 5, Q_GOOD)) == 1);
    CHECK(feed(&st, 1, rd(59000 + 1, 5, Q_GOOD)) == 0);
    CHECK(feed(&st, 1, rd(60000 + 1, 5, Q_GOOD)) == 1);    /* interval x 60 */
    CHECK(feed(&st, 1, rd(61000 + 1, 5, Q_GOOD)) == 0);
    /* A dead device repeats its comm_fail on the heartbeat too. */
    CHECK(feed(&st, 1, rd(62000, 0, Q_COMM_FAIL)) == 1);
    CHECK(feed(&st, 1, rd(100000, 0, Q_COMM_FAIL)) == 0);
    CHECK(feed(&st, 1, rd(122000, 0, Q_COMM_FAIL)) == 1);
    /* The clock stepped back: keep, and start the heartbeat from there. */
    CHECK(feed(&st, 1, rd(1000, 0, Q_COMM_FAIL)) == 1);
    CHECK(feed(&st, 1, rd(2000, 0, Q_COMM_FAIL)) == 0);
}

int main(void)
{
    RUN(test_deadband);
    RUN(test_every_poll);
    RUN(test_quality_changes);
    RUN(test_heartbeat);
    return UNIT_END();
}
