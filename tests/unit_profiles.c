/* unit_profiles: every profile x message kind byte for byte against golden files
 * (tests/golden/, Chinese text in UTF-8, the wire zone +08:00 and others), the
 * overrides a province's variant is made of, the validator on good and broken
 * messages, time patterns, message ids and the tailings levels.
 * GOLDEN_UPDATE=1 rewrites the golden files from the encoders (then read them). */
#include "tests/unit.h"
#include "agent/alarm.h"
#include "agent/tailings.h"
#include "proto/charset.h"
#include "proto/profile.h"
#include "proto/profile_time.h"
#include "proto/validate.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- fixture: a small tank farm with a gas detector and a valve ---- */
static const int64_t T0 = 1795919400000LL;     /* 2026-11-29 10:30:00 +08:00 */

static const struct wire_kv kv_level[] = {
    { "equip_code", "E-TK01" }, { "target_code", "T-LT101" }, { "hazard_code", "H220102001" },
    { "equip_name", "1号储罐" }, { "range_low", "0" }, { "range_high", "12" },
    { "longitude", "125.3245" }, { "latitude", "43.8868" }, { "building", "1号库房" },
    { "capacity", "8" }, { "item", "water_level" }, { "blue", "9" }, { "yellow", "9.5" },
    { "orange", "10" }, { "red", "10.5" }, { "point_code", "22010200000101MN00430001" },
    { "sensor_type", "0043" }, { "sensor_name", "液位" }, { "location", "1号储罐顶部" },
    { "system_code", "01" }, { "outstation_code", "001" }, { "x", "12.5" }, { "y", "3" },
    { "z", "-420" },
};
static const struct wire_kv kv_gas[] = {
    { "equip_code", "E-GD01" }, { "target_code", "T-GT201" }, { "equip_name", "可燃气体探测器" },
    { "range_low", "0" }, { "range_high", "100" }, { "building", "1号库房" },
    { "item", "displacement" }, { "direction", "up" }, { "blue", "10" }, { "red", "50" },
    { "point_code", "22010200000101MN00430002" }, { "sensor_type", "0043" },
    { "location", "罐区东侧;地面" }, { "system_code", "01" }, { "outstation_code", "001" },
};
static const struct wire_kv kv_valve[] = {
    { "equip_code", "E-XV01" }, { "target_code", "T-XV301" }, { "item", "rainfall" },
    { "point_code", "22010200000101KG10010003" }, { "sensor_type", "1001" },
    { "location", "进料阀" }, { "on_text", "开" }, { "off_text", "关" }, { "system_code", "01" },
    { "outstation_code", "002" },
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct wire_point_meta points[] = {
    { "LT-101", "1号储罐液位", "m", "tank_plc", kv_level, N(kv_level), 0.5, 1, 9.2, 10, 0.1 },
    { "GT-201", "罐区可燃气体", "%LEL", "gas_bus_1", kv_gas, N(kv_gas), NAN, NAN, 25, 50, 2 },
    { "XV-301", "进料阀", "", "tank_plc", kv_valve, N(kv_valve), NAN, NAN, NAN, NAN, NAN },
};
static const struct wire_point_meta *const rmeta[] = { &points[0], &points[1], &points[2] };
static const struct wire_reading readings[] = {
    { 1207, "LT-101", "tank_plc", "m", { 1, Q_GOOD, 1, 0, 1795919400000LL, 3.215 } },
    { 1208, "GT-201", "gas_bus_1", "%LEL", { 2, Q_GOOD, 1, 0, 1795919400000LL, 27.5 } },
    { 1209, "XV-301", "tank_plc", "", { 3, Q_COMM_FAIL, 0, 0, 1795919400005LL, 0 } },
};
static const struct wire_alarm alarms[] = {
    { 41, "LT-101", "tank_plc", "m", "hihi", 1, 10.02, 10, 1795919400000LL },
    { 42, "GT-201", "gas_bus_1", "%LEL", "hi", 0, 18, 25, 1795919460000LL },
    { 43, "XV-301", "tank_plc", "", "comm", 1, NAN, NAN, 1795919400005LL },
};
static const struct wire_alarm tailings_alarms[] = {
    { 51, "LT-101", "tank_plc", "m", "yellow", 1, 9.61, 9.5, 1795919400000LL },
    { 52, "GT-201", "gas_bus_1", "mm", "red", 0, 48, 50, 1795919460000LL },
};
static const struct wire_alarm_span span_gas = { 1795919280000LL, 27.5, 18, 22.75,
                                                 1795919340000LL, 1795919460000LL };
static const struct wire_alarm_span *const spans[] = { NULL, &span_gas, NULL };
static const struct wire_point_meta *const ameta[] = { &points[0], &points[1], &points[2] };
static const struct wire_link links[] = {
    { "tank_plc", NULL, WIRE_LINK_UP, 12.5, 0 },
    { "gas_bus_1", "FZ01", WIRE_LINK_DOWN, NAN, 17 },
};
static const struct wire_status status = { 86400, "0.1.0", links, 2, NULL };

static struct wire_site site(int tz)
{
    return (struct wire_site){ "220102000001", "示例化工有限公司", "GW01", "220102", tz };
}

static char msg_id[33];

static char *encode(const struct profile *p, enum message_kind k, const struct wire_site *s,
                    size_t *len)
{
    int tail = strcmp(profile_name(p), "tailings") == 0;
    struct profile_msg m = {
        .kind = k, .site = s, .message_id = msg_id, .now_ms = T0 + 5000,
        .readings = readings, .meta = rmeta, .n = 3,
        .alarms = tail ? tailings_alarms : alarms, .alarm_meta = ameta, .spans = spans,
        .nalarms = tail ? 2 : 3,
        .points = points, .npoints = 3, .status = &status,
    };
    return profile_encode(p, &m, len);
}

/* ---- golden files ---- */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    if (b)
        n = fread(b, 1, cap, f);
    fclose(f);
    if (b)
        b[n] = 0;
    *len = n;
    return b;
}

static const char *golden_dir(void)
{
    const char *d = getenv("GOLDEN_DIR");
    return d ? d : "tests/golden";
}

/* 1 if `got` is byte for byte the golden file `name`. */
static int golden(const char *name, const char *got, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", golden_dir(), name);
    if (getenv("GOLDEN_UPDATE")) {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(got, 1, len, f) != len) {
            printf("cannot write %s: %s\n", path, strerror(errno));
            if (f)
                fclose(f);
            return 0;
        }
        fclose(f);
    }
    size_t n = 0;
    char *want = slurp(path, &n);
    if (!want) {
        printf("  %s: missing (run with GOLDEN_UPDATE=1 from the source tree)\n", path);
        return 0;
    }
    int same = n == len && memcmp(want, got, len) == 0;
    if (!same) {
        size_t i = 0;
        while (i < n && i < len && want[i] == got[i])
            i++;
        printf("  %s differs at byte %zu:\n  want: %.80s\n  got:  %.80s\n", path, i,
               want + (i > 20 ? i - 20 : 0), got + (i > 20 ? i - 20 : 0));
    }
    free(want);
    return same;
}

static const char *const names[] = { "generic", "hazchem", "tailings", "coal", "fireworks" };

static void test_golden_every_profile_and_kind(void)
{
    struct wire_site s = site(480);
    for (size_t i = 0; i < N(names); i++) {
        char err[256];
        struct profile *p = profile_create(names[i], err, sizeof err);
        CHECK(p);
        if (!p)
            continue;
        for (int k = 0; k < MK_COUNT; k++) {
            size_t len = 0;
            char *body = encode(p, (enum message_kind)k, &s, &len);
            char file[64];
            snprintf(file, sizeof file, "%s_%s.%s", names[i], message_kind_name(k),
                     profile_is_text(p) ? "txt" : "json");
            CHECK(body && strlen(body) == len);
            CHECK(body && golden(file, body, len));
            /* What we write, we accept. */
            char rep[2048];
            int bad = body ? profile_validate(p, (enum message_kind)k, body, len, rep, sizeof rep)
                           : -1;
            if (bad)
                printf("  %s: %s", file, rep);
            CHECK(bad == 0);
            free(body);
        }
        profile_free(p);
    }
}

static void test_golden_other_zones(void)
{
    char err[256];
    struct profile *h = profile_create("hazchem", err, sizeof err);
    struct profile *c = profile_create("coal", err, sizeof err);
    struct wire_site ny = site(-300), utc = site(0);
    size_t len;
    char *s = encode(h, MK_REALTIME, &ny, &len);
    /* 10:30 in Beijing is 21:30 the day before in UTC-5. */
    CHECK(s && strstr(s, "\"dataTime\":\"20261128213000\""));
    CHECK(s && golden("hazchem_realtime_m0500.json", s, len));
    free(s);
    s = encode(c, MK_REALTIME, &utc, &len);
    CHECK(s && strstr(s, ";2026-11-29 02:30:00~"));
    CHECK(s && golden("coal_realtime_z0000.txt", s, len));
    free(s);
    profile_free(h);
    profile_free(c);
}

/* ---- overrides: a province's variant without rebuilding ---- */
static void test_override_variant(void)
{
    char err[256];
    struct profile *p = profile_create("hazchem", err, sizeof err);
    struct wire_site s = site(480);
    CHECK(profile_override(p, "field.value", "dataValue", err, sizeof err) == 0);
    CHECK(profile_override(p, "time.realtime", "yyyy-MM-dd HH:mm:ss", err, sizeof err) == 0);
    CHECK(profile_override(p, "field.head.enterprise", "companyCode", err, sizeof err) == 0);
    CHECK(profile_override(p, "field.realtime.hazard_code", "-", err, sizeof err) == 0);
    CHECK(profile_override(p, "quality.comm_fail", "9", err, sizeof err) == 0);
    CHECK(profile_override(p, "add.realtime.deviceName", "device", err, sizeof err) == 0);
    CHECK(profile_override(p, "add.realtime.areaCode", "meta:building", err, sizeof err) == 0);
    CHECK(profile_override(p, "add.head.specVersion", "const:2.0", err, sizeof err) == 0);
    CHECK(profile_override(p, "type.value", "string", err, sizeof err) == 0);
    CHECK(profile_override(p, "service.realtime", "REALTIME_DATA", err, sizeof err) == 0);
    CHECK(profile_override(p, "topic.realtime", "{prefix}/rt/{gateway}", err, sizeof err) == 0);
    CHECK(profile_override(p, "topic.resend", "{prefix}/rt-resend", err, sizeof err) == 0);
    size_t len;
    char *out = encode(p, MK_REALTIME, &s, &len);
    CHECK(out && strstr(out, "\"dataValue\":\"3.215\""));
    CHECK(out && !strstr(out, "\"value\":"));
    CHECK(out && strstr(out, "\"dataTime\":\"2026-11-29 10:30:00\""));
    CHECK(out && strstr(out, "\"sendTime\":\"20261129103005\""));  /* time.send unchanged */
    CHECK(out && strstr(out, "\"companyCode\":\"220102000001\""));
    CHECK(out && !strstr(out, "hazardCode"));
    CHECK(out && strstr(out, "\"status\":\"9\""));
    CHECK(out && strstr(out, "\"serviceId\":\"REALTIME_DATA\""));
    CHECK(out && strstr(out, "\"deviceName\":\"tank_plc\",\"areaCode\":\"1号库房\""));
    CHECK(out && golden("hazchem_realtime_override.json", out, len));
    char rep[2048];
    /* The variant validates against itself, not against the stock profile. */
    CHECK(out && profile_validate(p, MK_REALTIME, out, len, rep, sizeof rep) == 0);
    struct profile *stock = profile_create("hazchem", err, sizeof err);
    CHECK(out && profile_validate(stock, MK_REALTIME, out, len, rep, sizeof rep) > 0);
    CHECK(strstr(rep, "data[0].value: missing"));
    CHECK(strstr(rep, "data[0].dataValue: not a field"));
    CHECK(strstr(rep, "does not match the time format compact"));
    free(out);
    /* the rename reaches every kind holding the field; topics substitute */
    out = encode(p, MK_ALARM, &s, &len);
    CHECK(out && strstr(out, "\"dataValue\":\"10.02\""));
    free(out);
    char topic[256];
    CHECK(profile_topic(p, MK_REALTIME, 0, "ganzhi/220102000001", &s, topic, sizeof topic) == 0);
    CHECK_STR(topic, "ganzhi/220102000001/rt/GW01");
    CHECK(profile_topic(p, MK_REALTIME, 1, "ganzhi/220102000001", &s, topic, sizeof topic) == 0);
    CHECK_STR(topic, "ganzhi/220102000001/rt-resend");
    CHECK(profile_topic(stock, MK_ALARM, 1, "a/b", &s, topic, sizeof topic) == 0);
    CHECK_STR(topic, "a/b/alarm");
    CHECK(profile_topic(stock, MK_ALARM, 1, "a/b", &s, topic, 5) == -1);
    profile_free(stock);
    profile_free(p);
}

static void test_override_errors(void)
{
    char err[512];
    struct profile *p = profile_create("hazchem", err, sizeof err);
    CHECK(profile_create("nope", err, sizeof err) == NULL);
    CHECK(strstr(err, "'nope' is not a profile"));
    CHECK(profile_override(p, "field.nosuch", "x", err, sizeof err) == -1);
    CHECK(strstr(err, "no field 'nosuch'") && strstr(err, "value=value"));
    CHECK(profile_override(p, "time.realtime", "yyyy-mm-dd", err, sizeof err) == -1);
    CHECK(strstr(err, "months are MM"));
    CHECK(profile_override(p, "time.realtime", "yyyy-MM-dd HH:mm:sss", err, sizeof err) == -1);
    CHECK(strstr(err, "'sss' is not a field"));
    CHECK(profile_override(p, "time.nokind", "compact", err, sizeof err) == -1);
    CHECK(profile_override(p, "quality.bogus", "1", err, sizeof err) == -1);
    CHECK(strstr(err, "comm_fail"));
    CHECK(profile_override(p, "level.hi", "", err, sizeof err) == -1);
    CHECK(profile_override(p, "topic.realtime", "a/#", err, sizeof err) == -1);
    CHECK(profile_override(p, "add.realtime.x", "bogus", err, sizeof err) == -1);
    CHECK(profile_override(p, "text.field_sep", ",", err, sizeof err) == -1);   /* coal only */
    CHECK(profile_override(p, "charset", "latin1", err, sizeof err) == -1);
    CHECK(strstr(err, "not a charset") && strstr(err, "gbk"));
    CHECK(profile_override(p, "field.value", "a\"b", err, sizeof err) == -1);
    CHECK(profile_override(p, "whatever", "1", err, sizeof err) == -1);
    CHECK(strstr(err, "expected field.KEY"));
    /* a failed override leaves the profile as it was */
    struct wire_site s = site(480);
    size_t len;
    char *out = encode(p, MK_REALTIME, &s, &len);
    struct profile *stock = profile_create("hazchem", err, sizeof err);
    char *want = encode(stock, MK_REALTIME, &s, &len);
    CHECK(out && want && strcmp(out, want) == 0);
    free(out);
    free(want);
    profile_free(stock);
    profile_free(p);
    /* generic is fixed by the contract, but for its topics */
    struct profile *g = profile_create("generic", err, sizeof err);
    CHECK(profile_override(g, "field.value", "v", err, sizeof err) == -1);
    CHECK(profile_override(g, "topic.status", "{prefix}/hb", err, sizeof err) == 0);
    profile_free(g);
}

static void test_override_coal(void)
{
    char err[256];
    struct profile *p = profile_create("coal", err, sizeof err);
    struct wire_site s = site(480);
    CHECK(profile_override(p, "text.record_end", "~\\n", err, sizeof err) == 0);
    CHECK(profile_override(p, "time", "yyyyMMddHHmmss", err, sizeof err) == 0);
    CHECK(profile_override(p, "kind.realtime", "SSSJ", err, sizeof err) == 0);
    CHECK(profile_override(p, "quality.stale", "300", err, sizeof err) == -1);
    CHECK(profile_override(p, "quality.stale", "64", err, sizeof err) == 0);
    size_t len;
    char *out = encode(p, MK_REALTIME, &s, &len);
    CHECK(out && strncmp(out, "220102000001;示例化工有限公司;20261129103000~\n", strlen(
                             "220102000001;示例化工有限公司;20261129103000~\n")) == 0);
    CHECK(out && len > 3 && strcmp(out + len - 3, "\n||") == 0);
    char rep[1024];
    CHECK(out && profile_validate(p, MK_REALTIME, out, len, rep, sizeof rep) == 0);
    char name[128];
    CHECK(profile_file_name(p, MK_REALTIME, &s, T0, name, sizeof name) == 0);
    CHECK_STR(name, "220102000001_SSSJ_20261129103000.txt");
    free(out);
    profile_free(p);

    /* GBK for the legacy platforms: the same records, the name in GBK bytes. */
    struct profile *g = profile_create("coal", err, sizeof err);
    CHECK(profile_override(g, "charset", "GBK", err, sizeof err) == 0);
    char *gbk = encode(g, MK_REALTIME, &s, &len);
    static const char head[] = "220102000001;\xca\xbe\xc0\xfd\xbb\xaf\xb9\xa4\xd3\xd0\xcf\xde"
                               "\xb9\xab\xcb\xbe;";
    CHECK(gbk && memcmp(gbk, head, sizeof head - 1) == 0 && len == strlen(gbk));
    free(gbk);
    profile_free(g);
}

static void test_charset(void)
{
    size_t n, replaced;
    char *o = charset_from_utf8("GBK", "a\xf0\x9f\x98\x80" "b 瓦斯", 13, &n, &replaced);
    CHECK(o && n == 8 && replaced == 1 && memcmp(o, "a?b \xcd\xdf\xcb\xb9", 8) == 0);
    free(o);
    o = charset_from_utf8("GB18030", "a\xf0\x9f\x98\x80" "b", 6, &n, &replaced);
    CHECK(o && n == 6 && replaced == 0 && memcmp(o, "a\x94\x39\xfc\x36" "b", 6) == 0);
    free(o);
    o = charset_from_utf8("GBK", "bad \xff utf-8", 11, &n, &replaced);
    CHECK(o && replaced == 1 && strcmp(o, "bad ? utf-8") == 0);
    free(o);
    CHECK(charset_iconv_name("Gb18030") && !strcmp(charset_iconv_name("Gb18030"), "GB18030"));
    CHECK(charset_iconv_name("big5") == NULL);
    o = charset_to_utf8("GBK", "x \xcd\xdf\xcb\xb9 \xff", 8, &n, &replaced);
    CHECK(o && replaced == 1 && strcmp(o, "x 瓦斯 ?") == 0);
    free(o);
    /* glibc's iconv lets "UTF-8" past U+10FFFF through (found by fuzz_charset):
     * what comes out as UTF-8 is valid, the bad bytes replaced */
    o = charset_to_utf8("utf-8", "a\xf4\x90\x80\x80z", 6, &n, &replaced);
    CHECK(o && charset_utf8_valid(o, n) && replaced == 4 && strcmp(o, "a????z") == 0);
    free(o);
}

/* ---- the validator on broken messages ---- */
static int bad(const char *profile, enum message_kind k, const char *msg, const char *expect)
{
    char err[256], rep[2048];
    struct profile *p = profile_create(profile, err, sizeof err);
    int n = profile_validate(p, k, msg, strlen(msg), rep, sizeof rep);
    profile_free(p);
    if (n <= 0 || !strstr(rep, expect)) {
        printf("  validate %s: %d problems, wanted '%s' in:\n%s\n", profile, n, expect, rep);
        return 0;
    }
    return 1;
}

static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    if (!at)
        return NULL;
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *o = malloc(n + 1);
    memcpy(o, s, (size_t)(at - s));
    strcpy(o + (at - s), to);
    strcat(o, at + strlen(from));
    return o;
}

static void test_validate_broken(void)
{
    char err[256];
    struct profile *h = profile_create("hazchem", err, sizeof err);
    struct profile *c = profile_create("coal", err, sizeof err);
    struct wire_site s = site(480);
    size_t len;
    char *good = encode(h, MK_REALTIME, &s, &len);
    struct { const char *from, *to, *expect; } hz[] = {
        { "\"dataId\":\"a6fdeef7", "\"dataId\":\"A6FDEEF7", "dataId: 'A6FDEEF7" },
        { "\"enterpriseCode\":\"220102000001\",", "", "enterpriseCode: missing" },
        { "\"dataTime\":\"20261129103000\"", "\"dataTime\":\"20261329103000\"",
          "not a valid date and time" },
        { "\"dataTime\":\"20261129103000\"", "\"dataTime\":\"2026-11-29 10:30:00\"",
          "does not match the time format compact" },
        { "\"status\":\"0\"", "\"status\":\"7\"", "data[0].status: '7' is not a status code" },
        { "\"value\":3.215", "\"value\":\"3.215\"", "data[0].value: expected a number" },
        { "\"districtCode\":\"220102\"", "\"districtCode\":\"22010\"", "not a district code" },
        { "\"equipCode\":\"E-TK01\",", "", "data[0].equipCode: missing" },
        { "\"resend\":0", "\"resend\":2", "resend: expected 0 or 1" },
        { "\"data\":[", "\"extra\":1,\"data\":[", "extra: not a field" },
        { "1号储罐液位", "1\xe5\x8f\xb7\xff", "not UTF-8" },
        { "}]}", "}]", "not JSON" },
    };
    for (size_t i = 0; i < N(hz); i++) {
        char *m = replace(good, hz[i].from, hz[i].to);
        CHECK(m && bad("hazchem", MK_REALTIME, m, hz[i].expect));
        free(m);
    }
    free(good);
    good = encode(c, MK_REALTIME, &s, &len);
    struct { const char *from, *to, *expect; } co[] = {
        { "~||", "~", "does not end with the file end" },
        { "~||", "||", "does not end with '~'" },
        { ";27.5;%LEL;1;", ";27.5;%LEL;300;", "not a status bit set" },
        { ";27.5;%LEL;1;", ";27.5;%LEL;1;2;", "8 fields, expected 7" },
        { ";27.5;", ";27,5;", "'27,5' is not a number" },
        { "2026-11-29 10:30:00~22010200000101MN00430002", "2026-11-29 10:30~22010200000101MN00430002",
          "does not match the time format spaced" },
        { "22010200000101MN00430002", "99010200000101MN00430002", "is not a point code" },
        { "220102000001;", "2201020001;", "not a mine code" },
    };
    for (size_t i = 0; i < N(co); i++) {
        char *m = replace(good, co[i].from, co[i].to);
        CHECK(m && bad("coal", MK_REALTIME, m, co[i].expect));
        free(m);
    }
    free(good);
    char *m = NULL;
    good = encode(c, MK_ALARM, &s, &len);
    CHECK((m = replace(good, ";001;", ";077;")) && bad("coal", MK_ALARM, m, "'077' is not an alarm"));
    free(m);
    free(good);
    CHECK(bad("generic", MK_REALTIME, "{\"enterprise\":\"x\",\"gateway\":\"g\",\"resend\":false,"
              "\"readings\":[{\"seq\":1,\"tag\":\"a\",\"device\":\"d\",\"value\":1,\"unit\":\"\","
              "\"quality\":\"great\",\"ts\":\"2026-11-29T10:30:00.000+08:00\"}]}",
              "'great' is not a quality"));
    CHECK(bad("generic", MK_REALTIME, "{\"enterprise\":\"x\",\"gateway\":\"g\",\"resend\":false,"
              "\"readings\":[{\"seq\":1,\"tag\":\"a\",\"device\":\"d\",\"value\":1,\"unit\":\"\","
              "\"quality\":\"good\",\"ts\":\"2026-11-29 10:30:00\"}]}", "readings[0].ts"));
    CHECK(bad("tailings", MK_ALARM, "{}", "dataId: missing"));
    profile_free(h);
    profile_free(c);
}

/* ---- time patterns ---- */
static const char *fmt(const char *pattern, int64_t ms, int tz)
{
    static char buf[PROFILE_TIME_MAX];
    if (profile_time_format(pattern, ms, tz, buf, sizeof buf) < 0)
        return "(error)";
    return buf;
}

static void test_time_patterns(void)
{
    CHECK_STR(fmt("compact", T0, 480), "20261129103000");
    CHECK_STR(fmt("spaced", T0 + 7, 480), "2026-11-29 10:30:00");
    CHECK_STR(fmt("rfc3339", T0 + 7, 480), "2026-11-29T10:30:00.007+08:00");
    CHECK_STR(fmt("rfc3339", T0, -330), "2026-11-28T21:00:00.000-05:30");
    CHECK_STR(fmt("yyyy/MM/dd'T'HH", T0, 0), "2026/11/29T02");
    CHECK_STR(fmt("epoch_ms", T0, 480), "1795919400000");
    CHECK_STR(fmt("epoch_s", T0 + 999, 480), "1795919400");
    CHECK_STR(fmt("spaced", 951782400000LL, 0), "2000-02-29 00:00:00");   /* leap day */
    CHECK_STR(fmt("spaced", -1, 0), "1969-12-31 23:59:59");
    /* Within a day of the int64 limits: refused, never wrapped. */
    CHECK_STR(fmt("compact", INT64_MAX - 1000, 480), "(error)");
    CHECK_STR(fmt("compact", INT64_MIN + 1000, -480), "(error)");
    CHECK_STR(fmt("epoch_s", INT64_MIN, 0), "-9223372036854776");  /* rounded down */
    CHECK_STR(fmt("epoch_s", -1, 0), "-1");
    CHECK(strcmp(fmt("spaced", INT64_MIN, 0), "(error)") != 0);   /* UTC: no offset to overflow */
    char err[200];
    CHECK(profile_time_check("yyyy-mm-dd", err, sizeof err) == -1);  /* mm is minutes */
    CHECK(profile_time_check("HH:mm", err, sizeof err) == 0);
    CHECK(profile_time_check("yyy-MM-dd", err, sizeof err) == -1);
    CHECK(profile_time_check("-/", err, sizeof err) == -1);
    CHECK(profile_time_check("'yyyy", err, sizeof err) == -1);
    int64_t ms;
    CHECK(profile_time_parse("compact", "20261129103000", 14, 480, &ms, err, sizeof err) == 0 &&
          ms == T0);
    CHECK(profile_time_parse("rfc3339", "2026-11-28T21:30:00.000-05:00", 29, 480, &ms, err,
                             sizeof err) == 0 && ms == T0);
    CHECK(profile_time_parse("spaced", "2026-02-29 10:00:00", 19, 480, &ms, err, sizeof err) == -1);
    CHECK(profile_time_parse("spaced", "2024-02-29 10:00:00", 19, 480, &ms, err, sizeof err) == 0);
    CHECK(profile_time_parse("spaced", "2024-02-29 24:00:00", 19, 480, &ms, err, sizeof err) == -1);
    err[0] = 0;
    CHECK(profile_time_parse("epoch_s", "9000000000000000000", 19, 0, &ms, err, sizeof err) == -1 &&
          strstr(err, "out of range"));
    CHECK(profile_time_parse("epoch_s", "-9000000000000000000", 20, 0, &ms, err, sizeof err) == -1);
    CHECK(profile_time_parse("epoch_s", "9223372036854775", 16, 0, &ms, err, sizeof err) == 0 &&
          ms == 9223372036854775000LL);
    CHECK(profile_time_parse("epoch_s", "1795919400", 10, 0, &ms, err, sizeof err) == 0 &&
          ms == T0);
    /* every minute of a leap year round-trips */
    int ok = 1;
    for (int64_t t = 1704067200000LL; t < 1735689600000LL && ok; t += 7 * 60000 + 13000) {
        char b[PROFILE_TIME_MAX];
        int n = profile_time_format("yyyy-MM-ddTHH:mm:ss.SSSXXX", t, 345, b, sizeof b);
        ok = n > 0 && profile_time_parse("rfc3339", b, (size_t)n, 0, &ms, err, sizeof err) == 0 &&
             ms == t;
    }
    CHECK(ok);
}

static void test_message_id(void)
{
    char id[33];
    profile_message_id("county", 1207, 1209, id);
    CHECK_STR(id, "a6fdeef747d7bdd5d7166148559931a4");  /* sha256("county\n1207\n1209") */
    profile_message_id("", 0, 0, id);
    CHECK_STR(id, "ee325ee8851d70d14651699b667b9abc");
    char id2[33];
    profile_message_id("province", 1207, 1209, id2);
    CHECK(strcmp(id, id2) != 0);
}

/* The colour the agent raises for a first reading of value against the point's
 * blue..red columns (agent/alarm, then agent/tailings), by its name; NULL: none. */
static const char *point_level(const struct wire_point_meta *m, double value)
{
    struct conf_kv kv[32];
    size_t n = m->nkv < 32 ? m->nkv : 32;
    for (size_t i = 0; i < n; i++)
        kv[i] = (struct conf_kv){ (char *)m->kv[i].key, (char *)m->kv[i].value };
    struct conf_point p = { .meta = kv, .nmeta = n };
    struct alarm_limits lim;
    alarm_limits_init(&lim, &p);
    struct alarm_point st;
    memset(&st, 0, sizeof st);
    struct reading r = { 1, Q_GOOD, 1, 0, T0, value };
    struct alarm_event ev[ALARM_LEVELS];
    alarm_eval(&st, &p, &lim, &r, ev);
    int c = tailings_point_colour(&st);
    return c < 0 ? NULL : alarm_level_name((enum alarm_level)c);
}

/* An item's colour from its points' (agent/tailings), by its name; NULL: none. */
static const char *item_level(const unsigned count[4])
{
    int c = tailings_item_colour(count);
    return c < 0 ? NULL : alarm_level_name((enum alarm_level)(ALARM_BLUE + c));
}

static void test_tailings_levels(void)
{
    const char *l = point_level(&points[0], 9.7);
    CHECK_STR(l, "yellow");
    CHECK(point_level(&points[0], 8) == NULL);
    CHECK_STR(point_level(&points[0], 11), "red");
    static const struct wire_kv down_kv[] = { { "direction", "down" }, { "blue", "20" },
                                              { "red", "5" } };
    struct wire_point_meta down = { "B-1", "干滩长度", "m", "d", down_kv, 3, NAN, NAN, NAN, NAN,
                                    NAN };
    CHECK_STR(point_level(&down, 19), "blue");
    CHECK_STR(point_level(&down, 4), "red");
    unsigned c0[4] = { 0, 0, 0, 0 }, c1[4] = { 3, 0, 0, 0 }, c2[4] = { 4, 0, 0, 0 },
             c3[4] = { 1, 2, 0, 0 }, c4[4] = { 0, 0, 2, 0 }, c5[4] = { 0, 1, 1, 0 };
    CHECK(item_level(c0) == NULL);
    CHECK_STR(item_level(c1), "blue");
    CHECK_STR(item_level(c2), "yellow");
    CHECK_STR(item_level(c3), "yellow");
    CHECK_STR(item_level(c4), "red");
    CHECK_STR(item_level(c5), "orange");
}

static void test_registry(void)
{
    CHECK(profile_find("hazchem") && profile_find("coal") && !profile_find("x"));
    CHECK(strstr(profile_names(), "fireworks"));
    const struct profile_info *pi = profile_find("coal");
    int has = 0;
    for (const char *const *c = pi->required; *c; c++)
        has += !strcmp(*c, "point_code") || !strcmp(*c, "sensor_type") || !strcmp(*c, "location");
    CHECK(has == 3);
    char buf[2048], err[128];
    struct profile *p = profile_create("coal", err, sizeof err);
    CHECK(profile_fields(p, MK_POINTS, buf, sizeof buf) == 0);
    CHECK(strstr(buf, "hi=alarm_upper"));
    CHECK(profile_fields(p, MK_POINTS, buf, 10) == -1);
    struct profile_msg m = { .kind = MK_COUNT, .site = NULL };
    CHECK(profile_encode(p, &m, NULL) == NULL);
    profile_free(p);
    profile_free(NULL);
}

int main(void)
{
    profile_message_id("county", 1207, 1209, msg_id);
    RUN(test_golden_every_profile_and_kind);
    RUN(test_golden_other_zones);
    RUN(test_override_variant);
    RUN(test_override_errors);
    RUN(test_override_coal);
    RUN(test_charset);
    RUN(test_validate_broken);
    RUN(test_time_patterns);
    RUN(test_message_id);
    RUN(test_tailings_levels);
    RUN(test_registry);
    return UNIT_END();
}
