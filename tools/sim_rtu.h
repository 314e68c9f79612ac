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
