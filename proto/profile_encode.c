/* profile_encode: the one entry point of every profile's encoder, the JSON
 * encoder the description tables drive, and the generic profile's table and
 * messages (CONTRACT.md "On the wire"; realtime and status in profile_generic.c). */
#include "proto/profile_impl.h"
#include "proto/json_out.h"
#include "proto/profile_generic.h"
#include "proto/charset.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* generic: fixed by the contract; only its topics are data. */
const struct profile profile_table_generic = {
    .name = "generic",
    .syntax = SYN_GENERIC,
    .time = { "rfc3339", "rfc3339", "rfc3339", "rfc3339" },
    .time_send = "rfc3339",
    .topic = { "{prefix}/realtime", "{prefix}/alarm", "{prefix}/status", "{prefix}/points", "" },
};

/* ---- JSON ---- */
static void put_int(struct json_out *j, int64_t v)
{
    if (v < 0)
        json_lit(j, "-");
    json_u64(j, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

/* A string that is a JSON number (as meta columns hold thresholds): its value. */
static int number_text(const char *s, double *d)
{
    char *end;
    if (!*s || strchr(" \t+", *s))
        return 0;
    *d = strtod(s, &end);
    return *end == 0 && isfinite(*d) && !strpbrk(s, "xXnNiI");
}

static void put_field(struct json_out *j, const struct profile *p, const struct profile_msg *m,
                      int list, const struct pfield *f, const struct rview *v, int *first)
{
    if (!f->name[0] || f->src == S_DATA)
        return;
    struct fval x;
    pf_value(p, m, f, v, &x);
    int empty = (x.type == FV_STR && !x.s[0]) || (x.type == FV_NUM && isnan(x.d)) ||
                (x.type == FV_TIME && x.i == INT64_MIN);
    if (x.type == FV_SKIP || (empty && (f->flags & PF_OMIT_EMPTY)))
        return;
    if (!*first)
        json_lit(j, ",");
    *first = 0;
    json_str(j, f->name);
    json_lit(j, ":");
    double d;
    switch (x.type) {
    case FV_SKIP:
        break;
    case FV_STR:
        if ((f->flags & PF_NUMBER) && number_text(x.s, &d))
            json_num(j, d);
        else if ((f->flags & PF_NUMBER) && !x.s[0])
            json_lit(j, "null");
        else
            json_str(j, x.s);
        break;
    case FV_NUM:
        if (isnan(x.d)) {
            json_lit(j, "null");
        } else if (f->flags & PF_STRING) {
            json_lit(j, "\"");
            json_num(j, x.d);
            json_lit(j, "\"");
        } else {
            json_num(j, x.d);
        }
        break;
    case FV_INT:
        if (f->flags & PF_BOOL) {
            if (x.i)
                json_lit(j, "true");
            else
                json_lit(j, "false");
        } else if (f->flags & PF_STRING) {
            json_lit(j, "\"");
            put_int(j, x.i);
            json_lit(j, "\"");
        } else {
            put_int(j, x.i);
        }
        break;
    case FV_TIME: {
        if (empty) {
            json_lit(j, "null");
            break;
        }
        const char *fmt = pf_time_format(p, list);
        char ts[PROFILE_TIME_MAX];
        int n = profile_time_format(fmt, x.i, m->site->tz_minutes, ts, sizeof ts);
        if (n < 0) {
            json_lit(j, "null");
            break;
        }
        int quote = !profile_time_is_number(fmt) || (f->flags & PF_STRING);
        if (quote)
            json_lit(j, "\"");
        json_raw(j, ts, (size_t)n);
        if (quote)
            json_lit(j, "\"");
        break;
    }
    }
}

char *pf_encode_json(const struct profile *p, const struct profile_msg *m, size_t *len)
{
    struct json_out j;
    json_init(&j);
    json_lit(&j, "{");
    int first = 1;
    struct rview none = { 0 };
    int k = (int)m->kind;
    size_t n = pf_record_count(m);
    for (int h = 0; h < PF_FIELDS && p->fields[PF_HEAD][h].src != S_NONE; h++) {
        const struct pfield *hf = &p->fields[PF_HEAD][h];
        if (hf->src != S_DATA) {
            put_field(&j, p, m, PF_HEAD, hf, &none, &first);
            continue;
        }
        if (!hf->name[0])
            continue;
        if (!first)
            json_lit(&j, ",");
        first = 0;
        json_str(&j, hf->name);
        json_lit(&j, ":[");
        for (size_t i = 0; i < n; i++) {
            struct rview v;
            pf_record_view(m, i, &v);
            if (i)
                json_lit(&j, ",");
            json_lit(&j, "{");
            int rfirst = 1;
            for (int f = 0; f < PF_FIELDS && p->fields[k][f].src != S_NONE; f++)
                put_field(&j, p, m, k, &p->fields[k][f], &v, &rfirst);
            json_lit(&j, "}");
        }
        json_lit(&j, "]");
    }
    json_lit(&j, "}");
    size_t l = j.len;
    char *s = json_take(&j);
    if (s && len)
        *len = l;
    return s;
}

/* ---- generic: point definitions (realtime, alarm, status: profile_generic.c) ---- */
static void generic_head(struct json_out *j, const struct wire_site *site)
{
    json_lit(j, "{\"enterprise\":");
    json_str(j, site->enterprise);
    json_lit(j, ",\"gateway\":");
    json_str(j, site->gateway);
}

static char *generic_points(const struct profile_msg *m)
{
    struct json_out j;
    json_init(&j);
    generic_head(&j, m->site);
    json_lit(&j, ",\"points\":[");
    for (size_t i = 0; i < m->npoints; i++) {
        const struct wire_point_meta *pt = &m->points[i];
        if (i)
            json_lit(&j, ",");
        json_lit(&j, "{\"tag\":");
        json_str(&j, pt->tag ? pt->tag : "");
        json_lit(&j, ",\"name\":");
        json_str(&j, pt->name ? pt->name : "");
        json_lit(&j, ",\"device\":");
        json_str(&j, pt->device ? pt->device : "");
        json_lit(&j, ",\"unit\":");
        json_str(&j, pt->unit ? pt->unit : "");
        static const char *const th[] = { "lolo", "lo", "hi", "hihi" };
        const double tv[] = { pt->lolo, pt->lo, pt->hi, pt->hihi };
        for (int t = 0; t < 4; t++)
            if (!isnan(tv[t])) {
                json_lit(&j, ",");
                json_str(&j, th[t]);
                json_lit(&j, ":");
                json_num(&j, tv[t]);
            }
        json_lit(&j, ",\"meta\":{");
        int first = 1;
        for (size_t k = 0; k < pt->nkv; k++) {
            if (!pt->kv[k].key || !pt->kv[k].value || !pt->kv[k].value[0])
                continue;
            if (!first)
                json_lit(&j, ",");
            first = 0;
            json_str(&j, pt->kv[k].key);
            json_lit(&j, ":");
            json_str(&j, pt->kv[k].value);
        }
        json_lit(&j, "}}");
    }
    json_lit(&j, "]}");
    return json_take(&j);
}

static char *generic_status_of(const struct profile_msg *m)
{
    const struct wire_status *st = m->status;
    if (st && st->detail)
        return generic_status(m->site, m->now_ms, st->detail);
    /* No detail object: the structured figures, in status.json's names. */
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (st) {
        cJSON_AddStringToObject(o, "version", st->version ? st->version : "");
        cJSON_AddNumberToObject(o, "uptime_s", (double)st->uptime_s);
        cJSON *da = cJSON_AddArrayToObject(o, "devices");
        static const char *const links[] = { "unknown", "up", "down" };
        for (size_t i = 0; da && i < st->nlinks; i++) {
            const struct wire_link *l = &st->links[i];
            cJSON *x = cJSON_CreateObject();
            if (!x)
                break;
            cJSON_AddItemToArray(da, x);
            cJSON_AddStringToObject(x, "name", l->name ? l->name : "");
            cJSON_AddStringToObject(x, "link", (unsigned)l->state < WIRE_LINK_COUNT
                                                   ? links[l->state] : "unknown");
            if (!isnan(l->rtt_ms))
                cJSON_AddNumberToObject(x, "rtt_ms", l->rtt_ms);
            cJSON_AddNumberToObject(x, "errors", (double)l->errors);
        }
    }
    char *s = generic_status(m->site, m->now_ms, o);
    cJSON_Delete(o);
    return s;
}

char *pf_encode_generic(const struct profile *p, const struct profile_msg *m, size_t *len)
{
    char *s = NULL;
    switch (m->kind) {
    case MK_REALTIME: s = generic_realtime(m->site, m->readings, m->n, m->resend, m->command_id, m->on_demand); break;
    case MK_ALARM: s = generic_alarm(m->site, m->alarms, m->nalarms); break;
    case MK_STATUS: s = generic_status_of(m); break;
    case MK_POINTS: s = generic_points(m); break;
    default: break;
    }
    if (s && len)
        *len = strlen(s);
    return s;
}

char *profile_encode(const struct profile *p, const struct profile_msg *m, size_t *len)
{
    if (!p || !m || !m->site || (unsigned)m->kind >= MK_COUNT)
        return NULL;
    if ((m->kind == MK_REALTIME && m->n && !m->readings) ||
        (m->kind == MK_ALARM && m->nalarms && !m->alarms) ||
        (m->kind == MK_POINTS && m->npoints && !m->points) ||
        (m->kind == MK_STATUS && m->status && m->status->nlinks && !m->status->links))
        return NULL;
    char *text = NULL;
    switch (p->syntax) {
    case SYN_GENERIC: text = pf_encode_generic(p, m, len); break;
    case SYN_JSON: text = pf_encode_json(p, m, len); break;
    case SYN_TEXT: text = pf_encode_text(p, m, len); break;
    }
    if (!text || !p->charset)
        return text;
    /* A character the charset lacks arrives as '?': visible in the message,
     * which still goes out. */
    size_t replaced, n;
    char *wire = charset_from_utf8(p->charset, text, len ? *len : strlen(text), &n, &replaced);
    free(text);
    if (wire && len)
        *len = n;
    return wire;
}
