/* writer: bounded batch queue in front of the store, and the thread that commits it. */
#include "core/clock.h"
#include "agent/writer.h"
#include "agent/log.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct writer {
    struct store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;        /* batches queued, or stop */
    struct packed_batch **q;           /* FIFO ring */
    size_t qcap, qhead, qlen;
    struct wake **watchers;     /* rung after every commit */
    size_t nwatchers;
    struct alarm_event *alarms; /* events waiting for the next commit */
    size_t nalarms, alarms_cap;
    int stop;
    int64_t commit_interval_ms;
    struct writer_limits limits;
    int64_t last_budget_check, last_retention;
    int64_t reserve_bytes;      /* see reserve_make() */
    uint64_t max_tx_readings;
    int backlogged;             /* the last commit left batches queued */
    int have_reserve;
    uint64_t next_seq;
    struct writer_stats st;
};

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/*
 * A full disk stalls SQLite in WAL mode: deleting old rows must itself be written
 * to the WAL, and folding the WAL back into the database may need the database
 * to grow first. So the writer keeps a reserve file of the WAL's size in
 * data_dir; when the disk fills, the reserve is given up, the WAL folded back,
 * the oldest readings deleted, and the freed pages take the new ones. The
 * reserve is made again once the disk has room.
 */
static void reserve_path(const struct writer *w, char *buf, size_t len)
{
    snprintf(buf, len, "%s/store.reserve", w->limits.dir);
}

/* room: how much free space the disk must have beyond the reserve (at start:
 * little; after a full disk: enough not to give it up again at once). */
static void reserve_make(struct writer *w, int64_t room)
{
    char path[4096];
    reserve_path(w, path, sizeof path);
    struct statvfs vfs;
    if (statvfs(w->limits.dir, &vfs) == 0 &&
        (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize < w->reserve_bytes + room)
        return;     /* not now: the disk is nearly full */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (posix_fallocate(fd, 0, w->reserve_bytes) == 0 && fsync(fd) == 0)
        w->have_reserve = 1;
    else
        unlink(path);
    close(fd);
    if (w->have_reserve && room > 0)
        log_info("store", NULL, "disk space is back: reserve for a full disk made again");
}

static void reserve_release(struct writer *w)
{
    char path[4096];
    reserve_path(w, path, sizeof path);
    if (w->have_reserve)
        log_warn("store", NULL, "the disk is full: giving up the reserve to make room");
    unlink(path);
    w->have_reserve = 0;
}

/* Keep the store within store_max and retention. Called by the writer thread
 * between commits (the lock not held). */
static void keep_budget(struct writer *w, int force)
{
    int64_t now = mono_us() / 1000;
    if (!force && now - w->last_budget_check < 1000)
        return;
    w->last_budget_check = now;
    int64_t evicted = 0;
    if (w->limits.retention_ms > 0 && now - w->last_retention >= 60000) {
        w->last_retention = now;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int64_t n = store_evict_before(w->store, wall - w->limits.retention_ms);
        if (n < 0)
            log_error("store", NULL, "retention: cannot delete old readings: %s",
                      store_errmsg(w->store));
        if (n > 0) {
            evicted += n;
            log_info("store", NULL, "retention: deleted %lld readings older than %lld s",
                     (long long)n, (long long)(w->limits.retention_ms / 1000));
        }
    }
    struct store_usage u;
    if (force) {
        reserve_release(w);
        store_checkpoint(w->store);
    } else if (!w->have_reserve) {
        reserve_make(w, 3 * w->reserve_bytes);
    }
    store_usage(w->store, w->limits.dir, &u);
    if (!force && u.wal > w->reserve_bytes) {
        store_checkpoint(w->store);
        store_usage(w->store, w->limits.dir, &u);
    }
    int64_t total = u.used + u.wal, budget = w->limits.store_max;
    /* The disk may be shared and smaller than the budget: when its free space
     * runs low, stop the database growing (freed pages are reused) before
     * SQLite meets a full disk, which is much harder to get out of. The pages
     * already free in the database count as room: the file never shrinks, so
     * on a disk another program filled the free space never comes back, and
     * without them counted every check evicted again until the store was empty. */
    struct statvfs vfs;
    int64_t low_water = 4 * w->reserve_bytes, short_by = 0;
    if (statvfs(w->limits.dir, &vfs) == 0) {
        int64_t room = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize + (u.file - u.used);
        if (room < low_water)
            short_by = low_water - room + u.used / 20;
    }
    /* Evict down to 80 % when past 90 %: a margin for the next commits. */
    if (force || short_by > 0 || total > budget / 10 * 9) {
        int64_t excess = total - budget / 10 * 8;
        if (excess < short_by)
            excess = short_by;
        if (force && excess < u.used / 10)
            excess = u.used / 10;
        int64_t n = excess > 0 ? store_evict_bytes(w->store, excess) : 0;
        if (n < 0)
            log_error("store", NULL, "cannot delete old readings: %s", store_errmsg(w->store));
        if (n > 0) {
            evicted += n;
            log_warn("store", NULL, "%s: deleted the oldest %lld readings (store %lld of %lld bytes)",
                     force ? "disk full" : short_by > 0 ? "disk nearly full" : "disk budget",
                     (long long)n, (long long)total, (long long)budget);
        }
        if (force)
            store_checkpoint(w->store);
        store_usage(w->store, w->limits.dir, &u);
    }
    pthread_mutex_lock(&w->lock);
    w->st.evicted_readings += (uint64_t)evicted;
    w->st.store_bytes = u.used + u.wal;
    pthread_mutex_unlock(&w->lock);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct packed_batch **take = NULL;
    size_t take_cap = 0;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->qlen == 0 && w->nalarms == 0 && !w->stop)
            pthread_cond_wait(&w->work, &w->lock);
        if (w->qlen == 0 && w->nalarms == 0 && w->stop)
            break;
        /* Gather for one commit interval: one transaction (one fsync) carries every
         * batch polled meanwhile, which is what keeps flash writes few. A queue
         * left over from a capped commit goes on at once. */
        if (!w->stop && !w->backlogged && w->nalarms == 0) {
            struct timespec until;
            deadline_after(&until, w->commit_interval_ms);
            /* ...unless the queue is half full: then commit now rather than drop. */
            while (!w->stop && w->st.queued_readings < w->st.queue_max / 2 &&
                   pthread_cond_timedwait(&w->work, &w->lock, &until) != ETIMEDOUT)
                ;
        }
        /* One transaction takes at most a WAL's worth of readings (~8 bytes each):
         * after a stall, the queue drains in several commits rather than one
         * that outgrows the WAL and the reserve kept for a full disk. */
        size_t n = 0;
        uint64_t readings = 0;
        while (n < w->qlen && (n == 0 || readings < w->max_tx_readings))
            readings += w->q[(w->qhead + n++) % w->qcap]->n;
        if (n > take_cap) {
            struct packed_batch **nt = realloc(take, n * sizeof *take);
            if (!nt)
                continue;
            take = nt;
            take_cap = n;
        }
        for (size_t i = 0; i < n; i++)
            take[i] = w->q[(w->qhead + i) % w->qcap];
        /* Alarm events ride with the readings of the same polls. */
        struct alarm_event *ev = w->alarms;
        size_t nev = w->nalarms;
        w->alarms = NULL;
        w->nalarms = w->alarms_cap = 0;
        pthread_mutex_unlock(&w->lock);

        int64_t t0 = mono_us();
        int rc = store_append(w->store, take, n, ev, nev);
        int64_t took = mono_us() - t0;
        /* No SQL under the lock: pollers take it for every batch they hand over. */
        uint64_t next = rc == 0 ? store_next_seq(w->store) : 0;

        pthread_mutex_lock(&w->lock);
        if (rc == 0) {
            for (size_t i = 0; i < n; i++)
                free(take[i]);
            w->qhead = (w->qhead + n) % w->qcap;
            w->qlen -= n;
            w->st.queued_readings -= readings;
            w->st.committed_readings += readings;
            w->st.commits++;
            w->st.last_commit_us = took;
            w->next_seq = next;
            w->backlogged = w->qlen > 0;
            w->st.alarms += nev;
            free(ev);
            for (size_t i = 0; i < w->nwatchers; i++)
                wake_ring(w->watchers[i]);
            pthread_mutex_unlock(&w->lock);
            keep_budget(w, 0);
            pthread_mutex_lock(&w->lock);
        } else {
            /* Put the events back in front of any that came meanwhile. */
            struct alarm_event *merged = realloc(ev, (nev + w->nalarms) * sizeof *ev);
            if (merged || nev + w->nalarms == 0) {
                if (w->nalarms)
                    memcpy(merged + nev, w->alarms, w->nalarms * sizeof *ev);
                free(w->alarms);
                w->alarms = merged;
                w->nalarms += nev;
                w->alarms_cap = w->nalarms;
            } else {
                w->st.alarms_dropped += nev;
                free(ev);
            }
            int full = store_disk_full(w->store);
            w->st.commit_failures++;
            w->st.disk_full += full;
            /* Rate-limited: a full disk fails every commit until space returns. */
            if (w->st.commit_failures <= 3 || w->st.commit_failures % 100 == 0)
                log_error("store", NULL, "commit of %zu batches failed: %s%s (%llu failures); "
                          "retrying", n, store_errmsg(w->store),
                          full ? ": the disk is full, deleting the oldest readings" : "",
                          (unsigned long long)w->st.commit_failures);
            if (w->stop)
                break;  /* what is still queued is lost with the process anyway */
            pthread_mutex_unlock(&w->lock);
            if (full)
                keep_budget(w, 1);
            pthread_mutex_lock(&w->lock);
            struct timespec until;
            deadline_after(&until, full ? 200 : 1000);
            pthread_cond_timedwait(&w->work, &w->lock, &until);
        }
    }
    pthread_mutex_unlock(&w->lock);
    free(take);
    return NULL;
}

struct writer *writer_start(struct store *s, unsigned queue_max, int64_t commit_interval_ms,
                            const struct writer_limits *limits)
{
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->store = s;
    w->limits = *limits;
    w->st.store_max = limits->store_max;
    /* The WAL is part of the budget: checkpoint often enough to keep it to a
     * sixty-fourth of the budget or of the disk (64 KB .. 4 MB), and keep a
     * reserve of that size. */
    int64_t wal_bytes = limits->store_max / 64;
    struct statvfs vfs;
    if (statvfs(limits->dir, &vfs) == 0 &&
        (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize / 64 < wal_bytes)
        wal_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize / 64;
    if (wal_bytes < 64 * 1024)
        wal_bytes = 64 * 1024;
    if (wal_bytes > 4 * 1024 * 1024)
        wal_bytes = 4 * 1024 * 1024;
    w->reserve_bytes = 2 * wal_bytes;   /* a WAL may overshoot its limit by a commit */
    w->max_tx_readings = (uint64_t)wal_bytes / 8;
    store_limit_wal(s, (int)(wal_bytes / 4096 / 2), wal_bytes);
    reserve_make(w, 0);
    w->last_retention = mono_us() / 1000 - 59000;   /* first retention pass after ~1 s */
    w->qcap = 1024;
    w->q = calloc(w->qcap, sizeof *w->q);
    w->st.queue_max = queue_max;
    w->commit_interval_ms = commit_interval_ms;
    w->next_seq = store_next_seq(s);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, &ca);
    pthread_condattr_destroy(&ca);
    if (!w->q || pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        free(w->q);
        free(w);
        return NULL;
    }
    return w;
}

void writer_stop(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    int running = !w->stop;
    w->stop = 1;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->lock);
    if (running)
        pthread_join(w->thread, NULL);
}

void writer_free(struct writer *w)
{
    if (!w)
        return;
    writer_stop(w);
    for (size_t i = 0; i < w->qlen; i++)
        free(w->q[(w->qhead + i) % w->qcap]);
    free(w->alarms);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work);
    free(w->q);
    free(w->watchers);
    free(w);
}

int writer_submit_alarms(struct writer *w, const struct alarm_event *ev, size_t n)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&w->lock);
    if (w->nalarms + n > w->alarms_cap) {
        size_t cap = (w->nalarms + n) * 2;
        struct alarm_event *a = realloc(w->alarms, cap * sizeof *a);
        if (!a) {
            w->st.alarms_dropped += n;
            pthread_mutex_unlock(&w->lock);
            return -1;
        }
        w->alarms = a;
        w->alarms_cap = cap;
    }
    memcpy(w->alarms + w->nalarms, ev, n * sizeof *ev);
    w->nalarms += n;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int writer_submit(struct writer *w, struct packed_batch *b)
{
    pthread_mutex_lock(&w->lock);
    if (w->st.queued_readings + b->n > w->st.queue_max) {
        w->st.dropped_readings += b->n;
        pthread_mutex_unlock(&w->lock);
        free(b);
        return -1;
    }
    if (w->qlen == w->qcap) {
        size_t ncap = w->qcap * 2;
        struct packed_batch **nq = malloc(ncap * sizeof *nq);
        if (!nq) {
            w->st.dropped_readings += b->n;
            pthread_mutex_unlock(&w->lock);
            free(b);
            return -1;
        }
        for (size_t i = 0; i < w->qlen; i++)
            nq[i] = w->q[(w->qhead + i) % w->qcap];
        free(w->q);
        w->q = nq;
        w->qcap = ncap;
        w->qhead = 0;
    }
    w->q[(w->qhead + w->qlen) % w->qcap] = b;
    w->qlen++;
    w->st.queued_readings += b->n;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

uint64_t writer_next_seq(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    uint64_t v = w->next_seq;
    pthread_mutex_unlock(&w->lock);
    return v;
}

int writer_watch(struct writer *w, struct wake *wk)
{
    pthread_mutex_lock(&w->lock);
    struct wake **nw = realloc(w->watchers, (w->nwatchers + 1) * sizeof *nw);
    if (nw) {
        w->watchers = nw;
        w->watchers[w->nwatchers++] = wk;
    }
    pthread_mutex_unlock(&w->lock);
    return nw ? 0 : -1;
}

void writer_unwatch(struct writer *w, struct wake *wk)
{
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nwatchers; i++)
        if (w->watchers[i] == wk) {
            w->watchers[i] = w->watchers[--w->nwatchers];
            break;
        }
    pthread_mutex_unlock(&w->lock);
}

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->st;
    pthread_mutex_unlock(&w->lock);
}

uint64_t writer_alarms_stored(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    uint64_t n = w->st.alarms;
    pthread_mutex_unlock(&w->lock);
    return n;
}
