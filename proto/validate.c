/* validate: check a captured message against a profile's description table. */
#include "proto/validate.h"
#include "proto/profile_impl.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rep {
    char *buf;
    size_t cap, len;
    int n, full;
};

static void problem(struct rep *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct rep *r, const char *fmt, ...)
{
    r->n++;
    if (r->full || !r->cap)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    if (r->len + n + 2 > r->cap) {
        r->full = 1;
        if (r->cap - r->len >= 4)
            r->len += (size_t)snprintf(r->buf + r->len, r->cap - r->len, "...");
        return;
    }
    memcpy(r->buf + r->len, line, n);
    r->len += n;
    r->buf[r->len++] = '\n';
    r->buf[r->len] = 0;
}

int validate_utf8(const char *s, size_t n, size_t *at)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t k;
        unsigned min;
        if (c == 0)
            goto bad;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            min = 0x10000;
        } else {
            goto bad;
        }
        unsigned cp = c & (0x3f >> k);
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (u[i + j] & 0xc0) != 0x80)
                goto bad;
            cp = cp << 6 | (u[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += k + 1;
        continue;
    bad:
        if (at)
            *at = i;
        return -1;
    }
    return 0;
}

/* ---- checks shared by both syntaxes ---- */
static int in_codes(const char (*codes)[PF_CODE], int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (codes[i][0] && strcmp(codes[i], s) == 0)
            return 1;
    return 0;
}

static int is_hex32(const char *s)
{
    if (strlen(s) != 32)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
            return 0;
    return 1;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int is_number_text(const char *s)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return 0;
    double d = strtod(s, &end);
    return !*end && isfinite(d) && !strpbrk(s, "xXnNiI");
}

/* A string value's own rules (codes, ids). */
static void check_string(struct rep *r, const struct profile *p, enum message_kind kind,
                         const struct pfield *f, const char *where, const char *s)
{
    switch ((enum pf_src)f->src) {
    case S_DATA_ID:
        if (!is_hex32(s))
            problem(r, "%s: '%s' is not a message id (32 lowercase hex characters)", where, s);
        break;
    case S_DISTRICT:
        if (!all_digits(s) || (strlen(s) != 6 && strlen(s) != 4))
            problem(r, "%s: '%s' is not a district code (6 digits, or 4)", where, s);
        break;
    case S_QUALITY:
        if (!in_codes((const char (*)[PF_CODE])p->quality, Q_COUNT, s))
            problem(r, "%s: '%s' is not a status code of profile %s", where, s, p->name);
        break;
    case S_LEVEL:
        if (!in_codes((const char (*)[PF_CODE])p->level, PL_COUNT, s)) {
            int known = 0;
            for (int i = 0; i < PL_COUNT; i++)
                known |= !p->level[i][0] && strcmp(s, pf_level_names[i]) == 0;
            if (!known)
                problem(r, "%s: '%s' is not an alarm level code of profile %s", where, s,
                        p->name);
        }
        break;
    case S_STATE:
        if (!in_codes((const char (*)[PF_CODE])p->state, 2, s))
            problem(r, "%s: '%s' is not an alarm state code of profile %s", where, s, p->name);
        break;
    case S_LINK_STATE:
        if (!in_codes((const char (*)[PF_CODE])p->link, WIRE_LINK_COUNT, s))
            problem(r, "%s: '%s' is not a link state code of profile %s", where, s, p->name);
        break;
    case S_VALUE_TYPE:
        if (strcmp(s, "MN") && strcmp(s, "KG"))
            problem(r, "%s: '%s' is not a value type (MN or KG)", where, s);
        break;
    case S_ENTERPRISE: case S_GATEWAY: case S_TAG:
        if (!*s)
            problem(r, "%s: is empty", where);
        break;
    case S_META:
        if (!*s && !(f->flags & PF_OMIT_EMPTY))
            problem(r, "%s: is empty (point-table column %s)", where, f->arg);
        break;
    default:
        break;
    }
    (void)kind;
}

static int optional_time(const struct pfield *f)
{
    return f->src == S_END_TIME || f->src == S_START_TIME || f->src == S_MAX_TIME ||
           f->src == S_MIN_TIME || (f->flags & PF_OMIT_EMPTY);
}

/* ---- JSON ---- */
static void check_json_field(struct rep *r, const struct profile *p, enum message_kind kind,
                             int list, const struct pfield *f, const cJSON *x, const char *where)
{
    enum fv_type t = pf_src_type((enum pf_src)f->src);
    if (f->src == S_UPTIME || f->src == S_VERSION)
        t = f->src == S_UPTIME ? FV_INT : FV_STR;
    switch (t) {
    case FV_STR:
        if ((f->flags & PF_NUMBER) && (cJSON_IsNumber(x) || cJSON_IsNull(x)))
            break;
        if ((f->flags & PF_NUMBER) && cJSON_IsString(x) && is_number_text(x->valuestring))
            break;
        if (!cJSON_IsString(x)) {
            problem(r, "%s: expected %s", where, f->flags & PF_NUMBER ? "a number" : "a string");
            break;
        }
        check_string(r, p, kind, f, where, x->valuestring);
        break;
    case FV_NUM:
        if (cJSON_IsNull(x) || (!(f->flags & PF_STRING) && cJSON_IsNumber(x)))
            break;
        if ((f->flags & PF_STRING) && cJSON_IsString(x) && is_number_text(x->valuestring))
            break;
        problem(r, "%s: expected a number%s", where, f->flags & PF_STRING ? " in a string" : "");
        break;
    case FV_INT:
        if (f->flags & PF_BOOL) {
            if (!cJSON_IsBool(x))
                problem(r, "%s: expected true or false", where);
        } else if (f->flags & PF_STRING) {
            if (!cJSON_IsString(x) || !all_digits(x->valuestring))
                problem(r, "%s: expected an integer in a string", where);
        } else if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) ||
                   (f->src == S_RESEND && x->valuedouble != 0 && x->valuedouble != 1)) {
            problem(r, "%s: expected %s", where, f->src == S_RESEND ? "0 or 1" : "an integer");
        }
        break;
    case FV_TIME: {
        const char *fmt = pf_time_format(p, list);
        if (cJSON_IsNull(x) && optional_time(f))
            break;
        char buf[32], why[160];
        const char *s = NULL;
        if (profile_time_is_number(fmt) && cJSON_IsNumber(x)) {
            snprintf(buf, sizeof buf, "%.0f", x->valuedouble);
            s = buf;
        } else if (cJSON_IsString(x)) {
            s = x->valuestring;
        }
        int64_t ms;
        if (!s)
            problem(r, "%s: expected a time (%s)", where, fmt);
        else if (profile_time_parse(fmt, s, strlen(s), 0, &ms, why, sizeof why))
            problem(r, "%s: %s", where, why);
        break;
    }
    default:
        break;
    }
}

static void check_json_object(struct rep *r, const struct profile *p, enum message_kind kind,
                              int list, const cJSON *o, const char *path)
{
    char where[160];
    const struct pfield *fs = p->fields[list];
    for (int i = 0; i < PF_FIELDS && fs[i].src != S_NONE; i++) {
        const struct pfield *f = &fs[i];
        if (!f->name[0])
            continue;
        int applies = !((f->src == S_UPTIME || f->src == S_VERSION) && kind != MK_STATUS);
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, f->name);
        snprintf(where, sizeof where, "%s%s", path, f->name);
        int shared = 0;
        for (int j = 0; j < PF_FIELDS && fs[j].src != S_NONE; j++)
            shared |= j != i && strcmp(fs[j].name, f->name) == 0;
        if (!applies) {
            if (x && !shared)
                problem(r, "%s: only status messages carry it", where);
            continue;
        }
        if (!x) {
            int optional = (f->flags & PF_OMIT_EMPTY) || f->src == S_APP_ID ||
                           (f->src == S_SERVICE && !p->service[kind][0]);
            if (!optional)
                problem(r, "%s: missing", where);
            continue;
        }
        if (f->src == S_DATA) {
            if (!cJSON_IsArray(x)) {
                problem(r, "%s: expected an array of records", where);
                continue;
            }
            int idx = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, x) {
                char sub[160];
                snprintf(sub, sizeof sub, "%s[%d].", f->name, idx++);
                if (!cJSON_IsObject(e))
                    problem(r, "%.*s: expected an object", (int)strlen(sub) - 1, sub);
                else
                    check_json_object(r, p, kind, kind, e, sub);
            }
            continue;
        }
        check_json_field(r, p, kind, list, f, x, where);
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, o) {
        int known = 0;
        for (int i = 0; i < PF_FIELDS && fs[i].src != S_NONE && !known; i++)
            known = fs[i].name[0] && strcmp(fs[i].name, x->string) == 0;
        if (!known)
            problem(r, "%s%s: not a field of profile %s %s messages", path, x->string, p->name,
                    list == PF_HEAD ? message_kind_name(kind) : message_kind_name(kind));
    }
}

/* ---- generic (CONTRACT.md) ---- */
static void need(struct rep *r, const cJSON *o, const char *path, const char *k, int type)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    int ok = x && ((type == 's' && cJSON_IsString(x)) ||
                   (type == 'n' && cJSON_IsNumber(x)) ||
                   (type == 'N' && (cJSON_IsNumber(x) || cJSON_IsNull(x))) ||
                   (type == 'b' && cJSON_IsBool(x)) || (type == 'a' && cJSON_IsArray(x)) ||
                   (type == 'o' && cJSON_IsObject(x)));
    if (!x)
        problem(r, "%s%s: missing", path, k);
    else if (!ok)
        problem(r, "%s%s: expected %s", path, k,
                type == 's' ? "a string" : type == 'n' ? "a number" : type == 'N'
                ? "a number or null" : type == 'b' ? "true or false" : type == 'a' ? "an array"
                : "an object");
}

static void need_ts(struct rep *r, const cJSON *o, const char *path, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    char why[160];
    int64_t ms;
    if (!cJSON_IsString(x))
        problem(r, "%s%s: expected an RFC 3339 time", path, k);
    else if (profile_time_parse("rfc3339", x->valuestring, strlen(x->valuestring), 0, &ms, why,
                                sizeof why))
        problem(r, "%s%s: %s", path, k, why);
}

static void check_generic(struct rep *r, enum message_kind kind, const cJSON *o)
{
    need(r, o, "", "enterprise", 's');
    need(r, o, "", "gateway", 's');
    static const char *const arrays[MK_COUNT] = { "readings", "alarms", NULL, "points" };
    if (kind == MK_STATUS) {
        need_ts(r, o, "", "ts");
        need(r, o, "", "status", 'o');
        return;
    }
    if (kind == MK_REALTIME)
        need(r, o, "", "resend", 'b');
    need(r, o, "", arrays[kind], 'a');
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, arrays[kind]), *e;
    int i = 0;
    const cJSON *arr = cJSON_IsArray(a) ? a : NULL;
    cJSON_ArrayForEach(e, arr) {
        char path[48];
        snprintf(path, sizeof path, "%s[%d].", arrays[kind], i++);
        need(r, e, path, "tag", 's');
        if (kind == MK_REALTIME) {
            need(r, e, path, "seq", 'n');
            need(r, e, path, "device", 's');
            need(r, e, path, "value", 'N');
            need(r, e, path, "unit", 's');
            need(r, e, path, "quality", 's');
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quality");
            int ok = 0;
            for (int k = 0; cJSON_IsString(q) && k < Q_COUNT; k++)
                ok |= strcmp(q->valuestring, quality_name((enum quality)k)) == 0;
            if (cJSON_IsString(q) && !ok)
                problem(r, "%squality: '%s' is not a quality", path, q->valuestring);
            need_ts(r, e, path, "ts");
        } else if (kind == MK_ALARM) {
            need(r, e, path, "level", 's');
            need(r, e, path, "state", 's');
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "state");
            if (cJSON_IsString(s) && strcmp(s->valuestring, "raised") &&
                strcmp(s->valuestring, "cleared"))
                problem(r, "%sstate: '%s' is not raised or cleared", path, s->valuestring);
            need(r, e, path, "value", 'N');
            need(r, e, path, "threshold", 'N');
            need_ts(r, e, path, "ts");
        } else {
            need(r, e, path, "name", 's');
            need(r, e, path, "unit", 's');
            need(r, e, path, "meta", 'o');
        }
    }
}

/* ---- coal text ---- */
struct span {
    const char *s;
    size_t n;
};

/* Split s at sep; up to max pieces; returns the count (may exceed max: not stored). */
static size_t split(const char *s, size_t n, const char *sep, struct span *out, size_t max)
{
    size_t k = 0, sl = strlen(sep);
    const char *start = s, *end = s + n;
    for (const char *c = s; c + sl <= end;) {
        if (memcmp(c, sep, sl) == 0) {
            if (k < max)
                out[k] = (struct span){ start, (size_t)(c - start) };
            k++;
            c += sl;
            start = c;
        } else {
            c++;
        }
    }
    if (k < max)
        out[k] = (struct span){ start, (size_t)(end - start) };
    return k + 1;
}

static void check_text_record(struct rep *r, const struct profile *p, enum message_kind kind,
                              int list, struct span rec, const char *what, const char *mine)
{
    struct span f[PF_FIELDS + 1];
    size_t want = 0;
    while (want < PF_FIELDS && p->fields[list][want].src != S_NONE)
        want++;
    size_t got = split(rec.s, rec.n, p->field_sep, f, PF_FIELDS + 1);
    if (got != want) {
        problem(r, "%s: %zu fields, expected %zu", what, got, want);
        return;
    }
    for (size_t i = 0; i < want; i++) {
        const struct pfield *fd = &p->fields[list][i];
        char v[256], where[200];
        snprintf(v, sizeof v, "%.*s", (int)f[i].n, f[i].s);
        snprintf(where, sizeof where, "%s field %zu (%s)", what, i + 1, fd->name);
        if (!fd->name[0])
            continue;
        enum fv_type t = pf_src_type((enum pf_src)fd->src);
        if (fd->src == S_QUALITY) {
            if (!all_digits(v) || strtoul(v, NULL, 10) > 255)
                problem(r, "%s: '%s' is not a status bit set (0 to 255)", where, v);
            continue;
        }
        if (fd->src == S_LINK_STATE || fd->src == S_LEVEL || fd->src == S_VALUE_TYPE) {
            check_string(r, p, kind, fd, where, v);
            continue;
        }
        if (fd->src == S_ENTERPRISE) {
            if (!all_digits(v) || strlen(v) != 12)
                problem(r, "%s: '%s' is not a mine code (12 digits)", where, v);
            continue;
        }
        if (fd->src == S_META && strcmp(fd->arg, "point_code") == 0) {
            size_t n = strlen(v);
            if (!n)
                problem(r, "%s: is empty", where);
            else if (mine && (strncmp(v, mine, strlen(mine)) != 0 || n < 20 || n > 28))
                problem(r, "%s: '%s' is not a point code (the mine code, system, MN/KG, "
                        "sensor type and the system's id: 20 to 28 characters)", where, v);
            continue;
        }
        if (fd->src == S_META &&
            (!strcmp(fd->arg, "location") || !strcmp(fd->arg, "sensor_type"))) {
            if (!*v)
                problem(r, "%s: is empty", where);
            continue;
        }
        if (t == FV_NUM && *v && !is_number_text(v))
            problem(r, "%s: '%s' is not a number", where, v);
        if (t == FV_INT && !all_digits(v))
            problem(r, "%s: '%s' is not an integer", where, v);
        if (t == FV_TIME) {
            char why[160];
            int64_t ms;
            if (!*v && optional_time(fd))
                continue;
            if (profile_time_parse(pf_time_format(p, list), v, strlen(v), 0, &ms, why,
                                   sizeof why))
                problem(r, "%s: %s", where, why);
        }
    }
}

static void check_text(struct rep *r, const struct profile *p, enum message_kind kind,
                       const char *msg, size_t len)
{
    size_t fe = strlen(p->file_end), re = strlen(p->record_end);
    if (len < fe || memcmp(msg + len - fe, p->file_end, fe) != 0) {
        problem(r, "does not end with the file end '%s'", p->file_end);
        return;
    }
    len -= fe;
    if (len < re || memcmp(msg + len - re, p->record_end, re) != 0) {
        problem(r, "the last record does not end with '%s'", p->record_end);
        return;
    }
    len -= re;
    size_t nrec = split(msg, len, p->record_end, NULL, 0);
    struct span *recs = malloc(nrec * sizeof *recs);
    if (!recs) {
        problem(r, "out of memory");
        return;
    }
    split(msg, len, p->record_end, recs, nrec);
    struct span hf[4];
    char mine[32] = "";
    if (split(recs[0].s, recs[0].n, p->field_sep, hf, 4) >= 1 && hf[0].n < sizeof mine)
        snprintf(mine, sizeof mine, "%.*s", (int)hf[0].n, hf[0].s);
    check_text_record(r, p, kind, PF_HEAD, recs[0], "header", NULL);
    for (size_t i = 1; i < nrec; i++) {
        char what[48];
        snprintf(what, sizeof what, "record %zu", i);
        check_text_record(r, p, kind, kind, recs[i], what, mine);
    }
    free(recs);
}

int profile_validate(const struct profile *p, enum message_kind kind, const char *msg, size_t len,
                     char *report, size_t reportlen)
{
    if (!p || !msg || (unsigned)kind >= MK_COUNT)
        return -1;
    struct rep r = { report, reportlen, 0, 0, 0 };
    if (reportlen)
        report[0] = 0;
    size_t at;
    if (validate_utf8(msg, len, &at)) {
        problem(&r, "not UTF-8 (byte %zu: 0x%02x; a GBK capture? ganzhi validate --charset gbk)",
                at, (unsigned char)msg[at]);
        return r.n;
    }
    if (p->syntax == SYN_TEXT) {
        check_text(&r, p, kind, msg, len);
        return r.n;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(msg, len, &end, 0);
    if (o && end) {
        while (end < msg + len && strchr(" \t\r\n", *end))
            end++;
        if (end != msg + len) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    if (!o) {
        problem(&r, "not JSON (at byte %zu)", end && end >= msg ? (size_t)(end - msg) : (size_t)0);
        return r.n;
    }
    if (!cJSON_IsObject(o))
        problem(&r, "not a JSON object");
    else if (p->syntax == SYN_GENERIC)
        check_generic(&r, kind, o);
    else
        check_json_object(&r, p, kind, PF_HEAD, o, "");
    cJSON_Delete(o);
    return r.n;
}
