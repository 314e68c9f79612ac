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
    uint64_t dropped;           /* readings evicted before they were sent (see store) */
    uint64_t inflight;          /* messages awaiting PUBACK, or queued for paho */
    uint64_t queued, queue_max; /* of those, made and waiting for paho's window; the bound */
    uint64_t queued_bytes, queue_bytes_max;     /* their bytes; the bound */
    uint64_t inflight_bytes, inflight_bytes_max;    /* bytes awaiting PUBACK; the bound */
    int backfilling;            /* a backlog is being re-uploaded behind live data */
    char server[160];           /* the broker it is connected to */
    char last_error[200];
};

struct uplink;

struct uplink *uplink_start(const struct conf *c, const struct conf_uplink *u,
                            struct writer *w, char *err, size_t errlen);
/* Persist the cursor, disconnect, free. */
void uplink_stop(struct uplink *u);
void uplink_get_stats(struct uplink *u, struct uplink_stats *out);
struct agent_status;
/* Publish a status message (QoS 0, not stored) if connected. */
void uplink_publish_status(struct uplink *u, const struct agent_status *s);

#endif
