/* sim_line: the serial line behind a socket: one request at a time, in arrival order.
 *
 * A serial device server or a TCP to RTU gateway has one RS-485 line behind however many
 * connections it accepts: a request goes out, its slave answers, and only then can the
 * next request go out. Paced, a request holds the line for its bytes, the t3.5 turnaround
 * and the reply's bytes at the line's character time, so a master reading through the
 * socket gets at most what the wire carries. The caller decides what a request's service
 * sends and when; the line only says when it may start and checks that the last one's
 * output has gone before the next is taken (overlaps, which must stay 0).
 */
#include "tools/sim_line.h"
#include <string.h>

void sim_line_init(struct sim_line *l, int paced, double char_s, double gap_s)
{
    memset(l, 0, sizeof *l);
    l->paced = paced;
    l->char_s = char_s;
    l->gap_s = gap_s;
}

struct sim_line_job *sim_line_push(struct sim_line *l)
{
    if (l->n == SIM_LINE_QUEUE) {
        l->st.queue_full++;
        return NULL;
    }
    struct sim_line_job *j = &l->q[(l->head + l->n++) % SIM_LINE_QUEUE];
    unsigned long depth = l->n + (unsigned)l->busy;
    if (depth > l->st.queue_max)
        l->st.queue_max = depth;
    return j;
}

int sim_line_next(struct sim_line *l, double now, struct sim_line_job *job)
{
    if (l->busy && now >= l->end) {
        l->busy = 0;
        l->st.busy_s += l->end - l->start;
    }
    if (l->busy || l->n == 0)
        return 0;
    if (l->open)
        l->st.overlaps++;
    *job = l->q[l->head];
    l->head = (l->head + 1) % SIM_LINE_QUEUE;
    l->n--;
    l->busy = 1;
    l->open = 1;
    l->st.served++;
    l->start = l->end = now;
    return 1;
}

void sim_line_hold(struct sim_line *l, double end)
{
    if (end > l->end)
        l->end = end;
}

void sim_line_closed(struct sim_line *l)
{
    l->open = 0;
}

double sim_line_wire(const struct sim_line *l, size_t n)
{
    return l->paced ? (double)n * l->char_s : 0;
}

double sim_line_turn(const struct sim_line *l)
{
    return l->paced ? l->gap_s : 0;
}

double sim_line_due(const struct sim_line *l, double until)
{
    return l->busy && l->end < until ? l->end : until;
}
