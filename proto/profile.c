/* profile: the registry of known profiles (the point-table columns each reads,
 * CONTRACT.md "Metadata columns each profile reads"), copies of the built-in
 * description tables, the overrides a configuration applies to them, and the
 * values of fields that both encoders and the validator share. */
#include "proto/profile_impl.h"
#include "proto/charset.h"
#include <ctype.h>
#include <math.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const none[] = { NULL };
static const char *const hazchem_req[] = { "equip_code", "target_code", NULL };
static const char *const hazchem_opt[] = { "hazard_code", "equip_name", "longitude", "latitude",
                                           "range_low", "range_high", NULL };
static const char *const coal_req[] = { "point_code", "sensor_type", "location", NULL };
static const char *const coal_opt[] = { "system_code", "outstation_code", "on_text", "off_text",
                                        "x", "y", "z", "sensor_name", "value_type", "range_low",
                                        "range_high", "relation", NULL };
static const char *const tailings_req[] = { "item", NULL };
static const char *const tailings_opt[] = { "blue", "yellow", "orange", "red", "direction",
                                            "point_code", NULL };
static const char *const fireworks_req[] = { "equip_code", "target_code", NULL };
static const char *const fireworks_opt[] = { "building", "capacity", "equip_name", NULL };

/* `implemented`: the agent's uplink sends the profile. The encoders of all five
 * exist (profile_encode); the flag turns on when the uplink calls them. */
static const struct profile_info profiles[] = {
    { "generic",   none,          none,          1 },
    { "hazchem",   hazchem_req,   hazchem_opt,   1 },
    { "tailings",  tailings_req,  tailings_opt,  1 },
    { "coal",      coal_req,      coal_opt,      1 },
    { "fireworks", fireworks_req, fireworks_opt, 1 },
};

const struct profile_info *profile_find(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const char *profile_names(void)
{
    return "generic, hazchem, tailings, coal, fireworks";
}

/* ---- names ---- */
static const char *const kind_names[MK_COUNT] = { "realtime", "alarm", "status", "points" };

const char *message_kind_name(enum message_kind k)
{
    return (unsigned)k < MK_COUNT ? kind_names[k] : "?";
}

int message_kind_parse(const char *s, enum message_kind *out)
{
    for (int k = 0; k < MK_COUNT; k++)
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (enum message_kind)k;
            return 0;
        }
    return -1;
}

const char *const pf_level_names[PL_COUNT] = {
    "lolo", "lo", "hi", "hihi", "comm", "blue", "yellow", "orange", "red",
};

static int level_index(const char *name)
{
    for (int i = 0; name && i < PL_COUNT; i++)
        if (strcmp(name, pf_level_names[i]) == 0)
            return i;
    return -1;
}

static const char *const link_names[WIRE_LINK_COUNT] = { "unknown", "up", "down" };

static const char *const src_names[S_COUNT_OF_SRC] = {
    [S_NONE] = "", [S_APP_ID] = "app_id", [S_SERVICE] = "service_id", [S_DATA_ID] = "data_id",
    [S_DISTRICT] = "district", [S_ENTERPRISE] = "enterprise",
    [S_ENTERPRISE_NAME] = "enterprise_name", [S_GATEWAY] = "gateway", [S_RESEND] = "resend",
    [S_SEND_TIME] = "send_time", [S_DATA_TIME] = "data_time", [S_COUNT] = "count",
    [S_UPTIME] = "uptime", [S_VERSION] = "version", [S_DATA] = "data",
    [S_SEQ] = "seq", [S_TAG] = "tag", [S_NAME] = "name", [S_DEVICE] = "device",
    [S_UNIT] = "unit", [S_VALUE] = "value", [S_QUALITY] = "quality", [S_TIME] = "time",
    [S_LEVEL] = "level", [S_STATE] = "state", [S_THRESHOLD] = "threshold",
    [S_START_TIME] = "start_time", [S_END_TIME] = "end_time", [S_MAX] = "max",
    [S_MAX_TIME] = "max_time", [S_MIN] = "min", [S_MIN_TIME] = "min_time", [S_AVG] = "avg",
    [S_LOLO] = "lolo", [S_LO] = "lo", [S_HI] = "hi", [S_HIHI] = "hihi",
    [S_HI_CLEAR] = "hi_clear", [S_LO_CLEAR] = "lo_clear", [S_HIHI_CLEAR] = "hihi_clear",
    [S_LOLO_CLEAR] = "lolo_clear", [S_SENSOR_NAME] = "sensor_name",
    [S_VALUE_TYPE] = "value_type", [S_LINK_NAME] = "link", [S_LINK_CODE] = "link_code",
    [S_LINK_STATE] = "link_state", [S_RTT] = "rtt_ms", [S_ERRORS] = "errors",
    [S_META] = "meta", [S_CONST] = "const",
};

const char *pf_src_name(enum pf_src s)
{
    return (unsigned)s < S_COUNT_OF_SRC ? src_names[s] : "";
}

int pf_src_parse(const char *s)
{
    for (int i = 1; i < S_COUNT_OF_SRC; i++)
        if (i != S_META && i != S_CONST && i != S_DATA && strcmp(s, src_names[i]) == 0)
            return i;
    return -1;
}

enum fv_type pf_src_type(enum pf_src s)
{
    switch (s) {
    case S_RESEND: case S_COUNT: case S_UPTIME: case S_SEQ: case S_ERRORS:
        return FV_INT;
    case S_SEND_TIME: case S_DATA_TIME: case S_TIME: case S_START_TIME: case S_END_TIME:
    case S_MAX_TIME: case S_MIN_TIME:
        return FV_TIME;
    case S_VALUE: case S_THRESHOLD: case S_MAX: case S_MIN: case S_AVG: case S_LOLO: case S_LO:
    case S_HI: case S_HIHI: case S_HI_CLEAR: case S_LO_CLEAR: case S_HIHI_CLEAR:
    case S_LOLO_CLEAR: case S_RTT:
        return FV_NUM;
    case S_DATA: case S_NONE: case S_COUNT_OF_SRC:
        return FV_SKIP;
    default:
        return FV_STR;
    }
}

/* ---- create, free ---- */
static const struct profile *const tables[] = {
    &profile_table_generic, &profile_table_hazchem, &profile_table_tailings, &profile_table_coal,
    &profile_table_fireworks,
};

struct profile *profile_create(const char *name, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strcmp(tables[i]->name, name) == 0) {
            struct profile *p = malloc(sizeof *p);
            if (!p) {
                snprintf(err, errlen, "out of memory");
                return NULL;
            }
            *p = *tables[i];
            return p;
        }
    snprintf(err, errlen, "'%s' is not a profile (expected one of: %s)", name, profile_names());
    return NULL;
}

void profile_free(struct profile *p) { free(p); }
const char *profile_name(const struct profile *p) { return p->name; }
int profile_is_text(const struct profile *p) { return p->syntax == SYN_TEXT; }

const char *pf_time_format(const struct profile *p, int list)
{
    return list == PF_HEAD ? p->time_send : p->time[list];
}

/* ---- overrides ---- */
static int set_text(char *dst, size_t cap, const char *v, const char *key, char *err,
                    size_t errlen)
{
    size_t n = strlen(v);
    if (n >= cap) {
        snprintf(err, errlen, "%s: '%s' is too long (%zu bytes at most)", key, v, cap - 1);
        return -1;
    }
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c < 0x20) {
            snprintf(err, errlen, "%s: control characters are not allowed", key);
            return -1;
        }
    memcpy(dst, v, n + 1);
    return 0;
}

/* "realtime." etc. at the start of s: the list index, and s advanced; or -1. */
static int list_prefix(const char **s)
{
    for (int k = 0; k <= MK_COUNT; k++) {
        const char *name = k == PF_HEAD ? "head" : kind_names[k];
        size_t n = strlen(name);
        if (strncmp(*s, name, n) == 0 && (*s)[n] == '.') {
            *s += n + 1;
            return k;
        }
    }
    return -1;
}

static int index_of(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static int list_names(char *buf, size_t len, const char *const *names, int n)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i]);
    return 0;
}

int profile_fields(const struct profile *p, enum message_kind kind, char *buf, size_t len)
{
    size_t o = 0;
    if (len)
        buf[0] = 0;
    for (int pass = 0; pass < 2; pass++) {
        int list = pass == 0 ? PF_HEAD : (int)kind;
        if ((unsigned)list > MK_COUNT)
            return -1;
        for (int i = 0; i < PF_FIELDS && p->fields[list][i].src != S_NONE; i++) {
            const struct pfield *f = &p->fields[list][i];
            int n = snprintf(buf + o, len - o, "%s%s%s=%s", o ? ", " : "",
                             pass ? "" : "head.", f->key, f->name[0] ? f->name : "-");
            if (n < 0 || o + (size_t)n >= len)
                return -1;
            o += (size_t)n;
        }
    }
    return 0;
}

static int is_code(const char *v) { return *v && strlen(v) < PF_CODE; }

static int is_uint(const char *v)
{
    if (!*v)
        return 0;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v))
            return 0;
    return 1;
}

/* Unescape \n \r \t \\ of a text separator. */
static int unescape(const char *v, char *out, size_t cap)
{
    size_t o = 0;
    for (; *v; v++) {
        char c = *v;
        if (c == '\\' && v[1]) {
            v++;
            c = *v == 'n' ? '\n' : *v == 'r' ? '\r' : *v == 't' ? '\t' : *v;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = 0;
    return o ? 0 : -1;
}

static int override_field(struct profile *p, const char *key, const char *rest, const char *value,
                          char *err, size_t errlen)
{
    int only = list_prefix(&rest);
    const char *name = strcmp(value, "-") == 0 ? "" : value;
    char tmp[PF_NAME];
    if (set_text(tmp, sizeof tmp, name, key, err, errlen))
        return -1;
    if (p->syntax == SYN_JSON && name[0] && strchr(name, '"')) {
        snprintf(err, errlen, "%s: a field name cannot hold a quote", key);
        return -1;
    }
    int hits = 0;
    for (int l = 0; l <= MK_COUNT; l++) {
        if (only >= 0 && l != only)
            continue;
        for (int i = 0; i < PF_FIELDS; i++) {
            struct pfield *f = &p->fields[l][i];
            if (f->src != S_NONE && strcmp(f->key, rest) == 0) {
                memcpy(f->name, tmp, sizeof tmp);
                hits++;
            }
        }
    }
    if (!hits) {
        char list[1024];
        profile_fields(p, only >= 0 && only < MK_COUNT ? (enum message_kind)only
                                                              : MK_REALTIME, list, sizeof list);
        snprintf(err, errlen, "%s: profile %s has no field '%s' (fields%s: %s)", key, p->name, rest,
                 only >= 0 && only < MK_COUNT ? "" : " of realtime", list);
        return -1;
    }
    return 0;
}

static int override_add(struct profile *p, const char *key, const char *rest, const char *value,
                        char *err, size_t errlen)
{
    int l = list_prefix(&rest);
    if (l < 0 || !*rest) {
        snprintf(err, errlen, "%s: expected add.KIND.NAME (KIND: head, realtime, alarm, status, "
                 "points)", key);
        return -1;
    }
    struct pfield f = { .src = S_NONE };
    if (set_text(f.name, sizeof f.name, rest, key, err, errlen))
        return -1;
    if (strncmp(value, "meta:", 5) == 0 && value[5]) {
        f.src = S_META;
        if (set_text(f.arg, sizeof f.arg, value + 5, key, err, errlen) ||
            set_text(f.key, sizeof f.key, value + 5, key, err, errlen))
            return -1;
    } else if (strncmp(value, "const:", 6) == 0) {
        f.src = S_CONST;
        if (set_text(f.arg, sizeof f.arg, value + 6, key, err, errlen) ||
            set_text(f.key, sizeof f.key, rest, key, err, errlen))
            return -1;
    } else {
        int s = pf_src_parse(value);
        if (s < 0) {
            snprintf(err, errlen, "%s: '%s' is not a source (expected meta:COLUMN, const:TEXT or "
                     "a field key such as tag, name, value, unit, time, quality)", key, value);
            return -1;
        }
        f.src = (unsigned char)s;
        snprintf(f.key, sizeof f.key, "%s", src_names[s]);
    }
    f.flags = PF_OMIT_EMPTY;
    for (int i = 0; i < PF_FIELDS; i++)
        if (p->fields[l][i].src == S_NONE) {
            p->fields[l][i] = f;
            return 0;
        }
    snprintf(err, errlen, "%s: no room for another field (%d at most)", key, PF_FIELDS);
    return -1;
}

static int override_time(struct profile *p, const char *key, const char *rest, const char *value,
                         char *err, size_t errlen)
{
    char why[160];
    if (profile_time_check(value, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", key, why);
        return -1;
    }
    if (strlen(value) >= PROFILE_TIME_MAX) {
        snprintf(err, errlen, "%s: '%s' is too long", key, value);
        return -1;
    }
    enum message_kind k;
    if (!rest) {
        for (int i = 0; i < MK_COUNT; i++)
            snprintf(p->time[i], sizeof p->time[i], "%s", value);
        snprintf(p->time_send, sizeof p->time_send, "%s", value);
    } else if (strcmp(rest, "send") == 0) {
        snprintf(p->time_send, sizeof p->time_send, "%s", value);
    } else if (message_kind_parse(rest, &k) == 0) {
        snprintf(p->time[k], sizeof p->time[k], "%s", value);
    } else {
        snprintf(err, errlen, "%s: expected time, time.send or time.KIND (realtime, alarm, "
                 "status, points)", key);
        return -1;
    }
    return 0;
}

static int override_code(char (*codes)[PF_CODE], const char *const *names, int n,
                         const struct profile *p, const char *key, const char *rest,
                         const char *value, char *err, size_t errlen)
{
    int i = index_of(rest, names, n);
    if (i < 0) {
        char list[256];
        list_names(list, sizeof list, names, n);
        snprintf(err, errlen, "%s: '%s' is not known (expected one of: %s)", key, rest, list);
        return -1;
    }
    if (!is_code(value) || (p->syntax == SYN_JSON && strchr(value, '"'))) {
        snprintf(err, errlen, "%s: '%s' is not a code (1 to %d characters)", key, value,
                 PF_CODE - 1);
        return -1;
    }
    return set_text(codes[i], PF_CODE, value, key, err, errlen);
}

int profile_override(struct profile *p, const char *key, const char *value, char *err,
                     size_t errlen)
{
    if (!p || !key || !value) {
        snprintf(err, errlen, "missing key or value");
        return -1;
    }
    const char *dot = strchr(key, '.');
    size_t fam = dot ? (size_t)(dot - key) : strlen(key);
    const char *rest = dot ? dot + 1 : NULL;
#define FAMILY(s) (fam == sizeof(s) - 1 && strncmp(key, s, fam) == 0)
    if (FAMILY("topic") && rest) {
        enum message_kind k;
        int i = strcmp(rest, "resend") == 0 ? MK_COUNT
                : message_kind_parse(rest, &k) == 0 ? (int)k : -1;
        if (i < 0) {
            snprintf(err, errlen, "%s: expected topic.KIND (realtime, alarm, status, points) or "
                     "topic.resend", key);
            return -1;
        }
        if (p->syntax == SYN_GENERIC && i == MK_POINTS) {
            snprintf(err, errlen, "%s: the generic profile sends no point definitions", key);
            return -1;
        }
        if ((!*value && i != MK_COUNT) || strpbrk(value, "+#")) {
            snprintf(err, errlen, "%s: '%s' is not a topic to publish on (no wildcards)", key,
                     value);
            return -1;
        }
        return set_text(p->topic[i], PF_TOPIC, value, key, err, errlen);
    }
    if (p->syntax == SYN_GENERIC) {
        snprintf(err, errlen, "%s: the generic profile is fixed by CONTRACT.md; only its topics "
                 "(topic.realtime, topic.alarm, topic.status, topic.resend) can be overridden",
                 key);
        return -1;
    }
    if (FAMILY("field") && rest)
        return override_field(p, key, rest, value, err, errlen);
    if (FAMILY("add") && rest)
        return override_add(p, key, rest, value, err, errlen);
    if (FAMILY("time"))
        return override_time(p, key, rest, value, err, errlen);
    if (FAMILY("type") && rest) {
        unsigned char set = strcmp(value, "string") == 0 ? PF_STRING
                          : strcmp(value, "number") == 0 ? PF_NUMBER
                          : strcmp(value, "bool") == 0 ? PF_BOOL : 0;
        if (!set) {
            snprintf(err, errlen, "%s: '%s' is not a type (expected string, number or bool)", key,
                     value);
            return -1;
        }
        int hits = 0;
        for (int l = 0; l <= MK_COUNT; l++)
            for (int i = 0; i < PF_FIELDS; i++) {
                struct pfield *f = &p->fields[l][i];
                if (f->src != S_NONE && strcmp(f->key, rest) == 0) {
                    f->flags = (unsigned char)((f->flags & PF_OMIT_EMPTY) | set);
                    hits++;
                }
            }
        if (!hits) {
            snprintf(err, errlen, "%s: profile %s has no field '%s'", key, p->name, rest);
            return -1;
        }
        return 0;
    }
    if (FAMILY("quality") && rest) {
        if (p->syntax == SYN_TEXT && (!is_uint(value) || strtoul(value, NULL, 10) > 255)) {
            snprintf(err, errlen, "%s: '%s' is not a status bit set (0 to 255)", key, value);
            return -1;
        }
        const char *q[Q_COUNT];
        for (int i = 0; i < Q_COUNT; i++)
            q[i] = quality_name((enum quality)i);
        return override_code(p->quality, q, Q_COUNT, p, key, rest, value, err, errlen);
    }
    if (FAMILY("level") && rest)
        return override_code(p->level, pf_level_names, PL_COUNT, p, key, rest, value, err,
                             errlen);
    if (FAMILY("state") && rest) {
        static const char *const st[] = { "cleared", "raised" };
        return override_code(p->state, st, 2, p, key, rest, value, err, errlen);
    }
    if (FAMILY("link") && rest)
        return override_code(p->link, link_names, WIRE_LINK_COUNT, p, key, rest, value, err,
                             errlen);
    if (FAMILY("service") && rest) {
        enum message_kind k;
        if (message_kind_parse(rest, &k)) {
            snprintf(err, errlen, "%s: expected service.KIND (realtime, alarm, status, points)",
                     key);
            return -1;
        }
        return set_text(p->service[k], PF_NAME, value, key, err, errlen);
    }
    if (FAMILY("kind") && rest && p->syntax == SYN_TEXT) {
        enum message_kind k;
        if (message_kind_parse(rest, &k) || !*value || strlen(value) > 7 ||
            strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(value)) {
            snprintf(err, errlen, "%s: expected kind.KIND = CODE (1 to 7 capitals or digits)", key);
            return -1;
        }
        return set_text(p->kind_code[k], 8, value, key, err, errlen);
    }
    if (FAMILY("text") && rest && p->syntax == SYN_TEXT) {
        char *dst = strcmp(rest, "field_sep") == 0 ? p->field_sep
                  : strcmp(rest, "record_end") == 0 ? p->record_end
                  : strcmp(rest, "file_end") == 0 ? p->file_end : NULL;
        char tmp[8];
        if (!dst || unescape(value, tmp, sizeof tmp)) {
            snprintf(err, errlen, "%s: expected text.field_sep, text.record_end or text.file_end "
                     "= 1 to 7 characters", key);
            return -1;
        }
        memcpy(dst, tmp, sizeof tmp);
        return 0;
    }
    if (FAMILY("charset") && !rest) {
        const char *name = charset_iconv_name(value);
        if (!name) {
            snprintf(err, errlen, "%s: '%s' is not a charset Ganzhi writes (utf-8, gbk, gb18030)",
                     key, value);
            return -1;
        }
        p->charset = strcmp(name, "UTF-8") ? name : NULL;
        return 0;
    }
#undef FAMILY
    snprintf(err, errlen, "'%s' is not an override of profile %s (expected field.KEY, "
             "field.KIND.KEY, add.KIND.NAME, type.KEY, time[.KIND|.send], quality.Q, level.L, "
             "state.S, link.S, service.KIND, topic.KIND%s, charset)", key, p->name,
             p->syntax == SYN_TEXT ? ", kind.KIND, text.field_sep|record_end|file_end" : "");
    return -1;
}

/* ---- topics and file names ---- */
int profile_topic(const struct profile *p, enum message_kind kind, int resend, const char *prefix,
                  const struct wire_site *site, char *buf, size_t len)
{
    if ((unsigned)kind >= MK_COUNT || !len)
        return -1;
    const char *t = p->topic[kind];
    if (kind == MK_REALTIME && resend && p->topic[MK_COUNT][0])
        t = p->topic[MK_COUNT];
    size_t o = 0;
    while (*t) {
        const char *sub = NULL;
        size_t skip = 0;
        static const char *const vars[] = { "{prefix}", "{enterprise}", "{gateway}",
                                            "{district}" };
        for (int v = 0; v < 4 && !sub; v++)
            if (strncmp(t, vars[v], strlen(vars[v])) == 0) {
                const char *val[] = { prefix, site->enterprise, site->gateway, site->district };
                sub = val[v] ? val[v] : "";
                skip = strlen(vars[v]);
            }
        size_t n = sub ? strlen(sub) : 1;
        if (o + n >= len)
            return -1;
        memcpy(buf + o, sub ? sub : t, n);
        o += n;
        t += sub ? skip : 1;
    }
    buf[o] = 0;
    return 0;
}

int profile_file_name(const struct profile *p, enum message_kind kind,
                      const struct wire_site *site, int64_t ms, char *buf, size_t len)
{
    if ((unsigned)kind >= MK_COUNT)
        return -1;
    char ts[PROFILE_TIME_MAX];
    profile_time_format("yyyyMMddHHmmss", ms, site->tz_minutes, ts, sizeof ts);
    const char *code = p->kind_code[kind][0] ? p->kind_code[kind] : kind_names[kind];
    int n = snprintf(buf, len, "%s_%s_%s.%s", site->enterprise, code, ts,
                     p->syntax == SYN_TEXT ? "txt" : "json");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ---- message id ---- */
void profile_message_id(const char *uplink, uint64_t first_seq, uint64_t last_seq, char out[33])
{
    unsigned char h[32] = { 0 };
    char seqs[48];
    int n = snprintf(seqs, sizeof seqs, "\n%llu\n%llu", (unsigned long long)first_seq,
                     (unsigned long long)last_seq);
    mbedtls_md_context_t c;
    mbedtls_md_init(&c);
    if (mbedtls_md_setup(&c, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 0) == 0 &&
        mbedtls_md_starts(&c) == 0) {
        mbedtls_md_update(&c, (const unsigned char *)uplink, strlen(uplink));
        mbedtls_md_update(&c, (const unsigned char *)seqs, (size_t)n);
        mbedtls_md_finish(&c, h);
    }
    mbedtls_md_free(&c);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[32] = 0;
}

/* ---- field values ---- */
const char *wire_meta(const struct wire_point_meta *m, const char *key)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->nkv; i++)
        if (m->kv[i].key && strcmp(m->kv[i].key, key) == 0)
            return m->kv[i].value && m->kv[i].value[0] ? m->kv[i].value : NULL;
    return NULL;
}

/* Coal sensor type names known from the public documents (PROFILES.md). */
static const char *sensor_type_name(const char *code)
{
    static const struct { const char *code, *name; } names[] = {
        { "0043", "甲烷" }, { "0004", "一氧化碳" },
    };
    for (size_t i = 0; code && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(code, names[i].code) == 0)
            return names[i].name;
    return NULL;
}

static int64_t data_time(const struct profile_msg *m)
{
    int64_t t = INT64_MIN;
    if (m->kind == MK_REALTIME)
        for (size_t i = 0; i < m->n; i++)
            t = m->readings[i].r.ts_ms > t ? m->readings[i].r.ts_ms : t;
    if (m->kind == MK_ALARM)
        for (size_t i = 0; i < m->nalarms; i++)
            t = m->alarms[i].ts_ms > t ? m->alarms[i].ts_ms : t;
    return t == INT64_MIN ? m->now_ms : t;
}

static double clear_of(double th, double hyst, int down)
{
    if (isnan(th))
        return NAN;
    double h = isnan(hyst) ? 0 : hyst;
    return down ? th + h : th - h;
}

void pf_value(const struct profile *p, const struct profile_msg *m, const struct pfield *f,
              const struct rview *v, struct fval *o)
{
    static const struct rview nothing;
    if (!v)
        v = &nothing;
    const struct wire_point_meta *mt = v->meta;
    const struct wire_reading *r = v->r;
    const struct wire_alarm *a = v->a;
    const struct wire_alarm_span *sp = v->span;
    int comm = a && a->level && strcmp(a->level, "comm") == 0;
    const struct wire_link *l = v->l;
    const struct wire_site *site = m->site;
    enum fv_type t = pf_src_type((enum pf_src)f->src);
    o->type = t;
    o->s = "";
    o->d = NAN;
    o->i = t == FV_TIME ? INT64_MIN : 0;
#define S(x) (o->s = (x) ? (x) : "")
    switch ((enum pf_src)f->src) {
    case S_APP_ID: S(m->app_id); break;
    case S_SERVICE: S(p->service[m->kind]); break;
    case S_DATA_ID: S(m->message_id); break;
    case S_DISTRICT: S(site->district); break;
    case S_ENTERPRISE: S(site->enterprise); break;
    case S_ENTERPRISE_NAME: S(site->enterprise_name); break;
    case S_GATEWAY: S(site->gateway); break;
    case S_RESEND: o->i = m->resend ? 1 : 0; break;
    case S_SEND_TIME: o->i = m->now_ms; break;
    case S_DATA_TIME: o->i = data_time(m); break;
    case S_COUNT:
        o->i = (int64_t)(m->kind == MK_REALTIME ? m->n : m->kind == MK_ALARM ? m->nalarms
                         : m->kind == MK_POINTS ? m->npoints
                         : m->status ? m->status->nlinks : 0);
        break;
    case S_UPTIME:
        if (m->kind != MK_STATUS || !m->status)
            o->type = FV_SKIP;
        else
            o->i = m->status->uptime_s;
        break;
    case S_VERSION:
        if (m->kind != MK_STATUS || !m->status)
            o->type = FV_SKIP;
        else
            S(m->status->version);
        break;
    case S_SEQ:
        if (r)
            o->i = (int64_t)r->seq;
        else
            o->type = FV_SKIP;
        break;
    case S_TAG: S(r ? r->tag : a ? a->tag : mt ? mt->tag : l ? l->name : NULL); break;
    case S_NAME:
        if (mt && mt->name && mt->name[0])
            S(mt->name);
        else
            S(r ? r->tag : a ? a->tag : mt ? mt->tag : l ? l->name : NULL);
        break;
    case S_DEVICE: S(r ? r->device : a ? a->device : mt ? mt->device : l ? l->name : NULL); break;
    case S_UNIT:
        S(r && r->unit ? r->unit : a && a->unit ? a->unit : mt ? mt->unit : NULL);
        break;
    case S_VALUE:
        o->d = r ? (r->r.has_value ? r->r.value : NAN) : a && !comm ? a->value : NAN;
        break;
    case S_QUALITY: S(r && r->r.quality < Q_COUNT ? p->quality[r->r.quality] : NULL); break;
    case S_TIME: o->i = r ? r->r.ts_ms : a ? a->ts_ms : m->now_ms; break;
    case S_LEVEL: {
        int li = a ? level_index(a->level) : -1;
        S(li >= 0 && p->level[li][0] ? p->level[li] : a ? a->level : NULL);
        break;
    }
    case S_STATE: S(a ? p->state[a->raised ? 1 : 0] : NULL); break;
    case S_THRESHOLD: o->d = a && !comm ? a->threshold : NAN; break;
    case S_START_TIME:
        o->i = !a ? INT64_MIN : a->raised ? a->ts_ms
             : sp && sp->start_ms ? sp->start_ms : INT64_MIN;
        break;
    case S_END_TIME: o->i = a && !a->raised ? a->ts_ms : INT64_MIN; break;
    case S_MAX: o->d = !a || comm ? NAN : sp && !isnan(sp->max) ? sp->max : a->value; break;
    case S_MIN: o->d = !a || comm ? NAN : sp && !isnan(sp->min) ? sp->min : a->value; break;
    case S_AVG: o->d = !a || comm ? NAN : sp && !isnan(sp->avg) ? sp->avg : a->value; break;
    case S_MAX_TIME:
        o->i = !a || comm ? INT64_MIN : sp && !isnan(sp->max) ? sp->max_ms : a->ts_ms;
        break;
    case S_MIN_TIME:
        o->i = !a || comm ? INT64_MIN : sp && !isnan(sp->min) ? sp->min_ms : a->ts_ms;
        break;
    case S_LOLO: o->d = mt ? mt->lolo : NAN; break;
    case S_LO: o->d = mt ? mt->lo : NAN; break;
    case S_HI: o->d = mt ? mt->hi : NAN; break;
    case S_HIHI: o->d = mt ? mt->hihi : NAN; break;
    case S_HI_CLEAR: o->d = mt ? clear_of(mt->hi, mt->hysteresis, 0) : NAN; break;
    case S_LO_CLEAR: o->d = mt ? clear_of(mt->lo, mt->hysteresis, 1) : NAN; break;
    case S_HIHI_CLEAR: o->d = mt ? clear_of(mt->hihi, mt->hysteresis, 0) : NAN; break;
    case S_LOLO_CLEAR: o->d = mt ? clear_of(mt->lolo, mt->hysteresis, 1) : NAN; break;
    case S_SENSOR_NAME: {
        const char *s = wire_meta(mt, "sensor_name");
        if (!s)
            s = sensor_type_name(wire_meta(mt, "sensor_type"));
        if (!s && mt && mt->name && mt->name[0])
            s = mt->name;
        if (!s)
            s = wire_meta(mt, "sensor_type");
        S(s);
        break;
    }
    case S_VALUE_TYPE: {
        /* Point code: mine (12) + system (2) + value type (2) + sensor type (4) + id. */
        const char *s = wire_meta(mt, "value_type");
        const char *pc = wire_meta(mt, "point_code");
        if (!s && pc && strlen(pc) >= 16)
            s = strncmp(pc + 14, "KG", 2) == 0 ? "KG" : "MN";
        S(s && strcmp(s, "KG") == 0 ? "KG" : "MN");
        break;
    }
    case S_LINK_NAME: S(l ? l->name : NULL); break;
    case S_LINK_CODE: S(l ? (l->code && l->code[0] ? l->code : l->name) : NULL); break;
    case S_LINK_STATE:
        S(l && (unsigned)l->state < WIRE_LINK_COUNT ? p->link[l->state] : NULL);
        break;
    case S_RTT: o->d = l ? l->rtt_ms : NAN; break;
    case S_ERRORS: o->i = l ? (int64_t)l->errors : 0; break;
    case S_META: S(wire_meta(mt, f->arg)); break;
    case S_CONST: S(f->arg); break;
    case S_NONE: case S_DATA: case S_COUNT_OF_SRC: o->type = FV_SKIP; break;
    }
#undef S
}

size_t pf_record_count(const struct profile_msg *m)
{
    switch (m->kind) {
    case MK_REALTIME: return m->readings ? m->n : 0;
    case MK_ALARM: return m->alarms ? m->nalarms : 0;
    case MK_POINTS: return m->points ? m->npoints : 0;
    case MK_STATUS: return m->status && m->status->links ? m->status->nlinks : 0;
    default: return 0;
    }
}

void pf_record_view(const struct profile_msg *m, size_t i, struct rview *v)
{
    memset(v, 0, sizeof *v);
    switch (m->kind) {
    case MK_REALTIME:
        v->r = &m->readings[i];
        v->meta = m->meta ? m->meta[i] : NULL;
        break;
    case MK_ALARM:
        v->a = &m->alarms[i];
        v->meta = m->alarm_meta ? m->alarm_meta[i] : NULL;
        v->span = m->spans ? m->spans[i] : NULL;
        break;
    case MK_POINTS: v->meta = &m->points[i]; break;
    default: v->l = &m->status->links[i]; break;
    }
}
