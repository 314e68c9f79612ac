/* profile_coal: the coal mine 联网 text records (PROFILES.md "coal") as a
 * description table, and the encoder of that text syntax.
 *
 * A message is one file's content (MQTT payload, or the file the uplink writes as
 * {mine code}_{KIND}_{yyyyMMddHHmmss}.txt, profile_file_name()):
 *
 *   header~record~record~||          fields separated by ;  no line breaks
 *
 *   CDSS (realtime)  header  mine code;mine name;data time
 *                    record  point code;sensor type name;location;value;unit;status;data time
 *   CDDY (points)    header  as CDSS
 *                    record  point code;system code;outstation code;sensor type;value type
 *                            (MN/KG);unit;range high;range low;alarm upper;alarm upper clear;
 *                            alarm lower;alarm lower clear;power-cut upper;power-restore upper;
 *                            power-cut lower;power-restore lower;on text;off text;location;
 *                            X;Y;Z;relation;time
 *   YCBJ (alarm)     record  point code;sensor type name;location;abnormal kind;start time;
 *                            end time;max value;max time;min value;min time;average value
 *   FZSS (status)    record  outstation code;outstation status;power status;data time
 *
 * Times are yyyy-MM-dd HH:mm:ss in the wire zone. "data time" of the header is the
 * newest sample (CDSS) or alarm (YCBJ) time, else the message time. Values are the
 * shortest decimal that reads back exactly; switch points (value type KG, from the
 * value_type column or the point code's 15th-16th characters) are 0 or 1.
 * Thresholds in CDDY: alarm upper = hi, power-cut upper = hihi, alarm lower = lo,
 * power-cut lower = lolo, each "clear/restore" = the threshold minus (upper) or
 * plus (lower) the hysteresis. Status is the bit set 0 normal, 1 alarm, 2 power
 * cut, 4 calibrating, 8 over range, 16 outstation fault, 32 not polled, 64
 * paused, 128 sensor fault: the quality's bits (quality.Q) plus 1 when the value
 * is at or beyond a threshold of the point. YCBJ abnormal kinds: hihi and lolo 001
 * (over-limit), hi 009 (upper early warning), lo 010 (lower early warning), fault
 * 004 (sensor disconnected); an alarm still raised has an empty end time.
 * FZSS: outstation status 0 communicating, 1 interrupted, 9 unknown; power 9.
 * The YCBJ and FZSS field orders are not published: these are this table's, and a
 * province's differ by overrides.
 *
 * Text fields never hold the separators: ; ~ | and control characters in names
 * and locations are written as spaces. Output is UTF-8, or GBK / GB 18030 for the
 * legacy platforms that read those (charset in proto/profile.h).
 */
#include "proto/profile_impl.h"
#include "proto/json_out.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const struct profile profile_table_coal = {
    .name = "coal",
    .syntax = SYN_TEXT,
    .fields = {
        [PF_HEAD] = {
            FLD("enterprise", "mine_code", S_ENTERPRISE),
            FLD("enterprise_name", "mine_name", S_ENTERPRISE_NAME),
            FLD("data_time", "data_time", S_DATA_TIME),
        },
        [MK_REALTIME] = {
            META("point_code", "point_code"),
            FLD("sensor_name", "sensor_type_name", S_SENSOR_NAME),
            META("location", "location"),
            FLD("value", "value", S_VALUE),
            FLD("unit", "unit", S_UNIT),
            FLD("quality", "status", S_QUALITY),
            FLD("time", "data_time", S_TIME),
        },
        [MK_POINTS] = {
            META("point_code", "point_code"),
            META("system_code", "system_code"),
            META("outstation_code", "outstation_code"),
            META("sensor_type", "sensor_type"),
            FLD("value_type", "value_type", S_VALUE_TYPE),
            FLD("unit", "unit", S_UNIT),
            META("range_high", "range_high"),
            META("range_low", "range_low"),
            FLD("hi", "alarm_upper", S_HI),
            FLD("hi_clear", "alarm_upper_clear", S_HI_CLEAR),
            FLD("lo", "alarm_lower", S_LO),
            FLD("lo_clear", "alarm_lower_clear", S_LO_CLEAR),
            FLD("hihi", "power_cut_upper", S_HIHI),
            FLD("hihi_clear", "power_restore_upper", S_HIHI_CLEAR),
            FLD("lolo", "power_cut_lower", S_LOLO),
            FLD("lolo_clear", "power_restore_lower", S_LOLO_CLEAR),
            META("on_text", "on_text"),
            META("off_text", "off_text"),
            META("location", "location"),
            META("x", "x"),
            META("y", "y"),
            META("z", "z"),
            META("relation", "relation"),
            FLD("time", "time", S_TIME),
        },
        [MK_ALARM] = {
            META("point_code", "point_code"),
            FLD("sensor_name", "sensor_type_name", S_SENSOR_NAME),
            META("location", "location"),
            FLD("level", "abnormal_kind", S_LEVEL),
            FLD("start_time", "start_time", S_START_TIME),
            FLD("end_time", "end_time", S_END_TIME),
            FLD("max", "max_value", S_MAX),
            FLD("max_time", "max_time", S_MAX_TIME),
            FLD("min", "min_value", S_MIN),
            FLD("min_time", "min_time", S_MIN_TIME),
            FLD("avg", "average_value", S_AVG),
        },
        [MK_STATUS] = {
            FLD("link_code", "outstation_code", S_LINK_CODE),
            FLD("link_state", "outstation_status", S_LINK_STATE),
            { .key = "power", .name = "power_status", .src = S_CONST, .arg = "9" },
            FLD("time", "data_time", S_TIME),
        },
    },
    .time = { "spaced", "spaced", "spaced", "spaced" },
    .time_send = "spaced",
    .quality = { [Q_GOOD] = "0", [Q_COMM_FAIL] = "16", [Q_EXCEPTION] = "16",
                 [Q_OVER_RANGE] = "8", [Q_SENSOR_FAULT] = "128", [Q_STALE] = "32",
                 [Q_CLOCK_UNTRUSTED] = "0" },
    .level = { [PL_LOLO] = "001", [PL_LO] = "010", [PL_HI] = "009",
               [PL_HIHI] = "001", [PL_COMM] = "004" },
    .state = { "0", "1" },
    .link = { [WIRE_LINK_UNKNOWN] = "9", [WIRE_LINK_UP] = "0", [WIRE_LINK_DOWN] = "1" },
    .topic = { "{prefix}/realtime", "{prefix}/alarm", "{prefix}/status", "{prefix}/points", "" },
    .kind_code = { "CDSS", "YCBJ", "FZSS", "CDDY" },
    .field_sep = ";",
    .record_end = "~",
    .file_end = "||",
};

/* Text that cannot break the record structure. */
static void put_text(struct json_out *j, const struct profile *p, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if ((unsigned char)c < 0x20 || c == ';' || c == '~' || c == '|' ||
            strchr(p->field_sep, c) || strchr(p->record_end, c) || strchr(p->file_end, c))
            c = ' ';
        json_raw(j, &c, 1);
    }
}

static int in_alarm(const struct wire_point_meta *mt, double v)
{
    return mt && ((!isnan(mt->hi) && v >= mt->hi) || (!isnan(mt->hihi) && v >= mt->hihi) ||
                  (!isnan(mt->lo) && v <= mt->lo) || (!isnan(mt->lolo) && v <= mt->lolo));
}

static void put_value(struct json_out *j, const struct profile *p, const struct profile_msg *m,
                      int list, const struct pfield *f, const struct rview *v)
{
    if (!f->name[0])
        return;     /* dropped: the position stays, empty */
    struct fval x;
    pf_value(p, m, f, v, &x);
    switch (x.type) {
    case FV_SKIP:
        break;
    case FV_STR:
        if (f->src == S_QUALITY && v->r) {
            unsigned long bits = strtoul(x.s, NULL, 10);
            if (v->r->r.has_value && in_alarm(v->meta, v->r->r.value))
                bits |= 1;
            json_u64(j, bits);
        } else {
            put_text(j, p, x.s);
        }
        break;
    case FV_NUM:
        if (isnan(x.d))
            break;
        if (f->src == S_VALUE) {
            struct fval t;
            struct pfield vt = { .src = S_VALUE_TYPE };
            pf_value(p, m, &vt, v, &t);
            if (strcmp(t.s, "KG") == 0) {
                json_raw(j, x.d != 0 ? "1" : "0", 1);
                break;
            }
        }
        json_num(j, x.d);
        break;
    case FV_INT:
        if (x.i < 0)
            json_lit(j, "-");
        json_u64(j, x.i < 0 ? (uint64_t)0 - (uint64_t)x.i : (uint64_t)x.i);
        break;
    case FV_TIME:
        if (x.i != INT64_MIN) {
            char ts[PROFILE_TIME_MAX];
            int n = profile_time_format(pf_time_format(p, list), x.i, m->site->tz_minutes, ts,
                                        sizeof ts);
            if (n > 0)
                json_raw(j, ts, (size_t)n);
        }
        break;
    }
}

static void put_record(struct json_out *j, const struct profile *p, const struct profile_msg *m,
                       int list, const struct rview *v)
{
    for (int i = 0; i < PF_FIELDS && p->fields[list][i].src != S_NONE; i++) {
        if (i)
            json_raw(j, p->field_sep, strlen(p->field_sep));
        put_value(j, p, m, list, &p->fields[list][i], v);
    }
    json_raw(j, p->record_end, strlen(p->record_end));
}

char *pf_encode_text(const struct profile *p, const struct profile_msg *m, size_t *len)
{
    struct json_out j;
    json_init(&j);
    int k = (int)m->kind;
    struct rview none = { 0 };
    put_record(&j, p, m, PF_HEAD, &none);
    size_t n = pf_record_count(m);
    for (size_t i = 0; i < n; i++) {
        struct rview v;
        pf_record_view(m, i, &v);
        put_record(&j, p, m, k, &v);
    }
    json_raw(&j, p->file_end, strlen(p->file_end));
    size_t l = j.len;
    char *s = json_take(&j);
    if (s && len)
        *len = l;
    return s;
}
