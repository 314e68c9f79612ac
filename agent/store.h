/*
 * store: the durable log of readings, in SQLite (WAL) under data_dir/store.db.
 *
 *   point(id INTEGER PRIMARY KEY, tag TEXT UNIQUE, device TEXT, unit TEXT)
 *       stable ids: a tag keeps its id across restarts and reloads
 *   batch(seq0 INTEGER PRIMARY KEY, ts INTEGER, n INTEGER, data BLOB)
 *       one row per poll batch; its readings are seq0 .. seq0+n-1 in blob order;
 *       ts is the earliest sample time (Unix ms); data is batch_codec's form
 *   alarm(id INTEGER PRIMARY KEY, ts, point, level, raised, value, threshold)
 *       alarm events, sent ahead of readings and never evicted
 *   alarm_state(point, level, active, since)
 *       the raised alarms, so a restart neither raises them again nor loses a clear
 *   cursor(uplink TEXT PRIMARY KEY, acked INTEGER, delivered TEXT, lost INTEGER,
 *          alarm_acked INTEGER)
 *       every seq <= acked has been acknowledged by that uplink's broker;
 *       delivered lists every acknowledged seq as "lo-hi,lo-hi" (the live lane
 *       runs ahead of a backlog); lost counts readings evicted before delivery
 *
 * seq is never reused: the next seq is one past the last batch, and the newest
 * batch is never evicted. One writer connection (the agent's store thread);
 * readers (uplinks, CLI) open their own. synchronous=FULL: a committed batch
 * survives a power cut, so a seq that reached a broker is never handed out again.
 * The blob stores floats little-endian: the store is not portable to big-endian hosts.
 */
#ifndef GANZHI_STORE_H
#define GANZHI_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "agent/alarm.h"
#include "agent/batch_codec.h"
#include "core/reading.h"

struct store;

enum store_mode { STORE_WRITE, STORE_READ };

/* Open (creating when writing) data_dir/store.db. NULL with a reason in err. */
struct store *store_open(const char *dir, enum store_mode mode, char *err, size_t errlen);

/* Whether dir/store.db exists but is not a readable database (garbage, a torn
 * header, a corrupt schema). The agent then moves it aside and starts afresh. */
int store_is_corrupt(const char *dir);
/* Rename store.db (and its -wal, -shm) to store.db.corrupt-YYYYmmdd-HHMMSS.
 * 0, or -1 with errno. moved_to gets the new name. */
int store_move_aside(const char *dir, char *moved_to, size_t len);
/* Seqs of this store start at least at floor. A store started afresh after a
 * corrupt one takes floor = wall-clock ms x 1024: above every seq the lost store
 * can have handed out (it would have needed more than a million readings a
 * second since it began), so an upstream never sees a seq twice. */
void store_seq_floor(struct store *s, uint64_t floor);
void store_close(struct store *s);
const char *store_errmsg(struct store *s);
/* The last failure was a full disk (SQLITE_FULL or ENOSPC). */
int store_disk_full(struct store *s);

/* The stable id of a tag, created or updated as needed. 0 on success. */
int store_point_id(struct store *s, const char *tag, const char *device, const char *unit,
                   uint32_t *id);

/* Group several calls in one transaction (store_append makes its own). */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Identity of a point id as stored (for readings of points no longer configured).
 * Strings are copied into the caller's buffers. 0, or -1 if unknown. */
int store_point_info(struct store *s, uint32_t id, char *tag, size_t taglen,
                     char *device, size_t devlen, char *unit, size_t unitlen);

/* Append batches and alarm events in one transaction, assigning the batches'
 * seq0 and the events' ids, and recording the alarm state the events leave.
 * 0 on success; on failure nothing is stored. */
int store_append(struct store *s, struct packed_batch *const *b, size_t n, struct alarm_event *ev,
                 size_t nev);

/* The active alarms, for the engine's state at start: fn(arg, point, level, since). */
int store_alarm_active(struct store *s,
                       void (*fn)(void *arg, uint32_t point, int level, int64_t since), void *arg);
/* Up to max alarm events with id > after, in id order. Returns how many, or -1. */
long store_alarms_after(struct store *s, uint64_t after, struct alarm_event *out, size_t max);

/* One past the highest seq stored (1 for an empty store). */
uint64_t store_next_seq(struct store *s);
/* Sample time of the newest batch (Unix ms), 0 if none. */
int64_t store_last_ts(struct store *s);
/* The lowest seq still stored in *first, 0 when the store is empty. Returns -1
 * when the store cannot be read: never to be taken for an eviction. (One query:
 * "empty, so the next seq" in two would race the writer and skip a batch.) */
int store_first_seq(struct store *s, uint64_t *first);

/* Visit readings with seq >= from in seq order, at most max of them. The visitor
 * returns 0 to go on, non-zero to stop. Returns the count visited, or -1. */
typedef int (*store_visit_fn)(void *arg, uint64_t seq, const struct reading *r);
long store_scan(struct store *s, uint64_t from, size_t max, store_visit_fn fn, void *arg);

struct store_cursor {
    uint64_t acked;
    char delivered[1024];
    uint64_t lost;
    uint64_t alarm_acked;       /* every alarm event id <= this is delivered */
};
/* A missing cursor reads as nothing delivered. */
int store_cursor_get(struct store *s, const char *uplink, struct store_cursor *c);
int store_cursor_set(struct store *s, const char *uplink, const struct store_cursor *c);

/* ---- the platforms' commands (store_command.c) ---- */
struct store_command {
    const char *uplink, *id;    /* id: as received ("" when unreadable) */
    int verified;               /* its signature held: the id is in the replay window */
    int64_t received_ms, ts_ms; /* ts_ms: the command's own time, 0 if unknown */
    const char *cmd;            /* as received, NULL if unknown */
    const char *outcome;        /* "done ...", "refused: reason" */
};
/* Whether a verified command with this id came on this uplink: 1, 0, or -1. */
int store_command_seen(struct store *s, const char *uplink, const char *id);
int store_command_record(struct store *s, const struct store_command *c);
/* Forget commands received before before_ms. How many, or -1. */
long store_command_prune(struct store *s, int64_t before_ms);
/* Commands of an uplink whose outcome starts with prefix ("refused", "done"). */
int store_command_count(struct store *s, const char *uplink, const char *outcome_prefix,
                        uint64_t *out);
/* Sample time of the oldest batch held (0 when empty). 0, or -1. */
int store_first_ts(struct store *s, int64_t *ts_ms);
/* Readings held with from <= seq <= to. */
uint64_t store_count_between(struct store *s, uint64_t from, uint64_t to);

/* Bytes the store occupies: pages in use (data), the database file and its WAL. */
struct store_usage {
    int64_t used, file, wal;
};
int store_usage(struct store *s, const char *dir, struct store_usage *out);

/* Delete whole batches, oldest first: those sampled before ts_ms (retention, which
 * also takes alarm events older than it), or enough of the oldest to free about
 * `bytes` (the disk budget, which never takes alarm events). The newest batch
 * and alarm event always stay, so seq and ids are never reused. With a WAL limit
 * (store_limit_wal), batches go in transactions of about half of it each, the
 * WAL checkpointed between them: a DELETE writes the pages it empties to the
 * WAL. Returns readings deleted (those of the slices done if a later one
 * failed), or -1. */
int64_t store_evict_before(struct store *s, int64_t ts_ms);
int64_t store_evict_bytes(struct store *s, int64_t bytes);

/* Keep the WAL small: checkpoint after `pages` pages and truncate it to
 * `limit_bytes` (part of the disk budget). */
void store_limit_wal(struct store *s, int pages, int64_t limit_bytes);
/* Move the whole WAL into the database and truncate it, waiting (busy timeout)
 * for readers to let go. SQLite's own checkpoints are passive: with uplinks
 * reading all the time they rarely finish, and the WAL grows without bound. */
void store_checkpoint(struct store *s);

/* The first seq >= from whose batch was sampled at or after ts_ms, or
 * store_next_seq() if none: where the live window begins. */
uint64_t store_seq_since(struct store *s, uint64_t from, int64_t ts_ms);

#endif
