/* alarm_watch: each poll judged for alarms, events logged and stored (see alarm_watch.h). */
#include "agent/alarm_watch.h"
#include "agent/alarm.h"
#include "agent/log.h"
#include "agent/tailings.h"
#include <stdio.h>
#include <stdlib.h>

/* One device's alarm state, per conf point. */
struct watch_dev {
    const struct conf_device *conf;
    const uint32_t *point_ids;
    struct alarm_point *alarms;
    struct alarm_limits *limits;
};

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

/* An alarm that was active when the agent stopped is active again. */
static void restore(void *arg, uint32_t point, int level, int64_t since)
{
    struct alarm_watch *aw = arg;
    if (level < 0 || level >= ALARM_LEVELS)
        return;
    for (size_t d = 0; d < aw->ndevs; d++) {
        struct watch_dev *wd = &aw->devs[d];
        for (size_t k = 0; k < wd->conf->npoints; k++)
            if (wd->point_ids[k] == point)
                wd->alarms[k].level[level].active = 1;
    }
    tailings_restore(aw->tailings, point, level);
    (void)since;
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
        wd->alarms = calloc(cd->npoints ? cd->npoints : 1, sizeof *wd->alarms);
        wd->limits = calloc(cd->npoints ? cd->npoints : 1, sizeof *wd->limits);
        if (!wd->alarms || !wd->limits)
            goto oom;
        for (size_t k = 0; k < cd->npoints; k++)
            alarm_limits_init(&wd->limits[k], &cd->points[k]);
    }
    aw->tailings = tailings_create(c, s, err, errlen);
    if (!aw->tailings)
        goto fail;
    store_alarm_active(s, restore, aw);
    for (size_t d = 0; d < aw->ndevs; d++)
        tailings_sync(aw->tailings, d, aw->devs[d].alarms);
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
        free(aw->devs[d].alarms);
        free(aw->devs[d].limits);
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
    for (size_t i = 0; i < c->npoints; i++) {
        int n = alarm_eval(&wd->alarms[i], &c->points[i], &wd->limits[i], &r[i], ev);
        emit(aw, c->points[i].tag, ev, (size_t)n);
    }
    tailings_update(aw->tailings, dev, wd->alarms, c->npoints ? r[0].ts_ms : 0, emit, aw);
}
