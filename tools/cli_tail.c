/* cli_tail: `ganzhi tail`, the latest reading of each point from the store,
 * refreshed; the agent need not be stopped (the store is read, never written). */
#include "tools/cli.h"
#include "agent/store.h"
#include "proto/wire.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How far back to look for each point's latest reading. */
#define TAIL_WINDOW 20000

struct latest {
    uint64_t seq;
    struct reading r;
};

struct tail {
    struct latest *by_point;
    size_t n;
};

static int keep_latest(void *arg, uint64_t seq, const struct reading *r)
{
    struct tail *t = arg;
    if (r->point >= t->n) {
        size_t n = r->point + 256;
        struct latest *b = realloc(t->by_point, n * sizeof *b);
        if (!b)
            return 1;
        memset(b + t->n, 0, (n - t->n) * sizeof *b);
        t->by_point = b;
        t->n = n;
    }
    t->by_point[r->point] = (struct latest){ seq, *r };
    return 0;
}

struct tag_id {
    char *tag;
    uint32_t id;
};

static int by_tag(const void *a, const void *b)
{
    return strcmp(((const struct tag_id *)a)->tag, ((const struct tag_id *)b)->tag);
}

/* The store's point ids, sorted by tag, read once. */
static struct tag_id *load_ids(struct store *s, size_t *n)
{
    struct tag_id *v = NULL;
    size_t cap = 0;
    *n = 0;
    char tag[256], dev[256], unit[64];
    for (uint32_t id = 1; store_point_info(s, id, tag, sizeof tag, dev, sizeof dev, unit,
                                           sizeof unit) == 0; id++) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            struct tag_id *nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                break;
            v = nv;
        }
        v[*n] = (struct tag_id){ strdup(tag), id };
        if (v[*n].tag)
            ++*n;
    }
    qsort(v, *n, sizeof *v, by_tag);
    return v;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void show(struct store *s, const struct conf *c, char **tags, size_t ntags, int clear,
                 const struct tag_id *ids, size_t nids)
{
    struct tail t = { NULL, 0 };
    uint64_t next = store_next_seq(s), first = 0;
    store_first_seq(s, &first);
    uint64_t from = next > TAIL_WINDOW ? next - TAIL_WINDOW : 1;
    if (from < first)
        from = first;
    store_scan(s, from, TAIL_WINDOW, keep_latest, &t);
    if (clear)
        printf("\033[H\033[2J");
    printf("%-16s %14s %-8s %-15s %-29s %s\n", "TAG", "VALUE", "UNIT", "QUALITY", "SAMPLED", "SEQ");
    char num[32], ts[32];
    for (size_t d = 0; d < c->ndevices; d++)
        for (size_t i = 0; i < c->devices[d].npoints; i++) {
            const struct conf_point *p = &c->devices[d].points[i];
            int wanted = ntags == 0;
            for (size_t k = 0; k < ntags && !wanted; k++)
                wanted = !strcmp(tags[k], p->tag);
            if (!wanted)
                continue;
            struct tag_id key = { (char *)p->tag, 0 };
            const struct tag_id *found = bsearch(&key, ids, nids, sizeof *ids, by_tag);
            const struct latest *l = found && found->id < t.n && t.by_point[found->id].seq
                                   ? &t.by_point[found->id] : NULL;
            const char *unit = conf_point_unit(p)[0] ? conf_point_unit(p) : "-";
            if (!l) {
                printf("%-16s %14s %-8s %-15s %-29s\n", p->tag, "-", unit,
                       "(none recent)", "-");
                continue;
            }
            wire_time_rfc3339(l->r.ts_ms, c->agent.wire_tz_minutes, ts);
            printf("%-16s %14s %-8s %-15s %-29s %llu\n", p->tag,
                   l->r.has_value ? cli_number(l->r.value, num) : "-", unit,
                   quality_name((enum quality)l->r.quality), ts, (unsigned long long)l->seq);
        }
    fflush(stdout);
    free(t.by_point);
}

int cli_tail(int argc, char **argv)
{
    const char *path = NULL;
    int once = 0;
    char **tags = calloc((size_t)argc, sizeof *tags);
    size_t ntags = 0;
    if (!tags)
        return 1;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--once"))
            once = 1;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: ganzhi tail -c FILE [TAG...] [--once]\n"
                   "The latest stored reading of each point, refreshed every second until\n"
                   "Ctrl-C (--once: print once). Reads the store; the agent may run.\n");
            free(tags);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ganzhi tail: unknown option '%s'\n", argv[i]);
            free(tags);
            return 2;
        } else
            tags[ntags++] = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: ganzhi tail -c FILE [TAG...] [--once]\n");
        free(tags);
        return 2;
    }
    struct conf *c = cli_load(path);
    if (!c) {
        free(tags);
        return 2;
    }
    char err[300];
    struct store *s = store_open(c->agent.data_dir, STORE_READ, err, sizeof err);
    if (!s) {
        fprintf(stderr, "ganzhi tail: %s\n", err);
        conf_free(c);
        free(tags);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int tty = isatty(STDOUT_FILENO);
    size_t nids;
    struct tag_id *ids = load_ids(s, &nids);
    do {
        show(s, c, tags, ntags, tty && !once, ids, nids);
        if (!once)
            sleep(1);
    } while (!once && !stop);
    for (size_t i = 0; i < nids; i++)
        free(ids[i].tag);
    free(ids);
    store_close(s);
    conf_free(c);
    free(tags);
    return 0;
}
