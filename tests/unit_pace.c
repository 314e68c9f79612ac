/* unit_pace: the backlog's window against a simulated link: a bottleneck that
 * sends RATE bytes a millisecond, ONE_WAY ms each way, backlog messages always
 * waiting and a small live message every 200 ms. The window must keep a slow
 * link nearly full while the queue ahead of a live message stays near the
 * target, and stay at its ceiling where the delay is far under the target. */
#include "tests/unit.h"
#include "agent/pace.h"
#include <stdlib.h>

struct sim_msg {
    int64_t sent, acked;    /* ms */
    size_t bytes;
    int live;
};

struct result {
    double utilisation;     /* busy time of the link over the last half */
    double live_wait_p99;   /* ms from a live message's making to its arrival */
    size_t window_min, window_max;  /* over the last half */
};

/* One run of SECONDS simulated, 1 ms steps. */
static struct result run(double rate, int64_t one_way, size_t msg_bytes, size_t ceiling,
                         int64_t target, int seconds)
{
    struct pace p;
    pace_init(&p, ceiling, target);
    enum { MAXQ = 4096 };
    static struct sim_msg q[MAXQ];  /* the link's queue, in order: head is on the wire */
    size_t head = 0, tail = 0;
    double left = 0;                /* bytes of the head still to send */
    size_t inflight = 0;            /* backlog messages sent and not acknowledged */
    static int64_t ack_at[MAXQ * 4];
    static int64_t ack_lat[MAXQ * 4];
    static size_t ack_bytes[MAXQ * 4];
    size_t nacks = 0, acks_done = 0;
    static double waits[100000];
    size_t nwaits = 0;
    int64_t busy = 0, half = (int64_t)seconds * 500;
    struct result r = { 0, 0, (size_t)-1, 0 };
    for (int64_t now = 1; now <= (int64_t)seconds * 1000; now++) {
        /* Acknowledgements due now reach the sender. */
        while (acks_done < nacks && ack_at[acks_done] <= now) {
            pace_ack(&p, now, ack_lat[acks_done], ack_bytes[acks_done]);
            inflight--;
            acks_done++;
        }
        /* The sender: a live message every 200 ms, backlog up to the window. */
        if (now % 200 == 0 && tail - head < MAXQ)
            q[tail++ % MAXQ] = (struct sim_msg){ now, 0, 300, 1 };
        while (inflight < pace_window(&p) && tail - head < MAXQ) {
            q[tail++ % MAXQ] = (struct sim_msg){ now, 0, msg_bytes, 0 };
            inflight++;
        }
        /* The link sends rate bytes this millisecond. */
        double budget = rate;
        if (head < tail && now > half)
            busy++;
        while (budget > 0 && head < tail) {
            struct sim_msg *m = &q[head % MAXQ];
            if (left <= 0)
                left = (double)m->bytes;
            double take = left < budget ? left : budget;
            left -= take;
            budget -= take;
            if (left > 0)
                break;
            int64_t arrive = now + one_way;
            if (m->live) {
                if (now > half && nwaits < sizeof waits / sizeof *waits)
                    waits[nwaits++] = (double)(arrive - m->sent);
            } else if (nacks < sizeof ack_at / sizeof *ack_at) {
                ack_at[nacks] = arrive + one_way;
                ack_lat[nacks] = arrive + one_way - m->sent;
                ack_bytes[nacks] = m->bytes;
                nacks++;
            }
            head++;
        }
        if (now > half) {
            size_t w = pace_window(&p);
            if (w < r.window_min)
                r.window_min = w;
            if (w > r.window_max)
                r.window_max = w;
        }
        if (nacks == sizeof ack_at / sizeof *ack_at)
            break;      /* (not reached at these sizes) */
    }
    r.utilisation = (double)busy / (double)((int64_t)seconds * 1000 - half);
    /* p99 of the live waits: a partial selection is enough for a test. */
    for (size_t i = 0; i < nwaits; i++)
        for (size_t j = i + 1; j < nwaits; j++)
            if (waits[j] < waits[i]) {
                double t = waits[i];
                waits[i] = waits[j];
                waits[j] = t;
            }
    r.live_wait_p99 = nwaits ? waits[nwaits * 99 / 100] : 0;
    return r;
}

/* 256 kbit/s, 600 ms RTT, 13 KB backlog messages: what the WAN bench measures. */
static void test_slow_link(void)
{
    struct result paced = run(32.0, 300, 13000, 31, 250, 300);
    struct result unpaced = run(32.0, 300, 13000, 31, 0, 300);
    printf("  slow link: paced %.1f %% busy, live p99 %.0f ms, window %zu..%zu; "
           "unpaced %.1f %%, live p99 %.0f ms\n", 100 * paced.utilisation, paced.live_wait_p99,
           paced.window_min, paced.window_max, 100 * unpaced.utilisation, unpaced.live_wait_p99);
    CHECK(paced.utilisation >= 0.90);
    /* A live message waits behind at most a few backlog messages (0.4 s each
     * here) and the way across: not behind the whole window. */
    CHECK(paced.live_wait_p99 < 2000);
    CHECK(unpaced.live_wait_p99 > 5 * paced.live_wait_p99);
    CHECK(paced.window_max < 10);
}

/* A fast link (10 MB/s, 1 ms each way): the delay never nears the target. */
static void test_fast_link(void)
{
    struct result r = run(10000.0, 1, 13000, 31, 250, 20);
    CHECK(r.window_min == 31 && r.window_max == 31);
}

static void test_unpaced_and_bounds(void)
{
    struct pace p;
    pace_init(&p, 31, 0);
    CHECK(pace_window(&p) == 31);   /* backfill_delay = 0: the whole window */
    pace_init(&p, 1, 250);
    CHECK(pace_window(&p) == 1);    /* max_inflight 1 or 2 */
    pace_init(&p, 31, 250);
    CHECK(pace_window(&p) == 2);    /* a fresh connection starts at two */
    /* Far over the target: down to one, never zero. */
    pace_ack(&p, 1, 100, 1000);
    for (int i = 0; i < 100; i++)
        pace_ack(&p, 2 + i, 5000, 1000);
    CHECK(pace_window(&p) == 1);
    /* A short message (a span's last) does not set the link's own delay: the
     * full-sized ones after it are not taken for queued. */
    pace_init(&p, 31, 250);
    pace_ack(&p, 1, 900, 13000);
    pace_ack(&p, 2, 500, 1000);
    pace_ack(&p, 3, 900, 13000);
    CHECK(p.queued_ms == 0);
    pace_restart(&p);
    CHECK(pace_window(&p) == 2);
}

int main(void)
{
    RUN(test_unpaced_and_bounds);
    RUN(test_fast_link);
    RUN(test_slow_link);
    return UNIT_END();
}
