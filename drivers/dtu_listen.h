/*
 * dtu_listen: DTUs that dial in. A 4G DTU behind the carrier's NAT cannot be
 * dialled; it connects to the gateway, says who it is with its registration
 * packet, and then carries RTU frames both ways (with a heartbeat packet now
 * and then). One listener per listening address; each DTU expected on it has a
 * slot, which the RTU-over-TCP link of that DTU's bus takes connections from.
 *
 * Bounds: at most pending_max connections wait for their registration at once
 * (more are closed at once), each for at most register_timeout_ms; a connection
 * whose registration is unknown is closed. A DTU that dials again replaces its
 * old connection (the old one is closed by the link when it takes the new).
 */
#ifndef GANZHI_DTU_LISTEN_H
#define GANZHI_DTU_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include "core/bytes.h"

struct dtu_listener;
struct dtu_slot;

enum dtu_event {
    DTU_REGISTERED,     /* a DTU said who it is: its slot has the connection */
    DTU_REPLACED,       /* ... and it replaced a connection still open */
    DTU_UNKNOWN,        /* a registration no slot expects: refused */
    DTU_NO_REGISTRATION,/* nothing (or too little) within the timeout: refused */
    DTU_FULL,           /* too many connections waiting to register: refused */
};

/* Told from the listener's thread; peer is "ADDR:PORT", what is the packet
 * received (formatted by bytes_format), or "". */
typedef void dtu_event_fn(void *arg, enum dtu_event ev, const char *peer, const char *what);

struct dtu_listen_params {
    const char *host;           /* "" or NULL: every address (IPv6 and IPv4) */
    int port;
    int64_t register_timeout_ms;
    unsigned pending_max;
    dtu_event_fn *on_event;     /* may be NULL */
    void *event_arg;
};

struct dtu_listen_stats {
    uint64_t accepted, registered, replaced;
    uint64_t refused_unknown, refused_timeout, refused_full;
    unsigned pending, pending_max;
};

/* Listen now (so a port in use is an error at start). NULL with the reason
 * (and errno: EADDRINUSE when the port is held). */
struct dtu_listener *dtu_listen_open(const struct dtu_listen_params *p, char *err, size_t errlen);
/* The slot of the DTU whose registration packet is id (the same slot for the
 * same id); heartbeat may be NULL. Before dtu_listen_start only. */
struct dtu_slot *dtu_listen_expect(struct dtu_listener *l, const uint8_t *id, size_t idlen,
                                   const uint8_t *heartbeat, size_t hblen);
/* Start accepting, on a thread of its own. 0, or -1 with the reason. */
int dtu_listen_start(struct dtu_listener *l, char *err, size_t errlen);
/* Stop the thread and close every connection and slot. Accepts NULL. */
void dtu_listen_free(struct dtu_listener *l);
void dtu_listen_get_stats(struct dtu_listener *l, struct dtu_listen_stats *out);
/* "[::]:9000", "127.0.0.1:9000": as listened on (with the port the system
 * chose when 0 was asked for). */
const char *dtu_listen_address(const struct dtu_listener *l);
/* The port listened on: the one asked for, or the one the system chose for 0. */
int dtu_listen_port(const struct dtu_listener *l);

/* The slot's newest connection, if one came since the last take: its fd (the
 * caller owns it from now) and the peer's address; -1 if none came. Cheap when
 * none did (an atomic load), so a link may ask before every request. */
int dtu_slot_take(struct dtu_slot *s, char *peer, size_t peerlen);
/* The packets the link strips from the stream: the heartbeat (NULL if none) and
 * the registration (some DTUs send it again before every packet). */
void dtu_slot_packets(const struct dtu_slot *s, const uint8_t **id, size_t *idlen,
                      const uint8_t **hb, size_t *hblen);
/* The DTU's id as configured, for messages: "GZ01" or "hex:FE01". */
const char *dtu_slot_name(const struct dtu_slot *s);
/* The listener's address, for messages. */
const char *dtu_slot_address(const struct dtu_slot *s);
/* Called (from the listener's thread) each time the DTU registers: a bus in
 * backoff may poll it at once. Before dtu_listen_start only. */
void dtu_slot_on_connect(struct dtu_slot *s, void (*fn)(void *arg), void *arg);

#endif
