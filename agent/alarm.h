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

/* Per point and level. */
struct alarm_state {
    uint8_t active;         /* raised and not cleared */
    int64_t pending_since;  /* the condition holds since (for the on-delay), 0: not */
};

struct alarm_point {
    struct alarm_state level[ALARM_LEVELS];
};

const char *alarm_level_name(enum alarm_level l);
int alarm_level_parse(const char *s, enum alarm_level *out);

void alarm_limits_init(struct alarm_limits *lim, const struct conf_point *p);

/* Evaluate one reading of point p. Appends up to ALARM_LEVELS events to out and
 * returns how many. */
int alarm_eval(struct alarm_point *st, const struct conf_point *p, const struct alarm_limits *lim,
               const struct reading *r, struct alarm_event *out);

#endif
