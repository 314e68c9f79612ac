/* clock: the two clocks everything reads. Monotonic time for schedules, timeouts
 * and rates (never stepped); wall time only for sample times and ages. */
#ifndef GANZHI_CLOCK_H
#define GANZHI_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t mono_ms(void) { return mono_us() / 1000; }

static inline int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep for us microseconds, the whole of it (a signal does not cut it short). */
static inline void sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#endif
