/* tailings: monitoring items, their pseudo points and colour escalation (see tailings.h). */
#include "agent/tailings.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEM_DEVICE "tailings"      /* the device name of the items' pseudo points */

struct item {
    char *name;
    char *tag;                      /* "item:NAME" */
    uint32_t id;                    /* store id of the pseudo point */
    int colour;                     /* 0..3 blue..red, -1 none */
    struct wire_kv kv;              /* item = NAME, the column profiles read */
    struct wire_point_meta meta;
};

/* A point of an item, in its device's points. */
struct member {
    size_t point;                   /* index in the device's conf points */
    size_t item;
    int colour;                     /* ALARM_BLUE..ALARM_RED as last copied, or -1 */
};

struct tailings {
    pthread_mutex_t lock;           /* member colours and item colours, across buses */
    struct item *items;
    size_t nitems;
    struct member *members;         /* grouped by device, in configuration order */
    size_t nmembers;
    size_t *first;                  /* device d's members: [first[d], first[d + 1]) */
    size_t ndevices;
    unsigned (*count)[4];           /* per item: an evaluation's scratch */
};

int tailings_tag(const char *item, char *buf, size_t len)
{
    int n = snprintf(buf, len, "item:%s", item);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int tailings_point_colour(const struct alarm_point *st)
{
    for (int l = ALARM_RED; l >= ALARM_BLUE; l--)
        if (alarm_is_active(st, (enum alarm_level)l))
            return l;
    return -1;
}

int tailings_item_colour(const unsigned count[4])
{
    static const unsigned step[3] = { 4, 3, 2 };    /* blue x4, yellow x3, orange x2 */
    int top = -1, escalated = -1;
    unsigned at_or_above = 0;
    for (int i = 3; i >= 0; i--) {
        at_or_above += count[i];
        if (count[i] && top < 0)
            top = i;
        if (i < 3 && at_or_above >= step[i] && escalated < i + 1)
            escalated = i + 1;
    }
    return top > escalated ? top : escalated;
}

/* A point belongs to an item when it names one and has some colour threshold
 * (the same parse the alarm engine judges it by). */
static int has_colours(const struct conf_point *p)
{
    struct alarm_limits lim;
    alarm_limits_init(&lim, p);
    for (int l = ALARM_BLUE; l <= ALARM_RED; l++)
        if (!isnan(lim.level[l]))
            return 1;
    return 0;
}

/* The index of item name, added when new; -1 out of memory. */
static long item_index(struct tailings *t, const char *name)
{
    for (size_t k = 0; k < t->nitems; k++)
        if (!strcmp(t->items[k].name, name))
            return (long)k;
    struct item *ni = realloc(t->items, (t->nitems + 1) * sizeof *ni);
    if (!ni)
        return -1;
    t->items = ni;
    struct item *it = &t->items[t->nitems];
    *it = (struct item){ .name = strdup(name), .colour = -1 };
    size_t len = strlen(name) + sizeof "item:";
    it->tag = malloc(len);
    if (!it->name || !it->tag || tailings_tag(name, it->tag, len) != 0) {
        free(it->name);
        free(it->tag);
        return -1;
    }
    return (long)t->nitems++;
}

static int add_member(struct tailings *t, size_t point, size_t item)
{
    struct member *nm = realloc(t->members, (t->nmembers + 1) * sizeof *nm);
    if (!nm)
        return -1;
    t->members = nm;
    t->members[t->nmembers++] = (struct member){ point, item, -1 };
    return 0;
}

struct tailings *tailings_create(const struct conf *c, struct store *s, char *err,
                                 size_t errlen)
{
    struct tailings *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        t = NULL;
        goto oom;
    }
    t->ndevices = c->ndevices;
    t->first = calloc(c->ndevices + 1, sizeof *t->first);
    if (!t->first)
        goto oom;
    for (size_t d = 0; d < c->ndevices; d++) {
        const struct conf_device *cd = &c->devices[d];
        t->first[d] = t->nmembers;
        for (size_t i = 0; i < cd->npoints; i++) {
            const char *name = conf_point_meta(&cd->points[i], "item");
            if (!name || !has_colours(&cd->points[i]))
                continue;
            long k = item_index(t, name);
            if (k < 0 || add_member(t, i, (size_t)k) != 0)
                goto oom;
        }
    }
    t->first[c->ndevices] = t->nmembers;
    t->count = calloc(t->nitems ? t->nitems : 1, sizeof *t->count);
    if (!t->count)
        goto oom;
    /* The items array is complete: metas may point into it now. */
    for (size_t k = 0; k < t->nitems; k++) {
        struct item *it = &t->items[k];
        if (store_point_id(s, it->tag, ITEM_DEVICE, "", &it->id) != 0) {
            snprintf(err, errlen, "cannot set up tailings items: %s", store_errmsg(s));
            tailings_free(t);
            return NULL;
        }
        it->kv = (struct wire_kv){ "item", it->name };
        it->meta = (struct wire_point_meta){ .tag = it->tag, .name = it->name, .unit = "",
                                             .device = ITEM_DEVICE, .kv = &it->kv, .nkv = 1,
                                             .lolo = NAN, .lo = NAN, .hi = NAN, .hihi = NAN,
                                             .hysteresis = NAN };
    }
    return t;
oom:
    snprintf(err, errlen, "cannot set up tailings items: out of memory");
    tailings_free(t);
    return NULL;
}

void tailings_free(struct tailings *t)
{
    if (!t)
        return;
    for (size_t k = 0; k < t->nitems; k++) {
        free(t->items[k].name);
        free(t->items[k].tag);
    }
    free(t->items);
    free(t->members);
    free(t->first);
    free(t->count);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

size_t tailings_count(const struct tailings *t)
{
    return t->nitems;
}

const struct wire_point_meta *tailings_meta(const struct tailings *t, size_t k, uint32_t *id)
{
    *id = t->items[k].id;
    return &t->items[k].meta;
}

int tailings_has_members(const struct tailings *t, size_t dev)
{
    return dev < t->ndevices && t->first[dev + 1] > t->first[dev];
}

void tailings_restore(struct tailings *t, uint32_t point, int level)
{
    if (level < ALARM_BLUE || level > ALARM_RED)
        return;
    pthread_mutex_lock(&t->lock);
    for (size_t k = 0; k < t->nitems; k++)
        if (t->items[k].id == point && level - ALARM_BLUE > t->items[k].colour)
            t->items[k].colour = level - ALARM_BLUE;
    pthread_mutex_unlock(&t->lock);
}

/* Lock held. */
static void copy_colours(struct tailings *t, size_t dev, tailings_colour_fn *colour,
                         const void *arg)
{
    for (size_t m = t->first[dev]; m < t->first[dev + 1]; m++)
        t->members[m].colour = colour(arg, t->members[m].point);
}

void tailings_sync(struct tailings *t, size_t dev, tailings_colour_fn *colour, const void *arg)
{
    if (!tailings_has_members(t, dev))
        return;
    pthread_mutex_lock(&t->lock);
    copy_colours(t, dev, colour, arg);
    pthread_mutex_unlock(&t->lock);
}

void tailings_update(struct tailings *t, size_t dev, tailings_colour_fn *colour_of,
                     const void *colour_arg, int64_t now, tailings_emit_fn *emit, void *arg)
{
    if (!tailings_has_members(t, dev))
        return;
    pthread_mutex_lock(&t->lock);
    copy_colours(t, dev, colour_of, colour_arg);
    memset(t->count, 0, t->nitems * sizeof *t->count);
    for (size_t m = 0; m < t->nmembers; m++)
        if (t->members[m].colour >= 0)
            t->count[t->members[m].item][t->members[m].colour - ALARM_BLUE]++;
    for (size_t k = 0; k < t->nitems; k++) {
        struct item *it = &t->items[k];
        int colour = tailings_item_colour(t->count[k]);
        if (colour == it->colour)
            continue;
        struct alarm_event ev[2];
        int n = 0;
        unsigned at = 0;
        for (int c = colour < 0 ? 4 : colour; c < 4; c++)
            at += t->count[k][c];
        if (it->colour >= 0)
            ev[n++] = (struct alarm_event){ 0, it->id, (uint8_t)(ALARM_BLUE + it->colour), 0,
                                            now, at, 0 };
        if (colour >= 0)
            ev[n++] = (struct alarm_event){ 0, it->id, (uint8_t)(ALARM_BLUE + colour), 1, now,
                                            at, 0 };
        it->colour = colour;
        emit(arg, it->tag, ev, (size_t)n);
    }
    pthread_mutex_unlock(&t->lock);
}
