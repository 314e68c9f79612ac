/* status: the agent's self-report as JSON. */
#include "agent/status.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add_u64(cJSON *o, const char *k, uint64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

cJSON *status_build(int64_t uptime_ms, struct device *const *devs, size_t ndevs,
                    struct uplink *const *ups, const char *const *up_names, size_t nups,
                    struct writer *w)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "version", GANZHI_VERSION);
    cJSON_AddNumberToObject(o, "uptime_s", (double)(uptime_ms / 1000));
    cJSON *da = cJSON_AddArrayToObject(o, "devices");
    for (size_t i = 0; da && i < ndevs; i++) {
        struct device *d = devs[i];
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddItemToArray(da, x);
        cJSON_AddStringToObject(x, "name", d->conf->name);
        uint64_t req = atomic_load(&d->stats.requests);
        cJSON_AddStringToObject(x, "link", req == 0 ? "unknown"
                                : atomic_load(&d->stats.link_up) ? "up" : "down");
        cJSON_AddNumberToObject(x, "rtt_ms", (double)atomic_load(&d->stats.last_rtt_us) / 1000.0);
        add_u64(x, "requests", req);
        add_u64(x, "errors_comm", atomic_load(&d->stats.err_comm));
        add_u64(x, "errors_exception", atomic_load(&d->stats.err_exception));
        add_u64(x, "errors_reply", atomic_load(&d->stats.err_reply));
        cJSON_AddNumberToObject(x, "last_exception", atomic_load(&d->stats.last_exception));
        add_u64(x, "reads_split", atomic_load(&d->stats.splits));
        cJSON_AddBoolToObject(x, "quarantined", atomic_load(&d->stats.quarantined));
        cJSON_AddNumberToObject(x, "reads_per_poll", (double)d->plan.nreads);
    }
    cJSON *ua = cJSON_AddArrayToObject(o, "uplinks");
    for (size_t i = 0; ua && i < nups; i++) {
        struct uplink_stats st;
        uplink_get_stats(ups[i], &st);
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddItemToArray(ua, x);
        cJSON_AddStringToObject(x, "name", up_names[i]);
        cJSON_AddBoolToObject(x, "connected", st.connected);
        cJSON_AddStringToObject(x, "server", st.server);
        add_u64(x, "acked_seq", st.acked_seq);
        add_u64(x, "backlog", st.backlog);
        add_u64(x, "oldest_pending_ms", (uint64_t)st.oldest_pending_ms);
        add_u64(x, "dropped", st.dropped);
        add_u64(x, "inflight", st.inflight);
        add_u64(x, "queued", st.queued);
        add_u64(x, "queue_max", st.queue_max);
        cJSON_AddBoolToObject(x, "backfilling", st.backfilling);
        add_u64(x, "messages_sent", st.messages_sent);
        add_u64(x, "messages_acked", st.messages_acked);
        add_u64(x, "send_failures", st.send_failures);
        add_u64(x, "connect_failures", st.connect_failures);
    }
    struct writer_stats ws;
    writer_get_stats(w, &ws);
    cJSON *s = cJSON_AddObjectToObject(o, "store");
    if (s) {
        add_u64(s, "queued", ws.queued_readings);
        add_u64(s, "queue_max", ws.queue_max);
        add_u64(s, "dropped", ws.dropped_readings);
        add_u64(s, "committed", ws.committed_readings);
        add_u64(s, "commits", ws.commits);
        add_u64(s, "commit_failures", ws.commit_failures);
        add_u64(s, "evicted", ws.evicted_readings);
        add_u64(s, "disk_full", ws.disk_full);
        add_u64(s, "bytes", (uint64_t)ws.store_bytes);
        add_u64(s, "store_max", (uint64_t)ws.store_max);
        cJSON_AddNumberToObject(s, "last_commit_ms", (double)ws.last_commit_us / 1000.0);
        add_u64(s, "next_seq", writer_wait(w, 0, 0));
    }
    return o;
}

int status_write_file(const char *dir, const cJSON *status)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/status.json.new", dir);
    snprintf(path, sizeof path, "%s/status.json", dir);
    char *s = cJSON_Print(status);
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
