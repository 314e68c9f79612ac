/* alarm_watch: each poll judged for alarms, events logged and stored (see alarm_watch.h). */
#include "agent/alarm_watch.h"
#include "agent/alarm.h"
#include "agent/log.h"
#include "agent/tailings.h"
#include <stdio.h>
#include <stdlib.h>

/* A point with some limit or tailings colour: its limits and level state.
 * Points without any (most of them) have no slot. */
struct watch_slot {
    uint32_t point;                 /* index in the device's conf points */
    struct alarm_limits limits;
    struct alarm_point alarms;      /* its comm level unused: see watch_dev.comm */
};

/* One device's alarm state. */
struct watch_dev {
    const struct conf_device *conf;
    const uint32_t *point_ids;
    struct watch_slot *slots;       /* by point index, ascending */
    size_t nslots;
    uint8_t *comm;                  /* a bit per conf point: its comm alarm is active */
};

static int comm_get(const struct watch_dev *wd, size_t k)
{
    return wd->comm[k >> 3] >> (k & 7) & 1;
}

static void comm_set(struct watch_dev *wd, size_t k, int on)
{
    if (on)
        wd->comm[k >> 3] |= (uint8_t)(1u << (k & 7));
    else
        wd->comm[k >> 3] &= (uint8_t)~(1u << (k & 7));
}

/* Point k's slot, or NULL. */
static struct watch_slot *slot_of(const struct watch_dev *wd, size_t k)
{
    size_t lo = 0, hi = wd->nslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (wd->slots[mid].point < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < wd->nslots && wd->slots[lo].point == k ? &wd->slots[lo] : NULL;
}

/* tailings_colour_fn over a watch_dev */
static int point_colour(const void *arg, size_t k)
{
    const struct watch_slot *sl = slot_of(arg, k);
    return sl ? tailings_point_colour(&sl->alarms) : -1;
}

struct alarm_watch {
    struct writer *writer;
    struct tailings *tailings;
    struct watch_dev *devs;
    size_t ndevs;
};

static void log_event(const char *tag, const struct alarm_event *e)
{
    char num[32];
    snprintf(num, sizeof num, "%.6g", e->value);
    log_info("alarm", tag, "%s %s%s%s", alarm_level_name(e->level), e->raised ? "raised" : "cleared",
             e->level == ALARM_COMM ? "" : " at ", e->level == ALARM_COMM ? "" : num);
}

/* Log and store events of the point tagged tag (tailings_emit_fn for the items). */
static void emit(void *arg, const char *tag, const struct alarm_event *ev, size_t n)
{
    struct alarm_watch *aw = arg;
    for (size_t e = 0; e < n; e++)
        log_event(tag, &ev[e]);
    if (n && writer_submit_alarms(aw->writer, ev, n) != 0)
        log_error("alarm", tag, "out of memory: alarm events lost");
}

/* Alarms that were active when the agent stopped, gathered from the store. */
struct active {
    uint32_t point;
    int level;
};

struct actives {
    struct active *a;
    size_t n, cap;
    int oom;
};

static void gather_active(void *arg, uint32_t point, int level, int64_t since)
{
    struct actives *l = arg;
    (void)since;
    if (level < 0 || level >= ALARM_LEVELS || l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct active *na = realloc(l->a, cap * sizeof *na);
        if (!na) {
            l->oom = 1;
            return;
        }
        l->a = na;
        l->cap = cap;
    }
    l->a[l->n++] = (struct active){ point, level };
}

static int by_point(const void *x, const void *y)
{
    uint32_t a = ((const struct active *)x)->point, b = ((const struct active *)y)->point;
    return a < b ? -1 : a > b;
}

/* Those alarms are active again: one pass over the points, each looked up
 * among the active ones (a whole site's comm alarms after an outage are many). */
static int restore_active(struct alarm_watch *aw, struct store *s)
{
    struct actives l = { 0 };
    store_alarm_active(s, gather_active, &l);
    if (l.oom) {
        free(l.a);
        return -1;
    }
    if (l.n)    /* (qsort and bsearch are not given a null array, even empty) */
        qsort(l.a, l.n, sizeof *l.a, by_point);
    for (size_t d = 0; l.n && d < aw->ndevs; d++) {
        struct watch_dev *wd = &aw->devs[d];
        for (size_t k = 0; k < wd->conf->npoints; k++) {
            struct active key = { wd->point_ids[k], 0 };
            struct active *hit = bsearch(&key, l.a, l.n, sizeof *l.a, by_point);
            if (!hit)
                continue;
            while (hit > l.a && hit[-1].point == key.point)
                hit--;
            for (; hit < l.a + l.n && hit->point == key.point; hit++) {
                if (hit->level == ALARM_COMM) {
                    comm_set(wd, k, 1);
                } else {
                    /* A level the point has no limits for any more is never
                     * judged again: nothing to keep. */
                    struct watch_slot *sl = slot_of(wd, k);
                    if (sl)
                        alarm_set_active(&sl->alarms, (enum alarm_level)hit->level, 1);
                }
            }
        }
    }
    for (size_t i = 0; i < l.n; i++)
        tailings_restore(aw->tailings, l.a[i].point, l.a[i].level);
    free(l.a);
    return 0;
}

struct alarm_watch *alarm_watch_create(const struct conf *c, struct device *const *devs,
                                       size_t ndevs, struct store *s, struct writer *w,
                                       char *err, size_t errlen)
{
    struct alarm_watch *aw = calloc(1, sizeof *aw);
    if (!aw)
        goto oom;
    aw->writer = w;
    aw->devs = calloc(ndevs ? ndevs : 1, sizeof *aw->devs);
    if (!aw->devs)
        goto oom;
    for (size_t d = 0; d < ndevs; d++) {
        const struct conf_device *cd = devs[d]->conf;
        struct watch_dev *wd = &aw->devs[aw->ndevs++];
        wd->conf = cd;
        wd->point_ids = devs[d]->point_ids;
        wd->comm = calloc(cd->npoints / 8 + 1, 1);
        if (!wd->comm)
            goto oom;
        /* Count the points with limits, then keep exactly those. */
        struct alarm_limits lim;
        size_t nslots = 0;
        for (size_t k = 0; k < cd->npoints; k++) {
            alarm_limits_init(&lim, &cd->points[k]);
            nslots += alarm_limits_any(&lim) != 0;
        }
        if (nslots) {
            wd->slots = calloc(nslots, sizeof *wd->slots);
            if (!wd->slots)
                goto oom;
        }
        for (size_t k = 0; k < cd->npoints && wd->nslots < nslots; k++) {
            alarm_limits_init(&lim, &cd->points[k]);
            if (alarm_limits_any(&lim))
                wd->slots[wd->nslots++] = (struct watch_slot){ .point = (uint32_t)k,
                                                               .limits = lim };
        }
    }
    aw->tailings = tailings_create(c, s, err, errlen);
    if (!aw->tailings)
        goto fail;
    if (restore_active(aw, s) != 0)
        goto oom;
    for (size_t d = 0; d < aw->ndevs; d++)
        tailings_sync(aw->tailings, d, point_colour, &aw->devs[d]);
    return aw;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    alarm_watch_free(aw);
    return NULL;
}

void alarm_watch_free(struct alarm_watch *aw)
{
    if (!aw)
        return;
    for (size_t d = 0; d < aw->ndevs; d++) {
        free(aw->devs[d].slots);
        free(aw->devs[d].comm);
    }
    free(aw->devs);
    tailings_free(aw->tailings);
    free(aw);
}

void alarm_watch_poll(struct alarm_watch *aw, size_t dev, const struct reading *r)
{
    struct watch_dev *wd = &aw->devs[dev];
    const struct conf_device *c = wd->conf;
    struct alarm_event ev[ALARM_LEVELS];
    struct watch_slot *sl = wd->slots, *end = wd->slots + wd->nslots;
    for (size_t i = 0; i < c->npoints; i++) {
        int comm = comm_get(wd, i);
        int n = alarm_eval_comm(&comm, &r[i], ev);
        comm_set(wd, i, comm);
        if (sl < end && sl->point == i) {
            n += alarm_eval_limits(&sl->alarms, &c->points[i], &sl->limits, &r[i], ev + n);
            sl++;
        }
        if (n)
            emit(aw, c->points[i].tag, ev, (size_t)n);
    }
    tailings_update(aw->tailings, dev, point_colour, wd, c->npoints ? r[0].ts_ms : 0, emit, aw);
}
