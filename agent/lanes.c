/* lanes: live and backfill positions over the delivered set (see lanes.h). */
#include "agent/lanes.h"
#include <string.h>

void lanes_init(struct lanes *l)
{
    memset(l, 0, sizeof *l);
    ranges_init(&l->delivered);
    l->live_start = 1;
    l->pos[LANE_LIVE] = l->pos[LANE_BACKFILL] = 1;
}

void lanes_free(struct lanes *l) { ranges_free(&l->delivered); }

uint64_t lanes_cursor(const struct lanes *l) { return ranges_next_gap(&l->delivered, 1) - 1; }

void lanes_rewind(struct lanes *l, uint64_t first_stored, uint64_t live_start)
{
    uint64_t lowest = ranges_next_gap(&l->delivered, first_stored ? first_stored : 1);
    if (live_start)
        l->live_start = live_start > lowest ? live_start : lowest;
    if (l->live_start < lowest)
        l->live_start = lowest;
    l->pos[LANE_BACKFILL] = lowest;
    l->pos[LANE_LIVE] = ranges_next_gap(&l->delivered, l->live_start);
}

int lanes_next(const struct lanes *l, enum lane lane, uint64_t next_seq, uint64_t *from,
               uint64_t *limit)
{
    uint64_t pos = ranges_next_gap(&l->delivered, l->pos[lane]);
    uint64_t end = lane == LANE_BACKFILL ? l->live_start : next_seq;
    if (end > next_seq)
        end = next_seq;
    uint64_t member = ranges_next_member(&l->delivered, pos);
    if (member < end)
        end = member;
    if (pos >= end)
        return 0;
    *from = pos;
    *limit = end;
    return 1;
}

void lanes_sent(struct lanes *l, enum lane lane, uint64_t last)
{
    l->pos[lane] = ranges_next_gap(&l->delivered, last + 1);
}

int lanes_acked(struct lanes *l, uint64_t first, uint64_t last)
{
    return ranges_add(&l->delivered, first, last);
}

/* Mark every seq below first_stored delivered; returns how many were not. */
static uint64_t give_up_below(struct lanes *l, uint64_t first_stored)
{
    if (first_stored <= 1)
        return 0;
    uint64_t missing = ranges_missing(&l->delivered, 1, first_stored - 1);
    if (missing)
        ranges_add(&l->delivered, 1, first_stored - 1);
    for (int i = 0; i < 2; i++)
        if (l->pos[i] < first_stored)
            l->pos[i] = ranges_next_gap(&l->delivered, first_stored);
    if (l->live_start < first_stored)
        l->live_start = first_stored;
    return missing;
}

uint64_t lanes_evicted(struct lanes *l, uint64_t first_stored)
{
    uint64_t lost = give_up_below(l, first_stored);
    l->lost += lost;
    return lost;
}

void lanes_begin(struct lanes *l, uint64_t first_stored)
{
    give_up_below(l, first_stored);
}

uint64_t lanes_waiting(const struct lanes *l, uint64_t first_stored, uint64_t next_seq)
{
    if (next_seq <= first_stored)
        return 0;
    return ranges_missing(&l->delivered, first_stored, next_seq - 1);
}
