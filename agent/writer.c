/* writer: bounded batch queue in front of the store, and the thread that commits it. */
#include "agent/writer.h"
#include "agent/log.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct writer {
    struct store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;        /* batches queued, or stop */
    pthread_cond_t committed;   /* next_seq moved, or poked */
    struct batch **q;           /* FIFO ring */
    size_t qcap, qhead, qlen;
    uint64_t poke_gen;
    int stop;
    int64_t commit_interval_ms;
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

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct batch **take = NULL;
    size_t take_cap = 0;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->qlen == 0 && !w->stop)
            pthread_cond_wait(&w->work, &w->lock);
        if (w->qlen == 0 && w->stop)
            break;
        /* Gather for one commit interval: one transaction (one fsync) carries every
         * batch polled meanwhile, which is what keeps flash writes few. */
        if (!w->stop) {
            struct timespec until;
            deadline_after(&until, w->commit_interval_ms);
            /* ...unless the queue is half full: then commit now rather than drop. */
            while (!w->stop && w->st.queued_readings < w->st.queue_max / 2 &&
                   pthread_cond_timedwait(&w->work, &w->lock, &until) != ETIMEDOUT)
                ;
        }
        size_t n = w->qlen;
        if (n > take_cap) {
            struct batch **nt = realloc(take, n * sizeof *take);
            if (!nt)
                continue;
            take = nt;
            take_cap = n;
        }
        for (size_t i = 0; i < n; i++)
            take[i] = w->q[(w->qhead + i) % w->qcap];
        pthread_mutex_unlock(&w->lock);

        int64_t t0 = mono_us();
        int rc = store_append(w->store, take, n);
        int64_t took = mono_us() - t0;

        pthread_mutex_lock(&w->lock);
        if (rc == 0) {
            uint64_t readings = 0;
            for (size_t i = 0; i < n; i++) {
                readings += take[i]->n;
                free(take[i]);
            }
            w->qhead = (w->qhead + n) % w->qcap;
            w->qlen -= n;
            w->st.queued_readings -= readings;
            w->st.committed_readings += readings;
            w->st.commits++;
            w->st.last_commit_us = took;
            w->next_seq = store_next_seq(w->store);
            pthread_cond_broadcast(&w->committed);
        } else {
            w->st.commit_failures++;
            log_error("store", NULL, "commit of %zu batches failed: %s; retrying", n,
                      store_errmsg(w->store));
            if (w->stop)
                break;  /* what is still queued is lost with the process anyway */
            struct timespec until;
            deadline_after(&until, 1000);
            pthread_cond_timedwait(&w->work, &w->lock, &until);
        }
    }
    pthread_mutex_unlock(&w->lock);
    free(take);
    return NULL;
}

struct writer *writer_start(struct store *s, unsigned queue_max, int64_t commit_interval_ms)
{
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->store = s;
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
    pthread_cond_init(&w->committed, &ca);
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
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->committed);
    free(w->q);
    free(w);
}

int writer_submit(struct writer *w, struct batch *b)
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
        struct batch **nq = malloc(ncap * sizeof *nq);
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

uint64_t writer_wait(struct writer *w, uint64_t seen, int timeout_ms)
{
    pthread_mutex_lock(&w->lock);
    if (w->next_seq <= seen && timeout_ms > 0) {
        struct timespec until;
        deadline_after(&until, timeout_ms);
        uint64_t gen = w->poke_gen;
        while (w->next_seq <= seen && gen == w->poke_gen &&
               pthread_cond_timedwait(&w->committed, &w->lock, &until) != ETIMEDOUT)
            ;
    }
    uint64_t v = w->next_seq;
    pthread_mutex_unlock(&w->lock);
    return v;
}

void writer_poke(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    w->poke_gen++;
    pthread_cond_broadcast(&w->committed);
    pthread_mutex_unlock(&w->lock);
}

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->st;
    pthread_mutex_unlock(&w->lock);
}
