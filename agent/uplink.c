/* uplink: cursor, in-flight window, reconnects and TLS over paho MQTTAsync. */
#include "agent/uplink.h"
#include "agent/log.h"
#include "agent/store.h"
#include "agent/tls_probe.h"
#include "proto/profile.h"
#include "proto/profile_generic.h"
#include <MQTTAsync.h>
#include <errno.h>
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

struct flight {
    MQTTAsync_token token;
    uint64_t first, last;   /* seq range the message carries */
    int done;
};

struct point_name {
    char *tag, *device, *unit;
};

struct uplink {
    const struct conf_uplink *cu;
    struct wire_site site;
    struct writer *writer;
    struct store *store;        /* this uplink's own connection */
    MQTTAsync client;
    char **uris;                /* paho form: tcp:// or ssl:// */
    char topic_realtime[256], topic_status[256];
    pthread_t thread;
    int started;

    pthread_mutex_t lock;       /* guards everything below; paho callbacks take it */
    int stop;
    int connected, connecting, rewind;
    struct flight *ring;        /* max_inflight messages awaiting PUBACK, in send order */
    size_t head, count;
    uint64_t acked;             /* every seq <= acked is acknowledged */
    int sending;                /* a send is between reservation and token */
    int tls;                    /* some url is mqtts:// */
    int diagnose;               /* a TLS connect failed: probe for the reason */
    MQTTAsync_token early[EARLY_MAX];
    size_t nearly;
    struct uplink_stats st;

    /* uplink thread only */
    uint64_t send_pos;          /* next seq to send */
    uint64_t persisted;
    struct point_name *names;
    size_t nnames;
    struct wire_reading *msg;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- paho callbacks (paho's threads) ---- */

static void on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->connected = 1;
    u->connecting = 0;
    u->rewind = 1;
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
    size_t cap = u->cu->max_inflight;
    for (size_t i = 0; i < u->count; i++) {
        struct flight *f = &u->ring[(u->head + i) % cap];
        if (f->token == token && token != 0 && !f->done)
            return f;
    }
    return NULL;
}

/* Acks may come out of order; the cursor moves over the done prefix only. */
static void advance(struct uplink *u)
{
    while (u->count && u->ring[u->head].done) {
        u->acked = u->ring[u->head].last;
        u->head = (u->head + 1) % u->cu->max_inflight;
        u->count--;
    }
}

static void on_send_ok(void *ctx, MQTTAsync_successData *resp)
{
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    struct flight *f = find_flight(u, resp->token);
    if (f) {
        f->done = 1;
        u->st.messages_acked++;
        advance(u);
    } else if (u->sending && u->nearly < EARLY_MAX) {
        u->early[u->nearly++] = resp->token;
    }
    pthread_mutex_unlock(&u->lock);
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
    size_t n;
};

static int gather_one(void *arg, uint64_t seq, const struct reading *r)
{
    struct gather *g = arg;
    const struct point_name *pn = point_name(g->u, r->point);
    if (!pn)
        return 1;
    g->u->msg[g->n++] = (struct wire_reading){ seq, pn->tag, pn->device, pn->unit, *r };
    return 0;
}

/* Publish one message from send_pos if the window has room. 1 sent, 0 nothing to
 * do, -1 failed (rewind set). */
static int send_next(struct uplink *u, uint64_t next_seq)
{
    const struct conf_uplink *cu = u->cu;
    pthread_mutex_lock(&u->lock);
    int room = u->connected && !u->rewind && u->count < cu->max_inflight;
    pthread_mutex_unlock(&u->lock);
    if (!room || u->send_pos >= next_seq)
        return 0;
    struct gather g = { u, 0 };
    if (store_scan(u->store, u->send_pos, cu->message_readings, gather_one, &g) < 0 || g.n == 0) {
        if (g.n == 0) {
            /* Readings below the oldest stored batch are gone (evicted): skip. */
            uint64_t first = store_first_seq(u->store);
            if (first > u->send_pos) {
                u->send_pos = first;
                return 0;
            }
        }
        log_error("uplink", cu->name, "store read at seq %llu failed: %s",
                  (unsigned long long)u->send_pos, store_errmsg(u->store));
        return 0;
    }
    int64_t oldest = u->msg[0].r.ts_ms;
    for (size_t i = 1; i < g.n; i++)
        if (u->msg[i].r.ts_ms < oldest)
            oldest = u->msg[i].r.ts_ms;
    int resend = wall_ms() - oldest > cu->live_window_ms;
    char *body = generic_realtime(&u->site, u->msg, g.n, resend);
    if (!body)
        return 0;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_send_ok;
    ro.onFailure = on_send_fail;
    ro.context = u;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = body;
    m.payloadlen = (int)strlen(body);
    m.qos = cu->qos;
    uint64_t first = u->msg[0].seq, last = u->msg[g.n - 1].seq;

    /* Reserve the flight first and send without our lock: paho may call
     * on_send_ok with its own mutex held, so holding ours across
     * MQTTAsync_sendMessage could deadlock. An ack that beats the token into the
     * flight is parked in `early`. */
    pthread_mutex_lock(&u->lock);
    struct flight *f = &u->ring[(u->head + u->count) % cu->max_inflight];
    *f = (struct flight){ 0, first, last, 0 };
    u->count++;
    u->sending = 1;
    u->nearly = 0;
    pthread_mutex_unlock(&u->lock);

    int rc = MQTTAsync_sendMessage(u->client, u->topic_realtime, &m, &ro);

    pthread_mutex_lock(&u->lock);
    u->sending = 0;
    if (rc == MQTTASYNC_SUCCESS) {
        f->token = ro.token;
        u->st.messages_sent++;
        u->send_pos = last + 1;
        for (size_t i = 0; i < u->nearly; i++)
            if (u->early[i] == ro.token)
                f->done = 1;
        /* QoS 0 is acknowledged by being handed over: nothing will come back. */
        if (cu->qos == 0)
            f->done = 1;
        if (f->done)
            u->st.messages_acked++;
        advance(u);
    } else {
        u->rewind = 1;
        u->st.send_failures++;
    }
    pthread_mutex_unlock(&u->lock);
    free(body);
    return rc == MQTTASYNC_SUCCESS ? 1 : -1;
}

static void start_connect(struct uplink *u)
{
    const struct conf_uplink *cu = u->cu;
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

/* Age of the oldest reading not yet acknowledged, for status; 0 when none. */
static void measure_pending(struct uplink *u, uint64_t acked, uint64_t next_seq)
{
    int64_t ts = 0, age = 0;
    if (next_seq > acked + 1 && store_scan(u->store, acked + 1, 1, first_ts, &ts) > 0)
        age = wall_ms() - ts;
    pthread_mutex_lock(&u->lock);
    u->st.oldest_pending_ms = age > 0 ? age : 0;
    pthread_mutex_unlock(&u->lock);
}

static void persist_cursor(struct uplink *u, uint64_t acked)
{
    if (acked == u->persisted)
        return;
    if (store_cursor_set(u->store, u->cu->name, acked) == 0)
        u->persisted = acked;
    else
        log_error("uplink", u->cu->name, "cannot save cursor: %s", store_errmsg(u->store));
}

static void *uplink_main(void *arg)
{
    struct uplink *u = arg;
    const struct conf_uplink *cu = u->cu;
    int64_t next_connect = 0, backoff = 250, last_persist = 0, drain_until = 0;
    int64_t last_measure = 0;
    uint64_t next_seq = writer_wait(u->writer, 0, 0);
    for (;;) {
        pthread_mutex_lock(&u->lock);
        int stop = u->stop, connected = u->connected, connecting = u->connecting;
        int rewind = u->rewind, diagnose = u->diagnose;
        u->diagnose = 0;
        if (rewind) {
            /* Whatever was in flight may be lost: send again from the cursor. */
            u->rewind = 0;
            u->head = u->count = 0;
            u->send_pos = u->acked + 1;
        }
        uint64_t acked = u->acked;
        size_t inflight = u->count;
        pthread_mutex_unlock(&u->lock);
        if (stop) {
            /* On a clean stop, deliver what the store holds, for a short while. */
            int64_t t = mono_ms();
            if (!drain_until)
                drain_until = t + STOP_DRAIN_MS;
            next_seq = writer_wait(u->writer, 0, 0);
            if (!connected || t >= drain_until || (u->send_pos >= next_seq && inflight == 0))
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
            persist_cursor(u, acked);
            last_persist = now;
        }
        if (now - last_measure >= 1000) {
            measure_pending(u, acked, next_seq);
            last_measure = now;
        }
        int sent = 0;
        while (send_next(u, next_seq) > 0)
            sent++;
        if (!sent)
            next_seq = writer_wait(u->writer, u->send_pos > next_seq ? u->send_pos : next_seq,
                                   100);
        else
            next_seq = writer_wait(u->writer, 0, 0);
    }
    pthread_mutex_lock(&u->lock);
    uint64_t acked = u->acked;
    pthread_mutex_unlock(&u->lock);
    persist_cursor(u, acked);
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
    u->cu = cu;
    const struct profile_info *pi = profile_find(cu->profile);
    if (!pi || !pi->implemented) {
        /* Never send a regulator a format it did not ask for. */
        snprintf(err, errlen, "profile '%s' is not available in this version of Ganzhi "
                 "(available: generic)", cu->profile);
        goto fail;
    }
    u->writer = w;
    u->site = (struct wire_site){ c->agent.enterprise_code, c->agent.enterprise_name,
                                  c->agent.gateway_code, c->agent.district_code,
                                  c->agent.wire_tz_minutes };
    snprintf(u->topic_realtime, sizeof u->topic_realtime, "%s/realtime", cu->topic_prefix);
    snprintf(u->topic_status, sizeof u->topic_status, "%s/status", cu->topic_prefix);
    u->ring = calloc(cu->max_inflight, sizeof *u->ring);
    u->msg = calloc(cu->message_readings, sizeof *u->msg);
    u->uris = calloc(cu->nurls + 1, sizeof *u->uris);
    if (!u->ring || !u->msg || !u->uris)
        goto oom;
    for (size_t i = 0; i < cu->nurls; i++) {
        if (!(u->uris[i] = paho_uri(cu->urls[i])))
            goto oom;
        u->tls |= strncmp(u->uris[i], "ssl://", 6) == 0;
    }
    u->store = store_open(c->agent.data_dir, STORE_READ, err, errlen);
    if (!u->store)
        goto fail;
    if (store_cursor_get(u->store, cu->name, &u->acked) != 0) {
        snprintf(err, errlen, "cannot read cursor: %s", store_errmsg(u->store));
        goto fail;
    }
    u->persisted = u->acked;
    u->send_pos = u->acked + 1;
    MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    int rc = MQTTAsync_createWithOptions(&u->client, u->uris[0], cu->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "cannot create MQTT client for %s (code %d)", cu->urls[0], rc);
        goto fail;
    }
    MQTTAsync_setCallbacks(u->client, u, on_connection_lost, on_message, NULL);
    if (pthread_create(&u->thread, NULL, uplink_main, u) != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
        goto fail;
    }
    u->started = 1;
    log_info("uplink", cu->name, "sending from seq %llu to %s",
             (unsigned long long)u->send_pos, cu->urls[0]);
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
    free(u->ring);
    free(u->msg);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void uplink_get_stats(struct uplink *u, struct uplink_stats *out)
{
    pthread_mutex_lock(&u->lock);
    *out = u->st;
    out->connected = u->connected;
    out->acked_seq = u->acked;
    pthread_mutex_unlock(&u->lock);
    uint64_t next = writer_wait(u->writer, 0, 0);
    out->backlog = next > out->acked_seq + 1 ? next - 1 - out->acked_seq : 0;
}

void uplink_publish_status(struct uplink *u, const cJSON *body)
{
    pthread_mutex_lock(&u->lock);
    int connected = u->connected;
    pthread_mutex_unlock(&u->lock);
    if (!connected)
        return;
    char *s = generic_status(&u->site, wall_ms(), body);
    if (!s)
        return;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = s;
    m.payloadlen = (int)strlen(s);
    m.qos = 0;
    MQTTAsync_sendMessage(u->client, u->topic_status, &m, NULL);
    free(s);
}
