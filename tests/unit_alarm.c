/* unit_alarm: thresholds, on-delay, hysteresis, every level, and the
 * communication alarm. */
#include "tests/unit.h"
#include "agent/alarm.h"
#include "agent/tailings.h"

static struct conf_point point(double lolo, double lo, double hi, double hihi, double hyst,
                               int64_t delay)
{
    static struct conf_limits lim[8];   /* a few points per test */
    static size_t next;
    struct conf_limits *l = &lim[next++ % 8];
    *l = (struct conf_limits){ lolo, lo, hi, hihi, hyst, delay };
    struct conf_point p;
    memset(&p, 0, sizeof p);
    p.limits = l;
    return p;
}

static int feed(struct alarm_point *st, const struct conf_point *p, int64_t t, double v,
                struct alarm_event *ev)
{
    struct reading r = { 7, Q_GOOD, 1, 0, t, v };
    struct alarm_limits lim;
    alarm_limits_init(&lim, p);
    return alarm_eval(st, p, &lim, &r, ev);
}

static void test_hi_hysteresis(void)
{
    struct conf_point p = point(NAN, NAN, 8.5, 9.2, 0.2, 0);
    struct alarm_point st;
    memset(&st, 0, sizeof st);
    struct alarm_event ev[ALARM_LEVELS];
    CHECK(feed(&st, &p, 1000, 8.0, ev) == 0);
    CHECK(feed(&st, &p, 2000, 8.5, ev) == 1);   /* reaching the threshold raises */
    CHECK(ev[0].level == ALARM_HI && ev[0].raised && ev[0].value == 8.5 && ev[0].threshold == 8.5);
    CHECK(ev[0].point == 7 && ev[0].ts_ms == 2000);
    CHECK(feed(&st, &p, 3000, 8.4, ev) == 0);   /* inside the hysteresis: stays */
    CHECK(feed(&st, &p, 4000, 9.3, ev) == 1 && ev[0].level == ALARM_HIHI && ev[0].raised);
    CHECK(feed(&st, &p, 5000, 8.99, ev) == 1 && ev[0].level == ALARM_HIHI && !ev[0].raised);
    CHECK(feed(&st, &p, 6000, 8.29, ev) == 1 && ev[0].level == ALARM_HI && !ev[0].raised);
    CHECK(ev[0].ts_ms == 6000);
    CHECK(feed(&st, &p, 7000, 8.0, ev) == 0);
}

static void test_lo_levels(void)
{
    struct conf_point p = point(1.0, 2.0, NAN, NAN, 0.5, 0);
    struct alarm_point st;
    memset(&st, 0, sizeof st);
    struct alarm_event ev[ALARM_LEVELS];
    CHECK(feed(&st, &p, 1000, 0.5, ev) == 2);   /* below both at once */
    CHECK(ev[0].level == ALARM_LOLO && ev[1].level == ALARM_LO && ev[0].raised && ev[1].raised);
    CHECK(feed(&st, &p, 2000, 1.4, ev) == 0);   /* above lolo but within its margin */
    CHECK(feed(&st, &p, 3000, 1.6, ev) == 1 && ev[0].level == ALARM_LOLO && !ev[0].raised);
    CHECK(feed(&st, &p, 4000, 2.6, ev) == 1 && ev[0].level == ALARM_LO && !ev[0].raised);
}

static void test_delay(void)
{
    struct conf_point p = point(NAN, NAN, 25, NAN, 0, 5000);
    struct alarm_point st;
    memset(&st, 0, sizeof st);
    struct alarm_event ev[ALARM_LEVELS];
    CHECK(feed(&st, &p, 1000, 30, ev) == 0);
    CHECK(feed(&st, &p, 4000, 31, ev) == 0);
    CHECK(feed(&st, &p, 5000, 10, ev) == 0);    /* dropped back: the delay starts over */
    CHECK(feed(&st, &p, 6000, 30, ev) == 0);
    CHECK(feed(&st, &p, 10999, 30, ev) == 0);
    CHECK(feed(&st, &p, 11000, 30, ev) == 1 && ev[0].raised);
    CHECK(ev[0].ts_ms == 6000);                 /* since when it held */
}

static void test_comm(void)
{
    struct conf_point p = point(NAN, NAN, 25, NAN, 0, 0);
    struct alarm_point st;
    memset(&st, 0, sizeof st);
    struct alarm_event ev[ALARM_LEVELS];
    CHECK(feed(&st, &p, 1000, 30, ev) == 1);    /* hi raised */
    struct reading dead = { 7, Q_COMM_FAIL, 0, 0, 2000, 0 };
    struct alarm_limits lim;
    alarm_limits_init(&lim, &p);
    CHECK(alarm_eval(&st, &p, &lim, &dead, ev) == 1 && ev[0].level == ALARM_COMM && ev[0].raised);
    CHECK(alarm_eval(&st, &p, &lim, &dead, ev) == 0);
    /* No value: the hi alarm is neither confirmed nor cleared meanwhile. */
    CHECK(alarm_is_active(&st, ALARM_HI));
    CHECK(feed(&st, &p, 3000, 10, ev) == 2);    /* comm cleared, hi cleared */
    CHECK(ev[0].level == ALARM_COMM && !ev[0].raised && ev[1].level == ALARM_HI && !ev[1].raised);
}

static void test_tailings_colours(void)
{
    /* A phreatic line whose danger is a falling depth: direction down. */
    struct conf_point p = point(NAN, NAN, NAN, NAN, 0.1, 0);
    struct conf_kv kv[] = { { "item", "phreatic" }, { "blue", "8" }, { "yellow", "6" },
                            { "orange", "4" }, { "red", "2" }, { "direction", "down" } };
    p.meta = kv;
    p.nmeta = 6;
    struct alarm_point st;
    memset(&st, 0, sizeof st);
    struct alarm_event ev[ALARM_LEVELS];
    CHECK(feed(&st, &p, 1000, 9, ev) == 0 && tailings_point_colour(&st) == -1);
    CHECK(feed(&st, &p, 2000, 5.5, ev) == 2);
    CHECK(ev[0].level == ALARM_BLUE && ev[1].level == ALARM_YELLOW && ev[1].raised);
    CHECK(tailings_point_colour(&st) == ALARM_YELLOW);
    CHECK(feed(&st, &p, 3000, 6.05, ev) == 0);      /* within the hysteresis */
    CHECK(feed(&st, &p, 4000, 6.2, ev) == 1 && ev[0].level == ALARM_YELLOW && !ev[0].raised);
    CHECK(tailings_point_colour(&st) == ALARM_BLUE);
    CHECK_STR(alarm_level_name(ALARM_ORANGE), "orange");
}

static void test_item_escalation(void)
{
    unsigned none[4] = { 0, 0, 0, 0 }, b3[4] = { 3, 0, 0, 0 }, b4[4] = { 4, 0, 0, 0 };
    unsigned y3[4] = { 0, 3, 0, 0 }, mix[4] = { 2, 1, 0, 0 }, o2[4] = { 0, 0, 2, 0 };
    unsigned o1y2[4] = { 0, 2, 1, 0 }, r1[4] = { 0, 0, 0, 1 };
    CHECK(tailings_item_colour(none) == -1);
    CHECK(tailings_item_colour(b3) == 0);      /* blue */
    CHECK(tailings_item_colour(b4) == 1);      /* 4 blue make yellow */
    CHECK(tailings_item_colour(y3) == 2);      /* 3 yellow make orange */
    CHECK(tailings_item_colour(mix) == 1);     /* the highest point's colour */
    CHECK(tailings_item_colour(o2) == 3);      /* 2 orange make red */
    CHECK(tailings_item_colour(o1y2) == 2);    /* 3 at yellow or worse make orange */
    CHECK(tailings_item_colour(r1) == 3);
}

int main(void)
{
    RUN(test_hi_hysteresis);
    RUN(test_lo_levels);
    RUN(test_delay);
    RUN(test_comm);
    RUN(test_tailings_colours);
    RUN(test_item_escalation);
    return UNIT_END();
}
