/* uplink: one platform: lanes, the in-flight window, the hand-off to paho, reconnects, TLS. */
#include "core/clock.h"
#include "agent/uplink.h"
#include "agent/alarm.h"
#include "agent/lanes.h"
#include "agent/log.h"
#include "agent/outbox.h"
#include "agent/store.h"
#include "agent/tls_probe.h"
#include "agent/uplink_format.h"
#include "proto/profile.h"
#include "proto/profile_generic.h"
#include <MQTTAsync.h>
#include <errno.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often at most the cursor is written: a crash costs repeats, not losses. */
#define CURSOR_PERSIST_MS 250
/* Acks that may arrive while one send is under way. */
#define EARLY_MAX 8
/* How long a clean stop may spend delivering what is stored. */
#define STOP_DRAIN_MS 2000
/* The hand-off queue holds send_queue readings and alarm messages (tracked)
 * and a few status and point messages besides. The uplink thread is woken to
 * make more when it is down to three quarters: a few messages a wake-up, not
 * one (each wake-up is a futex call, made on paho's threads with paho's mutex
 * held when it follows an ack), and enough left queued that paho never waits
 * while the uplink thread waits for a CPU. */
#define OUTQ_UNTRACKED 4
/* Read ahead per lane: this many messages' readings, at most READAHEAD_MAX. */
#define READAHEAD_MESSAGES 8
#define READAHEAD_MAX 2048

/* A message awaiting its PUBACK. */
struct flight {
    MQTTAsync_token token;  /* 0 while being handed to paho */
    uint64_t first, last;   /* seq range the message carries */
    int used;
    enum lane lane;
    int alarm;              /* carries alarm events first..last, not readings */
};

struct point_name {
    char *tag, *device, *unit;
};

/* Readings read ahead for one lane, names resolved: a drain reads the store
 * once per several messages, not once per message (a read transaction and
 * its file locks cost as much as encoding a message). */
struct readahead {
    struct wire_reading *r;
    size_t n, cap;
};

/* A message made by the uplink thread, waiting for the sender thread. */
struct outmsg {
    enum message_kind kind;
    char topic[256];
    char *body;
    int qos, retained;
    struct flight *f;       /* NULL: not tracked (status, point definitions) */
    unsigned gen;           /* the rewind generation it was made in */
};

struct uplink {
    const struct conf_uplink *cu;
    struct wire_site site;
    struct writer *writer;
    struct store *store;        /* this uplink's own connection */
    struct uplink_format fmt;   /* the profile's messages */
    MQTTAsync client;
    char **uris;                /* paho form: tcp:// or ssl:// */
    const char *outbox;         /* file:///DIR: messages are files in DIR, not MQTT */
    MQTTAsync_token file_token; /* tokens of outbox writes (negative, never paho's) */
    char topic_realtime[256], topic_status[256], topic_alarm[256];
    pthread_t thread;
    int started;

    pthread_mutex_t lock;       /* guards everything below; paho callbacks take it */
    int stop;
    int connected, connecting, rewind;
    struct flight *slots;       /* nslots: messages queued or awaiting PUBACK */
    size_t nslots;              /* max_inflight + send_queue + an alarm */
    size_t handed;              /* given to paho, awaiting PUBACK: at most max_inflight */
    size_t inflight[2];         /* per lane */
    struct lanes lanes;         /* what is delivered, what to send next */
    uint64_t alarm_acked;       /* alarm events delivered up to this id */
    uint64_t alarm_pos;         /* next alarm event id to send */
    int alarm_inflight;         /* one alarm message at a time keeps them in order */
    int fresh_connect;          /* connected since the last rewind */
    struct flight *sending;     /* a send between reservation and token */
    int tls;                    /* some url is mqtts:// */
    int diagnose;               /* a TLS connect failed: probe for the reason */
    MQTTAsync_token early[EARLY_MAX];
    size_t nearly;
    struct uplink_stats st;
    /* The hand-off. MQTTAsync_sendMessage waits for paho's mutex, which paho's
     * threads hold while they write and read the socket (TLS included): half
     * the uplink thread's time in a fast drain. So the uplink thread makes the
     * next messages while a sender thread waits there. */
    struct outmsg *outq;        /* outq_cap = send_queue + OUTQ_UNTRACKED */
    size_t outq_cap, outq_tracked_max, outq_low;
    size_t outq_head, outq_len, outq_tracked;
    unsigned gen;               /* bumped by each rewind: queued flights are void */
    pthread_cond_t outq_cond;
    int sender_stop, sender_waiting;
    pthread_t sender;
    int sender_started;

    /* uplink thread only */
    char persisted[sizeof(((struct store_cursor *)0)->delivered)];
    uint64_t persisted_lost, persisted_alarm;
    int history_unknown;        /* a fresh cursor: where its history begins is not yet seen */
    uint64_t alarms_looked;     /* writer_alarms_stored() when the store last had none */
    uint64_t alarm_pos_looked;  /* and the alarm position then */
    double tokens;              /* backfill messages the rate allows now */
    uint64_t cursor_failures;
    struct point_name *names;
    size_t nnames;
    struct readahead ahead[2];  /* per lane */
};

/* ---- paho callbacks (paho's threads) ---- */

static void on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->connected = 1;
    u->connecting = 0;
    u->rewind = 1;
    u->fresh_connect = 1;
    u->st.connects++;
    snprintf(u->st.server, sizeof u->st.server, "%s",
             resp && resp->alt.connect.serverURI ? resp->alt.connect.serverURI : "?");
    pthread_mutex_unlock(&u->lock);
    log_info("uplink", u->cu->name, "connected to %s", u->st.server);
    writer_poke(u->writer);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->connecting = 0;
    u->st.connect_failures++;
    /* The TLS error callback may already have said why; keep its words. */
    if (!strstr(u->st.last_error, "TLS"))
        snprintf(u->st.last_error, sizeof u->st.last_error, "connect failed: %s (code %d)",
                 resp && resp->message ? resp->message : "no answer", resp ? resp->code : 0);
    char msg[sizeof u->st.last_error];
    snprintf(msg, sizeof msg, "%s", u->st.last_error);
    uint64_t n = u->st.connect_failures;
    u->st.last_error[0] = 0;
    int report = n <= 3 || n % 60 == 0;
    /* paho says little about TLS failures: let the uplink thread find out why. */
    u->diagnose = report && u->tls;
    pthread_mutex_unlock(&u->lock);
    if (report)
        log_warn("uplink", u->cu->name, "%s; %llu failed attempts", msg, (unsigned long long)n);
    writer_poke(u->writer);
}

static void on_connection_lost(void *ctx, char *cause)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->connected = 0;
    u->rewind = 1;
    pthread_mutex_unlock(&u->lock);
    log_warn("uplink", u->cu->name, "connection lost%s%s", cause ? ": " : "", cause ? cause : "");
    writer_poke(u->writer);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static int on_tls_error(const char *str, size_t len, void *ctx)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    snprintf(u->st.last_error, sizeof u->st.last_error, "TLS: %.*s", (int)len, str);
    /* OpenSSL lines end with a newline. */
    size_t l = strlen(u->st.last_error);
    while (l && (u->st.last_error[l - 1] == '\n' || u->st.last_error[l - 1] == '\r'))
        u->st.last_error[--l] = 0;
    pthread_mutex_unlock(&u->lock);
    return 0;
}

static struct flight *find_flight(struct uplink *u, MQTTAsync_token token)
{
    for (size_t i = 0; token != 0 && i < u->nslots; i++)
        if (u->slots[i].used && u->slots[i].token == token)
            return &u->slots[i];
    return NULL;
}

static void settle(struct uplink *u, struct flight *f)
{
    u->st.messages_acked++;
    f->used = 0;
    u->handed--;
    if (u->sender_waiting)  /* room in paho's window for the next queued message */
        pthread_cond_signal(&u->outq_cond);
    if (f->alarm) {
        if (f->last > u->alarm_acked)
            u->alarm_acked = f->last;
        u->alarm_inflight = 0;
        return;
    }
    /* Acks may come in any order, from either lane: the set takes them all. */
    if (lanes_acked(&u->lanes, f->first, f->last) != 0)
        u->rewind = 1;  /* out of memory: send again rather than lose track */
    u->inflight[f->lane]--;
}

static void on_send_ok(void *ctx, MQTTAsync_successData *resp)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    struct flight *f = find_flight(u, resp->token);
    if (f)
        settle(u, f);
    else if (u->sending && u->nearly < EARLY_MAX)
        u->early[u->nearly++] = resp->token;
    /* A full queue keeps paho busy: the sender wakes the uplink thread. */
    int wake = u->outq_tracked <= u->outq_low;
    pthread_mutex_unlock(&u->lock);
    if (wake)
        writer_poke(u->writer);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *resp)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    if (find_flight(u, resp->token) || u->sending) {
        u->rewind = 1;
        u->st.send_failures++;
    }
    pthread_mutex_unlock(&u->lock);
    writer_poke(u->writer);
}

/* ---- the uplink thread ---- */

static const struct point_name *point_name(struct uplink *u, uint32_t id)
{
    if (id >= u->nnames) {
        size_t n = id + 64;
        struct point_name *nn = realloc(u->names, n * sizeof *nn);
        if (!nn)
            return NULL;
        memset(nn + u->nnames, 0, (n - u->nnames) * sizeof *nn);
        u->names = nn;
        u->nnames = n;
    }
    struct point_name *p = &u->names[id];
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
            return NULL;
        }
    }
    return p;
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
    const struct point_name *pn = point_name(g->u, r->point);
    if (!pn)
        return 1;
    g->ra->r[g->ra->n++] = (struct wire_reading){ seq, pn->tag, pn->device, pn->unit, *r };
    return 0;
}

/* Hand a message over: to paho, or (outbox) to a file, which is its own ack. */
static int publish(struct uplink *u, enum message_kind kind, const char *topic,
                   MQTTAsync_message *m, MQTTAsync_responseOptions *ro)
{
    if (!u->outbox)
        return MQTTAsync_sendMessage(u->client, topic, m, ro);
    if (outbox_write(u->outbox, u->fmt.profile, &u->site, kind, wall_ms(), m->payload,
                     (size_t)m->payloadlen) != 0) {
        log_error("uplink", u->cu->name, "cannot write into %s: %s", u->outbox, strerror(errno));
        return MQTTASYNC_FAILURE;
    }
    if (ro) {
        pthread_mutex_lock(&u->lock);
        ro->token = --u->file_token;
        if (u->nearly < EARLY_MAX)
            u->early[u->nearly++] = ro->token;     /* acknowledged already */
        pthread_mutex_unlock(&u->lock);
    }
    return MQTTASYNC_SUCCESS;
}

/* Queue a message for the sender thread (u->lock held). Takes body; 0 queued,
 * -1 no room (body freed). */
static int outq_push_locked(struct uplink *u, enum message_kind kind, const char *topic,
                            char *body, int qos, int retained, struct flight *f)
{
    if (u->outq_len >= u->outq_cap || (f && u->outq_tracked >= u->outq_tracked_max)) {
        free(body);     /* (send_tracked made sure of room: only status gets here) */
        return -1;
    }
    struct outmsg *m = &u->outq[(u->outq_head + u->outq_len++) % u->outq_cap];
    *m = (struct outmsg){ kind, "", body, qos, retained, f, u->gen };
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    if (f)
        u->outq_tracked++;
    if (u->sender_waiting)  /* a futex call per message otherwise */
        pthread_cond_signal(&u->outq_cond);
    return 0;
}

static void outq_push(struct uplink *u, enum message_kind kind, const char *topic, char *body,
                      int qos, int retained)
{
    pthread_mutex_lock(&u->lock);
    int rc = outq_push_locked(u, kind, topic, body, qos, retained, NULL);
    pthread_mutex_unlock(&u->lock);
    if (rc)
        log_warn("uplink", u->cu->name, "%s message dropped: the hand-off queue is full",
                 message_kind_name(kind));
}

/* Room for one more tracked message: a place in the queue, and a window (of
 * messages queued or with paho) not full. The queue adds its few messages to
 * the window: they are not sent yet, and paho's own window stays full while
 * the next messages are made. */
static int window_room(struct uplink *u, size_t max_inflight)
{
    return u->connected && !u->rewind && u->outq_tracked < u->outq_tracked_max &&
           u->outq_len < u->outq_cap &&
           u->inflight[LANE_LIVE] + u->inflight[LANE_BACKFILL] < max_inflight + u->outq_tracked_max;
}

/* Queue one message with its PUBACK tracked: readings [first, last] of a lane,
 * or (alarm) alarm events first..last. Takes body. 1 queued, 0 no room. The
 * lane moves on at once; a failed hand-over rewinds it. */
static int send_tracked(struct uplink *u, enum message_kind kind, const char *topic, char *body,
                        int qos, uint64_t first, uint64_t last, enum lane lane, int alarm)
{
    pthread_mutex_lock(&u->lock);
    struct flight *f = NULL;
    int room = u->outq_tracked < u->outq_tracked_max && u->outq_len < u->outq_cap;
    for (size_t i = 0; !f && room && i < u->nslots; i++)
        if (!u->slots[i].used)
            f = &u->slots[i];
    if (!f) {   /* status messages took the queue meanwhile: the lane tries again */
        pthread_mutex_unlock(&u->lock);
        free(body);
        return 0;
    }
    *f = (struct flight){ 0, first, last, 1, lane, alarm };
    if (alarm) {
        u->alarm_inflight = 1;
        u->alarm_pos = last + 1;
    } else {
        u->inflight[lane]++;
        lanes_sent(&u->lanes, lane, last);
    }
    outq_push_locked(u, kind, topic, body, qos, 0, f);
    pthread_mutex_unlock(&u->lock);
    return 1;
}

/* After paho took (or refused) a tracked message (u->lock held). */
static void handed_over(struct uplink *u, struct flight *f, int rc, int qos,
                        MQTTAsync_token token)
{
    if (rc == MQTTASYNC_SUCCESS) {
        f->token = token;
        u->handed++;
        u->st.messages_sent++;
        int done = qos == 0;    /* QoS 0: handed over is all the ack there is */
        for (size_t i = 0; i < u->nearly; i++)
            done |= u->early[i] == token;
        if (done)
            settle(u, f);
        return;
    }
    f->used = 0;
    if (f->alarm)
        u->alarm_inflight = 0;
    else
        u->inflight[f->lane]--;
    u->rewind = 1;
    u->st.send_failures++;
}

/* The sender thread: hands queued messages to paho (or the outbox), in order.
 * A flight's reservation comes first and the message goes out without our lock:
 * paho may call on_send_ok with its own mutex held, so holding ours across
 * MQTTAsync_sendMessage could deadlock. An ack that beats the token into the
 * flight is parked in `early`. Messages of an earlier generation (a rewind
 * since) are dropped: what they carried is sent again. */
static void *sender_main(void *arg)
{
    struct uplink *u = arg;
    pthread_mutex_lock(&u->lock);
    for (;;) {
        /* A tracked message waits for room in paho's window (not at a stop:
         * a dead broker would never make room; paho refuses what is too many). */
        while (!u->sender_stop &&
               (!u->outq_len || (u->outq[u->outq_head].f && u->outq[u->outq_head].gen == u->gen &&
                                 u->handed >= u->cu->max_inflight))) {
            u->sender_waiting = 1;
            pthread_cond_wait(&u->outq_cond, &u->lock);
            u->sender_waiting = 0;
        }
        if (!u->outq_len)
            break;
        struct outmsg m = u->outq[u->outq_head];
        u->outq_head = (u->outq_head + 1) % u->outq_cap;
        u->outq_len--;
        int wake = 0;
        if (m.f)
            wake = --u->outq_tracked == u->outq_low;   /* down to the low mark */
        int stale = m.f && m.gen != u->gen;
        if (m.f && !stale) {
            u->sending = m.f;
            u->nearly = 0;
        }
        pthread_mutex_unlock(&u->lock);
        int rc = MQTTASYNC_FAILURE;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        if (!stale) {
            ro.onSuccess = on_send_ok;
            ro.onFailure = on_send_fail;
            ro.context = u;
            MQTTAsync_message pm = MQTTAsync_message_initializer;
            pm.payload = m.body;
            pm.payloadlen = (int)strlen(m.body);
            pm.qos = m.qos;
            pm.retained = m.retained;
            rc = publish(u, m.kind, m.topic, &pm, m.f ? &ro : NULL);
        }
        free(m.body);
        pthread_mutex_lock(&u->lock);
        if (m.f && !stale) {
            u->sending = NULL;
            if (m.gen == u->gen)
                handed_over(u, m.f, rc, m.qos, ro.token);
        }
        pthread_mutex_unlock(&u->lock);
        if (wake || !m.f || stale || rc != MQTTASYNC_SUCCESS)
            writer_poke(u->writer);     /* room in the queue, or a rewind to do */
        pthread_mutex_lock(&u->lock);
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

/* Publish one message on a lane if it has readings and the window room. 1 sent,
 * 0 nothing to do, -1 failed (rewind set). */
static int send_next(struct uplink *u, enum lane lane, uint64_t next_seq, size_t max_inflight)
{
    const struct conf_uplink *cu = u->cu;
    uint64_t from, limit;
    pthread_mutex_lock(&u->lock);
    int some = window_room(u, max_inflight) && lanes_next(&u->lanes, lane, next_seq, &from, &limit);
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
    char *body = uplink_format_realtime(&u->fmt, msg, n, resend, wall_ms(), topic, sizeof topic);
    if (!body)
        return 0;
    return send_tracked(u, MK_REALTIME, topic, body, cu->qos, msg[0].seq, msg[n - 1].seq, lane,
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
        return 0;
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
        const struct point_name *pn = point_name(u, ev[i].point);
        if (!pn)
            return 0;
        wa[i] = (struct wire_alarm){ ev[i].id, pn->tag, pn->device, pn->unit,
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
    return send_tracked(u, MK_ALARM, topic, body, 1, ev[0].id, ev[n - 1].id, LANE_LIVE, 1) > 0;
}

static void start_connect(struct uplink *u)
{
    const struct conf_uplink *cu = u->cu;
    if (u->outbox) {
        /* An outbox is "connected" while the folder takes files. */
        if (access(u->outbox, W_OK) != 0) {
            pthread_mutex_lock(&u->lock);
            u->st.connect_failures++;
            pthread_mutex_unlock(&u->lock);
            log_warn("uplink", cu->name, "outbox %s: %s", u->outbox, strerror(errno));
            return;
        }
        pthread_mutex_lock(&u->lock);
        u->connected = u->fresh_connect = u->rewind = 1;
        u->st.connects++;
        snprintf(u->st.server, sizeof u->st.server, "file://%s", u->outbox);
        pthread_mutex_unlock(&u->lock);
        log_info("uplink", cu->name, "writing files into %s", u->outbox);
        return;
    }
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
    co.keepAliveInterval = (int)(cu->keepalive_ms / 1000);
    co.cleansession = 1;
    co.connectTimeout = 10;
    co.automaticReconnect = 0;  /* we reconnect ourselves, with our own backoff */
    co.onSuccess = on_connect_ok;
    co.onFailure = on_connect_fail;
    co.context = u;
    co.serverURIcount = (int)cu->nurls;
    co.serverURIs = u->uris;
    co.username = cu->username;
    co.password = cu->password;
    co.maxInflight = (int)cu->max_inflight + 2;
    if (u->tls) {
        so.trustStore = cu->ca_file;
        so.keyStore = cu->cert_file;
        so.privateKey = cu->key_file;
        so.enableServerCertAuth = 1;
        so.verify = 1;      /* the broker's name must match its certificate */
        so.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
        so.ssl_error_cb = on_tls_error;
        so.ssl_error_context = u;
        co.ssl = &so;
    }
    pthread_mutex_lock(&u->lock);
    u->connecting = 1;
    pthread_mutex_unlock(&u->lock);
    int rc = MQTTAsync_connect(u->client, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&u->lock);
        u->connecting = 0;
        u->st.connect_failures++;
        pthread_mutex_unlock(&u->lock);
        log_warn("uplink", cu->name, "cannot start connecting (code %d)", rc);
    }
}

/* Say in plain words why TLS to the first mqtts:// broker fails. */
static void diagnose_tls(struct uplink *u)
{
    const struct conf_uplink *cu = u->cu;
    for (size_t i = 0; i < cu->nurls; i++) {
        if (strncmp(u->uris[i], "ssl://", 6) != 0)
            continue;
        char host[256], why[300];
        snprintf(host, sizeof host, "%s", u->uris[i] + 6);
        char *colon = strrchr(host, ':');
        if (!colon)
            return;
        *colon = 0;
        const char *port = colon + 1;
        if (host[0] == '[') {       /* [v6]:port */
            memmove(host, host + 1, strlen(host));
            host[strcspn(host, "]")] = 0;
        }
        if (tls_probe(host, port, cu->ca_file, cu->cert_file, cu->key_file, 3000, why,
                      sizeof why) != 0)
            log_error("uplink", cu->name, "TLS to %s:%s: %s", host, port, why);
        else
            log_warn("uplink", cu->name, "TLS to %s:%s works (%s); the broker refused the MQTT "
                     "connection itself (credentials? client id?)", host, port, why);
        return;
    }
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
        outq_push(u, MK_POINTS, topic, body, 1, 1);
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

static void *uplink_main(void *arg)
{
    struct uplink *u = arg;
    const struct conf_uplink *cu = u->cu;
    int64_t next_connect = 0, backoff = 250, last_persist = 0, drain_until = 0;
    int64_t last_account = 0, last_tokens = mono_ms();
    /* The live lane always keeps a slot of the window, and takes every slot that
     * frees before the backlog does: a backlog never starves it, and a drain
     * keeps the window full. */
    size_t live_reserve = 1;
    size_t backfill_window = cu->max_inflight > live_reserve ? cu->max_inflight - live_reserve : 1;
    uint64_t next_seq = writer_wait(u->writer, 0, 0);
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
            u->gen++;   /* queued readings and alarms are void: sent again below */
            for (size_t i = 0; i < u->nslots; i++)
                u->slots[i].used = 0;
            u->handed = 0;
            pthread_cond_signal(&u->outq_cond);     /* void messages leave the queue */
            u->inflight[LANE_LIVE] = u->inflight[LANE_BACKFILL] = 0;
            u->alarm_inflight = 0;
            u->alarm_pos = u->alarm_acked + 1;
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
        }
        uint64_t from, limit;
        if (stop) {
            /* On a clean stop, deliver what the store holds, for a short while. */
            int64_t t = mono_ms();
            if (!drain_until)
                drain_until = t + STOP_DRAIN_MS;
            next_seq = writer_wait(u->writer, 0, 0);
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
            diagnose_tls(u);
        int64_t now = mono_ms();
        if (!connected && !connecting && now >= next_connect) {
            start_connect(u);
            next_connect = now + backoff;
            backoff = backoff * 2 > cu->reconnect_max_ms ? cu->reconnect_max_ms : backoff * 2;
        }
        if (connected)
            backoff = 250;
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
        size_t allowance = backfill_allowance(u, now, &last_tokens);
        while (allowance > 0 && send_next(u, LANE_BACKFILL, next_seq, backfill_window) > 0) {
            sent++;
            allowance--;
            if (cu->backfill_rate > 0)
                u->tokens -= 1;
        }
        if (!sent) {
            /* Wait for new readings or an ack; a rate-limited backlog wakes soon. */
            int wait = cu->backfill_rate > 0 ? 20 : 100;
            next_seq = writer_wait(u->writer, next_seq, wait);
        } else {
            next_seq = writer_wait(u->writer, 0, 0);
        }
    }
    persist_cursor(u);
    return NULL;
}

/* mqtt://host[:port] -> tcp://host:port, mqtts:// -> ssl:// (paho's names). */
static char *paho_uri(const char *url)
{
    int tls = strncmp(url, "mqtts://", 8) == 0;
    const char *hostport = url + (tls ? 8 : 7);
    const char *colon = strrchr(hostport, ':');
    int has_port = colon && !strchr(colon, ']');
    size_t n = strlen(hostport) + 16;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", tls ? "ssl://" : "tcp://", hostport,
                 has_port ? "" : tls ? ":8883" : ":1883");
    return s;
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
    snprintf(u->topic_realtime, sizeof u->topic_realtime, "%s/realtime", cu->topic_prefix);
    snprintf(u->topic_status, sizeof u->topic_status, "%s/status", cu->topic_prefix);
    snprintf(u->topic_alarm, sizeof u->topic_alarm, "%s/alarm", cu->topic_prefix);
    lanes_init(&u->lanes);
    u->outq_tracked_max = cu->send_queue;
    u->outq_low = cu->send_queue * 3 / 4;
    u->outq_cap = cu->send_queue + OUTQ_UNTRACKED;
    u->outq = calloc(u->outq_cap, sizeof *u->outq);
    u->nslots = cu->max_inflight + cu->send_queue + 1;
    u->slots = calloc(u->nslots, sizeof *u->slots);
    for (int i = 0; i < 2; i++) {
        size_t cap = cu->message_readings * READAHEAD_MESSAGES;
        if (cap > READAHEAD_MAX)
            cap = READAHEAD_MAX > cu->message_readings ? READAHEAD_MAX : cu->message_readings;
        u->ahead[i].r = calloc(cap, sizeof *u->ahead[i].r);
        u->ahead[i].cap = cap;
    }
    u->uris = calloc(cu->nurls + 1, sizeof *u->uris);
    if (!u->slots || !u->outq || !u->ahead[0].r || !u->ahead[1].r || !u->uris)
        goto oom;
    for (size_t i = 0; i < cu->nurls; i++) {
        if (!(u->uris[i] = paho_uri(cu->urls[i])))
            goto oom;
        u->tls |= strncmp(u->uris[i], "ssl://", 6) == 0;
    }
    u->store = store_open(c->agent.data_dir, STORE_READ, err, errlen);
    if (!u->store)
        goto fail;
    struct store_cursor cur;
    if (store_cursor_get(u->store, cu->name, &cur) != 0) {
        snprintf(err, errlen, "cannot read cursor: %s", store_errmsg(u->store));
        goto fail;
    }
    if (ranges_parse(&u->lanes.delivered, cur.delivered) != 0 ||
        (cur.acked && ranges_add(&u->lanes.delivered, 1, cur.acked) != 0)) {
        snprintf(err, errlen, "cursor of uplink %s is unreadable: '%s'", cu->name, cur.delivered);
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
    if (strncmp(cu->urls[0], "file://", 7) == 0)
        u->outbox = cu->urls[0] + 7;
    MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    int rc = u->outbox ? MQTTASYNC_SUCCESS
           : MQTTAsync_createWithOptions(&u->client, u->uris[0], cu->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "cannot create MQTT client for %s (code %d)", cu->urls[0], rc);
        goto fail;
    }
    if (u->client)
        MQTTAsync_setCallbacks(u->client, u, on_connection_lost, on_message, NULL);
    if (pthread_create(&u->sender, NULL, sender_main, u) != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
        goto fail;
    }
    u->sender_started = 1;
    if (pthread_create(&u->thread, NULL, uplink_main, u) != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
        goto fail;
    }
    u->started = 1;
    log_info("uplink", cu->name, "delivered up to seq %llu; sending to %s",
             (unsigned long long)lanes_cursor(&u->lanes), cu->urls[0]);
    return u;
oom:
    snprintf(err, errlen, "out of memory");
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
        writer_poke(u->writer);
        pthread_join(u->thread, NULL);
    }
    /* The sender hands over what the uplink thread queued last, then ends. */
    pthread_mutex_lock(&u->lock);
    u->sender_stop = 1;
    pthread_cond_signal(&u->outq_cond);
    pthread_mutex_unlock(&u->lock);
    if (u->sender_started)
        pthread_join(u->sender, NULL);
    for (; u->outq_len; u->outq_len--, u->outq_head = (u->outq_head + 1) % u->outq_cap)
        free(u->outq[u->outq_head].body);
    free(u->outq);
    if (u->client) {
        MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
        dopts.timeout = 1000;
        if (MQTTAsync_isConnected(u->client))
            MQTTAsync_disconnect(u->client, &dopts);
        /* Give paho a moment to send DISCONNECT before the client goes away. */
        for (int i = 0; i < 20 && MQTTAsync_isConnected(u->client); i++) {
            struct timespec ts = { 0, 10000000 };
            nanosleep(&ts, NULL);
        }
        MQTTAsync_destroy(&u->client);
    }
    uplink_format_free(&u->fmt);
    store_close(u->store);
    for (size_t i = 0; i < u->nnames; i++) {
        free(u->names[i].tag);
        free(u->names[i].device);
        free(u->names[i].unit);
    }
    if (u->uris)
        for (size_t i = 0; u->uris[i]; i++)
            free(u->uris[i]);
    free(u->uris);
    free(u->names);
    free(u->slots);
    lanes_free(&u->lanes);
    free(u->ahead[0].r);
    free(u->ahead[1].r);
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
    out->backfilling = u->lanes.pos[LANE_BACKFILL] < u->lanes.live_start;
    pthread_mutex_unlock(&u->lock);
}

void uplink_publish_status(struct uplink *u, const cJSON *body)
{
    pthread_mutex_lock(&u->lock);
    int connected = u->connected;
    pthread_mutex_unlock(&u->lock);
    if (!connected)
        return;
    char topic[256];
    char *s = uplink_format_status(&u->fmt, body, wall_ms(), topic, sizeof topic);
    if (s)
        outq_push(u, MK_STATUS, topic, s, 0, 0);
}
