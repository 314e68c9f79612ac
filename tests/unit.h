/* unit.h: the smallest test harness that tells what failed and where. Each test
 * binary prints "ok NAME" or "FAIL NAME: file:line: expr" per check group and ends
 * with "N passed, N failed"; tests/run.sh adds the binaries' counts together. */
#ifndef GANZHI_UNIT_H
#define GANZHI_UNIT_H

#include <stdio.h>
#include <string.h>
#include <math.h>

static int unit_passed, unit_failed, unit_case_failed;
static const char *unit_case;

#define CHECK(expr) do { if (!(expr)) { \
        printf("FAIL %s: %s:%d: %s\n", unit_case, __FILE__, __LINE__, #expr); \
        unit_case_failed = 1; } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
        printf("FAIL %s: %s:%d: %s == \"%s\", expected \"%s\"\n", unit_case, __FILE__, \
               __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
        unit_case_failed = 1; } } while (0)
#define CHECK_NUM(a, b) do { double a_ = (a), b_ = (b); \
        if (!(a_ == b_ || fabs(a_ - b_) <= 1e-9 * fabs(b_))) { \
        printf("FAIL %s: %s:%d: %s == %.17g, expected %.17g\n", unit_case, __FILE__, \
               __LINE__, #a, a_, b_); unit_case_failed = 1; } } while (0)

#define RUN(fn) do { unit_case = #fn; unit_case_failed = 0; fn(); \
        if (unit_case_failed) unit_failed++; else { unit_passed++; printf("ok %s\n", #fn); } \
    } while (0)

#define UNIT_END() (printf("%d passed, %d failed\n", unit_passed, unit_failed), \
                    unit_failed ? 1 : 0)

#endif
