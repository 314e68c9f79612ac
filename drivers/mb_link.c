/* mb_link: libmodbus contexts for TCP and RTU, serial line discipline (inter-frame
 * silence, draining after errors), frame tracing, and error classification. */
#include "drivers/mb_link.h"
#include "core/clock.h"
#include <errno.h>
#include <modbus.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mb_link {
    struct mb_link_params p;
    modbus_t *ctx;
    int connected;
    int unit_id;
    int64_t timeout_ms;
    int64_t char_us;        /* one character on the wire */
    int64_t gap_us;         /* the silence that ends a frame: 3.5 characters */
    int64_t quiet_at_us;    /* the line may be spoken on from this time */
    FILE *trace;
    int64_t trace_t0;
    struct mb_link_stats st;
};


struct mb_link *mb_link_new(const struct mb_link_params *p, char *err, size_t errlen)
{
    struct mb_link *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->p = *p;
    if (p->rtu) {
        l->ctx = modbus_new_rtu(p->serial, p->baud, p->parity, p->data_bits, p->stop_bits);
        /* start + data + parity + stop bits per character */
        int bits = 1 + p->data_bits + (p->parity != 'N') + p->stop_bits;
        l->char_us = (int64_t)bits * 1000000 / (p->baud > 0 ? p->baud : 9600);
        /* Modbus over serial line: above 19200 baud the gap is fixed at 1.75 ms. */
        l->gap_us = p->baud > 19200 ? 1750 : l->char_us * 7 / 2;
    } else {
        char port[16];
        snprintf(port, sizeof port, "%d", p->port);
        l->ctx = modbus_new_tcp_pi(p->host, port);
    }
    if (!l->ctx) {
        snprintf(err, errlen, "%s", modbus_strerror(errno));
        free(l);
        return NULL;
    }
    l->unit_id = -1;
    mb_link_target(l, p->unit_id, p->timeout_ms);
    /* Between two bytes of one frame: a TCP segment may be split; on a serial line
     * a frame is continuous, and a pause of many characters means it was cut. */
    int64_t byte_us = p->rtu ? (l->char_us * 20 > 20000 ? l->char_us * 20 : 20000) : 200000;
    modbus_set_byte_timeout(l->ctx, 0, (uint32_t)byte_us);
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

void mb_link_target(struct mb_link *l, int unit_id, int64_t timeout_ms)
{
    if (unit_id != l->unit_id) {
        modbus_set_slave(l->ctx, unit_id);
        l->unit_id = unit_id;
    }
    if (timeout_ms != l->timeout_ms) {
        modbus_set_response_timeout(l->ctx, (uint32_t)(timeout_ms / 1000),
                                    (uint32_t)(timeout_ms % 1000) * 1000);
        l->timeout_ms = timeout_ms;
    }
}

void mb_link_set_trace(struct mb_link *l, FILE *out)
{
    l->trace = out;
    l->trace_t0 = mono_us();
}

void mb_link_get_stats(const struct mb_link *l, struct mb_link_stats *out) { *out = l->st; }
int64_t mb_link_char_us(const struct mb_link *l) { return l->char_us; }

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
    if (l->p.rtu) {
        /* Whatever a previous user of the port left on the line is not ours. */
        modbus_flush(l->ctx);
        l->quiet_at_us = mono_us() + l->gap_us;
    }
    return MB_OK;
}

/* After a timeout or a bad frame on a serial line: discard bytes until the line
 * has been silent for a whole gap (a late reply, the rest of a garbled frame),
 * bounded by the time of one maximal frame plus the device's timeout. */
static void drain_line(struct mb_link *l)
{
    int fd = modbus_get_socket(l->ctx);
    int64_t limit = mono_us() + 256 * l->char_us + l->timeout_ms * 1000;
    int64_t gap_ms = (l->gap_us + 999) / 1000;
    uint8_t buf[256];
    while (fd >= 0 && mono_us() < limit) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, (int)gap_ms + 1) <= 0)
            break;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        l->st.drained_bytes += (uint64_t)n;
    }
    l->quiet_at_us = mono_us() + l->gap_us;
}

static enum mb_status classify(struct mb_link *l, int e, int *exc, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", modbus_strerror(e));
    if (e > MODBUS_ENOBASE && e <= MODBUS_ENOBASE + 11) {
        *exc = e - MODBUS_ENOBASE;
        return MB_ERR_EXCEPTION;
    }
    if (e == ETIMEDOUT)
        l->st.timeouts++;
    else if (e == EMBBADCRC)
        l->st.crc_errors++;
    else
        l->st.bad_replies++;
    /* The link is in doubt: a TCP connection is dropped (the next request
     * reconnects); a serial line is drained until quiet. */
    if (l->p.rtu)
        drain_line(l);
    else
        mb_link_close(l);
    if (e == EMBBADCRC || e == EMBBADDATA || e == EMBBADEXC || e == EMBMDATA ||
        e == EMBBADSLAVE)
        return MB_ERR_REPLY;
    return MB_ERR_COMM;
}

static void trace_frame(struct mb_link *l, const char *dir, const uint8_t *b, int n,
                        int64_t t_us, const char *note)
{
    fprintf(l->trace, "%10.3f ms %s", (double)(t_us - l->trace_t0) / 1000.0, dir);
    for (int i = 0; i < n; i++)
        fprintf(l->trace, " %02X", b[i]);
    fprintf(l->trace, "%s%s\n", note[0] ? "  " : "", note);
    fflush(l->trace);
}

static uint16_t crc16(const uint8_t *b, int n)
{
    uint16_t crc = 0xFFFF;
    for (int i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

/* The traced read: the same request sent raw, so that the frames can be shown as
 * they are on the wire, and the reply checked and unpacked here. */
static enum mb_status read_traced(struct mb_link *l, const struct mb_read *r, uint16_t *regs,
                                  uint8_t *bits, int *exc, char *err, size_t errlen)
{
    static const uint8_t fcs[] = { 0x01, 0x02, 0x04, 0x03 };    /* by enum mb_area */
    uint8_t req[8] = { (uint8_t)l->unit_id, fcs[r->area], (uint8_t)(r->start >> 8),
                       (uint8_t)r->start, (uint8_t)(r->count >> 8), (uint8_t)r->count };
    char note[64];
    int64_t t0 = mono_us();
    if (l->p.rtu) {
        uint16_t crc = crc16(req, 6);
        req[6] = (uint8_t)crc;
        req[7] = (uint8_t)(crc >> 8);
        trace_frame(l, ">", req, 8, t0, "");
    } else {
        snprintf(note, sizeof note, "(after the MBAP header)");
        trace_frame(l, ">", req, 6, t0, note);
    }
    if (modbus_send_raw_request(l->ctx, req, 6) == -1)
        return classify(l, errno, exc, err, errlen);
    uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH];
    int n = modbus_receive_confirmation(l->ctx, rsp);
    int64_t t1 = mono_us();
    if (n == -1) {
        int e = errno;
        snprintf(note, sizeof note, "(%s after %.1f ms)", modbus_strerror(e), (t1 - t0) / 1000.0);
        trace_frame(l, "<", rsp, 0, t1, note);
        return classify(l, e, exc, err, errlen);
    }
    snprintf(note, sizeof note, "(%.1f ms)", (t1 - t0) / 1000.0);
    trace_frame(l, "<", rsp, n, t1, note);
    int h = modbus_get_header_length(l->ctx);   /* offset of the function code */
    int tail = l->p.rtu ? 2 : 0;
    if (n >= h + 2 && rsp[h] == (fcs[r->area] | 0x80)) {
        *exc = rsp[h + 1];
        snprintf(err, errlen, "%s", modbus_strerror(MODBUS_ENOBASE + *exc));
        return MB_ERR_EXCEPTION;
    }
    int bytes = mb_is_bit_area(r->area) ? (r->count + 7) / 8 : r->count * 2;
    if (n != h + 2 + bytes + tail || rsp[h] != fcs[r->area] || rsp[h + 1] != bytes) {
        snprintf(err, errlen, "reply does not match the request");
        return classify(l, EMBBADDATA, exc, err, errlen);
    }
    const uint8_t *d = rsp + h + 2;
    for (int i = 0; i < r->count; i++) {
        if (mb_is_bit_area(r->area))
            bits[i] = (d[i / 8] >> (i % 8)) & 1;
        else
            regs[i] = (uint16_t)(d[2 * i] << 8 | d[2 * i + 1]);
    }
    return MB_OK;
}

enum mb_status mb_link_read(struct mb_link *l, const struct mb_read *r, uint16_t *regs,
                            uint8_t *bits, int *exc, char *err, size_t errlen)
{
    *exc = 0;
    enum mb_status st = mb_link_connect(l, err, errlen);
    if (st != MB_OK)
        return st;
    if (l->p.rtu)
        sleep_us(l->quiet_at_us - mono_us());   /* 3.5 characters of silence first */
    if (l->trace) {
        st = read_traced(l, r, regs, bits, exc, err, errlen);
    } else {
        int rc;
        switch (r->area) {
        case MB_COIL:     rc = modbus_read_bits(l->ctx, r->start, r->count, bits); break;
        case MB_DISCRETE: rc = modbus_read_input_bits(l->ctx, r->start, r->count, bits); break;
        case MB_INPUT:    rc = modbus_read_input_registers(l->ctx, r->start, r->count, regs); break;
        default:          rc = modbus_read_registers(l->ctx, r->start, r->count, regs); break;
        }
        if (rc == r->count)
            st = MB_OK;
        else if (rc >= 0) {
            snprintf(err, errlen, "short reply: %d of %u values", rc, r->count);
            st = MB_ERR_REPLY;
        } else {
            st = classify(l, errno, exc, err, errlen);
        }
    }
    if (l->p.rtu && st != MB_ERR_COMM && st != MB_ERR_REPLY)
        l->quiet_at_us = mono_us() + l->gap_us;
    return st;
}
