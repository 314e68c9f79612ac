/* unit_proto: the generic profile byte for byte, number formatting that always
 * reads back exactly, and wire time in the configured zone. */
#include "tests/unit.h"
#include "proto/json_out.h"
#include "proto/profile_generic.h"
#include <stdlib.h>

static void test_generic_golden(void)
{
    struct wire_site site = { "220102000001", "示例化工有限公司", "GW01", "220102", 480 };
    /* 2026-11-29T02:30:00.000Z = 10:30 in Beijing */
    int64_t t = 1795919400000LL;
    struct wire_reading r[] = {
        { 1207, "LT-101", "tank_plc", "m", { 1, Q_GOOD, 1, 0, t, 3.215 } },
        { 1208, "温度\"1\"", "tank\\plc", "℃", { 2, Q_COMM_FAIL, 0, 0, t + 5, 0 } },
    };
    char *s = generic_realtime(&site, r, 2, 0, NULL, 0);
    CHECK_STR(s, "{\"enterprise\":\"220102000001\",\"gateway\":\"GW01\",\"resend\":false,"
                 "\"readings\":[{\"seq\":1207,\"tag\":\"LT-101\",\"device\":\"tank_plc\","
                 "\"value\":3.215,\"unit\":\"m\",\"quality\":\"good\","
                 "\"ts\":\"2026-11-29T10:30:00.000+08:00\"},"
                 "{\"seq\":1208,\"tag\":\"温度\\\"1\\\"\",\"device\":\"tank\\\\plc\","
                 "\"value\":null,\"unit\":\"℃\",\"quality\":\"comm_fail\","
                 "\"ts\":\"2026-11-29T10:30:00.005+08:00\"}]}");
    free(s);
    struct wire_reading ex = { 9, "GT-1", "gas", "%LEL", { 3, Q_EXCEPTION, 0, 2, t, 0 } };
    s = generic_realtime(&site, &ex, 1, 0, NULL, 0);
    CHECK(s && strstr(s, "\"value\":null,\"unit\":\"%LEL\",\"quality\":\"exception\","
                         "\"exception\":2,\"ts\":"));
    free(s);
    s = generic_realtime(&site, r, 1, 1, NULL, 0);
    CHECK(s && strstr(s, "\"resend\":true"));
    free(s);
    s = generic_realtime(&site, r, 1, 1, "c-1\"", 0);
    CHECK(s && strstr(s, "\"resend\":true,\"command_id\":\"c-1\\\"\",\"readings\":[{"));
    free(s);
    s = generic_realtime(&site, r, 1, 0, "m-2", 1);
    CHECK(s && strstr(s, "\"resend\":false,\"on_demand\":true,\"command_id\":\"m-2\",\"readings\":["));
    free(s);
    s = generic_realtime(&site, r, 0, 0, NULL, 0);
    CHECK_STR(s, "{\"enterprise\":\"220102000001\",\"gateway\":\"GW01\",\"resend\":false,"
                 "\"readings\":[]}");
    free(s);
}

static const char *num(double v)
{
    static char buf[64];
    struct json_out j;
    json_init(&j);
    json_num(&j, v);
    char *s = json_take(&j);
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

static void test_numbers(void)
{
    CHECK_STR(num(0), "0");
    CHECK_STR(num(-0.5), "-0.5");
    CHECK_STR(num(3.215), "3.215");
    CHECK_STR(num(24.8), "24.8");
    CHECK_STR(num(-1234567), "-1234567");
    CHECK_STR(num(12345.678), "12345.678");
    CHECK_STR(num(0.000001), "0.000001");
    CHECK_STR(num(9007199254740991.0), "9007199254740991");
    CHECK_STR(num(1.0 / 0.0), "null");
    CHECK_STR(num(0.1 + 0.2), "0.30000000000000004");
    CHECK_STR(num(1e300), "1e+300");
    CHECK_STR(num((double)0.61f), "0.6100000143051147");
    CHECK_STR(num(nextafter(1234.5678, 1e9)), "1234.5678000000003");
    CHECK_STR(num(0.5000000000000001), "0.5000000000000001");
    CHECK_STR(num(nextafter(1099511627776.0, 0)), "1099511627775.9999");
    /* Every number reads back as exactly itself. */
    srand(7);
    for (int i = 0; i < 20000; i++) {
        double v;
        switch (i % 4) {
        case 0: v = (rand() - RAND_MAX / 2) / 1000.0; break;
        case 1: v = (double)rand() / RAND_MAX * pow(10, rand() % 30 - 15); break;
        case 2: v = (rand() % 100000) / 10.0 - 5000; break;
        default: v = (double)(float)((double)rand() / 7.0); break;
        }
        const char *s = num(v);
        if (strtod(s, NULL) != v) {
            CHECK(strtod(s, NULL) == v);
            printf("  %.17g printed as %s\n", v, s);
            break;
        }
    }
    /* ... and is the shortest: as many significant digits as the least %.Ng
     * that reads back, over magnitudes from 1e-20 to 1e16 and the awkward spots
     * (powers of two, where the gap below is half the gap above). */
    uint64_t x = 88172645463325252ULL;
    int bad = 0;
    for (int i = 0; i < 300000 && bad < 3; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        if (i % 3 == 0)
            v = ldexp(1.0, (int)(x % 100) - 60) * (x & 1 ? -1 : 1);
        else
            v = (double)(x >> 11) / 9007199254740992.0 * pow(10, (int)(x % 37) - 20);
        const char *s = num(v);
        int prec = 1;
        char ref[40];
        for (; prec <= 17; prec++) {
            snprintf(ref, sizeof ref, "%.*g", prec, v);
            if (strtod(ref, NULL) == v)
                break;
        }
        int digits = 0, lead = 1;
        for (const char *p = s; *p && *p != 'e'; p++)
            if (*p >= '0' && *p <= '9') {
                if (*p != '0' || !lead)
                    digits++, lead = 0;
            }
        /* trailing zeros of an integer part are not significant */
        if (!strchr(s, '.') && !strchr(s, 'e'))
            for (const char *p = s + strlen(s) - 1; p > s && *p == '0'; p--)
                digits--;
#ifndef __SIZEOF_INT128__
        prec = 17;  /* 32-bit targets print long values with printf: exact, not shortest */
#endif
        if (strtod(s, NULL) != v || digits > prec) {
            bad++;
            printf("  %.17g printed as %s (%d digits; %%.%dg reads back)\n", v, s, digits, prec);
        }
    }
    CHECK(bad == 0);
}

static void test_wire_time(void)
{
    char buf[32];
    wire_time_rfc3339(0, 480, buf);
    CHECK_STR(buf, "1970-01-01T08:00:00.000+08:00");
    wire_time_rfc3339(1795919400123LL, 0, buf);
    CHECK_STR(buf, "2026-11-29T02:30:00.123+00:00");
    wire_time_rfc3339(1795919400123LL, -330, buf);
    CHECK_STR(buf, "2026-11-28T21:00:00.123-05:30");
    wire_time_rfc3339(-1, 0, buf);
    CHECK_STR(buf, "1969-12-31T23:59:59.999+00:00");
}

int main(void)
{
    RUN(test_generic_golden);
    RUN(test_numbers);
    RUN(test_wire_time);
    return UNIT_END();
}
