/* unit_conf: agent.conf and point tables — a full valid site (tests/conf/good) checked
 * field by field, then every error class, each at its exact FILE:LINE. Error cases
 * are written to a temporary directory so their line numbers read in the test. */
#include "agent/conf.h"
#include "core/num.h"
#include "tests/unit.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64];
static char written[64][128];
static size_t nwritten;
static struct conf *C;
static struct conf_diag D;

static const char *tpath(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* Write tmp/name (creating its directory); remembered for cleanup. */
static void put(const char *name, const char *content)
{
    const char *slash = strchr(name, '/');
    if (slash) {
        char dir[128];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - name), name);
        mkdir(tpath(dir), 0755);
    }
    FILE *f = fopen(tpath(name), "wb");
    if (!f) {
        perror(tpath(name));
        exit(2);
    }
    fputs(content, f);
    fclose(f);
    for (size_t i = 0; i < nwritten; i++)
        if (strcmp(written[i], name) == 0)
            return;
    snprintf(written[nwritten++], sizeof written[0], "%s", name);
}

static void reset(void)
{
    conf_free(C);
    C = NULL;
    conf_diag_free(&D);
}

/* Load tmp/agent.conf; returns conf_load's result. */
static int load(void)
{
    reset();
    return conf_load(tpath("agent.conf"), &C, &D);
}

static void dump(void)
{
    for (size_t i = 0; i < D.n; i++)
        printf("    diag: %s\n", D.lines[i]);
}

/* Is there a diagnostic "TMP/file:line: ...part..."? (line 0: "TMP/file: ...") */
static int has(const char *file, int line, const char *part)
{
    char prefix[320];
    if (line)
        snprintf(prefix, sizeof prefix, "%s:%d: ", tpath(file), line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", tpath(file));
    for (size_t i = 0; i < D.n; i++)
        if (strncmp(D.lines[i], prefix, strlen(prefix)) == 0 && strstr(D.lines[i], part))
            return 1;
    printf("    missing: %s...%s\n", prefix, part);
    dump();
    return 0;
}

#define AGENT "[agent]\nenterprise_code = E1\ngateway_code = G1\n"        /* lines 1-3 */
#define DEV "[device d1]\ndriver = modbus-tcp\nhost = h\npoints = points/a.csv\n" /* 4-7 */
#define POINTS "tag,area,address,type\nA-1,holding,0,int16\n"

/* A site that loads, plus `extra` appended to the conf from line 8 on. */
static int load_with(const char *extra)
{
    char buf[4096];
    snprintf(buf, sizeof buf, AGENT DEV "%s", extra);
    put("agent.conf", buf);
    put("points/a.csv", POINTS);
    return load();
}

/* Point table a.csv with the given body (header included); the conf is AGENT DEV. */
static int load_points(const char *csv)
{
    put("agent.conf", AGENT DEV);
    put("points/a.csv", csv);
    return load();
}

/* ------------------------------------------------------------------------- */

static void test_good_site(void)
{
    reset();
    int rc = conf_load("tests/conf/good/agent.conf", &C, &D);
    CHECK(rc == 0);
    CHECK(D.n == 0);
    dump();
    if (rc)
        return;
    CHECK_STR(C->path, "tests/conf/good/agent.conf");
    const struct conf_agent *a = &C->agent;
    CHECK_STR(a->enterprise_code, "220102000001");
    CHECK_STR(a->enterprise_name, "示例化工有限公司; 一厂");
    CHECK_STR(a->gateway_code, "GW01");
    CHECK_STR(a->district_code, "220102");
    CHECK_STR(a->data_dir, "tests/conf/good/data");
    CHECK_NUM(a->wire_tz_minutes, -330);
    CHECK_STR(a->wire_timezone, "-05:30");
    CHECK_NUM(a->store_max_bytes, 512.0 * 1024 * 1024);
    CHECK_NUM(a->retention_ms, 30.0 * 86400000);
    CHECK_NUM(a->status_interval_ms, 120000);
    CHECK_NUM(a->commit_interval_ms, 250);
    CHECK_NUM(a->queue_max, 5000);
    CHECK_STR(a->log_level, "debug");

    CHECK(C->nfiles == 3);
    CHECK_STR(C->files[0], "tests/conf/good/agent.conf");
    CHECK_STR(C->files[1], "tests/conf/good/points/tank.csv");
    CHECK_STR(C->files[2], "tests/conf/good/points/gas.csv");

    CHECK(C->ndevices == 2);
    const struct conf_device *t = &C->devices[0];
    CHECK_STR(t->name, "tank_plc");
    CHECK(t->driver == CONF_MODBUS_TCP);
    CHECK_STR(t->host, "192.168.10.20");
    CHECK_NUM(t->port, 1502);
    CHECK(t->serial == NULL);
    CHECK_NUM(t->unit_id, 0);
    CHECK_NUM(t->interval_ms, 1500);
    CHECK_NUM(t->timeout_ms, 800);
    CHECK_NUM(t->backoff_max_ms, 60000);
    CHECK_NUM(t->max_registers, 100);
    CHECK_NUM(t->max_bits, 1000);
    CHECK_NUM(t->max_gap, 4);
    CHECK_STR(t->points_file, "tests/conf/good/points/tank.csv");
    CHECK(t->file == C->files[0]);
    CHECK_NUM(t->line, 18);
    CHECK(t->npoints == 11);

    const struct conf_point *p = conf_point_find(t, "LT-101");
    CHECK(p != NULL);
    if (p) {
        CHECK_STR(conf_point_name(p), "1号储罐液位, 雷达");
        CHECK_STR(conf_point_unit(p), "m");
        CHECK(p->addr.area == MB_HOLDING);
        CHECK(p->addr.type == MB_FLOAT32);
        CHECK(p->addr.order == MB_CDAB);
        CHECK_NUM(p->addr.address, 0);
        CHECK_NUM(p->scale, 0.01);
        CHECK_NUM(p->offset, -1.5);
        CHECK_NUM(p->deadband, 0.005);
        CHECK_NUM(conf_point_limits(p)->lolo, 0.5);
        CHECK_NUM(conf_point_limits(p)->lo, 1);
        CHECK_NUM(conf_point_limits(p)->hi, 8);
        CHECK_NUM(conf_point_limits(p)->hihi, 9.5);
        CHECK_NUM(conf_point_limits(p)->hysteresis, 0.1);
        CHECK_NUM(conf_point_limits(p)->delay_ms, 5000);
        CHECK(p->nmeta == 3);
        CHECK_STR(conf_point_meta(p, "equip_code"), "T101");
        CHECK_STR(conf_point_meta(p, "target_code"), "LT-101-T");
        CHECK_STR(conf_point_meta(p, "location"), "north \"A\" row");
        CHECK(t->table == C->files[1]);   /* every point of t is from its table */
        CHECK_NUM(p->line, 3);
    }
    p = conf_point_find(t, "TT-101");
    CHECK(p && p->addr.type == MB_INT16 && p->addr.order == MB_ABCD && p->addr.address == 2);
    if (p) {
        CHECK_NUM(p->scale, 0.1);
        CHECK_NUM(p->offset, 0);
        CHECK_STR(conf_point_unit(p), "℃");
        CHECK(isnan(conf_point_limits(p)->lolo) && isnan(conf_point_limits(p)->lo) && isnan(conf_point_limits(p)->hysteresis));
        CHECK_NUM(conf_point_limits(p)->hi, 60);
        CHECK_NUM(conf_point_limits(p)->hihi, 80);
        CHECK_NUM(conf_point_limits(p)->delay_ms, 1500);
        CHECK(p->nmeta == 2);
        CHECK(conf_point_meta(p, "location") == NULL);
    }
    p = conf_point_find(t, "PT-101");
    CHECK(p && p->addr.type == MB_UINT16 && p->addr.order == MB_BADC && p->addr.address == 3);
    CHECK(p && p->scale == 1 && p->deadband == 0 && conf_point_limits(p)->delay_ms == 0 && !strcmp(conf_point_name(p), "压力"));
    p = conf_point_find(t, "FT-101");
    CHECK(p && p->addr.type == MB_INT32 && p->addr.order == MB_ABCD && p->addr.address == 4);
    p = conf_point_find(t, "FT-102");
    CHECK(p && p->addr.type == MB_UINT32 && p->addr.order == MB_CDAB && !strcmp(conf_point_name(p), ""));
    p = conf_point_find(t, "CNT-1");
    CHECK(p && p->addr.area == MB_INPUT && p->addr.type == MB_INT64 && p->addr.order == MB_BADC);
    p = conf_point_find(t, "CNT-2");
    CHECK(p && p->addr.type == MB_UINT64 && p->addr.order == MB_DCBA && p->addr.address == 4);
    p = conf_point_find(t, "ENERGY");
    CHECK(p && p->addr.type == MB_FLOAT64 && p->addr.order == MB_ABCD && p->addr.address == 8);
    p = conf_point_find(t, "XV-101");
    CHECK(p && p->addr.type == MB_BIT && p->addr.bit == 3 && p->addr.address == 10);
    p = conf_point_find(t, "P-101");
    CHECK(p && p->addr.area == MB_COIL && p->addr.type == MB_BOOL && p->addr.address == 65535);
    p = conf_point_find(t, "LAST");
    CHECK(p && p->addr.type == MB_FLOAT64 && p->addr.order == MB_DCBA && p->line == 14);

    const struct conf_device *g = conf_device_find(C, "gas_bus_1");
    CHECK(g == &C->devices[1]);
    if (g) {
        CHECK(g->driver == CONF_MODBUS_RTU);
        CHECK(g->host == NULL);
        CHECK_STR(g->serial, "/dev/ttyS1");
        CHECK_NUM(g->baud, 19200);
        CHECK(g->parity == 'E');
        CHECK_NUM(g->data_bits, 7);
        CHECK_NUM(g->stop_bits, 2);
        CHECK_NUM(g->unit_id, 3);
        CHECK_NUM(g->interval_ms, 2000);
        CHECK_NUM(g->timeout_ms, 500);
        CHECK_NUM(g->backoff_max_ms, 30000);
        CHECK_NUM(g->max_registers, 125);
        CHECK_NUM(g->max_bits, 2000);
        CHECK_NUM(g->max_gap, 0);
        CHECK_NUM(g->line, 31);
        CHECK(g->npoints == 4);
        p = conf_point_find(g, "GT-201");
        CHECK(p && p->addr.area == MB_INPUT && p->addr.type == MB_FLOAT32 && p->line == 3);
        CHECK(p && !strcmp(conf_point_unit(p), "%LEL") && conf_point_limits(p)->hi == 25 && conf_point_limits(p)->hihi == 50 && g->table == C->files[2]);
        CHECK(p && !strcmp(conf_point_meta(p, "equip_code"), "G201"));
        p = conf_point_find(g, "GA-201");
        CHECK(p && p->addr.area == MB_DISCRETE && p->addr.type == MB_BOOL && p->addr.address == 7);
        p = conf_point_find(g, "GF-201");
        CHECK(p && p->addr.type == MB_BIT && p->addr.bit == 15 && p->line == 5);
        p = conf_point_find(g, "GB-201");
        CHECK(p && p->addr.area == MB_HOLDING && p->addr.type == MB_BOOL);
    }
    CHECK(conf_device_find(C, "nope") == NULL);
    CHECK(conf_point_find(g, "LT-101") == NULL);

    CHECK(C->nuplinks == 2);
    const struct conf_uplink *u = &C->uplinks[0];
    CHECK_STR(u->name, "county");
    CHECK(u->nurls == 2);
    if (u->nurls == 2) {
        CHECK_STR(u->urls[0], "mqtts://county.example:8883");
        CHECK_STR(u->urls[1], "mqtts://[2001:db8::1]");
    }
    CHECK_STR(u->profile, "hazchem");
    CHECK_STR(u->client_id, "220102000001-GW01-county");
    CHECK_STR(u->ca_file, "tests/conf/good/certs/ca.pem");
    CHECK_STR(u->cert_file, "tests/conf/good/certs/gw.pem");
    CHECK_STR(u->key_file, "tests/conf/good/certs/gw.key");
    CHECK_STR(u->username, "gw01");
    CHECK_STR(u->password, "s3cret;#x");
    CHECK_NUM(u->qos, 0);
    CHECK_STR(u->topic_prefix, "ganzhi/220102000001");
    CHECK_NUM(u->backfill_rate, 12.5);
    CHECK_NUM(u->message_readings, 50);
    CHECK_NUM(u->max_inflight, 8);
    CHECK_NUM(u->keepalive_ms, 60000);
    CHECK_NUM(u->reconnect_max_ms, 120000);
    CHECK_NUM(u->live_window_ms, 3600000);
    CHECK_NUM(u->line, 42);
    CHECK(u->file == C->files[0]);

    u = &C->uplinks[1];
    CHECK_STR(u->name, "local.collector");
    CHECK(u->nurls == 1 && !strcmp(u->urls[0], "mqtt://127.0.0.1"));
    CHECK_STR(u->profile, "generic");
    CHECK_STR(u->client_id, "220102000001-GW01-local.collector");
    CHECK(!u->ca_file && !u->cert_file && !u->key_file && !u->username && !u->password);
    CHECK_NUM(u->qos, 1);
    CHECK_STR(u->topic_prefix, "ganzhi/220102000001");
    CHECK_NUM(u->backfill_rate, 0);
    CHECK_NUM(u->message_readings, 100);
    CHECK_NUM(u->max_inflight, 32);
    CHECK_NUM(u->keepalive_ms, 30000);
    CHECK_NUM(u->reconnect_max_ms, 5000);
    CHECK_NUM(u->live_window_ms, 30000);
}

static void test_defaults(void)
{
    CHECK(load_with("[uplink up]\nurl = mqtt://broker:1883\n") == 0);
    dump();
    if (!C)
        return;
    const struct conf_agent *a = &C->agent;
    CHECK_STR(a->enterprise_name, "");
    CHECK_STR(a->district_code, "");
    CHECK_STR(a->data_dir, "/var/lib/ganzhi");
    CHECK_NUM(a->wire_tz_minutes, 480);
    CHECK_STR(a->wire_timezone, "+08:00");
    CHECK_NUM(a->store_max_bytes, 2.0 * 1024 * 1024 * 1024);
    CHECK_NUM(a->retention_ms, 90.0 * 86400000);
    CHECK_NUM(a->status_interval_ms, 60000);
    CHECK_NUM(a->commit_interval_ms, 200);
    CHECK_NUM(a->queue_max, 100000);
    CHECK_STR(a->log_level, "info");
    const struct conf_device *d = &C->devices[0];
    CHECK_NUM(d->port, 502);
    CHECK_NUM(d->unit_id, 1);
    CHECK_NUM(d->interval_ms, 1000);
    CHECK_NUM(d->timeout_ms, 500);
    CHECK_NUM(d->backoff_max_ms, 30000);
    CHECK_NUM(d->max_registers, 125);
    CHECK_NUM(d->max_bits, 2000);
    CHECK_NUM(d->max_gap, 0);
    CHECK_STR(d->points_file, tpath("points/a.csv"));
    CHECK(d->npoints == 1 && d->points[0].nmeta == 0);
    CHECK_STR(C->uplinks[0].client_id, "E1-G1-up");
    CHECK_STR(C->uplinks[0].topic_prefix, "ganzhi/E1");
    CHECK_STR(C->uplinks[0].profile, "generic");

    /* CRLF, "Z", absolute paths kept, comment characters quoted or not after a blank */
    put("agent.conf", "[agent]\r\nenterprise_code = \"E;1 # x\"  ; c\r\ngateway_code = G1\r\n"
        "wire_timezone = Z\r\nenterprise_name = a;b#c # comment\r\n\tdistrict_code=\t\"\\\"q\\\\\"\r\n"
        "data_dir = /srv/g\r\n" "[device d1]\r\ndriver = modbus-tcp\r\nhost = h\r\npoints = points/a.csv");
    CHECK(load() == 0);
    dump();
    if (C) {
        CHECK_STR(C->agent.enterprise_code, "E;1 # x");
        CHECK_STR(C->agent.enterprise_name, "a;b#c");
        CHECK_STR(C->agent.district_code, "\"q\\");
        CHECK_NUM(C->agent.wire_tz_minutes, 0);
        CHECK_STR(C->agent.wire_timezone, "+00:00");
        CHECK_STR(C->agent.data_dir, "/srv/g");
        CHECK(C->nuplinks == 0);
    }
}

static void test_parse_duration(void)
{
    char err[256];
    int64_t ms = -1;
    struct { const char *s; int64_t ms; } ok[] = {
        { "500ms", 500 }, { "2s", 2000 }, { "1.5s", 1500 }, { "90d", 90LL * 86400000 },
        { "2", 2000 }, { "0.1s", 100 }, { "1m", 60000 }, { "2h", 7200000 }, { "0", 0 },
        { "0.001", 1 }, { "1.50s", 1500 }, { ".5s", 500 }, { "106751991167d", 106751991167LL * 86400000 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = conf_parse_duration(ok[i].s, &ms, err, sizeof err);
        CHECK(rc == 0);
        CHECK_NUM(ms, (double)ok[i].ms);
        if (rc)
            printf("    %s: %s\n", ok[i].s, err);
    }
    struct { const char *s, *msg; } bad[] = {
        { "", "empty (expected a number with ms" },
        { "-1s", "'-1s' is negative" },
        { "5x", "'5x' is not a duration" },
        { "s", "'s' is not a duration" },
        { "1.5.2s", "is not a duration" },
        { " 1s", "is not a duration" },
        { "1 s", "is not a duration" },
        { "1S", "is not a duration" },
        { "1sx", "is not a duration" },
        { "0.5ms", "'0.5ms' is finer than a millisecond" },
        { "99999999999999999999", "is too large" },
        { "106751991168d", "is too large" },
        { "1e3s", "is not a duration" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(conf_parse_duration(bad[i].s, &ms, err, sizeof err) == -1);
        if (!strstr(err, bad[i].msg)) {
            printf("    '%s': got \"%s\", expected \"%s\"\n", bad[i].s, err, bad[i].msg);
            CHECK(strstr(err, bad[i].msg));
        }
    }
}

static void test_parse_size(void)
{
    char err[256];
    int64_t b = -1;
    struct { const char *s; int64_t b; } ok[] = {
        { "100", 100 }, { "100B", 100 }, { "1KB", 1024 }, { "2GB", 2147483648LL }, { "512MB", 536870912 },
        { "512mb", 536870912 }, { "1.5KB", 1536 }, { "0", 0 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK(conf_parse_size(ok[i].s, &b, err, sizeof err) == 0);
        CHECK_NUM(b, (double)ok[i].b);
    }
    struct { const char *s, *msg; } bad[] = {
        { "", "empty (expected a number with B, KB, MB or GB" },
        { "-1MB", "'-1MB' is negative" },
        { "1TB", "'1TB' is not a size" },
        { "MB", "'MB' is not a size" },
        { "1 MB", "is not a size" },
        { "0.1B", "is finer than a byte" },
        { "9999999999GB", "'9999999999GB' is too large" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(conf_parse_size(bad[i].s, &b, err, sizeof err) == -1);
        if (!strstr(err, bad[i].msg)) {
            printf("    '%s': got \"%s\", expected \"%s\"\n", bad[i].s, err, bad[i].msg);
            CHECK(strstr(err, bad[i].msg));
        }
    }
}

static void test_parse_numbers(void)
{
    char err[256];
    long l = 0;
    CHECK(num_parse_long("502", 1, 65535, &l, err, sizeof err) == 0 && l == 502);
    CHECK(num_parse_long("-5", -10, 10, &l, err, sizeof err) == 0 && l == -5);
    CHECK(num_parse_long("70000", 1, 65535, &l, err, sizeof err) == -1);
    CHECK_STR(err, "'70000' out of range (1..65535)");
    CHECK(num_parse_long("0", 1, 65535, &l, err, sizeof err) == -1);
    CHECK(num_parse_long("99999999999999999999", 0, 10, &l, err, sizeof err) == -1);
    CHECK(strstr(err, "out of range"));
    CHECK(num_parse_long("", 0, 10, &l, err, sizeof err) == -1);
    CHECK(strstr(err, "empty"));
    const char *garbage[] = { "12x", " 1", "1 ", "+1", "0x10", "1.0", "-", "abc" };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        CHECK(num_parse_long(garbage[i], 0, 100, &l, err, sizeof err) == -1);
        CHECK(strstr(err, "is not an integer"));
    }
    CHECK(l == -5);     /* untouched by failures */

    double d = 0;
    CHECK(num_parse_double("1.5", &d, err, sizeof err) == 0 && d == 1.5);
    CHECK(num_parse_double("-2", &d, err, sizeof err) == 0 && d == -2);
    CHECK(num_parse_double("1e3", &d, err, sizeof err) == 0 && d == 1000);
    CHECK(num_parse_double(".5", &d, err, sizeof err) == 0 && d == 0.5);
    CHECK(num_parse_double("", &d, err, sizeof err) == -1 && strstr(err, "empty"));
    CHECK(num_parse_double("1e999", &d, err, sizeof err) == -1 && strstr(err, "too large"));
    const char *nan_like[] = { "abc", "1.5x", "inf", "nan", "0x1p3", " 1", "1 ", "e5", "-" };
    for (size_t i = 0; i < sizeof nan_like / sizeof nan_like[0]; i++) {
        CHECK(num_parse_double(nan_like[i], &d, err, sizeof err) == -1);
        CHECK(strstr(err, "is not a number"));
    }
}

static void test_ini_syntax(void)
{
    put("points/a.csv", POINTS);
    put("agent.conf",
        "key = before any section\n"                    /* 1 */
        "[agent]\n"                                     /* 2 */
        "enterprise_code = E1\n"                        /* 3 */
        "gateway_code = G1\n"                           /* 4 */
        "gateway_code = G2\n"                           /* 5 dup key */
        "this line has no equals sign\n"                /* 6 */
        "enterprise_name = \"unterminated\n"            /* 7 */
        "district_code = \"a\" b\n"                     /* 8 */
        "bad key = 1\n"                                 /* 9 */
        "= 1\n"                                         /* 10 */
        "[devcie d2]\n"                                 /* 11 unknown kind, hint */
        "driver = modbus-tcp\n"                         /* 12 skipped */
        "[device bad name]\n"                           /* 13 */
        "[device]\n"                                    /* 14 */
        "[agent]\n"                                     /* 15 dup */
        "[agent x]\n"                                   /* 16 */
        "[device d1\n"                                  /* 17 */
        "[device d1] junk\n"                            /* 18 */
        "[widget w]\n"                                  /* 19 */
        DEV                                             /* 20-23 */
        "[device d1]\n"                                 /* 24 dup */
        "[uplink d1]\n"                                 /* 25: another kind, fine */
        "url = mqtt://x\n");                            /* 26 */
    CHECK(load() == -1);
    CHECK(C == NULL);
    CHECK(has("agent.conf", 1, "key 'key' outside a section"));
    CHECK(has("agent.conf", 5, "duplicate key 'gateway_code' (first at line 4)"));
    CHECK(has("agent.conf", 6, "'this line has no equals sign' is not 'key = value'"));
    CHECK(has("agent.conf", 7, "enterprise_name: unterminated quoted value"));
    CHECK(has("agent.conf", 8, "district_code: text after the closing quote"));
    CHECK(has("agent.conf", 9, "bad key 'bad key'"));
    CHECK(has("agent.conf", 10, "missing key before '='"));
    CHECK(has("agent.conf", 11, "unknown section kind 'devcie' (did you mean 'device'?)"));
    CHECK(has("agent.conf", 13, "bad device name 'bad name' (expected letters, digits"));
    CHECK(has("agent.conf", 14, "[device] needs a name"));
    CHECK(has("agent.conf", 15, "duplicate section [agent] (first at line 2)"));
    CHECK(has("agent.conf", 16, "[agent] takes no name"));
    CHECK(has("agent.conf", 17, "section header without ']'"));
    CHECK(has("agent.conf", 18, "text after the section header"));
    CHECK(has("agent.conf", 19, "unknown section kind 'widget' (expected [agent], [device NAME] or [uplink NAME])"));
    CHECK(has("agent.conf", 24, "duplicate section [device d1] (first at line 20)"));
    CHECK(D.n == 16);
    /* sorted by line */
    size_t plen = strlen(tpath("agent.conf:"));
    for (size_t i = 1; i < D.n; i++)
        CHECK(strtol(D.lines[i - 1] + plen, NULL, 10) <= strtol(D.lines[i] + plen, NULL, 10));
}

static void test_unknown_keys(void)
{
    CHECK(load_with("intervall = 2s\nfrobnicate = 1\n[uplink u]\nurl = mqtt://x\nqos_level = 1\n") == -1);
    CHECK(has("agent.conf", 8, "unknown key 'intervall' (did you mean 'interval'?)"));
    CHECK(has("agent.conf", 9, "unknown key 'frobnicate' (not a key of [device]"));
    CHECK(has("agent.conf", 12, "unknown key 'qos_level'"));
    CHECK(D.n == 3);

    put("agent.conf", "[agent]\nenterprise_code = E1\ngateway_code = G1\nlog_levl = info\n" DEV);
    CHECK(load() == -1);
    CHECK(has("agent.conf", 4, "unknown key 'log_levl' (did you mean 'log_level'?)"));
}

static void test_missing_required(void)
{
    put("points/a.csv", POINTS);
    put("agent.conf", "[agent]\nenterprise_code = \n"   /* 1-2 */
        "[device d1]\ndriver = modbus-tcp\npoints = points/a.csv\n"   /* 3-5 */
        "[device d2]\nhost = h\npoints = points/a.csv\n"              /* 6-8 */
        "[device d3]\ndriver = modbus-rtu\npoints = points/b.csv\n"   /* 9-11 */
        "[uplink u]\nprofile = generic\n");                           /* 12-13 */
    CHECK(load() == -1);
    CHECK(has("agent.conf", 1, "[agent]: missing required key 'gateway_code'"));
    CHECK(has("agent.conf", 2, "enterprise_code: empty (a value is required)"));
    CHECK(has("agent.conf", 3, "[device d1]: missing required key 'host'"));
    CHECK(has("agent.conf", 6, "[device d2]: missing required key 'driver'"));
    CHECK(has("agent.conf", 9, "[device d3]: missing required key 'serial'"));
    CHECK(has("agent.conf", 11, "points: cannot read '"));
    CHECK(has("agent.conf", 11, "b.csv' (No such file or directory)"));
    CHECK(has("agent.conf", 12, "[uplink u]: missing required key 'url'"));
    /* d1 and d2 both name a.csv: said once, not as every tag twice */
    CHECK(has("agent.conf", 8, "a.csv' is also the point table of device 'd1' (line 3)"));
    CHECK(D.n == 8);
}

static void test_bad_values(void)
{
    put("points/a.csv", POINTS);
    put("agent.conf",
        "[agent]\nenterprise_code = E1\ngateway_code = G1\n"   /* 1-3 */
        "wire_timezone = +8\n"                                 /* 4 */
        "store_max = 512KB\n"                                  /* 5 */
        "status_interval = 500ms\n"                            /* 6 */
        "queue_max = 10\n"                                     /* 7 */
        "log_level = verbose\n"                                /* 8 */
        "retention = forever\n"                                /* 9 */
        "[device d1]\ndriver = modbus-tcp\nhost = h\npoints = points/a.csv\n"   /* 10-13 */
        "port = 70000\n"                                       /* 14 */
        "interval = 5ms\n"                                     /* 15 */
        "max_gap = 125\n"                                      /* 16 */
        "unit_id = 256\n"                                      /* 17 */
        "[device d2]\ndriver = modbus-ascii\n"                 /* 18-19 */
        "[device d3]\ndriver = modbus-rtu\nserial = /dev/ttyS0\nunit_id = 0\nparity = X\n" /* 20-24 */
        "baud = 9600x\n"                                       /* 25 */
        "[uplink u]\nurl = http://x\n"                         /* 26-27 */
        "profile = hazmat\n"                                   /* 28 */
        "qos = 2\n"                                            /* 29 */
        "backfill_rate = -1\n"                                 /* 30 */
        "keepalive = 2h\n"                                     /* 31 */
        "[uplink v]\nurl = mqtt://a:1883, mqtt://:1883\n"      /* 32-33 */
        "[uplink w]\nurl = mqtt://a:99999\n"                   /* 34-35 */
        "[uplink x]\nurl = mqtt://a/path\n"                    /* 36-37 */
        "[uplink y]\nurl = mqtt://a,,mqtt://b\n"               /* 38-39 */
        "[uplink z]\nurl = \n");                               /* 40-41 */
    CHECK(load() == -1);
    CHECK(has("agent.conf", 4, "wire_timezone: '+8' is not a time zone (expected +HH:MM, -HH:MM or Z"));
    CHECK(has("agent.conf", 5, "store_max: '512KB' out of range (>= 1MB)"));
    CHECK(has("agent.conf", 6, "status_interval: '500ms' out of range (1s..1d)"));
    CHECK(has("agent.conf", 7, "queue_max: '10' out of range (100..10000000)"));
    CHECK(has("agent.conf", 8, "log_level: 'verbose' is not a level (expected error, warn, info or debug"));
    CHECK(has("agent.conf", 9, "retention: 'forever' is not a duration"));
    CHECK(has("agent.conf", 14, "port: '70000' out of range (1..65535)"));
    CHECK(has("agent.conf", 15, "interval: '5ms' out of range (10ms..1d)"));
    CHECK(has("agent.conf", 16, "max_gap: '125' out of range (0..124)"));
    CHECK(has("agent.conf", 17, "unit_id: '256' out of range (0..255)"));
    CHECK(has("agent.conf", 19, "driver: 'modbus-ascii' is not one of: modbus-tcp, modbus-rtu"));
    CHECK(has("agent.conf", 18, "[device d2]: missing required key 'points'"));
    CHECK(has("agent.conf", 23, "unit_id: '0' out of range for modbus-rtu (1..247"));
    CHECK(has("agent.conf", 24, "parity: 'X' is not one of: N, E, O"));
    CHECK(has("agent.conf", 25, "baud: '9600x' is not an integer"));
    CHECK(has("agent.conf", 20, "[device d3]: missing required key 'points'"));
    CHECK(has("agent.conf", 27, "url: 'http://x' must start with mqtt://, mqtts:// or file:///"));
    CHECK(has("agent.conf", 28, "profile: 'hazmat' is not a profile (expected one of: generic, hazchem, "
              "tailings, coal, fireworks)"));
    CHECK(has("agent.conf", 29, "qos: '2' out of range (0..1)"));
    CHECK(has("agent.conf", 30, "backfill_rate: '-1' out of range (>= 0)"));
    CHECK(has("agent.conf", 31, "keepalive: '2h' out of range (1s..1h)"));
    CHECK(has("agent.conf", 33, "url: 'mqtt://:1883' has no host"));
    CHECK(has("agent.conf", 35, "url: 'mqtt://a:99999' has a bad port (expected 1..65535)"));
    CHECK(has("agent.conf", 37, "url: 'mqtt://a/path' has a path"));
    CHECK(has("agent.conf", 39, "url: empty entry in the list"));
    CHECK(has("agent.conf", 41, "url: empty"));
    CHECK(D.n == 26);
}

static void test_driver_keys(void)
{
    CHECK(load_with("serial = /dev/ttyS0\nbaud = 9600\n"        /* 8-9 on the tcp device */
                    "[device r]\ndriver = modbus-rtu\nserial = /dev/ttyS0\npoints = points/b.csv\n" /* 10-13 */
                    "host = h\nport = 502\n") == -1);           /* 14-15 */
    CHECK(has("agent.conf", 8, "key 'serial' applies to modbus-rtu devices only (this one is modbus-tcp)"));
    CHECK(has("agent.conf", 9, "key 'baud' applies to modbus-rtu and modbus-rtu-tcp devices only "
              "(this one is modbus-tcp)"));
    CHECK(has("agent.conf", 14, "key 'host' applies to modbus-tcp and modbus-rtu-tcp devices only "
              "(this one is modbus-rtu)"));
    CHECK(has("agent.conf", 15, "key 'port' applies to modbus-tcp and modbus-rtu-tcp devices only"));
    CHECK(has("agent.conf", 13, "points: cannot read"));
    CHECK(D.n == 5);
}

/* The three ways over TCP, as tests/conf/bridges has them (and ganzhi.conf(5) shows). */
static void test_bridges_site(void)
{
    reset();
    int rc = conf_load("tests/conf/bridges/agent.conf", &C, &D);
    CHECK(rc == 0);
    CHECK(D.n == 0);
    dump();
    if (rc)
        return;
    CHECK_NUM(C->agent.dtu_register_timeout_ms, 15000);
    CHECK_NUM(C->agent.dtu_pending_max, 32);
    CHECK(C->ndevices == 15);

    /* a serial device server, dialled out to */
    const struct conf_device *d = conf_device_find(C, "gas_1");
    CHECK(d && d->driver == CONF_MODBUS_RTU_TCP);
    if (d) {
        CHECK_STR(d->host, "192.168.1.50");
        CHECK_NUM(d->port, 4001);
        CHECK(!d->listen && !d->listen_host && d->listen_port == 0);
        CHECK(!d->dtu && d->dtu_id_len == 0 && !d->heartbeat && d->heartbeat_len == 0);
        CHECK(!d->serial);
        CHECK_NUM(d->baud, 19200);
        CHECK(d->parity == 'E');
        CHECK_NUM(d->data_bits, 8);
        CHECK_NUM(d->stop_bits, 1);
        CHECK_NUM(d->frame_gap_ms, -1);
        CHECK(d->echo == CONF_ECHO_AUTO);
        CHECK_NUM(d->unit_id, 1);
        CHECK_NUM(d->line, 13);
    }
    d = conf_device_find(C, "gas_2");
    CHECK(d && d->port == 4001 && d->unit_id == 2 && d->timeout_ms == 1000);

    /* a Modbus TCP gateway: eight units on one host:port, shared by default */
    for (int i = 1; i <= 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "meter_%d", i);
        d = conf_device_find(C, name);
        CHECK(d && d->driver == CONF_MODBUS_TCP && !strcmp(d->host, "192.168.1.60") && d->port == 502
              && d->unit_id == i && d->link == CONF_LINK_SHARED && d->frame_gap_ms == -1);
    }
    d = conf_device_find(C, "plc");
    CHECK(d && d->link == CONF_LINK_OWN && d->port == 1502 && !strcmp(d->host, "plc.site.example"));

    /* DTUs dialling in: the same one written as text and as hex */
    static const uint8_t id[] = "GZ-DTU-0001";
    d = conf_device_find(C, "tank_level");
    CHECK(d && d->driver == CONF_MODBUS_RTU_TCP);
    if (d) {
        CHECK(!d->host && d->port == 0);
        CHECK_STR(d->listen, ":9000");
        CHECK_STR(d->listen_host, "");
        CHECK_NUM(d->listen_port, 9000);
        CHECK_STR(d->dtu, "GZ-DTU-0001");
        CHECK(d->dtu_id_len == 11 && !memcmp(d->dtu_id, id, 11));
        CHECK_STR(d->heartbeat, "hex:FE");
        CHECK(d->heartbeat_len == 1 && d->heartbeat_bytes[0] == 0xFE);
        CHECK_NUM(d->baud, 9600);
        CHECK(d->parity == 'N');
        CHECK_NUM(d->frame_gap_ms, -1);
        CHECK(d->echo == CONF_ECHO_AUTO);
        CHECK_NUM(d->interval_ms, 10000);
    }
    d = conf_device_find(C, "pump");
    CHECK(d && d->dtu_id_len == 11 && !memcmp(d->dtu_id, id, 11) && !strcmp(d->dtu, "hex:47 5A 2D 44 54 55 2D 30 30 30 31"));
    CHECK(d && d->heartbeat_len == 1 && d->heartbeat_bytes[0] == 0xFE);
    d = conf_device_find(C, "well");
    CHECK(d && d->dtu_id_len == 4 && !memcmp(d->dtu_id, "\0\0\0\x2A", 4));
    CHECK(d && d->frame_gap_ms == 50 && d->echo == CONF_ECHO_ON && d->baud == 2400 && !d->heartbeat);
    d = conf_device_find(C, "river");
    CHECK(d && !strcmp(d->listen_host, "2001:db8::10") && d->listen_port == 9001 && d->echo == CONF_ECHO_OFF);
    CHECK(d && !strcmp(d->listen, "[2001:db8::10]:9001"));
}

#define RTCP "[device d1]\ndriver = modbus-rtu-tcp\npoints = points/a.csv\n"    /* 4-6 */

/* A site of one modbus-rtu-tcp device with `keys` from line 7 on. */
static int load_rtcp(const char *keys)
{
    char buf[4096];
    snprintf(buf, sizeof buf, AGENT RTCP "%s", keys);
    put("agent.conf", buf);
    put("points/a.csv", POINTS);
    return load();
}

static void test_listen_forms(void)
{
    struct { const char *listen, *host; int port; } ok[] = {
        { ":9000", "", 9000 }, { "0.0.0.0:9000", "0.0.0.0", 9000 }, { "127.0.0.1:1", "127.0.0.1", 1 },
        { "[::]:9000", "::", 9000 }, { "[::1]:65535", "::1", 65535 },
        { "[2001:db8::10]:502", "2001:db8::10", 502 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char keys[256];
        snprintf(keys, sizeof keys, "listen = %s\ndtu = D1\n", ok[i].listen);
        int rc = load_rtcp(keys);
        CHECK(rc == 0);
        if (rc) {
            printf("    listen = %s\n", ok[i].listen);
            dump();
            continue;
        }
        CHECK_STR(C->devices[0].listen, ok[i].listen);
        CHECK_STR(C->devices[0].listen_host, ok[i].host);
        CHECK_NUM(C->devices[0].listen_port, ok[i].port);
        CHECK_NUM(C->devices[0].port, 0);
    }
    struct { const char *listen, *msg; } bad[] = {
        { "9000", "listen: '9000' has no ':' before the port (write :9000 to listen at every address, "
                  "or ADDR:9000 at one)" },
        { "", "listen: empty (expected [ADDR]:PORT, e.g. :9000 for every address" },
        { "0.0.0.0", "listen: '0.0.0.0' has no port (expected [ADDR]:PORT" },
        { "::1:9000", "listen: '::1:9000': an IPv6 address is written in brackets, e.g. [::]:9000" },
        { "[::1]9000", "listen: '[::1]9000' has no ':PORT' after the address" },
        { "[::1:9000", "listen: '[::1:9000' has an unclosed '['" },
        { "[10.0.0.1]:9000", "listen: '[10.0.0.1]:9000': '10.0.0.1' is not an IPv6 address" },
        { "[]:9000", "listen: '[]:9000': '' is not an IPv6 address" },
        { "300.1.1.1:9000", "listen: '300.1.1.1:9000': '300.1.1.1' is not an IPv4 address" },
        { "gateway:9000", "listen: 'gateway:9000': 'gateway' is not an IPv4 address" },
        { ":0", "listen: ':0' has a bad port: '0' out of range (1..65535)" },
        { ":70000", "listen: ':70000' has a bad port" },
        { ":", "listen: ':' has a bad port: empty" },
        { ":90x", "listen: ':90x' has a bad port" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char keys[256];
        snprintf(keys, sizeof keys, "listen = %s\ndtu = D1\n", bad[i].listen);
        CHECK(load_rtcp(keys) == -1);
        CHECK(has("agent.conf", 7, bad[i].msg));
        CHECK(D.n == 1);
    }
}

static void test_rtu_tcp_keys(void)
{
    /* defaults: a device server, the agent's DTU keys */
    CHECK(load_rtcp("host = ts1\nport = 4001\n") == 0);
    dump();
    if (C) {
        const struct conf_device *d = &C->devices[0];
        CHECK(d->driver == CONF_MODBUS_RTU_TCP);
        CHECK_STR(d->host, "ts1");
        CHECK_NUM(d->port, 4001);
        CHECK(!d->listen && !d->dtu && !d->heartbeat);
        CHECK_NUM(d->baud, 9600);
        CHECK(d->parity == 'N');
        CHECK_NUM(d->data_bits, 8);
        CHECK_NUM(d->stop_bits, 1);
        CHECK_NUM(d->frame_gap_ms, -1);
        CHECK(d->echo == CONF_ECHO_AUTO);
        CHECK_NUM(d->unit_id, 1);
        CHECK_NUM(C->agent.dtu_register_timeout_ms, 10000);
        CHECK_NUM(C->agent.dtu_pending_max, 16);
    }
    /* every key set, on a DTU dialling in */
    CHECK(load_rtcp("listen = 127.0.0.1:9100\ndtu = \"hex:00 01:02-0a\"\nheartbeat = PING\nbaud = 115200\n"
                    "parity = O\ndata_bits = 7\nstop_bits = 2\nframe_gap = 0\necho = off\nunit_id = 247\n") == 0);
    dump();
    if (C) {
        const struct conf_device *d = &C->devices[0];
        CHECK(d->dtu_id_len == 4 && !memcmp(d->dtu_id, "\x00\x01\x02\x0a", 4));
        CHECK(d->heartbeat_len == 4 && !memcmp(d->heartbeat_bytes, "PING", 4));
        CHECK_STR(d->heartbeat, "PING");
        CHECK_NUM(d->baud, 115200);
        CHECK(d->parity == 'O');
        CHECK_NUM(d->data_bits, 7);
        CHECK_NUM(d->stop_bits, 2);
        CHECK_NUM(d->frame_gap_ms, 0);      /* written: no pause, not the derived one */
        CHECK(d->echo == CONF_ECHO_OFF);
        CHECK_NUM(d->unit_id, 247);
    }
    CHECK(load_rtcp("host = ts1\nport = 4001\nframe_gap = 10s\necho = on\n") == 0);
    CHECK(C && C->devices[0].frame_gap_ms == 10000 && C->devices[0].echo == CONF_ECHO_ON);
    /* modbus-tcp: port 502 and link shared unless told; frame_gap derived on every driver */
    CHECK(load_with("") == 0);
    CHECK(C && C->devices[0].port == 502 && C->devices[0].link == CONF_LINK_SHARED);
    CHECK(C && C->devices[0].frame_gap_ms == -1);
    CHECK(load_with("link = own\n") == 0);
    CHECK(C && C->devices[0].link == CONF_LINK_OWN);

    /* the agent's keys */
    put("agent.conf", AGENT "dtu_register_timeout = 100ms\ndtu_pending_max = 1024\n" DEV);
    CHECK(load() == 0);
    CHECK(C && C->agent.dtu_register_timeout_ms == 100 && C->agent.dtu_pending_max == 1024);
    put("agent.conf", AGENT "dtu_register_timeout = 5m\ndtu_pending_max = 1\n" DEV);
    CHECK(load() == 0);
    CHECK(C && C->agent.dtu_register_timeout_ms == 300000 && C->agent.dtu_pending_max == 1);
    put("agent.conf", AGENT "dtu_register_timeout = 50ms\ndtu_pending_max = 0\n" DEV);
    CHECK(load() == -1);
    CHECK(has("agent.conf", 4, "dtu_register_timeout: '50ms' out of range (100ms..5m)"));
    CHECK(has("agent.conf", 5, "dtu_pending_max: '0' out of range (1..1024)"));
    CHECK(D.n == 2);
    put("agent.conf", AGENT "dtu_register_timeout = 6m\ndtu_pending_max = 1025\n" DEV);
    CHECK(load() == -1);
    CHECK(has("agent.conf", 4, "dtu_register_timeout: '6m' out of range (100ms..5m)"));
    CHECK(has("agent.conf", 5, "dtu_pending_max: '1025' out of range (1..1024)"));
    CHECK(D.n == 2);
}

static void test_rtu_tcp_errors(void)
{
    /* neither host nor listen */
    CHECK(load_rtcp("baud = 9600\n") == -1);
    CHECK(has("agent.conf", 4, "[device d1]: modbus-rtu-tcp needs host or listen (host: dial out to a "
              "serial device server; listen: wait for a DTU to dial in)"));
    CHECK(D.n == 1);
    /* both */
    CHECK(load_rtcp("host = ts1\nport = 4001\nlisten = :9000\ndtu = D1\n") == -1);
    CHECK(has("agent.conf", 9, "listen: host is also given (line 7); a modbus-rtu-tcp device either "
              "dials out to host or listens for its DTU, not both"));
    CHECK(has("agent.conf", 8, "key 'port' goes with host; with listen the port is listen's own"));
    CHECK(D.n == 2);
    /* host without port: no default, device servers have none */
    CHECK(load_rtcp("host = ts1\n") == -1);
    CHECK(has("agent.conf", 4, "[device d1]: missing required key 'port' (modbus-rtu-tcp with host: serial "
              "device servers have no standard port; give the one set in the server, e.g. 4001)"));
    CHECK(D.n == 1);
    /* listen with port */
    CHECK(load_rtcp("listen = :9000\ndtu = D1\nport = 9000\n") == -1);
    CHECK(has("agent.conf", 9, "key 'port' goes with host; with listen the port is listen's own "
              "(listen = [ADDR]:PORT, line 7)"));
    CHECK(D.n == 1);
    /* listen without dtu */
    CHECK(load_rtcp("listen = :9000\nheartbeat = hex:FE\n") == -1);
    CHECK(has("agent.conf", 4, "[device d1]: missing required key 'dtu' (with listen: the registration "
              "packet that tells which DTU dialling in the device is behind)"));
    CHECK(D.n == 1);
    /* dtu and heartbeat without listen */
    CHECK(load_rtcp("host = ts1\nport = 4001\ndtu = D1\nheartbeat = hex:FE\n") == -1);
    CHECK(has("agent.conf", 9, "key 'dtu' goes with listen (a DTU dialling in); a device server dialled "
              "out to at host is known by its address"));
    CHECK(has("agent.conf", 10, "key 'heartbeat' goes with listen (a DTU dialling in sends it)"));
    CHECK(D.n == 2);

    /* bad values */
    put("points/b.csv", "tag,area,address,type\nB-1,holding,0,int16\n");
    put("points/c.csv", "tag,area,address,type\nC-1,holding,0,int16\n");
    char big[200];
    snprintf(big, sizeof big, "hex:%0130d", 0);     /* 65 bytes */
    char keys[1024];
    snprintf(keys, sizeof keys,
             "listen = :9000\n"                 /* 7 */
             "dtu = hex:F\n"                    /* 8 */
             "heartbeat = hex:\n"               /* 9 */
             "frame_gap = 11s\n"                /* 10 */
             "echo = maybe\n"                   /* 11 */
             "unit_id = 0\n"                    /* 12 */
             "baud = 100\n"                     /* 13 */
             "parity = X\n"                     /* 14 */
             "[device d2]\ndriver = modbus-rtu-tcp\nlisten = :9000\npoints = points/b.csv\n"  /* 15-18 */
             "dtu = \n"                         /* 19 */
             "heartbeat = %s\n"                 /* 20 */
             "unit_id = 248\n"                  /* 21 */
             "frame_gap = 1us\n"                /* 22 */
             "[device d3]\ndriver = modbus-rtu-tcp\nlisten = :9000\npoints = points/c.csv\n"  /* 23-26 */
             "dtu = hex:ZZ\n"                   /* 27 */
             "frame_gap = -1ms\n", big);        /* 28 */
    CHECK(load_rtcp(keys) == -1);
    CHECK(has("agent.conf", 8, "dtu: 'hex:F': odd number of hex digits"));
    CHECK(has("agent.conf", 9, "heartbeat: 'hex:': no bytes"));
    CHECK(has("agent.conf", 10, "frame_gap: '11s' out of range (0..10s)"));
    CHECK(has("agent.conf", 11, "echo: 'maybe' is not one of: auto, on, off"));
    CHECK(has("agent.conf", 12, "unit_id: '0' out of range for modbus-rtu-tcp (1..247; 0 is broadcast)"));
    CHECK(has("agent.conf", 13, "baud: '100' out of range (300..4000000)"));
    CHECK(has("agent.conf", 14, "parity: 'X' is not one of: N, E, O"));
    CHECK(has("agent.conf", 19, "dtu: empty (expected text, e.g. GZ-DTU-0001, or hex: and hex digits"));
    CHECK(has("agent.conf", 20, "heartbeat: 'hex:000"));
    CHECK(has("agent.conf", 20, "is longer than 64 bytes"));
    CHECK(has("agent.conf", 21, "unit_id: '248' out of range for modbus-rtu-tcp"));
    CHECK(has("agent.conf", 22, "frame_gap: '1us' is not a duration"));
    CHECK(has("agent.conf", 27, "dtu: 'hex:ZZ': 'Z' is not a hex digit"));
    CHECK(has("agent.conf", 28, "frame_gap: '-1ms' is negative"));
    /* a dtu that did not parse is not also reported missing */
    CHECK(D.n == 13);

    /* modbus-tcp: link, and host still required there */
    CHECK(load_with("link = exclusive\n") == -1);
    CHECK(has("agent.conf", 8, "link: 'exclusive' is not one of: shared, own"));
    CHECK(D.n == 1);
    put("agent.conf", AGENT "[device d1]\ndriver = modbus-tcp\npoints = points/a.csv\n");
    CHECK(load() == -1);
    CHECK(has("agent.conf", 4, "[device d1]: missing required key 'host' ("));
    CHECK(D.n == 1);
    /* an empty host is no host, on either driver */
    put("agent.conf", AGENT "[device d1]\ndriver = modbus-tcp\nhost = \npoints = points/a.csv\n");
    CHECK(load() == -1);
    CHECK(has("agent.conf", 6, "host: empty (a value is required)"));
    CHECK(D.n == 1);
    CHECK(load_rtcp("host = \"\"\nport = 4001\n") == -1);
    CHECK(has("agent.conf", 7, "host: empty (a value is required)"));
    /* modbus-rtu-tcp: host is not required as such (listen will do), so no such message */
    CHECK(load_rtcp("listen = :9000\ndtu = D1\n") == 0);
}

static void test_rtu_tcp_applies(void)
{
    /* the new keys on the drivers they are not for, each naming the right ones */
    CHECK(load_with("echo = off\nframe_gap = 5ms\nlisten = :9000\ndtu = D1\nheartbeat = hex:FE\n"    /* 8-12 */
                    "[device r]\ndriver = modbus-rtu\nserial = /dev/ttyS0\npoints = points/nob.csv\n"  /* 13-16 */
                    "link = own\nlisten = :9000\nhost = h\n"                                         /* 17-19 */
                    "[device t]\ndriver = modbus-rtu-tcp\nhost = h2\nport = 4001\n"                  /* 20-23 */
                    "points = points/noc.csv\nserial = /dev/ttyS1\nlink = shared\n") == -1);         /* 24-26 */
    CHECK(has("agent.conf", 8, "key 'echo' applies to modbus-rtu-tcp devices only (this one is modbus-tcp)"));
    CHECK(has("agent.conf", 9, "key 'frame_gap' applies to modbus-rtu-tcp devices only (this one is modbus-tcp)"));
    CHECK(has("agent.conf", 10, "key 'listen' applies to modbus-rtu-tcp devices only (this one is modbus-tcp)"));
    CHECK(has("agent.conf", 11, "key 'dtu' applies to modbus-rtu-tcp devices only (this one is modbus-tcp)"));
    CHECK(has("agent.conf", 12, "key 'heartbeat' applies to modbus-rtu-tcp devices only"));
    CHECK(has("agent.conf", 16, "points: cannot read"));
    CHECK(has("agent.conf", 17, "key 'link' applies to modbus-tcp devices only (this one is modbus-rtu)"));
    CHECK(has("agent.conf", 18, "key 'listen' applies to modbus-rtu-tcp devices only (this one is modbus-rtu)"));
    CHECK(has("agent.conf", 19, "key 'host' applies to modbus-tcp and modbus-rtu-tcp devices only "
              "(this one is modbus-rtu)"));
    CHECK(has("agent.conf", 24, "points: cannot read"));
    CHECK(has("agent.conf", 25, "key 'serial' applies to modbus-rtu devices only (this one is modbus-rtu-tcp)"));
    CHECK(has("agent.conf", 26, "key 'link' applies to modbus-tcp devices only (this one is modbus-rtu-tcp)"));
    CHECK(D.n == 12);
    /* and the serial line's keys apply to both RTU drivers */
    CHECK(load_rtcp("host = h\nport = 4001\nbaud = 38400\nparity = E\ndata_bits = 7\nstop_bits = 2\n") == 0);
    dump();
}

/* Devices behind one bridge: one serial line, one framing per host:port, one
 * address per DTU. */
static void test_rtu_tcp_buses(void)
{
    put("points/b.csv", "tag,area,address,type\nB-1,holding,0,int16\n");
    put("points/c.csv", "tag,area,address,type\nC-1,holding,0,int16\n");
    put("points/e.csv", "tag,area,address,type\nE-1,holding,0,int16\n");
#define SRV(name, table) "[device " name "]\ndriver = modbus-rtu-tcp\nhost = ts1\nport = 4001\n" \
                         "points = points/" table ".csv\n"
    /* agreeing: fine, whatever else differs (unit, interval, timeout) */
    CHECK(load_with(SRV("s1", "b") "unit_id = 1\nbaud = 19200\nframe_gap = 5ms\n"
                    "[device s2]\ndriver = modbus-rtu-tcp\nhost = TS1\nport = 4001\npoints = points/c.csv\n"
                    "unit_id = 2\nbaud = 19200\nframe_gap = 5ms\ninterval = 5s\n") == 0);
    dump();
    /* what the checks hold agreeing is one bus to the poller: the host in any case */
    if (C) {
        const struct conf_device *s1 = conf_device_find(C, "s1"), *s2 = conf_device_find(C, "s2"),
                                 *d1 = conf_device_find(C, "d1");
        CHECK(s1 && s2 && d1 && conf_same_bus(s1, s2) && conf_same_bus(s2, s1));
        CHECK(s1 && d1 && !conf_same_bus(s1, d1));
    }
    /* the host's case does not matter; the first device on the bus is the reference */
    CHECK(load_with(SRV("s1", "b") "baud = 19200\n"                          /* 8-13 */
                    "[device s2]\ndriver = modbus-rtu-tcp\nhost = TS1\nport = 4001\n"
                    "points = points/c.csv\nbaud = 9600\necho = off\n"       /* 14-20 */
                    SRV("s3", "e") "parity = E\ndata_bits = 7\nstop_bits = 2\nframe_gap = 20ms\n") == -1);
    CHECK(has("agent.conf", 14, "device 's2' shares device server 'TS1:4001' with device 's1' (line 8) but "
              "sets baud = 9600, echo = off against baud = 19200, echo = auto (devices on one bus must agree "
              "on baud, data_bits, parity, stop_bits, frame_gap and echo)"));
    CHECK(has("agent.conf", 21, "device 's3' shares device server 'ts1:4001' with device 's1' (line 8) but "
              "sets baud = 9600, data_bits = 7, parity = E, stop_bits = 2, frame_gap = 20ms against "
              "baud = 19200, data_bits = 8, parity = N, stop_bits = 1, frame_gap = (3.5 characters)"));
    CHECK(D.n == 2);
    /* another port is another server: no check between them */
    CHECK(load_with(SRV("s1", "b") "baud = 19200\n"
                    "[device s2]\ndriver = modbus-rtu-tcp\nhost = ts1\nport = 4002\npoints = points/c.csv\n")
          == 0);

    /* one host:port, two framings: either order */
    CHECK(load_with(SRV("s1", "b")                                                      /* 8-12 */
                    "[device t2]\ndriver = modbus-tcp\nhost = ts1\nport = 4001\npoints = points/c.csv\n" /* 13-17 */
                    "[device t3]\ndriver = modbus-tcp\nhost = h\nport = 502\npoints = points/e.csv\n"    /* 18-22 */
                    "[device s4]\ndriver = modbus-rtu-tcp\nhost = H\nport = 502\n"                       /* 23-26 */
                    "points = points/f.csv\n") == -1);
    CHECK(has("agent.conf", 13, "device 't2' (modbus-tcp) dials 'ts1:4001' as device 's1' (modbus-rtu-tcp, "
              "line 8) does; one connection speaks one framing, so a host:port is either modbus-tcp or "
              "modbus-rtu-tcp"));
    /* d1 is modbus-tcp at h:502 (port 502 by default) */
    CHECK(has("agent.conf", 23, "device 's4' (modbus-rtu-tcp) dials 'H:502' as device 'd1' (modbus-tcp, "
              "line 4) does"));
    CHECK(has("agent.conf", 27, "points: cannot read"));
    CHECK(D.n == 3);
    /* modbus-tcp devices sharing a host:port, shared or own: fine */
    CHECK(load_with("[device t2]\ndriver = modbus-tcp\nhost = h\nlink = own\npoints = points/b.csv\n") == 0);

    /* DTUs: the same one as text and as hex is one bus */
#define DTU(name, table, id) "[device " name "]\ndriver = modbus-rtu-tcp\nlisten = :9000\ndtu = " id "\n" \
                             "points = points/" table ".csv\n"
    CHECK(load_with(DTU("u1", "b", "GZ1") "heartbeat = hex:FE\n"                   /* 8-13 */
                    DTU("u2", "c", "hex:47 5A 31") "heartbeat = hex:fe\n"          /* 14-19 */
                    DTU("u3", "e", "GZ2") "echo = on\n") == 0);                    /* another DTU */
    dump();
    CHECK(load_with(DTU("u1", "b", "GZ1") "heartbeat = hex:FE\n"                   /* 8-13 */
                    DTU("u2", "c", "hex:47 5A 31") "echo = off\n"                  /* 14-19 */
                    "[device u3]\ndriver = modbus-rtu-tcp\nlisten = 127.0.0.1:9000\ndtu = GZ1\n"
                    "points = points/e.csv\nheartbeat = hex:FE\n") == -1);         /* 20-25 */
    CHECK(has("agent.conf", 14, "device 'u2' shares DTU 'hex:47 5A 31' with device 'u1' (line 8) but sets "
              "echo = off, heartbeat = (none) against echo = auto, heartbeat = hex:FE (devices on one bus "
              "must agree on baud, data_bits, parity, stop_bits, frame_gap, echo and heartbeat)"));
    CHECK(has("agent.conf", 20, "device 'u3' names DTU 'GZ1' under listen '127.0.0.1:9000' but device 'u1' "
              "(line 8) names it under listen ':9000'; one DTU dials in to one address"));
    CHECK(D.n == 2);
    /* every address and one address on one port: two listeners cannot both have it */
    CHECK(load_with(DTU("u1", "b", "GZ1")                                          /* 8-12 */
                    "[device u3]\ndriver = modbus-rtu-tcp\nlisten = 127.0.0.1:9000\ndtu = GZ3\n"
                    "points = points/e.csv\n") == -1);                             /* 13-17 */
    CHECK(has("agent.conf", 13, "device 'u3' listens on '127.0.0.1:9000' and device 'u1' (line 8) on "
              "':9000': every address and one address on the same port cannot both be listened on "
              "(write the same listen for every DTU on port 9000)"));
    CHECK(D.n == 1);
    /* two addresses of the gateway's on one port: two listeners, fine */
    CHECK(load_with("[device u1]\ndriver = modbus-rtu-tcp\nlisten = 127.0.0.1:9000\ndtu = GZ1\n"
                    "points = points/b.csv\n"
                    "[device u3]\ndriver = modbus-rtu-tcp\nlisten = 127.0.0.2:9000\ndtu = GZ3\n"
                    "points = points/e.csv\n") == 0);
    /* a device server and a DTU are never one bus, even with the same settings apart */
    CHECK(load_with(SRV("s1", "b") "baud = 19200\n" DTU("u1", "c", "ts1") "baud = 9600\n") == 0);
    /* the RTU serial check is unchanged: a serial port and a bridge are not one bus */
    CHECK(load_with("[device r1]\ndriver = modbus-rtu\nserial = /dev/ttyS0\npoints = points/b.csv\n"
                    "[device r2]\ndriver = modbus-rtu\nserial = /dev/ttyS0\nbaud = 19200\npoints = points/c.csv\n")
          == -1);
    CHECK(has("agent.conf", 12, "device 'r2' shares serial '/dev/ttyS0' with device 'r1' (line 8) but sets "
              "19200 8N1 against 9600 8N1"));
    CHECK(D.n == 1);
#undef SRV
#undef DTU
}

static void test_uplink_files(void)
{
    put("certs/ca.pem", "ca\n");
    put("certs/c.pem", "cert\n");
    mkdir(tpath("certs/dir"), 0755);
    CHECK(load_with("[uplink a]\nurl = mqtts://x:8883\n"                    /* 8-9: no ca_file */
                    "[uplink b]\nurl = mqtt://x\nca_file = certs/none.pem\n" /* 10-12 */
                    "cert_file = certs/c.pem\n"                             /* 13: no key_file */
                    "[uplink c]\nurl = mqtts://x\nca_file = certs/ca.pem\n" /* 14-16 */
                    "key_file = certs/dir\n") == -1);                        /* 17 */
    CHECK(has("agent.conf", 9, "url: 'mqtts://x:8883' needs ca_file"));
    CHECK(has("agent.conf", 12, "ca_file: cannot read '"));
    CHECK(has("agent.conf", 12, "certs/none.pem' (No such file or directory)"));
    CHECK(has("agent.conf", 13, "cert_file without key_file"));
    CHECK(has("agent.conf", 17, "key_file: cannot read '"));
    CHECK(has("agent.conf", 17, "certs/dir' (not a regular file)"));
    CHECK(has("agent.conf", 17, "key_file without cert_file"));
    CHECK(D.n == 5);
    rmdir(tpath("certs/dir"));

    /* the same, right: the paths resolve next to the conf file */
    put("certs/c.key", "key\n");
    CHECK(load_with("[uplink c]\nurl = mqtts://x\nca_file = certs/ca.pem\ncert_file = certs/c.pem\n"
                    "key_file = certs/c.key\n") == 0);
    dump();
    if (C)
        CHECK_STR(C->uplinks[0].key_file, tpath("certs/c.key"));
}

/* commands = on: a key file of its own (mode 600, 16 bytes at least), a broker */
static void test_command_keys(void)
{
    put("cmd.key", "0123456789abcdef-platform\n");
    chmod(tpath("cmd.key"), 0600);
    put("short.key", "short\n");
    chmod(tpath("short.key"), 0600);
    put("open.key", "0123456789abcdef-platform\n");
    chmod(tpath("open.key"), 0644);
    CHECK(load_with("[uplink a]\nurl = mqtt://x\ncommands = on\ncommand_key_file = cmd.key\n"
                    "command_sign = sm3\ncommand_skew = 1m\nresend_max = 1d\n") == 0);
    dump();
    if (C) {
        CHECK_STR(C->uplinks[0].command_sign, "sm3");
        CHECK(C->uplinks[0].command_skew_ms == 60000 && C->uplinks[0].resend_max_ms == 86400000);
        CHECK(C->uplinks[0].command_rate == 20 && C->uplinks[0].clock_tolerance_ms == 10000);
    }
    CHECK(load_with("[uplink a]\nurl = mqtt://x\ncommands = on\n"                 /* 8-10 */
                    "[uplink b]\nurl = mqtt://y\ncommands = on\ncommand_key_file = short.key\n"
                    "[uplink c]\nurl = mqtt://z\ncommands = on\ncommand_key_file = open.key\n"
                    "[uplink d]\nurl = file:///tmp\ncommands = on\ncommand_key_file = cmd.key\n"
                    "[uplink e]\nurl = mqtt://w\ncommands = maybe\n") == -1);     /* 23-25 */
    CHECK(has("agent.conf", 10, "commands = on needs command_key_file"));
    CHECK(has("agent.conf", 14, "command_key_file: a 5-byte key is too short to sign commands with"));
    CHECK(has("agent.conf", 18, "command_key_file: "));
    CHECK(has("agent.conf", 21, "commands = on needs a broker"));
    CHECK(has("agent.conf", 25, "commands: 'maybe' is not one of: off, on"));
    CHECK(D.n == 5);
}

static void test_no_agent_no_device(void)
{
    put("agent.conf", "# nothing but an uplink\n[uplink u]\nurl = mqtt://x\n");
    CHECK(load() == -1);
    CHECK(has("agent.conf", 0, "no [agent] section"));
    CHECK(has("agent.conf", 0, "no [device NAME] section"));
    CHECK(D.n == 2);

    put("agent.conf", "");
    CHECK(load() == -1);
    CHECK(D.n == 2);

    reset();
    CHECK(conf_load(tpath("missing.conf"), &C, &D) == -1);
    CHECK(C == NULL);
    CHECK(has("missing.conf", 0, "cannot read (No such file or directory)"));
    CHECK(D.n == 1);
    reset();
    CHECK(conf_load(tmp, &C, &D) == -1);
    CHECK(D.n == 1 && strstr(D.lines[0], "not a regular file"));
}

static void test_csv_cells(void)
{
    CHECK(load_points(
        "tag,area,address,type,order,scale,deadband,hysteresis,lolo,lo,hi,hihi,delay\n"   /* 1 */
        "T1,holding,0,flaot32,,,,,,,,,\n"              /* 2 */
        "T2,holdng,0,int16,,,,,,,,,\n"                 /* 3 */
        "T3,holding,70000,int16,,,,,,,,,\n"            /* 4 */
        "T4,holding,65533,float64,,,,,,,,,\n"          /* 5 */
        "T5,coil,0,int16,,,,,,,,,\n"                   /* 6 */
        "T6,discrete,0,bit:3,,,,,,,,,\n"               /* 7 */
        "T7,holding,0,int32,ABDC,,,,,,,,\n"            /* 8 */
        "T8,holding,0,int16,,0,,,,,,,\n"               /* 9 */
        "T9,holding,0,int16,,abc,-1,-0.5,,,,,\n"       /* 10 */
        "T10,holding,0,int16,,,,,1,2,9,8,\n"           /* 11 */
        "T11,holding,0,int16,,,,,5,,3,,\n"             /* 12 */
        "T12,holding,0,int16,,,,,,,,,soon\n"           /* 13 */
        ",holding,0,int16,,,,,,,,,\n"                  /* 14 */
        "T14,holding,0,int16\n"                        /* 15 */
        "T15,holding,0,bit:16,,,,,,,,,\n"              /* 16 */
        "T16,holding,0,int16,,,,,,,,,,\n"              /* 17 */
        "T17,holding,-1,bit:1,,,,,,,,,\n"              /* 18 */
        "OK,holding,65535,bit:15,,,,,,,,,5s\n") == -1);  /* 19 */
    const char *f = "points/a.csv";
    CHECK(has(f, 2, "column 'type': 'flaot32' is not a type (bool, int16, uint16, int32, uint32, int64, "
              "uint64, float32, float64, bit:N"));
    CHECK(has(f, 3, "column 'area': 'holdng' is not an area (coil, discrete, input, holding)"));
    CHECK(has(f, 4, "column 'address': '70000' out of range (0..65535)"));
    CHECK(has(f, 5, "column 'address': float64 at 65533 runs past address 65535"));
    CHECK(has(f, 6, "column 'type': 'int16' on a coil point (coil and discrete points are bool)"));
    CHECK(has(f, 7, "column 'type': 'bit:3' on a discrete point"));
    CHECK(has(f, 8, "column 'order': 'ABDC' is not an order (ABCD, CDAB, BADC, DCBA)"));
    CHECK(has(f, 9, "column 'scale': '0' is zero (expected a non-zero number)"));
    CHECK(has(f, 10, "column 'scale': 'abc' is not a number"));
    CHECK(has(f, 10, "column 'deadband': '-1' is negative (expected >= 0)"));
    CHECK(has(f, 10, "column 'hysteresis': '-0.5' is negative"));
    CHECK(has(f, 11, "column 'hihi': 8 is below hi 9 (expected lolo <= lo <= hi <= hihi)"));
    CHECK(has(f, 12, "column 'hi': 3 is below lolo 5"));
    CHECK(has(f, 13, "column 'delay': 'soon' is not a duration"));
    CHECK(has(f, 14, "column 'tag': empty"));
    CHECK(has(f, 15, "row has 4 fields but the header has 13"));
    CHECK(has(f, 16, "column 'type': 'bit:16' is not a type"));
    CHECK(has(f, 17, "row has 14 fields but the header has 13"));
    CHECK(has(f, 18, "column 'address': '-1' out of range (0..65535)"));
    CHECK(D.n == 19);
}

static void test_csv_format(void)
{
    /* BOM, CRLF, comments, blank lines, quoting, a quoted line break, columns in
     * any order, unknown columns as metadata, blanks around bare cells */
    CHECK(load_points(
        "\xEF\xBB\xBF# comment before the header\r\n"                 /* 1 */
        "\r\n"                                                        /* 2 */
        "type, tag ,area,address,name,equip_code,note\r\n"            /* 3 */
        "int16,A-1,holding,0,\"a, \"\"b\"\"\",E1,\r\n"                /* 4 */
        "  # indented comment\r\n"                                    /* 5 */
        "float32, A-2 ,input,2,\"two\nlines\",E2,x\r\n"               /* 6-7 */
        "bool,A-3,coil,1,,\"\",\"\"\r\n"                              /* 8 */
        "uint16,\"#A-4\",holding,3,,,y") == 0);                       /* 9, no final newline */
    dump();
    if (!C)
        return;
    const struct conf_device *d = &C->devices[0];
    CHECK(d->npoints == 4);
    const struct conf_point *p = conf_point_find(d, "A-1");
    CHECK(p && p->line == 4 && !strcmp(conf_point_name(p), "a, \"b\""));
    CHECK(p && p->nmeta == 1 && !strcmp(conf_point_meta(p, "equip_code"), "E1"));
    CHECK(p && conf_point_meta(p, "note") == NULL);
    p = conf_point_find(d, "A-2");
    CHECK(p && p->line == 6 && !strcmp(conf_point_name(p), "two\nlines") && p->addr.area == MB_INPUT);
    CHECK(p && !strcmp(conf_point_meta(p, "note"), "x"));
    p = conf_point_find(d, "A-3");
    CHECK(p && p->line == 8 && p->nmeta == 0 && p->addr.area == MB_COIL);
    p = conf_point_find(d, "#A-4");
    CHECK(p && p->line == 9 && p->addr.address == 3 && !strcmp(conf_point_meta(p, "note"), "y"));

    CHECK(load_points("tag,area,address,type\nA,holding,0,int16\n\"B,holding,1,int16\nC,holding,2,int16\n") == -1);
    CHECK(has("points/a.csv", 3, "quoted field opened at line 3 is never closed"));
    CHECK(load_points("tag,area,address,type\n\"A\"x,holding,0,int16\nB,holding,1,int16\n") == -1);
    CHECK(has("points/a.csv", 2, "text after a closing quote"));
    CHECK(D.n == 1);
}

static void test_csv_header(void)
{
    CHECK(load_points("# no address, no type\ntag,area,name,,area\nA,holding,x,,y\n") == -1);
    CHECK(has("points/a.csv", 2, "missing required column 'address' (a point table needs tag, area, address and type)"));
    CHECK(has("points/a.csv", 2, "missing required column 'type'"));
    CHECK(has("points/a.csv", 2, "column 4 of the header has no name"));
    CHECK(has("points/a.csv", 2, "column 'area' appears twice in the header (columns 2 and 5)"));
    CHECK(D.n == 4);    /* rows of a bad table are not checked one by one */

    CHECK(load_points("# only comments\n\n") == -1);
    CHECK(has("agent.conf", 7, "points: '"));
    CHECK(has("agent.conf", 7, "a.csv' is empty (expected a header row"));

    CHECK(load_points("tag,area,address,type\n# no rows\n") == -1);
    CHECK(has("agent.conf", 7, "a.csv' has no points (a device needs at least one)"));
    CHECK(D.n == 1);
}

static void test_cross_refs(void)
{
    put("points/a.csv", "tag,area,address,type,equip_code,target_code\n"
        "LT-101,holding,0,int16,E1,T1\n"
        "LT-102,holding,1,int16,,T2\n"
        "LT-103,holding,2,int16,E3,T3\n");
    put("points/b.csv", "tag,area,address,type,equip_code\n"
        "PT-1,input,0,int16,E9\n"
        "LT-101,input,1,int16,E9\n"
        "LT-102,input,2,int16,E9\n");
    put("agent.conf", AGENT DEV
        "[device d2]\ndriver = modbus-rtu\nserial = /dev/ttyS1\npoints = points/b.csv\n"  /* 8-11 */
        "[device d3]\ndriver = modbus-rtu\nserial = /dev/ttyS1\nbaud = 19200\n"          /* 12-15 */
        "points = points/c.csv\n"                                                        /* 16 */
        "[uplink county]\nurl = mqtt://x\nprofile = hazchem\n"                           /* 17-19 */
        "[uplink mine]\nurl = mqtt://y\nprofile = tailings\n");                          /* 20-22 */
    put("points/c.csv", "tag,area,address,type,item\nGT-1,input,0,float32,water_level\n");
    CHECK(load() == -1);
    CHECK(has("points/b.csv", 3, "tag 'LT-101' already defined at "));
    CHECK(has("points/b.csv", 3, "points/a.csv:2"));
    CHECK(has("points/b.csv", 4, "tag 'LT-102' already defined at"));
    CHECK(has("agent.conf", 12, "device 'd3' shares serial '/dev/ttyS1' with device 'd2' (line 8) but sets "
              "19200 8N1 against 9600 8N1"));
    CHECK(has("points/a.csv", 3, "column 'equip_code' is empty but uplink 'county' (profile hazchem) needs it"));
    CHECK(has("points/b.csv", 1, "column 'target_code' is missing but uplink 'county' (profile hazchem) needs it"));
    CHECK(has("points/c.csv", 1, "column 'equip_code' is missing but uplink 'county'"));
    CHECK(has("points/c.csv", 1, "column 'target_code' is missing but uplink 'county'"));
    CHECK(has("points/a.csv", 1, "column 'item' is missing but uplink 'mine' (profile tailings) needs it"));
    CHECK(has("points/b.csv", 1, "column 'item' is missing but uplink 'mine'"));
    /* A regulator's profile needs the district code the site has none of here. */
    CHECK(has("agent.conf", 17, "uplink 'county' (profile hazchem) needs district_code"));
    CHECK(has("agent.conf", 20, "uplink 'mine' (profile tailings) needs district_code"));
    /* one error per header, not one per row */
    CHECK(D.n == 11);
}

static void test_many_errors(void)
{
    /* a bad row still takes part in the site-wide checks: its tag is taken */
    put("points/a.csv", "tag,area,address,type\nA-1,holding,0,flaot32\nA-2,coil,0,float32\nA-1,input,5,int16\n");
    put("agent.conf", "[agent]\nenterprise_code = E1\n"                     /* 1-2 */
        "[device d1]\ndriver = modbus-tcp\nhost = h\nport = 0\n"            /* 3-6 */
        "intervall = 1s\npoints = points/a.csv\n"                           /* 7-8 */
        "[uplink u]\nurl = ftp://x\n");                                      /* 9-10 */
    CHECK(load() == -1);
    CHECK(D.n == 7);
    if (D.n == 7) {
        /* every one, in file and line order */
        const char *want[][2] = {
            { "agent.conf:1: ", "missing required key 'gateway_code'" },
            { "agent.conf:6: ", "port: '0' out of range (1..65535)" },
            { "agent.conf:7: ", "did you mean 'interval'?" },
            { "agent.conf:10: ", "must start with mqtt://" },
            { "points/a.csv:2: ", "'flaot32' is not a type" },
            { "points/a.csv:3: ", "'float32' on a coil point" },
            { "points/a.csv:4: ", "tag 'A-1' already defined at " },
        };
        for (size_t i = 0; i < 7; i++) {
            CHECK(strncmp(D.lines[i], tpath(want[i][0]), strlen(tpath(want[i][0]))) == 0);
            CHECK(strstr(D.lines[i], want[i][1]) != NULL);
        }
    }
}

static void test_utf8(void)
{
    put("agent.conf", "[agent]\nenterprise_code = E1\nenterprise_name = \xC3\x28\xFF\ngateway_code = G1\n" DEV);
    put("points/a.csv", "tag,area,address,type,name\nA-1,holding,0,int16,\xED\xA0\x80\n");
    CHECK(load() == -1);
    CHECK(has("agent.conf", 3, "not valid UTF-8"));
    CHECK(has("points/a.csv", 2, "not valid UTF-8"));
    CHECK(D.n == 2);
}

/* The same table in UTF-8 and as Excel saves it on a Chinese Windows (GBK). */
#define PTS_HEAD "tag,area,address,type,name,unit\n"
#define PTS_UTF8 PTS_HEAD "LT-101,holding,0,int16,1\xE5\x8F\xB7\xE5\x82\xA8\xE7\xBD\x90\xE6\xB6\xB2\xE4\xBD\x8D,m\n" \
    "TT-101,holding,1,int16,\xE5\x82\xA8\xE7\xBD\x90\xE6\xB8\xA9\xE5\xBA\xA6,\xE2\x84\x83\n"
#define PTS_GBK PTS_HEAD "LT-101,holding,0,int16,1\xBA\xC5\xB4\xA2\xB9\xDE\xD2\xBA\xCE\xBB,m\n" \
    "TT-101,holding,1,int16,\xB4\xA2\xB9\xDE\xCE\xC2\xB6\xC8,\xA1\xE6\n"

/* Load a.csv = csv with `points_charset = cs` in [agent] (NULL: not written). */
static int load_charset(const char *cs, const char *csv)
{
    char buf[512];
    snprintf(buf, sizeof buf, AGENT "%s%s%s" DEV, cs ? "points_charset = " : "", cs ? cs : "",
             cs ? "\n" : "");
    put("agent.conf", buf);
    put("points/a.csv", csv);
    return load();
}

/* The two points with their names and units in UTF-8, as PTS_UTF8 has them. */
static int names_ok(void)
{
    const struct conf_device *d = C ? conf_device_find(C, "d1") : NULL;
    const struct conf_point *lt = d ? conf_point_find(d, "LT-101") : NULL;
    const struct conf_point *tt = d ? conf_point_find(d, "TT-101") : NULL;
    int ok = d && d->npoints == 2 && lt && tt
             && !strcmp(conf_point_name(lt), "1\xE5\x8F\xB7\xE5\x82\xA8\xE7\xBD\x90\xE6\xB6\xB2\xE4\xBD\x8D")
             && !strcmp(conf_point_unit(lt), "m")
             && !strcmp(conf_point_name(tt), "\xE5\x82\xA8\xE7\xBD\x90\xE6\xB8\xA9\xE5\xBA\xA6")
             && !strcmp(conf_point_unit(tt), "\xE2\x84\x83");
    if (!ok)
        dump();
    return ok;
}

/* A notice "TMP/points/a.csv: notice: ...part..."? */
static int has_note(const char *part)
{
    for (size_t i = 0; i < D.nnotes; i++)
        if (!strncmp(D.notes[i], tpath("points/a.csv"), strlen(tpath("points/a.csv")))
            && strstr(D.notes[i], part))
            return 1;
    return 0;
}

static void test_points_charset(void)
{
    /* auto, the default: UTF-8 as it is, without a word */
    CHECK(load_charset(NULL, PTS_UTF8) == 0);
    CHECK(names_ok());
    CHECK(D.nnotes == 0);
    CHECK(load_charset("auto", "\xEF\xBB\xBF" PTS_UTF8) == 0);     /* a byte order mark */
    CHECK(names_ok());
    CHECK(D.nnotes == 0);
    /* auto: GBK read as GB 18030, the same names, and a notice (not an error) */
    CHECK(load_charset(NULL, PTS_GBK) == 0);
    CHECK(names_ok());
    CHECK(D.n == 0 && D.nnotes == 1 && has_note("read as GB 18030"));
    CHECK(load_charset("auto", PTS_GBK) == 0);
    CHECK(names_ok());
    /* gbk and gb18030: converted, no notice (the configuration said so) */
    CHECK(load_charset("gbk", PTS_GBK) == 0);
    CHECK(names_ok());
    CHECK(D.nnotes == 0);
    CHECK(load_charset("gb18030", PTS_GBK) == 0);
    CHECK(names_ok());
    /* an ASCII table is the same in all three */
    CHECK(load_charset("gbk", POINTS) == 0 && D.nnotes == 0);
    /* utf-8: GBK refused, at each line */
    CHECK(load_charset("utf-8", PTS_GBK) == -1);
    CHECK(has("points/a.csv", 2, "not valid UTF-8"));
    CHECK(has("points/a.csv", 3, "not valid UTF-8"));
    CHECK(D.n == 2);
    CHECK(load_charset("utf-8", PTS_UTF8) == 0);
    CHECK(names_ok());
    /* gbk: bytes that are not GB 18030, at their line; a UTF-8 byte order mark */
    CHECK(load_charset("gbk", PTS_HEAD "LT-101,holding,0,int16,ok,m\nTT-101,holding,1,int16,\x81\x20,m\n")
          == -1);
    CHECK(has("points/a.csv", 3, "not valid GB 18030"));
    CHECK(D.n == 1);
    CHECK(load_charset("gbk", "\xEF\xBB\xBF" PTS_UTF8) == -1);
    CHECK(has("points/a.csv", 1, "UTF-8 byte order mark"));
    /* gbk on a UTF-8 table: read as told, with a notice that it may be wrong */
    CHECK(load_charset("gbk", "tag,area,address,type,name\nLT-101,holding,0,int16,\xE5\x8F\xB7\xE5\x82\xA8\n")
          == 0);
    CHECK(has_note("is valid UTF-8 but read as GB 18030"));
    /* an unknown charset */
    CHECK(load_charset("latin1", POINTS) == -1);
    CHECK(has("agent.conf", 4, "points_charset"));
}

static void test_null_and_helpers(void)
{
    conf_free(NULL);
    conf_diag_free(NULL);
    CHECK(conf_device_find(NULL, "x") == NULL);
    CHECK(conf_point_find(NULL, "x") == NULL);
    CHECK(conf_point_meta(NULL, "x") == NULL);
    /* no diag wanted: errors are dropped, the result still says so */
    struct conf *c = (struct conf *)1;
    CHECK(conf_load(tpath("missing.conf"), &c, NULL) == -1 && c == NULL);
}

static void test_schema_print(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    conf_schema_print(f);
    fclose(f);
    const char *want[] = {
        "[agent]", "[device NAME]", "[uplink NAME]",
        "enterprise_code", "gateway_code", "data_dir", "wire_timezone", "store_max", "retention",
        "status_interval", "commit_interval", "queue_max", "log_level", "error, warn, info or debug",
        "driver", "modbus-tcp, modbus-rtu", "host", "port", "serial", "baud", "parity", "data_bits",
        "stop_bits", "unit_id", "interval", "10ms..1d", "timeout", "backoff_max", "max_registers",
        "max_bits", "max_gap", "0..124", "points", "url", "profile", "generic, hazchem", "client_id",
        "ca_file", "cert_file", "key_file", "username", "password", "qos", "topic_prefix",
        "backfill_rate", "message_readings", "max_inflight", "keepalive", "reconnect_max",
        "live_window", ">= 1MB", "2GB", "90d", "duration", "size", "timezone", "url list", "(required)",
        /* the ways over TCP */
        "modbus-tcp, modbus-rtu, modbus-rtu-tcp", "listen", "dtu", "heartbeat", "frame_gap", "echo",
        "link", "auto, on, off", "shared, own", "0..10s", "3.5 characters at baud", "bytes", "address",
        "dtu_register_timeout", "100ms..5m", "dtu_pending_max", "1..1024", "(required on modbus-tcp)",
        "default 502 on modbus-tcp",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) {
            printf("    schema text lacks '%s'\n", want[i]);
            CHECK(strstr(text, want[i]));
        }
    /* one line per key: interval with type, default, range, meaning */
    const char *line = strstr(text, "  interval ");
    CHECK(line && strstr(line, "duration") && strstr(line, "1s") && strstr(line, "10ms..1d")
          && strstr(line, "poll period") && strstr(line, "poll period") < strchr(line, '\n'));
    /* a driver's key says which drivers, on its line */
    line = strstr(text, "  baud ");
    CHECK(line && strstr(line, "modbus-rtu and modbus-rtu-tcp: bits per second")
          && strstr(line, "modbus-rtu and modbus-rtu-tcp: ") < strchr(line, '\n'));
    line = strstr(text, "  echo ");
    CHECK(line && strstr(line, "modbus-rtu-tcp: whether the link echoes")
          && strstr(line, "modbus-rtu-tcp: ") < strchr(line, '\n'));
    line = strstr(text, "  link ");
    CHECK(line && strstr(line, "modbus-tcp: devices on one host:port") && strstr(line, "modbus-tcp: ") < strchr(line, '\n'));
    /* a key longer than the column still leaves a blank before its type */
    CHECK(strstr(text, "  dtu_register_timeout duration "));
    free(text);

    /* the same as troff for ganzhi.conf(5) */
    text = NULL;
    f = open_memstream(&text, &len);
    conf_schema_print_man(f);
    fclose(f);
    const char *man[] = {
        ".TP\n\\fBlisten\\fR (\\fIaddress\\fR)\nmodbus\\-rtu\\-tcp: [ADDR]:PORT",
        ".TP\n\\fBdtu\\fR (\\fIbytes\\fR)\n",
        "Required on modbus\\-tcp.\n",
        "Default: \\fB3.5 characters at baud\\fR; range: 0..10s.\n",
        "Default: \\fBauto\\fR; one of: auto, on, off.\n",
        "Default: \\fBshared\\fR; one of: shared, own.\n",
        "modbus\\-tcp, modbus\\-rtu, modbus\\-rtu\\-tcp",
        "\\fBdtu_pending_max\\fR",
    };
    for (size_t i = 0; i < sizeof man / sizeof man[0]; i++)
        if (!strstr(text, man[i])) {
            printf("    man text lacks '%s'\n", man[i]);
            CHECK(strstr(text, man[i]));
        }
    free(text);
}

static void cleanup(void)
{
    reset();
    for (size_t i = nwritten; i-- > 0; )
        unlink(tpath(written[i]));
    rmdir(tpath("points"));
    rmdir(tpath("certs"));
    rmdir(tmp);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/unit_conf.XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_good_site);
    RUN(test_defaults);
    RUN(test_parse_duration);
    RUN(test_parse_size);
    RUN(test_parse_numbers);
    RUN(test_ini_syntax);
    RUN(test_unknown_keys);
    RUN(test_missing_required);
    RUN(test_bad_values);
    RUN(test_driver_keys);
    RUN(test_bridges_site);
    RUN(test_listen_forms);
    RUN(test_rtu_tcp_keys);
    RUN(test_rtu_tcp_errors);
    RUN(test_rtu_tcp_applies);
    RUN(test_rtu_tcp_buses);
    RUN(test_uplink_files);
    RUN(test_command_keys);
    RUN(test_no_agent_no_device);
    RUN(test_csv_cells);
    RUN(test_csv_format);
    RUN(test_csv_header);
    RUN(test_cross_refs);
    RUN(test_many_errors);
    RUN(test_utf8);
    RUN(test_points_charset);
    RUN(test_null_and_helpers);
    RUN(test_schema_print);
    cleanup();
    return UNIT_END();
}
