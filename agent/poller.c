/* poller: bus threads, poll scheduling, failure backoff, deadband and heartbeat. */
#include "core/clock.h"
#include "agent/poller.h"
#include "agent/alarm.h"
#include "agent/deadband.h"
#include "agent/log.h"
#include <errno.h>
#include <stdatomic.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dev_run {
    struct device dev;
    struct deadband_state *ps;
    struct alarm_point *alarms;     /* per point */
    struct alarm_limits *limits;    /* per point */
    int has_colours;                /* some point has tailings colours */
    struct reading *scratch;
    int64_t next_ms;        /* monotonic time of the next poll */
    unsigned failures;      /* consecutive polls without an answer */
    unsigned jitter_seed;
    uint64_t drops, dropped;    /* polls and readings the full store queue refused */
};

struct bus {
    struct poller *owner;
    pthread_t thread;
    int started;
    const char *name;
    struct mb_link *link;       /* a serial port's link, shared by its devices */
    struct dev_run **devs;
    size_t ndevs;
};

/* A tailings monitoring item (the `item` column): its points' colours escalate
 * to the item's (4 blue make yellow, 3 yellow orange, 2 orange red). */
struct item {
    char *name;
    uint32_t id;                    /* store id of the pseudo point "item:NAME" */
    int colour;                     /* 0..3 blue..red, -1 none */
    struct dev_run **runs;
    size_t *idx;
    size_t n;
};

struct poller {
    struct writer *writer;
    pthread_mutex_t items_lock;     /* colour states of item members, across buses */
    struct item *items;
    size_t nitems;
    /* The latest sample time seen (stored or polled): a clock behind it has been
     * stepped back, and what it stamps cannot be trusted until it catches up. */
    _Atomic int64_t clock_floor_ms;
    atomic_int clock_behind;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    struct dev_run *runs;
    size_t nruns;
    struct bus *buses;
    size_t nbuses;
    struct device **devices;
};

/* Flag the readings of a poll taken while the clock is behind the latest sample
 * time already seen (stepped back, or not yet set after a boot). seq keeps the
 * true order whatever the clock says. */
static void check_clock(struct poller *pl, struct dev_run *dr)
{
    const struct conf_device *c = dr->dev.conf;
    int64_t floor = atomic_load(&pl->clock_floor_ms), newest = 0;
    int behind = 0;
    for (size_t i = 0; i < c->npoints; i++) {
        struct reading *r = &dr->scratch[i];
        /* A second of slack: NTP slews and threads race. */
        if (r->ts_ms < floor - 1000) {
            behind = 1;
            if (r->quality == Q_GOOD)
                r->quality = Q_CLOCK_UNTRUSTED;
        }
        if (r->ts_ms > newest)
            newest = r->ts_ms;
    }
    if (!behind) {
        while (newest > floor &&
               !atomic_compare_exchange_weak(&pl->clock_floor_ms, &floor, newest))
            ;
    }
    int was = atomic_exchange(&pl->clock_behind, behind);
    if (behind && !was)
        log_warn("agent", NULL, "the clock is %lld ms behind readings already taken (stepped "
                 "back?): readings are flagged clock_untrusted until it catches up",
                 (long long)(floor - newest));
    else if (!behind && was)
        log_info("agent", NULL, "the clock has caught up: readings are trusted again");
}

static void log_event(const char *tag, const struct alarm_event *e)
{
    char num[32];
    snprintf(num, sizeof num, "%.6g", e->value);
    log_info("alarm", tag, "%s %s%s%s", alarm_level_name(e->level), e->raised ? "raised" : "cleared",
             e->level == ALARM_COMM ? "" : " at ", e->level == ALARM_COMM ? "" : num);
}

/* Recompute every item's colour from its members (items_lock held). */
static void eval_items(struct poller *pl, int64_t now)
{
    for (size_t k = 0; k < pl->nitems; k++) {
        struct item *it = &pl->items[k];
        unsigned count[4] = { 0, 0, 0, 0 };
        for (size_t m = 0; m < it->n; m++) {
            int c = alarm_colour(&it->runs[m]->alarms[it->idx[m]]);
            if (c >= 0)
                count[c - ALARM_BLUE]++;
        }
        int colour = alarm_item_colour(count);
        if (colour == it->colour)
            continue;
        struct alarm_event ev[2];
        int n = 0;
        unsigned at = 0;
        for (int c = colour < 0 ? 4 : colour; c < 4; c++)
            at += count[c];
        if (it->colour >= 0)
            ev[n++] = (struct alarm_event){ 0, it->id, (uint8_t)(ALARM_BLUE + it->colour), 0, now,
                                            at, 0 };
        if (colour >= 0)
            ev[n++] = (struct alarm_event){ 0, it->id, (uint8_t)(ALARM_BLUE + colour), 1, now, at, 0 };
        it->colour = colour;
        char tag[160];
        snprintf(tag, sizeof tag, "item:%s", it->name);
        for (int e = 0; e < n; e++)
            log_event(tag, &ev[e]);
        if (writer_submit_alarms(pl->writer, ev, (size_t)n) != 0)
            log_error("alarm", tag, "out of memory: alarm events lost");
    }
}

/* Alarm evaluation sees every poll, not only the readings the deadband keeps. */
static void eval_alarms(struct poller *pl, struct dev_run *dr)
{
    const struct conf_device *c = dr->dev.conf;
    struct alarm_event ev[ALARM_LEVELS];
    /* Tailings points' colours are read by other buses' item evaluation. */
    if (dr->has_colours)
        pthread_mutex_lock(&pl->items_lock);
    for (size_t i = 0; i < c->npoints; i++) {
        int n = alarm_eval(&dr->alarms[i], &c->points[i], &dr->limits[i], &dr->scratch[i], ev);
        for (int k = 0; k < n; k++)
            log_event(c->points[i].tag, &ev[k]);
        if (n && writer_submit_alarms(pl->writer, ev, (size_t)n) != 0)
            log_error("alarm", c->points[i].tag, "out of memory: alarm events lost");
    }
    if (dr->has_colours) {
        eval_items(pl, c->npoints ? dr->scratch[0].ts_ms : 0);
        pthread_mutex_unlock(&pl->items_lock);
    }
}

/* Items of tailings points (the `item` column, with colour thresholds). */
static int build_items(struct poller *pl, struct store *s)
{
    for (size_t r = 0; r < pl->nruns; r++) {
        struct dev_run *dr = &pl->runs[r];
        const struct conf_device *c = dr->dev.conf;
        for (size_t i = 0; i < c->npoints; i++) {
            const char *name = conf_point_meta(&c->points[i], "item");
            int colours = 0;
            for (int l = ALARM_BLUE; l <= ALARM_RED; l++)
                colours |= !isnan(dr->limits[i].level[l]);
            if (!name || !colours)
                continue;
            dr->has_colours = 1;
            struct item *it = NULL;
            for (size_t k = 0; k < pl->nitems && !it; k++)
                if (!strcmp(pl->items[k].name, name))
                    it = &pl->items[k];
            if (!it) {
                struct item *ni = realloc(pl->items, (pl->nitems + 1) * sizeof *ni);
                if (!ni)
                    return -1;
                pl->items = ni;
                it = &pl->items[pl->nitems++];
                *it = (struct item){ strdup(name), 0, -1, NULL, NULL, 0 };
                char tag[160];
                snprintf(tag, sizeof tag, "item:%s", name);
                if (!it->name || store_point_id(s, tag, "tailings", "", &it->id) != 0)
                    return -1;
            }
            struct dev_run **nr = realloc(it->runs, (it->n + 1) * sizeof *nr);
            size_t *nx = realloc(it->idx, (it->n + 1) * sizeof *nx);
            if (nr)
                it->runs = nr;
            if (nx)
                it->idx = nx;
            if (!nr || !nx)
                return -1;
            it->runs[it->n] = dr;
            it->idx[it->n++] = i;
        }
    }
    return 0;
}

static void submit(struct poller *pl, struct dev_run *dr)
{
    const struct conf_device *c = dr->dev.conf;
    int64_t heartbeat = c->interval_ms * DEADBAND_HEARTBEAT_INTERVALS;
    size_t n = 0;
    for (size_t i = 0; i < c->npoints; i++)
        n += deadband_keep(&dr->ps[i], c->points[i].deadband, &dr->scratch[i], heartbeat);
    if (n == 0)
        return;
    struct batch *b = malloc(sizeof *b + n * sizeof b->r[0]);
    if (!b) {
        log_error("device", c->name, "out of memory: poll dropped");
        return;
    }
    b->seq0 = 0;
    b->n = 0;
    b->ts_ms = INT64_MAX;
    /* The same rule again, on the same state: the count matches. */
    for (size_t i = 0; i < c->npoints; i++) {
        const struct reading *r = &dr->scratch[i];
        if (!deadband_keep(&dr->ps[i], c->points[i].deadband, r, heartbeat))
            continue;
        b->r[b->n++] = *r;
        if (r->ts_ms < b->ts_ms)
            b->ts_ms = r->ts_ms;
        deadband_kept(&dr->ps[i], r);
    }
    if (writer_submit(pl->writer, b) != 0) {
        /* Rate-limited: at saturation this would be a line per poll. */
        dr->dropped += n;
        if (++dr->drops == 1 || dr->drops % 1000 == 0)
            log_warn("device", c->name, "store queue full: %llu readings dropped so far",
                     (unsigned long long)dr->dropped);
    }
}

static void poll_one(struct poller *pl, struct dev_run *dr, int64_t now)
{
    const struct conf_device *c = dr->dev.conf;
    uint64_t splits = atomic_load(&dr->dev.stats.splits);
    int failed = device_poll(&dr->dev, dr->scratch);
    check_clock(pl, dr);
    eval_alarms(pl, dr);
    if (atomic_load(&dr->dev.stats.splits) != splits)
        log_info("device", c->name, "%s", dr->dev.last_error);
    submit(pl, dr);
    int64_t wait = c->interval_ms;
    if (failed) {
        dr->failures++;
        if (dr->failures == 1 || dr->failures == 4 || dr->failures % 100 == 0)
            log_warn("device", c->name, "no answer (%s); %u failed polls", dr->dev.last_error,
                     dr->failures);
        if (dr->failures == 2)
            atomic_store(&dr->dev.stats.quarantined, 1);
        if (dr->failures > 1) {
            /* Capped exponential backoff with jitter, so a dead device costs
             * little and many of them do not retry in step. */
            int64_t cap = c->backoff_max_ms > c->interval_ms ? c->backoff_max_ms : c->interval_ms;
            unsigned shift = dr->failures - 1 > 16 ? 16 : dr->failures - 1;
            wait = c->interval_ms << shift;
            if (wait > cap || wait <= 0)
                wait = cap;
            wait = wait * (80 + rand_r(&dr->jitter_seed) % 41) / 100;
        }
    } else if (dr->failures) {
        log_info("device", c->name, "answering again after %u failed polls", dr->failures);
        dr->failures = 0;
        atomic_store(&dr->dev.stats.quarantined, 0);
    }
    /* Stay on the interval grid; after a stall skip missed slots, never burst. */
    if (!failed) {
        dr->next_ms += wait;
        if (dr->next_ms <= now)
            dr->next_ms = now + wait - (now - dr->next_ms) % wait;
    } else {
        dr->next_ms = mono_ms() + wait;
    }
}

static void *bus_main(void *arg)
{
    struct bus *bus = arg;
    struct poller *pl = bus->owner;
    pthread_mutex_lock(&pl->lock);
    while (!pl->stop) {
        struct dev_run *due = bus->devs[0];
        for (size_t i = 1; i < bus->ndevs; i++)
            if (bus->devs[i]->next_ms < due->next_ms)
                due = bus->devs[i];
        int64_t now = mono_ms();
        if (due->next_ms > now) {
            struct timespec until = { due->next_ms / 1000, (long)(due->next_ms % 1000) * 1000000 };
            pthread_cond_timedwait(&pl->wake, &pl->lock, &until);
            continue;
        }
        pthread_mutex_unlock(&pl->lock);
        poll_one(pl, due, now);
        pthread_mutex_lock(&pl->lock);
    }
    pthread_mutex_unlock(&pl->lock);
    return NULL;
}

/* An alarm that was active when the agent stopped is active again: no second
 * "raised" for it, and its clear is not lost. */
static void restore_alarm(void *arg, uint32_t point, int level, int64_t since)
{
    struct poller *pl = arg;
    if (level < 0 || level >= ALARM_LEVELS)
        return;
    for (size_t i = 0; i < pl->nruns; i++) {
        struct dev_run *dr = &pl->runs[i];
        for (size_t k = 0; k < dr->dev.conf->npoints; k++)
            if (dr->dev.point_ids[k] == point)
                dr->alarms[k].level[level].active = 1;
    }
    for (size_t k = 0; k < pl->nitems; k++)
        if (pl->items[k].id == point && level >= ALARM_BLUE && level <= ALARM_RED &&
            level - ALARM_BLUE > pl->items[k].colour)
            pl->items[k].colour = level - ALARM_BLUE;
    (void)since;
}

/* Devices on the same serial port share a bus; each TCP device is its own. */
static int same_bus(const struct conf_device *a, const struct conf_device *b)
{
    return a->driver == CONF_MODBUS_RTU && b->driver == CONF_MODBUS_RTU &&
           strcmp(a->serial, b->serial) == 0;
}

struct poller *poller_start(const struct conf *c, struct store *s, struct writer *w,
                            char *err, size_t errlen)
{
    struct poller *pl = calloc(1, sizeof *pl);
    if (!pl)
        goto oom;
    pl->writer = w;
    atomic_store(&pl->clock_floor_ms, store_last_ts(s));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&pl->lock, NULL);
    pthread_mutex_init(&pl->items_lock, NULL);
    pthread_cond_init(&pl->wake, &ca);
    pthread_condattr_destroy(&ca);
    pl->runs = calloc(c->ndevices, sizeof *pl->runs);
    pl->buses = calloc(c->ndevices, sizeof *pl->buses);
    pl->devices = calloc(c->ndevices, sizeof *pl->devices);
    if (!pl->runs || !pl->buses || !pl->devices)
        goto oom;
    int64_t now = mono_ms();
    for (size_t i = 0; i < c->ndevices; i++) {
        const struct conf_device *cd = &c->devices[i];
        struct dev_run *dr = &pl->runs[i];
        char derr[200];
        size_t b;
        for (b = 0; b < pl->nbuses; b++)
            if (same_bus(pl->buses[b].devs[0]->dev.conf, cd))
                break;
        if (b == pl->nbuses) {
            pl->buses[b] = (struct bus){ .owner = pl, .name = cd->name };
            pl->buses[b].devs = calloc(c->ndevices, sizeof(struct dev_run *));
            if (!pl->buses[b].devs)
                goto oom;
            pl->nbuses++;
            if (cd->driver == CONF_MODBUS_RTU) {
                struct mb_link_params lp = {
                    .rtu = 1, .serial = cd->serial, .baud = cd->baud, .parity = cd->parity,
                    .data_bits = cd->data_bits, .stop_bits = cd->stop_bits,
                    .unit_id = cd->unit_id, .timeout_ms = cd->timeout_ms,
                };
                pl->buses[b].name = cd->serial;
                pl->buses[b].link = mb_link_new(&lp, derr, sizeof derr);
                if (!pl->buses[b].link) {
                    snprintf(err, errlen, "serial %s: %s", cd->serial, derr);
                    goto fail;
                }
            }
        }
        if (device_init(&dr->dev, cd, pl->buses[b].link, derr, sizeof derr) != 0) {
            snprintf(err, errlen, "device %s: %s", cd->name, derr);
            goto fail;
        }
        pl->nruns++;
        pl->devices[i] = &dr->dev;
        dr->ps = calloc(cd->npoints, sizeof *dr->ps);
        dr->scratch = calloc(cd->npoints, sizeof *dr->scratch);
        dr->alarms = calloc(cd->npoints ? cd->npoints : 1, sizeof *dr->alarms);
        dr->limits = calloc(cd->npoints ? cd->npoints : 1, sizeof *dr->limits);
        if (!dr->ps || !dr->scratch || !dr->alarms || !dr->limits)
            goto oom;
        for (size_t k = 0; k < cd->npoints; k++)
            alarm_limits_init(&dr->limits[k], &cd->points[k]);
        /* One transaction for the whole table: one fsync, not one per point. */
        int ok = store_begin(s) == 0;
        for (size_t k = 0; ok && k < cd->npoints; k++)
            ok = store_point_id(s, cd->points[k].tag, cd->name, cd->points[k].unit,
                                &dr->dev.point_ids[k]) == 0;
        if (!ok || store_commit(s) != 0) {
            snprintf(err, errlen, "store: %s", store_errmsg(s));
            store_rollback(s);
            goto fail;
        }
        dr->next_ms = now;
        dr->jitter_seed = (unsigned)(now + (int64_t)i * 7919);
        pl->buses[b].devs[pl->buses[b].ndevs++] = dr;
    }
    if (build_items(pl, s) != 0) {
        snprintf(err, errlen, "cannot set up tailings items: %s", store_errmsg(s));
        goto fail;
    }
    store_alarm_active(s, restore_alarm, pl);
    for (size_t b = 0; b < pl->nbuses; b++) {
        if (pthread_create(&pl->buses[b].thread, NULL, bus_main, &pl->buses[b]) != 0) {
            snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
            goto fail;
        }
        pl->buses[b].started = 1;
    }
    return pl;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    poller_stop(pl);
    return NULL;
}

void poller_stop(struct poller *pl)
{
    if (!pl)
        return;
    pthread_mutex_lock(&pl->lock);
    pl->stop = 1;
    pthread_cond_broadcast(&pl->wake);
    pthread_mutex_unlock(&pl->lock);
    for (size_t b = 0; b < pl->nbuses; b++) {
        if (pl->buses[b].started)
            pthread_join(pl->buses[b].thread, NULL);
        free(pl->buses[b].devs);
    }
    for (size_t i = 0; i < pl->nruns; i++) {
        device_fini(&pl->runs[i].dev);
        free(pl->runs[i].ps);
        free(pl->runs[i].scratch);
        free(pl->runs[i].alarms);
        free(pl->runs[i].limits);
    }
    for (size_t b = 0; b < pl->nbuses; b++)
        mb_link_free(pl->buses[b].link);
    for (size_t k = 0; k < pl->nitems; k++) {
        free(pl->items[k].name);
        free(pl->items[k].runs);
        free(pl->items[k].idx);
    }
    free(pl->items);
    pthread_mutex_destroy(&pl->items_lock);
    pthread_mutex_destroy(&pl->lock);
    pthread_cond_destroy(&pl->wake);
    free(pl->runs);
    free(pl->buses);
    free(pl->devices);
    free(pl);
}

struct device *const *poller_devices(struct poller *pl, size_t *n)
{
    *n = pl->nruns;
    return pl->devices;
}
