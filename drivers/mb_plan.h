/* mb_plan: groups a device's points into as few Modbus read requests as allowed. */
#ifndef GANZHI_MB_PLAN_H
#define GANZHI_MB_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include "drivers/mb_point.h"

struct mb_limits {
    unsigned max_registers; /* per read of input/holding registers, 1..125 */
    unsigned max_bits;      /* per read of coils/discrete inputs, 1..2000 */
    unsigned max_gap;       /* unused registers (x16 for bits) a read may span */
};

/* One request: `count` registers or bits from `start` in `area`; it serves the
 * points idx[first .. first+n-1] of the plan. */
struct mb_read {
    enum mb_area area;
    uint16_t start;
    uint16_t count;
    uint32_t first;
    uint32_t n;
};

struct mb_plan {
    struct mb_read *reads;
    size_t nreads;
    uint32_t *idx;      /* point indices (into the caller's array), grouped by read */
    size_t npoints;
};

/* Build a plan for n points. Returns 0, or -1 on allocation failure or a point
 * wider than the limits allow. A point is never split across two reads. */
int mb_plan_build(struct mb_plan *plan, const struct mb_addr *const *points, size_t n,
                  const struct mb_limits *lim);
void mb_plan_free(struct mb_plan *plan);

/* A device refused read k (illegal address): replace it by smaller reads. First
 * the read is cut at every unused register it spans; a read without gaps is cut
 * in two. Returns the number of reads that replace it (>= 2), or 0 if it serves
 * a single point and cannot be split, or memory ran out. Repeated refusals thus
 * end, within a few polls, with reads the device accepts; the plan remembers them. */
size_t mb_plan_split(struct mb_plan *plan, size_t k, const struct mb_addr *const *points);

#endif
