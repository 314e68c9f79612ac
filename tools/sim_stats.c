/* sim_stats: printing the simulator's per-unit and bus counters as key=value lines. */
#include "tools/sim_stats.h"

void sim_stats_print(const struct sim_stats *st, const int *units, unsigned n, FILE *out)
{
    for (unsigned i = 0; i < n; i++) {
        const struct sim_unit_stats *u = &st->unit[units[i]];
        fprintf(out, "ganzhi-sim: stats unit=%d requests=%lu replies=%lu exceptions=%lu "
                "silent=%lu delayed=%lu crc=%lu truncated=%lu injected=%lu refused=%lu other=%lu\n",
                units[i], u->requests, u->replies, u->exceptions, u->silent, u->delayed,
                u->crc, u->truncated, u->injected, u->refused, u->other);
    }
    const struct sim_bus_stats *b = &st->bus;
    fprintf(out, "ganzhi-sim: stats bus frames=%lu bad_frames=%lu other_units=%lu "
            "broadcasts=%lu garbage=%lu garbage_bytes=%lu tx_lost=%lu\n",
            b->frames, b->bad_frames, b->other_units, b->broadcasts, b->garbage,
            b->garbage_bytes, b->tx_lost);
    /* Each line whole and at once, even when stderr is a pipe a test reads. */
    fflush(out);
}
