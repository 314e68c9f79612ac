/* runtime: construction and teardown of the agent's components, in dependency order. */
#include "agent/runtime.h"
#include "agent/log.h"
#include "agent/poller.h"
#include "agent/status.h"
#include "agent/store.h"
#include "agent/uplink.h"
#include "agent/writer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct runtime {
    struct conf *conf;
    struct store *store;
    struct writer *writer;
    struct poller *poller;
    struct uplink **uplinks;
    const char **uplink_names;
    size_t nuplinks;
    uint64_t status_failures;
};

static int measure_hook(void *arg, const char *device)
{
    return poller_measure(arg, device);
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

struct runtime *runtime_start(struct conf *c, char *err, size_t errlen)
{
    struct runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        conf_free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rt->conf = c;
    if (make_dirs(c->agent.data_dir) != 0) {
        snprintf(err, errlen, "data_dir %s: %s", c->agent.data_dir, strerror(errno));
        goto fail;
    }
    /* A store that is not a database any more (a torn write on a cheap SD card,
     * a stray file) is moved aside, never fatal: a gateway must not crash-loop. */
    uint64_t floor = 0;
    if (store_is_corrupt(c->agent.data_dir)) {
        char moved[4200];
        if (store_move_aside(c->agent.data_dir, moved, sizeof moved) != 0) {
            snprintf(err, errlen, "the store in %s is corrupt and cannot be moved aside: %s",
                     c->agent.data_dir, strerror(errno));
            goto fail;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        floor = ((uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000) * 1024;
        log_error("store", NULL, "%s/store.db is not a readable database: moved to %s; starting "
                  "a fresh store with seqs from %llu", c->agent.data_dir, moved,
                  (unsigned long long)floor);
    }
    rt->store = store_open(c->agent.data_dir, STORE_WRITE, err, errlen);
    if (!rt->store)
        goto fail;
    if (floor)
        store_seq_floor(rt->store, floor);
    struct writer_limits lim = { c->agent.data_dir, c->agent.store_max_bytes,
                                 c->agent.retention_ms };
    rt->writer = writer_start(rt->store, c->agent.queue_max, c->agent.commit_interval_ms, &lim);
    if (!rt->writer) {
        snprintf(err, errlen, "cannot start the store writer");
        goto fail;
    }
    rt->uplinks = calloc(c->nuplinks ? c->nuplinks : 1, sizeof *rt->uplinks);
    rt->uplink_names = calloc(c->nuplinks ? c->nuplinks : 1, sizeof *rt->uplink_names);
    if (!rt->uplinks || !rt->uplink_names) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Point ids are assigned before any thread reads the store. */
    rt->poller = poller_start(c, rt->store, rt->writer, err, errlen);
    if (!rt->poller)
        goto fail;
    for (size_t i = 0; i < c->nuplinks; i++) {
        char uerr[256];
        rt->uplinks[i] = uplink_start(c, &c->uplinks[i], rt->writer, uerr, sizeof uerr);
        if (!rt->uplinks[i]) {
            snprintf(err, errlen, "uplink %s: %s", c->uplinks[i].name, uerr);
            goto fail;
        }
        rt->uplink_names[i] = c->uplinks[i].name;
        rt->nuplinks++;
        struct uplink_hooks h = { rt->poller, measure_hook, uplink_status_signal };
        uplink_set_hooks(rt->uplinks[i], &h);
    }
    return rt;
fail:
    runtime_stop(rt);
    return NULL;
}

void runtime_stop(struct runtime *rt)
{
    if (!rt)
        return;
    /* Pollers first (no new readings), then the writer commits what is queued,
     * then uplinks persist their cursors. */
    poller_stop(rt->poller);
    writer_stop(rt->writer);
    for (size_t i = 0; i < rt->nuplinks; i++)
        uplink_stop(rt->uplinks[i]);
    writer_free(rt->writer);
    store_close(rt->store);
    free(rt->uplinks);
    free(rt->uplink_names);
    conf_free(rt->conf);
    free(rt);
}

void runtime_report(struct runtime *rt, int64_t uptime_ms)
{
    struct agent_status st;
    if (status_collect(&st, uptime_ms, rt->poller, rt->uplinks, rt->uplink_names, rt->nuplinks,
                       rt->writer) != 0)
        return;
    for (size_t i = 0; i < rt->nuplinks; i++)
        uplink_publish_status(rt->uplinks[i], &st);
    if (status_write_file(rt->conf->agent.data_dir, &st) != 0) {
        if (rt->status_failures++ % 60 == 0)
            log_warn("status", NULL, "cannot write %s/status.json: %s (%llu times)",
                     rt->conf->agent.data_dir, strerror(errno),
                     (unsigned long long)rt->status_failures);
    } else {
        rt->status_failures = 0;
    }
    status_release(&st);
}

const struct conf *runtime_conf(const struct runtime *rt) { return rt->conf; }
