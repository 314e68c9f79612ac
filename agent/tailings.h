/*
 * tailings: the monitoring items of a tailings dam (the point table's `item`
 * column), in one place. A point with an item and colour columns raises the
 * colours blue..red against its own thresholds (agent/alarm); its item takes the
 * highest of its points' colours, escalated as 4 points at blue (or worse) make
 * yellow, 3 at yellow (or worse) orange, 2 at orange (or worse) red. An item's
 * alarms are raised on a pseudo point tagged "item:NAME" (device "tailings"),
 * which uplinks describe to their profile with the `item` column.
 *
 * The set of items is built once from the configuration. Member colours are
 * kept here, copied from each device's alarm state on its own bus thread; an
 * item's points may be polled by different buses, so every copy and every
 * evaluation holds the set's lock.
 */
#ifndef GANZHI_TAILINGS_H
#define GANZHI_TAILINGS_H

#include <stddef.h>
#include <stdint.h>
#include "agent/alarm.h"
#include "agent/conf.h"
#include "agent/store.h"
#include "proto/profile.h"

struct tailings;

/* Where item events go: tag is the item's pseudo point tag. Called with the
 * set's lock held, so events of one item reach the caller in order. */
typedef void tailings_emit_fn(void *arg, const char *tag, const struct alarm_event *ev,
                              size_t n);

/* The items of c's points (device i of c is device index i below), each with
 * its pseudo point registered in s. NULL with err set on failure. */
struct tailings *tailings_create(const struct conf *c, struct store *s, char *err,
                                 size_t errlen);
void tailings_free(struct tailings *t);     /* NULL is fine */

/* The pseudo point tag of an item: "item:NAME". 0, or -1 if it does not fit. */
int tailings_tag(const char *item, char *buf, size_t len);

/* The highest colour a point's alarm state is raised at (ALARM_BLUE..ALARM_RED),
 * or -1. */
int tailings_point_colour(const struct alarm_point *st);

/* An item's colour from its points' (count[0..3]: points at blue, yellow,
 * orange, red): the highest of them, escalated as above. -1: none; else 0..3
 * (blue..red). */
int tailings_item_colour(const unsigned count[4]);

/* The items, for the uplinks' point metadata: item k's pseudo point (tag
 * "item:NAME", name NAME, device "tailings", the one column item=NAME) and its
 * store id (OUT: id). k < tailings_count(t). */
size_t tailings_count(const struct tailings *t);
const struct wire_point_meta *tailings_meta(const struct tailings *t, size_t k, uint32_t *id);

/* Whether device dev has points in some item (its polls need tailings_update). */
int tailings_has_members(const struct tailings *t, size_t dev);

/* At start: an item alarm active in the store (point, level) is active again, so
 * it is neither raised twice nor its clear lost. Other points are ignored. */
void tailings_restore(struct tailings *t, uint32_t point, int level);

/* Where a device's member colours are read from: the colour (as
 * tailings_point_colour) of conf point `point` of the device, from arg. */
typedef int tailings_colour_fn(const void *arg, size_t point);

/* Copy device dev's member colours (colour(arg, i) for its conf point i)
 * without evaluating the items (at start, after the states are restored). */
void tailings_sync(struct tailings *t, size_t dev, tailings_colour_fn *colour, const void *arg);

/* After a poll of device dev: copy its member colours as tailings_sync does,
 * re-evaluate every item and hand the changes to emit as events on the items'
 * pseudo points (a cleared colour, then the raised one; the value is the number
 * of points at the new colour or worse) stamped now. */
void tailings_update(struct tailings *t, size_t dev, tailings_colour_fn *colour,
                     const void *colour_arg, int64_t now, tailings_emit_fn *emit, void *arg);

#endif
