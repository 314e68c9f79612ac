/* mb_link_serial: RTU on the gateway's own serial port, through libmodbus: the
 * 3.5-character silence kept between frames, and the line drained until quiet
 * after a timeout or a garbled reply, so a late reply is never taken for the
 * next request's (RTU has no transaction id). */
#include "drivers/mb_link_impl.h"
#include "core/clock.h"
#include <errno.h>
#include <modbus.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct serial_link {
    struct mb_link base;
    modbus_t *ctx;
    int slave;              /* the unit libmodbus filters replies on */
    int64_t set_timeout_ms;
    int64_t quiet_at_us;    /* the line may be spoken on from this time */
};

static struct serial_link *S(struct mb_link *l) { return (struct serial_link *)l; }

static enum mb_status serial_open(struct mb_link *l, char *err, size_t errlen)
{
    struct serial_link *s = S(l);
    if (modbus_connect(s->ctx) == -1) {
        snprintf(err, errlen, "%s: %s", l->p.serial, modbus_strerror(errno));
        modbus_close(s->ctx);
        return MB_ERR_COMM;
    }
    /* Whatever a previous user of the port left on the line is not ours. */
    modbus_flush(s->ctx);
    s->quiet_at_us = mono_us() + l->gap_us;
    return MB_OK;
}

static void serial_close(struct mb_link *l)
{
    modbus_close(S(l)->ctx);
}

/* Discard bytes until the line has been silent for a whole gap (a late reply,
 * the rest of a garbled frame), bounded by the time of one maximal frame plus
 * the device's timeout. */
static void serial_drain(struct mb_link *l)
{
    struct serial_link *s = S(l);
    int fd = modbus_get_socket(s->ctx);
    int64_t limit = mono_us() + 256 * l->char_us + l->timeout_ms * 1000;
    int gap_ms = (int)((l->gap_us + 999) / 1000);
    uint8_t buf[256];
    while (fd >= 0 && mono_us() < limit) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, gap_ms + 1) <= 0)
            break;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        l->st.drained_bytes += (uint64_t)n;
    }
    s->quiet_at_us = mono_us() + l->gap_us;
}

static enum mb_status serial_request(struct mb_link *l, const uint8_t *req, size_t reqlen,
                                     uint8_t *rsp, size_t *rsplen, char *err, size_t errlen)
{
    struct serial_link *s = S(l);
    if (s->slave != l->unit_id) {
        modbus_set_slave(s->ctx, l->unit_id);
        s->slave = l->unit_id;
    }
    if (s->set_timeout_ms != l->timeout_ms) {
        modbus_set_response_timeout(s->ctx, (uint32_t)(l->timeout_ms / 1000),
                                    (uint32_t)(l->timeout_ms % 1000) * 1000);
        s->set_timeout_ms = l->timeout_ms;
    }
    uint8_t adu[MB_RTU_MAX];
    adu[0] = (uint8_t)l->unit_id;
    memcpy(adu + 1, req, reqlen);
    sleep_us(s->quiet_at_us - mono_us());   /* 3.5 characters of silence first */
    if (l->trace) {
        uint8_t shown[MB_RTU_MAX];
        memcpy(shown, adu, reqlen + 1);
        mb_link_trace(l, ">", shown, mb_rtu_seal(shown, reqlen + 1), "");
    }
    int64_t t0 = mono_us();
    if (modbus_send_raw_request(s->ctx, adu, (int)reqlen + 1) == -1) {
        snprintf(err, errlen, "%s: %s", l->p.serial, modbus_strerror(errno));
        mb_link_close(l);
        return MB_ERR_COMM;
    }
    uint8_t in[MODBUS_RTU_MAX_ADU_LENGTH];
    int n = modbus_receive_confirmation(s->ctx, in);
    int e = errno;
    char note[64];
    snprintf(note, sizeof note, "(%.1f ms)", (double)(mono_us() - t0) / 1000.0);
    if (n > 0) {
        mb_link_trace(l, "<", in, (size_t)n, note);
        s->quiet_at_us = mono_us() + l->gap_us;
        /* libmodbus checked the CRC; unit, length and function are ours to check. */
        if (n < 4 || in[0] != (uint8_t)l->unit_id) {
            l->st.foreign++;
            snprintf(err, errlen, "a reply from unit %u, not %d", in[0], l->unit_id);
            return MB_ERR_REPLY;
        }
        *rsplen = (size_t)n - 3;
        memcpy(rsp, in + 1, *rsplen);
        return MB_OK;
    }
    if (n == 0) {   /* libmodbus dropped a frame for another unit */
        l->st.foreign++;
        snprintf(err, errlen, "a reply from another unit");
        return MB_ERR_REPLY;
    }
    snprintf(note, sizeof note, "(%s after %.1f ms)", modbus_strerror(e),
             (double)(mono_us() - t0) / 1000.0);
    mb_link_trace(l, "<", NULL, 0, note);
    snprintf(err, errlen, "%s", modbus_strerror(e));
    if (e == ETIMEDOUT) {
        l->st.timeouts++;
        return MB_ERR_COMM;
    }
    if (e == EMBBADCRC) {
        l->st.crc_errors++;
        return MB_ERR_REPLY;
    }
    if (e == EMBBADDATA || e == EMBBADEXC || e == EMBMDATA || e == EMBBADSLAVE) {
        l->st.bad_replies++;
        return MB_ERR_REPLY;
    }
    /* The port itself failed (unplugged adapter): reopen on the next request. */
    mb_link_close(l);
    return MB_ERR_COMM;
}

static void serial_describe(const struct mb_link *l, char *buf, size_t len)
{
    snprintf(buf, len, "rtu %s %d %d%c%d", l->p.serial, l->p.baud, l->p.data_bits, l->p.parity,
             l->p.stop_bits);
}

static void serial_destroy(struct mb_link *l)
{
    modbus_free(S(l)->ctx);
    free(l);
}

static const struct mb_link_ops serial_ops = {
    .open = serial_open, .request = serial_request, .drain = serial_drain,
    .close = serial_close, .describe = serial_describe, .destroy = serial_destroy,
};

struct mb_link *mb_link_serial_new(const struct mb_link_params *p, char *err, size_t errlen)
{
    struct serial_link *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &serial_ops;
    s->base.p = *p;
    mb_link_serial_timing(&s->base);
    s->ctx = modbus_new_rtu(p->serial, p->baud, p->parity, p->data_bits, p->stop_bits);
    if (!s->ctx) {
        snprintf(err, errlen, "%s: %s", p->serial, modbus_strerror(errno));
        free(s);
        return NULL;
    }
    s->slave = -1;
    s->set_timeout_ms = -1;
    /* Between two bytes of one frame: a frame is continuous on a serial line, and
     * a pause of many characters means it was cut. */
    int64_t byte_us = s->base.char_us * 20 > 20000 ? s->base.char_us * 20 : 20000;
    modbus_set_byte_timeout(s->ctx, 0, (uint32_t)byte_us);
    return &s->base;
}
