/*
 * poller: one thread per bus. A bus is every device on one wire: a serial port,
 * a device server's or Modbus gateway's host:port, a DTU (or a Modbus TCP device
 * with a connection of its own), so requests on one wire never overlap and a
 * dead device only ever delays its own polls. The poller owns time: each device is
 * polled at its interval, readings pass the deadband/heartbeat filter, and the
 * survivors go to the writer as one batch per poll.
 */
#ifndef GANZHI_POLLER_H
#define GANZHI_POLLER_H

#include "agent/conf.h"
#include "agent/device.h"
#include "agent/store.h"
#include "agent/writer.h"
#include "drivers/dtu_listen.h"
#include <stdatomic.h>

struct poller;

/* Start one thread per bus for every device of c; point ids come from the store.
 * NULL with a reason in err. */
struct poller *poller_start(const struct conf *c, struct store *s, struct writer *w,
                            char *err, size_t errlen);
void poller_stop(struct poller *p);

/* Poll the named device now, once, outside its schedule (its bus keeps its one
 * request at a time), storing every reading of that poll. 0, or -1 (no such device). */
int poller_measure(struct poller *p, const char *device);

/* The devices, for status (valid until poller_stop). */
struct device *const *poller_devices(struct poller *p, size_t *n);

/* A bus's link counters (mb_link_stats), as of its last poll. */
struct link_figures {
    atomic_int open;
    atomic_uint_fast64_t connects, disconnects, timeouts, crc_errors, bad_replies, foreign,
        echoes, heartbeats, drained_bytes;
};

struct link_status {
    const char *describe;       /* "rtu-tcp 127.0.0.1:4001" */
    size_t devices;
    const struct link_figures *fig;
};

struct listener_status {
    const char *address;
    struct dtu_listen_stats st;
};

/* Up to max buses' and DTU listeners' figures (valid until poller_stop). */
size_t poller_links(struct poller *p, struct link_status *out, size_t max);
size_t poller_listeners(struct poller *p, struct listener_status *out, size_t max);

#endif
