/* alarm: the limit and communication alarm state machine (see alarm.h). */
#include "agent/alarm.h"
#include "core/num.h"
#include <math.h>
#include <string.h>

static const char *const names[] = { "lolo", "lo", "hi", "hihi", "comm",
                                     "blue", "yellow", "orange", "red" };

const char *alarm_level_name(enum alarm_level l) { return l < ALARM_LEVELS ? names[l] : "?"; }

int alarm_level_parse(const char *s, enum alarm_level *out)
{
    for (int i = 0; i < ALARM_LEVELS; i++)
        if (!strcmp(s, names[i])) {
            *out = (enum alarm_level)i;
            return 0;
        }
    return -1;
}

/* One level: `beyond` the condition, `back` the value is past the clear margin. */
static int step(int64_t *s, int beyond, int back, int64_t delay_ms, int64_t now,
                enum alarm_level level, uint32_t point, double value, double threshold,
                struct alarm_event *out)
{
    if (*s != ALARM_ACTIVE) {
        if (!beyond) {
            *s = 0;
            return 0;
        }
        if (!*s)
            *s = now;
        if (now - *s < delay_ms)
            return 0;
        *out = (struct alarm_event){ 0, point, (uint8_t)level, 1, *s, value, threshold };
        *s = ALARM_ACTIVE;
        return 1;
    }
    if (!back)
        return 0;
    *s = 0;
    *out = (struct alarm_event){ 0, point, (uint8_t)level, 0, now, value, threshold };
    return 1;
}

void alarm_limits_init(struct alarm_limits *lim, const struct conf_point *p)
{
    for (int l = 0; l < ALARM_LEVELS; l++)
        lim->level[l] = NAN;
    const struct conf_limits *cl = conf_point_limits(p);
    lim->level[ALARM_LOLO] = cl->lolo;
    lim->level[ALARM_LO] = cl->lo;
    lim->level[ALARM_HI] = cl->hi;
    lim->level[ALARM_HIHI] = cl->hihi;
    static const char *const cols[] = { "blue", "yellow", "orange", "red" };
    for (int c = 0; c < 4; c++) {
        const char *v = conf_point_meta(p, cols[c]);
        char err[64];
        double d;
        if (v && num_parse_double(v, &d, err, sizeof err) == 0)
            lim->level[ALARM_BLUE + c] = d;
    }
    const char *dir = conf_point_meta(p, "direction");
    lim->colours_down = dir && !strcmp(dir, "down");
}

int alarm_limits_any(const struct alarm_limits *lim)
{
    for (int l = 0; l < ALARM_LEVELS; l++)
        if (l != ALARM_COMM && !isnan(lim->level[l]))
            return 1;
    return 0;
}

int alarm_eval_comm(int *active, const struct reading *r, struct alarm_event *out)
{
    /* The communication alarm follows the device; it is raised at once (the
     * poller's own retries are the delay), so nothing is ever pending. */
    int comm = r->quality == Q_COMM_FAIL;
    int64_t s = *active ? ALARM_ACTIVE : 0;
    int n = step(&s, comm, !comm, 0, r->ts_ms, ALARM_COMM, r->point, 0, 0, out);
    *active = s == ALARM_ACTIVE;
    return n;
}

int alarm_eval_limits(struct alarm_point *st, const struct conf_point *p,
                      const struct alarm_limits *lim, const struct reading *r,
                      struct alarm_event *out)
{
    int n = 0;
    /* Limits judge good values only: no value, no verdict, and no clear either. */
    if (!r->has_value || r->quality != Q_GOOD)
        return n;
    const struct conf_limits *cl = conf_point_limits(p);
    double v = r->value, h = isnan(cl->hysteresis) ? 0 : cl->hysteresis;
    const double *th = lim->level;
    for (int l = ALARM_LOLO; l < ALARM_LEVELS; l++) {
        if (l == ALARM_COMM || isnan(th[l]))
            continue;
        int high = l >= ALARM_BLUE ? !lim->colours_down : l >= ALARM_HI;
        int beyond = high ? v >= th[l] : v <= th[l];
        int back = high ? v < th[l] - h : v > th[l] + h;
        n += step(&st->level[l], beyond, back, cl->delay_ms, r->ts_ms, (enum alarm_level)l,
                  r->point, v, th[l], out + n);
    }
    return n;
}

int alarm_eval(struct alarm_point *st, const struct conf_point *p, const struct alarm_limits *lim,
               const struct reading *r, struct alarm_event *out)
{
    int comm = alarm_is_active(st, ALARM_COMM);
    int n = alarm_eval_comm(&comm, r, out);
    /* comm's state is idle or active, never pending (no on-delay) */
    alarm_set_active(st, ALARM_COMM, comm);
    return n + alarm_eval_limits(st, p, lim, r, out + n);
}
