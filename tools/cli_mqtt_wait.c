/* cli_mqtt_wait: one asynchronous paho call at a time, waited for. */
#include "tools/cli_mqtt_wait.h"
#include "core/clock.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

void mqtt_waiter_init(struct mqtt_waiter *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->m, NULL);
    pthread_cond_init(&w->c, NULL);
}

void mqtt_waiter_fini(struct mqtt_waiter *w)
{
    pthread_mutex_destroy(&w->m);
    pthread_cond_destroy(&w->c);
}

void mqtt_waiter_reset(struct mqtt_waiter *w)
{
    pthread_mutex_lock(&w->m);
    w->done = w->ok = w->code = 0;
    w->msg[0] = 0;
    pthread_mutex_unlock(&w->m);
}

void mqtt_waiter_finish(struct mqtt_waiter *w, int ok, int code, const char *msg)
{
    double t = (double)mono_us() / 1000.0;
    pthread_mutex_lock(&w->m);
    if (!w->done) {
        w->done = 1;
        w->ok = ok;
        w->code = code;
        w->t_done = t;
        snprintf(w->msg, sizeof w->msg, "%s", msg ? msg : "");
    }
    pthread_cond_broadcast(&w->c);
    pthread_mutex_unlock(&w->m);
}

void mqtt_waiter_on_ok(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    mqtt_waiter_finish(ctx, 1, 0, NULL);
}

void mqtt_waiter_on_fail(void *ctx, MQTTAsync_failureData *resp)
{
    mqtt_waiter_finish(ctx, 0, resp ? resp->code : MQTTASYNC_FAILURE, resp ? resp->message : NULL);
}

int mqtt_waiter_on_tls_error(const char *str, size_t len, void *ctx)
{
    struct mqtt_waiter *w = ctx;
    pthread_mutex_lock(&w->m);
    if (!w->tls_err[0]) {
        snprintf(w->tls_err, sizeof w->tls_err, "%.*s", (int)len, str);
        size_t l = strlen(w->tls_err);
        while (l && (w->tls_err[l - 1] == '\n' || w->tls_err[l - 1] == '\r'))
            w->tls_err[--l] = 0;
    }
    pthread_mutex_unlock(&w->m);
    return 0;
}

int mqtt_waiter_wait(struct mqtt_waiter *w, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&w->m);
    while (!w->done)
        if (pthread_cond_timedwait(&w->c, &w->m, &until) != 0)
            break;
    int done = w->done;
    pthread_mutex_unlock(&w->m);
    return done;
}
