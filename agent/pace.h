/*
 * pace: how many backlog messages an uplink keeps in flight. A backlog sent as
 * fast as the window allows fills a slow link's queue (a 4G modem, a satellite
 * hop) with seconds of old readings, and every live reading and alarm waits
 * behind them. Like LEDBAT (RFC 6817), the window follows the queueing delay the
 * acknowledgements show: the time from handing a backlog message over to its
 * PUBACK, less the least such time seen lately for a message of about its size
 * (the link's own delay, a round trip and the message's own transmission).
 * Under the target the window grows by up to a message a round trip; over it,
 * it shrinks, by up to half in one. On loopback or a fast link the delay stays
 * far under the target and the window stays at its ceiling.
 */
#ifndef GANZHI_PACE_H
#define GANZHI_PACE_H

#include <stddef.h>
#include <stdint.h>

struct pace {
    double window;          /* messages; 1 .. ceiling */
    size_t ceiling;         /* the static window (max_inflight less the live slot) */
    int64_t target_ms;      /* the queueing delay a backlog may add; 0: no pacing */
    /* This minute's and the last's: the least delay of a full-sized message, and
     * the largest message (what full-sized means). -1 / 0: none yet. */
    int64_t base_now, base_before;
    size_t largest_now, largest_before;
    int64_t minute_start;
    int64_t queued_ms;      /* the last queueing delay seen, for the status */
};

void pace_init(struct pace *p, size_t ceiling, int64_t target_ms);
/* A new connection: the window starts small again (the link may be another). */
void pace_restart(struct pace *p);
/* A backlog message of bytes acknowledged latency_ms after it was handed over,
 * at now (mono ms). */
void pace_ack(struct pace *p, int64_t now, int64_t latency_ms, size_t bytes);
/* How many backlog messages may be in flight now: 1 .. ceiling. */
size_t pace_window(const struct pace *p);

#endif
