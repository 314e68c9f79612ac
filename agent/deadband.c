/* deadband: the store-or-skip rule for each reading (see deadband.h). */
#include "agent/deadband.h"
#include <math.h>

int deadband_keep(const struct deadband_state *st, double deadband, const struct reading *r,
                  int64_t heartbeat_ms)
{
    if (st->stored_ms == 0 || st->quality != r->quality || st->has_value != r->has_value)
        return 1;
    /* A clock that stepped back restarts the heartbeat rather than stalling it. */
    if (r->ts_ms - st->stored_ms >= heartbeat_ms || r->ts_ms < st->stored_ms)
        return 1;
    if (!r->has_value)
        return 0;
    if (deadband <= 0)
        return 1;
    return fabs(r->value - st->value) > deadband;
}

void deadband_kept(struct deadband_state *st, const struct reading *r)
{
    st->value = r->value;
    st->stored_ms = r->ts_ms;
    st->quality = r->quality;
    st->has_value = r->has_value;
}
