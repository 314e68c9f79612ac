/* wake: one thread's doorbell. Whoever has news for the thread (the writer's
 * commit, the thread's own transport's ack) rings it; the thread sleeps on it
 * with a timeout. Each uplink has its own, so an ack on one uplink wakes that
 * uplink alone. A ring before the wait is not lost. */
#ifndef GANZHI_WAKE_H
#define GANZHI_WAKE_H

#include <pthread.h>

struct wake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int rung;
};

void wake_init(struct wake *w);
void wake_destroy(struct wake *w);
/* Ring: the next (or current) wake_wait returns at once. */
void wake_ring(struct wake *w);
/* Sleep until rung or timeout_ms passed (0: do not sleep); clears the ring.
 * 1 rung, 0 timed out. */
int wake_wait(struct wake *w, int timeout_ms);

#endif
