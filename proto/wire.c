/* wire: time formatting shared by the profiles. */
#include "proto/wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void wire_time_rfc3339(int64_t ms, int tz_minutes, char *buf)
{
    int64_t local_ms = ms + (int64_t)tz_minutes * 60000;
    time_t secs = (time_t)(local_ms >= 0 ? local_ms / 1000 : (local_ms - 999) / 1000);
    int msec = (int)(local_ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int tz = abs(tz_minutes);
    snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec,
             tz_minutes < 0 ? '-' : '+', tz / 60, tz % 60);
}
