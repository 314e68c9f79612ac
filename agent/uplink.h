/*
 * uplink: one upstream MQTT broker (county, city, province...). Each uplink reads
 * the store from its own durable cursor and publishes in its profile; the cursor
 * advances only over readings whose messages the broker acknowledged (PUBACK), so
 * a dead link holds back nothing but itself and a crash or reconnect can only
 * repeat, never lose, a reading. Repeats are bounded by max_inflight messages and
 * carry the same seq.
 */
#ifndef GANZHI_UPLINK_H
#define GANZHI_UPLINK_H

#include <stdint.h>
#include "agent/conf.h"
#include "agent/writer.h"

struct uplink_stats {
    int connected;
    uint64_t acked_seq;         /* every seq <= this is acknowledged */
    uint64_t backlog;           /* readings stored and not yet acknowledged */
    int64_t oldest_pending_ms;  /* age of the oldest unacknowledged reading, 0: none */
    uint64_t messages_sent, messages_acked, send_failures, connects, connect_failures;
    uint64_t ack_timeouts;      /* connections dropped: nothing acknowledged for ack_timeout */
    uint64_t unasked;           /* messages the broker sent on topics never subscribed to */
    uint64_t dropped;           /* readings evicted before they were sent (see store) */
    uint64_t inflight;          /* messages awaiting PUBACK, or queued for paho */
    uint64_t queued, queue_max; /* of those, made and waiting for paho's window; the bound */
    uint64_t queued_bytes, queue_bytes_max;     /* their bytes; the bound */
    uint64_t inflight_bytes, inflight_bytes_max;    /* bytes awaiting PUBACK; the bound */
    int backfilling;            /* a backlog is being re-uploaded behind live data */
    uint64_t backlog_window;    /* messages of it in flight at most now (pace.h) */
    int64_t queue_delay_ms;     /* the queueing delay its last acknowledgement showed */
    char server[160];           /* the broker it is connected to */
    char last_error[200];
    /* the command channel (commands = on) */
    uint64_t commands_done, commands_refused;   /* refused: for any reason, flood included */
    uint64_t commands_limited, commands_dropped;    /* over command_rate; the inbox full */
    int resending;              /* a resend command is being served */
    uint64_t resend_pos, resend_end;
};

/* What a command may ask of the rest of the agent (runtime.c provides them). */
struct uplink_hooks {
    void *arg;
    /* Poll the device now, once, outside its schedule, storing every reading. 0,
     * or -1 (no such device). */
    int (*measure)(void *arg, const char *device);
    /* Publish the status now (to every uplink). */
    void (*status_now)(void *arg);
};

struct uplink;

struct uplink *uplink_start(const struct conf *c, const struct conf_uplink *u,
                            struct writer *w, char *err, size_t errlen);
/* Persist the cursor, disconnect, free. */
void uplink_stop(struct uplink *u);
void uplink_get_stats(struct uplink *u, struct uplink_stats *out);
/* Before commands arrive: what they may ask of the agent. */
void uplink_set_hooks(struct uplink *u, const struct uplink_hooks *h);
/* The status hook that signals the main loop (SIGUSR2) to report now. */
void uplink_status_signal(void *arg);
struct agent_status;
/* Publish a status message (QoS 0, not stored) if connected. */
void uplink_publish_status(struct uplink *u, const struct agent_status *s);

#endif
