/* sim_stats: the simulator's counters, per unit id and for the bus, and how they are printed. */
#ifndef GANZHI_SIM_STATS_H
#define GANZHI_SIM_STATS_H

#include <stdio.h>

#define SIM_UNIT_MAX 247

/* What one unit id saw and did. A request is a whole frame for this unit with a good CRC
 * (RTU) or a whole ADU (TCP); every request ends in exactly one of: a reply (normal or
 * exception), a silence on demand, or a broadcast (RTU unit 0, never answered). The
 * injected counters say which replies were spoiled on purpose, so a test can compare
 * them with what a client counted. */
struct sim_unit_stats {
    unsigned long requests;
    unsigned long replies;          /* frames sent, spoiled ones included */
    unsigned long exceptions;       /* exception replies, injected or genuine */
    unsigned long silent;           /* not answered: `silent` */
    unsigned long delayed;          /* answered late: `slow` */
    unsigned long crc;              /* replies sent with a corrupted CRC (TCP: garbled) */
    unsigned long truncated;        /* replies cut short */
    unsigned long injected;         /* exception replies from an `exception` directive */
    unsigned long refused;          /* exception 02 from `fussy` */
    unsigned long other;            /* replies sent as another unit id's: `other` */
};

/* What the line saw that belongs to no unit. */
struct sim_bus_stats {
    unsigned long frames;           /* frames received, good or bad */
    unsigned long bad_frames;       /* ignored: bad CRC, too short or too long */
    unsigned long other_units;      /* ignored: for a unit id not served */
    unsigned long broadcasts;       /* RTU unit 0: executed, never answered */
    unsigned long garbage;          /* bursts of random bytes injected on the line */
    unsigned long garbage_bytes;
    unsigned long tx_lost;          /* replies the port would not take whole */
};

struct sim_stats {
    struct sim_unit_stats unit[SIM_UNIT_MAX + 1];
    struct sim_bus_stats bus;
};

/* One line per unit served (units[0..n)), then one for the bus:
 *   ganzhi-sim: stats unit=1 requests=.. replies=.. exceptions=.. silent=.. delayed=..
 *               crc=.. truncated=.. injected=.. refused=.. other=..
 *   ganzhi-sim: stats bus frames=.. bad_frames=.. other_units=.. broadcasts=.. garbage=..
 *               garbage_bytes=.. tx_lost=..
 * (each on one line). Write errors are ignored: this goes to stderr. */
void sim_stats_print(const struct sim_stats *st, const int *units, unsigned n, FILE *out);

#endif
