/*
 * mb_link: one Modbus wire, whatever carries it. Three transports:
 *  - MB_TCP: Modbus TCP (MBAP framing) to host:port: a PLC, or a TCP->RTU
 *    gateway with many unit ids behind it, shared by every device there;
 *  - MB_RTU_SERIAL: RTU on the gateway's own serial port (libmodbus), shared by
 *    every device on that RS-485 bus;
 *  - MB_RTU_TCP: RTU frames, CRC and all, inside a TCP socket: a serial device
 *    server or DTU we dial, or a DTU that dialled in to us (dtu_listen.h).
 * Whatever the transport, requests on a link never overlap (its owner is one
 * thread), each device has its own unit id and timeout (mb_link_target), and
 * nothing is ever taken for the answer to another request: RTU replies are
 * checked for unit, function, length and CRC and the line is drained after an
 * error; MBAP replies for another transaction or unit are discarded. A link is
 * reopened only when its connection fails, never because one unit is silent.
 */
#ifndef GANZHI_MB_LINK_H
#define GANZHI_MB_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "drivers/mb_plan.h"

enum mb_transport { MB_TCP, MB_RTU_SERIAL, MB_RTU_TCP };
enum mb_echo { MB_ECHO_AUTO, MB_ECHO_ON, MB_ECHO_OFF };

struct dtu_slot;

struct mb_link_params {
    enum mb_transport transport;
    const char *host;       /* MB_TCP, and MB_RTU_TCP dialling out */
    int port;
    struct dtu_slot *dtu;   /* MB_RTU_TCP dialled in: connections come from here */
    const char *serial;     /* MB_RTU_SERIAL */
    /* The serial line (for MB_RTU_TCP, the one behind the bridge: timing only). */
    int baud;
    char parity;
    int data_bits, stop_bits;
    int64_t frame_gap_us;   /* MB_RTU_TCP: pause before each request; < 0: 3.5 characters */
    enum mb_echo echo;      /* MB_RTU_TCP: does the link send our requests back? */
    int unit_id;            /* default target, see mb_link_target() */
    int64_t timeout_ms;     /* response timeout; also the TCP connect timeout */
};

/* What a request came to. */
enum mb_status {
    MB_OK,
    MB_ERR_COMM,        /* no answer, connection refused or lost: quality comm_fail */
    MB_ERR_EXCEPTION,   /* the device answered with an exception: quality exception */
    MB_ERR_REPLY,       /* an answer that is not a valid reply (CRC, length, id) */
};

struct mb_link_stats {
    uint64_t drained_bytes;     /* stray bytes discarded (late replies, noise) */
    uint64_t crc_errors, bad_replies, timeouts;
    uint64_t foreign;           /* valid replies for another unit or transaction, discarded */
    uint64_t echoes;            /* our own requests sent back by the link, skipped */
    uint64_t heartbeats;        /* a DTU's heartbeat or registration packets stripped */
    uint64_t connects;          /* connections opened (or DTU connections taken) */
    uint64_t disconnects;       /* connections lost, closed by the peer or reopened */
};

struct mb_link;

struct mb_link *mb_link_new(const struct mb_link_params *p, char *err, size_t errlen);
void mb_link_free(struct mb_link *l);
/* Connect (open the port) if not yet. MB_OK or MB_ERR_COMM with the reason. */
enum mb_status mb_link_connect(struct mb_link *l, char *err, size_t errlen);
void mb_link_close(struct mb_link *l);
/* The device the next requests are for: its unit id and its own timeout. */
void mb_link_target(struct mb_link *l, int unit_id, int64_t timeout_ms);
/* Print every frame sent and received, in hex with timing, to out (NULL: off). */
void mb_link_set_trace(struct mb_link *l, FILE *out);
void mb_link_get_stats(const struct mb_link *l, struct mb_link_stats *out);
/* Microseconds one character takes on the serial line (0 for Modbus TCP). */
int64_t mb_link_char_us(const struct mb_link *l);
/* "tcp 10.0.0.5:502", "rtu /dev/ttyS1 9600 8N1", "rtu-tcp dtu GZ01 from 1.2.3.4:5555". */
void mb_link_describe(const struct mb_link *l, char *buf, size_t len);
/* 1 while connected (or the port open). */
int mb_link_is_open(const struct mb_link *l);
/* Test seam, for the fuzz targets: connect a Modbus TCP or RTU-over-TCP link
 * (not a DTU's) to a buffer instead of a socket. Requests go nowhere; after the
 * next one the peer sends b[0..n), at most `piece` bytes at a time (0: all that
 * fits), then closes; no wait is ever real. b must outlive that request. 0, or
 * -1 for a link of another transport. */
int mb_link_feed(struct mb_link *l, const uint8_t *b, size_t n, size_t piece);

/* Perform one read into regs (input/holding) or bits (coil/discrete), each with
 * room for r->count values. On MB_ERR_EXCEPTION *exc holds the code. */
enum mb_status mb_link_read(struct mb_link *l, const struct mb_read *r, uint16_t *regs,
                            uint8_t *bits, int *exc, char *err, size_t errlen);

#endif
