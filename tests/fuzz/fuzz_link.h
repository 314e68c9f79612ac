/* fuzz_link.h: a Modbus link driven by bytes. Per input a link is made and
 * connected to the input instead of a socket (mb_link_feed): after its request
 * the peer's whole reply is the fuzz bytes, in pieces, and then the peer
 * closes; one read is made: the link's own receive path (MBAP header checks,
 * or RTU over TCP's reply search and the drain after an error), with no device
 * behind it and no wait. */
#ifndef GANZHI_FUZZ_LINK_H
#define GANZHI_FUZZ_LINK_H

#include "tests/fuzz/fuzz_util.h"
#include "drivers/mb_link.h"
#include "drivers/mb_plan.h"

static inline void fuzz_link_init(void)
{
}

/* data[0]: the area (low 2 bits) and the size of the pieces the reply comes in
 * (high 6 bits; 0: all at once); data[1]: how many registers or bits; the rest
 * is all the peer ever sends. */
static inline void fuzz_link_run(enum mb_transport t, const unsigned char *data, size_t size)
{
    if (size < 2 || size > 4096)
        return;
    /* No wait is real (the bytes are there or the peer has closed): the
     * timeout only bounds the work, and a generous one keeps runs repeatable. */
    struct mb_link_params p = { .transport = t, .host = "127.0.0.1", .port = 1,
                                .baud = 115200, .parity = 'N', .data_bits = 8, .stop_bits = 1,
                                .frame_gap_us = 0, .echo = MB_ECHO_OFF, .unit_id = 1,
                                .timeout_ms = 1000 };
    char err[256];
    struct mb_link *l = mb_link_new(&p, err, sizeof err);
    if (!l || mb_link_feed(l, data + 2, size - 2, data[0] >> 2) != 0)
        abort();
    enum mb_area area = (enum mb_area)(data[0] & 3);
    unsigned max = mb_is_bit_area(area) ? 2000 : 125;
    struct mb_read r = { .area = area, .start = 0, .count = (uint16_t)(data[1] % max + 1) };
    uint16_t regs[125];
    uint8_t bits[2000];
    int exc = 0;
    mb_link_read(l, &r, regs, bits, &exc, err, sizeof err);
    mb_link_free(l);
}

#endif
