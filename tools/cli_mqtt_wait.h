/* cli_mqtt_wait: waiting on paho's asynchronous calls from the CLI: one call at
 * a time, its outcome (ok, code, words, when) and any TLS error paho reported,
 * for `ganzhi uplink` and `ganzhi command`. */
#ifndef GANZHI_CLI_MQTT_WAIT_H
#define GANZHI_CLI_MQTT_WAIT_H

#include <MQTTAsync.h>
#include <pthread.h>

struct mqtt_waiter {
    pthread_mutex_t m;
    pthread_cond_t c;
    int done, ok, code;     /* the last call's outcome */
    char msg[256];
    char tls_err[256];
    double t_done;          /* mono_ms() when it ended */
};

void mqtt_waiter_init(struct mqtt_waiter *w);
void mqtt_waiter_fini(struct mqtt_waiter *w);
/* Before the next call. */
void mqtt_waiter_reset(struct mqtt_waiter *w);
/* The call ended (the first word counts). */
void mqtt_waiter_finish(struct mqtt_waiter *w, int ok, int code, const char *msg);
/* Until the call ends or timeout_ms pass; 1 if it ended. */
int mqtt_waiter_wait(struct mqtt_waiter *w, int timeout_ms);

/* paho's callbacks, with the waiter as their context. */
void mqtt_waiter_on_ok(void *ctx, MQTTAsync_successData *resp);
void mqtt_waiter_on_fail(void *ctx, MQTTAsync_failureData *resp);
int mqtt_waiter_on_tls_error(const char *str, size_t len, void *ctx);

#endif
