/* uplink_impl: the inside of an uplink, shared by its two halves: the uplink
 * thread's scheduling (uplink.c: lanes, alarms first, cursors, accounting) and
 * the window (uplink_window.c: messages queued for the transport or awaiting
 * their acknowledgement, the sender thread, the transport's events). Nothing
 * outside those two files includes this. */
#ifndef GANZHI_UPLINK_IMPL_H
#define GANZHI_UPLINK_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include "agent/lanes.h"
#include "agent/pace.h"
#include "agent/store.h"
#include "agent/uplink.h"
#include "agent/uplink_format.h"
#include "agent/uplink_transport.h"
#include "agent/wake.h"

/* A message queued for the transport or awaiting its acknowledgement. */
struct flight {
    uint64_t id;            /* unique in the uplink's life: a late ack of a voided flight
                             * finds nothing */
    uint64_t first, last;   /* seq range the message carries */
    int used;
    int handed;             /* with the transport, counted in `handed` */
    size_t bytes;           /* the message's size, while handed */
    int64_t handed_ms;      /* mono ms it was handed over, while handed */
    enum lane lane;
    int alarm;              /* carries alarm events first..last, not readings */
};

/* A message made by the uplink thread, waiting for the sender thread. */
struct outmsg {
    enum message_kind kind;
    char topic[256];
    char *body;
    size_t len;
    int qos, retained;
    struct flight *f;       /* NULL: not tracked (status, point definitions) */
    unsigned gen;           /* the rewind generation it was made in */
};

struct point_name {
    const char *tag, *device, *unit;
};

/* The names of a point the configuration does not hold, read from the store. */
struct point_copy {
    char *tag, *device, *unit;
};


/* Readings read ahead for one lane, names resolved: a drain reads the store
 * once per several messages, not once per message (a read transaction and
 * its file locks cost as much as encoding a message). */
struct readahead {
    struct wire_reading *r;
    size_t n, cap;
};

struct uplink {
    const struct conf_uplink *cu;
    struct wire_site site;
    struct writer *writer;
    struct store *store;        /* this uplink's own connection */
    struct uplink_format fmt;   /* the profile's messages */
    struct transport *t;        /* MQTT or an outbox folder */
    struct wake wake;           /* this uplink's doorbell: commits, acks, room, events */
    pthread_t thread;
    int started;

    pthread_mutex_t lock;       /* guards everything below; transport events take it */
    int stop;
    int connected, connecting, rewind;
    struct flight *slots;       /* nslots: messages queued or awaiting acknowledgement */
    size_t nslots;              /* max_inflight + send_queue + an alarm */
    uint64_t next_id;           /* of the next flight */
    size_t handed;              /* with the transport, unacknowledged: at most max_inflight */
    size_t handed_bytes;        /* their bytes: at most max_inflight_bytes (or one message) */
    size_t inflight[3];         /* per lane */
    struct pace pace;           /* how many of them the backlog and a resend may have */
    struct lanes lanes;         /* what is delivered, what to send next */
    uint64_t alarm_acked;       /* alarm events delivered up to this id */
    uint64_t alarm_pos;         /* next alarm event id to send */
    int alarm_inflight;         /* one alarm message at a time keeps them in order */
    int fresh_connect;          /* connected since the last rewind */
    int dropping;               /* this connection is being dropped (ack_timeout) */
    int diagnose;               /* connects failed: let the transport say why */
    struct uplink_stats st;
    /* The hand-off. Handing a message to paho waits for paho's mutex, which
     * paho's threads hold while they write and read the socket (TLS included):
     * half the uplink thread's time in a fast drain. So the uplink thread makes
     * the next messages while a sender thread waits there. */
    struct outmsg *outq;        /* outq_cap = send_queue + OUTQ_UNTRACKED */
    size_t outq_cap, outq_tracked_max, outq_low;
    size_t outq_head, outq_len, outq_tracked;
    size_t outq_bytes, outq_bytes_max;  /* of the tracked messages queued; send_queue_bytes */
    unsigned gen;               /* bumped by each rewind: queued flights are void */
    pthread_cond_t outq_cond;
    int sender_stop, sender_waiting;
    pthread_t sender;
    int sender_started;

    /* uplink thread only */
    char persisted[sizeof(((struct store_cursor *)0)->delivered)];
    uint64_t persisted_lost, persisted_alarm;
    int history_unknown;        /* a fresh cursor: where its history begins is not yet seen */
    uint64_t alarms_looked;     /* writer_alarms_stored() when the store last had none */
    uint64_t alarm_pos_looked;  /* and the alarm position then */
    int alarms_behind;          /* a full alarm message went: more may follow it */
    double tokens;              /* backfill messages the rate allows now */
    uint64_t cursor_failures;
    struct point_copy *names;   /* by store id: copies for the other points */
    size_t nnames;
    struct readahead ahead[2];  /* per lane */
    struct uplink_commands *cmd;    /* the command channel (commands = on), else NULL */
};

/* The hand-off queue holds send_queue readings and alarm messages (tracked)
 * and a few status and point messages besides. */
#define OUTQ_UNTRACKED 4

/* ---- uplink_command.c ---- */
/* The command channel of u (cu->commands = on): 0, or -1 (err). */
int commands_start(struct uplink *u, const struct conf *c, char *err, size_t errlen);
void commands_free(struct uplink *u);
/* Whether topic is the command channel's (any thread). */
int commands_topic(const struct uplink *u, const char *topic);
/* A message on the command topic (any thread): queued for the uplink thread. */
void commands_received(struct uplink *u, const void *payload, size_t len);
/* Subscribe after a connect (uplink thread). */
void commands_connected(struct uplink *u);
/* The uplink thread's turn: commands waiting, and what a resend sends now
 * within its allowance of messages. How many messages it sent. */
size_t commands_work(struct uplink *u, size_t allowance, size_t window);
/* A flight of the request lane was acknowledged (u->lock held). */
void commands_acked(struct uplink *u, uint64_t first, uint64_t last);
/* What was in flight is void: a resend goes back to what is not acknowledged. */
void commands_rewind(struct uplink *u);

/* ---- uplink_window.c ---- */
/* Slots, the queue and the sender thread for u->cu's bounds (u->lock and
 * u->outq_cond made by the caller). 0, or -1 (err). */
int window_start(struct uplink *u, char *err, size_t errlen);
/* The sender hands over what is queued, then ends. */
void window_stop(struct uplink *u);
/* Free the queue and the slots: after the transport is closed (no more events). */
void window_free(struct uplink *u);
/* The events the transport reports to this uplink. */
void window_events(struct uplink *u, struct transport_events *ev);
/* Room for one more tracked message in a window of max_inflight (u->lock held). */
int window_room(struct uplink *u, size_t max_inflight);
/* And room for one more of the backlog or a resend, within the pace (u->lock held). */
int window_backlog_room(const struct uplink *u);
/* Queue one message with its acknowledgement tracked: readings [first, last] of
 * a lane, or (alarm) alarm events first..last. Takes body. 1 queued, 0 no room. */
int window_send_tracked(struct uplink *u, enum message_kind kind, const char *topic, char *body,
                        int qos, uint64_t first, uint64_t last, enum lane lane, int alarm);
/* Queue a message nobody waits an acknowledgement for (status, points). Takes body. */
void window_send_untracked(struct uplink *u, enum message_kind kind, const char *topic,
                           char *body, int qos, int retained);
/* Whatever was queued or in flight is void (u->lock held): sent again by the lanes. */
void window_void(struct uplink *u);

#endif
