/* wake: a doorbell (flag, mutex, monotonic condition variable). */
#include "agent/wake.h"
#include <errno.h>
#include <time.h>

void wake_init(struct wake *w)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    w->rung = 0;
}

void wake_destroy(struct wake *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

void wake_ring(struct wake *w)
{
    pthread_mutex_lock(&w->lock);
    if (!w->rung) {     /* one futex call per sleep, not per ring */
        w->rung = 1;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

int wake_wait(struct wake *w, int timeout_ms)
{
    pthread_mutex_lock(&w->lock);
    if (!w->rung && timeout_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!w->rung && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
            ;
    }
    int rung = w->rung;
    w->rung = 0;
    pthread_mutex_unlock(&w->lock);
    return rung;
}
