/* sim_reply: what the simulator answers to one request, in either framing.
 *
 * libmodbus builds the real replies (modbus_reply, the same code a TCP or RTU slave built
 * on it runs), but it insists on sending them itself. To delay, corrupt or cut a reply we
 * need its bytes first, so each context's "socket" is one end of a datagram socketpair:
 * modbus_reply writes the reply there in one write and we read it back whole from the
 * other end. The server that owns the real socket or serial port then sends it.
 *
 * Order of decisions for a request to a unit served: silent, then an `exception`
 * directive, then `fussy`, then a malformed request (exception 03, checked here because
 * libmodbus would answer some by sleeping and flushing), then the real reply; the reply,
 * whatever it is, may then be spoiled (CRC, truncation, or another unit's id) and delayed.
 */
#include "tools/sim_reply.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MBAP_LEN 7

struct sim_reply {
    struct sim_reply_options opt;
    int units[SIM_UNIT_MAX + 1];
    uint8_t served[SIM_UNIT_MAX + 1];
    struct sim_farm *farm;
    modbus_t *ctx;              /* builds replies into sp[1] */
    int sp[2];                  /* sp[0]: where we read the replies back */
    uint64_t rng;
    struct sim_faults faults;
    struct sim_stats stats;
};

uint16_t sim_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

size_t sim_pdu_length(const uint8_t *pdu, size_t len)
{
    if (len < 1)
        return SIZE_MAX;
    switch (pdu[0]) {
    case MODBUS_FC_READ_COILS: case MODBUS_FC_READ_DISCRETE_INPUTS:
    case MODBUS_FC_READ_HOLDING_REGISTERS: case MODBUS_FC_READ_INPUT_REGISTERS:
    case MODBUS_FC_WRITE_SINGLE_COIL: case MODBUS_FC_WRITE_SINGLE_REGISTER:
        return 5;
    case MODBUS_FC_WRITE_MULTIPLE_COILS: case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
        return len >= 6 ? 6u + pdu[5] : SIZE_MAX;
    case MODBUS_FC_MASK_WRITE_REGISTER:
        return 7;
    case MODBUS_FC_WRITE_AND_READ_REGISTERS:
        return len >= 10 ? 10u + pdu[9] : SIZE_MAX;
    case MODBUS_FC_READ_EXCEPTION_STATUS: case MODBUS_FC_REPORT_SLAVE_ID:
        return 1;
    default:
        return 0;
    }
}

/* Quantities within the protocol's limits, and byte counts that match them. */
static int pdu_quantities_ok(const uint8_t *pdu)
{
    unsigned n = (unsigned)pdu[3] << 8 | pdu[4];
    switch (pdu[0]) {
    case MODBUS_FC_READ_COILS: case MODBUS_FC_READ_DISCRETE_INPUTS:
        return n >= 1 && n <= MODBUS_MAX_READ_BITS;
    case MODBUS_FC_READ_HOLDING_REGISTERS: case MODBUS_FC_READ_INPUT_REGISTERS:
        return n >= 1 && n <= MODBUS_MAX_READ_REGISTERS;
    case MODBUS_FC_WRITE_MULTIPLE_COILS:
        return n >= 1 && n <= MODBUS_MAX_WRITE_BITS && pdu[5] == (n + 7) / 8;
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
        return n >= 1 && n <= MODBUS_MAX_WRITE_REGISTERS && pdu[5] == n * 2;
    case MODBUS_FC_WRITE_AND_READ_REGISTERS: {
        unsigned nw = (unsigned)pdu[7] << 8 | pdu[8];
        return n >= 1 && n <= MODBUS_MAX_WR_READ_REGISTERS &&
               nw >= 1 && nw <= MODBUS_MAX_WR_WRITE_REGISTERS && pdu[9] == nw * 2;
    }
    default:
        return 1;
    }
}

/* xorshift64*: our own stream, so a seed replays the same spoiled replies. */
static uint64_t next_rand(struct sim_reply *r)
{
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return r->rng * 0x2545F4914F6CDD1Dull;
}

/* 1 with a chance of pct in 100. */
static int chance(struct sim_reply *r, unsigned pct)
{
    return pct > 0 && next_rand(r) % 100 < pct;
}

int sim_reply_open(const struct sim_reply_options *opt, struct sim_farm *farm,
                   struct sim_reply **out)
{
    *out = NULL;
    if (opt->nunits == 0 || opt->nunits > SIM_UNIT_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct sim_reply *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->sp[0] = r->sp[1] = -1;
    r->opt = *opt;
    for (unsigned i = 0; i < opt->nunits; i++) {
        if (opt->units[i] < 1 || opt->units[i] > SIM_UNIT_MAX) {
            errno = EINVAL;
            goto fail;
        }
        r->units[i] = opt->units[i];
        r->served[opt->units[i]] = 1;
    }
    r->opt.units = r->units;
    r->farm = farm;
    /* Distinct from the farm's stream for the same seed. */
    r->rng = (opt->seed + 7) * 0xD1B54A32D192ED03ull;
    if (r->rng == 0)
        r->rng = 1;
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, r->sp) < 0)
        goto fail;
    r->ctx = opt->mode == SIM_RTU ? modbus_new_rtu("/dev/null", 9600, 'N', 8, 1)
                                  : modbus_new_tcp("127.0.0.1", 502);
    if (!r->ctx)
        goto fail;
    /* Never opened: the context only formats. Its socket is our socketpair end. */
    if (modbus_set_socket(r->ctx, r->sp[1]) < 0)
        goto fail;
    /* libmodbus sleeps the response timeout before some exception replies; keep it
     * negligible in case a request we did not foresee gets there. */
    modbus_set_response_timeout(r->ctx, 0, 1);
    *out = r;
    return 0;

fail:
    sim_reply_close(r);
    return -1;
}

void sim_reply_close(struct sim_reply *r)
{
    if (!r)
        return;
    int saved = errno;
    if (r->ctx)
        modbus_free(r->ctx);
    for (int i = 0; i < 2; i++)
        if (r->sp[i] >= 0)
            close(r->sp[i]);
    free(r);
    errno = saved;
}

struct sim_faults *sim_reply_faults(struct sim_reply *r)
{
    return &r->faults;
}

struct sim_stats *sim_reply_stats(struct sim_reply *r)
{
    return &r->stats;
}

void sim_reply_print_stats(const struct sim_reply *r, FILE *out)
{
    sim_stats_print(&r->stats, r->units, r->opt.nunits, out);
}

/* The address range a request touches: 1 and [*lo, *lo + *n), or 0 for functions that
 * name no address. Write-and-read reports its read range and its write range as one
 * span from the lower start to the higher end. */
static int request_span(const uint8_t *pdu, size_t pdulen, unsigned *lo, unsigned *n)
{
    if (pdulen < 5)
        return 0;
    unsigned a = (unsigned)pdu[1] << 8 | pdu[2], q = (unsigned)pdu[3] << 8 | pdu[4];
    switch (pdu[0]) {
    case MODBUS_FC_READ_COILS: case MODBUS_FC_READ_DISCRETE_INPUTS:
    case MODBUS_FC_READ_HOLDING_REGISTERS: case MODBUS_FC_READ_INPUT_REGISTERS:
    case MODBUS_FC_WRITE_MULTIPLE_COILS: case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
        *lo = a;
        *n = q ? q : 1;
        return 1;
    case MODBUS_FC_WRITE_SINGLE_COIL: case MODBUS_FC_WRITE_SINGLE_REGISTER:
    case MODBUS_FC_MASK_WRITE_REGISTER:
        *lo = a;
        *n = 1;
        return 1;
    case MODBUS_FC_WRITE_AND_READ_REGISTERS: {
        if (pdulen < 9)
            return 0;
        unsigned wa = (unsigned)pdu[5] << 8 | pdu[6], wq = (unsigned)pdu[7] << 8 | pdu[8];
        unsigned end = a + (q ? q : 1), wend = wa + (wq ? wq : 1);
        *lo = a < wa ? a : wa;
        *n = (end > wend ? end : wend) - *lo;
        return 1;
    }
    default:
        return 0;
    }
}

/* A fussy device serves only what its table holds: a read touching an unoccupied
 * address, or of more than 16 registers, is refused. */
static int fussy_refuses(const struct sim_reply *r, const uint8_t *pdu, size_t pdulen)
{
    if (pdulen < 5)
        return 0;
    unsigned a = (unsigned)pdu[1] << 8 | pdu[2], q = (unsigned)pdu[3] << 8 | pdu[4];
    enum mb_area area;
    switch (pdu[0]) {
    case MODBUS_FC_READ_COILS:              area = MB_COIL; break;
    case MODBUS_FC_READ_DISCRETE_INPUTS:    area = MB_DISCRETE; break;
    case MODBUS_FC_READ_HOLDING_REGISTERS:  area = MB_HOLDING; break;
    case MODBUS_FC_READ_INPUT_REGISTERS:    area = MB_INPUT; break;
    default:                                return 0;
    }
    if (!mb_is_bit_area(area) && q > 16)
        return 1;
    return !sim_farm_occupied(r->farm, area, a, q);
}

/* An exception reply of our own making (libmodbus's only takes the standard codes). */
size_t sim_reply_exception(const struct sim_reply *r, const uint8_t *adu, int code,
                           uint8_t *out)
{
    if (r->opt.mode == SIM_TCP) {
        memcpy(out, adu, 4);            /* transaction id, protocol id */
        out[4] = 0;
        out[5] = 3;
        out[6] = adu[6];
        out[7] = (uint8_t)(adu[7] | 0x80);
        out[8] = (uint8_t)code;
        return 9;
    }
    out[0] = adu[0];
    out[1] = (uint8_t)(adu[1] | 0x80);
    out[2] = (uint8_t)code;
    uint16_t crc = sim_crc16(out, 3);
    out[3] = (uint8_t)(crc & 0xFF);
    out[4] = (uint8_t)(crc >> 8);
    return 5;
}

/* libmodbus's reply, read back from the socketpair: its length, 0 for none. */
static ssize_t build_reply(struct sim_reply *r, const uint8_t *adu, size_t len, uint8_t *out)
{
    /* libmodbus reads a request's address bytes whatever its function: give it a zeroed
     * copy with room past the end. */
    uint8_t req[SIM_ADU_MAX + 16];
    memset(req, 0, sizeof req);
    memcpy(req, adu, len);
    int rc = modbus_reply(r->ctx, req, (int)len, sim_farm_mapping(r->farm));
    ssize_t n = recv(r->sp[0], out, SIM_ADU_MAX, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        n = 0;
    }
    /* A function libmodbus declines without replying (read exception status, in
     * 3.1.6) still deserves an answer from a device: illegal function. */
    if (n == 0 && rc < 0)
        return (ssize_t)sim_reply_exception(r, adu, MODBUS_EXCEPTION_ILLEGAL_FUNCTION, out);
    return n;
}

int sim_reply_serves(const struct sim_reply *r, int unit)
{
    if (r->opt.mode == SIM_TCP && (unit == 0 || unit == 255))
        return 1;
    return unit >= 1 && unit <= SIM_UNIT_MAX && r->served[unit];
}

int sim_reply_chance(struct sim_reply *r, unsigned pct)
{
    return chance(r, pct);
}

uint64_t sim_reply_random(struct sim_reply *r)
{
    return next_rand(r);
}

/* The unit id a reply for `unit` is dressed as by `other`: the next unit served, or the
 * next id when only one is served. */
static int other_unit(const struct sim_reply *r, int unit)
{
    if (r->opt.nunits > 1)
        for (unsigned i = 0; i < r->opt.nunits; i++)
            if (r->units[i] == unit)
                return r->units[(i + 1) % r->opt.nunits];
    return unit % SIM_UNIT_MAX + 1;
}

int sim_reply_answer(struct sim_reply *r, const uint8_t *adu, size_t len, struct sim_answer *a)
{
    const int rtu = r->opt.mode == SIM_RTU;
    const size_t head = rtu ? 1 : MBAP_LEN, tail = rtu ? 2 : 0;
    a->len = 0;
    a->delay_s = 0;
    if (len < head + 1 + tail) {
        r->stats.bus.bad_frames++;
        return 0;
    }
    int unit = adu[head - 1];
    const uint8_t *pdu = adu + head;
    size_t pdulen = len - head - tail;

    if (rtu && unit == 0) {
        /* Broadcast: every slave executes it, none answers. */
        r->stats.bus.broadcasts++;
        if (sim_pdu_length(pdu, pdulen) == pdulen && pdu_quantities_ok(pdu) &&
            build_reply(r, adu, len, a->adu) < 0)
            return -1;
        return 0;
    }
    if (!rtu && (unit == 0 || unit == 255))
        unit = r->units[0];
    if (unit > SIM_UNIT_MAX || !r->served[unit]) {
        r->stats.bus.other_units++;
        return 0;
    }
    struct sim_unit_stats *us = &r->stats.unit[unit];
    const struct sim_unit_fault *f = &r->faults.unit[unit];
    us->requests++;
    if (f->silent) {
        us->silent++;
        return 0;
    }

    unsigned lo = 0, n = 0;
    int spans = request_span(pdu, pdulen, &lo, &n);
    size_t want = sim_pdu_length(pdu, pdulen);
    if (f->exc_code && (!f->exc_ranged ||
                        (spans && lo <= f->exc_hi && f->exc_lo < lo + n))) {
        a->len = sim_reply_exception(r, adu, f->exc_code, a->adu);
        us->injected++;
    } else if (f->fussy && fussy_refuses(r, pdu, pdulen)) {
        a->len = sim_reply_exception(r, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS, a->adu);
        us->refused++;
    } else if ((want && want != pdulen) || !pdu_quantities_ok(pdu)) {
        a->len = sim_reply_exception(r, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE, a->adu);
    } else {
        ssize_t got = build_reply(r, adu, len, a->adu);
        if (got < 0)
            return -1;
        a->len = (size_t)got;
    }
    if (a->len == 0)
        return 0;
    us->replies++;
    if (a->adu[head] & 0x80)
        us->exceptions++;

    if (chance(r, f->crc_pct)) {
        if (rtu)    /* any change of the CRC's high byte: never a valid frame */
            a->adu[a->len - 1] ^= (uint8_t)(1 + next_rand(r) % 255);
        else        /* no CRC in TCP: a mangled function code is what a client checks */
            a->adu[head] ^= 0x40;
        us->crc++;
    } else if (chance(r, f->trunc_pct)) {
        a->len = 1 + (size_t)(next_rand(r) % (a->len - 1));
        us->truncated++;
    } else if (chance(r, f->other_pct)) {
        /* A whole, valid reply, as another slave's would be: only the unit id tells. */
        a->adu[head - 1] = (uint8_t)other_unit(r, unit);
        if (rtu) {
            uint16_t crc = sim_crc16(a->adu, a->len - 2);
            a->adu[a->len - 2] = (uint8_t)(crc & 0xFF);
            a->adu[a->len - 1] = (uint8_t)(crc >> 8);
        }
        us->other++;
    }
    if (f->slow_ms) {
        a->delay_s = f->slow_ms / 1000.0;
        us->delayed++;
    }
    return 0;
}

size_t sim_reply_noise(struct sim_reply *r, uint8_t *buf, size_t cap)
{
    if (cap == 0 || !chance(r, r->faults.garbage_pct))
        return 0;
    size_t n = 1 + (size_t)(next_rand(r) % (cap < 16 ? cap : 16));
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)next_rand(r);
    r->stats.bus.garbage++;
    r->stats.bus.garbage_bytes += n;
    return n;
}
