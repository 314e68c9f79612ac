/* uplink: one platform: the uplink thread's scheduling: alarms first, live
 * readings next, the backlog (补传) behind them at its rate; the durable cursor;
 * the accounting of backlog and losses; reconnects. The window of messages in
 * flight is uplink_window.c's, the wire the transport's (uplink_mqtt.c,
 * uplink_outbox.c). */
#include "agent/uplink.h"
#include "agent/alarm.h"
#include "agent/log.h"
#include "agent/uplink_impl.h"
#include "agent/uplink_mqtt.h"
#include "agent/uplink_outbox.h"
#include "core/clock.h"
#include "proto/profile.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often at most the cursor is written: a crash costs repeats, not losses. */
#define CURSOR_PERSIST_MS 250
/* How long a clean stop may spend delivering what is stored. */
#define STOP_DRAIN_MS 2000
/* Reconnecting: the first wait, and how long a connection must last before
 * the waits start again from it (reconnect_max is the longest). */
#define BACKOFF_MIN_MS 250
#define BACKOFF_RESET_MS 10000
/* How soon to try again when the transport is still closing the last connection. */
#define CONNECT_EARLY_MS 20
/* Read ahead per lane: this many messages' readings, at most READAHEAD_MAX (56 KB). */
#define READAHEAD_MESSAGES 8
#define READAHEAD_MAX 1024


/* A point's names by its store id: the configuration's own strings for the
 * configured points (8 bytes a point, not copies), copies from the store for
 * the rest (pseudo points, points of an earlier configuration in a backlog). */
static int point_name(struct uplink *u, uint32_t id, struct point_name *out)
{
    const struct conf_device *d;
    const struct conf_point *cp = uplink_format_point(&u->fmt, id, &d);
    if (cp) {
        *out = (struct point_name){ cp->tag, d->name, conf_point_unit(cp) };
        return 0;
    }
    if (id >= u->nnames) {
        size_t n = id + 64;
        struct point_copy *nn = realloc(u->names, n * sizeof *nn);
        if (!nn)
            return -1;
        memset(nn + u->nnames, 0, (n - u->nnames) * sizeof *nn);
        u->names = nn;
        u->nnames = n;
    }
    struct point_copy *p = &u->names[id];
    if (!p->tag) {
        char tag[256], dev[256], unit[64];
        if (store_point_info(u->store, id, tag, sizeof tag, dev, sizeof dev, unit, sizeof unit))
            snprintf(tag, sizeof tag, "#%u", id), dev[0] = unit[0] = 0;
        p->tag = strdup(tag);
        p->device = strdup(dev);
        p->unit = strdup(unit);
        if (!p->tag || !p->device || !p->unit) {
            free(p->tag), free(p->device), free(p->unit);
            p->tag = NULL;
            return -1;
        }
    }
    *out = (struct point_name){ p->tag, p->device, p->unit };
    return 0;
}

struct gather {
    struct uplink *u;
    struct readahead *ra;
    uint64_t limit;     /* stop before this seq (already delivered, or the other lane's) */
};

static int gather_one(void *arg, uint64_t seq, const struct reading *r)
{
    struct gather *g = arg;
    if (seq >= g->limit || g->ra->n >= g->ra->cap)
        return 1;
    struct point_name pn;
    if (point_name(g->u, r->point, &pn) != 0)
        return 1;
    g->ra->r[g->ra->n++] = (struct wire_reading){ seq, pn.tag, pn.device, pn.unit, *r };
    return 0;
}

/* Hand a message over: to paho, or (outbox) to a file, which is its own ack. */
static int send_next(struct uplink *u, enum lane lane, uint64_t next_seq, size_t max_inflight)
{
    const struct conf_uplink *cu = u->cu;
    uint64_t from, limit;
    pthread_mutex_lock(&u->lock);
    int some = window_room(u, max_inflight) && (lane == LANE_LIVE || window_backlog_room(u)) &&
               lanes_next(&u->lanes, lane, next_seq, &from, &limit);
    pthread_mutex_unlock(&u->lock);
    if (!some)
        return 0;
    /* The readings [from, limit) from the lane's read-ahead, read again when it
     * does not hold `from` itself (after a rewind it may start above it), or
     * holds less than a message from it while the store holds more. */
    struct readahead *ra = &u->ahead[lane];
    size_t at = 0, hi = ra->n, n = 0;
    while (at < hi) {   /* the first held seq >= from */
        size_t mid = at + (hi - at) / 2;
        if (ra->r[mid].seq < from)
            at = mid + 1;
        else
            hi = mid;
    }
    int holds = at < ra->n && ra->r[at].seq == from;
    while (holds && at + n < ra->n && n < cu->message_readings && ra->r[at + n].seq < limit)
        n++;
    uint64_t end = ra->n ? ra->r[ra->n - 1].seq + 1 : 0;
    if (!holds || (n < cu->message_readings && end < limit && end < next_seq)) {
        ra->n = 0;
        at = 0;
        struct gather g = { u, ra, limit };
        if (store_scan(u->store, from, ra->cap, gather_one, &g) < 0 || ra->n == 0) {
            uint64_t first = 0;
            if (ra->n == 0 && store_first_seq(u->store, &first) == 0 && first > from)
                return 0;   /* evicted meanwhile: the eviction check skips it */
            log_error("uplink", cu->name, "store read at seq %llu failed: %s",
                      (unsigned long long)from, store_errmsg(u->store));
            ra->n = 0;
            return 0;
        }
        n = ra->n < cu->message_readings ? ra->n : cu->message_readings;
    }
    if (!n)
        return 0;
    const struct wire_reading *msg = &ra->r[at];
    int resend = lane == LANE_BACKFILL;
    if (!resend) {
        int64_t oldest = msg[0].r.ts_ms;
        for (size_t i = 1; i < n; i++)
            if (msg[i].r.ts_ms < oldest)
                oldest = msg[i].r.ts_ms;
        resend = wall_ms() - oldest > cu->live_window_ms;
    }
    char topic[256];
    char *body = uplink_format_realtime(&u->fmt, msg, n, resend, NULL, 0, wall_ms(), topic,
                                        sizeof topic);
    if (!body)
        return 0;
    return window_send_tracked(u, MK_REALTIME, topic, body, cu->qos, msg[0].seq, msg[n - 1].seq, lane,
                        0);
}

/* Alarm events go ahead of every reading, live or backlog: one message of the
 * next undelivered events, acknowledged before the next. 1 sent, 0 nothing. */
#define ALARMS_PER_MESSAGE 50
static int send_alarms(struct uplink *u)
{
    pthread_mutex_lock(&u->lock);
    int ready = window_room(u, SIZE_MAX) && !u->alarm_inflight;
    uint64_t pos = u->alarm_pos;
    pthread_mutex_unlock(&u->lock);
    if (!ready)
        return 0;   /* (alarms_behind stands: the next message is still to come) */
    u->alarms_behind = 0;
    /* Nothing committed since the store last had no event from here on. */
    uint64_t stored = writer_alarms_stored(u->writer);
    if (stored == u->alarms_looked && pos == u->alarm_pos_looked)
        return 0;
    struct alarm_event ev[ALARMS_PER_MESSAGE];
    struct wire_alarm wa[ALARMS_PER_MESSAGE];
    uint32_t points[ALARMS_PER_MESSAGE];
    long n = store_alarms_after(u->store, pos - 1, ev, ALARMS_PER_MESSAGE);
    if (n == 0) {
        u->alarms_looked = stored;
        u->alarm_pos_looked = pos;
    }
    if (n <= 0)
        return 0;
    for (long i = 0; i < n; i++) {
        struct point_name pn;
        if (point_name(u, ev[i].point, &pn) != 0)
            return 0;
        wa[i] = (struct wire_alarm){ ev[i].id, pn.tag, pn.device, pn.unit,
                                     alarm_level_name(ev[i].level), ev[i].raised, ev[i].value,
                                     ev[i].threshold, ev[i].ts_ms };
        points[i] = ev[i].point;
    }
    char topic[256];
    char *body = uplink_format_alarm(&u->fmt, wa, points, (size_t)n, wall_ms(), topic,
                                     sizeof topic);
    if (!body)
        return 0;
    /* An alarm is never fire-and-forget, whatever the uplink's qos. */
    if (window_send_tracked(u, MK_ALARM, topic, body, 1, ev[0].id, ev[n - 1].id, LANE_LIVE, 1) <= 0)
        return 0;
    /* A full message: more may wait behind it, one message in flight at a time
     * (their order): the backlog waits until the last is made. */
    u->alarms_behind = n == ALARMS_PER_MESSAGE;
    return 1;
}

/* 0: an attempt started (or failed to); 1: too early, try again shortly. */
static int start_connect(struct uplink *u)
{
    char err[300];
    pthread_mutex_lock(&u->lock);
    u->connecting = 1;
    pthread_mutex_unlock(&u->lock);
    int rc = u->t->ops->connect(u->t, err, sizeof err);
    if (rc != 0) {
        pthread_mutex_lock(&u->lock);
        u->connecting = 0;
        if (rc < 0)
            u->st.connect_failures++;
        pthread_mutex_unlock(&u->lock);
        if (rc < 0)
            log_warn("uplink", u->cu->name, "%s", err);
    }
    return rc > 0;
}

static int first_ts(void *arg, uint64_t seq, const struct reading *r)
{
    *(int64_t *)arg = r->ts_ms;
    return 1;
}

/* Once a second: readings evicted before delivery (counted as lost), the
 * backlog, and the age of the oldest reading not yet delivered, for status. */
static void account(struct uplink *u, uint64_t next_seq)
{
    uint64_t first;
    if (store_first_seq(u->store, &first) != 0)
        return;     /* the store could not be read: account next time */
    pthread_mutex_lock(&u->lock);
    if (!first) {
        u->st.backlog = 0;
        u->st.oldest_pending_ms = 0;
        pthread_mutex_unlock(&u->lock);
        return;
    }
    uint64_t lost = 0;
    if (u->history_unknown) {
        /* A new uplink, or a fresh store after a corrupt one was moved aside
         * (its seqs start far above 1): what lies below was never this
         * uplink's to send. */
        lanes_begin(&u->lanes, first);
        u->history_unknown = 0;
    } else {
        lost = lanes_evicted(&u->lanes, first);
    }
    uint64_t oldest = ranges_next_gap(&u->lanes.delivered, first);
    u->st.backlog = lanes_waiting(&u->lanes, first, next_seq);
    u->st.dropped = u->lanes.lost;
    pthread_mutex_unlock(&u->lock);
    if (lost)
        log_warn("uplink", u->cu->name, "%llu readings were evicted from the store before they "
                 "were delivered (%llu lost in all)", (unsigned long long)lost,
                 (unsigned long long)u->st.dropped);
    int64_t ts = 0, age = 0;
    if (oldest < next_seq && store_scan(u->store, oldest, 1, first_ts, &ts) > 0)
        age = wall_ms() - ts;
    pthread_mutex_lock(&u->lock);
    u->st.oldest_pending_ms = age > 0 ? age : 0;
    pthread_mutex_unlock(&u->lock);
}

static void persist_cursor(struct uplink *u)
{
    struct store_cursor c;
    pthread_mutex_lock(&u->lock);
    c.acked = lanes_cursor(&u->lanes);
    c.lost = u->lanes.lost;
    c.alarm_acked = u->alarm_acked;
    int fits = ranges_format(&u->lanes.delivered, c.delivered, sizeof c.delivered) == 0;
    pthread_mutex_unlock(&u->lock);
    if (!fits)
        /* Too many islands to record (should not happen): keep the plain cursor; a
         * crash then costs repeats of what lies beyond it, never losses. */
        c.delivered[0] = 0;
    if (!strcmp(c.delivered, u->persisted) && c.lost == u->persisted_lost &&
        c.alarm_acked == u->persisted_alarm)
        return;
    if (store_cursor_set(u->store, u->cu->name, &c) == 0) {
        snprintf(u->persisted, sizeof u->persisted, "%s", c.delivered);
        u->persisted_lost = c.lost;
        u->persisted_alarm = c.alarm_acked;
        u->cursor_failures = 0;
    } else if (u->cursor_failures++ % 100 == 0) {
        /* A crash meanwhile costs repeats of what was delivered, not losses. */
        log_error("uplink", u->cu->name, "cannot save cursor: %s (%llu times)",
                  store_errmsg(u->store), (unsigned long long)u->cursor_failures);
    }
}

/* The point definitions, on every connect (profiles that have them). */
static void send_points(struct uplink *u)
{
    char topic[256];
    char *body = uplink_format_points(&u->fmt, wall_ms(), topic, sizeof topic);
    if (body)   /* retained: a platform that subscribes later still learns the points */
        window_send_untracked(u, MK_POINTS, topic, body, 1, 1);
}

/* Where the live lane starts after a (re)connect: at the first reading sampled
 * within the live window; what is older and undelivered is the backlog. */
static uint64_t live_start_now(struct uplink *u)
{
    uint64_t first = 0;
    store_first_seq(u->store, &first);
    pthread_mutex_lock(&u->lock);
    uint64_t lowest = ranges_next_gap(&u->lanes.delivered, first ? first : 1);
    pthread_mutex_unlock(&u->lock);
    return store_seq_since(u->store, lowest, wall_ms() - u->cu->live_window_ms);
}

/* How many backfill messages the rate allows now (backfill_rate 0: no limit). */
static size_t backfill_allowance(struct uplink *u, int64_t now, int64_t *last)
{
    double rate = u->cu->backfill_rate;
    if (rate <= 0)
        return SIZE_MAX;
    u->tokens += rate * (double)(now - *last) / 1000.0;
    *last = now;
    double cap = rate < 1 ? 1 : rate;
    if (u->tokens > cap)
        u->tokens = cap;
    return u->tokens >= 1 ? (size_t)u->tokens : 0;
}

/* A broker that takes messages and acknowledges none (stuck, or a bridge that
 * lost its other side) would hold the window full for ever, and one that
 * loses some acknowledgements would hold those messages, and the cursor behind
 * them, until the next reconnect. When a message has waited ack_timeout, the
 * connection is dropped and made again; what was in flight is sent again. */
static void check_acks(struct uplink *u, int64_t now)
{
    pthread_mutex_lock(&u->lock);
    int64_t since = 0;
    for (size_t i = 0; i < u->nslots; i++) {
        const struct flight *f = &u->slots[i];
        if (f->used && f->handed && (!since || f->handed_ms < since))
            since = f->handed_ms;
    }
    size_t handed = u->handed;
    /* Once a connection: the loss of it follows, and voids these flights. */
    int stuck = since && !u->dropping && now - since >= u->cu->ack_timeout_ms;
    if (stuck) {
        u->dropping = 1;
        u->st.ack_timeouts++;
        snprintf(u->st.last_error, sizeof u->st.last_error,
                 "a message unacknowledged for %lld ms (%zu in flight)",
                 (long long)(now - since), handed);
    }
    pthread_mutex_unlock(&u->lock);
    if (!stuck)
        return;
    log_warn("uplink", u->cu->name, "%zu messages in flight, the oldest unacknowledged for %lld s "
             "(ack_timeout): dropping the connection to make it again", handed,
             (long long)((now - since) / 1000));
    u->t->ops->drop(u->t, "no acknowledgement");
}

static void *uplink_main(void *arg)
{
    struct uplink *u = arg;
    const struct conf_uplink *cu = u->cu;
    int64_t next_connect = 0, backoff = BACKOFF_MIN_MS, last_persist = 0, drain_until = 0;
    int64_t up_since = 0, last_ack_check = 0;
    /* Each gateway its own jitter: after a provincial broker restarts, its
     * thousands of gateways must not redial in step. */
    unsigned jitter_seed = (unsigned)wall_ms() ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)u;
    int64_t last_account = 0, last_tokens = mono_ms();
    /* The live lane always keeps a slot of the window, and takes every slot that
     * frees before the backlog does: a backlog never starves it, and a drain
     * keeps the window full. */
    size_t backfill_window = u->pace.ceiling;   /* the window less the live lane's slot */
    uint64_t next_seq = writer_next_seq(u->writer);
    for (;;) {
        pthread_mutex_lock(&u->lock);
        int stop = u->stop, connected = u->connected, connecting = u->connecting;
        int rewind = u->rewind, fresh = u->fresh_connect, diagnose = u->diagnose;
        u->diagnose = 0;
        u->rewind = 0;
        u->fresh_connect = 0;
        size_t inflight = u->inflight[LANE_LIVE] + u->inflight[LANE_BACKFILL];
        pthread_mutex_unlock(&u->lock);
        if (rewind) {
            /* Whatever was in flight may be lost: send again what is not acked. */
            uint64_t live_start = fresh ? live_start_now(u) : 0;
            uint64_t first = 0;
            store_first_seq(u->store, &first);
            pthread_mutex_lock(&u->lock);
            window_void(u);     /* what was queued or in flight is sent again below */
            inflight = 0;
            lanes_rewind(&u->lanes, first, live_start);
            uint64_t backlog = live_start > u->lanes.pos[LANE_BACKFILL]
                             ? u->lanes.live_start - u->lanes.pos[LANE_BACKFILL] : 0;
            pthread_mutex_unlock(&u->lock);
            if (fresh && backlog)
                log_info("uplink", cu->name, "re-uploading a backlog of up to %llu readings "
                         "behind live data", (unsigned long long)backlog);
            if (fresh)
                send_points(u);
            if (u->cmd) {
                commands_rewind(u);
                if (fresh)
                    commands_connected(u);
            }
        }
        uint64_t from, limit;
        if (stop) {
            /* On a clean stop, deliver what the store holds, for a short while. */
            int64_t t = mono_ms();
            if (!drain_until)
                drain_until = t + STOP_DRAIN_MS;
            next_seq = writer_next_seq(u->writer);
            pthread_mutex_lock(&u->lock);
            int more = lanes_next(&u->lanes, LANE_LIVE, next_seq, &from, &limit) ||
                       lanes_next(&u->lanes, LANE_BACKFILL, next_seq, &from, &limit) ||
                       u->alarm_inflight;
            uint64_t apos = u->alarm_pos;
            pthread_mutex_unlock(&u->lock);
            struct alarm_event one;
            more |= store_alarms_after(u->store, apos - 1, &one, 1) > 0;
            if (!connected || t >= drain_until || (!more && inflight == 0))
                break;
        }
        if (diagnose)
            u->t->ops->diagnose(u->t);     /* in words, what paho could not say */
        int64_t now = mono_ms();
        if (!connected && !connecting && now >= next_connect) {
            if (start_connect(u)) {
                next_connect = now + CONNECT_EARLY_MS;
            } else {
                /* Half the step, and up to as much again at random: never longer
                 * than reconnect_max. */
                next_connect = now + backoff / 2 + rand_r(&jitter_seed) % (backoff / 2 + 1);
                backoff = backoff * 2 > cu->reconnect_max_ms ? cu->reconnect_max_ms : backoff * 2;
            }
        }
        /* Only a connection that lasted resets the backoff: a flapping link, or a
         * broker that drops each connection at once, would otherwise be redialled
         * four times a second. */
        if (!connected)
            up_since = 0;
        else if (!up_since)
            up_since = now;
        else if (now - up_since >= BACKOFF_RESET_MS)
            backoff = BACKOFF_MIN_MS;
        if (connected && u->t->ops->drop && now - last_ack_check >= 250) {
            check_acks(u, now);
            last_ack_check = now;
        }
        if (now - last_persist >= CURSOR_PERSIST_MS) {
            persist_cursor(u);
            last_persist = now;
        }
        if (now - last_account >= 1000) {
            account(u, next_seq);
            last_account = now;
        }
        /* Alarms first, then live readings, then the backlog within its rate and
         * its share of the window. */
        int sent = send_alarms(u);
        while (send_next(u, LANE_LIVE, next_seq, cu->max_inflight) > 0)
            sent++;
        /* Stored alarms go out ahead of the backlog, all of them (after an outage,
         * several messages' worth), not only the first message. */
        size_t allowance = u->alarms_behind ? 0 : backfill_allowance(u, now, &last_tokens);
        while (allowance > 0 && send_next(u, LANE_BACKFILL, next_seq, backfill_window) > 0) {
            sent++;
            allowance--;
            if (cu->backfill_rate > 0)
                u->tokens -= 1;
        }
        /* Commands, and what a resend command sends: behind the backlog, within
         * what the rate leaves and the backlog's share of the window. */
        if (u->cmd) {
            size_t req = commands_work(u, allowance, backfill_window);
            sent += req;
            if (cu->backfill_rate > 0)
                u->tokens -= (double)req;
        }
        if (!sent) {
            /* Wait for new readings, an ack or room; a rate-limited backlog
             * wakes soon, a failed connect when its backoff ends. */
            int wait = cu->backfill_rate > 0 ? 20 : 100;
            if (!connected && !connecting && next_connect - now < wait)
                wait = next_connect > now ? (int)(next_connect - now) : 0;
            wake_wait(&u->wake, wait);
        }
        next_seq = writer_next_seq(u->writer);
    }
    persist_cursor(u);
    return NULL;
}

/* An outbox's folder (url = file:///DIR, checked by the configuration), or NULL
 * for a broker. */
static const char *outbox_dir(const struct conf_uplink *cu)
{
    return strncmp(cu->urls[0], "file://", 7) == 0 ? cu->urls[0] + 7 : NULL;
}

struct uplink *uplink_start(const struct conf *c, const struct conf_uplink *cu,
                            struct writer *w, char *err, size_t errlen)
{
    struct uplink *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->outq_cond, NULL);
    wake_init(&u->wake);
    u->cu = cu;
    const struct profile_info *pi = profile_find(cu->profile);
    if (!pi || !pi->implemented) {
        /* Never send a regulator a format it did not ask for. */
        snprintf(err, errlen, "profile '%s' is not available in this version of Ganzhi",
                 cu->profile);
        goto fail;
    }
    u->writer = w;
    u->site = (struct wire_site){ c->agent.enterprise_code, c->agent.enterprise_name,
                                  c->agent.gateway_code, c->agent.district_code,
                                  c->agent.wire_tz_minutes };
    lanes_init(&u->lanes);
    pace_init(&u->pace, cu->max_inflight > 1 ? cu->max_inflight - 1 : 1, cu->backfill_delay_ms);
    for (int i = 0; i < 2; i++) {
        size_t cap = cu->message_readings * READAHEAD_MESSAGES;
        if (cap > READAHEAD_MAX)
            cap = READAHEAD_MAX > cu->message_readings ? READAHEAD_MAX : cu->message_readings;
        u->ahead[i].r = calloc(cap, sizeof *u->ahead[i].r);
        u->ahead[i].cap = cap;
        if (!u->ahead[i].r) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    u->store = store_open(c->agent.data_dir, STORE_READ, err, errlen);
    if (!u->store)
        goto fail;
    struct store_cursor cur;
    if (store_cursor_get(u->store, cu->name, &cur) != 0) {
        snprintf(err, errlen, "cannot read cursor: %s", store_errmsg(u->store));
        goto fail;
    }
    /* A delivered set that is not what ranges_format writes (a corrupt row) is
     * rejected and rebuilt from the plain acked seq alone: every seq above it
     * is sent again. Repeats, never losses; refusing to start would send nothing. */
    if (ranges_parse(&u->lanes.delivered, cur.delivered) != 0) {
        log_error("uplink", cu->name, "cursor's delivered set is unreadable ('%.64s'): "
                  "rebuilt from the acked seq %llu; readings above it are sent again",
                  cur.delivered, (unsigned long long)cur.acked);
        ranges_free(&u->lanes.delivered);
    }
    if (cur.acked && ranges_add(&u->lanes.delivered, 1, cur.acked) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    u->lanes.lost = cur.lost;
    u->alarm_acked = u->persisted_alarm = cur.alarm_acked;
    u->alarm_pos = cur.alarm_acked + 1;
    snprintf(u->persisted, sizeof u->persisted, "%s", cur.delivered);
    u->persisted_lost = cur.lost;
    u->history_unknown = !cur.acked && !cur.delivered[0] && !cur.lost;
    u->alarms_looked = UINT64_MAX;  /* events of an earlier run: look once */
    if (uplink_format_init(&u->fmt, c, cu, &u->site, u->store, err, errlen) != 0)
        goto fail;
    lanes_rewind(&u->lanes, 1, 0);
    struct transport_events ev;
    window_events(u, &ev);
    const char *dir = outbox_dir(cu);
    u->t = dir ? uplink_outbox_open(cu->name, dir, u->fmt.generic ? NULL : u->fmt.profile,
                                    &u->site, &ev, err, errlen)
               : uplink_mqtt_open(cu, &ev, err, errlen);
    if (!u->t)
        goto fail;
    if (cu->commands && strcmp(cu->commands, "on") == 0 && !dir &&
        commands_start(u, c, err, errlen) != 0)
        goto fail;
    if (window_start(u, err, errlen) != 0)
        goto fail;
    if (writer_watch(w, &u->wake) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pthread_create(&u->thread, NULL, uplink_main, u) != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
        goto fail;
    }
    u->started = 1;
    log_info("uplink", cu->name, "delivered up to seq %llu; sending to %s",
             (unsigned long long)lanes_cursor(&u->lanes), cu->urls[0]);
    return u;
fail:
    uplink_stop(u);
    return NULL;
}

void uplink_stop(struct uplink *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->lock);
    u->stop = 1;
    pthread_mutex_unlock(&u->lock);
    if (u->started) {
        wake_ring(&u->wake);
        pthread_join(u->thread, NULL);
    }
    if (u->writer)
        writer_unwatch(u->writer, &u->wake);
    /* The sender hands over what the uplink thread queued last; the transport
     * then closes (no event after that), and only then the window goes. */
    window_stop(u);
    if (u->t)
        u->t->ops->close(u->t);
    window_free(u);
    commands_free(u);
    uplink_format_free(&u->fmt);
    store_close(u->store);
    for (size_t i = 0; i < u->nnames; i++) {
        free(u->names[i].tag);
        free(u->names[i].device);
        free(u->names[i].unit);
    }
    free(u->names);
    lanes_free(&u->lanes);
    free(u->ahead[0].r);
    free(u->ahead[1].r);
    wake_destroy(&u->wake);
    pthread_cond_destroy(&u->outq_cond);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void uplink_get_stats(struct uplink *u, struct uplink_stats *out)
{
    pthread_mutex_lock(&u->lock);
    *out = u->st;
    out->connected = u->connected;
    out->acked_seq = lanes_cursor(&u->lanes);
    out->dropped = u->lanes.lost;
    out->inflight = u->inflight[LANE_LIVE] + u->inflight[LANE_BACKFILL];
    out->queued = u->outq_tracked;
    out->queue_max = u->outq_tracked_max;
    out->queued_bytes = u->outq_bytes;
    out->queue_bytes_max = u->outq_bytes_max;
    out->inflight_bytes = u->handed_bytes;
    out->backlog_window = pace_window(&u->pace);
    out->queue_delay_ms = u->pace.queued_ms;
    out->inflight_bytes_max = (uint64_t)u->cu->max_inflight_bytes;
    out->backfilling = u->lanes.pos[LANE_BACKFILL] < u->lanes.live_start;
    pthread_mutex_unlock(&u->lock);
}

void uplink_publish_status(struct uplink *u, const struct agent_status *body)
{
    pthread_mutex_lock(&u->lock);
    int connected = u->connected;
    pthread_mutex_unlock(&u->lock);
    if (!connected)
        return;
    char topic[256];
    char *s = uplink_format_status(&u->fmt, body, wall_ms(), topic, sizeof topic);
    if (s)
        window_send_untracked(u, MK_STATUS, topic, s, 0, 0);
}
