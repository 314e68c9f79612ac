/*
 * poller: one thread per bus. A bus is a TCP device on its own, or (for RTU) every
 * device on one serial port, so requests on one wire never overlap and a dead
 * device only ever delays its own polls. The poller owns time: each device is
 * polled at its interval, readings pass the deadband/heartbeat filter, and the
 * survivors go to the writer as one batch per poll.
 */
#ifndef GANZHI_POLLER_H
#define GANZHI_POLLER_H

#include "agent/conf.h"
#include "agent/device.h"
#include "agent/store.h"
#include "agent/writer.h"

struct poller;

/* Start one thread per bus for every device of c; point ids come from the store.
 * NULL with a reason in err. */
struct poller *poller_start(const struct conf *c, struct store *s, struct writer *w,
                            char *err, size_t errlen);
void poller_stop(struct poller *p);

/* The devices, for status (valid until poller_stop). */
struct device *const *poller_devices(struct poller *p, size_t *n);

#endif
