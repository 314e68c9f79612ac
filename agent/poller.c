/* poller: bus threads, poll scheduling, failure backoff, deadband and heartbeat;
 * which devices share a bus, and the listeners of DTUs that dial in. */
#include "core/clock.h"
#include "agent/poller.h"
#include "agent/alarm_watch.h"
#include "agent/deadband.h"
#include "agent/log.h"
#include "drivers/dtu_listen.h"
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dev_run {
    struct device dev;
    struct deadband_state *ps;
    int64_t next_ms;        /* monotonic time of the next poll */
    unsigned failures;      /* consecutive polls without an answer */
    unsigned jitter_seed;
    uint64_t drops, dropped;    /* polls and readings the full store queue refused */
    atomic_int measure;         /* a platform asked (召测): poll now, keep every reading */
};

struct bus {
    struct poller *owner;
    pthread_t thread;
    int started;
    struct mb_link *link;       /* shared by the bus's devices (NULL: a device's own) */
    struct dev_run **devs;
    size_t ndevs;
    atomic_int dtu_arrived;     /* the bus's DTU dialled in: poll whoever waits at once */
    char describe[160];
    struct link_figures fig;    /* the link's counters, as of its last poll */
};

/* A DTU listener, and the address it was configured with. */
struct listener {
    struct dtu_listener *l;
    const char *host;
    int port;
};

struct poller {
    struct writer *writer;
    struct alarm_watch *alarms;     /* limits, tailings colours and items */
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
    struct listener *listeners;
    size_t nlisteners;
    struct device **devices;
};

/* Flag the readings of a poll taken while the clock is behind the latest sample
 * time already seen (stepped back, or not yet set after a boot). seq keeps the
 * true order whatever the clock says. */
static void check_clock(struct poller *pl, struct dev_run *dr, struct reading *poll)
{
    const struct conf_device *c = dr->dev.conf;
    int64_t floor = atomic_load(&pl->clock_floor_ms), newest = 0;
    int behind = 0;
    for (size_t i = 0; i < c->npoints; i++) {
        struct reading *r = &poll[i];
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

/* Keep what the deadband keeps of a poll (b holds every point's reading, in
 * point order) and hand it to the writer; b is taken either way. */
static void submit(struct poller *pl, struct dev_run *dr, struct batch *b, int keep_all)
{
    const struct conf_device *c = dr->dev.conf;
    int64_t heartbeat = c->interval_ms * DEADBAND_HEARTBEAT_INTERVALS;
    size_t n = 0;
    b->seq0 = 0;
    b->ts_ms = INT64_MAX;
    /* In place: a kept reading moves down to the next free place. */
    for (size_t i = 0; i < c->npoints; i++) {
        const struct reading *r = &b->r[i];
        if (!deadband_keep(&dr->ps[i], c->points[i].deadband, r, heartbeat) && !keep_all)
            continue;
        if (r->ts_ms < b->ts_ms)
            b->ts_ms = r->ts_ms;
        deadband_kept(&dr->ps[i], r);
        b->r[n++] = *r;
    }
    b->n = (uint32_t)n;
    if (n == 0) {
        free(b);
        return;
    }
    /* Packed here, on the bus's thread: the writer's queue holds a third of
     * the bytes (a slow commit at 100,000 readings a second queues megabytes). */
    if (writer_submit(pl->writer, batch_pack(b)) != 0) {
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
    /* A measure command's poll: every reading stored, and the schedule kept. */
    int measured = atomic_exchange(&dr->measure, 0);
    int64_t scheduled = dr->next_ms;
    uint64_t splits = atomic_load(&dr->dev.stats.splits);
    /* The poll is read straight into the batch the writer will take: no copy,
     * and no buffer per point kept between polls. */
    struct batch *b = malloc(sizeof *b + c->npoints * sizeof b->r[0]);
    if (!b) {
        log_error("device", c->name, "out of memory: poll skipped");
        dr->next_ms = mono_ms() + c->interval_ms;
        return;
    }
    int failed = device_poll(&dr->dev, b->r);
    check_clock(pl, dr, b->r);
    /* Alarms see every poll, not only the readings the deadband keeps. */
    alarm_watch_poll(pl->alarms, (size_t)(dr - pl->runs), b->r);
    if (atomic_load(&dr->dev.stats.splits) != splits)
        log_info("device", c->name, "%s", dr->dev.last_error);
    submit(pl, dr, b, measured);
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
    if (measured && !failed && scheduled > now) {
        dr->next_ms = scheduled;
        return;
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

/* The link's counters, for status: the bus's thread owns the link, anyone reads
 * the figures. */
static void publish_link(struct bus *bus, struct mb_link *link)
{
    struct mb_link_stats st;
    mb_link_get_stats(link, &st);
    struct link_figures *f = &bus->fig;
    atomic_store(&f->open, mb_link_is_open(link));
    atomic_store(&f->connects, st.connects);
    atomic_store(&f->disconnects, st.disconnects);
    atomic_store(&f->timeouts, st.timeouts);
    atomic_store(&f->crc_errors, st.crc_errors);
    atomic_store(&f->bad_replies, st.bad_replies);
    atomic_store(&f->foreign, st.foreign);
    atomic_store(&f->echoes, st.echoes);
    atomic_store(&f->heartbeats, st.heartbeats);
    atomic_store(&f->drained_bytes, st.drained_bytes);
}

static void *bus_main(void *arg)
{
    struct bus *bus = arg;
    struct poller *pl = bus->owner;
    pthread_mutex_lock(&pl->lock);
    while (!pl->stop) {
        if (atomic_exchange(&bus->dtu_arrived, 0)) {
            /* Its devices were failing for want of a connection: not any more. */
            int64_t now = mono_ms();
            for (size_t i = 0; i < bus->ndevs; i++)
                if (bus->devs[i]->failures && bus->devs[i]->next_ms > now)
                    bus->devs[i]->next_ms = now;
        }
        struct dev_run *due = bus->devs[0];
        for (size_t i = 1; i < bus->ndevs; i++)
            if (bus->devs[i]->next_ms < due->next_ms)
                due = bus->devs[i];
        int64_t now = mono_ms();
        for (size_t i = 0; i < bus->ndevs; i++)
            if (atomic_load(&bus->devs[i]->measure)) {
                due = bus->devs[i];     /* asked for now: ahead of the schedule */
                break;
            }
        if (atomic_load(&due->measure) && due->next_ms > now) {
            pthread_mutex_unlock(&pl->lock);
            poll_one(pl, due, now);
            publish_link(bus, due->dev.link);
            pthread_mutex_lock(&pl->lock);
            continue;
        }
        if (due->next_ms > now) {
            struct timespec until = { due->next_ms / 1000, (long)(due->next_ms % 1000) * 1000000 };
            pthread_cond_timedwait(&pl->wake, &pl->lock, &until);
            continue;
        }
        pthread_mutex_unlock(&pl->lock);
        poll_one(pl, due, now);
        publish_link(bus, due->dev.link);
        pthread_mutex_lock(&pl->lock);
    }
    pthread_mutex_unlock(&pl->lock);
    return NULL;
}

static const char *dtu_event_text(enum dtu_event ev)
{
    switch (ev) {
    case DTU_REGISTERED: return "dialled in";
    case DTU_REPLACED: return "dialled in again: its new connection replaces the old";
    case DTU_UNKNOWN: return "refused: a registration packet no device names";
    case DTU_NO_REGISTRATION: return "refused: no registration packet in time";
    case DTU_FULL: return "refused: too many connections waiting to register";
    }
    return "?";
}

/* From a listener's thread. Refusals are rate-limited: a stranger retrying every
 * second must not fill the log. */
static void on_dtu_event(void *arg, enum dtu_event ev, const char *peer, const char *what)
{
    struct listener *ls = arg;
    static _Atomic int64_t last_refusal_ms;
    static atomic_uint refusals_unlogged;
    const char *addr = dtu_listen_address(ls->l);
    if (ev == DTU_REGISTERED) {
        log_info("dtu", what, "%s from %s (on %s)", dtu_event_text(ev), peer, addr);
        return;
    }
    if (ev == DTU_REPLACED) {
        log_warn("dtu", what, "%s (from %s; two DTUs with one registration id flap like this)",
                 dtu_event_text(ev), peer);
        return;
    }
    int64_t now = mono_ms(), last = atomic_load(&last_refusal_ms);
    if (now - last < 10000) {
        atomic_fetch_add(&refusals_unlogged, 1);
        return;
    }
    atomic_store(&last_refusal_ms, now);
    unsigned more = atomic_exchange(&refusals_unlogged, 0);
    log_warn("dtu", NULL, "connection from %s on %s %s%s%s%s", peer, addr, dtu_event_text(ev),
             what[0] ? " (received " : "", what, what[0] ? ")" : "");
    if (more)
        log_warn("dtu", NULL, "(and %u more refusals in the last 10 s, not logged)", more);
}

static void wake_bus(void *arg)
{
    struct bus *bus = arg;
    atomic_store(&bus->dtu_arrived, 1);
    pthread_mutex_lock(&bus->owner->lock);
    pthread_cond_broadcast(&bus->owner->wake);
    pthread_mutex_unlock(&bus->owner->lock);
}

/* The slot of cd's DTU, on the listener of its address (opened on first use). */
static struct dtu_slot *dtu_slot_for(struct poller *pl, const struct conf *c,
                                     const struct conf_device *cd, char *err, size_t errlen)
{
    size_t i;
    for (i = 0; i < pl->nlisteners; i++)
        if (pl->listeners[i].port == cd->listen_port &&
            strcmp(pl->listeners[i].host, cd->listen_host) == 0)
            break;
    if (i == pl->nlisteners) {
        struct listener *ls = &pl->listeners[i];
        struct dtu_listen_params lp = {
            .host = cd->listen_host, .port = cd->listen_port,
            .register_timeout_ms = c->agent.dtu_register_timeout_ms,
            .pending_max = c->agent.dtu_pending_max, .on_event = on_dtu_event, .event_arg = ls,
        };
        ls->host = cd->listen_host;
        ls->port = cd->listen_port;
        ls->l = dtu_listen_open(&lp, err, errlen);
        if (!ls->l)
            return NULL;
        pl->nlisteners++;
    }
    struct dtu_slot *slot = dtu_listen_expect(pl->listeners[i].l, cd->dtu_id, cd->dtu_id_len,
                                              cd->heartbeat_len ? cd->heartbeat_bytes : NULL,
                                              cd->heartbeat_len);
    if (!slot)
        snprintf(err, errlen, "out of memory");
    return slot;
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
    pthread_cond_init(&pl->wake, &ca);
    pthread_condattr_destroy(&ca);
    pl->runs = calloc(c->ndevices, sizeof *pl->runs);
    pl->buses = calloc(c->ndevices, sizeof *pl->buses);
    pl->listeners = calloc(c->ndevices, sizeof *pl->listeners);
    pl->devices = calloc(c->ndevices, sizeof *pl->devices);
    if (!pl->runs || !pl->buses || !pl->listeners || !pl->devices)
        goto oom;
    int64_t now = mono_ms();
    for (size_t i = 0; i < c->ndevices; i++) {
        const struct conf_device *cd = &c->devices[i];
        struct dev_run *dr = &pl->runs[i];
        char derr[200];
        size_t b;
        for (b = 0; b < pl->nbuses; b++)
            /* one wire, one bus (a `link = own` device is a bus of its own) */
            if (conf_same_bus(pl->buses[b].devs[0]->dev.conf, cd))
                break;
        struct bus *bus = &pl->buses[b];
        if (b == pl->nbuses) {
            *bus = (struct bus){ .owner = pl };
            bus->devs = calloc(c->ndevices, sizeof(struct dev_run *));
            if (!bus->devs)
                goto oom;
            pl->nbuses++;
            /* Every bus owns its link but a `link = own` device's, which the
             * device makes (the CLI's devices do the same). */
            if (!(cd->driver == CONF_MODBUS_TCP && cd->link == CONF_LINK_OWN)) {
                struct mb_link_params lp;
                device_link_params(cd, &lp);
                if (cd->driver == CONF_MODBUS_RTU_TCP && cd->listen &&
                    !(lp.dtu = dtu_slot_for(pl, c, cd, derr, sizeof derr))) {
                    snprintf(err, errlen, "device %s: %s", cd->name, derr);
                    goto fail;
                }
                bus->link = mb_link_new(&lp, derr, sizeof derr);
                if (!bus->link) {
                    snprintf(err, errlen, "device %s: %s", cd->name, derr);
                    goto fail;
                }
                if (lp.dtu)
                    dtu_slot_on_connect(lp.dtu, wake_bus, bus);
            }
        }
        if (device_init(&dr->dev, cd, bus->link, derr, sizeof derr) != 0) {
            snprintf(err, errlen, "device %s: %s", cd->name, derr);
            goto fail;
        }
        pl->nruns++;
        pl->devices[i] = &dr->dev;
        dr->ps = calloc(cd->npoints, sizeof *dr->ps);
        if (!dr->ps)
            goto oom;
        /* One transaction for the whole table: one fsync, not one per point. */
        int ok = store_begin(s) == 0;
        for (size_t k = 0; ok && k < cd->npoints; k++)
            ok = store_point_id(s, cd->points[k].tag, cd->name, conf_point_unit(&cd->points[k]),
                                &dr->dev.point_ids[k]) == 0;
        if (!ok || store_commit(s) != 0) {
            snprintf(err, errlen, "store: %s", store_errmsg(s));
            store_rollback(s);
            goto fail;
        }
        /* First polls spread over the first second (or interval, if shorter):
         * devices then keep their own grids apart, and a site's polls, commits
         * and messages do not all come in one burst each period. */
        int64_t spread = cd->interval_ms < 1000 ? cd->interval_ms : 1000;
        dr->next_ms = now + spread * (int64_t)i / (int64_t)c->ndevices;
        dr->jitter_seed = (unsigned)(now + (int64_t)i * 7919);
        bus->devs[bus->ndevs++] = dr;
    }
    pl->alarms = alarm_watch_create(c, pl->devices, pl->nruns, s, w, err, errlen);
    if (!pl->alarms)
        goto fail;
    for (size_t b = 0; b < pl->nbuses; b++) {
        struct bus *bus = &pl->buses[b];
        mb_link_describe(bus->devs[0]->dev.link, bus->describe, sizeof bus->describe);
        for (size_t i = 0; i < bus->ndevs; i++)
            bus->devs[i]->dev.bus = bus->describe;
        if (bus->ndevs > 1)
            log_info("agent", NULL, "%zu devices share one bus: %s", bus->ndevs, bus->describe);
        if (pthread_create(&bus->thread, NULL, bus_main, bus) != 0) {
            snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
            goto fail;
        }
        bus->started = 1;
    }
    for (size_t i = 0; i < pl->nlisteners; i++) {
        if (dtu_listen_start(pl->listeners[i].l, err, errlen) != 0)
            goto fail;
        log_info("agent", NULL, "listening for DTUs on %s", dtu_listen_address(pl->listeners[i].l));
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
    /* The listeners first: they wake buses. */
    for (size_t i = 0; i < pl->nlisteners; i++)
        dtu_listen_free(pl->listeners[i].l);
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
    }
    for (size_t b = 0; b < pl->nbuses; b++)
        mb_link_free(pl->buses[b].link);
    alarm_watch_free(pl->alarms);
    pthread_mutex_destroy(&pl->lock);
    pthread_cond_destroy(&pl->wake);
    free(pl->runs);
    free(pl->buses);
    free(pl->listeners);
    free(pl->devices);
    free(pl);
}

struct device *const *poller_devices(struct poller *pl, size_t *n)
{
    *n = pl->nruns;
    return pl->devices;
}

int poller_measure(struct poller *pl, const char *device)
{
    for (size_t i = 0; i < pl->nruns; i++)
        if (strcmp(pl->runs[i].dev.conf->name, device) == 0) {
            atomic_store(&pl->runs[i].measure, 1);
            pthread_mutex_lock(&pl->lock);
            pthread_cond_broadcast(&pl->wake);
            pthread_mutex_unlock(&pl->lock);
            return 0;
        }
    return -1;
}

size_t poller_links(struct poller *pl, struct link_status *out, size_t max)
{
    size_t n = 0;
    for (size_t b = 0; b < pl->nbuses && n < max; b++, n++) {
        const struct bus *bus = &pl->buses[b];
        out[n] = (struct link_status){ .describe = bus->describe, .devices = bus->ndevs,
                                       .fig = &bus->fig };
    }
    return n;
}

size_t poller_listeners(struct poller *pl, struct listener_status *out, size_t max)
{
    size_t n = 0;
    for (; n < pl->nlisteners && n < max; n++) {
        out[n].address = dtu_listen_address(pl->listeners[n].l);
        dtu_listen_get_stats(pl->listeners[n].l, &out[n].st);
    }
    return n;
}
