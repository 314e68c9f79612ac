/* deadband: which readings are worth storing. A reading is kept when it is a
 * point's first, when its quality changed, when its value moved by more than
 * the point's deadband (deadband 0: every poll), or when the last kept reading
 * is a heartbeat period old (interval x 60, CONTRACT.md), so that a platform can
 * tell a flat value from a dead link. */
#ifndef GANZHI_DEADBAND_H
#define GANZHI_DEADBAND_H

#include <stdint.h>
#include "core/reading.h"

/* A reading inside its deadband is still stored this often (x interval). */
#define DEADBAND_HEARTBEAT_INTERVALS 60

/* One per configured point: 16 bytes (bit-fields, gcc and clang), not 24. */
struct deadband_state {
    double value;
    int64_t stored_ms : 56;     /* sample time of the last kept reading, 0: none yet
                                 * (Unix ms: 2^55 ms is a million years) */
    uint64_t quality : 7;
    uint64_t has_value : 1;
};

int deadband_keep(const struct deadband_state *st, double deadband, const struct reading *r,
                  int64_t heartbeat_ms);
void deadband_kept(struct deadband_state *st, const struct reading *r);

#endif
