/*
 * conf: conf_load turns agent.conf and its point tables into one struct conf,
 * or into a list of every error found ("FILE:LINE: message", sorted by file and
 * line). Lexing is in conf_ini.c, the keys in conf_schema.c, the point tables in
 * conf_csv.c; this file builds the sections and checks what spans them: names,
 * tags unique on the site, buses shared by RTU devices (on a serial port, behind a
 * device server or a DTU), one framing per host:port, the columns each uplink's
 * profile needs.
 */
#include "agent/conf_impl.h"
#include "agent/conf_pool.h"
#include "core/num.h"
#include "agent/keyfile.h"
#include "agent/log.h"
#include "proto/charset.h"
#include "proto/envelope.h"
#include "proto/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- helpers shared by the conf_*.c files ---------------------------------- */

static size_t file_index(const struct conf_loader *L, const char *file)
{
    for (size_t i = 0; L->c && i < L->c->nfiles; i++)
        if (L->c->files[i] == file)
            return i;
    return SIZE_MAX;
}

void conf__err(struct conf_loader *L, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    L->nerr++;
    if (!L->diag)
        return;
    char *s;
    int n = line > 0 ? asprintf(&s, "%s:%d: %s", file, line, msg) : asprintf(&s, "%s: %s", file, msg);
    if (n < 0)
        return;
    char **lines = realloc(L->diag->lines, (L->diag->n + 1) * sizeof *lines);
    struct conf_diag_key *keys = realloc(L->keys, (L->diag->n + 1) * sizeof *keys);
    if (lines)
        L->diag->lines = lines;
    if (keys)
        L->keys = keys;
    if (!lines || !keys) {
        free(s);
        return;
    }
    L->keys[L->diag->n] = (struct conf_diag_key){ file_index(L, file), (size_t)(line > 0 ? line : 0),
                                                  L->diag->n };
    L->diag->lines[L->diag->n++] = s;
}

void conf__note(struct conf_loader *L, const char *file, const char *fmt, ...)
{
    char msg[1024], *s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!L->diag || asprintf(&s, "%s: notice: %s", file, msg) < 0)
        return;
    for (size_t i = 0; i < L->diag->nnotes; i++)
        if (strcmp(L->diag->notes[i], s) == 0) {
            free(s);
            return;
        }
    char **notes = realloc(L->diag->notes, (L->diag->nnotes + 1) * sizeof *notes);
    if (!notes) {
        free(s);    /* a notice lost to a lack of memory is not worth failing the load */
        return;
    }
    L->diag->notes = notes;
    L->diag->notes[L->diag->nnotes++] = s;
}

void conf__oom(struct conf_loader *L)
{
    if (!L->oom)
        conf__err(L, L->path ? L->path : "conf", 0, "out of memory");
    L->oom = true;
}

char *conf__strdup(struct conf_loader *L, const char *s)
{
    char *d = strdup(s);
    if (!d)
        conf__oom(L);
    return d;
}

const char *conf__file(struct conf_loader *L, const char *path)
{
    struct conf *c = L->c;
    char **v = realloc(c->files, (c->nfiles + 1) * sizeof *v);
    if (!v) {
        conf__oom(L);
        return NULL;
    }
    c->files = v;
    if (!(v[c->nfiles] = conf__strdup(L, path)))
        return NULL;
    return v[c->nfiles++];
}

char *conf__resolve(struct conf_loader *L, const char *p)
{
    char *r;
    if (p[0] == '/' || !L->dir[0])
        r = strdup(p);
    else if (asprintf(&r, "%s%s", L->dir, p) < 0)
        r = NULL;
    if (!r)
        conf__oom(L);
    return r;
}

static int open_regular(const char *path, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "not a regular file");
        close(fd);
        return -1;
    }
    return fd;
}

int conf__readable(const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open_regular(path, &st, err, errlen);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int conf__read(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    int fd = open_regular(path, &st, err, errlen);
    if (fd < 0)
        return -1;
    if ((size_t)st.st_size > CONF_FILE_MAX) {
        snprintf(err, errlen, "larger than %zu MB", CONF_FILE_MAX >> 20);
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            free(b);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1)
            break;              /* the file grew since fstat: what we have is enough */
    }
    close(fd);
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

size_t conf__bom(const char *buf, size_t len)
{
    return len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

void conf__utf8_check(struct conf_loader *L, const char *file, const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    int line = 1, reported = 0;
    for (size_t i = 0; i < len; ) {
        if (s[i] == '\n') {
            line++;
            i++;
            continue;
        }
        size_t k = s[i] ? charset_utf8_seq(s + i, len - i) : 0;
        if (k) {
            i += k;
            continue;
        }
        if (reported != line)
            conf__err(L, file, line, "not valid UTF-8 (save the file as UTF-8)");
        reported = line;
        i++;
    }
}

size_t conf__distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* --- building the configuration -------------------------------------------- */

static void build_agent(struct conf_loader *L, const struct ini *ini)
{
    for (size_t i = 0; i < ini->n; i++)
        if (ini->s[i].kind == CONF_SEC_AGENT) {
            conf__apply(L, CONF_SEC_AGENT, &ini->s[i], &L->c->agent, 0);
            const struct ini_entry *e = conf__ini_get(&ini->s[i], "log_level");
            char err[200];
            if (e && L->c->agent.log_level && log_spec_check(L->c->agent.log_level, err, sizeof err))
                conf__err(L, L->path, e->line, "log_level: %s", err);
            return;
        }
    conf__err(L, L->path, 0, "no [agent] section (it gives enterprise_code and gateway_code)");
}

/* Two devices reading one table would define every tag twice; say so once. */
static const struct conf_device *table_owner(const struct conf_loader *L, const struct conf_device *d)
{
    for (const struct conf_device *o = L->c->devices; o < d; o++)
        if (o->points_file && strcmp(o->points_file, d->points_file) == 0)
            return o;
    return NULL;
}

/* A modbus-rtu-tcp device either dials out to a serial device server (host and
 * port) or waits for its DTU to dial in (listen, dtu and maybe heartbeat). */
static void check_rtu_tcp(struct conf_loader *L, const struct ini_section *s)
{
    const struct ini_entry *host = conf__ini_get(s, "host"), *listen = conf__ini_get(s, "listen");
    const struct ini_entry *port = conf__ini_get(s, "port"), *dtu = conf__ini_get(s, "dtu");
    const struct ini_entry *hb = conf__ini_get(s, "heartbeat");

    if (!host && !listen)
        conf__err(L, L->path, s->line, "[device %s]: modbus-rtu-tcp needs host or listen (host: dial "
                  "out to a serial device server; listen: wait for a DTU to dial in)", s->name);
    if (host && listen)
        conf__err(L, L->path, listen->line, "listen: host is also given (line %d); a modbus-rtu-tcp "
                  "device either dials out to host or listens for its DTU, not both", host->line);
    if (host && !listen && !port)
        conf__err(L, L->path, s->line, "[device %s]: missing required key 'port' (modbus-rtu-tcp "
                  "with host: serial device servers have no standard port; give the one set in the "
                  "server, e.g. 4001)", s->name);
    if (listen && port)
        conf__err(L, L->path, port->line, "key 'port' goes with host; with listen the port is "
                  "listen's own (listen = [ADDR]:PORT, line %d)", listen->line);
    if (listen && !dtu)
        conf__err(L, L->path, s->line, "[device %s]: missing required key 'dtu' (with listen: the "
                  "registration packet that tells which DTU dialling in the device is behind)", s->name);
    if (dtu && !listen)
        conf__err(L, L->path, dtu->line, "key 'dtu' goes with listen (a DTU dialling in); a device "
                  "server dialled out to at host is known by its address");
    if (hb && !listen)
        conf__err(L, L->path, hb->line, "key 'heartbeat' goes with listen (a DTU dialling in sends "
                  "it)");
}

static void build_device(struct conf_loader *L, const struct ini_section *s, struct conf_device *d,
                         struct conf_table *t)
{
    d->name = conf__strdup(L, s->name);
    d->file = L->path;
    d->line = s->line;

    /* the driver decides which keys belong; an unknown one is reported by apply */
    unsigned applies = 0;
    const struct ini_entry *drv = conf__ini_get(s, "driver");
    if (drv && strcmp(drv->value, "modbus-tcp") == 0)
        applies = CONF_APPLIES_TCP;
    else if (drv && strcmp(drv->value, "modbus-rtu") == 0)
        applies = CONF_APPLIES_RTU;
    else if (drv && strcmp(drv->value, "modbus-rtu-tcp") == 0)
        applies = CONF_APPLIES_RTU_TCP;
    conf__apply(L, CONF_SEC_DEVICE, s, d, applies);

    /* defaults made of other keys (F_DERIVED in the schema) */
    if (!conf__ini_get(s, "frame_gap"))
        d->frame_gap_ms = -1;       /* 3.5 characters at baud: the driver's to compute */
    if (applies == CONF_APPLIES_TCP && !conf__ini_get(s, "port"))
        d->port = 502;
    if (applies == CONF_APPLIES_RTU_TCP)
        check_rtu_tcp(L, s);

    /* the schema allows 0..255 (TCP gateways use them all); a serial bus does not */
    const struct ini_entry *uid = conf__ini_get(s, "unit_id");
    char err[128];
    long id;
    if ((applies == CONF_APPLIES_RTU || applies == CONF_APPLIES_RTU_TCP) && uid
        && num_parse_long(uid->value, 0, 255, &id, err, sizeof err) == 0 && (id < 1 || id > 247))
        conf__err(L, L->path, uid->line, "unit_id: '%s' out of range for %s (1..247; 0 is broadcast)",
                  uid->value, applies == CONF_APPLIES_RTU ? "modbus-rtu" : "modbus-rtu-tcp");

    const struct ini_entry *pts = conf__ini_get(s, "points");
    const struct conf_device *o;
    if (d->points_file && (o = table_owner(L, d))) {
        conf__err(L, L->path, pts->line, "points: '%s' is also the point table of device '%s' (line %d); "
                  "tags are unique on the site, so each device needs its own table",
                  d->points_file, o->name, o->line);
    } else if (d->points_file) {
        conf__points_load(L, d, pts->line, t);
        if (t->ok && t->nrows == 0)
            conf__err(L, L->path, pts->line, "points: '%s' has no points (a device needs at least one)",
                      d->points_file);
    }
}

/* Devices naming one serial port share one bus, so they must agree on its line
 * settings: the bus is opened once, by the first of them. */
static void check_buses(struct conf_loader *L)
{
    const struct conf *c = L->c;
    for (size_t i = 0; i < c->ndevices; i++) {
        const struct conf_device *d = &c->devices[i];
        if (d->driver != CONF_MODBUS_RTU || !d->serial)
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct conf_device *o = &c->devices[j];
            if (o->driver != CONF_MODBUS_RTU || !o->serial || strcmp(o->serial, d->serial) != 0)
                continue;
            char mine[64], theirs[64];
            snprintf(mine, sizeof mine, "%d %d%c%d", d->baud, d->data_bits, d->parity, d->stop_bits);
            snprintf(theirs, sizeof theirs, "%d %d%c%d", o->baud, o->data_bits, o->parity, o->stop_bits);
            if (strcmp(mine, theirs) != 0)
                conf__err(L, L->path, d->line, "device '%s' shares serial '%s' with device '%s' (line %d) "
                          "but sets %s against %s (devices on one bus must agree on baud, data_bits, "
                          "parity and stop_bits)", d->name, d->serial, o->name, o->line, mine, theirs);
            break;
        }
    }
}

/* "h:4001" or "[::1]:4001" */
static const char *host_port(const struct conf_device *d, char *buf, size_t n)
{
    bool v6 = strchr(d->host, ':') != NULL;
    snprintf(buf, n, "%s%s%s:%d", v6 ? "[" : "", d->host, v6 ? "]" : "", d->port);
    return buf;
}

static bool same_host_port(const struct conf_device *a, const struct conf_device *b)
{
    return a->host && b->host && a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

static bool dialled_in(const struct conf_device *d)
{
    return d->driver == CONF_MODBUS_RTU_TCP && d->listen && d->dtu_id_len;
}

/* Two modbus-rtu-tcp devices on one serial line behind a bridge: the same
 * device server (host:port), or the same DTU (its registration packet). */
static bool same_rtu_tcp_bus(const struct conf_device *a, const struct conf_device *b)
{
    if (a->driver != CONF_MODBUS_RTU_TCP || b->driver != CONF_MODBUS_RTU_TCP)
        return false;
    if (!a->listen && !b->listen)
        return same_host_port(a, b);
    return dialled_in(a) && dialled_in(b) && a->dtu_id_len == b->dtu_id_len
           && memcmp(a->dtu_id, b->dtu_id, a->dtu_id_len) == 0;
}

bool conf_same_bus(const struct conf_device *a, const struct conf_device *b)
{
    if (a->driver != b->driver)
        return false;
    switch (a->driver) {
    case CONF_MODBUS_RTU:
        return a->serial && b->serial && strcmp(a->serial, b->serial) == 0;
    case CONF_MODBUS_RTU_TCP:
        return same_rtu_tcp_bus(a, b);
    case CONF_MODBUS_TCP:
        return a->link == CONF_LINK_SHARED && b->link == CONF_LINK_SHARED && same_host_port(a, b);
    }
    return false;
}

/* "key = mine" and "key = theirs" appended to two lists when they differ. */
struct bus_diff {
    char mine[512], theirs[512];
    size_t n;
};

static void diff_add(struct bus_diff *df, const char *key, bool differ, const char *mine,
                     const char *theirs)
{
    if (!differ)
        return;
    size_t m = strlen(df->mine), t = strlen(df->theirs);
    snprintf(df->mine + m, sizeof df->mine - m, "%s%s = %s", df->n ? ", " : "", key, mine);
    snprintf(df->theirs + t, sizeof df->theirs - t, "%s%s = %s", df->n ? ", " : "", key, theirs);
    df->n++;
}

static void diff_int(struct bus_diff *df, const char *key, long a, long b)
{
    char x[24], y[24];
    snprintf(x, sizeof x, "%ld", a);
    snprintf(y, sizeof y, "%ld", b);
    diff_add(df, key, a != b, x, y);
}

static const char *frame_gap_text(int64_t ms, char *buf, size_t n)
{
    if (ms < 0)
        snprintf(buf, n, "(3.5 characters)");
    else
        snprintf(buf, n, "%lldms", (long long)ms);
    return buf;
}

static const char *const echo_names[] = { "auto", "on", "off" };

/* Devices on one RTU-over-TCP bus must agree on what the bus is: its serial
 * line, its timing, its echo; behind one DTU, also its heartbeat. */
static void check_rtu_tcp_bus(struct conf_loader *L, const struct conf_device *d, const struct conf_device *o)
{
    bool dtu = dialled_in(d);
    char where[320], hp[300], x[48], y[48];
    if (dtu && (strcmp(d->listen_host, o->listen_host) != 0 || d->listen_port != o->listen_port)) {
        conf__err(L, L->path, d->line, "device '%s' names DTU '%s' under listen '%s' but device '%s' "
                  "(line %d) names it under listen '%s'; one DTU dials in to one address",
                  d->name, d->dtu, d->listen, o->name, o->line, o->listen);
        return;
    }
    struct bus_diff df = { .n = 0 };
    df.mine[0] = df.theirs[0] = 0;
    diff_int(&df, "baud", d->baud, o->baud);
    diff_int(&df, "data_bits", d->data_bits, o->data_bits);
    x[0] = d->parity, x[1] = 0, y[0] = o->parity, y[1] = 0;
    diff_add(&df, "parity", d->parity != o->parity, x, y);
    diff_int(&df, "stop_bits", d->stop_bits, o->stop_bits);
    diff_add(&df, "frame_gap", d->frame_gap_ms != o->frame_gap_ms, frame_gap_text(d->frame_gap_ms, x, sizeof x),
             frame_gap_text(o->frame_gap_ms, y, sizeof y));
    diff_add(&df, "echo", d->echo != o->echo, echo_names[d->echo], echo_names[o->echo]);
    if (dtu)
        diff_add(&df, "heartbeat", d->heartbeat_len != o->heartbeat_len
                 || memcmp(d->heartbeat_bytes, o->heartbeat_bytes, d->heartbeat_len) != 0,
                 d->heartbeat ? d->heartbeat : "(none)", o->heartbeat ? o->heartbeat : "(none)");
    if (!df.n)
        return;
    if (dtu)
        snprintf(where, sizeof where, "DTU '%s'", d->dtu);
    else
        snprintf(where, sizeof where, "device server '%s'", host_port(d, hp, sizeof hp));
    conf__err(L, L->path, d->line, "device '%s' shares %s with device '%s' (line %d) but sets %s against "
              "%s (devices on one bus must agree on baud, data_bits, parity, stop_bits, frame_gap%s)",
              d->name, where, o->name, o->line, df.mine, df.theirs,
              dtu ? ", echo and heartbeat" : " and echo");
}

/* One socket speaks one framing: a host:port is dialled by modbus-tcp devices
 * (MBAP) or by modbus-rtu-tcp devices (RTU), never both. */
static void check_framing(struct conf_loader *L, const struct conf_device *d, const struct conf_device *o)
{
    char hp[300];
    conf__err(L, L->path, d->line, "device '%s' (%s) dials '%s' as device '%s' (%s, line %d) does; one "
              "connection speaks one framing, so a host:port is either modbus-tcp or modbus-rtu-tcp",
              d->name, d->driver == CONF_MODBUS_TCP ? "modbus-tcp" : "modbus-rtu-tcp",
              host_port(d, hp, sizeof hp), o->name, o->driver == CONF_MODBUS_TCP ? "modbus-tcp" : "modbus-rtu-tcp",
              o->line);
}

/* The buses behind a bridge: each device against the first before it on the
 * same one; and each host:port against the first dialled with the other framing. */
static void check_bridges(struct conf_loader *L)
{
    const struct conf *c = L->c;
    for (size_t i = 0; i < c->ndevices; i++) {
        const struct conf_device *d = &c->devices[i];
        if (d->driver != CONF_MODBUS_TCP && d->driver != CONF_MODBUS_RTU_TCP)
            continue;
        bool bus = false, framing = false, port = false;
        for (size_t j = 0; j < i && !(bus && framing && port); j++) {
            const struct conf_device *o = &c->devices[j];
            if (!bus && same_rtu_tcp_bus(d, o)) {
                check_rtu_tcp_bus(L, d, o);
                bus = true;
            }
            if (!framing && o->driver != d->driver && (o->driver == CONF_MODBUS_TCP
                || o->driver == CONF_MODBUS_RTU_TCP) && same_host_port(d, o)) {
                check_framing(L, d, o);
                framing = true;
            }
            /* One port, one listener: every address (":P") takes the port on every
             * address, so no other listen may name it. */
            if (!port && dialled_in(d) && dialled_in(o) && !same_rtu_tcp_bus(d, o) &&
                d->listen_port == o->listen_port &&
                strcmp(d->listen_host, o->listen_host) != 0 && (!d->listen_host[0] || !o->listen_host[0])) {
                conf__err(L, L->path, d->line, "device '%s' listens on '%s' and device '%s' (line %d) on "
                          "'%s': every address and one address on the same port cannot both be listened on "
                          "(write the same listen for every DTU on port %d)", d->name, d->listen, o->name,
                          o->line, o->listen, d->listen_port);
                port = true;
            }
        }
    }
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* A tag names one reading on the whole site: the store and every platform key
 * on it, so a second point with the same tag would silently merge two series. */
static void check_tags(struct conf_loader *L)
{
    const struct conf *c = L->c;
    size_t n = 0;
    for (size_t i = 0; i < c->ndevices; i++)
        n += c->devices[i].npoints;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    struct seen { const struct conf_point *p; const char *table; } *slot = calloc(cap, sizeof *slot);
    if (!slot) {
        conf__oom(L);
        return;
    }
    for (size_t i = 0; i < c->ndevices; i++)
        for (size_t k = 0; k < c->devices[i].npoints; k++) {
            const struct conf_point *p = &c->devices[i].points[k];
            size_t h = (size_t)hash_str(p->tag) & (cap - 1);
            while (slot[h].p && strcmp(slot[h].p->tag, p->tag) != 0)
                h = (h + 1) & (cap - 1);
            if (slot[h].p)
                conf__err(L, c->devices[i].table, p->line, "tag '%s' already defined at %s:%d",
                          p->tag, slot[h].table, slot[h].p->line);
            else
                slot[h] = (struct seen){ p, c->devices[i].table };
        }
    free(slot);
}

/* Each uplink's profile needs some metadata columns filled on every point. */
static void check_profiles(struct conf_loader *L, const struct conf_table *tables)
{
    const struct conf *c = L->c;
    for (size_t u = 0; u < c->nuplinks; u++) {
        const struct conf_uplink *up = &c->uplinks[u];
        const struct profile_info *pi = up->profile ? profile_find(up->profile) : NULL;
        if (!pi)
            continue;
        /* The regulators' formats identify the site by its district (行政区划代码). */
        if (strcmp(pi->name, "generic") != 0 &&
            (!c->agent.district_code || !c->agent.district_code[0]))
            conf__err(L, up->file, up->line, "uplink '%s' (profile %s) needs district_code in "
                      "[agent] (6 digits, GB/T 2260)", up->name, pi->name);
        for (const char *const *col = pi->required; *col; col++)
            for (size_t i = 0; i < c->ndevices; i++) {
                const struct conf_table *t = &tables[i];
                const struct conf_device *d = &c->devices[i];
                if (!t->ok)
                    continue;
                bool present = false;
                for (size_t k = 0; k < t->ncols; k++)
                    present |= strcmp(t->cols[k], *col) == 0;
                if (!present) {
                    conf__err(L, t->file, t->header_line, "column '%s' is missing but uplink '%s' "
                              "(profile %s) needs it", *col, up->name, pi->name);
                    continue;
                }
                for (size_t k = 0; k < d->npoints; k++)
                    if (!conf_point_meta(&d->points[k], *col))
                        conf__err(L, d->table, d->points[k].line, "column '%s' is empty but "
                                  "uplink '%s' (profile %s) needs it", *col, up->name, pi->name);
            }
    }
}

static void build_uplink(struct conf_loader *L, const struct ini_section *s, struct conf_uplink *u)
{
    const struct conf_agent *a = &L->c->agent;
    u->name = conf__strdup(L, s->name);
    u->file = L->path;
    u->line = s->line;
    conf__apply(L, CONF_SEC_UPLINK, s, u, 0);

    /* defaults made of other keys (F_DERIVED in the schema) */
    if (!u->client_id && a->enterprise_code && a->gateway_code && u->name &&
        asprintf(&u->client_id, "%s-%s-%s", a->enterprise_code, a->gateway_code, u->name) < 0) {
        u->client_id = NULL;
        conf__oom(L);
    }
    if (!u->topic_prefix && a->enterprise_code &&
        asprintf(&u->topic_prefix, "ganzhi/%s", a->enterprise_code) < 0) {
        u->topic_prefix = NULL;
        conf__oom(L);
    }

    /* The province's variant of the profile: override.KEY = VALUE, each tried on
     * the profile now so that a mistake names its line. */
    struct profile *prof = u->profile ? profile_create(u->profile, NULL, 0) : NULL;
    int envelope_override_line = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct ini_entry *e = &s->e[i];
        if (strncmp(e->key, "override.", 9) != 0)
            continue;
        struct conf_kv *kv = realloc(u->overrides, (u->noverrides + 1) * sizeof *kv);
        int *ln = realloc(u->override_lines, (u->noverrides + 1) * sizeof *ln);
        if (kv)
            u->overrides = kv;
        if (ln)
            u->override_lines = ln;
        if (!kv || !ln) {
            conf__oom(L);
            break;
        }
        kv[u->noverrides] = (struct conf_kv){ conf__strdup(L, e->key + 9), conf__strdup(L, e->value) };
        ln[u->noverrides++] = e->line;
        char perr[256];
        /* override.envelope.*: the envelope's, not the profile's (proto/envelope.h) */
        if (strncmp(e->key + 9, "envelope.", 9) == 0) {
            if (envelope_override(NULL, e->key + 9, e->value, perr, sizeof perr) != 0)
                conf__err(L, L->path, e->line, "%s", perr);
            else
                envelope_override_line = e->line;
        } else if (prof && profile_override(prof, e->key + 9, e->value, perr, sizeof perr) != 0)
            conf__err(L, L->path, e->line, "%s: %s", e->key, perr);
    }
    profile_free(prof);
    /* Envelope keys: private files of the right length, checked now (never logged). */
    enum envelope_alg alg = ENVELOPE_NONE;
    if (u->envelope && envelope_alg_parse(u->envelope, &alg) != 0)
        alg = ENVELOPE_NONE;    /* the schema refused it already */
    if (alg != ENVELOPE_NONE) {
        const struct ini_entry *e = conf__ini_get(s, "envelope_key_file");
        if (!u->envelope_key_file)
            conf__err(L, L->path, conf__ini_get(s, "envelope") ? conf__ini_get(s, "envelope")->line
                                                                 : s->line, "envelope = %s needs "
                      "envelope_key_file (the key as %zu hex digits; mode 600)", u->envelope,
                      envelope_key_len(alg) * 2);
        else {
            unsigned char key[64];
            size_t len = 0;
            char kerr[300];
            size_t want = envelope_key_len(alg);
            if (keyfile_read(u->envelope_key_file, 1, key, sizeof key, &len, kerr, sizeof kerr))
                conf__err(L, L->path, e->line, "envelope_key_file: %s", kerr);
            else if (len != want)
                conf__err(L, L->path, e->line, "envelope_key_file: %zu-byte key, %s needs %zu "
                          "(%zu hex digits)", len, u->envelope, want, want * 2);
            memset(key, 0, sizeof key);
        }
    }
    if (u->sign_key_file) {
        const struct ini_entry *e = conf__ini_get(s, "sign_key_file");
        unsigned char key[1024];
        size_t len;
        char kerr[300];
        if (keyfile_read(u->sign_key_file, 0, key, sizeof key, &len, kerr, sizeof kerr))
            conf__err(L, L->path, e ? e->line : s->line, "sign_key_file: %s", kerr);
        memset(key, 0, sizeof key);
    } else if (conf__ini_get(s, "sign_alg") && u->sign_alg) {
        conf__err(L, L->path, conf__ini_get(s, "sign_alg")->line, "sign_alg = %s without "
                  "sign_key_file: nothing is signed", u->sign_alg);
    }
    if (envelope_override_line && alg == ENVELOPE_NONE && !u->sign_key_file)
        conf__err(L, L->path, envelope_override_line, "override.envelope.encoding: this uplink "
                  "sends no envelope (envelope = none and no sign_key_file)");

    if (u->commands && strcmp(u->commands, "on") == 0) {
        const struct ini_entry *e = conf__ini_get(s, "command_key_file");
        unsigned char key[1024];
        size_t len;
        char kerr[300];
        if (u->nurls && strncmp(u->urls[0], "file://", 7) == 0)
            conf__err(L, L->path, conf__ini_get(s, "commands")->line, "commands = on needs a "
                      "broker (an outbox folder receives nothing)");
        if (!u->command_key_file)
            conf__err(L, L->path, conf__ini_get(s, "commands")->line, "commands = on needs "
                      "command_key_file (the key commands are signed with; mode 600)");
        else if (keyfile_read(u->command_key_file, 0, key, sizeof key, &len, kerr, sizeof kerr))
            conf__err(L, L->path, e ? e->line : s->line, "command_key_file: %s", kerr);
        else if (len < 16)
            conf__err(L, L->path, e ? e->line : s->line, "command_key_file: a %zu-byte key is too "
                      "short to sign commands with (16 bytes at least)", len);
        memset(key, 0, sizeof key);
    }

    const struct ini_entry *cert = conf__ini_get(s, "cert_file"), *key = conf__ini_get(s, "key_file");
    if (cert && !key)
        conf__err(L, L->path, cert->line, "cert_file without key_file (a client certificate needs its key)");
    if (key && !cert)
        conf__err(L, L->path, key->line, "key_file without cert_file (a client key needs its certificate)");

    const struct ini_entry *url = conf__ini_get(s, "url");
    for (size_t i = 0; i < u->nurls; i++)
        if (strncmp(u->urls[i], "mqtts://", 8) == 0 && !conf__ini_get(s, "ca_file")) {
            conf__err(L, L->path, url->line, "url: '%s' needs ca_file (the CA that verifies the broker)",
                      u->urls[i]);
            break;
        }
}

static int diag_cmp(const void *a, const void *b)
{
    const struct conf_diag_key *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Errors in reading order: by file, then line, then as found. */
static void sort_diag(struct conf_loader *L)
{
    struct conf_diag *d = L->diag;
    if (!d || d->n < 2)
        return;
    qsort(L->keys, d->n, sizeof *L->keys, diag_cmp);
    char **sorted = malloc(d->n * sizeof *sorted);
    if (!sorted)
        return;
    for (size_t i = 0; i < d->n; i++)
        sorted[i] = d->lines[L->keys[i].seq];
    free(d->lines);
    d->lines = sorted;
}

static void build(struct conf_loader *L, const struct ini *ini)
{
    struct conf *c = L->c;
    size_t nd = 0, nu = 0;
    for (size_t i = 0; i < ini->n; i++) {
        nd += ini->s[i].kind == CONF_SEC_DEVICE;
        nu += ini->s[i].kind == CONF_SEC_UPLINK;
    }
    build_agent(L, ini);
    if (!nd)
        conf__err(L, L->path, 0, "no [device NAME] section (at least one device is needed)");

    struct conf_table *tables = calloc(nd ? nd : 1, sizeof *tables);
    c->devices = calloc(nd ? nd : 1, sizeof *c->devices);
    c->uplinks = calloc(nu ? nu : 1, sizeof *c->uplinks);
    if (!tables || !c->devices || !c->uplinks) {
        conf__oom(L);
        goto out_free_tables;
    }
    for (size_t i = 0; i < ini->n; i++) {
        const struct ini_section *s = &ini->s[i];
        if (s->kind == CONF_SEC_DEVICE) {
            build_device(L, s, &c->devices[c->ndevices], &tables[c->ndevices]);
            c->ndevices++;
        } else if (s->kind == CONF_SEC_UPLINK) {
            build_uplink(L, s, &c->uplinks[c->nuplinks++]);
        }
    }
    if (!L->oom) {
        check_buses(L);
        check_bridges(L);
        check_tags(L);
        check_profiles(L, tables);
    }
out_free_tables:
    for (size_t i = 0; tables && i < nd; i++)
        conf__table_free(&tables[i]);
    free(tables);
}

int conf_load(const char *path, struct conf **out, struct conf_diag *diag)
{
    struct conf_diag discard = { 0 };
    struct conf_loader L = { .diag = diag ? diag : &discard, .path = path };
    struct ini ini = { 0 };

    *out = NULL;
    L.diag->lines = NULL;
    L.diag->n = 0;
    L.diag->notes = NULL;
    L.diag->nnotes = 0;
    if (!(L.c = calloc(1, sizeof *L.c))) {
        conf__oom(&L);
        goto out;
    }
    L.c->path = conf__strdup(&L, path);
    const char *p = conf__file(&L, path);
    if (!p || !L.c->path)
        goto out;
    L.path = p;
    const char *slash = strrchr(path, '/');
    L.dir = strndup(path, slash ? (size_t)(slash - path + 1) : 0);
    if (!L.dir) {
        conf__oom(&L);
        goto out;
    }
    if (conf__ini_parse(&L, L.path, &ini) == 0)
        build(&L, &ini);

out:
    conf__ini_free(&ini);
    free(L.dir);
    sort_diag(&L);
    free(L.keys);
    conf_diag_free(&discard);
    if (L.nerr) {
        conf_free(L.c);
        return -1;
    }
    *out = L.c;
    return 0;
}

void conf_free(struct conf *c)
{
    if (!c)
        return;
    conf__schema_free(CONF_SEC_AGENT, &c->agent);
    for (size_t i = 0; c->devices && i < c->ndevices; i++) {
        struct conf_device *d = &c->devices[i];
        free(d->points);
        conf_pool_free(d->pool);
        free(d->name);
        conf__schema_free(CONF_SEC_DEVICE, d);
    }
    free(c->devices);
    for (size_t i = 0; c->uplinks && i < c->nuplinks; i++) {
        free(c->uplinks[i].name);
        for (size_t k = 0; k < c->uplinks[i].noverrides; k++) {
            free(c->uplinks[i].overrides[k].key);
            free(c->uplinks[i].overrides[k].value);
        }
        free(c->uplinks[i].overrides);
        free(c->uplinks[i].override_lines);
        conf__schema_free(CONF_SEC_UPLINK, &c->uplinks[i]);
    }
    free(c->uplinks);
    for (size_t i = 0; i < c->nfiles; i++)
        free(c->files[i]);
    free(c->files);
    free(c->path);
    free(c);
}

void conf_diag_free(struct conf_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    d->lines = NULL;
    d->n = 0;
    for (size_t i = 0; i < d->nnotes; i++)
        free(d->notes[i]);
    free(d->notes);
    d->notes = NULL;
    d->nnotes = 0;
}

const struct conf_device *conf_device_find(const struct conf *c, const char *name)
{
    for (size_t i = 0; c && i < c->ndevices; i++)
        if (strcmp(c->devices[i].name, name) == 0)
            return &c->devices[i];
    return NULL;
}

const struct conf_point *conf_point_find(const struct conf_device *d, const char *tag)
{
    for (size_t i = 0; d && i < d->npoints; i++)
        if (strcmp(d->points[i].tag, tag) == 0)
            return &d->points[i];
    return NULL;
}

/* 50,000 of them on a large site: a field added here costs 50,000 times. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct conf_point) == 64,
               "struct conf_point grew: keep it without holes");

const char *conf_point_unit(const struct conf_point *p)
{
    const char *name = conf_point_name(p);
    return name + strlen(name) + 1;
}

const struct conf_limits *conf_point_limits(const struct conf_point *p)
{
    static const struct conf_limits none = { NAN, NAN, NAN, NAN, NAN, 0 };
    return p->limits ? p->limits : &none;
}

const char *conf_point_meta(const struct conf_point *p, const char *key)
{
    for (size_t i = 0; p && i < p->nmeta; i++)
        if (strcmp(p->meta[i].key, key) == 0)
            return p->meta[i].value;
    return NULL;
}
