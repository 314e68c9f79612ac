/* uplink_mqtt: the MQTT transport: paho's client, its callbacks turned into
 * transport events, TLS failures said in words, acknowledgements matched to
 * messages by a context of their own. */
#include "agent/uplink_mqtt.h"
#include "agent/log.h"
#include "agent/tls_probe.h"
#include "core/url.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mqtt;

/* The context of one tracked message with paho: paho hands it back with the
 * PUBACK (or the failure), so no token needs matching, and an acknowledgement
 * that comes before MQTTAsync_sendMessage returns finds its message all the same. */
struct pub {
    struct mqtt *m;
    uint64_t id;
    atomic_int used;        /* taken and given back without a lock: it is per message */
};

struct mqtt {
    struct transport base;
    const struct conf_uplink *cu;
    struct transport_events ev;
    MQTTAsync client;
    char **uris;                /* paho's form: tcp://host:port, ssl://host:port */
    size_t nuris;
    int tls;                    /* some url is mqtts:// */
    pthread_mutex_t lock;       /* guards tls_error */
    struct pub *pubs;
    size_t npubs, next_pub;     /* where the sender looks for a free context first */
    char tls_error[200];
};

void uplink_mqtt_options(const struct conf_uplink *cu, int tls, struct mqtt_connect_options *o)
{
    o->co = (MQTTAsync_connectOptions)MQTTAsync_connectOptions_initializer;
    o->so = (MQTTAsync_SSLOptions)MQTTAsync_SSLOptions_initializer;
    o->co.keepAliveInterval = (int)(cu->keepalive_ms / 1000);
    o->co.cleansession = 1;
    /* Left to its default, paho retries a failed connect at once as MQTT 3.1,
     * outside our backoff, and a platform may then see a 3.1 session. */
    o->co.MQTTVersion = MQTTVERSION_3_1_1;
    o->co.connectTimeout = (int)((cu->connect_timeout_ms + 999) / 1000);
    o->co.automaticReconnect = 0;   /* we reconnect ourselves, with our own backoff */
    o->co.username = cu->username;
    o->co.password = cu->password;
    o->co.maxInflight = (int)cu->max_inflight + 2;
    if (tls) {
        o->so.trustStore = cu->ca_file;
        o->so.keyStore = cu->cert_file;
        o->so.privateKey = cu->key_file;
        o->so.enableServerCertAuth = 1;
        o->so.verify = 1;           /* the broker's name must match its certificate */
        o->so.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
        o->co.ssl = &o->so;
    }
}

/* ---- paho's callbacks (paho's threads) ---- */

static void on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
    struct mqtt *m = ctx;
    m->ev.connected(m->ev.ctx, resp && resp->alt.connect.serverURI
                                   ? resp->alt.connect.serverURI : "?");
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
    struct mqtt *m = ctx;
    char why[300];
    pthread_mutex_lock(&m->lock);
    /* The TLS error callback may have said why already: its words are better. */
    if (m->tls_error[0])
        snprintf(why, sizeof why, "TLS: %s", m->tls_error);
    else
        snprintf(why, sizeof why, "connect failed: %s (code %d)",
                 resp && resp->message ? resp->message : "no answer", resp ? resp->code : 0);
    m->tls_error[0] = 0;
    pthread_mutex_unlock(&m->lock);
    m->ev.connect_failed(m->ev.ctx, why);
}

static void on_connection_lost(void *ctx, char *cause)
{
    struct mqtt *m = ctx;
    m->ev.lost(m->ev.ctx, cause ? cause : "");
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *msg)
{
    struct mqtt *m = ctx;
    if (m->ev.message)
        m->ev.message(m->ev.ctx, topic, msg->payload, (size_t)msg->payloadlen);
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static int on_tls_error(const char *str, size_t len, void *ctx)
{
    struct mqtt *m = ctx;
    pthread_mutex_lock(&m->lock);
    snprintf(m->tls_error, sizeof m->tls_error, "%.*s", (int)len, str);
    size_t l = strlen(m->tls_error);    /* OpenSSL's lines end with a newline */
    while (l && (m->tls_error[l - 1] == '\n' || m->tls_error[l - 1] == '\r'))
        m->tls_error[--l] = 0;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* Take the message's id back from its context, and free the context. */
static uint64_t pub_done(struct pub *p)
{
    uint64_t id = p->id;
    atomic_store_explicit(&p->used, 0, memory_order_release);
    return id;
}

static void on_send_ok(void *ctx, MQTTAsync_successData *resp)
{
    struct pub *p = ctx;
    struct mqtt *m = p->m;
    m->ev.acked(m->ev.ctx, pub_done(p));
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *resp)
{
    struct pub *p = ctx;
    struct mqtt *m = p->m;
    m->ev.failed(m->ev.ctx, pub_done(p));
}

/* ---- the operations ---- */

static int mqtt_connect(struct transport *t, char *err, size_t errlen)
{
    struct mqtt *m = (struct mqtt *)t;
    struct mqtt_connect_options o;
    uplink_mqtt_options(m->cu, m->tls, &o);
    o.co.onSuccess = on_connect_ok;
    o.co.onFailure = on_connect_fail;
    o.co.context = m;
    o.co.serverURIcount = (int)m->nuris;
    o.co.serverURIs = m->uris;
    o.so.ssl_error_cb = on_tls_error;
    o.so.ssl_error_context = m;
    int rc = MQTTAsync_connect(m->client, &o.co);
    /* paho ignores a connect while the disconnect of a lost connection is
     * still queued: not a failure, only early. */
    if (rc == MQTTASYNC_COMMAND_IGNORED)
        return 1;
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "cannot start connecting (paho code %d)", rc);
        return -1;
    }
    return 0;
}

static int mqtt_publish(struct transport *t, const struct transport_msg *msg)
{
    struct mqtt *m = (struct mqtt *)t;
    MQTTAsync_message pm = MQTTAsync_message_initializer;
    pm.payload = (void *)msg->body;
    pm.payloadlen = (int)msg->len;
    pm.qos = msg->qos;
    pm.retained = msg->retained;
    if (!msg->id || msg->qos == 0)
        return MQTTAsync_sendMessage(m->client, msg->topic, &pm, NULL) == MQTTASYNC_SUCCESS ? 0
                                                                                          : -1;
    struct pub *p = NULL;
    /* The sender thread alone takes contexts; paho's thread gives them back. */
    for (size_t i = 0; !p && i < m->npubs; i++) {
        size_t k = (m->next_pub + i) % m->npubs;
        if (!atomic_load_explicit(&m->pubs[k].used, memory_order_acquire)) {
            p = &m->pubs[k];
            m->next_pub = k + 1;
        }
    }
    if (!p)     /* paho still holds messages of a lost connection: try again later */
        return -1;
    p->m = m;
    p->id = msg->id;
    atomic_store_explicit(&p->used, 1, memory_order_relaxed);
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_send_ok;
    ro.onFailure = on_send_fail;
    ro.context = p;
    if (MQTTAsync_sendMessage(m->client, msg->topic, &pm, &ro) != MQTTASYNC_SUCCESS) {
        pub_done(p);    /* refused: paho calls neither callback */
        return -1;
    }
    return 0;
}

static int mqtt_subscribe(struct transport *t, const char *topic, int qos, char *err,
                          size_t errlen)
{
    struct mqtt *m = (struct mqtt *)t;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_subscribe(m->client, topic, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "cannot subscribe to %s (paho code %d)", topic, rc);
        return -1;
    }
    return 0;
}

/* Say in plain words why TLS to the first mqtts:// broker fails: paho only
 * says that the connect failed. */
static void mqtt_diagnose(struct transport *t)
{
    struct mqtt *m = (struct mqtt *)t;
    const struct conf_uplink *cu = m->cu;
    for (size_t i = 0; i < cu->nurls; i++) {
        struct url u;
        char why[300], port[16];
        if (url_parse(cu->urls[i], &u, why, sizeof why) != 0 || u.scheme != URL_MQTTS)
            continue;
        snprintf(port, sizeof port, "%d", u.port);
        if (tls_probe(u.host, port, cu->ca_file, cu->cert_file, cu->key_file, 3000, why,
                      sizeof why) != 0)
            log_error("uplink", cu->name, "TLS to %s:%s: %s", u.host, port, why);
        else
            log_warn("uplink", cu->name, "TLS to %s:%s works (%s); the broker refused the MQTT "
                     "connection itself (credentials? client id?)", u.host, port, why);
        return;
    }
}

static void mqtt_close(struct transport *t)
{
    struct mqtt *m = (struct mqtt *)t;
    if (!m)
        return;
    if (m->client) {
        MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
        dopts.timeout = 1000;
        if (MQTTAsync_isConnected(m->client))
            MQTTAsync_disconnect(m->client, &dopts);
        /* Give paho a moment to send DISCONNECT before the client goes away. */
        for (int i = 0; i < 20 && MQTTAsync_isConnected(m->client); i++) {
            struct timespec ts = { 0, 10000000 };
            nanosleep(&ts, NULL);
        }
        MQTTAsync_destroy(&m->client);
    }
    for (size_t i = 0; i < m->nuris; i++)
        free(m->uris[i]);
    free(m->uris);
    free(m->pubs);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* paho reports no loss for a disconnect it was asked for: say it ourselves,
 * once paho has let go of the connection. */
static void on_dropped(void *ctx, MQTTAsync_successData *resp)
{
    struct mqtt *m = ctx;
    m->ev.lost(m->ev.ctx, "dropped by the agent");
}

static void on_drop_failed(void *ctx, MQTTAsync_failureData *resp)
{
    on_dropped(ctx, NULL);
}

static void mqtt_drop(struct transport *t, const char *why)
{
    struct mqtt *m = (struct mqtt *)t;
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    d.timeout = 0;      /* the broker is not listening: nothing to wait for */
    d.onSuccess = on_dropped;
    d.onFailure = on_drop_failed;
    d.context = m;
    if (MQTTAsync_disconnect(m->client, &d) != MQTTASYNC_SUCCESS)
        m->ev.lost(m->ev.ctx, why);     /* already gone: its loss is reported already, or now */
}

static const struct transport_ops mqtt_ops = {
    mqtt_connect, mqtt_publish, mqtt_subscribe, mqtt_diagnose, mqtt_close, mqtt_drop,
};

struct transport *uplink_mqtt_open(const struct conf_uplink *cu, const struct transport_events *ev,
                                   char *err, size_t errlen)
{
    struct mqtt *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->base.ops = &mqtt_ops;
    m->cu = cu;
    m->ev = *ev;
    pthread_mutex_init(&m->lock, NULL);
    /* paho holds at most max_inflight + 2 tracked messages; after a lost
     * connection those of the old one are failed only later: room for a few
     * generations of them. */
    m->npubs = 4 * ((size_t)cu->max_inflight + 2) + 16;
    m->pubs = calloc(m->npubs, sizeof *m->pubs);
    m->uris = calloc(cu->nurls + 1, sizeof *m->uris);
    if (!m->pubs || !m->uris) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cu->nurls; i++) {
        struct url u;
        char buf[URL_HOST_MAX + 32];
        if (url_parse(cu->urls[i], &u, err, errlen) != 0 || url_paho(&u, buf, sizeof buf) != 0 ||
            !(m->uris[i] = strdup(buf))) {
            if (!m->uris[i] && u.scheme != URL_FILE)
                snprintf(err, errlen, "%s: cannot use this address", cu->urls[i]);
            goto fail;
        }
        m->nuris++;
        m->tls |= u.scheme == URL_MQTTS;
    }
    MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    int rc = MQTTAsync_createWithOptions(&m->client, m->uris[0], cu->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        m->client = NULL;
        snprintf(err, errlen, "cannot create MQTT client for %s (code %d)", cu->urls[0], rc);
        goto fail;
    }
    MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message, NULL);
    return &m->base;
fail:
    mqtt_close(&m->base);
    return NULL;
}
