/* device: plan, read, decode and qualify the points of one device. */
#include "core/clock.h"
#include "agent/device.h"
#include "drivers/mb_decode.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int pow10_of_inverse(double scale)
{
    double p = 1;
    for (int k = 1; k <= 6; k++) {
        p *= 10;
        if (scale == 1 / p)
            return k;
    }
    return 0;
}

/* The points' layouts as the planner takes them: made when planning (at start,
 * and when a device refuses a read), not kept (8 bytes a point). */
static const struct mb_addr **point_addrs(const struct conf_device *c)
{
    const struct mb_addr **addrs = malloc((c->npoints ? c->npoints : 1) * sizeof *addrs);
    for (size_t i = 0; addrs && i < c->npoints; i++)
        addrs[i] = &c->points[i].addr;
    return addrs;
}

void device_link_params(const struct conf_device *c, struct mb_link_params *p)
{
    static const enum mb_transport transports[] = {
        [CONF_MODBUS_TCP] = MB_TCP, [CONF_MODBUS_RTU] = MB_RTU_SERIAL,
        [CONF_MODBUS_RTU_TCP] = MB_RTU_TCP,
    };
    static const enum mb_echo echoes[] = {
        [CONF_ECHO_AUTO] = MB_ECHO_AUTO, [CONF_ECHO_ON] = MB_ECHO_ON, [CONF_ECHO_OFF] = MB_ECHO_OFF,
    };
    *p = (struct mb_link_params){
        .transport = transports[c->driver],
        .host = c->host, .port = c->port, .serial = c->serial, .baud = c->baud,
        .parity = c->parity, .data_bits = c->data_bits, .stop_bits = c->stop_bits,
        .frame_gap_us = c->frame_gap_ms < 0 ? -1 : c->frame_gap_ms * 1000,
        .echo = echoes[c->echo], .unit_id = c->unit_id, .timeout_ms = c->timeout_ms,
    };
}

int device_init(struct device *d, const struct conf_device *c, struct mb_link *link,
                char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->conf = c;
    const struct mb_addr **addrs = point_addrs(c);
    d->point_ids = calloc(c->npoints ? c->npoints : 1, sizeof *d->point_ids);
    d->scale_pow10 = calloc(c->npoints ? c->npoints : 1, sizeof *d->scale_pow10);
    if (!addrs || !d->point_ids || !d->scale_pow10) {
        free(addrs);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < c->npoints; i++)
        d->scale_pow10[i] = (int8_t)pow10_of_inverse(c->points[i].scale);
    struct mb_limits lim = { c->max_registers, c->max_bits, c->max_gap };
    int planned = mb_plan_build(&d->plan, addrs, c->npoints, &lim);
    free(addrs);
    if (planned != 0) {
        snprintf(err, errlen, "cannot plan reads (a point wider than max_registers?)");
        goto fail;
    }
    if (link) {
        d->link = link;
        return 0;
    }
    struct mb_link_params p;
    device_link_params(c, &p);
    d->link = mb_link_new(&p, err, errlen);
    if (!d->link)
        goto fail;
    d->owns_link = 1;
    return 0;
fail:
    device_fini(d);
    return -1;
}

void device_fini(struct device *d)
{
    if (d->owns_link)
        mb_link_free(d->link);
    mb_plan_free(&d->plan);
    free(d->point_ids);
    free(d->scale_pow10);
    d->link = NULL;
    d->point_ids = NULL;
    d->scale_pow10 = NULL;
}

/* The shortest decimal that reads back as the same float32: a device's 0.61f is
 * 0.61 to the engineer, not 0.61000001430511475, and it stores in fewer bytes. */
static double float32_decimal(double raw)
{
    float f = (float)raw;
    char buf[32];
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return raw;
}

double device_engineering(const struct device *d, size_t i, double raw)
{
    static const double p10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
    const struct conf_point *p = &d->conf->points[i];
    int k = d->scale_pow10[i];
    if (p->addr.type == MB_FLOAT32)
        raw = float32_decimal(raw);
    if (k) {
        /* raw / 10^k rounds once, to the double nearest the decimal; adding an
         * offset that is whole in the same tenths keeps it exact. */
        double off = p->offset * p10[k];
        if (off == nearbyint(off) && fabs(off) < 1e15)
            return (raw + off) / p10[k];
        return raw / p10[k] + p->offset;
    }
    double v = p->scale == 1 ? raw : raw * p->scale;
    return p->offset != 0 ? v + p->offset : v;
}

int device_poll(struct device *d, struct reading *out)
{
    const struct conf_device *c = d->conf;
    int silent = 0, answered = 0, garbled = 0;
    char err[120];
    mb_link_target(d->link, c->unit_id, c->timeout_ms);
    for (size_t k = 0; k < d->plan.nreads; k++) {
        const struct mb_read *r = &d->plan.reads[k];
        int exc = 0;
        enum mb_status st = MB_ERR_COMM;
        int64_t t0 = mono_us();
        /* After a request went unanswered, the rest of this poll would only wait
         * out more timeouts: mark its points comm_fail without asking. A garbled
         * reply (noise on the line) is no reason to stop: the device is there. */
        if (!silent) {
            atomic_fetch_add(&d->stats.requests, 1);
            st = mb_link_read(d->link, r, d->regs, d->bits, &exc, err, sizeof err);
            atomic_store(&d->stats.last_rtt_us, mono_us() - t0);
            /* A gateway saying the unit behind it is unreachable (0x0A) or did not
             * answer (0x0B) speaks for that unit only: it is not answering. */
            if (st == MB_ERR_EXCEPTION && (exc == 0x0A || exc == 0x0B)) {
                atomic_store(&d->stats.last_exception, exc);
                st = MB_ERR_COMM;
            }
            switch (st) {
            case MB_OK: atomic_fetch_add(&d->stats.ok, 1); break;
            case MB_ERR_EXCEPTION:
                atomic_fetch_add(&d->stats.err_exception, 1);
                atomic_store(&d->stats.last_exception, exc);
                break;
            case MB_ERR_REPLY: atomic_fetch_add(&d->stats.err_reply, 1); break;
            case MB_ERR_COMM: atomic_fetch_add(&d->stats.err_comm, 1); break;
            }
            if (st != MB_OK)
                snprintf(d->last_error, sizeof d->last_error, "%s %u@%u: %s",
                         mb_area_name(r->area), r->count, r->start, err);
        }
        /* A fussy device refuses reads that span registers it does not have or
         * are longer than it likes: split the read for the next polls, and remember. */
        struct mb_read refused = *r;
        int split = st == MB_ERR_EXCEPTION && (exc == 2 || exc == 3) && r->n > 1;
        silent |= st == MB_ERR_COMM;
        garbled += st == MB_ERR_REPLY;
        answered += st == MB_OK || st == MB_ERR_EXCEPTION;
        int64_t ts = wall_ms();
        for (uint32_t j = r->first; j < r->first + r->n; j++) {
            uint32_t i = d->plan.idx[j];
            const struct conf_point *p = &c->points[i];
            struct reading *o = &out[i];
            o->point = d->point_ids[i];
            o->ts_ms = ts;
            o->has_value = 0;
            o->value = 0;
            o->code = 0;
            if (st == MB_ERR_EXCEPTION) {
                o->quality = Q_EXCEPTION;
                o->code = (uint8_t)exc;
                continue;
            }
            if (st != MB_OK) {
                o->quality = Q_COMM_FAIL;
                continue;
            }
            double raw;
            unsigned off = p->addr.address - r->start;
            int bad = 0;
            if (mb_is_bit_area(r->area))
                raw = d->bits[off] != 0;
            else
                bad = mb_decode_regs(&p->addr, &d->regs[off], &raw);
            o->quality = bad ? Q_SENSOR_FAULT : Q_GOOD;
            o->has_value = !bad;
            o->value = bad ? 0 : device_engineering(d, i, raw);
        }
        const struct mb_addr **addrs = split ? point_addrs(c) : NULL;
        size_t pieces = addrs ? mb_plan_split(&d->plan, k, addrs) : 0;
        free(addrs);
        if (pieces) {
            atomic_fetch_add(&d->stats.splits, 1);
            snprintf(d->last_error, sizeof d->last_error,
                     "refused a read of %u %s at %u (exception %d); now %zu reads",
                     refused.count, mb_is_bit_area(refused.area) ? "bits" : "registers",
                     refused.start, exc, pieces);
            k += pieces - 1;    /* the pieces are read from the next poll on */
        }
    }
    atomic_store(&d->stats.link_up, answered > 0);
    /* Only a device that answered nothing at all is failing (and backs off). */
    return answered == 0 && (silent || garbled) ? 1 : 0;
}
