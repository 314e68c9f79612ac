/* profile: the regulators' message formats Ganzhi knows, what each needs from a
 * point table, and the one interface every profile encodes through.
 *
 * A profile is data (PROFILES.md): field names, codes, time formats, topics and
 * record syntax live in one description table per profile (proto/profile_NAME.c),
 * read by two shared encoders: JSON (hazchem, fireworks, tailings) and the coal
 * text records (coal). generic is the fixed JSON of CONTRACT.md (profile_generic.c).
 * A province's variant is a few profile_override() calls fed from the
 * configuration, never new C code. Everything here is pure: structs in, bytes out;
 * the caller supplies the clock (now_ms), the message id and any random bytes.
 *
 * Use:
 *     struct profile *p = profile_create("hazchem", err, sizeof err);
 *     profile_override(p, "field.value", "dataValue", err, sizeof err);   // per key
 *     char id[33]; profile_message_id("county", first_seq, last_seq, id);
 *     struct profile_msg m = { .kind = MK_REALTIME, .site = &site, .message_id = id,
 *                              .now_ms = now, .readings = r, .meta = meta, .n = n };
 *     size_t len; char *body = profile_encode(p, &m, &len);   // free()
 *     profile_topic(p, MK_REALTIME, resend, "ganzhi/220102000001", &site, topic, sizeof topic);
 *
 * ---- Override keys (profile_override; `override.KEY = VALUE` in [uplink]) ----
 *  field.KEY = NAME        rename the field whose key is KEY in every message kind
 *                          (keys: see profile_fields(); a point-table column's key is
 *                          the column name, e.g. field.equip_code = deviceNo);
 *                          NAME "-" drops the field. Coal: positional, NAME only
 *                          documents; "-" leaves the position empty.
 *  field.KIND.KEY = NAME   the same, in one kind only (KIND: realtime, alarm, status,
 *                          points; "head" for the message envelope).
 *  add.KIND.NAME = SOURCE  append a field to KIND's records ("head": the envelope):
 *                          SOURCE is a field key (tag, value, ...), meta:COLUMN (a
 *                          point-table column) or const:TEXT.
 *  type.KEY = string|number|bool   how a numeric field is written in JSON.
 *  time = FORMAT           every time field; time.KIND = FORMAT the records of one
 *                          kind; time.send = FORMAT the message's own time
 *                          (formats: proto/profile_time.h: compact, spaced, rfc3339,
 *                          epoch_ms, epoch_s or a pattern like yyyy-MM-dd HH:mm:ss).
 *  quality.Q = CODE        status code for a reading quality (good, comm_fail,
 *                          exception, over_range, sensor_fault, stale, clock_untrusted);
 *                          coal: a number of the status bit set.
 *  level.L = CODE          alarm level code (lolo, lo, hi, hihi, comm, blue,
 *                          yellow, orange, red); coal: the YCBJ abnormal kind.
 *  state.raised / state.cleared = CODE   alarm state codes.
 *  link.up / link.down / link.unknown = CODE   device link codes in status messages.
 *  service.KIND = ID       serviceId of KIND's messages (omitted while empty).
 *  topic.KIND = TEMPLATE   MQTT topic; topic.resend for re-sent realtime messages
 *                          ("" = as realtime). {prefix} {enterprise} {gateway}
 *                          {district} are substituted.
 *  kind.KIND = CODE        coal: the record kind in file names (CDSS, YCBJ, FZSS, CDDY).
 *  text.field_sep / text.record_end / text.file_end = TEXT   coal separators
 *                          (; ~ ||); "\n" may be written as \n.
 *  charset = utf-8 | gbk | gb18030   the wire charset (default utf-8). Many
 *                          legacy coal platforms read GBK: profile_encode's UTF-8
 *                          output is converted (proto/charset.h); a character GBK
 *                          lacks is sent as '?'.
 */
#ifndef GANZHI_PROFILE_H
#define GANZHI_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "proto/wire.h"

/* ---- the registry: names and the point-table columns each profile reads ---- */
struct profile_info {
    const char *name;
    const char *const *required;    /* point-table columns every point must fill */
    const char *const *optional;
    int implemented;                /* the agent's uplink sends this profile */
};

const struct profile_info *profile_find(const char *name);
/* Names of every known profile, for error messages ("hazchem, tailings, ..."). */
const char *profile_names(void);

/* ---- what a message carries ---- */
enum message_kind { MK_REALTIME, MK_ALARM, MK_STATUS, MK_POINTS, MK_COUNT };
const char *message_kind_name(enum message_kind k);   /* "realtime", ... */
int message_kind_parse(const char *s, enum message_kind *out);  /* 0 or -1 */

enum wire_link_state { WIRE_LINK_UNKNOWN, WIRE_LINK_UP, WIRE_LINK_DOWN, WIRE_LINK_COUNT };

struct wire_kv {
    const char *key, *value;
};

/* A point as the point table describes it: what realtime, alarm and point
 * definition messages say about it besides the value. */
struct wire_point_meta {
    const char *tag, *name, *unit, *device;     /* name/unit "" when absent */
    const struct wire_kv *kv;   /* the table's other columns (conf_point.meta) */
    size_t nkv;
    double lolo, lo, hi, hihi, hysteresis;      /* NAN when absent */
};
/* The value of a metadata column, NULL when absent or empty. */
const char *wire_meta(const struct wire_point_meta *m, const char *key);

/* Alarm events are struct wire_alarm (proto/wire.h): level "lolo", "lo", "hi",
 * "hihi", "comm" (the point's device stopped answering) or a profile's own level
 * ("blue", "yellow", "orange", "red" for tailings); the profile maps the level to
 * its code (level.NAME). What the coal YCBJ record says of the abnormal period,
 * when the caller knows it: */
struct wire_alarm_span {
    int64_t start_ms;           /* a cleared alarm: when it was raised (0: unknown) */
    double max, min, avg;       /* NAN: the event's value at its time stands in */
    int64_t max_ms, min_ms;
};

struct wire_link {
    const char *name;           /* the device, e.g. tank_plc */
    const char *code;           /* its regulator code (equipment/outstation); NULL: name */
    enum wire_link_state state;
    double rtt_ms;              /* NAN when not known */
    uint64_t errors;
};

struct wire_status {
    int64_t uptime_s;
    const char *version;
    const struct wire_link *links;
    size_t nlinks;
    const cJSON *detail;        /* generic: the agent's status document (status.json), sent as is */
};

struct profile_msg {
    enum message_kind kind;
    const struct wire_site *site;
    const char *message_id;     /* 32 lowercase hex: profile_message_id() */
    const char *app_id;         /* platform-issued app id, NULL: field omitted */
    int resend;                 /* readings older than the live window (补传) */
    const char *command_id;     /* the platform's command they answer, NULL: none */
    int on_demand;              /* read now at a measure command (召测) */
    int64_t now_ms;             /* when the message is made (Unix ms) */
    /* MK_REALTIME: readings, and per reading its point (meta may be NULL, or
     * hold NULLs: those fields are then empty) */
    const struct wire_reading *readings;
    const struct wire_point_meta *const *meta;
    size_t n;
    /* MK_ALARM: events, and per event its point and span (either array may be
     * NULL or hold NULLs) */
    const struct wire_alarm *alarms;
    const struct wire_point_meta *const *alarm_meta;
    const struct wire_alarm_span *const *spans;
    size_t nalarms;
    /* MK_POINTS: point definitions */
    const struct wire_point_meta *points;
    size_t npoints;
    /* MK_STATUS */
    const struct wire_status *status;
};

/* ---- profiles ---- */
struct profile;

/* A private, modifiable copy of a built-in profile; NULL with err if unknown. */
struct profile *profile_create(const char *name, char *err, size_t errlen);
void profile_free(struct profile *p);
const char *profile_name(const struct profile *p);
/* 1 for text-record profiles (coal), 0 for JSON. */
int profile_is_text(const struct profile *p);

/* Apply one override (keys above). 0, or -1 with "what is wrong (what is expected)"
 * in err; the profile is unchanged on error. */
int profile_override(struct profile *p, const char *key, const char *value, char *err,
                     size_t errlen);

/* The message body: malloc'd, NUL-terminated, *len bytes without the NUL (len may
 * be NULL). NULL if out of memory or the message is not meaningful (bad kind). */
char *profile_encode(const struct profile *p, const struct profile_msg *m, size_t *len);

/* The MQTT topic of a message kind (resend: a re-sent realtime message). 0, or -1
 * if it does not fit. */
int profile_topic(const struct profile *p, enum message_kind kind, int resend, const char *prefix,
                  const struct wire_site *site, char *buf, size_t len);

/* File name for the file uplink of text profiles:
 * "{enterprise}_{KIND}_{yyyyMMddHHmmss}.txt" with the time in the wire zone, e.g.
 * 220102000001_CDSS_20261129103000.txt. 0, or -1 if it does not fit. */
int profile_file_name(const struct profile *p, enum message_kind kind,
                      const struct wire_site *site, int64_t ms, char *buf, size_t len);

/* Human-readable list of the fields of a kind: "key=wire name, ..." (for `ganzhi
 * check` and error messages). */
int profile_fields(const struct profile *p, enum message_kind kind, char *buf, size_t len);

/* The de-duplication id (dataId): the first 16 bytes of
 * SHA-256("{uplink}\n{first_seq}\n{last_seq}") (decimal seqs) as 32 lowercase hex
 * characters. The same readings re-sent on one uplink carry the same id. */
void profile_message_id(const char *uplink, uint64_t first_seq, uint64_t last_seq, char out[33]);

#endif
