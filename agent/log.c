/* log: the agent's log lines. One write(2) per line so threads never interleave;
 * per-component levels; identical errors and warnings rate-limited with a count. */
#include "agent/log.h"
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_COMPONENTS 16
#define REPEAT_WINDOW_S 10      /* an identical line is written at most this often */
#define REPEAT_SLOTS 64

static const char *const names[] = { "error", "warn", "info", "debug" };

static struct {
    pthread_mutex_t lock;
    int level;
    struct { char name[16]; int level; } comp[MAX_COMPONENTS];
    int ncomp;
    struct { uint64_t hash; time_t last; unsigned held; } seen[REPEAT_SLOTS];
} L = { PTHREAD_MUTEX_INITIALIZER, LOG_INFO, { { "", 0 } }, 0, { { 0, 0, 0 } } };

void log_set_level(enum log_level level)
{
    pthread_mutex_lock(&L.lock);
    L.level = level;
    L.ncomp = 0;
    pthread_mutex_unlock(&L.lock);
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

/* Walk "info, uplink=debug": calls fn for the default (comp NULL) and each pair. */
static int walk(const char *spec, char *err, size_t errlen,
                void (*fn)(const char *comp, enum log_level lv))
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    int first = 1;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1]))
            *--end = 0;
        char *eq = strchr(tok, '=');
        enum log_level lv;
        if (!eq) {
            if (!first || log_level_parse(tok, &lv)) {
                snprintf(err, errlen, "'%s' is not a level (expected error, warn, info or debug, "
                         "then component=level pairs, e.g. info, uplink=debug)", tok);
                return -1;
            }
            if (fn)
                fn(NULL, lv);
        } else {
            *eq = 0;
            size_t n = strlen(tok);
            int ok = n > 0 && n < sizeof L.comp[0].name;
            for (size_t i = 0; ok && i < n; i++)
                ok = islower((unsigned char)tok[i]);
            if (!ok || log_level_parse(eq + 1, &lv)) {
                snprintf(err, errlen, "'%s=%s' is not component=level (e.g. uplink=debug)", tok, eq + 1);
                return -1;
            }
            if (fn)
                fn(tok, lv);
        }
        first = 0;
    }
    return 0;
}

int log_spec_check(const char *spec, char *err, size_t errlen)
{
    return walk(spec, err, errlen, NULL);
}

static void set_one(const char *comp, enum log_level lv)
{
    if (!comp) {
        L.level = lv;
        return;
    }
    for (int i = 0; i < L.ncomp; i++)
        if (!strcmp(L.comp[i].name, comp)) {
            L.comp[i].level = lv;
            return;
        }
    if (L.ncomp < MAX_COMPONENTS) {
        snprintf(L.comp[L.ncomp].name, sizeof L.comp[0].name, "%s", comp);
        L.comp[L.ncomp++].level = lv;
    }
}

void log_configure(const char *spec)
{
    char err[200];
    pthread_mutex_lock(&L.lock);
    L.ncomp = 0;
    walk(spec, err, sizeof err, set_one);
    pthread_mutex_unlock(&L.lock);
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

void log_msg(enum log_level level, const char *component, const char *instance,
             const char *fmt, ...)
{
    pthread_mutex_lock(&L.lock);
    int limit = L.level;
    for (int i = 0; i < L.ncomp; i++)
        if (!strcmp(L.comp[i].name, component))
            limit = L.comp[i].level;
    pthread_mutex_unlock(&L.lock);
    if ((int)level > limit)
        return;
    char line[1024];
    int n = instance ? snprintf(line, sizeof line, "%s %s[%s]: ", names[level], component, instance)
                     : snprintf(line, sizeof line, "%s %s: ", names[level], component);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 64, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 64)
        len = sizeof line - 64;
    if (level <= LOG_WARN) {
        /* A flapping link or a full disk must not flood the journal. */
        uint64_t h = fnv1a(line, len);
        time_t now = time(NULL);
        pthread_mutex_lock(&L.lock);
        int slot = -1, oldest = 0;
        for (int i = 0; i < REPEAT_SLOTS; i++) {
            if (L.seen[i].hash == h) {
                slot = i;
                break;
            }
            if (L.seen[i].last < L.seen[oldest].last)
                oldest = i;
        }
        unsigned held = 0;
        if (slot >= 0 && now - L.seen[slot].last < REPEAT_WINDOW_S) {
            L.seen[slot].held++;
            pthread_mutex_unlock(&L.lock);
            return;
        }
        if (slot < 0) {
            slot = oldest;
            L.seen[slot].hash = h;
            L.seen[slot].held = 0;
        }
        held = L.seen[slot].held;
        L.seen[slot].held = 0;
        L.seen[slot].last = now;
        pthread_mutex_unlock(&L.lock);
        if (held)
            len += (size_t)snprintf(line + len, sizeof line - len,
                                    " (and %u more like this in %d s)", held, REPEAT_WINDOW_S);
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
