/* reading: names of qualities as they appear on the wire. */
#include "core/reading.h"

const char *quality_name(enum quality q)
{
    static const char *const names[] = { "good", "comm_fail", "exception", "over_range",
                                         "sensor_fault", "stale", "clock_untrusted" };
    return q < Q_COUNT ? names[q] : "unknown";
}
