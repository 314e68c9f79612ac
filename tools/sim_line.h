/* sim_line: the one RS-485 line behind a TCP socket (a serial device server, a TCP to RTU gateway, a DTU): requests queue and are served one at a time, paced at the line's baud rate when asked. */
#ifndef GANZHI_SIM_LINE_H
#define GANZHI_SIM_LINE_H

#include "tools/sim_reply.h"

#define SIM_LINE_QUEUE 64       /* requests waiting for the line; more are lost, counted */

/* A request waiting for the line, as it came from its connection. */
struct sim_line_job {
    unsigned slot, gen;         /* the connection it came on */
    double arrived;
    int good;                   /* RTU: a whole frame with a good CRC; TCP: always */
    size_t len;
    uint8_t buf[SIM_ADU_MAX];
};

struct sim_line_stats {
    unsigned long served;       /* requests taken onto the line */
    unsigned long overlaps;     /* a request taken while the last one's reply was still to
                                 * go out: two in service at once. Must stay 0. */
    unsigned long queue_max;    /* most requests waiting or in service at once */
    unsigned long queue_full;   /* requests lost: the queue was full */
    double busy_s;              /* time the line spent serving */
};

struct sim_line {
    int paced;
    double char_s, gap_s;       /* a character on the wire; the t3.5 silence */
    struct sim_line_job q[SIM_LINE_QUEUE];
    unsigned head, n;           /* a ring */
    int busy;                   /* a request in service, until `end` */
    double start, end;
    int open;                   /* the request in service has output still to go out */
    struct sim_line_stats st;
};

/* Paced or not, with the timing of sim_rtu_timing. */
void sim_line_init(struct sim_line *l, int paced, double char_s, double gap_s);

/* The place for a request at the tail of the queue, to be filled in; NULL (counted) when
 * the queue is full. */
struct sim_line_job *sim_line_push(struct sim_line *l);

/* If the request in service has ended by `now` the line is free again; then, if a request
 * waits, it is taken into *job and in service from `now` (its output open): 1. Else 0. */
int sim_line_next(struct sim_line *l, double now, struct sim_line_job *job);

/* The request just taken is served until `end` (>= its start). */
void sim_line_hold(struct sim_line *l, double end);

/* Its last output has gone out (or was dropped with its connection). */
void sim_line_closed(struct sim_line *l);

/* The wire time of n characters (0 when not paced), and of the t3.5 silence. */
double sim_line_wire(const struct sim_line *l, size_t n);
double sim_line_turn(const struct sim_line *l);

/* When the request in service ends, or `until` when no request is or that is later. */
double sim_line_due(const struct sim_line *l, double until);

#endif
