/* unit_ranges: the delivered-seq sets of uplinks: merging, gaps, text form. */
#include "tests/unit.h"
#include "agent/ranges.h"

static const char *fmt(const struct ranges *s)
{
    static char buf[256];
    ranges_format(s, buf, sizeof buf);
    return buf;
}

static void test_add_merge(void)
{
    struct ranges s;
    ranges_init(&s);
    ranges_add(&s, 10, 20);
    ranges_add(&s, 30, 40);
    CHECK_STR(fmt(&s), "10-20,30-40");
    ranges_add(&s, 21, 25);         /* touches: merges */
    CHECK_STR(fmt(&s), "10-25,30-40");
    ranges_add(&s, 1, 5);
    ranges_add(&s, 50, 60);
    CHECK_STR(fmt(&s), "1-5,10-25,30-40,50-60");
    ranges_add(&s, 3, 55);          /* swallows three */
    CHECK_STR(fmt(&s), "1-60");
    ranges_add(&s, 61, 61);
    ranges_add(&s, 70, 70);
    CHECK_STR(fmt(&s), "1-61,70-70");
    ranges_free(&s);
}

static void test_queries(void)
{
    struct ranges s;
    ranges_init(&s);
    CHECK(ranges_next_gap(&s, 1) == 1);
    ranges_add(&s, 1, 100);
    ranges_add(&s, 200, 300);
    CHECK(ranges_next_gap(&s, 1) == 101);
    CHECK(ranges_next_gap(&s, 150) == 150);
    CHECK(ranges_next_gap(&s, 200) == 301);
    CHECK(ranges_next_member(&s, 100) == 200);
    CHECK(ranges_next_member(&s, 250) == 251);
    CHECK(ranges_next_member(&s, 300) == UINT64_MAX);
    CHECK(ranges_contains(&s, 100) && !ranges_contains(&s, 101) && ranges_contains(&s, 200));
    CHECK(ranges_missing(&s, 1, 400) == 400 - 100 - 101);
    CHECK(ranges_missing(&s, 90, 210) == 99);
    ranges_free(&s);
}

static void test_text(void)
{
    struct ranges s;
    ranges_init(&s);
    CHECK(ranges_parse(&s, "1-10,20-30") == 0);
    CHECK_STR(fmt(&s), "1-10,20-30");
    struct ranges t;
    ranges_init(&t);
    CHECK(ranges_parse(&t, "") == 0 && t.n == 0);
    CHECK(ranges_parse(&t, "5-") == -1);
    CHECK(ranges_parse(&t, "9-3") == -1);
    CHECK(ranges_parse(&t, "1-2;") == -1);
    /* Only what ranges_format writes : sorted, disjoint, no signs. */
    const char *bad[] = { "0-18446744073709551615,5-6", "0--1,5-6", "5-3", "1-10,5-20",
                          "20-30,1-10", "1-10,11-20", "1-10,10-20", "-1-5", "+1-5", " 1-5",
                          "1- 5", "1-18446744073709551616", "1-2,", ",1-2", "1-2,,3-4" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ranges b;
        ranges_init(&b);
        if (ranges_parse(&b, bad[i]) != -1)
            printf("accepted '%s'\n", bad[i]);
        CHECK(ranges_parse(&b, bad[i]) == -1);
        ranges_free(&b);
    }
    struct ranges m;
    ranges_init(&m);
    CHECK(ranges_parse(&m, "0-18446744073709551615") == 0 && m.n == 1);
    CHECK_STR(fmt(&m), "0-18446744073709551615");
    /* Adding inside the full range leaves it one interval (hi + 1 wrapped before). */
    CHECK(ranges_add(&m, 5, 6) == 0 && m.n == 1);
    ranges_free(&m);
    ranges_free(&s);
    ranges_free(&t);
}

int main(void)
{
    RUN(test_add_merge);
    RUN(test_queries);
    RUN(test_text);
    return UNIT_END();
}
