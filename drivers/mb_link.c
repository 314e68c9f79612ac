/* mb_link: the transport-independent half of a request: the read PDU, the
 * reply's function, length and exception, values unpacked, tracing, and which
 * backend serves which transport. */
#include "drivers/mb_link_impl.h"
#include "core/clock.h"
#include <stdlib.h>
#include <string.h>

struct mb_link *mb_link_new(const struct mb_link_params *p, char *err, size_t errlen)
{
    struct mb_link *l = p->transport == MB_RTU_SERIAL ? mb_link_serial_new(p, err, errlen)
                                                      : mb_link_stream_new(p, err, errlen);
    if (!l)
        return NULL;
    l->unit_id = p->unit_id;
    l->timeout_ms = p->timeout_ms;
    mb_link_target(l, p->unit_id, p->timeout_ms);
    return l;
}

void mb_link_free(struct mb_link *l)
{
    if (!l)
        return;
    mb_link_close(l);
    l->ops->destroy(l);
}

void mb_link_serial_timing(struct mb_link *l)
{
    const struct mb_link_params *p = &l->p;
    int bits = 1 + p->data_bits + (p->parity != 'N') + p->stop_bits;
    l->char_us = (int64_t)bits * 1000000 / (p->baud > 0 ? p->baud : 9600);
    /* Modbus over serial line: above 19200 baud the gap is fixed at 1.75 ms. */
    l->gap_us = p->baud > 19200 ? 1750 : l->char_us * 7 / 2;
}

enum mb_status mb_link_connect(struct mb_link *l, char *err, size_t errlen)
{
    if (l->open)
        return MB_OK;
    enum mb_status st = l->ops->open(l, err, errlen);
    if (st == MB_OK) {
        l->open = 1;
        l->st.connects++;
    }
    return st;
}

void mb_link_close(struct mb_link *l)
{
    if (l->open) {
        l->ops->close(l);
        l->open = 0;
    }
}

void mb_link_target(struct mb_link *l, int unit_id, int64_t timeout_ms)
{
    l->unit_id = unit_id;
    l->timeout_ms = timeout_ms;
}

void mb_link_set_trace(struct mb_link *l, FILE *out)
{
    l->trace = out;
    l->trace_t0 = mono_us();
}

void mb_link_get_stats(const struct mb_link *l, struct mb_link_stats *out) { *out = l->st; }
int64_t mb_link_char_us(const struct mb_link *l) { return l->char_us; }
int mb_link_is_open(const struct mb_link *l) { return l->open; }

void mb_link_describe(const struct mb_link *l, char *buf, size_t len)
{
    l->ops->describe(l, buf, len);
}

void mb_link_trace(struct mb_link *l, const char *dir, const uint8_t *b, size_t n,
                   const char *note)
{
    if (!l->trace)
        return;
    fprintf(l->trace, "%10.3f ms %s", (double)(mono_us() - l->trace_t0) / 1000.0, dir);
    for (size_t i = 0; i < n; i++)
        fprintf(l->trace, " %02X", b[i]);
    fprintf(l->trace, "%s%s\n", note && note[0] ? "  " : "", note ? note : "");
    fflush(l->trace);
}

static const char *exception_text(int code)
{
    switch (code) {
    case 1: return "illegal function";
    case 2: return "illegal data address";
    case 3: return "illegal data value";
    case 4: return "slave device failure";
    case 5: return "acknowledge";
    case 6: return "slave device busy";
    case 8: return "memory parity error";
    case 10: return "gateway path unavailable";
    case 11: return "gateway target device failed to respond";
    default: return "unknown exception";
    }
}

enum mb_status mb_link_read(struct mb_link *l, const struct mb_read *r, uint16_t *regs,
                            uint8_t *bits, int *exc, char *err, size_t errlen)
{
    static const uint8_t fcs[] = { 0x01, 0x02, 0x04, 0x03 };    /* by enum mb_area */
    uint8_t fc = fcs[r->area];
    uint8_t req[5] = { fc, (uint8_t)(r->start >> 8), (uint8_t)r->start,
                       (uint8_t)(r->count >> 8), (uint8_t)r->count };
    uint8_t rsp[MB_PDU_MAX];
    size_t n = 0;
    *exc = 0;
    enum mb_status st = mb_link_connect(l, err, errlen);
    if (st != MB_OK)
        return st;
    st = l->ops->request(l, req, sizeof req, rsp, &n, err, errlen);
    if (st != MB_OK) {
        if (l->open)
            l->ops->drain(l);
        return st;
    }
    if (n >= 2 && rsp[0] == (fc | 0x80)) {
        *exc = rsp[1];
        snprintf(err, errlen, "%s (exception %d)", exception_text(*exc), *exc);
        return MB_ERR_EXCEPTION;
    }
    size_t bytes = mb_is_bit_area(r->area) ? (r->count + 7u) / 8u : r->count * 2u;
    if (n != 2 + bytes || rsp[0] != fc || rsp[1] != bytes) {
        l->st.bad_replies++;
        snprintf(err, errlen, "reply does not match the request (function %u, %zu bytes)",
                 n ? rsp[0] : 0u, n);
        l->ops->drain(l);
        return MB_ERR_REPLY;
    }
    const uint8_t *d = rsp + 2;
    if (mb_is_bit_area(r->area))
        for (unsigned i = 0; i < r->count; i++)
            bits[i] = (d[i / 8] >> (i % 8)) & 1;
    else
        for (unsigned i = 0; i < r->count; i++)
            regs[i] = (uint16_t)(d[2 * i] << 8 | d[2 * i + 1]);
    return MB_OK;
}
