/* pace: the backlog's window from the queueing delay its acknowledgements show. */
#include "agent/pace.h"

/* A link's own delay is the least seen over one to two minutes: long enough to
 * have seen the queue empty, short enough to follow a route that changed. */
#define MINUTE_MS 60000
/* A fresh connection's window: two messages (LEDBAT's start), grown from there. */
#define START_WINDOW 2.0

void pace_init(struct pace *p, size_t ceiling, int64_t target_ms)
{
    p->ceiling = ceiling ? ceiling : 1;
    p->target_ms = target_ms;
    p->base_now = p->base_before = -1;
    p->largest_now = p->largest_before = 0;
    p->minute_start = 0;
    p->queued_ms = 0;
    pace_restart(p);
}

void pace_restart(struct pace *p)
{
    p->window = START_WINDOW < (double)p->ceiling ? START_WINDOW : (double)p->ceiling;
}

static int64_t least(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

void pace_ack(struct pace *p, int64_t now, int64_t latency_ms, size_t bytes)
{
    if (latency_ms < 0)
        latency_ms = 0;
    if (!p->minute_start || now - p->minute_start >= MINUTE_MS) {
        p->base_before = p->base_now;
        p->largest_before = p->largest_now;
        p->base_now = -1;
        p->largest_now = 0;
        p->minute_start = now;
    }
    if (bytes > p->largest_now)
        p->largest_now = bytes;
    size_t largest = p->largest_now > p->largest_before ? p->largest_now : p->largest_before;
    /* On a slow link a message's own transmission is much of its delay: only
     * full-sized messages (the backlog's are, but for a span's last) set the
     * base, so that a short one does not make the others look queued. */
    if (bytes >= largest - largest / 5 && (p->base_now < 0 || latency_ms < p->base_now))
        p->base_now = latency_ms;
    int64_t base = least(p->base_now, p->base_before);
    int64_t queued = base < 0 || latency_ms < base ? 0 : latency_ms - base;
    p->queued_ms = queued;
    if (p->target_ms <= 0)
        return;
    /* Per acknowledgement, off_target / window: per round trip (a window of
     * acknowledgements), off_target messages. Growth is one message a round trip
     * at most; a queue far over the target halves the window in one. */
    double off = (double)(p->target_ms - queued) / (double)p->target_ms;
    if (off > 1)
        off = 1;
    double floor_off = p->window / 2 > 1 ? -p->window / 2 : -1;
    if (off < floor_off)
        off = floor_off;
    p->window += off / p->window;
    if (p->window < 1)
        p->window = 1;
    if (p->window > (double)p->ceiling)
        p->window = (double)p->ceiling;
}

size_t pace_window(const struct pace *p)
{
    if (p->target_ms <= 0)
        return p->ceiling;
    return (size_t)p->window;
}
