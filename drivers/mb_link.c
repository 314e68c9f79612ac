/* mb_link: libmodbus contexts for TCP and RTU, timeouts, and error classification. */
#include "drivers/mb_link.h"
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mb_link {
    struct mb_link_params p;
    modbus_t *ctx;
    int connected;
};

static void set_timeouts(modbus_t *ctx, int64_t ms)
{
    modbus_set_response_timeout(ctx, (uint32_t)(ms / 1000), (uint32_t)(ms % 1000) * 1000);
    /* Between bytes of one frame: generous for TCP segments, a few characters at
     * 9600 baud for serial. */
    modbus_set_byte_timeout(ctx, 0, 200000);
}

struct mb_link *mb_link_new(const struct mb_link_params *p, char *err, size_t errlen)
{
    struct mb_link *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->p = *p;
    if (p->rtu)
        l->ctx = modbus_new_rtu(p->serial, p->baud, p->parity, p->data_bits, p->stop_bits);
    else {
        char port[16];
        snprintf(port, sizeof port, "%d", p->port);
        l->ctx = modbus_new_tcp_pi(p->host, port);
    }
    if (!l->ctx) {
        snprintf(err, errlen, "%s", modbus_strerror(errno));
        free(l);
        return NULL;
    }
    modbus_set_slave(l->ctx, p->unit_id);
    set_timeouts(l->ctx, p->timeout_ms);
    return l;
}

void mb_link_free(struct mb_link *l)
{
    if (!l)
        return;
    mb_link_close(l);
    modbus_free(l->ctx);
    free(l);
}

void mb_link_close(struct mb_link *l)
{
    if (l->connected) {
        modbus_close(l->ctx);
        l->connected = 0;
    }
}

void mb_link_set_trace(struct mb_link *l, int on)
{
    modbus_set_debug(l->ctx, on);
}

enum mb_status mb_link_connect(struct mb_link *l, char *err, size_t errlen)
{
    if (l->connected)
        return MB_OK;
    if (modbus_connect(l->ctx) == -1) {
        if (l->p.rtu)
            snprintf(err, errlen, "%s: %s", l->p.serial, modbus_strerror(errno));
        else
            snprintf(err, errlen, "%s:%d: %s", l->p.host, l->p.port, modbus_strerror(errno));
        /* libmodbus keeps the failed socket open in some paths. */
        modbus_close(l->ctx);
        return MB_ERR_COMM;
    }
    l->connected = 1;
    return MB_OK;
}

static enum mb_status classify(struct mb_link *l, int e, int *exc, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", modbus_strerror(e));
    if (e > MODBUS_ENOBASE && e <= MODBUS_ENOBASE + 11) {
        *exc = e - MODBUS_ENOBASE;
        return MB_ERR_EXCEPTION;
    }
    /* Anything else leaves the link in doubt: drop it, and on a serial line flush
     * what is left of a late or garbled frame before the next request. */
    if (l->p.rtu)
        modbus_flush(l->ctx);
    else
        mb_link_close(l);
    if (e == EMBBADCRC || e == EMBBADDATA || e == EMBBADEXC || e == EMBMDATA || e == EMBBADSLAVE)
        return MB_ERR_REPLY;
    return MB_ERR_COMM;
}

enum mb_status mb_link_read(struct mb_link *l, const struct mb_read *r, uint16_t *regs,
                            uint8_t *bits, int *exc, char *err, size_t errlen)
{
    *exc = 0;
    enum mb_status st = mb_link_connect(l, err, errlen);
    if (st != MB_OK)
        return st;
    int rc;
    switch (r->area) {
    case MB_COIL:     rc = modbus_read_bits(l->ctx, r->start, r->count, bits); break;
    case MB_DISCRETE: rc = modbus_read_input_bits(l->ctx, r->start, r->count, bits); break;
    case MB_INPUT:    rc = modbus_read_input_registers(l->ctx, r->start, r->count, regs); break;
    default:          rc = modbus_read_registers(l->ctx, r->start, r->count, regs); break;
    }
    if (rc == r->count)
        return MB_OK;
    if (rc >= 0) {
        snprintf(err, errlen, "short reply: %d of %u values", rc, r->count);
        return MB_ERR_REPLY;
    }
    return classify(l, errno, exc, err, errlen);
}
