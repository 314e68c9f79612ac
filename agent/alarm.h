/*
 * alarm: limit alarms at the edge, where the data is, even when every link is
 * down. Per point and level (lolo, lo, hi, hihi): a condition must hold for the
 * point's on-delay before it is raised, and clears only once the value is back
 * past the threshold by the hysteresis. A point whose device stops answering
 * raises a communication alarm ("comm"), cleared when it answers again.
 *
 * For gas detectors the hi level is the first-level alarm (一级) and hihi the
 * second-level (二级) of GB/T 50493; profiles name the levels their own way.
 * The engine is pure: readings and time in, events out; the caller stores the
 * events (which also persists the state) and restores the state at start, so a
 * restart neither raises an alarm again nor loses a clear.
 */
#ifndef GANZHI_ALARM_H
#define GANZHI_ALARM_H

#include <stdint.h>
#include "agent/conf.h"
#include "core/reading.h"

enum alarm_level {
    ALARM_LOLO, ALARM_LO, ALARM_HI, ALARM_HIHI, ALARM_COMM,
    /* tailings dams: four warning colours from the point's blue..red columns
     * (its monitoring item's colour: agent/tailings) */
    ALARM_BLUE, ALARM_YELLOW, ALARM_ORANGE, ALARM_RED,
    ALARM_LEVELS
};

/* A point's limits, parsed once from its configuration: the four thresholds and
 * the tailings colours (NAN when absent), and the colours' direction. */
struct alarm_limits {
    double level[ALARM_LEVELS];     /* threshold per level; NAN: not configured */
    int colours_down;               /* direction = down: danger as the value falls */
};

struct alarm_event {
    uint64_t id;            /* assigned by the store */
    uint32_t point;         /* store point id */
    uint8_t level;          /* enum alarm_level */
    uint8_t raised;         /* 1 raised, 0 cleared */
    int64_t ts_ms;          /* when the condition was met (raised) or ended (cleared) */
    double value, threshold;
};

/* Per point and level, 8 bytes: 0 idle; ALARM_ACTIVE raised and not cleared;
 * else the time (ms) since which the condition holds (for the on-delay). */
#define ALARM_ACTIVE INT64_MIN

struct alarm_point {
    int64_t level[ALARM_LEVELS];
};

static inline int alarm_is_active(const struct alarm_point *st, enum alarm_level l)
{
    return st->level[l] == ALARM_ACTIVE;
}

/* Raised (on) or idle (off, no condition pending). */
static inline void alarm_set_active(struct alarm_point *st, enum alarm_level l, int on)
{
    st->level[l] = on ? ALARM_ACTIVE : 0;
}

const char *alarm_level_name(enum alarm_level l);
int alarm_level_parse(const char *s, enum alarm_level *out);

void alarm_limits_init(struct alarm_limits *lim, const struct conf_point *p);

/* Whether lim has some threshold or colour (else only the comm alarm applies). */
int alarm_limits_any(const struct alarm_limits *lim);

/* Evaluate one reading of point p. Appends up to ALARM_LEVELS events to out and
 * returns how many. The same as alarm_eval_comm on st's comm level, then
 * alarm_eval_limits. */
int alarm_eval(struct alarm_point *st, const struct conf_point *p, const struct alarm_limits *lim,
               const struct reading *r, struct alarm_event *out);

/* The communication alarm alone: *active (0 or 1) is its state. Up to 1 event. */
int alarm_eval_comm(int *active, const struct reading *r, struct alarm_event *out);

/* The limits and colours alone (st's comm level is not touched). Up to
 * ALARM_LEVELS - 1 events. */
int alarm_eval_limits(struct alarm_point *st, const struct conf_point *p,
                      const struct alarm_limits *lim, const struct reading *r,
                      struct alarm_event *out);

#endif
