/* cli_command: `ganzhi command`, the platform's side of the command channel
 * played by hand: a command signed with the uplink's command key, published to
 * {topic_prefix}/command on the uplink's broker as the agent's peer would, the
 * signed reply on {topic_prefix}/reply checked and shown, and a summary of what
 * the agent published meanwhile (a resend's readings, a measure's). For a
 * platform team checking its own implementation against the gateway, and for a
 * field engineer checking the channel. Connects as <client_id>-command with the
 * agent's own connect options, so that the running agent is not kicked off. */
#include "tools/cli.h"
#include "tools/cli_mqtt_wait.h"
#include "agent/keyfile.h"
#include "agent/uplink_mqtt.h"
#include "core/url.h"
#include "proto/command.h"
#include "proto/wire.h"
#include <MQTTAsync.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int cli_command(int argc, char **argv);

#define CONNECT_WAIT_MS 15000
#define ACK_WAIT_MS 10000
#define DEFAULT_WAIT_MS 10000
#define MAX_TOPICS 64

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ganzhi command -c FILE UPLINK CMD [--from T --to T | --seq-from N --seq-to N]\n"
        "                      [--tags A,B | --devices A,B] [--id ID] [--ts T] [--wait SECONDS]\n"
        "                      [--print]\n"
        "Signs command CMD (resend, measure, clock, status, points) with the uplink's\n"
        "command_key_file, publishes it to <topic_prefix>/command on the uplink's broker\n"
        "(QoS 1, as <client_id>-command), prints the agent's reply and whether its\n"
        "signature is good, then for --wait seconds (10) what arrived on the uplink's other\n"
        "topics: messages per topic, how many name this command's id, their seqs.\n"
        "Times (T, --ts): RFC 3339 with a zone, yyyyMMddHHmmss and a zone, now, or\n"
        "now-DURATION (now-90s, now-15m, now-2h, now-1d), sent as written or, for now...,\n"
        "in the wire time zone. --id: cli-<unix time>-<random> unless given; --ts: now.\n"
        "--print: print the signed command and send nothing.\n"
        "Exit 0 if the reply came, its signature is good and it says ok; 1 otherwise; 2 bad\n"
        "usage or configuration.\n");
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- arguments ---- */

/* now, now-DURATION (s, m, h, d), or the text as it is (checked by the caller).
 * Into buf. 0, or -1. */
static int time_arg(const char *s, int tz_minutes, int64_t now, char *buf, size_t len)
{
    if (strncmp(s, "now", 3) != 0) {
        snprintf(buf, len, "%s", s);
        return 0;
    }
    int64_t back = 0;
    if (s[3]) {
        static const struct { char c; int64_t ms; } units[] = {
            { 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 }, { 'd', 86400000 } };
        const char *p = s + 4;
        int64_t v = 0;
        if (s[3] != '-' || !*p)
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            v = v * 10 + (*p - '0');
            if (v > 366LL * 86400)
                return -1;
        }
        size_t i = 0;
        while (i < 4 && (p[0] != units[i].c || p[1]))
            i++;
        if (p == s + 4 || i == 4)
            return -1;
        back = v * units[i].ms;
    }
    if (len < 32)
        return -1;
    wire_time_rfc3339(now - back, tz_minutes, buf);
    return 0;
}

/* A seq: digits only, up to 2^53. */
static int seq_arg(const char *s, double *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_C(1) << 53) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (UINT64_C(1) << 53))
        return -1;
    *out = (double)v;
    return 0;
}

/* "A,B,C" as an array of strings; empty items refused. */
static cJSON *list_arg(const char *s)
{
    cJSON *a = cJSON_CreateArray();
    const char *p = s;
    while (a) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *item = n ? strndup(p, n) : NULL;
        cJSON *it = item ? cJSON_CreateString(item) : NULL;
        free(item);
        if (!it || !cJSON_AddItemToArray(a, it)) {
            cJSON_Delete(it);
            cJSON_Delete(a);
            return NULL;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return a;
}

struct opts {
    const char *path, *uplink, *cmd;
    const char *from, *to, *seq_from, *seq_to, *tags, *devices, *id, *ts;
    int64_t wait_ms;
    int print;
};

/* The command object's JSON, its id in id (as given: to look for in the reply),
 * or NULL after saying why. */
static char *command_object(const struct opts *o, const struct conf *c, int64_t now, char *id,
                            size_t idlen)
{
    char ts[64], from[64], to[64];
    int tz = c->agent.wire_tz_minutes;
    if (o->id)
        snprintf(id, idlen, "%s", o->id);
    else {
        uint32_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = (uint32_t)getpid() ^ (uint32_t)now;
        snprintf(id, idlen, "cli-%lld-%08" PRIx32, (long long)(now / 1000), r);
    }
    if (time_arg(o->ts ? o->ts : "now", tz, now, ts, sizeof ts) ||
        (o->from && time_arg(o->from, tz, now, from, sizeof from)) ||
        (o->to && time_arg(o->to, tz, now, to, sizeof to))) {
        fprintf(stderr, "ganzhi command: a time is RFC 3339 with a zone, yyyyMMddHHmmss and a "
                        "zone, now or now-DURATION (now-15m, now-2h)\n");
        return NULL;
    }
    cJSON *obj = cJSON_CreateObject(), *args = NULL;
    cJSON_AddStringToObject(obj, "id", id);
    cJSON_AddStringToObject(obj, "cmd", o->cmd);
    cJSON_AddStringToObject(obj, "ts", ts);
    if (o->from || o->to || o->seq_from || o->seq_to || o->tags || o->devices) {
        args = cJSON_AddObjectToObject(obj, "args");
        double v;
        if (o->from)
            cJSON_AddStringToObject(args, "from", from);
        if (o->to)
            cJSON_AddStringToObject(args, "to", to);
        if (o->seq_from) {
            if (seq_arg(o->seq_from, &v)) {
                fprintf(stderr, "ganzhi command: --seq-from takes a seq (0 to 2^53)\n");
                goto fail;
            }
            cJSON_AddNumberToObject(args, "seq_from", v);
        }
        if (o->seq_to) {
            if (seq_arg(o->seq_to, &v)) {
                fprintf(stderr, "ganzhi command: --seq-to takes a seq (0 to 2^53)\n");
                goto fail;
            }
            cJSON_AddNumberToObject(args, "seq_to", v);
        }
        if (o->tags || o->devices) {
            cJSON *l = list_arg(o->tags ? o->tags : o->devices);
            if (!l) {
                fprintf(stderr, "ganzhi command: --%s takes names separated by commas\n",
                        o->tags ? "tags" : "devices");
                goto fail;
            }
            cJSON_AddItemToObject(args, o->tags ? "tags" : "devices", l);
            if (o->tags && o->devices) {
                cJSON *d = list_arg(o->devices);
                if (d)
                    cJSON_AddItemToObject(args, "devices", d);
            }
        }
    }
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    return s;
fail:
    cJSON_Delete(obj);
    return NULL;
}

/* ---- MQTT ---- */

struct topic_stat {
    char *topic;
    unsigned long msgs, with_id, seqs;
    uint64_t seq_min, seq_max;
};

struct session {
    struct mqtt_waiter w;       /* the last asynchronous call; its lock guards all below */
    /* what we look for */
    const char *reply_topic, *command_topic, *prefix;
    char id[COMMAND_ID_MAX + 64];
    char id_needle[COMMAND_ID_MAX + 96];
    /* the reply */
    char *reply;
    size_t reply_len;
    double t_reply;
    unsigned long other_replies, dup_replies, retained;
    int lost;
    struct topic_stat topics[MAX_TOPICS];
    size_t ntopics;
    unsigned long topics_dropped;
};

static void on_lost(void *ctx, char *cause)
{
    struct session *s = ctx;
    pthread_mutex_lock(&s->w.m);
    s->lost = 1;
    pthread_cond_broadcast(&s->w.c);
    pthread_mutex_unlock(&s->w.m);
    mqtt_waiter_finish(&s->w, 0, MQTTASYNC_DISCONNECTED, cause ? cause : "connection lost");
}

/* The seqs of a message: every "seq":N in it (the generic profile's readings). */
static void count_seqs(struct topic_stat *t, const char *p, size_t n)
{
    static const char key[] = "\"seq\":";
    const char *end = p + n;
    while (p < end) {
        const char *k = memmem(p, (size_t)(end - p), key, sizeof key - 1);
        if (!k)
            break;
        p = k + sizeof key - 1;
        if (p >= end || *p < '0' || *p > '9')
            continue;
        uint64_t v = 0;
        while (p < end && *p >= '0' && *p <= '9' && v < UINT64_MAX / 10)
            v = v * 10 + (uint64_t)(*p++ - '0');
        if (!t->seqs || v < t->seq_min)
            t->seq_min = v;
        if (!t->seqs || v > t->seq_max)
            t->seq_max = v;
        t->seqs++;
    }
}

/* The id of a reply, as far as it can be read: 1 ours, 0 another's, -1 none. */
static int reply_is_ours(const struct session *s, const char *p, size_t n)
{
    cJSON *root = cJSON_ParseWithLength(p, n);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "reply"),
                                                       "id");
    int r = cJSON_IsString(id) ? !strcmp(id->valuestring, s->id) : -1;
    cJSON_Delete(root);
    return r;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct session *s = ctx;
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    const char *p = m->payload;
    size_t n = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    pthread_mutex_lock(&s->w.m);
    if (m->retained) {
        /* sent before we came: not this command's doing */
        s->retained++;
    } else if (tl == strlen(s->reply_topic) && !memcmp(topic, s->reply_topic, tl)) {
        int ours = reply_is_ours(s, p, n);
        if (s->reply && s->reply_len == n && !memcmp(s->reply, p, n)) {
            s->dup_replies++;   /* the same reply through both subscriptions */
        } else if (ours == 1 || (ours == -1 && !s->reply)) {
            if (!s->reply) {
                s->reply = malloc(n + 1);
                if (s->reply) {
                    memcpy(s->reply, p, n);
                    s->reply[n] = 0;
                    s->reply_len = n;
                    s->t_reply = mono_ms();
                }
            } else
                s->other_replies++;
            pthread_cond_broadcast(&s->w.c);
        } else
            s->other_replies++;
    } else if (!(tl == strlen(s->command_topic) && !memcmp(topic, s->command_topic, tl))) {
        struct topic_stat *t = NULL;
        for (size_t i = 0; i < s->ntopics && !t; i++)
            if (strlen(s->topics[i].topic) == tl && !memcmp(s->topics[i].topic, topic, tl))
                t = &s->topics[i];
        if (!t && s->ntopics < MAX_TOPICS) {
            t = &s->topics[s->ntopics];
            memset(t, 0, sizeof *t);
            if ((t->topic = strndup(topic, tl)))
                s->ntopics++;
            else
                t = NULL;
        }
        if (t) {
            t->msgs++;
            t->with_id += memmem(p, n, s->id_needle, strlen(s->id_needle)) != NULL;
            count_seqs(t, p, n);
        } else
            s->topics_dropped++;
    }
    pthread_mutex_unlock(&s->w.m);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Connect to one URL of the uplink. 0 and *client, or -1 with why. */
static int connect_one(const struct conf_uplink *cu, const char *url, struct session *s,
                       MQTTAsync *client, char *why, size_t whylen)
{
    struct url u;
    char uri[320], err[300], client_id[256];
    if (url_parse(url, &u, err, sizeof err) != 0 || u.scheme == URL_FILE ||
        url_paho(&u, uri, sizeof uri) != 0) {
        snprintf(why, whylen, "%s is not an mqtt:// or mqtts:// URL", url);
        return -1;
    }
    snprintf(client_id, sizeof client_id, "%s-command", cu->client_id ? cu->client_id : "ganzhi");
    MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
    copts.MQTTVersion = MQTTVERSION_3_1_1;
    int rc = MQTTAsync_createWithOptions(client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                         &copts);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(why, whylen, "cannot create an MQTT client for %s (paho code %d)", uri, rc);
        return -1;
    }
    MQTTAsync_setCallbacks(*client, s, on_lost, on_message, NULL);
    struct mqtt_connect_options o;
    uplink_mqtt_options(cu, u.scheme == URL_MQTTS, &o);
    o.co.onSuccess = mqtt_waiter_on_ok;
    o.co.onFailure = mqtt_waiter_on_fail;
    o.co.context = &s->w;
    mqtt_waiter_reset(&s->w);
    rc = MQTTAsync_connect(*client, &o.co);
    if (rc != MQTTASYNC_SUCCESS || !mqtt_waiter_wait(&s->w, CONNECT_WAIT_MS) || !s->w.ok) {
        if (rc != MQTTASYNC_SUCCESS)
            snprintf(why, whylen, "MQTT connect could not start (paho code %d)", rc);
        else if (!s->w.done)
            snprintf(why, whylen, "no CONNACK within %d s", CONNECT_WAIT_MS / 1000);
        else
            snprintf(why, whylen, "MQTT connect failed: %s (code %d; `ganzhi uplink` tells more)",
                     s->w.msg[0] ? s->w.msg : "no reason given", s->w.code);
        MQTTAsync_destroy(client);
        return -1;
    }
    printf("connected to %s as %s\n", url, client_id);
    return 0;
}

static int subscribe(MQTTAsync client, struct session *s, const char *topic, char *why,
                     size_t whylen)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = mqtt_waiter_on_ok;
    ro.onFailure = mqtt_waiter_on_fail;
    ro.context = &s->w;
    mqtt_waiter_reset(&s->w);
    int rc = MQTTAsync_subscribe(client, topic, 1, &ro);
    if (rc != MQTTASYNC_SUCCESS || !mqtt_waiter_wait(&s->w, ACK_WAIT_MS) || !s->w.ok) {
        snprintf(why, whylen, "cannot subscribe to %s: %s", topic,
                 rc != MQTTASYNC_SUCCESS ? "paho refused"
                 : !s->w.done ? "no SUBACK" : "refused by the broker (not authorised?)");
        return -1;
    }
    return 0;
}

static void print_reply(const struct session *s, const struct command_key *key, double t_sent,
                        int *ok)
{
    char reason[300];
    cJSON *o = NULL;
    enum command_verdict v = command_verify_reply(s->reply, s->reply_len, key, &o, reason,
                                                  sizeof reason);
    printf("reply after %.1f ms on %s:\n%s\n", s->t_reply - t_sent, s->reply_topic, s->reply);
    if (v == COMMAND_BAD_SIGNATURE)
        printf("  signature BAD: not the %s of the reply with the uplink's command key: do not "
               "trust this reply\n", mac_name(key->alg));
    else if (v == COMMAND_OK)
        printf("  signature good (%s with the uplink's command key)\n", mac_name(key->alg));
    else
        printf("  not a well-formed reply: %s\n", reason);
    const cJSON *r = o;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
    const cJSON *okf = cJSON_GetObjectItemCaseSensitive(r, "ok");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error");
    if (cJSON_IsNull(id))
        printf("  the reply has no id: the agent could not read this command's id\n");
    const char *unverified = v == COMMAND_BAD_SIGNATURE ? " (unverified)" : "";
    if (cJSON_IsTrue(okf))
        printf("  ok%s\n", unverified);
    else if (cJSON_IsFalse(okf))
        printf("  REFUSED%s: %s\n", unverified,
               cJSON_IsString(err) ? err->valuestring : "(no reason given)");
    *ok = v == COMMAND_OK && cJSON_IsTrue(okf) && cJSON_IsString(id) && !strcmp(id->valuestring, s->id);
    cJSON_Delete(o);
}

static void print_summary(const struct session *s, double seconds)
{
    size_t shown = 0;
    printf("on the uplink's other topics in %.1f s:\n", seconds);
    for (size_t i = 0; i < s->ntopics; i++) {
        const struct topic_stat *t = &s->topics[i];
        printf("  %-32s %lu message%s, %lu with command_id %s", t->topic, t->msgs,
               t->msgs == 1 ? "" : "s", t->with_id, s->id);
        if (t->seqs)
            printf(", seqs %" PRIu64 "..%" PRIu64 " (%lu reading%s)", t->seq_min, t->seq_max,
                   t->seqs, t->seqs == 1 ? "" : "s");
        printf("\n");
        shown++;
    }
    if (!shown)
        printf("  nothing\n");
    if (s->topics_dropped)
        printf("  (%lu messages on more than %d topics not counted)\n", s->topics_dropped,
               MAX_TOPICS);
    if (s->retained)
        printf("  (%lu retained message%s from before the command not counted)\n", s->retained,
               s->retained == 1 ? "" : "s");
    if (s->other_replies)
        printf("  (%lu repl%s to other commands on %s)\n", s->other_replies,
               s->other_replies == 1 ? "y" : "ies", s->reply_topic);
}

/* Send and watch. The exit status. */
static int run(const struct conf_uplink *cu, const struct command_key *key, const char *payload,
               size_t len, const char *id, const char *cmd, int64_t wait_ms)
{
    char reply_topic[512], command_topic[512], all_topic[512], why[512];
    snprintf(reply_topic, sizeof reply_topic, "%s/reply", cu->topic_prefix);
    snprintf(command_topic, sizeof command_topic, "%s/command", cu->topic_prefix);
    snprintf(all_topic, sizeof all_topic, "%s/#", cu->topic_prefix);
    struct session *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "ganzhi command: out of memory\n");
        return 1;
    }
    mqtt_waiter_init(&s->w);
    s->reply_topic = reply_topic;
    s->command_topic = command_topic;
    snprintf(s->id, sizeof s->id, "%s", id);
    /* as JSON writes the id: "command_id":"<id>" (an id needing escapes is not found) */
    snprintf(s->id_needle, sizeof s->id_needle, "\"command_id\":\"%s\"", id);

    MQTTAsync client = NULL;
    int rc = 1, connected = 0;
    for (size_t i = 0; i < cu->nurls && !connected; i++) {
        if (connect_one(cu, cu->urls[i], s, &client, why, sizeof why) == 0)
            connected = 1;
        else
            printf("%s: %s\n", cu->urls[i], why);
    }
    if (!connected) {
        printf("failed: no connection to uplink %s's broker\n", cu->name);
        goto out;
    }
    if (subscribe(client, s, reply_topic, why, sizeof why) != 0) {
        printf("failed: %s\n", why);
        goto disconnect;
    }
    if (subscribe(client, s, all_topic, why, sizeof why) != 0)
        printf("%s: only the reply will be shown\n", why);

    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = mqtt_waiter_on_ok;
    ro.onFailure = mqtt_waiter_on_fail;
    ro.context = &s->w;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = 1;
    mqtt_waiter_reset(&s->w);
    double t0 = mono_ms();
    int prc = MQTTAsync_sendMessage(client, command_topic, &m, &ro);
    if (prc != MQTTASYNC_SUCCESS || !mqtt_waiter_wait(&s->w, ACK_WAIT_MS) || !s->w.ok) {
        printf("failed: the command was not acknowledged by the broker (%s)\n",
               prc != MQTTASYNC_SUCCESS ? "paho refused it"
               : !s->w.done ? "no PUBACK" : s->w.msg[0] ? s->w.msg : "publish failed");
        goto disconnect;
    }
    printf("sent %s %s to %s: %zu bytes, PUBACK after %.1f ms\n", cmd, id, command_topic, len,
           s->w.t_done - t0);
    fflush(stdout);

    /* The reply, then (when it says ok) what the command makes the agent publish. */
    int printed = 0, ok = 0, stop = 0;
    double deadline = t0 + (double)wait_ms;
    pthread_mutex_lock(&s->w.m);
    for (;;) {
        if (s->reply && !printed) {
            pthread_mutex_unlock(&s->w.m);
            print_reply(s, key, t0, &ok);
            fflush(stdout);
            printed = 1;
            /* nothing follows a refusal; a clock reply is all there is */
            stop = !ok || !strcmp(cmd, "clock");
            pthread_mutex_lock(&s->w.m);
        }
        double now = mono_ms();
        if (stop || s->lost || now >= deadline)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t step = (int64_t)(deadline - now) < 200 ? (int64_t)(deadline - now) + 1 : 200;
        until.tv_nsec += (long)step * 1000000L;
        while (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->w.c, &s->w.m, &until);
    }
    pthread_mutex_unlock(&s->w.m);
    if (s->lost)
        printf("the connection to the broker was lost\n");
    if (!printed)
        printf("no reply on %s within %.1f s: is commands = on for uplink %s, and the agent "
               "connected to this broker?\n", reply_topic, (double)wait_ms / 1000, cu->name);
    pthread_mutex_lock(&s->w.m);
    print_summary(s, (mono_ms() - t0) / 1000);
    pthread_mutex_unlock(&s->w.m);
    rc = ok ? 0 : 1;
disconnect:
    if (MQTTAsync_isConnected(client)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 1000;
        d.onSuccess = mqtt_waiter_on_ok;
        d.onFailure = mqtt_waiter_on_fail;
        d.context = &s->w;
        mqtt_waiter_reset(&s->w);
        if (MQTTAsync_disconnect(client, &d) == MQTTASYNC_SUCCESS)
            mqtt_waiter_wait(&s->w, 2000);
    }
    MQTTAsync_destroy(&client);
out:
    for (size_t i = 0; i < s->ntopics; i++)
        free(s->topics[i].topic);
    free(s->reply);
    mqtt_waiter_fini(&s->w);
    free(s);
    return rc;
}

int cli_command(int argc, char **argv)
{
    struct opts o = { .wait_ms = DEFAULT_WAIT_MS };
    static const struct { const char *name; size_t off; } valued[] = {
        { "--from", offsetof(struct opts, from) }, { "--to", offsetof(struct opts, to) },
        { "--seq-from", offsetof(struct opts, seq_from) },
        { "--seq-to", offsetof(struct opts, seq_to) }, { "--tags", offsetof(struct opts, tags) },
        { "--devices", offsetof(struct opts, devices) }, { "--id", offsetof(struct opts, id) },
        { "--ts", offsetof(struct opts, ts) },
    };
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof valued / sizeof valued[0] && strcmp(argv[i], valued[k].name))
            k++;
        if (k < sizeof valued / sizeof valued[0]) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ganzhi command: %s needs a value\n", argv[i]);
                return 2;
            }
            *(const char **)((char *)&o + valued[k].off) = argv[++i];
        } else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            o.path = argv[++i];
        } else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
            if (cli_wait_parse("command", argv[++i], &o.wait_ms))
                return 2;
        } else if (!strcmp(argv[i], "--print")) {
            o.print = 1;
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ganzhi command: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!o.uplink) {
            o.uplink = argv[i];
        } else if (!o.cmd) {
            o.cmd = argv[i];
        } else {
            fprintf(stderr, "ganzhi command: one command at a time ('%s'?)\n", argv[i]);
            return 2;
        }
    }
    if (!o.path || !o.uplink || !o.cmd) {
        usage(stderr);
        return 2;
    }
    if (command_kind_parse(o.cmd) == COMMAND_NONE)
        fprintf(stderr, "ganzhi command: '%s' is not a command the agent knows (resend, measure, "
                        "clock, status, points): it will refuse it\n", o.cmd);
    struct conf *c = cli_load(o.path);
    if (!c)
        return 2;
    int rc = 2;
    const struct conf_uplink *cu = NULL;
    for (size_t i = 0; i < c->nuplinks; i++)
        if (!strcmp(c->uplinks[i].name, o.uplink))
            cu = &c->uplinks[i];
    if (!cu) {
        fprintf(stderr, "ganzhi command: no uplink '%s' in %s", o.uplink, o.path);
        for (size_t i = 0; i < c->nuplinks; i++)
            fprintf(stderr, "%s%s", i ? ", " : " (there are: ", c->uplinks[i].name);
        fprintf(stderr, "%s\n", c->nuplinks ? ")" : " (none configured)");
        goto out;
    }
    if (!cu->command_key_file) {
        fprintf(stderr, "ganzhi command: uplink %s has no command_key_file (the key commands are "
                        "signed with)\n", cu->name);
        goto out;
    }
    if (!cu->commands || strcmp(cu->commands, "on"))
        fprintf(stderr, "ganzhi command: warning: commands = off for uplink %s: the agent does "
                        "not read commands from its broker\n", cu->name);
    unsigned char keybuf[1024];
    size_t keylen = 0;
    char err[300];
    if (keyfile_read(cu->command_key_file, 0, keybuf, sizeof keybuf, &keylen, err, sizeof err)) {
        fprintf(stderr, "ganzhi command: command_key_file: %s\n", err);
        goto out;
    }
    struct command_key key = { MAC_HMAC_SHA256, keybuf, keylen };
    if (cu->command_sign && mac_parse(cu->command_sign, &key.alg)) {
        fprintf(stderr, "ganzhi command: command_sign '%s' is not sha256 or sm3\n", cu->command_sign);
        goto wipe;
    }
    int64_t now = wall_ms();
    char id[COMMAND_ID_MAX + 64];
    char *obj = command_object(&o, c, now, id, sizeof id);
    if (!obj)
        goto wipe;
    size_t len = 0;
    char *payload = command_build(&key, obj, &len);
    free(obj);
    if (!payload) {
        fprintf(stderr, "ganzhi command: cannot sign (%s not available)\n", mac_name(key.alg));
        goto wipe;
    }
    /* Say beforehand what the agent will refuse; send it all the same (that is
     * how a platform sees a refusal). */
    struct command parsed;
    char reason[300];
    enum command_verdict v = command_parse(payload, len, &key, now, cu->command_skew_ms,
                                           cu->resend_max_ms, &parsed, reason, sizeof reason);
    command_free(&parsed);
    if (v != COMMAND_OK)
        fprintf(stderr, "ganzhi command: the agent will refuse this command (%s): %s\n",
                command_verdict_name(v), reason);
    if (o.print) {
        fwrite(payload, 1, len, stdout);
        putchar('\n');
        rc = 0;
    } else {
        signal(SIGPIPE, SIG_IGN);
        MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
        init.do_openssl_init = 1;
        MQTTAsync_global_init(&init);
        rc = run(cu, &key, payload, len, id, o.cmd, o.wait_ms);
    }
    free(payload);
wipe:
    memset(keybuf, 0, sizeof keybuf);
out:
    conf_free(c);
    return rc;
}
