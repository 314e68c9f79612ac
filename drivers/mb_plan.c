/* mb_plan: sorts a device's points by area and address and merges neighbours into
 * reads of at most max_registers registers (max_bits bits), spanning at most
 * max_gap unused registers, so a poll costs as few round trips as the device allows. */
#include "drivers/mb_plan.h"
#include <stdlib.h>
#include <string.h>

struct sort_item {
    const struct mb_addr *a;
    uint32_t idx;
};

static int by_area_address(const void *x, const void *y)
{
    const struct sort_item *p = x, *q = y;
    if (p->a->area != q->a->area)
        return (int)p->a->area - (int)q->a->area;
    if (p->a->address != q->a->address)
        return p->a->address < q->a->address ? -1 : 1;
    return p->idx < q->idx ? -1 : p->idx > q->idx;
}

int mb_plan_build(struct mb_plan *plan, const struct mb_addr *const *points, size_t n,
                  const struct mb_limits *lim)
{
    plan->reads = NULL;
    plan->nreads = 0;
    plan->idx = NULL;
    plan->npoints = n;
    if (n == 0)
        return 0;
    struct sort_item *items = malloc(n * sizeof *items);
    plan->idx = malloc(n * sizeof *plan->idx);
    plan->reads = malloc(n * sizeof *plan->reads);  /* at most one read per point */
    if (!items || !plan->idx || !plan->reads)
        goto fail;
    for (size_t i = 0; i < n; i++)
        items[i] = (struct sort_item){ points[i], (uint32_t)i };
    qsort(items, n, sizeof *items, by_area_address);

    struct mb_read *cur = NULL;
    uint32_t cur_end = 0;   /* one past the last register/bit the read covers */
    for (size_t i = 0; i < n; i++) {
        const struct mb_addr *a = items[i].a;
        int bits = mb_is_bit_area(a->area);
        unsigned max = bits ? lim->max_bits : lim->max_registers;
        unsigned gap = bits ? lim->max_gap * 16 : lim->max_gap;
        uint32_t w = mb_width(a);
        uint32_t end = (uint32_t)a->address + w;
        if (w > max)
            goto fail;
        if (cur && cur->area == a->area && a->address <= cur_end + gap &&
            (end > cur_end ? end : cur_end) - cur->start <= max) {
            if (end > cur_end)
                cur_end = end;
            cur->count = (uint16_t)(cur_end - cur->start);
            cur->n++;
        } else {
            cur = &plan->reads[plan->nreads++];
            *cur = (struct mb_read){ a->area, a->address, (uint16_t)w, (uint32_t)i, 1 };
            cur_end = end;
        }
        plan->idx[i] = items[i].idx;
    }
    free(items);
    /* Room was made for one read per point; keep what the plan uses (a split
     * makes room again). */
    struct mb_read *fit = realloc(plan->reads, plan->nreads * sizeof *fit);
    if (fit)
        plan->reads = fit;
    return 0;
fail:
    free(items);
    mb_plan_free(plan);
    return -1;
}

void mb_plan_free(struct mb_plan *plan)
{
    free(plan->reads);
    free(plan->idx);
    plan->reads = NULL;
    plan->idx = NULL;
    plan->nreads = plan->npoints = 0;
}

size_t mb_plan_split(struct mb_plan *plan, size_t k, const struct mb_addr *const *points)
{
    struct mb_read r = plan->reads[k];
    if (r.n < 2)
        return 0;
    /* Cut points: where the next point starts past the end of the ones before. */
    size_t pieces = 1;
    uint32_t end = (uint32_t)points[plan->idx[r.first]]->address + mb_width(points[plan->idx[r.first]]);
    for (uint32_t j = r.first + 1; j < r.first + r.n; j++) {
        const struct mb_addr *a = points[plan->idx[j]];
        if (a->address > end)
            pieces++;
        uint32_t e = (uint32_t)a->address + mb_width(a);
        if (e > end)
            end = e;
    }
    int halve = pieces == 1;
    if (halve)
        pieces = 2;
    struct mb_read *room = realloc(plan->reads, (plan->nreads + pieces - 1) * sizeof *room);
    if (!room)
        return 0;
    plan->reads = room;
    memmove(&plan->reads[k + pieces], &plan->reads[k + 1],
            (plan->nreads - k - 1) * sizeof plan->reads[0]);
    plan->nreads += pieces - 1;
    size_t out = k;
    struct mb_read *cur = NULL;
    end = 0;
    for (uint32_t j = r.first; j < r.first + r.n; j++) {
        const struct mb_addr *a = points[plan->idx[j]];
        uint32_t e = (uint32_t)a->address + mb_width(a);
        int start_new = !cur || (halve ? j == r.first + r.n / 2 : a->address > end);
        if (start_new) {
            cur = &plan->reads[out++];
            *cur = (struct mb_read){ r.area, a->address, (uint16_t)(e - a->address), j, 0 };
            end = e;
        }
        if (e > end)
            end = e;
        cur->count = (uint16_t)(end - cur->start);
        cur->n++;
    }
    return pieces;
}
