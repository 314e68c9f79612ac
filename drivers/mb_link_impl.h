/* mb_link_impl: what every transport of mb_link provides (the ops) and shares
 * (the state a backend embeds first). Only drivers/mb_link*.c include this. */
#ifndef GANZHI_MB_LINK_IMPL_H
#define GANZHI_MB_LINK_IMPL_H

#include "drivers/mb_frame.h"
#include "drivers/mb_link.h"

struct mb_link_ops {
    /* Open the connection or port. MB_OK, or MB_ERR_COMM with the reason. */
    enum mb_status (*open)(struct mb_link *l, char *err, size_t errlen);
    /* Send one request PDU (function code first) to l->unit_id and receive its
     * reply PDU into rsp (room for MB_PDU_MAX): framing, CRC, transaction and
     * unit are the backend's to check. MB_OK with *rsplen; MB_ERR_COMM (no
     * answer, connection lost) or MB_ERR_REPLY (garbled), counted in l->st. */
    enum mb_status (*request)(struct mb_link *l, const uint8_t *req, size_t reqlen,
                              uint8_t *rsp, size_t *rsplen, char *err, size_t errlen);
    /* After an error: discard whatever late or garbled bytes follow. */
    void (*drain)(struct mb_link *l);
    void (*close)(struct mb_link *l);
    void (*describe)(const struct mb_link *l, char *buf, size_t len);
    void (*destroy)(struct mb_link *l);
};

struct mb_link {
    const struct mb_link_ops *ops;
    struct mb_link_params p;
    int open;
    int unit_id;
    int64_t timeout_ms;
    int64_t char_us;        /* one character on the serial line (0: none) */
    int64_t gap_us;         /* the silence that ends an RTU frame: 3.5 characters */
    FILE *trace;
    int64_t trace_t0;
    struct mb_link_stats st;
};

/* Set the serial timing of l from its params (char_us, gap_us). */
void mb_link_serial_timing(struct mb_link *l);
/* One frame to the trace: direction ">" or "<", bytes, and a note. */
void mb_link_trace(struct mb_link *l, const char *dir, const uint8_t *b, size_t n,
                   const char *note);

struct mb_link *mb_link_serial_new(const struct mb_link_params *p, char *err, size_t errlen);
struct mb_link *mb_link_stream_new(const struct mb_link_params *p, char *err, size_t errlen);

#endif
