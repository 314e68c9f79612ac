/* sim_fault: parsing misbehaviour directives and re-reading the control file when it changes.
 *
 * The control file is how a test changes a running simulator (makes a silent unit come
 * back, starts corrupting replies) without restarting it and so without closing the
 * serial port or the agent's connections. It is checked by stat() once a tick; mtime,
 * size and inode together catch an edit in place, a rewrite within the same timestamp
 * granule that changes the size, and a rename over it. A bad file is reported and the
 * directives in force kept: a test that typed a wrong line sees it in the log rather
 * than a simulator that suddenly behaves. */
#include "core/num.h"
#include "tools/sim_fault.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LINE_MAX_LEN 512
#define MAX_WORDS    5

void sim_faults_clear(struct sim_faults *f)
{
    memset(f, 0, sizeof *f);
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
    char err[128];
    return num_parse_long(s, lo, hi, out, err, sizeof err);
}

/* "A-B", both 0..65535, A <= B. */
static int parse_range(const char *s, unsigned *lo, unsigned *hi)
{
    char buf[32];
    const char *dash = strchr(s, '-');
    long a, b;
    if (!dash || (size_t)(dash - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(dash - s));
    buf[dash - s] = '\0';
    if (parse_num(buf, 0, 65535, &a) < 0 || parse_num(dash + 1, 0, 65535, &b) < 0 || a > b)
        return -1;
    *lo = (unsigned)a;
    *hi = (unsigned)b;
    return 0;
}

struct kind {
    const char *name;
    int has_unit;
    int min_args, max_args;     /* after the unit, if any */
    const char *usage;
};

static const struct kind kinds[] = {
    { "silent",    1, 0, 0, "silent UNIT" },
    { "slow",      1, 1, 1, "slow UNIT MS" },
    { "exception", 1, 1, 2, "exception UNIT CODE [ADDR-ADDR]" },
    { "crc",       1, 1, 1, "crc UNIT PERCENT" },
    { "truncate",  1, 1, 1, "truncate UNIT PERCENT" },
    { "garbage",   0, 1, 1, "garbage PERCENT" },
    { "fussy",     1, 0, 0, "fussy UNIT" },
    { "behave",    1, 0, 0, "behave UNIT" },
    { "clear",     0, 0, 0, "clear" },
    { "other",     1, 1, 1, "other UNIT PERCENT" },
    { "echo",      0, 1, 1, "echo on|off" },
    { "hangup",    0, 1, 1, "hangup PERCENT" },
    { "close-after-reply", 0, 1, 1, "close-after-reply on|off" },
    { "heartbeat-inside",  0, 1, 1, "heartbeat-inside PERCENT" },
    { "drop",      0, 0, 0, "drop" },
};

enum { K_SILENT, K_SLOW, K_EXCEPTION, K_CRC, K_TRUNCATE, K_GARBAGE, K_FUSSY, K_BEHAVE, K_CLEAR,
       K_OTHER, K_ECHO, K_HANGUP, K_CLOSE_AFTER_REPLY, K_HEARTBEAT_INSIDE, K_DROP };

int sim_faults_apply(struct sim_faults *f, const char *line, char *err, size_t errlen)
{
    char buf[LINE_MAX_LEN];
    char *w[MAX_WORDS + 1];
    int n = 0;

    if (strlen(line) >= sizeof buf)
        return fail(err, errlen, "line too long");
    strcpy(buf, line);
    char *hash = strchr(buf, '#');
    if (hash)
        *hash = '\0';
    char *save = NULL;
    for (char *t = strtok_r(buf, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == MAX_WORDS)
            return fail(err, errlen, "too many words");
        w[n++] = t;
    }
    if (n == 0)
        return 0;

    const struct kind *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(w[0], kinds[i].name) == 0)
            k = &kinds[i];
    if (!k)
        return fail(err, errlen, "unknown directive '%s' (silent, slow, exception, crc, "
                    "truncate, garbage, fussy, other, echo, hangup, close-after-reply, "
                    "heartbeat-inside, drop, behave, clear)", w[0]);
    int nargs = n - 1 - k->has_unit;
    if (nargs < k->min_args || nargs > k->max_args)
        return fail(err, errlen, "expected '%s'", k->usage);

    long unit = 0, v = 0;
    if (k->has_unit && parse_num(w[1], 1, SIM_UNIT_MAX, &unit) < 0)
        return fail(err, errlen, "%s: unit id must be 1..%d, got '%s'", k->name,
                    SIM_UNIT_MAX, w[1]);
    const char *arg = nargs > 0 ? w[1 + k->has_unit] : NULL;
    struct sim_unit_fault *u = &f->unit[unit];

    switch (k - kinds) {
    case K_SILENT:
        u->silent = 1;
        break;
    case K_SLOW:
        if (parse_num(arg, 0, 600000, &v) < 0)
            return fail(err, errlen, "slow: MS must be 0..600000, got '%s'", arg);
        u->slow_ms = (unsigned)v;
        break;
    case K_EXCEPTION: {
        unsigned lo = 0, hi = 0;
        if (parse_num(arg, 1, 255, &v) < 0)
            return fail(err, errlen, "exception: CODE must be 1..255, got '%s'", arg);
        if (nargs == 2 && parse_range(w[3], &lo, &hi) < 0)
            return fail(err, errlen, "exception: expected an address range like 10-19 "
                        "(0..65535), got '%s'", w[3]);
        u->exc_code = (int)v;
        u->exc_ranged = nargs == 2;
        u->exc_lo = lo;
        u->exc_hi = hi;
        break;
    }
    case K_CRC: case K_TRUNCATE: case K_GARBAGE: case K_OTHER: case K_HANGUP:
    case K_HEARTBEAT_INSIDE: {
        if (parse_num(arg, 0, 100, &v) < 0)
            return fail(err, errlen, "%s: PERCENT must be 0..100, got '%s'", k->name, arg);
        unsigned *pct = k - kinds == K_CRC ? &u->crc_pct
                      : k - kinds == K_TRUNCATE ? &u->trunc_pct
                      : k - kinds == K_OTHER ? &u->other_pct
                      : k - kinds == K_GARBAGE ? &f->garbage_pct
                      : k - kinds == K_HANGUP ? &f->hangup_pct : &f->hb_inside_pct;
        *pct = (unsigned)v;
        break;
    }
    case K_ECHO: case K_CLOSE_AFTER_REPLY: {
        int on = strcmp(arg, "on") == 0;
        if (!on && strcmp(arg, "off") != 0)
            return fail(err, errlen, "%s: expected on or off, got '%s'", k->name, arg);
        *(k - kinds == K_ECHO ? &f->echo : &f->close_after_reply) = on;
        break;
    }
    case K_FUSSY:
        u->fussy = 1;
        break;
    case K_BEHAVE:
        memset(u, 0, sizeof *u);
        break;
    case K_DROP:
        f->drop = 1;
        break;
    default:
        sim_faults_clear(f);
        break;
    }
    return 0;
}

/* base + the file's lines into *out. Returns 0, or -1 after printing each bad line. */
static int read_file(const struct sim_control *c, FILE *fp, struct sim_faults *out)
{
    char line[LINE_MAX_LEN + 2], err[200];
    unsigned lineno = 0;
    int rc = 0;
    *out = c->base;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            fprintf(stderr, "ganzhi-sim: %s:%u: line too long\n", c->path, lineno);
            rc = -1;
            int ch;
            while ((ch = fgetc(fp)) != EOF && ch != '\n')
                ;
            continue;
        }
        if (sim_faults_apply(out, line, err, sizeof err) < 0) {
            fprintf(stderr, "ganzhi-sim: %s:%u: %s\n", c->path, lineno, err);
            rc = -1;
        }
    }
    if (ferror(fp)) {
        fprintf(stderr, "ganzhi-sim: %s: %s\n", c->path, strerror(errno));
        rc = -1;
    }
    return rc;
}

int sim_control_poll(struct sim_control *c, struct sim_faults *cur)
{
    if (!c->path)
        return 0;
    struct stat st;
    if (stat(c->path, &st) < 0) {
        if (errno != ENOENT) {
            fprintf(stderr, "ganzhi-sim: %s: %s\n", c->path, strerror(errno));
            return -1;
        }
        /* Gone (or not yet there): the base alone, once. */
        if (c->known && c->ino == 0)
            return 0;
        c->known = 1;
        c->ino = 0;
        *cur = c->base;
        return 1;
    }
    if (c->known && c->ino == st.st_ino && c->size == st.st_size &&
        c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec)
        return 0;
    /* Remember this version before reading: a bad file is reported once, not each tick. */
    c->known = 1;
    c->ino = st.st_ino ? st.st_ino : 1;
    c->size = st.st_size;
    c->mtime = st.st_mtim;

    FILE *fp = fopen(c->path, "r");
    if (!fp) {
        fprintf(stderr, "ganzhi-sim: %s: %s\n", c->path, strerror(errno));
        return -1;
    }
    struct sim_faults *next = malloc(sizeof *next);
    if (!next) {
        fclose(fp);
        fprintf(stderr, "ganzhi-sim: %s: out of memory\n", c->path);
        return -1;
    }
    int rc = read_file(c, fp, next);
    fclose(fp);
    if (rc == 0)
        *cur = *next;
    free(next);
    return rc == 0 ? 1 : -1;
}
