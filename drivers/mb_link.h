/* mb_link: one Modbus connection (TCP socket or serial port) over libmodbus, with
 * explicit timeouts and errors sorted into what the agent must tell apart. */
#ifndef GANZHI_MB_LINK_H
#define GANZHI_MB_LINK_H

#include <stddef.h>
#include <stdint.h>
#include "drivers/mb_plan.h"

struct mb_link_params {
    int rtu;                /* 0: TCP to host:port; 1: RTU on serial */
    const char *host;
    int port;
    const char *serial;
    int baud;
    char parity;
    int data_bits, stop_bits;
    int unit_id;
    int64_t timeout_ms;     /* response timeout; also the TCP connect timeout */
};

/* What a request came to. */
enum mb_status {
    MB_OK,
    MB_ERR_COMM,        /* no answer, connection refused or lost: quality comm_fail */
    MB_ERR_EXCEPTION,   /* the device answered with an exception: quality exception */
    MB_ERR_REPLY,       /* an answer that is not a valid reply (CRC, length, id) */
};

struct mb_link;

struct mb_link *mb_link_new(const struct mb_link_params *p, char *err, size_t errlen);
void mb_link_free(struct mb_link *l);
/* Connect if not connected. MB_OK or MB_ERR_COMM with the reason in err. */
enum mb_status mb_link_connect(struct mb_link *l, char *err, size_t errlen);
void mb_link_close(struct mb_link *l);
/* Print every frame sent and received (hex, with timing) to stderr. */
void mb_link_set_trace(struct mb_link *l, int on);

/* Perform one read of the plan into regs (input/holding) or bits (coil/discrete),
 * each with room for r->count values. On MB_ERR_EXCEPTION *exc holds the code.
 * A communication error closes the connection (the next request reconnects), so
 * a late reply is never taken for the next request's. */
enum mb_status mb_link_read(struct mb_link *l, const struct mb_read *r, uint16_t *regs,
                            uint8_t *bits, int *exc, char *err, size_t errlen);

#endif
