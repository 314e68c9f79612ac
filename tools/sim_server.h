/* sim_server: the simulator's TCP side: a Modbus TCP server (many clients, on libmodbus's replies), a TCP to RTU gateway, RTU over TCP, and a DTU that dials out. */
#ifndef GANZHI_SIM_SERVER_H
#define GANZHI_SIM_SERVER_H

#include <signal.h>
#include <stdio.h>
#include "tools/sim_line.h"
#include "tools/sim_reply.h"
#include <modbus.h>

enum sim_serve_mode {
    SIM_SERVE_TCP,          /* Modbus TCP (MBAP), every request answered at once */
    SIM_SERVE_GATEWAY,      /* Modbus TCP in front of one paced RS-485 line */
    SIM_SERVE_RTU_TCP,      /* RTU frames in TCP connections (a serial device server) */
    SIM_SERVE_DIAL          /* RTU frames in one connection we open (a DTU dialling in) */
};

/* A DTU's side of dialling in. */
struct sim_dial_options {
    const uint8_t *reg;     /* registration packet sent first; reg_len 0: none */
    size_t reg_len;
    double register_delay_s;    /* wait this long after connecting before sending it */
    const uint8_t *hb;      /* heartbeat packet; hb_len 0: none */
    size_t hb_len;
    double heartbeat_s;     /* the heartbeat's period, > 0 */
    double redial_after_s;  /* drop the connection after this long; 0: never */
    double redial_wait_s;   /* pause before dialling again */
};

struct sim_server_options {
    enum sim_serve_mode mode;
    const char *address;    /* IPv4 or IPv6 literal to listen on ("0.0.0.0", "::" for all);
                             * dial: the address to connect to */
    int port;               /* 1..65535 */
    unsigned max_clients;   /* connections served at once; more are accepted and closed */
    unsigned tick_ms;       /* period of the tick callback */
    int paced;              /* RTU over TCP, dial: requests take the wire time (a gateway
                             * always paces) */
    double char_s, gap_s;   /* the line behind: a character, the t3.5 silence */
    double gateway_timeout_s;   /* gateway: a silent unit gets 0x0B after this */
    struct sim_dial_options dial;
};

/* Called every tick_ms with the seconds elapsed since the last call (or since the
 * server started). The plant moves here, between requests, never inside one. */
typedef void sim_tick_fn(void *arg, double dt);

struct sim_dial_stats {
    unsigned long dials;            /* connection attempts */
    unsigned long failed;           /* attempts that did not connect */
    unsigned long registrations;    /* registration packets sent */
    unsigned long heartbeats;       /* heartbeat packets sent at the interval */
    unsigned long heartbeats_inside;    /* heartbeat packets sent inside a reply */
    unsigned long drops;            /* connections closed by the `drop` directive */
    unsigned long expired;          /* connections closed by --redial-after */
};

struct sim_server_stats {
    unsigned long accepted, refused, dropped;   /* dropped: closed by us, for garbage or errors */
    unsigned long requests;                     /* whole ADUs or RTU frames received, any unit id */
    unsigned long closed;                       /* connections the peer closed */
    unsigned long hangups;                      /* closed instead of answering: `hangup` */
    unsigned long closed_after_reply;           /* closed after a reply: `close-after-reply` */
    unsigned long echoes;                       /* request frames sent back: `echo` */
    unsigned long target_failed;                /* gateway: exception 0x0B sent */
    unsigned long path_unavailable;             /* gateway: exception 0x0A sent */
    struct sim_line_stats line;
    struct sim_dial_stats dial;
};

struct sim_server;

/* Listen (dial: get ready to connect). Returns 0, or -1 with errno set (EINVAL for a bad
 * address, EADDRINUSE, ...). */
int sim_server_open(const struct sim_server_options *opt, struct sim_server **out);

/* Serve the farm behind `rep` until *stop becomes non-zero (a signal handler sets it; the loop wakes at
 * least every tick). Returns 0 when stopped, or -1 with errno on a fatal error. */
int sim_server_run(struct sim_server *s, struct sim_reply *rep, sim_tick_fn *tick, void *arg,
                   volatile sig_atomic_t *stop);

void sim_server_stats(const struct sim_server *s, struct sim_server_stats *out);

/* The address served or dialled, as "ADDR:PORT" or "[ADDR]:PORT". */
const char *sim_server_where(const struct sim_server *s);

/* The counters as lines like sim_stats_print's, by mode:
 *   ganzhi-sim: stats link mode=M accepted= refused= dropped= closed= requests= hangups=
 *               closed_after_reply=
 *   ganzhi-sim: stats line paced= served= busy_ms= queue_max= queue_full= overlaps=
 *               echoes= target_failed= path_unavailable=     (gateway, RTU over TCP, dial)
 *   ganzhi-sim: stats dial dials= failed= registrations= heartbeats=
 *               heartbeats_inside= drops= expired=                            (dial)
 * (each on one line). */
void sim_server_print_stats(const struct sim_server *s, FILE *out);

/* Closes every connection. Accepts NULL. */
void sim_server_close(struct sim_server *s);

#endif
