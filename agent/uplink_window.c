/* uplink_window: an uplink's messages between its thread and the platform: the
 * hand-off queue, the sender thread that gives messages to the transport, the
 * window of messages awaiting acknowledgement, and the transport's events. */
#include "agent/uplink_impl.h"
#include "agent/log.h"
#include "core/clock.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the transport's events (any thread) ---- */

static void on_connected(void *ctx, const char *server)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->connected = 1;
    u->connecting = 0;
    u->rewind = 1;
    u->fresh_connect = 1;
    u->dropping = 0;
    pace_restart(&u->pace);
    u->st.connects++;
    snprintf(u->st.server, sizeof u->st.server, "%s", server);
    u->st.last_error[0] = 0;
    pthread_mutex_unlock(&u->lock);
    log_info("uplink", u->cu->name, "connected to %s", server);
    wake_ring(&u->wake);
}

static void on_connect_failed(void *ctx, const char *why)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->connecting = 0;
    uint64_t n = ++u->st.connect_failures;
    snprintf(u->st.last_error, sizeof u->st.last_error, "%s", why);
    int report = n <= 3 || n % 60 == 0;
    u->diagnose = report && u->t->ops->diagnose;
    pthread_mutex_unlock(&u->lock);
    if (report)
        log_warn("uplink", u->cu->name, "%s; %llu failed attempts", why, (unsigned long long)n);
    wake_ring(&u->wake);
}

static void on_lost(void *ctx, const char *cause)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->connected = 0;
    u->rewind = 1;
    pthread_mutex_unlock(&u->lock);
    log_warn("uplink", u->cu->name, "connection lost%s%s", *cause ? ": " : "", cause);
    wake_ring(&u->wake);
}

static struct flight *find_flight(struct uplink *u, uint64_t id)
{
    for (size_t i = 0; id != 0 && i < u->nslots; i++)
        if (u->slots[i].used && u->slots[i].id == id)
            return &u->slots[i];
    return NULL;
}

/* A flight leaves the window, delivered or not (u->lock held). */
static void release(struct uplink *u, struct flight *f)
{
    f->used = 0;
    if (f->handed) {
        f->handed = 0;
        u->handed--;
        u->handed_bytes -= f->bytes;
        if (u->sender_waiting)  /* room in the transport's window for the next */
            pthread_cond_signal(&u->outq_cond);
    }
    if (f->alarm)
        u->alarm_inflight = 0;
    else
        u->inflight[f->lane]--;
}

/* A flight is delivered (u->lock held). */
static void settle(struct uplink *u, struct flight *f)
{
    u->st.messages_acked++;
    if (f->alarm && f->last > u->alarm_acked)
        u->alarm_acked = f->last;
    /* Acks may come in any order, from either lane: the set takes them all. */
    if (!f->alarm && f->lane == LANE_REQUEST)
        commands_acked(u, f->first, f->last);
    else if (!f->alarm && lanes_acked(&u->lanes, f->first, f->last) != 0)
        u->rewind = 1;  /* out of memory: send again rather than lose track */
    release(u, f);
}

static void on_acked(void *ctx, uint64_t id)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    struct flight *f = find_flight(u, id);
    if (f && f->handed && !f->alarm && f->lane != LANE_LIVE) {
        int64_t now = mono_ms();
        pace_ack(&u->pace, now, now - f->handed_ms, f->bytes);
    }
    if (f)
        settle(u, f);
    /* A full queue keeps the transport busy: the uplink thread is rung only
     * when the queue runs low (a futex call per ack otherwise, made on paho's
     * thread with paho's mutex held). */
    int ring = f && u->outq_tracked <= u->outq_low;
    pthread_mutex_unlock(&u->lock);
    if (ring)
        wake_ring(&u->wake);
}

static void on_failed(void *ctx, uint64_t id)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    int ours = find_flight(u, id) != NULL;
    if (ours) {     /* what it carried is sent again */
        u->rewind = 1;
        u->st.send_failures++;
    }
    pthread_mutex_unlock(&u->lock);
    if (ours)
        wake_ring(&u->wake);
}

/* A message from the broker: the command channel's, or one on a topic never
 * subscribed to (a bridge misconfigured, a hostile peer), counted and said,
 * never acted on. */
static void on_message(void *ctx, const char *topic, const void *payload, size_t len)
{
    struct uplink *u = ctx;
    if (u->cmd && commands_topic(u, topic)) {
        commands_received(u, payload, len);
        return;
    }
    pthread_mutex_lock(&u->lock);
    uint64_t n = ++u->st.unasked;
    pthread_mutex_unlock(&u->lock);
    if (n <= 3 || n % 1000 == 0) {
        char shown[81];     /* the broker's bytes, made printable */
        size_t i = 0;
        for (; topic[i] && i < sizeof shown - 1; i++)
            shown[i] = topic[i] >= 0x20 && topic[i] < 0x7f ? topic[i] : '?';
        shown[i] = 0;
        log_warn("uplink", u->cu->name, "the broker sent %zu bytes on '%s%s', a topic never "
                 "subscribed to: ignored (%llu such messages)", len, shown, topic[i] ? "..." : "",
                 (unsigned long long)n);
    }
}

void window_events(struct uplink *u, struct transport_events *ev)
{
    *ev = (struct transport_events){ u, on_connected, on_connect_failed, on_lost, on_acked,
                                     on_failed, on_message };
}

/* ---- the hand-off queue ---- */

/* Room in the queue for one more tracked message: a place, and bytes (large
 * messages queue fewer; an empty queue always takes one). */
static int outq_room(const struct uplink *u)
{
    return u->outq_tracked < u->outq_tracked_max && u->outq_len < u->outq_cap &&
           (u->outq_tracked == 0 || u->outq_bytes < u->outq_bytes_max);
}


/* Queue a message for the sender thread (u->lock held). Takes body; 0 queued,
 * -1 no room (body freed). */
static int outq_push_locked(struct uplink *u, enum message_kind kind, const char *topic,
                            char *body, int qos, int retained, struct flight *f)
{
    if (u->outq_len >= u->outq_cap || (f && !outq_room(u))) {
        free(body);     /* (window_send_tracked made sure of room: only status gets here) */
        return -1;
    }
    struct outmsg *m = &u->outq[(u->outq_head + u->outq_len++) % u->outq_cap];
    *m = (struct outmsg){ kind, "", body, strlen(body), qos, retained, f, u->gen };
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    if (f) {
        u->outq_tracked++;
        u->outq_bytes += m->len;
    }
    if (u->sender_waiting)  /* a futex call per message otherwise */
        pthread_cond_signal(&u->outq_cond);
    return 0;
}

void window_send_untracked(struct uplink *u, enum message_kind kind, const char *topic,
                           char *body, int qos, int retained)
{
    pthread_mutex_lock(&u->lock);
    int rc = outq_push_locked(u, kind, topic, body, qos, retained, NULL);
    pthread_mutex_unlock(&u->lock);
    if (rc)
        log_warn("uplink", u->cu->name, "%s message dropped: the hand-off queue is full",
                 message_kind_name(kind));
}

/* The queue adds its few messages to the window: they are not sent yet, and
 * the transport's own window stays full while the next messages are made. */
int window_room(struct uplink *u, size_t max_inflight)
{
    return u->connected && !u->rewind && outq_room(u) &&
           u->inflight[LANE_LIVE] + u->inflight[LANE_BACKFILL] + u->inflight[LANE_REQUEST]
               < max_inflight + u->outq_tracked_max;
}

int window_backlog_room(const struct uplink *u)
{
    return u->inflight[LANE_BACKFILL] + u->inflight[LANE_REQUEST] < pace_window(&u->pace);
}

/* The lane moves on at once; a failed hand-over rewinds it. */
int window_send_tracked(struct uplink *u, enum message_kind kind, const char *topic, char *body,
                        int qos, uint64_t first, uint64_t last, enum lane lane, int alarm)
{
    pthread_mutex_lock(&u->lock);
    struct flight *f = NULL;
    int room = outq_room(u);
    for (size_t i = 0; !f && room && i < u->nslots; i++)
        if (!u->slots[i].used)
            f = &u->slots[i];
    if (!f) {   /* status messages took the queue meanwhile: the lane tries again */
        pthread_mutex_unlock(&u->lock);
        free(body);
        return 0;
    }
    *f = (struct flight){ .id = ++u->next_id, .first = first, .last = last, .used = 1,
                          .lane = lane, .alarm = alarm };
    if (alarm) {
        u->alarm_inflight = 1;
        u->alarm_pos = last + 1;
    } else {
        u->inflight[lane]++;
        if (lane != LANE_REQUEST)
            lanes_sent(&u->lanes, lane, last);
    }
    outq_push_locked(u, kind, topic, body, qos, 0, f);
    pthread_mutex_unlock(&u->lock);
    return 1;
}

void window_void(struct uplink *u)
{
    u->gen++;   /* queued readings and alarms are void: the lanes send them again */
    for (size_t i = 0; i < u->nslots; i++)
        u->slots[i].used = 0;
    u->handed = 0;
    u->handed_bytes = 0;
    pthread_cond_signal(&u->outq_cond);     /* void messages leave the queue */
    u->inflight[LANE_LIVE] = u->inflight[LANE_BACKFILL] = u->inflight[LANE_REQUEST] = 0;
    u->alarm_inflight = 0;
    u->alarm_pos = u->alarm_acked + 1;
}

/* A tracked message the transport refused: its readings go again (u->lock held). */
static void refused(struct uplink *u, struct flight *f)
{
    release(u, f);
    u->st.messages_sent--;
    u->rewind = 1;
    u->st.send_failures++;
}

/* The sender thread: hands queued messages to the transport, in order. The
 * flight is counted as handed over before the transport has it (its ack may
 * come before publish returns) and taken back if the transport refuses it; the
 * message goes out without our lock, since paho calls back with its own mutex
 * held. Messages of an earlier generation (a rewind since) are dropped: what
 * they carried is sent again. */
static void *sender_main(void *arg)
{
    struct uplink *u = arg;
    pthread_mutex_lock(&u->lock);
    for (;;) {
        /* A tracked message waits for room in the transport's window, in
         * messages and in bytes (not at a stop: a dead broker would never make
         * room; paho refuses too many). */
        while (!u->sender_stop &&
               (!u->outq_len || (u->outq[u->outq_head].f && u->outq[u->outq_head].gen == u->gen &&
                                 (u->handed >= u->cu->max_inflight ||
                                  (u->handed && u->handed_bytes + u->outq[u->outq_head].len >
                                                    (size_t)u->cu->max_inflight_bytes))))) {
            u->sender_waiting = 1;
            pthread_cond_wait(&u->outq_cond, &u->lock);
            u->sender_waiting = 0;
        }
        if (!u->outq_len)
            break;
        struct outmsg m = u->outq[u->outq_head];
        u->outq_head = (u->outq_head + 1) % u->outq_cap;
        u->outq_len--;
        int ring = 0;
        if (m.f) {
            /* Down to the low mark, or below the byte bound again. */
            ring = --u->outq_tracked == u->outq_low || (u->outq_bytes >= u->outq_bytes_max &&
                                                         u->outq_bytes - m.len < u->outq_bytes_max);
            u->outq_bytes -= m.len;
        }
        int stale = m.f && m.gen != u->gen;
        uint64_t id = 0;
        if (m.f && !stale) {
            id = m.f->id;
            m.f->handed = 1;
            m.f->bytes = m.len;
            m.f->handed_ms = mono_ms();
            u->handed++;
            u->handed_bytes += m.len;
            u->st.messages_sent++;
        }
        pthread_mutex_unlock(&u->lock);
        int rc = -1;
        if (!stale) {
            struct transport_msg tm = { m.kind, m.topic, m.body, m.len, m.qos, m.retained, id };
            rc = u->t->ops->publish(u->t, &tm);
        }
        free(m.body);
        pthread_mutex_lock(&u->lock);
        if (m.f && !stale && m.gen == u->gen && m.f->used && m.f->id == id) {
            if (rc != 0)
                refused(u, m.f);
            else if (m.qos == 0)    /* QoS 0: handed over is all the ack there is */
                settle(u, m.f);
        }
        pthread_mutex_unlock(&u->lock);
        if (ring || !m.f || stale || rc != 0)
            wake_ring(&u->wake);    /* room in the queue, or a rewind to do */
        pthread_mutex_lock(&u->lock);
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

int window_start(struct uplink *u, char *err, size_t errlen)
{
    const struct conf_uplink *cu = u->cu;
    u->outq_tracked_max = cu->send_queue;
    u->outq_bytes_max = (size_t)cu->send_queue_bytes;
    u->outq_low = cu->send_queue * 3 / 4;
    u->outq_cap = cu->send_queue + OUTQ_UNTRACKED;
    u->outq = calloc(u->outq_cap, sizeof *u->outq);
    u->nslots = cu->max_inflight + cu->send_queue + 1;
    u->slots = calloc(u->nslots, sizeof *u->slots);
    if (!u->outq || !u->slots) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pthread_create(&u->sender, NULL, sender_main, u) != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
        return -1;
    }
    u->sender_started = 1;
    return 0;
}

void window_stop(struct uplink *u)
{
    pthread_mutex_lock(&u->lock);
    u->sender_stop = 1;
    pthread_cond_signal(&u->outq_cond);
    pthread_mutex_unlock(&u->lock);
    if (u->sender_started)
        pthread_join(u->sender, NULL);
    u->sender_started = 0;
}

void window_free(struct uplink *u)
{
    for (; u->outq && u->outq_len; u->outq_len--, u->outq_head = (u->outq_head + 1) % u->outq_cap)
        free(u->outq[u->outq_head].body);
    free(u->outq);
    free(u->slots);
    u->outq = NULL;
    u->slots = NULL;
    u->nslots = 0;
}
