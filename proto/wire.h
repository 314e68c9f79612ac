/* wire: what every profile encoder is given: the site's identity and readings with
 * their point identity resolved. Encoders are pure: these in, bytes out. */
#ifndef GANZHI_WIRE_H
#define GANZHI_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "core/reading.h"

struct wire_site {
    const char *enterprise, *enterprise_name, *gateway, *district;
    int tz_minutes;     /* wire time zone, minutes east of UTC */
};

struct wire_reading {
    uint64_t seq;
    const char *tag, *device, *unit;
    struct reading r;
};

/* An alarm event with its point's identity resolved. level is "lolo", "lo", "hi",
 * "hihi" or "comm"; a profile may map it to its own names and codes. */
struct wire_alarm {
    uint64_t id;            /* the event's id in the store: de-duplication key */
    const char *tag, *device, *unit;
    const char *level;
    int raised;             /* 1 raised, 0 cleared */
    double value, threshold;
    int64_t ts_ms;
};

/* "2026-11-29T10:30:00.000+08:00" for Unix ms in the wire zone; buf >= 32. */
void wire_time_rfc3339(int64_t ms, int tz_minutes, char *buf);

#endif
