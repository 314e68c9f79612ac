/* store: SQLite persistence of batches, point ids and uplink cursors (see store.h). */
#include "agent/store.h"
#include "agent/store_impl.h"
#include "agent/batch_codec.h"
#include "agent/log.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <time.h>

/* Page cache per connection, KiB (see store_open). */
#define STORE_CACHE_KIB "256"
/* A reader (an uplink, a CLI command) reads the newest batches in order. */
#define STORE_READ_CACHE_KIB "128"

struct store {
    sqlite3 *db;
    int last_err;   /* extended code of the last failed write, kept across ROLLBACK */
    char last_msg[200];
    sqlite3_stmt *ins_batch, *sel_from, *sel_containing, *get_point, *ins_point, *upd_point,
                 *info_point, *get_cursor, *set_cursor, *seq_since, *ins_alarm,
                 *set_alarm_state, *del_alarm_state, *sel_alarms;
    uint64_t next_seq;
    int64_t wal_limit;  /* store_limit_wal's: what one eviction transaction may write */
};

/* One past the newest seq, by the rowid index: max(seq0 + n) would read every
 * row, tens of milliseconds per commit in a store of millions of readings. */
#define NEXT_SEQ_SQL "SELECT seq0 + n FROM batch ORDER BY seq0 DESC LIMIT 1"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS point(id INTEGER PRIMARY KEY, tag TEXT UNIQUE NOT NULL,"
    " device TEXT NOT NULL, unit TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS batch(seq0 INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
    " n INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cursor(uplink TEXT PRIMARY KEY, acked INTEGER NOT NULL,"
    " delivered TEXT NOT NULL DEFAULT '', lost INTEGER NOT NULL DEFAULT 0,"
    " alarm_acked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS alarm(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
    " point INTEGER NOT NULL, level INTEGER NOT NULL, raised INTEGER NOT NULL,"
    " value REAL NOT NULL, threshold REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alarm_state(point INTEGER NOT NULL, level INTEGER NOT NULL,"
    " since INTEGER NOT NULL, PRIMARY KEY(point, level)) WITHOUT ROWID;"
    STORE_COMMAND_SCHEMA;

sqlite3 *store_db(struct store *s) { return s->db; }

const char *store_errmsg(struct store *s)
{
    return s->last_err ? s->last_msg : sqlite3_errmsg(s->db);
}

int store_disk_full(struct store *s)
{
    return (s->last_err & 0xff) == SQLITE_FULL || s->last_err == SQLITE_IOERR_WRITE ||
           s->last_err == SQLITE_IOERR_FSYNC || s->last_err == SQLITE_IOERR_SHMSIZE;
}

/* Remember why a write failed before ROLLBACK replaces the error, and roll back
 * only if SQLite has not already (it does on a full disk). */
static void fail_tx(struct store *s)
{
    s->last_err = sqlite3_extended_errcode(s->db);
    snprintf(s->last_msg, sizeof s->last_msg, "%s", sqlite3_errmsg(s->db));
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int prepare(struct store *s, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* One number from a query: *v stays as it is on no row or NULL; -1 on an error,
 * which callers must not take for "nothing there" (an empty store). */
static int query_u64_ok(sqlite3 *db, const char *sql, uint64_t *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *v = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static uint64_t query_u64(sqlite3 *db, const char *sql, uint64_t dflt)
{
    uint64_t v = dflt;
    return query_u64_ok(db, sql, &v) == 0 ? v : dflt;
}

struct store *store_open(const char *dir, enum store_mode mode, char *err, size_t errlen)
{
    char path[4096];
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/store.db", dir);
    int flags = mode == STORE_WRITE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                    : SQLITE_OPEN_READWRITE;
    /* Readers open read-write too: the cursor table is theirs to update, and a
     * read-only WAL connection cannot recover a WAL left by a killed writer. */
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* The lookaside (small allocations kept per connection) defaults to 120 KB
     * a connection; a store's few prepared statements need a fraction. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 256, 64);
    /* Each connection's page cache may grow to the library default of 2 MB: the
     * writer's and every uplink's, and registering 50,000 points fills it. The
     * hot pages (the batch table's rightmost path, a commit's new pages) are a
     * few dozen; older ones are in the kernel's page cache anyway. */
    sqlite3_exec(s->db, mode == STORE_WRITE ? "PRAGMA cache_size=-" STORE_CACHE_KIB
                                            : "PRAGMA cache_size=-" STORE_READ_CACHE_KIB,
                 NULL, NULL, NULL);
    char *msg = NULL;
    /* secure_delete: Debian builds SQLite with it on, which writes every freed page
     * again (zeros) when old readings are deleted: twice the flash wear, and a
     * DELETE that cannot fit in the WAL on a full disk. FAST zeroes only what is
     * written anyway. */
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     " PRAGMA secure_delete=FAST;", NULL, NULL, &msg) != SQLITE_OK ||
        (mode == STORE_WRITE && sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK)) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    /* Stores made before the cursor kept its delivered set and alarms: add the
     * columns. */
    if (mode == STORE_WRITE &&
        sqlite3_exec(s->db, "SELECT delivered, lost FROM cursor LIMIT 0", NULL, NULL, NULL) != SQLITE_OK)
        sqlite3_exec(s->db, "ALTER TABLE cursor ADD COLUMN delivered TEXT NOT NULL DEFAULT '';"
                     "ALTER TABLE cursor ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;",
                     NULL, NULL, NULL);
    if (mode == STORE_WRITE &&
        sqlite3_exec(s->db, "SELECT alarm_acked FROM cursor LIMIT 0", NULL, NULL, NULL) != SQLITE_OK)
        sqlite3_exec(s->db, "ALTER TABLE cursor ADD COLUMN alarm_acked INTEGER NOT NULL DEFAULT 0;",
                     NULL, NULL, NULL);
    if (prepare(s, &s->ins_batch, "INSERT INTO batch(seq0, ts, n, data) VALUES(?,?,?,?)") ||
        prepare(s, &s->sel_containing,
                "SELECT seq0, ts, n, data FROM batch WHERE seq0 <= ? ORDER BY seq0 DESC LIMIT 1") ||
        prepare(s, &s->sel_from, "SELECT seq0, ts, n, data FROM batch WHERE seq0 > ? ORDER BY seq0") ||
        prepare(s, &s->get_point, "SELECT id, device, unit FROM point WHERE tag = ?") ||
        prepare(s, &s->ins_point, "INSERT INTO point(tag, device, unit) VALUES(?,?,?)") ||
        prepare(s, &s->upd_point, "UPDATE point SET device = ?, unit = ? WHERE id = ?") ||
        prepare(s, &s->info_point, "SELECT tag, device, unit FROM point WHERE id = ?") ||
        prepare(s, &s->get_cursor,
                "SELECT acked, delivered, lost, alarm_acked FROM cursor WHERE uplink = ?") ||
        prepare(s, &s->set_cursor,
                "INSERT INTO cursor(uplink, acked, delivered, lost, alarm_acked)"
                " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(uplink) DO UPDATE SET"
                " acked = max(acked, ?2), delivered = ?3, lost = ?4,"
                " alarm_acked = max(alarm_acked, ?5)") ||
        prepare(s, &s->ins_alarm,
                "INSERT INTO alarm(ts, point, level, raised, value, threshold)"
                " VALUES(?,?,?,?,?,?)") ||
        prepare(s, &s->set_alarm_state,
                "INSERT OR REPLACE INTO alarm_state(point, level, since) VALUES(?,?,?)") ||
        prepare(s, &s->del_alarm_state, "DELETE FROM alarm_state WHERE point = ? AND level = ?") ||
        prepare(s, &s->sel_alarms,
                "SELECT id, ts, point, level, raised, value, threshold FROM alarm WHERE id > ?"
                " ORDER BY id LIMIT ?") ||
        prepare(s, &s->seq_since,
                "SELECT seq0 FROM batch WHERE seq0 >= ?1 AND ts >= ?2 ORDER BY seq0 LIMIT 1")) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    s->next_seq = query_u64(s->db, NEXT_SEQ_SQL, 1);
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->db) {
        int cache = 0, schem = 0, stmts = 0, hw = 0;
        sqlite3_db_status(s->db, SQLITE_DBSTATUS_CACHE_USED, &cache, &hw, 0);
        sqlite3_db_status(s->db, SQLITE_DBSTATUS_SCHEMA_USED, &schem, &hw, 0);
        sqlite3_db_status(s->db, SQLITE_DBSTATUS_STMT_USED, &stmts, &hw, 0);
        sqlite3_int64 now = 0, peak = 0;
        sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &now, &peak, 0);
        log_debug("store", NULL, "connection closing: page cache %d KB, schema %d KB, "
                  "statements %d KB; SQLite in all %lld KB (peak %lld KB)", cache / 1024,
                  schem / 1024, stmts / 1024, (long long)now / 1024, (long long)peak / 1024);
    }
    sqlite3_stmt *all[] = { s->ins_batch, s->sel_from, s->sel_containing, s->get_point,
                            s->ins_point, s->upd_point, s->info_point, s->get_cursor,
                            s->set_cursor, s->seq_since, s->ins_alarm, s->set_alarm_state,
                            s->del_alarm_state, s->sel_alarms };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(s->db);
    free(s);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_point_id(struct store *s, const char *tag, const char *device, const char *unit,
                   uint32_t *id)
{
    sqlite3_stmt *st = s->get_point;
    sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id = (uint32_t)sqlite3_column_int64(st, 0);
        int same = strcmp((const char *)sqlite3_column_text(st, 1), device) == 0 &&
                   strcmp((const char *)sqlite3_column_text(st, 2), unit) == 0;
        sqlite3_reset(st);
        if (same)
            return 0;
        sqlite3_bind_text(s->upd_point, 1, device, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->upd_point, 2, unit, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->upd_point, 3, *id);
        return step_done(s->upd_point);
    }
    sqlite3_reset(st);
    sqlite3_bind_text(s->ins_point, 1, tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_point, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_point, 3, unit, -1, SQLITE_STATIC);
    if (step_done(s->ins_point))
        return -1;
    *id = (uint32_t)sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_begin(struct store *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int store_commit(struct store *s)
{
    return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void store_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t len)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    snprintf(dst, len, "%s", v ? v : "");
}

int store_point_info(struct store *s, uint32_t id, char *tag, size_t taglen,
                     char *device, size_t devlen, char *unit, size_t unitlen)
{
    sqlite3_stmt *st = s->info_point;
    sqlite3_bind_int64(st, 1, id);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        copy_col(st, 0, tag, taglen);
        copy_col(st, 1, device, devlen);
        copy_col(st, 2, unit, unitlen);
        rc = 0;
    }
    sqlite3_reset(st);
    return rc;
}

static int append_alarms(struct store *s, struct alarm_event *ev, size_t nev)
{
    for (size_t i = 0; i < nev; i++) {
        sqlite3_stmt *st = s->ins_alarm;
        sqlite3_bind_int64(st, 1, ev[i].ts_ms);
        sqlite3_bind_int64(st, 2, ev[i].point);
        sqlite3_bind_int(st, 3, ev[i].level);
        sqlite3_bind_int(st, 4, ev[i].raised);
        sqlite3_bind_double(st, 5, ev[i].value);
        sqlite3_bind_double(st, 6, ev[i].threshold);
        if (step_done(st))
            return -1;
        ev[i].id = (uint64_t)sqlite3_last_insert_rowid(s->db);
        st = ev[i].raised ? s->set_alarm_state : s->del_alarm_state;
        sqlite3_bind_int64(st, 1, ev[i].point);
        sqlite3_bind_int(st, 2, ev[i].level);
        if (ev[i].raised)
            sqlite3_bind_int64(st, 3, ev[i].ts_ms);
        if (step_done(st))
            return -1;
    }
    return 0;
}

int store_append(struct store *s, struct packed_batch *const *b, size_t n, struct alarm_event *ev,
                 size_t nev)
{
    s->last_err = 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fail_tx(s);
        return -1;
    }
    uint64_t seq = s->next_seq;
    for (size_t i = 0; i < n; i++) {
        if (b[i]->n == 0)
            continue;
        sqlite3_bind_int64(s->ins_batch, 1, (sqlite3_int64)seq);
        sqlite3_bind_int64(s->ins_batch, 2, b[i]->ts_ms);
        sqlite3_bind_int64(s->ins_batch, 3, b[i]->n);
        sqlite3_bind_blob(s->ins_batch, 4, b[i]->data, (int)b[i]->len, SQLITE_STATIC);
        if (step_done(s->ins_batch))
            goto fail;
        seq += b[i]->n;
    }
    if (append_alarms(s, ev, nev))
        goto fail;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    seq = s->next_seq;
    for (size_t i = 0; i < n; i++) {
        b[i]->seq0 = seq;
        seq += b[i]->n;
    }
    s->next_seq = seq;
    return 0;
fail:
    fail_tx(s);
    return -1;
}

uint64_t store_next_seq(struct store *s)
{
    /* Readers see other connections' commits: ask the database, not the cache. */
    uint64_t v = query_u64(s->db, NEXT_SEQ_SQL, 1);
    if (v > s->next_seq)
        s->next_seq = v;
    return s->next_seq;
}

int64_t store_last_ts(struct store *s)
{
    return (int64_t)query_u64(s->db, "SELECT ts FROM batch ORDER BY seq0 DESC LIMIT 1", 0);
}

int store_first_seq(struct store *s, uint64_t *first)
{
    *first = 0;
    return query_u64_ok(s->db, "SELECT min(seq0) FROM batch", first);
}

/* Visit the readings of one batch row with seq >= from; returns -1 on a corrupt
 * blob, 1 if the visitor stopped or max was reached, else 0. */
static int visit_row(sqlite3_stmt *st, uint64_t from, size_t max, long *count,
                     store_visit_fn fn, void *arg)
{
    uint64_t seq0 = (uint64_t)sqlite3_column_int64(st, 0);
    int64_t ts = sqlite3_column_int64(st, 1);
    uint32_t n = (uint32_t)sqlite3_column_int64(st, 2);
    const uint8_t *blob = sqlite3_column_blob(st, 3);
    size_t len = (size_t)sqlite3_column_bytes(st, 3);
    size_t pos = 0;
    struct reading r;
    for (uint32_t i = 0; i < n; i++) {
        if (batch_decode_next(blob, len, &pos, ts, &r))
            return -1;
        if (seq0 + i < from)
            continue;
        if ((size_t)*count >= max)
            return 1;
        ++*count;
        if (fn(arg, seq0 + i, &r))
            return 1;
    }
    return 0;
}

long store_scan(struct store *s, uint64_t from, size_t max, store_visit_fn fn, void *arg)
{
    long count = 0;
    int rc = 0;
    uint64_t after = from ? from - 1 : 0;
    sqlite3_stmt *st = s->sel_containing;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    if (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t seq0 = (uint64_t)sqlite3_column_int64(st, 0);
        if (seq0 + (uint64_t)sqlite3_column_int64(st, 2) > from)
            rc = visit_row(st, from, max, &count, fn, arg);
        after = seq0;
    }
    sqlite3_reset(st);
    if (rc)
        return rc < 0 ? -1 : count;
    st = s->sel_from;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    int step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = visit_row(st, from, max, &count, fn, arg);
    sqlite3_reset(st);
    return rc < 0 ? -1 : count;
}

int store_cursor_get(struct store *s, const char *uplink, struct store_cursor *c)
{
    sqlite3_stmt *st = s->get_cursor;
    memset(c, 0, sizeof *c);
    sqlite3_bind_text(st, 1, uplink, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->acked = (uint64_t)sqlite3_column_int64(st, 0);
        copy_col(st, 1, c->delivered, sizeof c->delivered);
        c->lost = (uint64_t)sqlite3_column_int64(st, 2);
        c->alarm_acked = (uint64_t)sqlite3_column_int64(st, 3);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_cursor_set(struct store *s, const char *uplink, const struct store_cursor *c)
{
    sqlite3_bind_text(s->set_cursor, 1, uplink, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set_cursor, 2, (sqlite3_int64)c->acked);
    sqlite3_bind_text(s->set_cursor, 3, c->delivered, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set_cursor, 4, (sqlite3_int64)c->lost);
    sqlite3_bind_int64(s->set_cursor, 5, (sqlite3_int64)c->alarm_acked);
    return step_done(s->set_cursor);
}

uint64_t store_seq_since(struct store *s, uint64_t from, int64_t ts_ms)
{
    sqlite3_stmt *st = s->seq_since;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, ts_ms);
    uint64_t v = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v ? v : store_next_seq(s);
}

/* The database file's bytes, and of those the pages in use (not free). */
static void page_bytes(struct store *s, int64_t *used, int64_t *file)
{
    uint64_t pages = query_u64(s->db, "PRAGMA page_count", 0);
    uint64_t free_pages = query_u64(s->db, "PRAGMA freelist_count", 0);
    uint64_t size = query_u64(s->db, "PRAGMA page_size", 4096);
    *used = (int64_t)((pages - (free_pages < pages ? free_pages : pages)) * size);
    *file = (int64_t)(pages * size);
}

int store_usage(struct store *s, const char *dir, struct store_usage *out)
{
    page_bytes(s, &out->used, &out->file);
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/store.db-wal", dir);
    out->wal = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    return 0;
}

/* Delete the batches with seq0 in [from, to): readings deleted, or -1. */
static int64_t delete_range(struct store *s, uint64_t from, uint64_t to)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(n), 0) FROM batch WHERE seq0 >= ? AND seq0 < ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n <= 0)
        return n;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM batch WHERE seq0 >= ? AND seq0 < ?", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

/*
 * A DELETE writes every page it empties to the WAL: one transaction deleting a
 * tenth of the store grows the WAL by about a tenth of the store, past its limit.
 * On disk the store then stood at its file (which keeps the freed pages) plus
 * that WAL, over store_max; and on a full disk such a transaction cannot be
 * written at all within the reserve the writer gives up for it. So with a WAL
 * limit set, the batches go in slices of about half the limit's worth of
 * readings, each its own transaction on a WAL just folded back.
 */
static int64_t evict_below(struct store *s, uint64_t cutoff)
{
    /* Never the newest batch: it carries the next seq across restarts. */
    uint64_t newest = 0, first = 0, next = 1;
    if (query_u64_ok(s->db, "SELECT max(seq0) FROM batch", &newest) != 0 ||
        query_u64_ok(s->db, "SELECT min(seq0) FROM batch", &first) != 0 ||
        query_u64_ok(s->db, NEXT_SEQ_SQL, &next) != 0)
        return -1;
    if (cutoff > newest)
        cutoff = newest;
    if (!first || cutoff <= first)
        return 0;
    uint64_t step = cutoff - first;
    if (s->wal_limit > 0) {
        int64_t used, file;
        page_bytes(s, &used, &file);
        double per_seq = next > first ? (double)used / (double)(next - first) : (double)used;
        double seqs = per_seq > 0 ? (double)s->wal_limit / 2 / per_seq : (double)step;
        if (seqs < (double)step)
            step = seqs < 1 ? 1 : (uint64_t)seqs;
    }
    /* The WAL holds one slice at a time: folded back before each and after the last. */
    int64_t total = 0;
    for (uint64_t from = first; from < cutoff;) {
        uint64_t to = cutoff - from > step ? from + step : cutoff;
        if (s->wal_limit > 0)
            store_checkpoint(s);
        int64_t n = delete_range(s, from, to);
        if (n < 0)
            return total ? total : -1;  /* what was deleted stays deleted */
        total += n;
        from = to;
    }
    if (s->wal_limit > 0)
        store_checkpoint(s);
    return total;
}

int64_t store_evict_before(struct store *s, int64_t ts_ms)
{
    /* Alarm events age out with retention too (the budget never takes them). */
    sqlite3_stmt *old;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM alarm WHERE ts < ? AND id < (SELECT max(id) FROM alarm)",
                           -1, &old, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(old, 1, ts_ms);
        sqlite3_step(old);
        sqlite3_finalize(old);
    }
    /* Batches are stored in sample order, near enough: find the first one young
     * enough and delete everything below it. */
    sqlite3_stmt *st;
    uint64_t cutoff = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT seq0 FROM batch WHERE ts >= ? ORDER BY seq0 LIMIT 1", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, ts_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        cutoff = (uint64_t)sqlite3_column_int64(st, 0);
    else
        cutoff = UINT64_MAX;    /* all older: evict_below keeps the newest */
    sqlite3_finalize(st);
    /* A failed query is not "all older": that would delete the whole store. */
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    return evict_below(s, cutoff);
}

int64_t store_evict_bytes(struct store *s, int64_t bytes)
{
    /* Rows are about the same size: take the share of the seq range that the
     * bytes are of the data, plus a little, in one statement. */
    uint64_t first = 0, next = 1;
    if (query_u64_ok(s->db, "SELECT min(seq0) FROM batch", &first) != 0 ||
        query_u64_ok(s->db, NEXT_SEQ_SQL, &next) != 0)
        return -1;
    int64_t used, file;
    page_bytes(s, &used, &file);
    if (!first || next <= first || used <= 0)
        return 0;
    double share = (double)bytes / (double)used * 1.1;
    if (share > 1)
        share = 1;
    uint64_t cutoff = first + (uint64_t)((double)(next - first) * share) + 1;
    return evict_below(s, cutoff);
}

void store_checkpoint(struct store *s)
{
    sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
}

void store_limit_wal(struct store *s, int pages, int64_t limit_bytes)
{
    s->wal_limit = limit_bytes;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint=%d; PRAGMA journal_size_limit=%lld;",
             pages, (long long)limit_bytes);
    sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

int store_is_corrupt(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/store.db", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master; SELECT max(seq0) FROM batch",
                          NULL, NULL, NULL);
    int corrupt = rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ||
                  (rc == SQLITE_ERROR && db && sqlite3_errcode(db) == SQLITE_CORRUPT);
    sqlite3_close(db);
    return corrupt;
}

int store_move_aside(const char *dir, char *moved_to, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32], from[4096], to[4200];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    static const char *const suffix[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        snprintf(from, sizeof from, "%s/store.db%s", dir, suffix[i]);
        snprintf(to, sizeof to, "%s/store.db.corrupt-%s%s", dir, stamp, suffix[i]);
        if (rename(from, to) != 0 && errno != ENOENT)
            return -1;
        if (i == 0)
            snprintf(moved_to, len, "%s", to);
    }
    return 0;
}

void store_seq_floor(struct store *s, uint64_t floor)
{
    if (s->next_seq < floor)
        s->next_seq = floor;
}

int store_alarm_active(struct store *s,
                       void (*fn)(void *arg, uint32_t point, int level, int64_t since), void *arg)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT point, level, since FROM alarm_state", -1, &st, NULL))
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW)
        fn(arg, (uint32_t)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
           sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    return 0;
}

long store_alarms_after(struct store *s, uint64_t after, struct alarm_event *out, size_t max)
{
    sqlite3_stmt *st = s->sel_alarms;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    long n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && (size_t)n < max) {
        out[n] = (struct alarm_event){
            (uint64_t)sqlite3_column_int64(st, 0), (uint32_t)sqlite3_column_int64(st, 2),
            (uint8_t)sqlite3_column_int(st, 3), (uint8_t)sqlite3_column_int(st, 4),
            sqlite3_column_int64(st, 1), sqlite3_column_double(st, 5),
            sqlite3_column_double(st, 6) };
        n++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}
