/* profile_impl: the description table a built-in profile is, private to proto/.
 *
 * A message is a list of head fields (the envelope: ids, times, the record array)
 * and, per kind, a list of record fields. A field is a key (its logical name, what
 * overrides name), the name it has on the wire, the source of its value and a few
 * flags. JSON profiles write {"name":value,...}; the coal text syntax writes the
 * values in list order between separators and ignores the names.
 */
#ifndef GANZHI_PROFILE_IMPL_H
#define GANZHI_PROFILE_IMPL_H

#include "proto/profile.h"
#include "proto/profile_time.h"

#define PF_KEY 40
#define PF_NAME 48
#define PF_FIELDS 32
#define PF_CODE 24
#define PF_TOPIC 160
#define PF_HEAD MK_COUNT      /* index of the head list in field lists */

/* Where a field's value comes from. The names (src_names in profile.c) are the
 * field keys of the built-in sources. */
enum pf_src {
    S_NONE,
    /* the message */
    S_APP_ID, S_SERVICE, S_DATA_ID, S_DISTRICT, S_ENTERPRISE, S_ENTERPRISE_NAME, S_GATEWAY,
    S_RESEND, S_SEND_TIME, S_DATA_TIME, S_COUNT, S_UPTIME, S_VERSION, S_DATA,
    /* a record: reading, alarm, point or device link */
    S_SEQ, S_TAG, S_NAME, S_DEVICE, S_UNIT, S_VALUE, S_QUALITY, S_TIME,
    S_LEVEL, S_STATE, S_THRESHOLD, S_START_TIME, S_END_TIME, S_MAX, S_MAX_TIME, S_MIN,
    S_MIN_TIME, S_AVG,
    S_LOLO, S_LO, S_HI, S_HIHI, S_HI_CLEAR, S_LO_CLEAR, S_HIHI_CLEAR, S_LOLO_CLEAR,
    S_SENSOR_NAME, S_VALUE_TYPE,
    S_LINK_NAME, S_LINK_CODE, S_LINK_STATE, S_RTT, S_ERRORS,
    S_META,         /* arg: a point-table column */
    S_CONST,        /* arg: the text */
    S_COUNT_OF_SRC
};

enum pf_flag {
    PF_OMIT_EMPTY = 1,  /* JSON: leave out when empty/unknown; validate: optional */
    PF_STRING = 2,      /* JSON: a number written as a string */
    PF_BOOL = 4,        /* JSON: 0/1 written as false/true */
    PF_NUMBER = 8,      /* JSON: a string source (code, constant) written as a number */
};

struct pfield {
    char key[PF_KEY];
    char name[PF_NAME];     /* "" : dropped */
    unsigned char src, flags;
    char arg[PF_NAME];
};

/* Alarm levels a profile has codes for (wire_alarm.level names them). */
enum pf_level { PL_LOLO, PL_LO, PL_HI, PL_HIHI, PL_COMM, PL_BLUE, PL_YELLOW, PL_ORANGE, PL_RED,
                PL_COUNT };
extern const char *const pf_level_names[PL_COUNT];

enum profile_syntax { SYN_GENERIC, SYN_JSON, SYN_TEXT };

struct profile {
    char name[16];
    enum profile_syntax syntax;
    struct pfield fields[MK_COUNT + 1][PF_FIELDS];  /* per kind, [PF_HEAD] the head */
    char time[MK_COUNT][PROFILE_TIME_MAX];    /* record times per kind */
    char time_send[PROFILE_TIME_MAX];               /* head times */
    char quality[Q_COUNT][PF_CODE];                     /* per enum quality */
    char level[PL_COUNT][PF_CODE];
    char state[2][PF_CODE];                         /* [0] cleared, [1] raised */
    char link[WIRE_LINK_COUNT][PF_CODE];
    char service[MK_COUNT][PF_NAME];
    char topic[MK_COUNT + 1][PF_TOPIC];       /* [MK_COUNT]: resend */
    char kind_code[MK_COUNT][8];              /* text: CDSS, YCBJ, FZSS, CDDY */
    char field_sep[8], record_end[8], file_end[8];  /* text syntax */
    const char *charset;    /* iconv name of the wire charset; NULL: UTF-8 */
};

/* The built-in tables (proto/profile_NAME.c). */
extern const struct profile profile_table_generic, profile_table_hazchem,
    profile_table_fireworks, profile_table_tailings, profile_table_coal;

const char *pf_src_name(enum pf_src s);
int pf_src_parse(const char *s);    /* -1 when unknown */

/* A field's value for one record. */
enum fv_type { FV_SKIP, FV_STR, FV_NUM, FV_INT, FV_TIME };
struct fval {
    enum fv_type type;
    const char *s;      /* FV_STR */
    double d;           /* FV_NUM: NAN when unknown */
    int64_t i;          /* FV_INT; FV_TIME Unix ms, INT64_MIN when unknown */
};
struct rview {
    const struct wire_reading *r;
    const struct wire_point_meta *meta;
    const struct wire_alarm *a;
    const struct wire_alarm_span *span;
    const struct wire_link *l;
};
void pf_value(const struct profile *p, const struct profile_msg *m, const struct pfield *f,
              const struct rview *v, struct fval *out);
size_t pf_record_count(const struct profile_msg *m);
void pf_record_view(const struct profile_msg *m, size_t i, struct rview *v);
/* The time format of a field in a list (PF_HEAD or a kind). */
const char *pf_time_format(const struct profile *p, int list);
/* The kind a source's value type is, for validation. */
enum fv_type pf_src_type(enum pf_src s);

char *pf_encode_json(const struct profile *p, const struct profile_msg *m, size_t *len);
char *pf_encode_text(const struct profile *p, const struct profile_msg *m, size_t *len);
char *pf_encode_generic(const struct profile *p, const struct profile_msg *m, size_t *len);

/* Helpers for the table files. */
#define FLD(k, n, s) { .key = k, .name = n, .src = s }
#define FLDF(k, n, s, fl) { .key = k, .name = n, .src = s, .flags = fl }
#define META(col, n) { .key = col, .name = n, .src = S_META, .arg = col }
#define METAF(col, n, fl) { .key = col, .name = n, .src = S_META, .arg = col, .flags = fl }

#endif
