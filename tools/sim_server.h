/* sim_server: the simulator's Modbus TCP server loop, many clients at once on libmodbus. */
#ifndef GANZHI_SIM_SERVER_H
#define GANZHI_SIM_SERVER_H

#include <signal.h>
#include "tools/sim_reply.h"
#include <modbus.h>

struct sim_server_options {
    const char *address;    /* IPv4 address to listen on, "0.0.0.0" for all */
    int port;               /* 1..65535 */
    unsigned max_clients;   /* connections served at once; more are accepted and closed */
    unsigned tick_ms;       /* period of the tick callback */
};

/* Called every tick_ms with the seconds elapsed since the last call (or since the
 * server started). The plant moves here, between requests, never inside one. */
typedef void sim_tick_fn(void *arg, double dt);

struct sim_server_stats {
    unsigned long accepted, refused, dropped;   /* dropped: closed by us, for garbage or errors */
    unsigned long requests;                     /* whole ADUs received, any unit id */
};

struct sim_server;

/* Listen. Returns 0, or -1 with errno set (EINVAL for a bad address, EADDRINUSE, ...). */
int sim_server_open(const struct sim_server_options *opt, struct sim_server **out);

/* Serve the farm behind `rep` until *stop becomes non-zero (a signal handler sets it; the loop wakes at
 * least every tick). Returns 0 when stopped, or -1 with errno on a fatal error. */
int sim_server_run(struct sim_server *s, struct sim_reply *rep, sim_tick_fn *tick, void *arg,
                   volatile sig_atomic_t *stop);

void sim_server_stats(const struct sim_server *s, struct sim_server_stats *out);

/* Closes every connection. Accepts NULL. */
void sim_server_close(struct sim_server *s);

#endif
