/*
 * mb_link: one Modbus wire over libmodbus: a TCP connection, or a serial port that
 * every device on that RS-485 bus shares. Requests on a link never overlap (its
 * owner is one thread); on a serial line the 3.5-character silence is kept
 * between frames, and after a timeout or a garbled reply the line is drained
 * until quiet, so a late reply is never taken for the next request's (RTU has no
 * transaction id). Errors are sorted into what the agent must tell apart.
 */
#ifndef GANZHI_MB_LINK_H
#define GANZHI_MB_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "drivers/mb_plan.h"

struct mb_link_params {
    int rtu;                /* 0: TCP to host:port; 1: RTU on serial */
    const char *host;
    int port;
    const char *serial;
    int baud;
    char parity;
    int data_bits, stop_bits;
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
    uint64_t drained_bytes;     /* stray bytes discarded after errors (late replies, noise) */
    uint64_t crc_errors, bad_replies, timeouts;
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
/* Microseconds one character takes on this serial line (0 for TCP). */
int64_t mb_link_char_us(const struct mb_link *l);

/* Perform one read into regs (input/holding) or bits (coil/discrete), each with
 * room for r->count values. On MB_ERR_EXCEPTION *exc holds the code. */
enum mb_status mb_link_read(struct mb_link *l, const struct mb_read *r, uint16_t *regs,
                            uint8_t *bits, int *exc, char *err, size_t errlen);

#endif
