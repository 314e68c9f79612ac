/* command: the command channel's payloads, parsed, checked and signed (the wire
 * format is drawn in command.h). Every refusal says why in words, for the reply. */
#include "proto/command.h"
#include "proto/profile_time.h"
#include "proto/wire.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char COMMAND_PREFIX[] = "{\"command\":";
static const char REPLY_PREFIX[] = "{\"reply\":";
static const char SIGN_MID[] = ",\"sign\":\"";
/* ,"sign":" + 64 hex + "} */
#define SUFFIX_LEN (sizeof SIGN_MID - 1 + MAC_HEX_LEN + 2)
/* 2^53: the largest integer a JSON number (a double) holds exactly. */
#define SEQ_MAX 9007199254740992.0

static const char *const kind_names[] = {
    [COMMAND_RESEND] = "resend", [COMMAND_MEASURE] = "measure", [COMMAND_CLOCK] = "clock",
    [COMMAND_STATUS] = "status", [COMMAND_POINTS] = "points",
};

const char *command_kind_name(enum command_kind k)
{
    return k > COMMAND_NONE && k <= COMMAND_POINTS ? kind_names[k] : NULL;
}

enum command_kind command_kind_parse(const char *s)
{
    for (int k = COMMAND_RESEND; s && k <= COMMAND_POINTS; k++)
        if (!strcmp(s, kind_names[k]))
            return (enum command_kind)k;
    return COMMAND_NONE;
}

const char *command_verdict_name(enum command_verdict v)
{
    switch (v) {
    case COMMAND_OK: return "ok";
    case COMMAND_TOO_BIG: return "too_big";
    case COMMAND_MALFORMED: return "malformed";
    case COMMAND_BAD_SIGNATURE: return "bad_signature";
    case COMMAND_EXPIRED: return "expired";
    case COMMAND_BAD_ARGS: return "bad_args";
    case COMMAND_UNKNOWN_CMD: return "unknown_cmd";
    case COMMAND_NO_MEMORY: return "no_memory";
    }
    return "?";
}

static void say(char *reason, size_t rl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *reason, size_t rl, const char *fmt, ...)
{
    if (!reason || !rl)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, rl, fmt, ap);
    va_end(ap);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Text from the sender, shown in a reason: printable ASCII kept, the rest '?',
 * cut at 40 characters. */
static const char *shown(const char *s, char buf[48])
{
    size_t i = 0;
    for (; s && s[i] && i < 40; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s && s[i])
        buf[i - 1] = buf[i - 2] = buf[i - 3] = '.';
    buf[i] = 0;
    return buf;
}

/* A limit, exactly: "7 days", "5 min", "30 s", "1500 ms". */
static const char *limit_words(int64_t ms, char *buf, size_t len)
{
    long long v = (long long)ms;
    if (v && v % 86400000 == 0)
        snprintf(buf, len, "%lld day%s", v / 86400000, v == 86400000 ? "" : "s");
    else if (v && v % 3600000 == 0)
        snprintf(buf, len, "%lld h", v / 3600000);
    else if (v && v % 60000 == 0)
        snprintf(buf, len, "%lld min", v / 60000);
    else if (v && v % 1000 == 0)
        snprintf(buf, len, "%lld s", v / 1000);
    else
        snprintf(buf, len, "%lld ms", v);
    return buf;
}

/* A measured span, roughly: "12.5 s", "61.0 min", "3.2 h", "8.0 days". */
static const char *span_words(int64_t ms, char *buf, size_t len)
{
    double v = (double)(ms < 0 ? -ms : ms);
    if (v < 120e3)
        snprintf(buf, len, "%.1f s", v / 1e3);
    else if (v < 120 * 60e3)
        snprintf(buf, len, "%.1f min", v / 60e3);
    else if (v < 48 * 3600e3)
        snprintf(buf, len, "%.1f h", v / 3600e3);
    else
        snprintf(buf, len, "%.1f days", v / 86400e3);
    return buf;
}

/* ---- the envelope ---- */

/* The object's bytes and the signature of {"<what>":OBJECT,"sign":"HEX"}. 0, or
 * -1 with the reason. */
static int envelope_split(const char *p, size_t len, const char *prefix, const char *what,
                          const char **obj, size_t *objlen, char hex[MAC_HEX_LEN + 1],
                          char *reason, size_t rl)
{
    size_t pl = strlen(prefix), a = 0, z = len;
    while (a < len && is_ws(p[a]))
        a++;
    while (z > a && is_ws(p[z - 1]))
        z--;
    if ((a || z < len) && z > a && p[a] == '{' && p[z - 1] == '}') {
        say(reason, rl, "whitespace outside the %s object", what);
        return -1;
    }
    if (len < pl || memcmp(p, prefix, pl) != 0) {
        say(reason, rl, "not a %s: the payload must start with %s", what, prefix);
        return -1;
    }
    const char *suf = len >= pl + 2 + SUFFIX_LEN ? p + len - SUFFIX_LEN : NULL;
    if (!suf || memcmp(suf, SIGN_MID, sizeof SIGN_MID - 1) != 0 ||
        suf[SUFFIX_LEN - 2] != '"' || suf[SUFFIX_LEN - 1] != '}') {
        say(reason, rl, "not a %s: the payload must end with ,\"sign\":\"<64 hex digits>\"}", what);
        return -1;
    }
    const char *h = suf + sizeof SIGN_MID - 1;
    for (size_t i = 0; i < MAC_HEX_LEN; i++) {
        if (!is_hex(h[i])) {
            say(reason, rl, "the signature is not 64 hex digits");
            return -1;
        }
        hex[i] = h[i];
    }
    hex[MAC_HEX_LEN] = 0;
    *obj = p + pl;
    *objlen = len - pl - SUFFIX_LEN;
    if (is_ws((*obj)[0]) || is_ws((*obj)[*objlen - 1])) {
        say(reason, rl, "whitespace outside the %s object", what);
        return -1;
    }
    if ((*obj)[0] != '{' || (*obj)[*objlen - 1] != '}') {
        say(reason, rl, "the %s is not a JSON object", what);
        return -1;
    }
    return 0;
}

/* What cJSON lets through and we do not: bytes that are not UTF-8, raw control
 * characters (JSON has none in strings; outside them only \t \n \r), and \u0000,
 * which would cut a string short of what was signed. 0, or -1 with the reason. */
static int scan_text(const char *text, size_t n, const char *what, char *reason, size_t rl)
{
    const unsigned char *s = (const unsigned char *)text;
    int in_str = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x20) {
            if (in_str || (c != '\t' && c != '\n' && c != '\r')) {
                say(reason, rl, "a control character (0x%02x) at byte %zu of the %s", c, i, what);
                return -1;
            }
            i++;
        } else if (c < 0x80) {
            if (in_str && c == '\\') {
                if (i + 5 < n && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4)) {
                    say(reason, rl, "\\u0000 in a string of the %s", what);
                    return -1;
                }
                i += 2;
                continue;
            }
            if (c == '"')
                in_str = !in_str;
            i++;
        } else {
            size_t k;
            unsigned cp;
            if (c >= 0xc2 && c <= 0xdf)
                k = 1, cp = c & 0x1f;
            else if (c >= 0xe0 && c <= 0xef)
                k = 2, cp = c & 0x0f;
            else if (c >= 0xf0 && c <= 0xf4)
                k = 3, cp = c & 0x07;
            else
                goto bad;
            if (i + k >= n)
                goto bad;
            for (size_t j = 1; j <= k; j++) {
                if ((s[i + j] & 0xc0) != 0x80)
                    goto bad;
                cp = cp << 6 | (s[i + j] & 0x3f);
            }
            if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
                (cp >= 0xd800 && cp <= 0xdfff))
                goto bad;
            i += k + 1;
            continue;
        bad:
            say(reason, rl, "the %s is not UTF-8 (byte %zu)", what, i);
            return -1;
        }
    }
    return 0;
}

/* n bytes of JSON, parsed whole (a copy, NUL-terminated: cJSON reads strings
 * with strtod and friends). NULL with the reason. */
static cJSON *parse_json(const char *text, size_t n, const char *what, char *reason, size_t rl)
{
    char *copy = malloc(n + 1);
    if (!copy) {
        say(reason, rl, "out of memory");
        return NULL;
    }
    memcpy(copy, text, n);
    copy[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, n, &end, 0);
    if (!root || end != copy + n || !cJSON_IsObject(root)) {
        say(reason, rl, "the %s is not valid JSON (at byte %zu)", what,
            end && end >= copy && end <= copy + n ? (size_t)(end - copy) : (size_t)0);
        cJSON_Delete(root);
        root = NULL;
    }
    free(copy);
    return root;
}

/* The first name that appears twice among o's fields, or NULL. */
static const char *duplicate_field(const cJSON *o)
{
    for (const cJSON *a = o->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string))
                return a->string;
    return NULL;
}

/* The first field of o not in the NULL-terminated list, or NULL. */
static const char *unknown_field(const cJSON *o, const char *const *known)
{
    for (const cJSON *a = o->child; a; a = a->next) {
        size_t i = 0;
        while (known[i] && strcmp(known[i], a->string ? a->string : ""))
            i++;
        if (!known[i])
            return a->string ? a->string : "";
    }
    return NULL;
}

/* 0 when it is an id: a string of 1..64 printable ASCII characters. */
static int id_check(const cJSON *it, char *reason, size_t rl)
{
    if (!it) {
        say(reason, rl, "no id");
        return -1;
    }
    if (!cJSON_IsString(it) || !it->valuestring) {
        say(reason, rl, "id is not a string");
        return -1;
    }
    size_t n = strlen(it->valuestring);
    if (n == 0) {
        say(reason, rl, "id is empty");
        return -1;
    }
    if (n > COMMAND_ID_MAX) {
        say(reason, rl, "id is longer than %d characters", COMMAND_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (it->valuestring[i] < 0x20 || it->valuestring[i] > 0x7e) {
            say(reason, rl, "id has a character that is not printable ASCII");
            return -1;
        }
    return 0;
}

static void set_cmd(struct command *out, const cJSON *cmd)
{
    if (!cJSON_IsString(cmd) || !cmd->valuestring)
        return;
    size_t n = strlen(cmd->valuestring);
    if (n >= sizeof out->cmd)
        return;
    for (size_t i = 0; i < n; i++)
        if (cmd->valuestring[i] < 0x21 || cmd->valuestring[i] > 0x7e)
            return;
    memcpy(out->cmd, cmd->valuestring, n + 1);
}

/* For the refusal of a command that cannot be trusted or read whole: its id (and
 * cmd) if they can be read, nothing else. whole: text is the whole payload. */
static void peek_id(const char *text, size_t n, int whole, struct command *out)
{
    cJSON *root = parse_json(text, n, "", NULL, 0);
    const cJSON *o = whole ? cJSON_GetObjectItemCaseSensitive(root, "command") : root;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsObject(o) && id && id_check(id, NULL, 0) == 0)
        snprintf(out->id, sizeof out->id, "%s", id->valuestring);
    if (cJSON_IsObject(o))
        set_cmd(out, cJSON_GetObjectItemCaseSensitive(o, "cmd"));
    cJSON_Delete(root);
}

/* ---- times ---- */

/* Z, +HH:MM, or (compact form only) +HHMM; z only in RFC 3339. */
static int zone_parse(const char *z, size_t n, int rfc, int *minutes)
{
    if (n == 1 && (z[0] == 'Z' || (rfc && z[0] == 'z'))) {
        *minutes = 0;
        return 0;
    }
    if ((n != 6 && (n != 5 || rfc)) || (z[0] != '+' && z[0] != '-'))
        return -1;
    const char *hh = z + 1, *mm = n == 6 ? z + 4 : z + 3;
    if (n == 6 && z[3] != ':')
        return -1;
    for (int i = 0; i < 2; i++)
        if (hh[i] < '0' || hh[i] > '9' || mm[i] < '0' || mm[i] > '9')
            return -1;
    int h = (hh[0] - '0') * 10 + hh[1] - '0', m = (mm[0] - '0') * 10 + mm[1] - '0';
    if (h > 23 || m > 59)
        return -1;
    *minutes = (z[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

int command_time_parse(const char *s, size_t n, int64_t *ms)
{
    char err[96];
    int tz;
    if (!s)
        return -1;
    if (n >= 15 && s[4] >= '0' && s[4] <= '9') {
        /* yyyyMMddHHmmss and a zone */
        if (zone_parse(s + 14, n - 14, 0, &tz) != 0)
            return -1;
        return profile_time_parse("yyyyMMddHHmmss", s, 14, tz, ms, err, sizeof err);
    }
    if (n < 20)
        return -1;
    char d[20];
    memcpy(d, s, 19);
    d[19] = 0;
    if (d[10] == 't')
        d[10] = 'T';
    size_t i = 19;
    int frac = 0;
    if (s[i] == '.') {
        size_t k = 0;
        for (i++; i < n && k < 9 && s[i] >= '0' && s[i] <= '9'; i++, k++)
            if (k < 3)
                frac = frac * 10 + (s[i] - '0');
        if (k == 0)
            return -1;
        for (; k < 3; k++)
            frac *= 10;
    }
    if (zone_parse(s + i, n - i, 1, &tz) != 0 ||
        profile_time_parse("yyyy-MM-ddTHH:mm:ss", d, 19, tz, ms, err, sizeof err) != 0)
        return -1;
    *ms += frac;
    return 0;
}

#define TIME_FORMS "RFC 3339 with a zone, or yyyyMMddHHmmss and a zone"

/* A time field: a string in one of the forms. */
static int time_field(const cJSON *it, const char *name, const char *cmd, int64_t *ms,
                      char *reason, size_t rl)
{
    char b[48];
    if (!cJSON_IsString(it) || !it->valuestring) {
        say(reason, rl, "%s%s%s is not a string", cmd, cmd[0] ? ": " : "", name);
        return -1;
    }
    if (command_time_parse(it->valuestring, strlen(it->valuestring), ms) != 0) {
        say(reason, rl, "%s%s%s '%s' is not a time (" TIME_FORMS ")", cmd, cmd[0] ? ": " : "",
            name, shown(it->valuestring, b));
        return -1;
    }
    return 0;
}

/* ---- args ---- */

/* tags or devices: a non-empty array of at most COMMAND_NAMES_MAX strings, each
 * 1..COMMAND_NAME_BYTES bytes without control characters. Copied into out. */
static enum command_verdict names_field(const cJSON *arr, const char *field, const char *cmd,
                                        struct command *out, char *reason, size_t rl)
{
    if (!cJSON_IsArray(arr)) {
        say(reason, rl, "%s: %s is not an array of strings", cmd, field);
        return COMMAND_BAD_ARGS;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    if (n == 0) {
        say(reason, rl, "%s: %s is empty", cmd, field);
        return COMMAND_BAD_ARGS;
    }
    if (n > COMMAND_NAMES_MAX) {
        say(reason, rl, "%s: %s has %zu entries, more than %d", cmd, field, n, COMMAND_NAMES_MAX);
        return COMMAND_BAD_ARGS;
    }
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it) || !it->valuestring) {
            say(reason, rl, "%s: %s[%zu] is not a string", cmd, field, i);
            return COMMAND_BAD_ARGS;
        }
        size_t len = strlen(it->valuestring);
        if (len == 0 || len > COMMAND_NAME_BYTES) {
            say(reason, rl, "%s: %s[%zu] is %s", cmd, field, i,
                len ? "longer than 255 bytes" : "empty");
            return COMMAND_BAD_ARGS;
        }
        for (size_t k = 0; k < len; k++)
            if ((unsigned char)it->valuestring[k] < 0x20 || it->valuestring[k] == 0x7f) {
                say(reason, rl, "%s: %s[%zu] has a control character", cmd, field, i);
                return COMMAND_BAD_ARGS;
            }
    }
    out->names = calloc(n, sizeof *out->names);
    if (!out->names)
        goto oom;
    for (const cJSON *it = arr->child; it; it = it->next) {
        if (!(out->names[out->nnames] = strdup(it->valuestring)))
            goto oom;
        out->nnames++;
    }
    out->select = !strcmp(field, "tags") ? COMMAND_SELECT_TAGS : COMMAND_SELECT_DEVICES;
    return COMMAND_OK;
oom:
    say(reason, rl, "out of memory");
    return COMMAND_NO_MEMORY;
}

/* A seq: a JSON number that is a non-negative integer a double holds exactly. */
static int seq_field(const cJSON *it, const char *name, uint64_t *v, char *reason, size_t rl)
{
    double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
    if (!(d >= 0 && d <= SEQ_MAX && d == (double)(uint64_t)d)) {
        say(reason, rl, "resend: %s is not a non-negative integer (up to 2^53)", name);
        return -1;
    }
    *v = (uint64_t)d;
    return 0;
}

static enum command_verdict resend_args(const cJSON *args, int64_t now_ms, int64_t skew_ms,
                                        int64_t resend_max_ms, struct command *out, char *reason,
                                        size_t rl)
{
    static const char *const known[] = { "from", "to", "tags", "devices", "seq_from", "seq_to",
                                         NULL };
    char b[48], w1[32], w2[32];
    const char *u = args ? unknown_field(args, known) : NULL;
    if (u) {
        say(reason, rl, "resend: unknown field '%s' in args (from, to, tags, devices; or "
            "seq_from, seq_to)", shown(u, b));
        return COMMAND_BAD_ARGS;
    }
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(args, "from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(args, "to");
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(args, "seq_from");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(args, "seq_to");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(args, "tags");
    const cJSON *devices = cJSON_GetObjectItemCaseSensitive(args, "devices");
    int has_time = from || to, has_seq = sf || st;
    if (!has_time && !has_seq) {
        say(reason, rl, "resend needs a window: from and to, or seq_from and seq_to");
        return COMMAND_BAD_ARGS;
    }
    if (has_time && has_seq) {
        say(reason, rl, "resend: from and to, or seq_from and seq_to: one window, not both");
        return COMMAND_BAD_ARGS;
    }
    if (tags && devices) {
        say(reason, rl, "resend: tags or devices, not both");
        return COMMAND_BAD_ARGS;
    }
    if (has_seq) {
        if (!sf || !st) {
            say(reason, rl, "resend: %s without %s", sf ? "seq_from" : "seq_to",
                sf ? "seq_to" : "seq_from");
            return COMMAND_BAD_ARGS;
        }
        if (tags || devices) {
            say(reason, rl, "resend: %s go with from and to, not with seq_from and seq_to",
                tags ? "tags" : "devices");
            return COMMAND_BAD_ARGS;
        }
        if (seq_field(sf, "seq_from", &out->seq_from, reason, rl) ||
            seq_field(st, "seq_to", &out->seq_to, reason, rl))
            return COMMAND_BAD_ARGS;
        if (out->seq_to < out->seq_from) {
            say(reason, rl, "resend: seq_to is before seq_from");
            return COMMAND_BAD_ARGS;
        }
        if (out->seq_to - out->seq_from > COMMAND_SEQ_SPAN_MAX) {
            say(reason, rl, "resend: seq_from and seq_to are more than %d apart",
                COMMAND_SEQ_SPAN_MAX);
            return COMMAND_BAD_ARGS;
        }
        out->window = COMMAND_WINDOW_SEQ;
        return COMMAND_OK;
    }
    if (!from || !to) {
        say(reason, rl, "resend: %s without %s", from ? "from" : "to", from ? "to" : "from");
        return COMMAND_BAD_ARGS;
    }
    if (time_field(from, "from", "resend", &out->from_ms, reason, rl) ||
        time_field(to, "to", "resend", &out->to_ms, reason, rl))
        return COMMAND_BAD_ARGS;
    if (out->to_ms < out->from_ms) {
        say(reason, rl, "resend: to is before from");
        return COMMAND_BAD_ARGS;
    }
    if (out->from_ms > now_ms + skew_ms) {
        say(reason, rl, "resend: the window is in the future (from is %s ahead of the gateway's "
            "clock)", span_words(out->from_ms - now_ms, w1, sizeof w1));
        return COMMAND_BAD_ARGS;
    }
    if (out->to_ms - out->from_ms > resend_max_ms) {
        say(reason, rl, "resend: the window is %s long, longer than resend_max (%s)",
            span_words(out->to_ms - out->from_ms, w1, sizeof w1),
            limit_words(resend_max_ms, w2, sizeof w2));
        return COMMAND_BAD_ARGS;
    }
    out->window = COMMAND_WINDOW_TIME;
    if (tags || devices)
        return names_field(tags ? tags : devices, tags ? "tags" : "devices", "resend", out,
                           reason, rl);
    return COMMAND_OK;
}

static enum command_verdict measure_args(const cJSON *args, struct command *out, char *reason,
                                         size_t rl)
{
    static const char *const known[] = { "tags", "devices", NULL };
    char b[48];
    const char *u = args ? unknown_field(args, known) : NULL;
    if (u) {
        say(reason, rl, "measure: unknown field '%s' in args (tags or devices)", shown(u, b));
        return COMMAND_BAD_ARGS;
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(args, "tags");
    const cJSON *devices = cJSON_GetObjectItemCaseSensitive(args, "devices");
    if (tags && devices) {
        say(reason, rl, "measure: tags or devices, not both");
        return COMMAND_BAD_ARGS;
    }
    if (!tags && !devices) {
        say(reason, rl, "measure needs tags or devices");
        return COMMAND_BAD_ARGS;
    }
    return names_field(tags ? tags : devices, tags ? "tags" : "devices", "measure", out, reason,
                       rl);
}

/* ---- commands ---- */

static enum command_verdict parse(const char *payload, size_t len, const struct command_key *key,
                                  int check_sign, int64_t now_ms, int64_t skew_ms,
                                  int64_t resend_max_ms, struct command *out, char *reason,
                                  size_t rl)
{
    static const char *const known[] = { "id", "cmd", "ts", "args", NULL };
    memset(out, 0, sizeof *out);
    say(reason, rl, "%s", "");
    if (len > COMMAND_MAX_BYTES) {
        say(reason, rl, "too big: %zu bytes (%d at most)", len, COMMAND_MAX_BYTES);
        return COMMAND_TOO_BIG;
    }
    if (!payload)
        len = 0;
    const char *obj;
    size_t on;
    char hex[MAC_HEX_LEN + 1], b[48], w1[32], w2[32];
    if (envelope_split(payload, len, COMMAND_PREFIX, "command", &obj, &on, hex, reason, rl)) {
        if (len)
            peek_id(payload, len, 1, out);
        return COMMAND_MALFORMED;
    }
    if (check_sign && (!key || !mac_verify_hex(key->alg, key->key, key->len, obj, on, hex))) {
        peek_id(obj, on, 0, out);
        say(reason, rl, "bad signature: not the %s of the command object with this uplink's "
            "command key", mac_name(key ? key->alg : MAC_HMAC_SHA256));
        return COMMAND_BAD_SIGNATURE;
    }
    if (scan_text(obj, on, "command", reason, rl)) {
        peek_id(obj, on, 0, out);
        return COMMAND_MALFORMED;
    }
    cJSON *root = parse_json(obj, on, "command", reason, rl);
    if (!root)
        return COMMAND_MALFORMED;
    enum command_verdict v = COMMAND_MALFORMED;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "cmd");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "args");
    const char *f;
    if (id_check(id, reason, rl))
        goto out;
    memcpy(out->id, id->valuestring, strlen(id->valuestring) + 1);
    set_cmd(out, cmd);
    if ((f = duplicate_field(root))) {
        say(reason, rl, "duplicate field '%s'", shown(f, b));
        goto out;
    }
    if ((f = unknown_field(root, known))) {
        say(reason, rl, "unknown field '%s' (id, cmd, ts, args)", shown(f, b));
        goto out;
    }
    if (!cmd || !cJSON_IsString(cmd) || !cmd->valuestring) {
        say(reason, rl, cmd ? "cmd is not a string" : "no cmd");
        goto out;
    }
    if (!ts) {
        say(reason, rl, "no ts");
        goto out;
    }
    if (time_field(ts, "ts", "", &out->ts_ms, reason, rl))
        goto out;
    if (args && !cJSON_IsObject(args)) {
        say(reason, rl, "args is not an object");
        goto out;
    }
    if (args && (f = duplicate_field(args))) {
        say(reason, rl, "duplicate field '%s' in args", shown(f, b));
        goto out;
    }
    out->kind = command_kind_parse(cmd->valuestring);
    if (out->ts_ms < now_ms - skew_ms || out->ts_ms > now_ms + skew_ms) {
        say(reason, rl, "ts is %s %s the gateway's clock, more than command_skew (%s)",
            span_words(out->ts_ms - now_ms, w1, sizeof w1),
            out->ts_ms < now_ms ? "behind" : "ahead of", limit_words(skew_ms, w2, sizeof w2));
        v = COMMAND_EXPIRED;
        goto out;
    }
    switch (out->kind) {
    case COMMAND_NONE:
        say(reason, rl, "unknown cmd '%s' (resend, measure, clock, status, points)",
            shown(cmd->valuestring, b));
        v = COMMAND_UNKNOWN_CMD;
        goto out;
    case COMMAND_RESEND:
        v = resend_args(args, now_ms, skew_ms, resend_max_ms, out, reason, rl);
        break;
    case COMMAND_MEASURE:
        v = measure_args(args, out, reason, rl);
        break;
    default:
        if (args && args->child) {
            say(reason, rl, "%s takes no args ('%s'?)", cmd->valuestring,
                shown(args->child->string, b));
            v = COMMAND_BAD_ARGS;
        } else
            v = COMMAND_OK;
    }
out:
    cJSON_Delete(root);
    if (v != COMMAND_OK && v != COMMAND_EXPIRED) {
        /* A refused command carries nothing but its id and cmd to the reply. */
        char keep_id[sizeof out->id], keep_cmd[sizeof out->cmd];
        memcpy(keep_id, out->id, sizeof keep_id);
        memcpy(keep_cmd, out->cmd, sizeof keep_cmd);
        enum command_kind k = v == COMMAND_BAD_ARGS ? out->kind : COMMAND_NONE;
        int64_t t = v == COMMAND_BAD_ARGS ? out->ts_ms : 0;
        command_free(out);
        memset(out, 0, sizeof *out);
        memcpy(out->id, keep_id, sizeof keep_id);
        memcpy(out->cmd, keep_cmd, sizeof keep_cmd);
        out->kind = k;
        out->ts_ms = t;
    }
    return v;
}

enum command_verdict command_parse(const char *payload, size_t len, const struct command_key *key,
                                   int64_t now_ms, int64_t skew_ms, int64_t resend_max_ms,
                                   struct command *out, char *reason, size_t reasonlen)
{
    return parse(payload, len, key, 1, now_ms, skew_ms, resend_max_ms, out, reason, reasonlen);
}

enum command_verdict command_inspect(const char *payload, size_t len, int64_t now_ms,
                                     int64_t skew_ms, int64_t resend_max_ms,
                                     struct command *out, char *reason, size_t reasonlen)
{
    return parse(payload, len, NULL, 0, now_ms, skew_ms, resend_max_ms, out, reason, reasonlen);
}

void command_free(struct command *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nnames; i++)
        free(c->names[i]);
    free(c->names);
    c->names = NULL;
    c->nnames = 0;
}

/* ---- building ---- */

/* prefix OBJECT ,"sign":"HEX"} */
static char *wrap(const struct command_key *key, const char *prefix, const char *obj, size_t on,
                  size_t *len)
{
    char hex[MAC_HEX_LEN + 1];
    if (!key || mac_hex(key->alg, key->key, key->len, obj, on, hex) != 0)
        return NULL;
    size_t pl = strlen(prefix), n = pl + on + SUFFIX_LEN;
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, prefix, pl);
    memcpy(p + pl, obj, on);
    memcpy(p + pl + on, SIGN_MID, sizeof SIGN_MID - 1);
    memcpy(p + pl + on + sizeof SIGN_MID - 1, hex, MAC_HEX_LEN);
    memcpy(p + n - 2, "\"}", 3);
    if (len)
        *len = n;
    return p;
}

char *command_build(const struct command_key *key, const char *object_json, size_t *len)
{
    if (!object_json)
        return NULL;
    return wrap(key, COMMAND_PREFIX, object_json, strlen(object_json), len);
}

static const char *const reply_reserved[] = { "id", "cmd", "ok", "ts", "gateway", "error", NULL };

char *command_reply(const struct command_key *key, const char *id, const char *cmd_name, int ok,
                    const char *error, const cJSON *result, int64_t now_ms, int tz_minutes,
                    const char *gateway_code, size_t *len)
{
    char ts[40];
    wire_time_rfc3339(now_ms, tz_minutes, ts);
    cJSON *o = cJSON_CreateObject();
    int bad = !o;
    bad |= !(id && *id ? cJSON_AddStringToObject(o, "id", id) : cJSON_AddNullToObject(o, "id"));
    bad |= !(cmd_name && *cmd_name ? cJSON_AddStringToObject(o, "cmd", cmd_name)
                                   : cJSON_AddNullToObject(o, "cmd"));
    bad |= !cJSON_AddBoolToObject(o, "ok", ok != 0);
    bad |= !cJSON_AddStringToObject(o, "ts", ts);
    bad |= !cJSON_AddStringToObject(o, "gateway", gateway_code ? gateway_code : "");
    if (!ok)
        bad |= !cJSON_AddStringToObject(o, "error", error && *error ? error : "refused");
    for (const cJSON *it = cJSON_IsObject(result) ? result->child : NULL; it && !bad;
         it = it->next) {
        size_t i = 0;
        while (reply_reserved[i] && strcmp(reply_reserved[i], it->string ? it->string : ""))
            i++;
        if (reply_reserved[i] || !it->string)
            continue;
        cJSON *copy = cJSON_Duplicate(it, 1);
        bad |= !copy || !cJSON_AddItemToObject(o, it->string, copy);
    }
    char *obj = bad ? NULL : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *p = obj ? wrap(key, REPLY_PREFIX, obj, strlen(obj), len) : NULL;
    free(obj);
    return p;
}

/* ---- replies ---- */

static int reply_fields(const cJSON *o, char *reason, size_t rl)
{
    char b[48];
    const char *f;
    if ((f = duplicate_field(o))) {
        say(reason, rl, "duplicate field '%s'", shown(f, b));
        return -1;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(o, "cmd");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "ok");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "ts");
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(o, "gateway");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    int64_t ms;
    if (!id) {
        say(reason, rl, "no id (the command's, or null)");
        return -1;
    }
    if (!cJSON_IsNull(id) && id_check(id, NULL, 0)) {
        id_check(id, reason, rl);
        return -1;
    }
    if (!cmd || !(cJSON_IsNull(cmd) || cJSON_IsString(cmd))) {
        say(reason, rl, cmd ? "cmd is neither a string nor null" : "no cmd");
        return -1;
    }
    if (!cJSON_IsBool(ok)) {
        say(reason, rl, ok ? "ok is not true or false" : "no ok");
        return -1;
    }
    if (!ts) {
        say(reason, rl, "no ts");
        return -1;
    }
    if (time_field(ts, "ts", "", &ms, reason, rl))
        return -1;
    if (!cJSON_IsString(gw)) {
        say(reason, rl, gw ? "gateway is not a string" : "no gateway");
        return -1;
    }
    if (cJSON_IsFalse(ok) && (!cJSON_IsString(err) || !err->valuestring[0])) {
        say(reason, rl, err ? "error is not a string of words" : "ok is false and no error says why");
        return -1;
    }
    if (cJSON_IsTrue(ok) && err) {
        say(reason, rl, "an error with ok true");
        return -1;
    }
    return 0;
}

enum command_verdict command_verify_reply(const char *payload, size_t len,
                                          const struct command_key *key, cJSON **object,
                                          char *reason, size_t reasonlen)
{
    if (object)
        *object = NULL;
    say(reason, reasonlen, "%s", "");
    if (len > COMMAND_REPLY_MAX_BYTES) {
        say(reason, reasonlen, "too big: %zu bytes (%d at most)", len, COMMAND_REPLY_MAX_BYTES);
        return COMMAND_TOO_BIG;
    }
    if (!payload)
        len = 0;
    const char *obj;
    size_t on;
    char hex[MAC_HEX_LEN + 1];
    if (envelope_split(payload, len, REPLY_PREFIX, "reply", &obj, &on, hex, reason, reasonlen))
        return COMMAND_MALFORMED;
    int sign_ok = !key || mac_verify_hex(key->alg, key->key, key->len, obj, on, hex);
    cJSON *root = NULL;
    enum command_verdict v = COMMAND_MALFORMED;
    if (scan_text(obj, on, "reply", reason, reasonlen) == 0 &&
        (root = parse_json(obj, on, "reply", reason, reasonlen)) != NULL &&
        reply_fields(root, reason, reasonlen) == 0)
        v = COMMAND_OK;
    if (!sign_ok) {
        say(reason, reasonlen, "bad signature: not the %s of the reply object with this uplink's "
            "command key", mac_name(key->alg));
        v = COMMAND_BAD_SIGNATURE;
    }
    if (object)
        *object = root;
    else
        cJSON_Delete(root);
    return v;
}
