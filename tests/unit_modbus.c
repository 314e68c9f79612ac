/* unit_modbus: decoding of every type and order against hand-computed register
 * images, encode/decode round trips, and read planning (merging, gaps, limits). */
#include "tests/unit.h"
#include "drivers/mb_decode.h"
#include "drivers/mb_plan.h"
#include <stdint.h>
#include <stdlib.h>

static double dec(enum mb_type t, enum mb_order o, uint16_t r0, uint16_t r1, uint16_t r2,
                  uint16_t r3)
{
    uint16_t regs[4] = { r0, r1, r2, r3 };
    struct mb_addr a = { MB_HOLDING, t, o, 0, 0 };
    double v = -999;
    CHECK(mb_decode_regs(&a, regs, &v) == 0);
    return v;
}

static void test_16bit(void)
{
    CHECK_NUM(dec(MB_INT16, MB_ABCD, 0xFB2E, 0, 0, 0), -1234);
    CHECK_NUM(dec(MB_INT16, MB_BADC, 0x2EFB, 0, 0, 0), -1234);
    CHECK_NUM(dec(MB_INT16, MB_DCBA, 0x2EFB, 0, 0, 0), -1234);
    CHECK_NUM(dec(MB_INT16, MB_CDAB, 0xFB2E, 0, 0, 0), -1234);
    CHECK_NUM(dec(MB_UINT16, MB_ABCD, 0xFFFF, 0, 0, 0), 65535);
    CHECK_NUM(dec(MB_UINT16, MB_BADC, 0x3412, 0, 0, 0), 0x1234);
    CHECK_NUM(dec(MB_BOOL, MB_ABCD, 0x0100, 0, 0, 0), 1);
    CHECK_NUM(dec(MB_BOOL, MB_ABCD, 0, 0, 0, 0), 0);
    struct mb_addr b3 = { MB_HOLDING, MB_BIT, MB_ABCD, 0, 3 }, b4 = b3, b15 = b3;
    b4.bit = 4;
    b15.bit = 15;
    uint16_t r = 0x8008;
    double v;
    CHECK(mb_decode_regs(&b3, &r, &v) == 0 && v == 1);
    CHECK(mb_decode_regs(&b4, &r, &v) == 0 && v == 0);
    CHECK(mb_decode_regs(&b15, &r, &v) == 0 && v == 1);
}

static void test_32bit(void)
{
    /* 123.456f = 0x42F6E979 */
    CHECK_NUM(dec(MB_FLOAT32, MB_ABCD, 0x42F6, 0xE979, 0, 0), (double)123.456f);
    CHECK_NUM(dec(MB_FLOAT32, MB_CDAB, 0xE979, 0x42F6, 0, 0), (double)123.456f);
    CHECK_NUM(dec(MB_FLOAT32, MB_BADC, 0xF642, 0x79E9, 0, 0), (double)123.456f);
    CHECK_NUM(dec(MB_FLOAT32, MB_DCBA, 0x79E9, 0xF642, 0, 0), (double)123.456f);
    /* 0x01020304 = 16909060 */
    CHECK_NUM(dec(MB_UINT32, MB_ABCD, 0x0102, 0x0304, 0, 0), 16909060);
    CHECK_NUM(dec(MB_UINT32, MB_CDAB, 0x0304, 0x0102, 0, 0), 16909060);
    CHECK_NUM(dec(MB_UINT32, MB_BADC, 0x0201, 0x0403, 0, 0), 16909060);
    CHECK_NUM(dec(MB_UINT32, MB_DCBA, 0x0403, 0x0201, 0, 0), 16909060);
    CHECK_NUM(dec(MB_UINT32, MB_ABCD, 0xFFFF, 0xFFFF, 0, 0), 4294967295.0);
    /* -2 = 0xFFFFFFFE */
    CHECK_NUM(dec(MB_INT32, MB_ABCD, 0xFFFF, 0xFFFE, 0, 0), -2);
    CHECK_NUM(dec(MB_INT32, MB_CDAB, 0xFFFE, 0xFFFF, 0, 0), -2);
    CHECK_NUM(dec(MB_INT32, MB_BADC, 0xFFFF, 0xFEFF, 0, 0), -2);
    CHECK_NUM(dec(MB_INT32, MB_DCBA, 0xFEFF, 0xFFFF, 0, 0), -2);
    CHECK_NUM(dec(MB_INT32, MB_ABCD, 0x8000, 0x0000, 0, 0), -2147483648.0);
}

static void test_64bit(void)
{
    /* 0x0102030405060708 = 72623859790382856 */
    double x = 72623859790382856.0;
    CHECK_NUM(dec(MB_UINT64, MB_ABCD, 0x0102, 0x0304, 0x0506, 0x0708), x);
    CHECK_NUM(dec(MB_UINT64, MB_CDAB, 0x0708, 0x0506, 0x0304, 0x0102), x);
    CHECK_NUM(dec(MB_UINT64, MB_BADC, 0x0201, 0x0403, 0x0605, 0x0807), x);
    CHECK_NUM(dec(MB_UINT64, MB_DCBA, 0x0807, 0x0605, 0x0403, 0x0201), x);
    CHECK_NUM(dec(MB_INT64, MB_ABCD, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE), -2);
    CHECK_NUM(dec(MB_INT64, MB_DCBA, 0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF), -2);
    CHECK_NUM(dec(MB_UINT64, MB_ABCD, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF), 18446744073709551615.0);
    /* 1.5 = 0x3FF8000000000000 */
    CHECK_NUM(dec(MB_FLOAT64, MB_ABCD, 0x3FF8, 0, 0, 0), 1.5);
    CHECK_NUM(dec(MB_FLOAT64, MB_CDAB, 0, 0, 0, 0x3FF8), 1.5);
    CHECK_NUM(dec(MB_FLOAT64, MB_BADC, 0xF83F, 0, 0, 0), 1.5);
    CHECK_NUM(dec(MB_FLOAT64, MB_DCBA, 0, 0, 0, 0xF83F), 1.5);
    /* -273.15 = 0xC071126666666666 */
    CHECK_NUM(dec(MB_FLOAT64, MB_ABCD, 0xC071, 0x1266, 0x6666, 0x6666), -273.15);
    CHECK_NUM(dec(MB_FLOAT64, MB_CDAB, 0x6666, 0x6666, 0x1266, 0xC071), -273.15);
}

static void test_not_a_number(void)
{
    uint16_t nan32[2] = { 0x7FC0, 0x0000 }, inf64[4] = { 0x7FF0, 0, 0, 0 };
    struct mb_addr f = { MB_INPUT, MB_FLOAT32, MB_ABCD, 0, 0 }, d = f;
    d.type = MB_FLOAT64;
    double v;
    CHECK(mb_decode_regs(&f, nan32, &v) == -1);
    CHECK(mb_decode_regs(&d, inf64, &v) == -1);
}

static void test_round_trip(void)
{
    const double values[] = { 0, 1, -1, 42, -1234, 32767, 65535, 123456, -98765, 3.25, 1e9 };
    for (int t = MB_INT16; t <= MB_FLOAT64; t++)
        for (int o = MB_ABCD; o <= MB_DCBA; o++)
            for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
                struct mb_addr a = { MB_HOLDING, (enum mb_type)t, (enum mb_order)o, 0, 0 };
                double in = values[k], out;
                if ((t == MB_INT16 && (in > 32767 || in < -32768)) ||
                    (t == MB_UINT16 && (in > 65535 || in < 0)) ||
                    ((t == MB_UINT32 || t == MB_UINT64) && in < 0) ||
                    (t == MB_INT32 && fabs(in) > 2e9) || (in != floor(in) && t < MB_FLOAT32))
                    continue;
                uint16_t regs[4] = { 0 };
                mb_encode_regs(&a, in, regs);
                CHECK(mb_decode_regs(&a, regs, &out) == 0);
                if (t == MB_FLOAT32)
                    CHECK_NUM(out, (double)(float)in);
                else
                    CHECK_NUM(out, in);
            }
    uint16_t r = 0x00F0;
    struct mb_addr b = { MB_HOLDING, MB_BIT, MB_ABCD, 0, 2 };
    mb_encode_regs(&b, 1, &r);
    CHECK(r == 0x00F4);
    b.bit = 4;
    mb_encode_regs(&b, 0, &r);
    CHECK(r == 0x00E4);
    struct mb_addr c = { MB_HOLDING, MB_INT16, MB_ABCD, 0, 0 };
    mb_encode_regs(&c, 99999, &r);
    CHECK(r == 0x7FFF);
}

static struct mb_plan plan_of(const struct mb_addr *pts, size_t n, unsigned max_regs,
                              unsigned max_bits, unsigned gap, int *rc)
{
    const struct mb_addr **pp = malloc(n * sizeof *pp);
    for (size_t i = 0; i < n; i++)
        pp[i] = &pts[i];
    struct mb_limits lim = { max_regs, max_bits, gap };
    struct mb_plan p;
    *rc = mb_plan_build(&p, pp, n, &lim);
    free(pp);
    return p;
}

static void test_plan_adjacent(void)
{
    /* Out of order on purpose: planning sorts. */
    struct mb_addr pts[] = {
        { MB_HOLDING, MB_FLOAT32, MB_ABCD, 2, 0 },
        { MB_HOLDING, MB_UINT16, MB_ABCD, 0, 0 },
        { MB_HOLDING, MB_UINT16, MB_ABCD, 1, 0 },
        { MB_HOLDING, MB_BIT, MB_ABCD, 1, 5 },      /* same register as another point */
        { MB_INPUT, MB_INT16, MB_ABCD, 3, 0 },
        { MB_COIL, MB_BOOL, MB_ABCD, 7, 0 },
        { MB_COIL, MB_BOOL, MB_ABCD, 8, 0 },
    };
    int rc;
    struct mb_plan p = plan_of(pts, 7, 125, 2000, 0, &rc);
    CHECK(rc == 0);
    CHECK(p.nreads == 3);
    CHECK(p.reads[0].area == MB_COIL && p.reads[0].start == 7 && p.reads[0].count == 2);
    CHECK(p.reads[1].area == MB_INPUT && p.reads[1].start == 3 && p.reads[1].count == 1);
    CHECK(p.reads[2].area == MB_HOLDING && p.reads[2].start == 0 && p.reads[2].count == 4 &&
          p.reads[2].n == 4);
    CHECK(p.idx[p.reads[2].first] == 1);    /* address 0 first */
    mb_plan_free(&p);
}

static void test_plan_gaps(void)
{
    struct mb_addr pts[] = {
        { MB_HOLDING, MB_UINT16, MB_ABCD, 0, 0 },
        { MB_HOLDING, MB_UINT16, MB_ABCD, 4, 0 },   /* 3 unused registers between */
        { MB_HOLDING, MB_UINT32, MB_ABCD, 20, 0 },
    };
    int rc;
    struct mb_plan p = plan_of(pts, 3, 125, 2000, 0, &rc);
    CHECK(rc == 0 && p.nreads == 3);
    mb_plan_free(&p);
    p = plan_of(pts, 3, 125, 2000, 3, &rc);
    CHECK(rc == 0 && p.nreads == 2);
    CHECK(p.reads[0].start == 0 && p.reads[0].count == 5);
    CHECK(p.reads[1].start == 20 && p.reads[1].count == 2);
    mb_plan_free(&p);
    p = plan_of(pts, 3, 125, 2000, 15, &rc);
    CHECK(rc == 0 && p.nreads == 1 && p.reads[0].count == 22);
    mb_plan_free(&p);
}

static void test_plan_limits(void)
{
    /* 130 consecutive registers: 125 + 5. */
    struct mb_addr pts[130];
    for (int i = 0; i < 130; i++)
        pts[i] = (struct mb_addr){ MB_INPUT, MB_UINT16, MB_ABCD, (uint16_t)(100 + i), 0 };
    int rc;
    struct mb_plan p = plan_of(pts, 130, 125, 2000, 0, &rc);
    CHECK(rc == 0 && p.nreads == 2);
    CHECK(p.reads[0].start == 100 && p.reads[0].count == 125);
    CHECK(p.reads[1].start == 225 && p.reads[1].count == 5);
    mb_plan_free(&p);
    /* A float64 never straddles two reads: with max 6, 0..3 and 4..7 then 8..11. */
    struct mb_addr d[3] = { { MB_HOLDING, MB_FLOAT64, MB_ABCD, 0, 0 },
                            { MB_HOLDING, MB_FLOAT64, MB_ABCD, 4, 0 },
                            { MB_HOLDING, MB_FLOAT64, MB_ABCD, 8, 0 } };
    p = plan_of(d, 3, 6, 2000, 0, &rc);
    CHECK(rc == 0 && p.nreads == 3);
    mb_plan_free(&p);
    p = plan_of(d, 3, 8, 2000, 0, &rc);
    CHECK(rc == 0 && p.nreads == 2 && p.reads[0].count == 8 && p.reads[1].count == 4);
    mb_plan_free(&p);
    /* A point wider than the limit cannot be planned. */
    p = plan_of(d, 1, 2, 2000, 0, &rc);
    CHECK(rc == -1);
    mb_plan_free(&p);
    /* Bits: 2001 coils take two reads; max_bits 1000 takes three. */
    struct mb_addr *c = malloc(2001 * sizeof *c);
    for (int i = 0; i < 2001; i++)
        c[i] = (struct mb_addr){ MB_COIL, MB_BOOL, MB_ABCD, (uint16_t)i, 0 };
    p = plan_of(c, 2001, 125, 2000, 0, &rc);
    CHECK(rc == 0 && p.nreads == 2 && p.reads[0].count == 2000 && p.reads[1].count == 1);
    mb_plan_free(&p);
    p = plan_of(c, 2001, 125, 1000, 0, &rc);
    CHECK(rc == 0 && p.nreads == 3);
    mb_plan_free(&p);
    free(c);
    /* The top of the address space. */
    struct mb_addr top[2] = { { MB_HOLDING, MB_UINT16, MB_ABCD, 65534, 0 },
                              { MB_HOLDING, MB_UINT16, MB_ABCD, 65535, 0 } };
    p = plan_of(top, 2, 125, 2000, 0, &rc);
    CHECK(rc == 0 && p.nreads == 1 && p.reads[0].start == 65534 && p.reads[0].count == 2);
    mb_plan_free(&p);
}

static void test_plan_split(void)
{
    /* 0..1 (float32), 2, [gap 3..4], 5, 6..7 (uint32), [gap], 20: read through gaps. */
    struct mb_addr pts[] = {
        { MB_HOLDING, MB_FLOAT32, MB_ABCD, 0, 0 },
        { MB_HOLDING, MB_UINT16, MB_ABCD, 2, 0 },
        { MB_HOLDING, MB_UINT16, MB_ABCD, 5, 0 },
        { MB_HOLDING, MB_UINT32, MB_ABCD, 6, 0 },
        { MB_HOLDING, MB_UINT16, MB_ABCD, 20, 0 },
        { MB_INPUT, MB_UINT16, MB_ABCD, 0, 0 },
    };
    const struct mb_addr *pp[6];
    for (int i = 0; i < 6; i++)
        pp[i] = &pts[i];
    struct mb_limits lim = { 125, 2000, 20 };
    struct mb_plan p;
    CHECK(mb_plan_build(&p, pp, 6, &lim) == 0);
    CHECK(p.nreads == 2);   /* input 0; holding 0..20 */
    CHECK(p.reads[1].area == MB_HOLDING && p.reads[1].count == 21 && p.reads[1].n == 5);
    /* Refused: cut at the gaps -> 0..2, 5..7, 20. */
    CHECK(mb_plan_split(&p, 1, pp) == 3);
    CHECK(p.nreads == 4);
    CHECK(p.reads[1].start == 0 && p.reads[1].count == 3 && p.reads[1].n == 2);
    CHECK(p.reads[2].start == 5 && p.reads[2].count == 3 && p.reads[2].n == 2);
    CHECK(p.reads[3].start == 20 && p.reads[3].count == 1 && p.reads[3].n == 1);
    CHECK(p.idx[p.reads[3].first] == 4);
    /* Refused again, no gap left: halves. */
    CHECK(mb_plan_split(&p, 2, pp) == 2);
    CHECK(p.nreads == 5);
    CHECK(p.reads[2].start == 5 && p.reads[2].count == 1);
    CHECK(p.reads[3].start == 6 && p.reads[3].count == 2);
    CHECK(p.reads[4].start == 20);
    /* A single point cannot be split. */
    CHECK(mb_plan_split(&p, 4, pp) == 0);
    /* Every point is still read exactly once. */
    int seen[6] = { 0 };
    for (size_t k = 0; k < p.nreads; k++)
        for (uint32_t j = p.reads[k].first; j < p.reads[k].first + p.reads[k].n; j++)
            seen[p.idx[j]]++;
    for (int i = 0; i < 6; i++)
        CHECK(seen[i] == 1);
    mb_plan_free(&p);
}

int main(void)
{
    RUN(test_16bit);
    RUN(test_32bit);
    RUN(test_64bit);
    RUN(test_not_a_number);
    RUN(test_round_trip);
    RUN(test_plan_adjacent);
    RUN(test_plan_gaps);
    RUN(test_plan_limits);
    RUN(test_plan_split);
    return UNIT_END();
}
