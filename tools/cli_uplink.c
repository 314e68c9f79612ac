/* cli_uplink: `ganzhi uplink`, one uplink tried step by step as the agent would
 * use it: resolve, TCP connect, TLS (inspected with mbedTLS: the broker's
 * certificate, ours and whether our key matches it), an MQTT connect with paho
 * exactly as the agent makes it (under client_id + "-test", so the running agent
 * is not kicked off), one QoS 1 test message and its PUBACK round trip. Each URL
 * of the uplink in turn, stopping at the first that works. Each failure is said
 * in plain words. Nothing secret is printed: no password, no key material. */
#include "tools/cli.h"
#include "tools/cli_mqtt_wait.h"
#include "agent/tls_probe.h"
#include "agent/uplink_mqtt.h"
#include "core/url.h"
#include "proto/wire.h"
#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int cli_uplink(int argc, char **argv);

#define TCP_TIMEOUT_MS 5000
#define TLS_TIMEOUT_MS 5000
#define MQTT_CONNECT_WAIT_MS 15000
#define PUBACK_WAIT_MS 10000

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi uplink -c FILE NAME [--no-publish]\n"
               "Tries uplink NAME as the agent would, each URL in turn until one works:\n"
               "resolve, TCP connect, TLS (the broker's certificate, ours, whether our key\n"
               "matches it), MQTT connect as <client_id>-test, then one QoS 1 test message\n"
               "to <topic_prefix>/test and its round trip (--no-publish: connect only).\n"
               "Exit 0 if the test message was acknowledged, 1 if not, 2 bad usage.\n");
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- URL ---- */

struct target {
    int tls;
    char host[256], port[16];
    char uri[300];      /* paho's form: tcp://host:port or ssl://host:port */
};

/* mqtt[s]://host[:port], host may be [v6]. 0, or -1 if it does not parse. */
static int parse_url(const char *url, struct target *t)
{
    memset(t, 0, sizeof *t);
    struct url u;
    char err[300];
    if (url_parse(url, &u, err, sizeof err) != 0 || u.scheme == URL_FILE)
        return -1;
    t->tls = u.scheme == URL_MQTTS;
    snprintf(t->host, sizeof t->host, "%s", u.host);
    snprintf(t->port, sizeof t->port, "%d", u.port);
    return url_paho(&u, t->uri, sizeof t->uri);
}

/* ---- resolve and TCP ---- */

static int resolve(const struct target *t, struct addrinfo **res, char *why, size_t whylen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    int rc = getaddrinfo(t->host, t->port, &hints, res);
    if (rc != 0) {
        snprintf(why, whylen, "cannot resolve %s: %s", t->host, gai_strerror(rc));
        return -1;
    }
    printf("  resolve   %s ->", t->host);
    char seen[8][INET6_ADDRSTRLEN];
    size_t nseen = 0;
    for (struct addrinfo *ai = *res; ai; ai = ai->ai_next) {
        char a[INET6_ADDRSTRLEN];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, a, sizeof a, NULL, 0, NI_NUMERICHOST))
            continue;
        int dup = 0;
        for (size_t i = 0; i < nseen; i++)
            dup |= !strcmp(seen[i], a);
        if (dup)
            continue;
        printf("%s %s", nseen ? "," : "", a);
        if (nseen < 8)
            snprintf(seen[nseen++], sizeof seen[0], "%s", a);
    }
    printf("\n");
    return 0;
}

/* Connect to each address in turn; say how long the first success took. */
static int tcp_try(const struct target *t, struct addrinfo *res, char *why, size_t whylen)
{
    int refused = 0, timed_out = 0, unreachable = 0, other = 0;
    char other_err[128] = "";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char a[INET6_ADDRSTRLEN] = "?";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, a, sizeof a, NULL, 0, NI_NUMERICHOST);
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
        if (fd < 0)
            continue;
        double t0 = mono_ms();
        int err = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                struct pollfd p = { fd, POLLOUT, 0 };
                socklen_t len = sizeof err;
                if (poll(&p, 1, TCP_TIMEOUT_MS) != 1)
                    err = ETIMEDOUT;
                else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                    err = errno;
            }
        }
        double ms = mono_ms() - t0;
        close(fd);
        if (err == 0) {
            printf("  connect   %s%s%s:%s in %.1f ms\n", ai->ai_family == AF_INET6 ? "[" : "", a,
                   ai->ai_family == AF_INET6 ? "]" : "", t->port, ms);
            return 0;
        }
        printf("  connect   %s port %s: %s\n", a, t->port, strerror(err));
        if (err == ECONNREFUSED)
            refused = 1;
        else if (err == ETIMEDOUT)
            timed_out = 1;
        else if (err == EHOSTUNREACH || err == ENETUNREACH)
            unreachable = 1;
        else {
            other = 1;
            snprintf(other_err, sizeof other_err, "%s", strerror(err));
        }
    }
    if (refused)
        snprintf(why, whylen, "connection refused (nothing listens on %s:%s)", t->host, t->port);
    else if (timed_out || unreachable)
        snprintf(why, whylen, "no route / timed out: %s:%s %s (a firewall, a wrong address or "
                 "the network is down)", t->host, t->port,
                 timed_out ? "does not answer" : "is unreachable");
    else
        snprintf(why, whylen, "cannot connect to %s:%s: %s", t->host, t->port,
                 other ? other_err : "no usable address");
    return -1;
}

/* ---- certificates ---- */

static const char *days_text(long days, char *buf, size_t len)
{
    if (days < 0)
        snprintf(buf, len, "EXPIRED %ld day%s ago", -days, days == -1 ? "" : "s");
    else
        snprintf(buf, len, "%ld day%s to expiry%s", days, days == 1 ? "" : "s",
                 days < 30 ? " (renew it soon)" : "");
    return buf;
}

static void print_cert(const struct tls_cert_info *ci)
{
    char d[64];
    printf("            subject   %s\n", ci->subject);
    if (ci->names[0])
        printf("            names     %s\n", ci->names);
    printf("            issuer    %s\n", ci->issuer);
    printf("            valid     %s to %s UTC, %s\n", ci->not_before, ci->not_after,
           days_text(ci->days_left, d, sizeof d));
}

/* ---- MQTT with paho ---- */

static void connack_words(int code, const struct conf_uplink *cu, char *why, size_t whylen)
{
    switch (code) {
    case 1:
        snprintf(why, whylen, "the broker refused the connection: unacceptable protocol version "
                 "(CONNACK 1; it does not speak MQTT 3.1.1)");
        break;
    case 2:
        snprintf(why, whylen, "the broker refused the connection: identifier rejected (CONNACK 2; "
                 "client id '%s-test' not allowed)", cu->client_id);
        break;
    case 3:
        snprintf(why, whylen, "the broker refused the connection: server unavailable (CONNACK 3)");
        break;
    case 4:
        snprintf(why, whylen, "authentication failed (bad user name or password) (CONNACK 4)%s",
                 cu->username ? "" : ": the broker wants a user name and none is configured");
        break;
    case 5:
        if (!cu->username)
            snprintf(why, whylen, "not authorised (CONNACK 5): authentication failed: the broker "
                     "wants a user name and password and none is configured");
        else
            snprintf(why, whylen, "not authorised (CONNACK 5): authentication failed (bad user "
                     "name or password?) or user '%s' may not connect", cu->username);
        break;
    default:
        snprintf(why, whylen, "the broker refused the connection (CONNACK %d)", code);
    }
}

/* Connect, publish, disconnect. 0 when the test message was acknowledged (or,
 * with no_publish, when connected). */
static int mqtt_try(const struct conf *c, const struct conf_uplink *cu, const struct target *t,
                    int no_publish, int key_mismatch, char *why, size_t whylen)
{
    char client_id[256];
    snprintf(client_id, sizeof client_id, "%s-test", cu->client_id ? cu->client_id : "ganzhi");
    MQTTAsync client;
    MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    int rc = MQTTAsync_createWithOptions(&client, t->uri, client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(why, whylen, "cannot create an MQTT client for %s (paho code %d)", t->uri, rc);
        return -1;
    }
    struct mqtt_waiter w;
    mqtt_waiter_init(&w);
    /* The agent's own options (uplink_mqtt.c), one URI at a time. */
    struct mqtt_connect_options o;
    uplink_mqtt_options(cu, t->tls, &o);
    MQTTAsync_connectOptions *co = &o.co;
    co->onSuccess = mqtt_waiter_on_ok;
    co->onFailure = mqtt_waiter_on_fail;
    co->context = &w;
    o.so.ssl_error_cb = mqtt_waiter_on_tls_error;
    o.so.ssl_error_context = &w;
    int result = -1;
    double t0 = mono_ms();
    rc = MQTTAsync_connect(client, co);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(why, whylen, "MQTT connect could not start (paho code %d)", rc);
        goto out;
    }
    if (!mqtt_waiter_wait(&w, MQTT_CONNECT_WAIT_MS)) {
        snprintf(why, whylen, "no CONNACK within %d s: is %s:%s an MQTT%s port?",
                 MQTT_CONNECT_WAIT_MS / 1000, t->host, t->port, t->tls ? " over TLS" : "");
        goto out;
    }
    if (!w.ok) {
        if (w.code >= 1 && w.code <= 5)
            connack_words(w.code, cu, why, whylen);
        else if (t->tls && key_mismatch)
            snprintf(why, whylen, "TLS failed: key_file does not match cert_file");
        else if (w.tls_err[0])
            snprintf(why, whylen, "TLS handshake failed (OpenSSL, as the agent uses it): %s",
                     w.tls_err);
        else
            snprintf(why, whylen, "MQTT connect failed: %s (paho code %d)",
                     w.msg[0] ? w.msg : "no reason given", w.code);
        goto out;
    }
    printf("  mqtt      connected as %s%s%s in %.1f ms (MQTT 3.1.1, keepalive %d s)\n", client_id,
           cu->username ? ", user " : "", cu->username ? cu->username : "", w.t_done - t0,
           co->keepAliveInterval);
    if (no_publish) {
        printf("  publish   skipped (--no-publish)\n");
        result = 0;
        goto disconnect;
    }
    char topic[512], ts[40];
    snprintf(topic, sizeof topic, "%s/test", cu->topic_prefix);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    wire_time_rfc3339((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                      c->agent.wire_tz_minutes, ts);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddBoolToObject(body, "test", 1);
    cJSON_AddStringToObject(body, "enterprise", c->agent.enterprise_code);
    cJSON_AddStringToObject(body, "gateway", c->agent.gateway_code);
    cJSON_AddStringToObject(body, "uplink", cu->name);
    cJSON_AddStringToObject(body, "ts", ts);
    char *payload = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!payload) {
        snprintf(why, whylen, "out of memory");
        goto disconnect;
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = mqtt_waiter_on_ok;
    ro.onFailure = mqtt_waiter_on_fail;
    ro.context = &w;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = payload;
    m.payloadlen = (int)strlen(payload);
    m.qos = 1;
    mqtt_waiter_reset(&w);
    t0 = mono_ms();
    rc = MQTTAsync_sendMessage(client, topic, &m, &ro);
    free(payload);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(why, whylen, "the test message could not be sent (paho code %d)", rc);
        goto disconnect;
    }
    if (!mqtt_waiter_wait(&w, PUBACK_WAIT_MS)) {
        snprintf(why, whylen, "no PUBACK for the test message within %d s", PUBACK_WAIT_MS / 1000);
        goto disconnect;
    }
    if (!w.ok) {
        snprintf(why, whylen, "the test message was not acknowledged: %s (paho code %d)%s",
                 w.msg[0] ? w.msg : "the connection failed", w.code,
                 MQTTAsync_isConnected(client) ? ""
                 : "; the broker closed the connection (not authorised to publish to this topic?)");
        goto disconnect;
    }
    printf("  publish   %s QoS 1: PUBACK after %.1f ms (round trip)\n", topic, w.t_done - t0);
    snprintf(why, whylen, "%.1f", w.t_done - t0);
    result = 0;
disconnect:
    if (MQTTAsync_isConnected(client)) {
        MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
        dopts.timeout = 1000;
        dopts.onSuccess = mqtt_waiter_on_ok;
        dopts.onFailure = mqtt_waiter_on_fail;
        dopts.context = &w;
        mqtt_waiter_reset(&w);
        if (MQTTAsync_disconnect(client, &dopts) == MQTTASYNC_SUCCESS)
            mqtt_waiter_wait(&w, 2000);
    }
out:
    MQTTAsync_destroy(&client);
    mqtt_waiter_fini(&w);
    return result;
}

int cli_uplink(int argc, char **argv)
{
    const char *path = NULL, *name = NULL;
    int no_publish = 0;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--no-publish"))
            no_publish = 1;
        else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ganzhi uplink: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!name)
            name = argv[i];
        else {
            fprintf(stderr, "ganzhi uplink: one uplink at a time ('%s'?)\n", argv[i]);
            return 2;
        }
    }
    if (!path || !name) {
        usage(stderr);
        return 2;
    }
    struct conf *c = cli_load(path);
    if (!c)
        return 2;
    const struct conf_uplink *cu = NULL;
    for (size_t i = 0; i < c->nuplinks; i++)
        if (!strcmp(c->uplinks[i].name, name))
            cu = &c->uplinks[i];
    if (!cu) {
        fprintf(stderr, "ganzhi uplink: no uplink '%s' in %s", name, path);
        for (size_t i = 0; i < c->nuplinks; i++)
            fprintf(stderr, "%s%s", i ? ", " : " (there are: ", c->uplinks[i].name);
        fprintf(stderr, "%s\n", c->nuplinks ? ")" : " (none configured)");
        conf_free(c);
        return 2;
    }
    /* A broker that hangs up mid-handshake must be a finding, not a SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 1;
    MQTTAsync_global_init(&init);

    int any_tls = 0;
    for (size_t i = 0; i < cu->nurls; i++)
        any_tls |= !strncmp(cu->urls[i], "mqtts://", 8);
    printf("uplink %s: %zu URL%s, client id %s-test, topic %s/test, %s\n", cu->name, cu->nurls,
           cu->nurls == 1 ? "" : "s", cu->client_id ? cu->client_id : "ganzhi", cu->topic_prefix,
           cu->username ? (cu->password ? "user name and password set" : "user name set, no password")
                        : "no user name");
    int key_mismatch = 0;
    if (any_tls) {
        printf("ca_file     %s\n", cu->ca_file ? cu->ca_file : "(none: the system's CAs)");
        if (cu->cert_file) {
            struct tls_cert_info own;
            int match;
            char why[512];
            printf("client certificate %s\n", cu->cert_file);
            if (tls_cert_inspect(cu->cert_file, cu->key_file, &own, &match, why, sizeof why) != 0) {
                printf("            %s\n", why);
            } else {
                print_cert(&own);
                if (match == 1)
                    printf("            key_file %s: key matches the certificate\n", cu->key_file);
                else if (match == 0) {
                    printf("            key_file %s: key does NOT match the certificate "
                           "(key mismatch)\n", cu->key_file);
                    key_mismatch = 1;
                } else
                    printf("            %s\n", why[0] ? why : "no key_file configured");
            }
        } else {
            printf("client certificate: none configured\n");
        }
    }

    int rc = 1;
    for (size_t i = 0; i < cu->nurls; i++) {
        struct target t;
        char why[512] = "";
        printf("[%zu/%zu] %s\n", i + 1, cu->nurls, cu->urls[i]);
        if (parse_url(cu->urls[i], &t) != 0) {
            printf("  FAILED    the URL does not parse (mqtt://host[:port] or mqtts://...)\n");
            continue;
        }
        struct addrinfo *res = NULL;
        if (resolve(&t, &res, why, sizeof why) != 0) {
            printf("  FAILED    %s\n", why);
            continue;
        }
        int ok = tcp_try(&t, res, why, sizeof why) == 0;
        freeaddrinfo(res);
        if (!ok) {
            printf("  FAILED    %s\n", why);
            continue;
        }
        if (t.tls) {
            struct tls_details d;
            ok = tls_probe_details(t.host, t.port, cu->ca_file, cu->cert_file, cu->key_file,
                                   TLS_TIMEOUT_MS, &d, why, sizeof why) == 0;
            if (d.handshake_ok)
                printf("  tls       %s, %s, handshake %lld ms%s\n", d.version, d.ciphersuite,
                       (long long)d.handshake_ms,
                       d.client_cert_requested ? (d.client_cert_sent ? "; client certificate "
                                                  "requested and sent"
                                                  : "; client certificate requested, none sent")
                                               : "");
            if (d.have_peer) {
                printf("  broker certificate\n");
                print_cert(&d.peer);
                printf("            %s against %s; %s %s\n",
                       d.trusted ? "verified" : "NOT verified",
                       cu->ca_file ? "ca_file" : "the system's CAs",
                       d.name_ok ? "names" : "does NOT name", t.host);
            }
            if (!ok) {
                printf("  FAILED    %s\n", why);
                continue;
            }
        }
        if (mqtt_try(c, cu, &t, no_publish, key_mismatch, why, sizeof why) != 0) {
            printf("  FAILED    %s\n", why);
            continue;
        }
        if (no_publish)
            printf("ok: %s accepts the connection\n", cu->urls[i]);
        else
            printf("ok: the test message was acknowledged by %s, round trip %s ms\n",
                   cu->urls[i], why);
        rc = 0;
        break;
    }
    if (rc != 0)
        printf("failed: %s to uplink %s\n",
               cu->nurls == 1 ? "no connection" : "no URL gave a working connection", cu->name);
    conf_free(c);
    return rc;
}
