/* unit_tailings: monitoring items built from a configuration (which points are
 * members, the "item:NAME" pseudo points and their metadata), the escalation
 * as events on colour changes, a restart's restored colours, and items whose
 * points are polled by two threads at once. */
#include "tests/unit.h"
#include "agent/tailings.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- fixture: two devices; displacement spans both ---- */
static struct conf_kv kv_disp[] = { { "item", "displacement" }, { "blue", "1" },
                                    { "yellow", "2" }, { "orange", "3" }, { "red", "4" } };
static struct conf_kv kv_phreatic[] = { { "item", "phreatic" }, { "direction", "down" },
                                        { "blue", "8" }, { "red", "2" } };
static struct conf_kv kv_rain[] = { { "item", "rainfall" } };     /* no colours: no item */
static struct conf_kv kv_plain[] = { { "blue", "5" } };           /* colours, no item */

/* "TAG\0" + the literal's own NUL: an empty name, then an empty unit. */
#define PT(t, kv) { .tag = t "\0", .name_at = sizeof t, .meta = kv, \
                    .nmeta = sizeof kv / sizeof kv[0] }
static struct conf_point pts_a[] = {
    PT("D-1", kv_disp), PT("R-1", kv_rain), PT("D-2", kv_disp), PT("J-1", kv_phreatic),
    PT("D-3", kv_disp), PT("X-1", kv_plain),
};
static struct conf_point pts_b[] = { PT("D-4", kv_disp), PT("D-5", kv_disp) };
static struct conf_device devs[] = {
    { .name = "a", .points = pts_a, .npoints = 6 },
    { .name = "b", .points = pts_b, .npoints = 2 },
    { .name = "c", .points = NULL, .npoints = 0 },
};
static struct conf conf = { .devices = devs, .ndevices = 3 };

static char dir[] = "/tmp/unit_tailings.XXXXXX";

/* Events as the agent would receive them. */
struct got {
    struct { char tag[64]; struct alarm_event ev; } e[64];
    size_t n;
};

static void collect(void *arg, const char *tag, const struct alarm_event *ev, size_t n)
{
    struct got *g = arg;
    for (size_t i = 0; i < n && g->n < 64; i++) {
        snprintf(g->e[g->n].tag, sizeof g->e[g->n].tag, "%s", tag);
        g->e[g->n++].ev = ev[i];
    }
}

/* Point i of a state array at colour (ALARM_BLUE..ALARM_RED, or -1: none). */
static void paint(struct alarm_point *st, size_t i, int colour)
{
    for (int l = ALARM_BLUE; l <= ALARM_RED; l++)
        alarm_set_active(&st[i], (enum alarm_level)l, l <= colour);
}

/* tailings_colour_fn over a state array, one per conf point. */
static int colour_of(const void *arg, size_t i)
{
    return tailings_point_colour(&((const struct alarm_point *)arg)[i]);
}

static void test_tag(void)
{
    char buf[32];
    CHECK(tailings_tag("displacement", buf, sizeof buf) == 0);
    CHECK_STR(buf, "item:displacement");
    CHECK(tailings_tag("displacement", buf, 17) == -1);    /* no room for the NUL */
    CHECK(tailings_tag("displacement", buf, 18) == 0);
}

/* The test configuration's items over the test store (NULL if either fails). */
static struct tailings *open_items(struct store **s)
{
    char err[200];
    *s = store_open(dir, STORE_WRITE, err, sizeof err);
    return *s ? tailings_create(&conf, *s, err, sizeof err) : NULL;
}

static void test_items(void)
{
    char err[200];
    struct store *s = store_open(dir, STORE_WRITE, err, sizeof err);
    CHECK(s != NULL);
    struct tailings *t = tailings_create(&conf, s, err, sizeof err);
    CHECK(t != NULL);
    CHECK(tailings_count(t) == 2);          /* rainfall has no colours */
    uint32_t id, want;
    const struct wire_point_meta *m = tailings_meta(t, 0, &id);
    CHECK_STR(m->tag, "item:displacement");
    CHECK_STR(m->name, "displacement");
    CHECK_STR(m->device, "tailings");
    CHECK_STR(m->unit, "");
    CHECK(m->nkv == 1);
    CHECK_STR(wire_meta(m, "item"), "displacement");
    CHECK(isnan(m->hi) && isnan(m->hysteresis));
    /* the same stable id the store gives the tag */
    CHECK(store_point_id(s, "item:displacement", "tailings", "", &want) == 0 && id == want);
    m = tailings_meta(t, 1, &id);
    CHECK_STR(m->tag, "item:phreatic");
    CHECK(store_point_id(s, "item:phreatic", "tailings", "", &want) == 0 && id == want);
    CHECK(tailings_has_members(t, 0) && tailings_has_members(t, 1));
    CHECK(!tailings_has_members(t, 2) && !tailings_has_members(t, 3));
    /* A device without members costs nothing and says nothing. */
    struct got g = { .n = 0 };
    tailings_update(t, 2, colour_of, NULL, 1000, collect, &g);
    CHECK(g.n == 0);
    tailings_free(t);
    tailings_free(NULL);
    store_close(s);
}

static void test_escalation(void)
{
    struct store *s;
    struct tailings *t = open_items(&s);
    CHECK(t != NULL);
    if (!t)
        return;
    uint32_t disp, phr;
    tailings_meta(t, 0, &disp);
    tailings_meta(t, 1, &phr);
    struct alarm_point a[6], b[2];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    struct got g = { .n = 0 };
    /* Three blue: the item is blue, with three points at it. */
    paint(a, 0, ALARM_BLUE);
    paint(a, 2, ALARM_BLUE);
    paint(a, 4, ALARM_BLUE);
    paint(a, 1, ALARM_RED);                 /* rainfall is no member: never counted */
    tailings_update(t, 0, colour_of, a, 1000, collect, &g);
    CHECK(g.n == 1);
    CHECK_STR(g.e[0].tag, "item:displacement");
    CHECK(g.e[0].ev.point == disp && g.e[0].ev.level == ALARM_BLUE && g.e[0].ev.raised);
    CHECK(g.e[0].ev.ts_ms == 1000 && g.e[0].ev.value == 3 && g.e[0].ev.threshold == 0);
    /* Nothing changed: nothing said. */
    g.n = 0;
    tailings_update(t, 0, colour_of, a, 2000, collect, &g);
    CHECK(g.n == 0);
    /* A fourth blue on the other device: 4 blue make yellow (blue cleared first). */
    paint(b, 0, ALARM_BLUE);
    tailings_update(t, 1, colour_of, b, 3000, collect, &g);
    CHECK(g.n == 2);
    CHECK(g.e[0].ev.level == ALARM_BLUE && !g.e[0].ev.raised && g.e[0].ev.ts_ms == 3000);
    CHECK(g.e[1].ev.level == ALARM_YELLOW && g.e[1].ev.raised && g.e[1].ev.value == 0);
    /* Two orange make red; value: the points at red or worse (none yet). */
    g.n = 0;
    paint(b, 0, ALARM_ORANGE);
    paint(b, 1, ALARM_ORANGE);
    tailings_update(t, 1, colour_of, b, 4000, collect, &g);
    CHECK(g.n == 2);
    CHECK(g.e[0].ev.level == ALARM_YELLOW && !g.e[0].ev.raised);
    CHECK(g.e[1].ev.level == ALARM_RED && g.e[1].ev.raised);
    /* The phreatic item follows its one point on its own. */
    g.n = 0;
    paint(a, 3, ALARM_RED);
    tailings_update(t, 0, colour_of, a, 5000, collect, &g);
    CHECK(g.n == 1 && g.e[0].ev.point == phr && g.e[0].ev.level == ALARM_RED);
    CHECK_STR(g.e[0].tag, "item:phreatic");
    /* All clear: one clear per item, and no raise. */
    g.n = 0;
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    tailings_update(t, 0, colour_of, a, 6000, collect, &g);
    CHECK(g.n == 1 && g.e[0].ev.point == phr && !g.e[0].ev.raised);
    tailings_update(t, 1, colour_of, b, 7000, collect, &g);
    CHECK(g.n == 2 && g.e[1].ev.point == disp && g.e[1].ev.level == ALARM_RED);
    CHECK(!g.e[1].ev.raised && g.e[1].ev.value == 0 && g.e[1].ev.ts_ms == 7000);
    tailings_free(t);
    store_close(s);
}

static void test_restore(void)
{
    struct store *s;
    struct tailings *t = open_items(&s);
    CHECK(t != NULL);
    if (!t)
        return;
    uint32_t disp;
    tailings_meta(t, 0, &disp);
    /* Before the stop: four blue, the item yellow. */
    struct alarm_point a[6], b[2];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    paint(a, 0, ALARM_BLUE);
    paint(a, 2, ALARM_BLUE);
    paint(a, 4, ALARM_BLUE);
    paint(b, 0, ALARM_BLUE);
    tailings_restore(t, disp, ALARM_BLUE);
    tailings_restore(t, disp, ALARM_YELLOW);
    tailings_restore(t, disp, ALARM_HI);        /* not a colour: ignored */
    tailings_restore(t, disp + 100, ALARM_RED); /* not an item: ignored */
    tailings_sync(t, 0, colour_of, a);
    tailings_sync(t, 1, colour_of, b);
    /* The first poll after the start finds what was: no second raise. */
    struct got g = { .n = 0 };
    tailings_update(t, 0, colour_of, a, 1000, collect, &g);
    CHECK(g.n == 0);
    /* The clear is not lost. */
    memset(b, 0, sizeof b);
    tailings_update(t, 1, colour_of, b, 2000, collect, &g);
    CHECK(g.n == 2 && g.e[0].ev.level == ALARM_YELLOW && !g.e[0].ev.raised);
    CHECK(g.e[1].ev.level == ALARM_BLUE && g.e[1].ev.raised);
    tailings_free(t);
    store_close(s);
}

/* ---- two bus threads on one item ---- */
/* Each item's events stay paired (every clear is of the colour raised before)
 * whichever thread's poll they come from. */
struct pairing {
    int colour[2];
    int bad;
};

static void check_pairs(void *arg, const char *tag, const struct alarm_event *ev, size_t n)
{
    struct pairing *p = arg;
    int k = strcmp(tag, "item:displacement") ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].raised) {
            p->bad |= p->colour[k] != -1;
            p->colour[k] = ev[i].level;
        } else {
            p->bad |= p->colour[k] != ev[i].level;
            p->colour[k] = -1;
        }
    }
}

#define PAIR_ROUNDS 5000

struct pair_arg {
    struct tailings *t;
    size_t dev;
    struct pairing *p;
};

static void *pair_bus(void *arg)
{
    struct pair_arg *pa = arg;
    struct alarm_point st[6];
    memset(st, 0, sizeof st);
    size_t np = pa->dev == 0 ? 6 : 2;
    for (int round = 0; round < PAIR_ROUNDS; round++) {
        int colour = (round + (int)pa->dev) % 5 - 1 + ALARM_BLUE;
        if (colour < ALARM_BLUE)
            colour = -1;
        for (size_t i = 0; i < np; i++)
            paint(st, i, colour);
        tailings_update(pa->t, pa->dev, colour_of, st, round, check_pairs, pa->p);
    }
    return NULL;
}

static void test_threads(void)
{
    /* Under qemu-user (the cross builds' unit run) two threads contending for
     * one mutex spin for ever in the emulator's atomics; the native runs (make
     * test, the sanitizer suite) are the thread test. */
    const char *emulated = getenv("GANZHI_EMULATED");
    if (emulated && *emulated) {
        printf("note test_threads: not run under emulation\n");
        return;
    }
    struct store *s;
    struct tailings *t = open_items(&s);
    CHECK(t != NULL);
    if (!t)
        return;
    struct pairing p = { { -1, -1 }, 0 };
    struct pair_arg a0 = { t, 0, &p }, a1 = { t, 1, &p };
    pthread_t th0, th1;
    CHECK(pthread_create(&th0, NULL, pair_bus, &a0) == 0);
    CHECK(pthread_create(&th1, NULL, pair_bus, &a1) == 0);
    pthread_join(th0, NULL);
    pthread_join(th1, NULL);
    CHECK(!p.bad);
    tailings_free(t);
    store_close(s);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_tag);
    RUN(test_items);
    RUN(test_escalation);
    RUN(test_restore);
    RUN(test_threads);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return UNIT_END();
}
