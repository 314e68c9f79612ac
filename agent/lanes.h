/*
 * lanes: what an uplink sends next. Two lanes share one connection:
 *
 *   live      seqs >= live_start, sent as they are stored;
 *   backfill  older undelivered seqs (补传), oldest first, in seq order, flagged
 *             resend, rate-limited by the caller.
 *
 * After an outage the uplink reconnects with live_start at the readings taken
 * within the live window, so current values flow at once while the backlog
 * drains behind them. Acknowledged seqs go into one interval set, whatever the
 * lane and whatever order the acks come in; positions skip what it holds, so a
 * rewind after a failure re-sends only what was not acknowledged.
 */
#ifndef GANZHI_LANES_H
#define GANZHI_LANES_H

#include <stdint.h>
#include "agent/ranges.h"

/* LANE_REQUEST is not the lanes' own: readings a platform asked for again (a
 * resend command), sent behind the backlog; their acks do not count as delivery
 * (they were delivered, or the live and backfill lanes deliver them). */
enum lane { LANE_LIVE, LANE_BACKFILL, LANE_REQUEST };

struct lanes {
    struct ranges delivered;    /* acknowledged (or given up as evicted) seqs */
    uint64_t live_start;
    uint64_t pos[2];            /* next seq to send, per lane */
    uint64_t lost;              /* evicted before they were delivered */
};

void lanes_init(struct lanes *l);
void lanes_free(struct lanes *l);

/* Restart both lanes from what is delivered (after a reconnect or a failed send:
 * what was in flight may be lost). live_start 0 keeps the current one. */
void lanes_rewind(struct lanes *l, uint64_t first_stored, uint64_t live_start);

/* The next span a lane may send: seqs [*from, *limit) not yet delivered, below
 * next_seq (one past the newest stored). 0 when the lane has nothing to send. */
int lanes_next(const struct lanes *l, enum lane lane, uint64_t next_seq, uint64_t *from,
               uint64_t *limit);
/* A message carrying seqs up to `last` went out on the lane. */
void lanes_sent(struct lanes *l, enum lane lane, uint64_t last);
/* The broker acknowledged a message carrying [first, last]. */
int lanes_acked(struct lanes *l, uint64_t first, uint64_t last);

/* The store no longer holds seqs below first_stored: what of them was never
 * delivered is lost; returns how many (added to l->lost). */
uint64_t lanes_evicted(struct lanes *l, uint64_t first_stored);
/* The uplink's history begins at first_stored: seqs below were never its to send
 * (a new uplink on an old store, a fresh store after a corrupt one): not lost. */
void lanes_begin(struct lanes *l, uint64_t first_stored);

/* Readings stored and not yet delivered. */
uint64_t lanes_waiting(const struct lanes *l, uint64_t first_stored, uint64_t next_seq);
/* Every seq <= this is delivered (the classic cursor). */
uint64_t lanes_cursor(const struct lanes *l);

#endif
