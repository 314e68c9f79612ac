/* cli_queue: `ganzhi queue`, per uplink what waits in the store to be delivered:
 * readings waiting, age of the oldest, recent send rate, time to drain, lost.
 * Read from the store's cursors (the agent persists them every 250 ms) and, for
 * whether the agent runs and is connected, from its status.json when fresh. The
 * store is opened as a reader and never written. */
#include "core/num.h"
#include "core/clock.h"
#include "tools/cli.h"
#include "agent/ranges.h"
#include "agent/store.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_queue(int argc, char **argv);

/* The one-shot command measures rates over this long. */
#define QUEUE_SAMPLE_MS 1500
#define BAR_WIDTH 20
/* Nothing waiting is older than this: the uplink keeps up with live data. */
#define CAUGHT_UP_MS 5000

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi queue -c FILE [--watch [SECONDS]] [--json]\n"
               "Per uplink: readings waiting in the store, age of the oldest, recent send\n"
               "rate, estimated time to drain, readings lost (evicted before delivery).\n"
               "Rates are measured over %.1f s (or the watch interval).\n"
               "--watch [S]  refresh every S seconds (default 2) until Ctrl-C, with the\n"
               "             share of the backlog seen at start that has been delivered\n"
               "--json       one JSON object (with --watch: one a line per refresh)\n"
               "Exit 1 if the store cannot be opened.\n", QUEUE_SAMPLE_MS / 1000.0);
}

/* One uplink's state at one instant. */
struct up_sample {
    struct ranges delivered;    /* acknowledged or given up, as the cursor says */
    uint64_t delivered_n;       /* members of that set */
    uint64_t lost;
    uint64_t acked;
    uint64_t waiting;           /* stored and not delivered */
    int64_t oldest_ts;          /* sample time of the lowest undelivered reading, 0 none */
    int ok;                     /* the cursor could be read */
};

struct sample {
    int64_t mono;
    uint64_t first, next;       /* stored seqs are [first, next) */
    struct up_sample *u;
};

static int first_ts(void *arg, uint64_t seq, const struct reading *r)
{
    (void)seq;
    *(int64_t *)arg = r->ts_ms;
    return 1;
}

static void sample_free(struct sample *s, size_t n)
{
    if (!s->u)
        return;
    for (size_t i = 0; i < n; i++)
        ranges_free(&s->u[i].delivered);
    free(s->u);
    s->u = NULL;
}

static int sample_take(struct store *st, const struct conf *c, struct sample *s)
{
    s->u = calloc(c->nuplinks ? c->nuplinks : 1, sizeof *s->u);
    if (!s->u)
        return -1;
    s->mono = mono_ms();
    s->next = store_next_seq(st);
    if (store_first_seq(st, &s->first) != 0 || !s->first)
        s->first = s->next;
    for (size_t i = 0; i < c->nuplinks; i++) {
        struct up_sample *u = &s->u[i];
        struct store_cursor cur;
        ranges_init(&u->delivered);
        if (store_cursor_get(st, c->uplinks[i].name, &cur) != 0 ||
            ranges_parse(&u->delivered, cur.delivered) != 0 ||
            (cur.acked && ranges_add(&u->delivered, 1, cur.acked) != 0))
            continue;
        u->ok = 1;
        u->acked = cur.acked;
        u->lost = cur.lost;
        for (size_t k = 0; k < u->delivered.n; k++)
            u->delivered_n += u->delivered.r[k].hi - u->delivered.r[k].lo + 1;
        u->waiting = s->next > s->first
                   ? ranges_missing(&u->delivered, s->first, s->next - 1) : 0;
        uint64_t lowest = ranges_next_gap(&u->delivered, s->first);
        if (lowest < s->next && store_scan(st, lowest, 1, first_ts, &u->oldest_ts) <= 0)
            u->oldest_ts = 0;
    }
    return 0;
}

/* What the running agent last said about itself, if it said it recently. */
struct agent_view {
    int running;                /* status.json is fresh */
    int have_status;
    double status_age_s;
    cJSON *status;
};

static void agent_view_read(const struct conf *c, struct agent_view *a)
{
    char path[4096];
    struct stat sb;
    memset(a, 0, sizeof *a);
    snprintf(path, sizeof path, "%s/status.json", c->agent.data_dir);
    if (stat(path, &sb) != 0)
        return;
    a->have_status = 1;
    double now = (double)wall_ms() / 1000.0;
    double mtime = (double)sb.st_mtim.tv_sec + (double)sb.st_mtim.tv_nsec / 1e9;
    a->status_age_s = now > mtime ? now - mtime : 0;
    a->running = a->status_age_s * 1000.0 <= 3.0 * (double)c->agent.status_interval_ms;
    if (!a->running)
        return;
    char *buf = cli_read_file(path, NULL);
    if (buf) {
        a->status = cJSON_Parse(buf);
        free(buf);
    }
}

/* The agent's entry for an uplink in status.json, or NULL. */
static const cJSON *agent_uplink(const struct agent_view *a, const char *name)
{
    const cJSON *arr = a->status ? cJSON_GetObjectItemCaseSensitive(a->status, "uplinks") : NULL;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(x, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return x;
    }
    return NULL;
}

/* -1 unknown, 0 disconnected, 1 connected. */
static int agent_connected(const struct agent_view *a, const char *name, const char **server)
{
    const cJSON *x = agent_uplink(a, name);
    *server = NULL;
    if (!x)
        return -1;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(x, "server");
    if (cJSON_IsString(s) && s->valuestring[0])
        *server = s->valuestring;
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "connected")) ? 1 : 0;
}

/* Everything shown for one uplink, between two samples. */
struct up_view {
    const char *name;
    int ok;
    uint64_t waiting, lost, acked;
    int64_t oldest_ms;          /* -1 when nothing waits */
    double send_rate;           /* readings/s delivered */
    double net_rate;            /* send_rate - ingest rate */
    int caught_up;
    double drain_s;             /* -1 when not draining */
    int connected;              /* -1 unknown */
    const char *server;
    /* --watch only */
    uint64_t backlog0;          /* waiting when the watch began */
    uint64_t backlog0_left;     /* of those, still waiting */
    double pct;
};

/* Rates into the verdicts: net drain, caught up, time to drain. */
static void view_rates(struct up_view *v, double send_rate, double ingest)
{
    v->send_rate = send_rate;
    v->net_rate = send_rate - ingest;
    /* Sending, and nothing waiting is older than a few seconds: what waits is
     * live data in flight, not a backlog. */
    v->caught_up = v->waiting == 0 ||
                   (v->send_rate > 0 && v->oldest_ms >= 0 && v->oldest_ms < CAUGHT_UP_MS);
    v->drain_s = v->caught_up ? 0 : v->net_rate > 0 ? (double)v->waiting / v->net_rate : -1;
}

static void view_compute(const struct conf *c, const struct sample *a, const struct sample *b,
                         const struct agent_view *av, size_t i, struct up_view *v)
{
    const struct up_sample *ua = &a->u[i], *ub = &b->u[i];
    double dt = (double)(b->mono - a->mono) / 1000.0;
    memset(v, 0, sizeof *v);
    v->name = c->uplinks[i].name;
    v->ok = ub->ok;
    v->waiting = ub->waiting;
    v->lost = ub->lost;
    v->acked = ub->acked;
    v->oldest_ms = ub->waiting && ub->oldest_ts ? wall_ms() - ub->oldest_ts : -1;
    if (v->oldest_ms < -1)
        v->oldest_ms = 0;
    double ingest = dt > 0 && b->next > a->next ? (double)(b->next - a->next) / dt : 0;
    uint64_t sent_a = ua->delivered_n - (ua->lost < ua->delivered_n ? ua->lost : ua->delivered_n);
    uint64_t sent_b = ub->delivered_n - (ub->lost < ub->delivered_n ? ub->lost : ub->delivered_n);
    view_rates(v, dt > 0 && sent_b > sent_a ? (double)(sent_b - sent_a) / dt : 0, ingest);
    v->connected = av->running ? agent_connected(av, v->name, &v->server) : -1;
}

static const char *state_word(const struct agent_view *av, const struct up_view *v)
{
    if (!av->running)
        return "agent not running";
    return v->connected == 1 ? "connected" : v->connected == 0 ? "disconnected" : "unknown";
}

static const char *drain_text(const struct up_view *v, char *buf, size_t len)
{
    if (v->caught_up)
        return "caught up";
    if (v->drain_s < 0)
        return "\u2014";  /* not draining */
    return cli_age((int64_t)(v->drain_s * 1000.0 + 999), buf, len);
}

static void print_header_info(const struct conf *c, const struct sample *b, double ingest,
                              const struct agent_view *av)
{
    uint64_t stored = b->next > b->first ? b->next - b->first : 0;
    printf("store %s/store.db: %llu readings (seq %llu..%llu), %.1f readings/s coming in\n",
           c->agent.data_dir, (unsigned long long)stored, (unsigned long long)b->first,
           (unsigned long long)(b->next ? b->next - 1 : 0), ingest);
    char age[32];
    if (av->running)
        printf("agent: running (status.json %s old)\n",
               cli_age((int64_t)(av->status_age_s * 1000), age, sizeof age));
    else if (av->have_status)
        printf("agent: not running (status.json last written %s ago)\n",
               cli_age((int64_t)(av->status_age_s * 1000), age, sizeof age));
    else
        printf("agent: not running (no status.json in %s)\n", c->agent.data_dir);
}

static void print_table(const struct agent_view *av, const struct up_view *v, size_t n)
{
    int w = 6;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(v[i].name) > w)
            w = (int)strlen(v[i].name);
    printf("%-*s  %-17s %10s  %-7s %11s  %-10s %8s\n", w, "uplink", "state", "waiting",
           "oldest", "send rate", "drain in", "lost");
    for (size_t i = 0; i < n; i++) {
        char age[32], rate[32], drain[32];
        if (!v[i].ok) {
            printf("%-*s  (its cursor cannot be read)\n", w, v[i].name);
            continue;
        }
        snprintf(rate, sizeof rate, "%.1f/s", v[i].send_rate);
        const char *d = drain_text(&v[i], drain, sizeof drain);
        /* "—" is three bytes, one column: pad by hand. */
        int dpad = !strcmp(d, "\u2014") ? 12 : 10;
        printf("%-*s  %-17s %10llu  %-7s %11s  %-*s %8llu\n", w, v[i].name,
               state_word(av, &v[i]), (unsigned long long)v[i].waiting,
               v[i].oldest_ms >= 0 ? cli_age(v[i].oldest_ms, age, sizeof age) : "-", rate, dpad,
               d, (unsigned long long)v[i].lost);
    }
}

static void print_watch(const struct agent_view *av, const struct up_view *v, size_t n,
                        int interval_s, int tty)
{
    int w = 6;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(v[i].name) > w)
            w = (int)strlen(v[i].name);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    const char *eol = tty ? "\033[K\n" : "\n";
    printf("ganzhi queue: every %d s, Ctrl-C to stop; %s  %02d:%02d:%02d%s", interval_s,
           av->running ? "agent running" : "agent not running", tm.tm_hour, tm.tm_min,
           tm.tm_sec, eol);
    for (size_t i = 0; i < n; i++) {
        char bar[BAR_WIDTH + 1], age[32], drain[32];
        int fill = (int)(v[i].pct / 100.0 * BAR_WIDTH + 0.5);
        for (int k = 0; k < BAR_WIDTH; k++)
            bar[k] = k < fill ? '#' : '.';
        bar[BAR_WIDTH] = 0;
        const char *d = drain_text(&v[i], drain, sizeof drain);
        printf("%-*s [%s] %3.0f %%  waiting %-9llu oldest %-7s %8.1f/s  %s%s  lost %llu  %s%s",
               w, v[i].name, bar, v[i].pct, (unsigned long long)v[i].waiting,
               v[i].oldest_ms >= 0 ? cli_age(v[i].oldest_ms, age, sizeof age) : "-",
               v[i].send_rate, v[i].caught_up || v[i].drain_s < 0 ? "" : "ETA ", d,
               (unsigned long long)v[i].lost, state_word(av, &v[i]), eol);
    }
    fflush(stdout);
}

static cJSON *to_json(const struct conf *c, const struct sample *b, double ingest,
                      double interval_s, const struct agent_view *av, const struct up_view *v,
                      size_t n, int watch)
{
    char age[32];
    cJSON *o = cJSON_CreateObject();
    cJSON *st = cJSON_AddObjectToObject(o, "store");
    cJSON_AddStringToObject(st, "data_dir", c->agent.data_dir);
    cJSON_AddNumberToObject(st, "first_seq", (double)b->first);
    cJSON_AddNumberToObject(st, "next_seq", (double)b->next);
    cJSON_AddNumberToObject(st, "ingest_rate", ingest);
    cJSON *ag = cJSON_AddObjectToObject(o, "agent");
    cJSON_AddBoolToObject(ag, "running", av->running);
    if (av->have_status)
        cJSON_AddNumberToObject(ag, "status_age_s", (double)(int64_t)(av->status_age_s * 10) / 10);
    else
        cJSON_AddNullToObject(ag, "status_age_s");
    cJSON_AddNumberToObject(o, "interval_s", interval_s);
    cJSON *arr = cJSON_AddArrayToObject(o, "uplinks");
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, x);
        cJSON_AddStringToObject(x, "name", v[i].name);
        cJSON_AddBoolToObject(x, "cursor_ok", v[i].ok);
        if (v[i].connected < 0)
            cJSON_AddNullToObject(x, "connected");
        else
            cJSON_AddBoolToObject(x, "connected", v[i].connected);
        if (v[i].server)
            cJSON_AddStringToObject(x, "server", v[i].server);
        cJSON_AddNumberToObject(x, "waiting", (double)v[i].waiting);
        if (v[i].oldest_ms >= 0) {
            cJSON_AddNumberToObject(x, "oldest_pending_ms", (double)v[i].oldest_ms);
            cJSON_AddStringToObject(x, "oldest_pending", cli_age(v[i].oldest_ms, age, sizeof age));
        } else {
            cJSON_AddNullToObject(x, "oldest_pending_ms");
            cJSON_AddNullToObject(x, "oldest_pending");
        }
        cJSON_AddNumberToObject(x, "send_rate", (double)(int64_t)(v[i].send_rate * 10) / 10);
        cJSON_AddNumberToObject(x, "net_drain_rate", (double)(int64_t)(v[i].net_rate * 10) / 10);
        cJSON_AddBoolToObject(x, "caught_up", v[i].caught_up);
        if (v[i].drain_s >= 0)
            cJSON_AddNumberToObject(x, "drain_s", (double)(int64_t)(v[i].drain_s * 10) / 10);
        else
            cJSON_AddNullToObject(x, "drain_s");
        cJSON_AddNumberToObject(x, "lost", (double)v[i].lost);
        cJSON_AddNumberToObject(x, "acked_seq", (double)v[i].acked);
        if (watch) {
            cJSON_AddNumberToObject(x, "backlog_at_start", (double)v[i].backlog0);
            cJSON_AddNumberToObject(x, "progress_pct", (double)(int64_t)(v[i].pct * 10) / 10);
        }
    }
    return o;
}

static void print_json(cJSON *o, int compact)
{
    char *s = compact ? cJSON_PrintUnformatted(o) : cJSON_Print(o);
    if (s)
        printf("%s\n", s);
    free(s);
    fflush(stdout);
}

/* Sleep ms, cut short by Ctrl-C. */
static void nap(int64_t ms)
{
    int64_t end = mono_ms() + ms;
    while (!interrupted) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        if (left > 100)
            left = 100;
        struct timespec ts = { 0, (long)left * 1000000L };
        nanosleep(&ts, NULL);
    }
}

int cli_queue(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, watch = 0;
    long interval = 2;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--watch") || !strcmp(argv[i], "-w")) {
            watch = 1;
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
                char err[128];
                if (num_parse_long(argv[++i], 1, 3600, &interval, err, sizeof err) != 0) {
                    fprintf(stderr, "ganzhi queue: --watch takes whole seconds, 1 to 3600\n");
                    return 2;
                }
            }
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ganzhi queue: unexpected '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    struct conf *c = cli_load(path);
    if (!c)
        return 2;
    char err[512];
    struct store *st = store_open(c->agent.data_dir, STORE_READ, err, sizeof err);
    if (!st) {
        fprintf(stderr, "ganzhi queue: cannot open the store: %s (has the agent run with "
                "data_dir = %s?)\n", err, c->agent.data_dir);
        conf_free(c);
        return 1;
    }
    if (c->nuplinks == 0 && !json)
        printf("no uplinks configured in %s\n", path);
    int rc = 0, tty = isatty(STDOUT_FILENO);
    struct sample s0 = { 0 }, prev = { 0 }, cur = { 0 };
    struct up_view *v = calloc(c->nuplinks ? c->nuplinks : 1, sizeof *v);
    uint64_t *backlog0 = calloc(c->nuplinks ? c->nuplinks : 1, sizeof *backlog0);
    double *send_s = calloc(c->nuplinks ? c->nuplinks : 1, sizeof *send_s);
    if (!v || !backlog0 || !send_s || sample_take(st, c, &s0) != 0) {
        fprintf(stderr, "ganzhi queue: out of memory\n");
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < c->nuplinks; i++)
        backlog0[i] = s0.u[i].waiting;

    /* A watch ends on Ctrl-C with exit 0; a one-shot just dies. */
    struct sigaction sa = { .sa_handler = on_sigint }, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    if (watch) {
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }
    int lines = 0;  /* printed by the last watch refresh, to redraw in place */
    int frames = 0;
    double ingest_s = 0;    /* smoothed rates, --watch */
    struct sample *a = &s0;
    for (;;) {
        nap(watch ? interval * 1000 : QUEUE_SAMPLE_MS);
        if (interrupted)
            break;
        sample_free(&cur, c->nuplinks);
        if (sample_take(st, c, &cur) != 0) {
            rc = 1;
            break;
        }
        struct agent_view av;
        agent_view_read(c, &av);
        double dt = (double)(cur.mono - a->mono) / 1000.0;
        double ingest = dt > 0 && cur.next > a->next ? (double)(cur.next - a->next) / dt : 0;
        if (watch && frames > 0)
            /* The cursor moves in steps (persisted every 250 ms, backfill in
             * bursts): smooth the rates a watch shows, and the ETA with them. */
            ingest = 0.5 * ingest + 0.5 * ingest_s;
        ingest_s = ingest;
        for (size_t i = 0; i < c->nuplinks; i++) {
            view_compute(c, a, &cur, &av, i, &v[i]);
            if (watch && frames > 0)
                view_rates(&v[i], 0.5 * v[i].send_rate + 0.5 * send_s[i], ingest);
            else
                view_rates(&v[i], v[i].send_rate, ingest);
            send_s[i] = v[i].send_rate;
            /* Of the readings waiting when the watch began, how many still wait. */
            v[i].backlog0 = backlog0[i];
            uint64_t lo = cur.first > s0.first ? cur.first : s0.first;
            v[i].backlog0_left = backlog0[i] && s0.next > lo && cur.u[i].ok
                               ? ranges_missing(&cur.u[i].delivered, lo, s0.next - 1) : 0;
            v[i].pct = backlog0[i] ? 100.0 * (double)(backlog0[i] - (v[i].backlog0_left <
                                                      backlog0[i] ? v[i].backlog0_left
                                                      : backlog0[i])) / (double)backlog0[i]
                                   : 100.0;
        }
        if (json) {
            cJSON *o = to_json(c, &cur, ingest, dt, &av, v, c->nuplinks, watch);
            print_json(o, watch);
            cJSON_Delete(o);
        } else if (!watch) {
            print_header_info(c, &cur, ingest, &av);
            print_table(&av, v, c->nuplinks);
        } else {
            if (tty && lines)
                printf("\033[%dA", lines);
            else if (lines)
                printf("\n");
            print_watch(&av, v, c->nuplinks, (int)interval, tty);
            lines = 1 + (int)c->nuplinks;
        }
        cJSON_Delete(av.status);
        frames++;
        if (!watch || interrupted)
            break;
        /* Rates over the last interval. */
        sample_free(&prev, c->nuplinks);
        prev = cur;
        cur.u = NULL;
        a = &prev;
    }
    if (watch) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
out:
    sample_free(&s0, c->nuplinks);
    sample_free(&prev, c->nuplinks);
    sample_free(&cur, c->nuplinks);
    free(v);
    free(backlog0);
    free(send_s);
    store_close(st);
    conf_free(c);
    return rc;
}
