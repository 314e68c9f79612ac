/* uplink_transport: how an uplink's messages leave the gateway. The uplink's
 * scheduler (uplink.c, uplink_send.c) decides what to send and when; a transport
 * only connects, hands a message over and reports what became of it. It knows
 * nothing of lanes, windows or cursors. Two transports: MQTT (uplink_mqtt.c)
 * and an outbox folder (uplink_outbox.c).
 *
 * Events may come on any thread (paho's, or the caller's own from inside
 * connect or publish), so the scheduler's handlers take its lock and never call
 * back into the transport. */
#ifndef GANZHI_UPLINK_TRANSPORT_H
#define GANZHI_UPLINK_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include "proto/profile.h"

struct transport_events {
    void *ctx;
    /* Connected (server: where to, for the status), or the attempt failed (why:
     * in words) or an established connection was lost. */
    void (*connected)(void *ctx, const char *server);
    void (*connect_failed)(void *ctx, const char *why);
    void (*lost)(void *ctx, const char *cause);
    /* A tracked message (id != 0, qos > 0) is with the platform, or will never be. */
    void (*acked)(void *ctx, uint64_t id);
    void (*failed)(void *ctx, uint64_t id);
    /* A message on a subscribed topic (payload not NUL-terminated). */
    void (*message)(void *ctx, const char *topic, const void *payload, size_t len);
};

struct transport_msg {
    enum message_kind kind;
    const char *topic;
    const char *body;
    size_t len;
    int qos, retained;
    uint64_t id;            /* 0: untracked (nothing is reported for it) */
};

struct transport;

struct transport_ops {
    /* Start connecting: 0, the outcome to come as connected or connect_failed
     * (perhaps before this returns); 1, not yet: the last connection is still
     * being closed (nothing follows; try again shortly); -1 when no attempt
     * could start (err says why). */
    int (*connect)(struct transport *t, char *err, size_t errlen);
    /* Hand a message over (from one thread at a time: the uplink's sender): 0,
     * then for a tracked QoS 1 message acked or failed
     * follows (perhaps before this returns); -1 refused now (not connected, no
     * room): nothing follows. QoS 0 has no acknowledgement: handed over is all. */
    int (*publish)(struct transport *t, const struct transport_msg *m);
    /* Receive what is published on topic, through events.message. 0, or -1 (err). */
    int (*subscribe)(struct transport *t, const char *topic, int qos, char *err, size_t errlen);
    /* After failed connects: find out why in plain words and log it (may take
     * seconds: called on the uplink's own thread, never under its lock). */
    void (*diagnose)(struct transport *t);
    /* Disconnect (a short grace for what is on the wire) and free. */
    void (*close)(struct transport *t);
    /* Give up the connection now, as if it were lost (why: for the log): the
     * outcome comes as lost; what was in flight fails. NULL: nothing to drop. */
    void (*drop)(struct transport *t, const char *why);
};

/* Every transport starts with this. */
struct transport {
    const struct transport_ops *ops;
};

#endif
