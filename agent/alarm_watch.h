/*
 * alarm_watch: the running agent's alarms. The poller hands it every poll's
 * readings (all of them, not only those the deadband keeps); it judges them
 * against their points' limits and tailings colours (agent/alarm), re-evaluates
 * the tailings items (agent/tailings), logs the events and hands them to the
 * writer, which stores them. At start the alarms active in the store are active
 * again, so a restart neither raises an alarm twice nor loses its clear.
 *
 * A device's alarm state is touched only by the thread that polls it; the
 * items, which span devices on different buses, lock themselves.
 */
#ifndef GANZHI_ALARM_WATCH_H
#define GANZHI_ALARM_WATCH_H

#include <stddef.h>
#include "agent/conf.h"
#include "agent/device.h"
#include "agent/store.h"
#include "agent/writer.h"
#include "core/reading.h"

struct alarm_watch;

/* The alarms of c's devices: devs[i] is device i of c, its point ids
 * registered (ndevs == c->ndevices). The tailings items' pseudo points are
 * registered in s and the active alarms restored from it. NULL with err set on
 * failure. */
struct alarm_watch *alarm_watch_create(const struct conf *c, struct device *const *devs,
                                       size_t ndevs, struct store *s, struct writer *w,
                                       char *err, size_t errlen);
void alarm_watch_free(struct alarm_watch *aw);     /* NULL is fine */

/* One poll of device dev: r holds one reading per conf point. Called from the
 * device's polling thread only. */
void alarm_watch_poll(struct alarm_watch *aw, size_t dev, const struct reading *r);

#endif
