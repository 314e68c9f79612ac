/* profile_time: format and parse the time patterns of the profiles, in a given
 * zone, with civil-calendar arithmetic of our own (no TZ, no locale, no clock). */
#include "proto/profile_time.h"
#include <stdio.h>
#include <string.h>

const char *profile_time_pattern(const char *p)
{
    if (strcmp(p, "compact") == 0)
        return "yyyyMMddHHmmss";
    if (strcmp(p, "spaced") == 0)
        return "yyyy-MM-dd HH:mm:ss";
    if (strcmp(p, "rfc3339") == 0)
        return "yyyy-MM-ddTHH:mm:ss.SSSXXX";
    return p;
}

int profile_time_is_number(const char *p)
{
    return strcmp(p, "epoch_ms") == 0 || strcmp(p, "epoch_s") == 0;
}

/* Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* a / b rounded down, b > 0; no negation, so INT64_MIN is fine too. */
static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return a % b < 0 ? q - 1 : q;
}

enum tok { T_LIT, T_YEAR, T_MON, T_DAY, T_HOUR, T_MIN, T_SEC, T_MS, T_ZONE, T_BAD, T_END };

/* The next token of the pattern at *pp: a token, or one literal byte in *lit. */
static enum tok next_tok(const char **pp, char *lit, int *inquote)
{
    const char *p = *pp;
    for (;;) {
        if (!*p) {
            *pp = p;
            return T_END;
        }
        if (*p == '\'') {
            if (p[1] == '\'') {
                *lit = '\'';
                *pp = p + 2;
                return T_LIT;
            }
            *inquote = !*inquote;
            p++;
            continue;
        }
        break;
    }
    if (*inquote || !strchr("yMdHmsSX", *p)) {
        *lit = *p;
        *pp = p + 1;
        return T_LIT;
    }
    size_t n = 1;
    while (p[n] == p[0])
        n++;
    *pp = p + n;
    static const struct { char c; size_t n; enum tok t; } toks[] = {
        { 'y', 4, T_YEAR }, { 'M', 2, T_MON }, { 'd', 2, T_DAY }, { 'H', 2, T_HOUR },
        { 'm', 2, T_MIN }, { 's', 2, T_SEC }, { 'S', 3, T_MS }, { 'X', 3, T_ZONE },
    };
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++)
        if (toks[i].c == p[0] && toks[i].n == n)
            return toks[i].t;
    *lit = p[0];
    return T_BAD;
}

int profile_time_check(const char *pattern, char *err, size_t errlen)
{
    if (!pattern || !*pattern) {
        snprintf(err, errlen, "empty time format");
        return -1;
    }
    if (profile_time_is_number(pattern))
        return 0;
    const char *p = profile_time_pattern(pattern);
    if (strlen(p) > 32) {
        snprintf(err, errlen, "time format '%s' is too long (32 characters at most)", pattern);
        return -1;
    }
    int inq = 0, fields = 0;
    char lit;
    enum tok t;
    const char *at = p;
    while ((t = next_tok(&p, &lit, &inq)) != T_END) {
        if (t == T_BAD) {
            snprintf(err, errlen, "time format '%s': '%.*s' is not a field (expected yyyy, MM, "
                     "dd, HH, mm, ss, SSS or XXX)", pattern, (int)(p - at), at);
            return -1;
        }
        fields += t != T_LIT;
        at = p;
    }
    if (inq) {
        snprintf(err, errlen, "time format '%s': unbalanced quote", pattern);
        return -1;
    }
    /* "yyyy-mm-dd" is legal (minutes) but never meant: months are MM. */
    const char *q = profile_time_pattern(pattern);
    if (strstr(q, "dd") && strstr(q, "mm") && !strstr(q, "MM")) {
        snprintf(err, errlen, "time format '%s': mm is minutes; months are MM", pattern);
        return -1;
    }
    if (!fields) {
        snprintf(err, errlen, "time format '%s' has no date or time field", pattern);
        return -1;
    }
    return 0;
}

int profile_time_format(const char *pattern, int64_t ms, int tz_minutes, char *buf, size_t len)
{
    if (strcmp(pattern, "epoch_ms") == 0 || strcmp(pattern, "epoch_s") == 0) {
        long long v = pattern[6] == 'm' ? (long long)ms : (long long)floordiv(ms, 1000);
        int n = snprintf(buf, len, "%lld", v);
        return n < 0 || (size_t)n >= len ? -1 : n;
    }
    const char *p = profile_time_pattern(pattern);
    /* A time within a day of the int64 limits (a corrupt or absurd sample time)
     * has no calendar form here: refused, not wrapped. */
    int64_t local;
    if (tz_minutes < -24 * 60 || tz_minutes > 24 * 60 ||
        __builtin_add_overflow(ms, (int64_t)tz_minutes * 60000, &local))
        return -1;
    int64_t days = floordiv(local, 86400000);
    int64_t in_day = local % 86400000;  /* not local - days * 86400000: at the int64 floor */
    if (in_day < 0)                     /* that product is below INT64_MIN */
        in_day += 86400000;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    int v[T_END] = { 0 };
    v[T_YEAR] = (int)y;
    v[T_MON] = (int)mo;
    v[T_DAY] = (int)d;
    v[T_HOUR] = (int)(in_day / 3600000);
    v[T_MIN] = (int)(in_day / 60000 % 60);
    v[T_SEC] = (int)(in_day / 1000 % 60);
    v[T_MS] = (int)(in_day % 1000);
    size_t o = 0;
    int inq = 0;
    char lit;
    enum tok t;
    while ((t = next_tok(&p, &lit, &inq)) != T_END) {
        char tmp[16];
        int n;
        switch (t) {
        case T_BAD: return -1;
        case T_LIT: tmp[0] = lit; n = 1; break;
        case T_YEAR: n = snprintf(tmp, sizeof tmp, "%04d", v[t]); break;
        case T_MS: n = snprintf(tmp, sizeof tmp, "%03d", v[t]); break;
        case T_ZONE: {
            int a = tz_minutes < 0 ? -tz_minutes : tz_minutes;
            n = snprintf(tmp, sizeof tmp, "%c%02d:%02d", tz_minutes < 0 ? '-' : '+', a / 60 % 100,
                         a % 60);
            break;
        }
        default: n = snprintf(tmp, sizeof tmp, "%02d", v[t]); break;
        }
        if (n < 0 || o + (size_t)n >= len)
            return -1;
        memcpy(buf + o, tmp, (size_t)n);
        o += (size_t)n;
    }
    if (o >= len)
        return -1;
    buf[o] = 0;
    return (int)o;
}

/* Exactly `w` digits at s[*i]. */
static int digits(const char *s, size_t n, size_t *i, int w, int *out)
{
    int v = 0;
    for (int k = 0; k < w; k++, (*i)++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
    }
    *out = v;
    return 0;
}

int profile_time_parse(const char *pattern, const char *s, size_t n, int tz_minutes, int64_t *ms,
                       char *err, size_t errlen)
{
    if (profile_time_is_number(pattern)) {
        int64_t v = 0;
        size_t i = 0;
        int neg = n > 0 && s[0] == '-';
        i = (size_t)neg;
        if (i >= n)
            goto bad;
        for (; i < n; i++) {
            if (s[i] < '0' || s[i] > '9' || v > INT64_MAX / 10 - 10)
                goto bad;
            v = v * 10 + (s[i] - '0');
        }
        v = neg ? -v : v;
        if (pattern[6] == 's' && (v > INT64_MAX / 1000 || v < INT64_MIN / 1000)) {
            snprintf(err, errlen, "'%.*s' is out of range for the time format %s",
                     (int)(n > 40 ? 40 : n), s, pattern);
            return -1;
        }
        *ms = pattern[6] == 'm' ? v : v * 1000;
        return 0;
    }
    {
        const char *p = profile_time_pattern(pattern);
        int v[T_END] = { 0 };
        v[T_YEAR] = 1970;
        v[T_MON] = v[T_DAY] = 1;
        int zone = tz_minutes;
        size_t i = 0;
        int inq = 0;
        char lit;
        enum tok t;
        while ((t = next_tok(&p, &lit, &inq)) != T_END) {
            switch (t) {
            case T_BAD: goto bad;
            case T_LIT:
                if (i >= n || s[i] != lit)
                    goto bad;
                i++;
                break;
            case T_YEAR: if (digits(s, n, &i, 4, &v[t])) goto bad; break;
            case T_MS: if (digits(s, n, &i, 3, &v[t])) goto bad; break;
            case T_ZONE: {
                int hh, mm;
                if (i >= n || (s[i] != '+' && s[i] != '-'))
                    goto bad;
                int sign = s[i++] == '-' ? -1 : 1;
                if (digits(s, n, &i, 2, &hh) || i >= n || s[i++] != ':' ||
                    digits(s, n, &i, 2, &mm) || hh > 14 || mm > 59)
                    goto bad;
                zone = sign * (hh * 60 + mm);
                break;
            }
            default: if (digits(s, n, &i, 2, &v[t])) goto bad; break;
            }
        }
        if (i != n)
            goto bad;
        static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int y = v[T_YEAR], leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (v[T_MON] < 1 || v[T_MON] > 12 || v[T_DAY] < 1 || v[T_DAY] > mdays[v[T_MON] - 1] ||
            (v[T_MON] == 2 && v[T_DAY] == 29 && !leap) || v[T_HOUR] > 23 || v[T_MIN] > 59 ||
            v[T_SEC] > 59) {
            snprintf(err, errlen, "'%.*s' is not a valid date and time", (int)(n > 40 ? 40 : n), s);
            return -1;
        }
        int64_t days = days_from_civil(y, (unsigned)v[T_MON], (unsigned)v[T_DAY]);
        *ms = ((days * 24 + v[T_HOUR]) * 60 + v[T_MIN]) * 60000 + (int64_t)v[T_SEC] * 1000 +
              v[T_MS] - (int64_t)zone * 60000;
        return 0;
    }
bad:
    snprintf(err, errlen, "'%.*s' does not match the time format %s", (int)(n > 40 ? 40 : n), s,
             pattern);
    return -1;
}
