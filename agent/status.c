/* status: the agent's self-report: figures taken, and their JSON. */
#include "agent/status.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add_u64(cJSON *o, const char *k, uint64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

/* The buses' link figures and the DTU listeners'. */
static void collect_links(struct agent_status *s, struct poller *pl, size_t ndevs,
                          struct link_status *ls)
{
    size_t n = poller_links(pl, ls, ndevs);
    for (size_t i = 0; i < n; i++) {
        const struct link_figures *f = ls[i].fig;
        s->links[i] = (struct link_report){
            .describe = ls[i].describe, .devices = ls[i].devices, .open = atomic_load(&f->open),
            .connects = atomic_load(&f->connects), .disconnects = atomic_load(&f->disconnects),
            .timeouts = atomic_load(&f->timeouts), .crc_errors = atomic_load(&f->crc_errors),
            .bad_replies = atomic_load(&f->bad_replies), .foreign = atomic_load(&f->foreign),
            .echoes = atomic_load(&f->echoes), .heartbeats = atomic_load(&f->heartbeats),
            .drained_bytes = atomic_load(&f->drained_bytes),
        };
    }
    s->nlinks = n;
    s->nlisteners = poller_listeners(pl, s->listeners, ndevs);
}

int status_collect(struct agent_status *s, int64_t uptime_ms, struct poller *pl,
                   struct uplink *const *ups, const char *const *up_names, size_t nups,
                   struct writer *w)
{
    size_t ndevs;
    struct device *const *devs = poller_devices(pl, &ndevs);
    memset(s, 0, sizeof *s);
    s->devices = calloc(ndevs ? ndevs : 1, sizeof *s->devices);
    s->uplinks = calloc(nups ? nups : 1, sizeof *s->uplinks);
    s->links = calloc(ndevs ? ndevs : 1, sizeof *s->links);
    s->listeners = calloc(ndevs ? ndevs : 1, sizeof *s->listeners);
    struct link_status *ls = calloc(ndevs ? ndevs : 1, sizeof *ls);
    if (!s->devices || !s->uplinks || !s->links || !s->listeners || !ls) {
        free(ls);
        status_release(s);
        return -1;
    }
    s->uptime_s = uptime_ms / 1000;
    s->version = GANZHI_VERSION;
    for (size_t i = 0; i < ndevs; i++) {
        const struct device *d = devs[i];
        uint64_t req = atomic_load(&d->stats.requests);
        s->devices[i] = (struct device_status){
            .name = d->conf->name,
            .link = req == 0 ? WIRE_LINK_UNKNOWN
                  : atomic_load(&d->stats.link_up) ? WIRE_LINK_UP : WIRE_LINK_DOWN,
            .rtt_ms = (double)atomic_load(&d->stats.last_rtt_us) / 1000.0,
            .requests = req,
            .errors_comm = atomic_load(&d->stats.err_comm),
            .errors_exception = atomic_load(&d->stats.err_exception),
            .errors_reply = atomic_load(&d->stats.err_reply),
            .reads_split = atomic_load(&d->stats.splits),
            .last_exception = atomic_load(&d->stats.last_exception),
            .quarantined = atomic_load(&d->stats.quarantined),
            .reads_per_poll = d->plan.nreads,
            .bus = d->bus,
        };
    }
    s->ndevices = ndevs;
    collect_links(s, pl, ndevs, ls);
    free(ls);
    for (size_t i = 0; i < nups; i++) {
        s->uplinks[i].name = up_names[i];
        uplink_get_stats(ups[i], &s->uplinks[i].st);
    }
    s->nuplinks = nups;
    writer_get_stats(w, &s->store);
    s->next_seq = writer_next_seq(w);
    return 0;
}

void status_release(struct agent_status *s)
{
    free(s->devices);
    free(s->uplinks);
    free(s->links);
    free(s->listeners);
    memset(s, 0, sizeof *s);
}

static const char *link_name(enum wire_link_state l)
{
    return l == WIRE_LINK_UP ? "up" : l == WIRE_LINK_DOWN ? "down" : "unknown";
}

cJSON *status_json(const struct agent_status *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "version", s->version);
    cJSON_AddNumberToObject(o, "uptime_s", (double)s->uptime_s);
    cJSON *da = cJSON_AddArrayToObject(o, "devices");
    for (size_t i = 0; da && i < s->ndevices; i++) {
        const struct device_status *d = &s->devices[i];
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddItemToArray(da, x);
        cJSON_AddStringToObject(x, "name", d->name);
        cJSON_AddStringToObject(x, "link", link_name(d->link));
        cJSON_AddNumberToObject(x, "rtt_ms", d->rtt_ms);
        add_u64(x, "requests", d->requests);
        add_u64(x, "errors_comm", d->errors_comm);
        add_u64(x, "errors_exception", d->errors_exception);
        add_u64(x, "errors_reply", d->errors_reply);
        cJSON_AddNumberToObject(x, "last_exception", d->last_exception);
        add_u64(x, "reads_split", d->reads_split);
        cJSON_AddBoolToObject(x, "quarantined", d->quarantined);
        cJSON_AddNumberToObject(x, "reads_per_poll", (double)d->reads_per_poll);
        if (d->bus)
            cJSON_AddStringToObject(x, "bus", d->bus);
    }
    cJSON *la = cJSON_AddArrayToObject(o, "links");
    for (size_t i = 0; la && i < s->nlinks; i++) {
        const struct link_report *k = &s->links[i];
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddItemToArray(la, x);
        cJSON_AddStringToObject(x, "link", k->describe);
        cJSON_AddNumberToObject(x, "devices", (double)k->devices);
        cJSON_AddBoolToObject(x, "open", k->open);
        add_u64(x, "connects", k->connects);
        add_u64(x, "disconnects", k->disconnects);
        add_u64(x, "timeouts", k->timeouts);
        add_u64(x, "crc_errors", k->crc_errors);
        add_u64(x, "bad_replies", k->bad_replies);
        add_u64(x, "foreign_replies", k->foreign);
        add_u64(x, "echoes", k->echoes);
        add_u64(x, "heartbeats", k->heartbeats);
        add_u64(x, "drained_bytes", k->drained_bytes);
    }
    cJSON *ta = s->nlisteners ? cJSON_AddArrayToObject(o, "dtu_listeners") : NULL;
    for (size_t i = 0; ta && i < s->nlisteners; i++) {
        const struct dtu_listen_stats *t = &s->listeners[i].st;
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddItemToArray(ta, x);
        cJSON_AddStringToObject(x, "listen", s->listeners[i].address);
        add_u64(x, "accepted", t->accepted);
        add_u64(x, "registered", t->registered);
        add_u64(x, "replaced", t->replaced);
        add_u64(x, "refused_unknown", t->refused_unknown);
        add_u64(x, "refused_timeout", t->refused_timeout);
        add_u64(x, "refused_full", t->refused_full);
        add_u64(x, "pending", t->pending);
        add_u64(x, "pending_max", t->pending_max);
    }
    cJSON *ua = cJSON_AddArrayToObject(o, "uplinks");
    for (size_t i = 0; ua && i < s->nuplinks; i++) {
        const struct uplink_stats *st = &s->uplinks[i].st;
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddItemToArray(ua, x);
        cJSON_AddStringToObject(x, "name", s->uplinks[i].name);
        cJSON_AddBoolToObject(x, "connected", st->connected);
        cJSON_AddStringToObject(x, "server", st->server);
        add_u64(x, "acked_seq", st->acked_seq);
        add_u64(x, "backlog", st->backlog);
        add_u64(x, "oldest_pending_ms", (uint64_t)st->oldest_pending_ms);
        add_u64(x, "dropped", st->dropped);
        add_u64(x, "inflight", st->inflight);
        add_u64(x, "queued", st->queued);
        add_u64(x, "queue_max", st->queue_max);
        add_u64(x, "queued_bytes", st->queued_bytes);
        add_u64(x, "queue_bytes_max", st->queue_bytes_max);
        add_u64(x, "inflight_bytes", st->inflight_bytes);
        add_u64(x, "inflight_bytes_max", st->inflight_bytes_max);
        cJSON_AddBoolToObject(x, "backfilling", st->backfilling);
        add_u64(x, "backlog_window", st->backlog_window);
        add_u64(x, "queue_delay_ms", (uint64_t)st->queue_delay_ms);
        add_u64(x, "messages_sent", st->messages_sent);
        add_u64(x, "messages_acked", st->messages_acked);
        add_u64(x, "send_failures", st->send_failures);
        add_u64(x, "connects", st->connects);
        add_u64(x, "connect_failures", st->connect_failures);
        add_u64(x, "ack_timeouts", st->ack_timeouts);
        add_u64(x, "unasked_messages", st->unasked);
        if (st->last_error[0])
            cJSON_AddStringToObject(x, "last_error", st->last_error);
        add_u64(x, "commands_done", st->commands_done);
        add_u64(x, "commands_refused", st->commands_refused);
        add_u64(x, "commands_limited", st->commands_limited);
        add_u64(x, "commands_dropped", st->commands_dropped);
        if (st->resending) {
            add_u64(x, "resend_pos", st->resend_pos);
            add_u64(x, "resend_end", st->resend_end);
        }
    }
    const struct writer_stats *ws = &s->store;
    cJSON *so = cJSON_AddObjectToObject(o, "store");
    if (so) {
        add_u64(so, "queued", ws->queued_readings);
        add_u64(so, "queue_max", ws->queue_max);
        add_u64(so, "dropped", ws->dropped_readings);
        add_u64(so, "committed", ws->committed_readings);
        add_u64(so, "commits", ws->commits);
        add_u64(so, "commit_failures", ws->commit_failures);
        add_u64(so, "evicted", ws->evicted_readings);
        add_u64(so, "disk_full", ws->disk_full);
        add_u64(so, "bytes", (uint64_t)ws->store_bytes);
        add_u64(so, "store_max", (uint64_t)ws->store_max);
        cJSON_AddNumberToObject(so, "last_commit_ms", (double)ws->last_commit_us / 1000.0);
        add_u64(so, "next_seq", s->next_seq);
    }
    return o;
}

int status_write_file(const char *dir, const struct agent_status *st)
{
    cJSON *status = status_json(st);
    if (!status)
        return -1;
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/status.json.new", dir);
    snprintf(path, sizeof path, "%s/status.json", dir);
    char *s = cJSON_Print(status);
    cJSON_Delete(status);
    if (!s)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd >= 0) {
        size_t len = strlen(s);
        if (write(fd, s, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0)
            rc = 0;
        close(fd);
        if (rc == 0)
            rc = rename(tmp, path);
        if (rc != 0) {
            int e = errno;
            unlink(tmp);    /* no half-written leftovers on a full disk */
            errno = e;
        }
    }
    free(s);
    return rc;
}
