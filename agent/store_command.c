/* store_command: the record of the platforms' commands, the replay window, and
 * the questions a resend asks of the store (what a window holds, since when). */
#include "agent/store_impl.h"
#include <string.h>

int store_command_seen(struct store *s, const char *uplink, const char *id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_db(s), "SELECT 1 FROM command WHERE verified AND uplink = ?"
                           " AND id = ? LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, uplink, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_command_record(struct store *s, const struct store_command *c)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_db(s), "INSERT INTO command(uplink, id, verified, received, ts,"
                           " cmd, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, c->uplink, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->id ? c->id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, c->verified);
    sqlite3_bind_int64(st, 4, c->received_ms);
    if (c->ts_ms)
        sqlite3_bind_int64(st, 5, c->ts_ms);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_text(st, 6, c->cmd ? c->cmd : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->outcome, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

long store_command_prune(struct store *s, int64_t before_ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_db(s), "DELETE FROM command WHERE received < ?", -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, before_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? (long)sqlite3_changes(store_db(s)) : -1;
}

int store_command_count(struct store *s, const char *uplink, const char *outcome_prefix,
                        uint64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM command WHERE uplink = ? AND"
                           " substr(outcome, 1, length(?2)) = ?2", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, uplink, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, outcome_prefix, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_first_ts(struct store *s, int64_t *ts_ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_db(s), "SELECT ts FROM batch ORDER BY seq0 LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    *ts_ms = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

uint64_t store_count_between(struct store *s, uint64_t from, uint64_t to)
{
    sqlite3_stmt *st;
    /* Whole batches within, and the parts of the two at the ends. */
    if (from > to || sqlite3_prepare_v2(store_db(s),
            "SELECT sum(min(seq0 + n - 1, ?2) - max(seq0, ?1) + 1) FROM batch"
            " WHERE seq0 <= ?2 AND seq0 + n - 1 >= ?1", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
    uint64_t n = sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return n;
}
