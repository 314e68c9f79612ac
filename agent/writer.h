/* writer: the store's only writer thread. Pollers hand it batches through a bounded
 * queue; it commits everything waiting once per commit_interval (one transaction,
 * one fsync) and rings each uplink's doorbell. */
#ifndef GANZHI_WRITER_H
#define GANZHI_WRITER_H

#include <stdint.h>
#include "agent/alarm.h"
#include "core/reading.h"
#include "agent/store.h"
#include "agent/wake.h"

/* The disk budget the writer keeps the store within. */
struct writer_limits {
    const char *dir;        /* data_dir */
    int64_t store_max;      /* bytes: database pages in use plus the WAL */
    int64_t retention_ms;   /* readings older than this are deleted */
};

struct writer_stats {
    uint64_t queued_readings;   /* waiting in memory now */
    uint64_t queue_max;         /* the bound, in readings */
    uint64_t dropped_readings;  /* refused because the queue was full */
    uint64_t committed_readings, commits, commit_failures;
    int64_t last_commit_us;     /* how long the last transaction took */
    uint64_t evicted_readings;  /* deleted for the budget or retention */
    uint64_t disk_full;         /* commits refused by a full disk */
    int64_t store_bytes;        /* in use now (pages + WAL) */
    int64_t store_max;
    uint64_t alarms, alarms_dropped;    /* events stored; refused for lack of memory */
};

struct writer;

struct writer *writer_start(struct store *s, unsigned queue_max, int64_t commit_interval_ms,
                            const struct writer_limits *limits);
/* Commit what is queued and stop the thread. writer_next_seq() and the watchers
 * still work until writer_free(); the store stays open (the caller closes it). */
void writer_stop(struct writer *w);
void writer_free(struct writer *w);

/* Hand a poll's batch (malloc'd, packed: batch_pack) to the writer, which frees
 * it. Returns -1 and frees it when the queue is full (the readings are counted
 * as dropped). */
int writer_submit(struct writer *w, struct packed_batch *b);

/* Hand alarm events to the writer (copied); they are stored with the next
 * commit, ids assigned. -1 only when out of memory. */
int writer_submit_alarms(struct writer *w, const struct alarm_event *ev, size_t n);

/* One past the highest committed seq (uplinks learn of commits by writer_watch). */
uint64_t writer_next_seq(struct writer *w);
/* Ring wk after every commit (an uplink's doorbell: new readings or alarm
 * events to send), until writer_unwatch. 0, or -1 out of memory. */
int writer_watch(struct writer *w, struct wake *wk);
void writer_unwatch(struct writer *w, struct wake *wk);

void writer_get_stats(struct writer *w, struct writer_stats *out);
/* Alarm events committed since the start: an uplink asks the store for events
 * only when this moved (a query per message otherwise). */
uint64_t writer_alarms_stored(struct writer *w);

#endif
