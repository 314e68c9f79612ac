/* num: strict integer and decimal parsing with the reason for a refusal. */
#include "core/num.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int num_parse_long(const char *s, long lo, long hi, long *out, char *err, size_t errlen)
{
    if (!*s) {
        snprintf(err, errlen, "empty (expected an integer in %ld..%ld)", lo, hi);
        return -1;
    }
    /* strtol would skip leading blanks and accept "+"; neither belongs in a value */
    if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1]))) {
        snprintf(err, errlen, "'%s' is not an integer", s);
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end) {
        snprintf(err, errlen, "'%s' is not an integer", s);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        snprintf(err, errlen, "'%s' out of range (%ld..%ld)", s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int num_parse_double(const char *s, double *out, char *err, size_t errlen)
{
    if (!*s) {
        snprintf(err, errlen, "empty (expected a number)");
        return -1;
    }
    /* only plain decimal notation: no blanks, hex floats, inf or nan */
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr("+-.eE", *p)) {
            snprintf(err, errlen, "'%s' is not a number", s);
            return -1;
        }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || end == s) {
        snprintf(err, errlen, "'%s' is not a number", s);
        return -1;
    }
    if ((errno == ERANGE && fabs(v) > 1) || !isfinite(v)) {
        snprintf(err, errlen, "'%s' is too large", s);
        return -1;
    }
    *out = v;
    return 0;
}
