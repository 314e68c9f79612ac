/* bench_paho: bare paho MQTTAsync peers for tests/bench_store.sh.
 *
 *   bench_paho pub --url ssl://localhost:PORT --ca CA --cert CERT --key KEY
 *                  --payload FILE [--topic T] [--inflight W] [--messages M] [--seconds S]
 *     Publishes FILE (a realtime message) at QoS 1 with at most W messages awaiting
 *     PUBACK, as fast as the broker acknowledges them, until M messages or S
 *     seconds; TLS options as the agent's uplink sets them. Prints
 *       bare_paho messages=N seconds=S messages_per_s=R readings_per_s=R2
 *                 payload_bytes=B readings_per_message=K failures=F
 *
 *   bench_paho sub --url tcp://127.0.0.1:PORT [--topic T] [--live-from SEQ]
 *                  [--out FILE] [--seconds S]
 *     A QoS 0 subscriber that only counts, until SIGTERM/SIGINT or S seconds. For
 *     every reading with seq >= SEQ (the live readings: the backlog's seqs are
 *     below) it writes "arrival_ms latency_ms resend" to FILE, latency being the
 *     arrival time less the reading's "ts" (its sample time). Prints
 *       sub messages=N bytes=B readings=R resend_messages=M live_readings=L
 *           live_resend=LR
 *
 * Exit 0 on success, 1 on a runtime failure, 2 on bad usage. */
#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected, connect_failed, lost;
static long inflight, acked, failures;
static double last_ack;

/* subscriber state: paho's receive thread only, read by main after disconnect */
static unsigned long long s_msgs, s_bytes, s_readings, s_resend, s_live, s_live_resend;
/* Readings below --live-from (a backlog), and when the first and last arrived. */
static unsigned long long s_back;
static int64_t s_back_first_ms, s_back_last_ms;
static uint64_t live_from = UINT64_MAX;
static FILE *out;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx, (void)r;
    pthread_mutex_lock(&mu);
    connected = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "bench_paho: connect failed: %s (code %d)\n",
            r && r->message ? r->message : "no answer", r ? r->code : 0);
    pthread_mutex_lock(&mu);
    connect_failed = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "bench_paho: connection lost: %s\n", cause ? cause : "?");
    pthread_mutex_lock(&mu);
    lost = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_sent(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx, (void)r;
    pthread_mutex_lock(&mu);
    inflight--;
    acked++;
    last_ack = mono_s();
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx, (void)r;
    pthread_mutex_lock(&mu);
    inflight--;
    failures++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2026-11-29T10:30:00.000+08:00" (or ...Z) -> Unix ms; -1 if malformed. */
static int64_t parse_ts(const char *s)
{
    int y, mo, d, h, mi, sec, ms, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%n", &y, &mo, &d, &h, &mi, &sec, &ms, &n) != 7)
        return -1;
    int64_t t = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60 + sec;
    t = t * 1000 + ms;
    const char *z = s + n;
    if (*z == '+' || *z == '-') {
        int oh, om;
        if (sscanf(z + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        int64_t off = ((int64_t)oh * 60 + om) * 60000;
        t += *z == '+' ? -off : off;
    }
    return t;
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
    (void)ctx, (void)len;
    int64_t arrival = wall_ms();
    /* The payload is not NUL-terminated: copy it. */
    char *p = malloc((size_t)m->payloadlen + 1);
    if (p) {
        memcpy(p, m->payload, (size_t)m->payloadlen);
        p[m->payloadlen] = 0;
        s_msgs++;
        s_bytes += (unsigned long long)m->payloadlen;
        int resend = strstr(p, "\"resend\":true") != NULL;
        s_resend += (unsigned long long)resend;
        for (char *q = strstr(p, "{\"seq\":"); q; q = strstr(q, "{\"seq\":")) {
            q += 7;
            s_readings++;
            uint64_t seq = strtoull(q, &q, 10);
            if (seq < live_from) {
                if (!s_back++)
                    s_back_first_ms = arrival;
                s_back_last_ms = arrival;
                continue;
            }
            char *t = strstr(q, "\"ts\":\"");
            if (!t)
                break;
            int64_t ts = parse_ts(t + 6);
            s_live++;
            s_live_resend += (unsigned long long)resend;
            if (out && ts > 0)
                fprintf(out, "%lld %lld %d\n", (long long)arrival, (long long)(arrival - ts),
                        resend);
            q = t + 6;
        }
        free(p);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: bench_paho pub --url URL --payload FILE [--ca F --cert F --key F] [--topic T]\n"
        "                      [--inflight W] [--messages M] [--seconds S]\n"
        "       bench_paho sub --url URL [--topic T] [--live-from SEQ] [--out FILE]\n"
        "                      [--seconds S] [--ca F --cert F --key F]\n"
        "  URL is tcp://host:port or ssl://host:port (paho's form)\n"
        "  defaults: topic ganzhi/220102000001/realtime, inflight 32, messages 1000000,\n"
        "            seconds 10 (pub) or until SIGTERM (sub)\n");
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n + 65536 > cap) {
            char *nb = realloc(buf, cap = (n + 65536) * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
    } while (k > 0);
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Wait until connected (1), or refused / timeout (0). */
static int wait_connected(double limit)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)limit;
    pthread_mutex_lock(&mu);
    while (!connected && !connect_failed &&
           pthread_cond_timedwait(&cv, &mu, &until) != ETIMEDOUT)
        ;
    int ok = connected;
    pthread_mutex_unlock(&mu);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "pub") && strcmp(argv[1], "sub"))) {
        usage(stderr);
        return 2;
    }
    int pub = !strcmp(argv[1], "pub");
    const char *url = NULL, *ca = NULL, *cert = NULL, *key = NULL, *payload_file = NULL;
    const char *topic = "ganzhi/220102000001/realtime", *out_file = NULL;
    long window = 32, messages = 1000000;
    double seconds = pub ? 10 : 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--url"))
            url = v;
        else if (!strcmp(a, "--ca"))
            ca = v;
        else if (!strcmp(a, "--cert"))
            cert = v;
        else if (!strcmp(a, "--key"))
            key = v;
        else if (!strcmp(a, "--payload"))
            payload_file = v;
        else if (!strcmp(a, "--topic"))
            topic = v;
        else if (!strcmp(a, "--out"))
            out_file = v;
        else if (!strcmp(a, "--inflight"))
            window = strtol(v, NULL, 10);
        else if (!strcmp(a, "--messages"))
            messages = strtol(v, NULL, 10);
        else if (!strcmp(a, "--seconds"))
            seconds = strtod(v, NULL);
        else if (!strcmp(a, "--live-from"))
            live_from = strtoull(v, NULL, 10);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!url || (pub && !payload_file) || window < 1 || window > 65000 || messages < 1 ||
        seconds < 0) {
        usage(stderr);
        return 2;
    }
    size_t plen = 0;
    char *payload = NULL;
    long per_msg = 0;
    if (pub) {
        payload = read_file(payload_file, &plen);
        if (!payload || !plen) {
            fprintf(stderr, "bench_paho: cannot read %s\n", payload_file);
            return 1;
        }
        for (const char *q = strstr(payload, "{\"seq\":"); q; q = strstr(q + 1, "{\"seq\":"))
            per_msg++;
    } else if (out_file && !(out = fopen(out_file, "w"))) {
        fprintf(stderr, "bench_paho: %s: %s\n", out_file, strerror(errno));
        return 1;
    }
    /* The subscriber waits for a signal in main: paho's threads must not take it. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    if (!pub)
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    MQTTAsync client;
    MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
    copts.MQTTVersion = MQTTVERSION_3_1_1;
    char id[64];
    snprintf(id, sizeof id, "bench-paho-%s-%ld", argv[1], (long)getpid());
    if (MQTTAsync_createWithOptions(&client, url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                    &copts) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "bench_paho: cannot create a client for %s\n", url);
        return 1;
    }
    MQTTAsync_setCallbacks(client, NULL, on_lost, on_message, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
    co.keepAliveInterval = 30;
    co.cleansession = 1;
    co.connectTimeout = 10;
    co.onSuccess = on_connect;
    co.onFailure = on_connect_fail;
    co.maxInflight = (int)window + 2;   /* as the agent's uplink */
    if (!strncmp(url, "ssl://", 6)) {
        so.trustStore = ca;
        so.keyStore = cert;
        so.privateKey = key;
        so.enableServerCertAuth = 1;
        so.verify = 1;
        so.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
        co.ssl = &so;
    }
    if (MQTTAsync_connect(client, &co) != MQTTASYNC_SUCCESS || !wait_connected(15)) {
        fprintf(stderr, "bench_paho: cannot connect to %s\n", url);
        return 1;
    }
    int rc = 0;
    if (pub) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.onSuccess = on_sent;
        ro.onFailure = on_send_fail;
        double t0 = mono_s(), deadline = seconds > 0 ? t0 + seconds : 1e300;
        long sent = 0;
        while (sent < messages && mono_s() < deadline) {
            pthread_mutex_lock(&mu);
            while (inflight >= window && !lost)
                pthread_cond_wait(&cv, &mu);
            int gone = lost;
            if (!gone)
                inflight++;
            pthread_mutex_unlock(&mu);
            if (gone) {
                rc = 1;
                break;
            }
            MQTTAsync_message m = MQTTAsync_message_initializer;
            m.payload = payload;
            m.payloadlen = (int)plen;
            m.qos = 1;
            if (MQTTAsync_sendMessage(client, topic, &m, &ro) != MQTTASYNC_SUCCESS) {
                pthread_mutex_lock(&mu);
                inflight--;
                failures++;
                pthread_mutex_unlock(&mu);
                if (failures > 100) {
                    rc = 1;
                    break;
                }
                continue;
            }
            sent++;
        }
        /* The last acks (at most 10 s). */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&mu);
        while (inflight > 0 && !lost && pthread_cond_timedwait(&cv, &mu, &until) != ETIMEDOUT)
            ;
        long n = acked, f = failures;
        double el = (last_ack > t0 ? last_ack : mono_s()) - t0;
        pthread_mutex_unlock(&mu);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        printf("bare_paho messages=%ld seconds=%.2f messages_per_s=%.1f readings_per_s=%.0f "
               "payload_bytes=%zu readings_per_message=%ld failures=%ld inflight=%ld "
               "cpu_pct=%.0f\n", n, el, (double)n / el, (double)n * (double)per_msg / el, plen,
               per_msg, f, window, 100 * cpu / el);
        if (!n)
            rc = 1;
    } else {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        if (MQTTAsync_subscribe(client, topic, 0, &ro) != MQTTASYNC_SUCCESS) {
            fprintf(stderr, "bench_paho: cannot subscribe to %s\n", topic);
            return 1;
        }
        printf("sub ready\n");
        fflush(stdout);
        if (seconds > 0) {
            struct timespec to = { (time_t)seconds, 0 };
            sigtimedwait(&sigs, NULL, &to);
        } else {
            int sig;
            sigwait(&sigs, &sig);
        }
    }
    MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
    dopts.timeout = 1000;
    MQTTAsync_disconnect(client, &dopts);
    struct timespec pause = { 0, 200000000 };
    nanosleep(&pause, NULL);
    MQTTAsync_destroy(&client);
    if (!pub) {
        if (out)
            fclose(out);
        printf("sub messages=%llu bytes=%llu readings=%llu resend_messages=%llu "
               "live_readings=%llu live_resend=%llu backlog_readings=%llu "
               "backlog_first_ms=%lld backlog_last_ms=%lld\n", s_msgs, s_bytes, s_readings,
               s_resend, s_live, s_live_resend, s_back, (long long)s_back_first_ms,
               (long long)s_back_last_ms);
    }
    free(payload);
    return rc;
}
