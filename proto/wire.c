/* wire: time formatting shared by the profiles. */
#include "proto/wire.h"
#include <stdlib.h>

/* Year, month, day of a count of days since 1970-01-01 in the proleptic
 * Gregorian calendar (H. Hinnant's civil_from_days): the realtime encoders
 * format a time per poll group, where gmtime_r and snprintf cost more than
 * the rest of the message. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static char *digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

void wire_time_rfc3339(int64_t ms, int tz_minutes, char *buf)
{
    int64_t local_ms = ms + (int64_t)tz_minutes * 60000;
    int64_t secs = local_ms >= 0 ? local_ms / 1000 : (local_ms - 999) / 1000;
    int msec = (int)(local_ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int sod = (int)(secs - days * 86400);
    int y, mo, d;
    civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;   /* four digits, as the format has */
    int tz = abs(tz_minutes);
    char *p = digits(buf, y, 4);
    *p++ = '-';
    p = digits(p, mo, 2);
    *p++ = '-';
    p = digits(p, d, 2);
    *p++ = 'T';
    p = digits(p, sod / 3600, 2);
    *p++ = ':';
    p = digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = digits(p, sod % 60, 2);
    *p++ = '.';
    p = digits(p, msec, 3);
    *p++ = tz_minutes < 0 ? '-' : '+';
    p = digits(p, tz / 60 % 100, 2);
    *p++ = ':';
    p = digits(p, tz % 60, 2);
    *p = 0;
}
