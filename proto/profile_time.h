/* profile_time: the time formats regulators' messages use, as patterns, so that a
 * province's variant is a configuration string and not code.
 *
 * A pattern is made of these tokens, everything else being literal text (a run of
 * text in single quotes is literal too, '' is one quote):
 *
 *     yyyy year   MM month   dd day   HH hour (00-23)   mm minute   ss second
 *     SSS milliseconds   XXX the zone as +08:00 / -05:00 (+00:00 for UTC, never Z)
 *
 * Any other run of the letters y M d H m s S X is an error, and so is a pattern
 * with days and minutes but no months ("yyyy-mm-dd": a typo, refused rather than
 * sent).
 * Named patterns:
 *     compact   = yyyyMMddHHmmss               (the default of hazchem, fireworks)
 *     spaced    = yyyy-MM-dd HH:mm:ss          (coal text records, tailings)
 *     rfc3339   = yyyy-MM-ddTHH:mm:ss.SSSXXX   (generic)
 *     epoch_ms, epoch_s: Unix time as a number (a JSON number in JSON profiles)
 * Times are written in the wire zone (wire_site.tz_minutes), whatever the host's.
 */
#ifndef GANZHI_PROFILE_TIME_H
#define GANZHI_PROFILE_TIME_H

#include <stddef.h>
#include <stdint.h>

#define PROFILE_TIME_MAX 48     /* longest formatted time, with the NUL */

/* Expand a named pattern ("compact") to its tokens; other patterns unchanged. */
const char *profile_time_pattern(const char *pattern);
/* 0 if the pattern is usable, else -1 and why in err. */
int profile_time_check(const char *pattern, char *err, size_t errlen);
/* 1 if the pattern renders as a number (epoch_ms, epoch_s). */
int profile_time_is_number(const char *pattern);
/* Format Unix ms in the zone tz_minutes east of UTC. Returns the length, or -1
 * for a bad pattern or a buffer too small. */
int profile_time_format(const char *pattern, int64_t ms, int tz_minutes, char *buf, size_t len);
/* Parse s (n bytes) against the pattern: 0 and *ms (Unix ms; the zone is
 * tz_minutes unless the text carries one), or -1 with why in err. */
int profile_time_parse(const char *pattern, const char *s, size_t n, int tz_minutes, int64_t *ms,
                       char *err, size_t errlen);

#endif
