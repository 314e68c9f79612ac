/* sim_rtu: the simulator's Modbus RTU slave loop on a serial device or pty, several unit ids on one line. */
#ifndef GANZHI_SIM_RTU_H
#define GANZHI_SIM_RTU_H

#include "tools/sim_reply.h"
#include "tools/sim_server.h"
#include <signal.h>

struct sim_rtu_options {
    const char *path;       /* serial device or pty end */
    long baud;              /* one of the standard rates, see sim_rtu_baud_ok */
    char parity;            /* 'N', 'E' or 'O' */
    int data_bits;          /* 7 or 8 */
    int stop_bits;          /* 1 or 2 */
    unsigned tick_ms;       /* period of the tick callback */
};

struct sim_rtu;

#define SIM_RTU_MAX 256         /* the largest RTU ADU */

/* A byte stream (a serial line, a TCP connection) cut into RTU frames as a slave does it:
 * a frame ends when the bytes so far form a frame whose length the function code gives
 * and whose CRC is good, or else after the t3.5 silence, whatever is buffered then being
 * one frame (good or not). More than SIM_RTU_MAX bytes before a silence is an overrun. */
struct sim_rtu_rx {
    uint8_t buf[SIM_RTU_MAX];
    size_t len;
    int overrun;                /* more than a frame's worth: ignored until the silence */
    double last;                /* when the last byte came (CLOCK_MONOTONIC seconds) */
};

enum sim_rtu_cut {
    SIM_FRAME_GOOD,             /* 4..256 bytes with a good CRC */
    SIM_FRAME_BAD,              /* too short, or a bad CRC */
    SIM_FRAME_OVERRUN           /* longer than any frame (buf holds the first 256 bytes) */
};

/* One frame cut, ending at `end`. Returns 0, or -1 with errno to stop. */
typedef int sim_rtu_frame_fn(void *arg, const uint8_t *frame, size_t len,
                             enum sim_rtu_cut cut, double end);

/* Bytes received at time t: buffer them and pass on every whole frame the function code
 * and CRC delimit. Returns 0, or the callback's -1. */
int sim_rtu_rx_feed(struct sim_rtu_rx *rx, const uint8_t *p, size_t n, double t,
                    sim_rtu_frame_fn *fn, void *arg);

/* When the silence after the buffered bytes will have lasted gap_s; `until` when nothing
 * is buffered or that is later. */
double sim_rtu_rx_due(const struct sim_rtu_rx *rx, double gap_s, double until);

/* If the silence has come by `now`, pass on what is buffered as one frame (good, bad or
 * overrun) and empty the buffer. Returns 0, or the callback's -1. */
int sim_rtu_rx_silence(struct sim_rtu_rx *rx, double now, double gap_s,
                       sim_rtu_frame_fn *fn, void *arg);

/* The time of one character on a line of these settings, and the t3.5 silence that ends
 * a frame (1.75 ms above 19200 baud, as the specification fixes). */
void sim_rtu_timing(long baud, char parity, int data_bits, int stop_bits, double *char_s,
                    double *gap_s);

/* 1 for a baud rate termios can set here (1200 .. 230400), else 0. */
int sim_rtu_baud_ok(long baud);

/* Open the port in raw mode at the options' speed and framing. Returns 0, or -1 with
 * errno set. */
int sim_rtu_open(const struct sim_rtu_options *opt, struct sim_rtu **out);

/* Serve until *stop becomes non-zero; the loop wakes at least every tick. Returns 0 when
 * stopped, or -1 with errno on a fatal error. */
int sim_rtu_run(struct sim_rtu *s, struct sim_reply *rep, sim_tick_fn *tick, void *arg,
                volatile sig_atomic_t *stop);

/* Accepts NULL. */
void sim_rtu_close(struct sim_rtu *s);

#endif
