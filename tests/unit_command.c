/* unit_command: the command channel's payloads. The worked example of the README,
 * byte for byte with its signatures (HMAC-SHA256 and HMAC-SM3, computed apart with
 * `openssl dgst -hmac` and Python's hmac); every refusal and its reason; the time
 * forms; replies built and verified. */
#include "tests/unit.h"
#include "proto/command.h"
#include <stdlib.h>

#define NOW   1795996800000LL       /* 2026-11-30T08:00:00+08:00 */
#define SKEW  300000LL              /* command_skew's default, 5 min */
#define RMAX  (7 * 86400000LL)      /* resend_max's default, 7 days */
#define HOUR  3600000LL

static const char KEYTEXT[] = "ganzhi-command-key-demo-0001";
static const struct command_key K256 = { MAC_HMAC_SHA256, (const unsigned char *)KEYTEXT,
                                         sizeof KEYTEXT - 1 };
static const struct command_key KSM3 = { MAC_HMAC_SM3, (const unsigned char *)KEYTEXT,
                                         sizeof KEYTEXT - 1 };
static const struct command_key KOTHER = { MAC_HMAC_SHA256, (const unsigned char *)"another-key-0123",
                                           16 };

/* The README's worked example. */
static const char EXAMPLE_OBJ[] =
    "{\"id\":\"plat-20261130-0001\",\"cmd\":\"resend\",\"ts\":\"2026-11-30T08:00:00+08:00\","
    "\"args\":{\"from\":\"2026-11-30T06:00:00+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\","
    "\"tags\":[\"LT-101\",\"PT-201\"]}}";
static const char EXAMPLE_SHA256[] = "8e69ee587eb91ffa35dffb3242c26f1d23d2ea0bb666f15c2366b76588fefdd1";
static const char EXAMPLE_SM3[] = "24851ca7aeba5059bfae7d8054c449a75980e5600fa6afdb1740fa41ebc4a234";

static struct command cmd;
static char reason[300];

/* payload as it is, parsed with key. */
static enum command_verdict parse_with(const char *payload, size_t n, const struct command_key *k)
{
    command_free(&cmd);
    return command_parse(payload, n, k, NOW, SKEW, RMAX, &cmd, reason, sizeof reason);
}

static enum command_verdict parse_raw(const char *payload)
{
    return parse_with(payload, strlen(payload), &K256);
}

/* obj signed with K256 and parsed. */
static enum command_verdict parse_obj(const char *obj)
{
    size_t n = 0;
    char *p = command_build(&K256, obj, &n);
    enum command_verdict v = p ? parse_with(p, n, &K256) : COMMAND_NO_MEMORY;
    free(p);
    return v;
}

/* A command named c with args a (NULL: none) and ts t, signed and parsed. */
static enum command_verdict parse_cmd_ts(const char *c, const char *a, const char *t)
{
    char obj[4096];
    snprintf(obj, sizeof obj, "{\"id\":\"t-1\",\"cmd\":\"%s\",\"ts\":\"%s\"%s%s}", c, t,
             a ? ",\"args\":" : "", a ? a : "");
    return parse_obj(obj);
}

static enum command_verdict parse_cmd(const char *c, const char *a)
{
    return parse_cmd_ts(c, a, "2026-11-30T08:00:00+08:00");
}

#define HAS(s) (strstr(reason, (s)) != NULL)

static void test_worked_example(void)
{
    size_t n = 0;
    char *p = command_build(&K256, EXAMPLE_OBJ, &n);
    char want[512];
    snprintf(want, sizeof want, "{\"command\":%s,\"sign\":\"%s\"}", EXAMPLE_OBJ, EXAMPLE_SHA256);
    CHECK_STR(p, want);
    CHECK(n == strlen(want));
    CHECK(n == 11 + 179 + 75);
    CHECK(parse_with(p, n, &K256) == COMMAND_OK);
    CHECK_STR(reason, "");
    CHECK_STR(cmd.id, "plat-20261130-0001");
    CHECK_STR(cmd.cmd, "resend");
    CHECK(cmd.kind == COMMAND_RESEND);
    CHECK(cmd.ts_ms == NOW);
    CHECK(cmd.window == COMMAND_WINDOW_TIME);
    CHECK(cmd.from_ms == NOW - 2 * HOUR);
    CHECK(cmd.to_ms == NOW - HOUR);
    CHECK(cmd.select == COMMAND_SELECT_TAGS);
    CHECK(cmd.nnames == 2);
    CHECK(cmd.nnames == 2 && !strcmp(cmd.names[0], "LT-101") && !strcmp(cmd.names[1], "PT-201"));
    free(p);
    /* HMAC-SM3 of the same bytes */
    p = command_build(&KSM3, EXAMPLE_OBJ, &n);
    snprintf(want, sizeof want, "{\"command\":%s,\"sign\":\"%s\"}", EXAMPLE_OBJ, EXAMPLE_SM3);
    CHECK_STR(p, want);
    CHECK(parse_with(p, n, &KSM3) == COMMAND_OK);
    CHECK(cmd.kind == COMMAND_RESEND && cmd.nnames == 2);
    /* signed with SM3, checked as SHA-256: the wrong algorithm */
    CHECK(parse_with(p, n, &K256) == COMMAND_BAD_SIGNATURE);
    CHECK(HAS("HMAC-SHA256"));
    free(p);
    /* the signature in upper case is the same signature */
    snprintf(want, sizeof want, "{\"command\":%s,\"sign\":\"%s\"}", EXAMPLE_OBJ, EXAMPLE_SHA256);
    for (char *h = strstr(want, EXAMPLE_SHA256); *h != '"'; h++)
        if (*h >= 'a' && *h <= 'f')
            *h = (char)(*h - 32);
    CHECK(parse_raw(want) == COMMAND_OK);
}

/* A signed measure command of exactly `len` bytes, in buf. */
static size_t sized_command(char *buf, size_t cap, size_t len)
{
    /* {"command":OBJ,"sign":"<64>"} is OBJ + 86 bytes; OBJ is head + tags + tail. */
    const char *head = "{\"id\":\"big\",\"cmd\":\"measure\",\"ts\":\"2026-11-30T08:00:00+08:00\","
                       "\"args\":{\"tags\":[";
    char obj[8192];
    size_t want = len - 86, o = (size_t)snprintf(obj, sizeof obj, "%s", head);
    int first = 1;
    while (o + 3 + 4 < want) {      /* "...", and the closing ]}} */
        size_t room = want - o - 3 - (first ? 2 : 3);
        size_t k = room > 200 ? 200 : room;
        if (room > 200 && room - 200 < 5)
            k = room - 5;       /* leave room for a last tag of a character or more */
        o += (size_t)snprintf(obj + o, sizeof obj - o, "%s\"", first ? "" : ",");
        memset(obj + o, 'A', k);
        o += k;
        obj[o++] = '"';
        first = 0;
    }
    o += (size_t)snprintf(obj + o, sizeof obj - o, "]}}");
    size_t n = 0;
    char *p = command_build(&K256, obj, &n);
    snprintf(buf, cap, "%s", p ? p : "");
    free(p);
    return n;
}

static void test_too_big(void)
{
    static char buf[8192];
    size_t n = sized_command(buf, sizeof buf, 4096);
    CHECK(n == 4096);
    CHECK(parse_with(buf, n, &K256) == COMMAND_OK);
    CHECK(cmd.kind == COMMAND_MEASURE && cmd.nnames > 10);
    n = sized_command(buf, sizeof buf, 4097);
    CHECK(n == 4097);
    CHECK(parse_with(buf, n, &K256) == COMMAND_TOO_BIG);
    CHECK_STR(reason, "too big: 4097 bytes (4096 at most)");
    CHECK_STR(cmd.id, "");      /* not even looked at */
    /* a megabyte is refused before anything reads it */
    char *huge = malloc(1 << 20);
    if (huge) {
        memset(huge, '{', 1 << 20);
        CHECK(parse_with(huge, 1 << 20, &K256) == COMMAND_TOO_BIG);
        free(huge);
    }
}

static void test_envelope_form(void)
{
    size_t n;
    char *good = command_build(&K256, EXAMPLE_OBJ, &n);
    char bad[1024];
    const char *sig = EXAMPLE_SHA256;
    /* not the envelope */
    CHECK(parse_raw(EXAMPLE_OBJ) == COMMAND_MALFORMED);
    CHECK(HAS("must start with {\"command\":"));
    CHECK_STR(cmd.id, "");
    CHECK(parse_raw("") == COMMAND_MALFORMED);
    CHECK(parse_with(NULL, 0, &K256) == COMMAND_MALFORMED);
    snprintf(bad, sizeof bad, "{\"cmd\":%s,\"sign\":\"%s\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    snprintf(bad, sizeof bad, "{\"command\":%s}", EXAMPLE_OBJ);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    CHECK(HAS("must end with ,\"sign\":\"<64 hex digits>\"}"));
    /* ...but its id is read for the refusal */
    CHECK_STR(cmd.id, "plat-20261130-0001");
    snprintf(bad, sizeof bad, "{\"command\":%s,\"sign\":\"%s\",\"x\":1}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    snprintf(bad, sizeof bad, "{\"sign\":\"%s\",\"command\":%s}", sig, EXAMPLE_OBJ);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    /* whitespace outside the object, wherever it is */
    snprintf(bad, sizeof bad, "%s\n", good);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    CHECK_STR(reason, "whitespace outside the command object");
    snprintf(bad, sizeof bad, " %s", good);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    CHECK_STR(reason, "whitespace outside the command object");
    snprintf(bad, sizeof bad, "{\"command\": %s,\"sign\":\"%s\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    CHECK_STR(reason, "whitespace outside the command object");
    snprintf(bad, sizeof bad, "{\"command\":%s ,\"sign\":\"%s\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    CHECK_STR(reason, "whitespace outside the command object");
    snprintf(bad, sizeof bad, "{ \"command\":%s,\"sign\":\"%s\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    snprintf(bad, sizeof bad, "{\"command\":%s,\"sign\": \"%s\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    /* the signature: 64 hex digits */
    snprintf(bad, sizeof bad, "{\"command\":%s,\"sign\":\"%.63s\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    snprintf(bad, sizeof bad, "{\"command\":%s,\"sign\":\"%.63sg\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    CHECK_STR(reason, "the signature is not 64 hex digits");
    snprintf(bad, sizeof bad, "{\"command\":%s,\"sign\":\"%s0\"}", EXAMPLE_OBJ, sig);
    CHECK(parse_raw(bad) == COMMAND_MALFORMED);
    /* the object is an object */
    CHECK(parse_obj("[1,2]") == COMMAND_MALFORMED);
    CHECK_STR(reason, "the command is not a JSON object");
    CHECK(parse_obj("\"x\"") == COMMAND_MALFORMED);
    free(good);
}

static void test_signature(void)
{
    size_t n;
    char *p = command_build(&KOTHER, EXAMPLE_OBJ, &n);
    CHECK(parse_with(p, n, &K256) == COMMAND_BAD_SIGNATURE);
    CHECK_STR(reason, "bad signature: not the HMAC-SHA256 of the command object with this "
                      "uplink's command key");
    /* the id is echoed; nothing else is taken from it */
    CHECK_STR(cmd.id, "plat-20261130-0001");
    CHECK(cmd.kind == COMMAND_NONE && cmd.window == COMMAND_WINDOW_NONE && cmd.ts_ms == 0 &&
          cmd.nnames == 0 && cmd.names == NULL && cmd.from_ms == 0);
    free(p);
    /* one byte changed after signing: LT-101 -> LT-102 */
    p = command_build(&K256, EXAMPLE_OBJ, &n);
    char *t = strstr(p, "LT-101");
    CHECK(t != NULL);
    if (t)
        t[5] = '2';
    CHECK(parse_with(p, n, &K256) == COMMAND_BAD_SIGNATURE);
    free(p);
    /* the signature covers the object, not the envelope: one more byte is not it */
    char bad[512];
    snprintf(bad, sizeof bad, "{\"command\":%s,\"sign\":\"%s\"}", EXAMPLE_OBJ, EXAMPLE_SM3);
    CHECK(parse_raw(bad) == COMMAND_BAD_SIGNATURE);
    /* no key: nothing verifies */
    p = command_build(&K256, EXAMPLE_OBJ, &n);
    CHECK(parse_with(p, n, NULL) == COMMAND_BAD_SIGNATURE);
    /* ...though validate without a key may look at the rest */
    command_free(&cmd);
    CHECK(command_inspect(bad, strlen(bad), NOW, SKEW, RMAX, &cmd, reason, sizeof reason) ==
          COMMAND_OK);
    CHECK(cmd.kind == COMMAND_RESEND);
    free(p);
    /* a bad signature on an object that is not even JSON: nothing read */
    snprintf(bad, sizeof bad, "{\"command\":{\"id\":\"x\",,},\"sign\":\"%s\"}", EXAMPLE_SHA256);
    CHECK(parse_raw(bad) == COMMAND_BAD_SIGNATURE);
    CHECK_STR(cmd.id, "");
}

static void test_time_forms(void)
{
    int64_t ms = 0;
    static const struct { const char *s; int64_t want; } good[] = {
        { "2026-11-30T08:00:00+08:00", NOW },
        { "2026-11-30T00:00:00Z", NOW },
        { "2026-11-30t00:00:00z", NOW },
        { "2026-11-29T19:00:00-05:00", NOW },
        { "2026-11-30T00:00:00.5Z", NOW + 500 },
        { "2026-11-30T08:00:00.250+08:00", NOW + 250 },
        { "2026-11-30T00:00:00.123456789Z", NOW + 123 },
        { "20261130080000+0800", NOW },
        { "20261130080000+08:00", NOW },
        { "20261130000000Z", NOW },
        { "20261129190000-0500", NOW },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ms = -1;
        int rc = command_time_parse(good[i].s, strlen(good[i].s), &ms);
        if (rc != 0 || ms != good[i].want)
            printf("  time %s: rc %d, %lld\n", good[i].s, rc, (long long)ms);
        CHECK(rc == 0 && ms == good[i].want);
    }
    static const char *const bad[] = {
        "2026-11-30T08:00:00",          /* no zone */
        "2026-11-30 08:00:00+08:00",    /* a space */
        "2026-11-30T08:00:00+0800",     /* RFC 3339 has the colon */
        "2026-11-30T08:00:00.Z",
        "2026-11-30T08:00:00.1234567890Z",
        "2026-11-30T08:00:00+24:00",
        "2026-11-30T08:00:00+08:60",
        "2026-02-30T08:00:00Z",
        "2026-11-30T24:00:00Z",
        "20261130080000",
        "20261130080000z",
        "20261130080000+8",
        "2026113008000+0800",
        "1795996800000",
        "",
        "now",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = command_time_parse(bad[i], strlen(bad[i]), &ms);
        if (rc == 0)
            printf("  time %s: accepted\n", bad[i]);
        CHECK(rc == -1);
    }
    /* in a command */
    CHECK(parse_cmd_ts("status", NULL, "20261130080000+0800") == COMMAND_OK);
    CHECK(cmd.ts_ms == NOW);
    CHECK(parse_cmd_ts("status", NULL, "2026-11-30 08:00:00") == COMMAND_MALFORMED);
    CHECK_STR(reason, "ts '2026-11-30 08:00:00' is not a time (RFC 3339 with a zone, or "
                      "yyyyMMddHHmmss and a zone)");
    CHECK_STR(cmd.id, "t-1");
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":\"status\",\"ts\":1795996800000}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "ts is not a string");
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":\"status\"}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "no ts");
}

static void test_skew(void)
{
    /* exactly command_skew either way: accepted */
    CHECK(parse_cmd_ts("clock", NULL, "2026-11-30T07:55:00+08:00") == COMMAND_OK);
    CHECK(parse_cmd_ts("clock", NULL, "2026-11-30T08:05:00+08:00") == COMMAND_OK);
    /* a second more: refused, and said which way */
    CHECK(parse_cmd_ts("clock", NULL, "2026-11-30T07:54:59+08:00") == COMMAND_EXPIRED);
    CHECK_STR(reason, "ts is 5.0 min behind the gateway's clock, more than command_skew (5 min)");
    CHECK_STR(cmd.id, "t-1");
    /* signed, so kind and ts are there for the refusal (how far off the clocks are) */
    CHECK(cmd.kind == COMMAND_CLOCK && cmd.ts_ms == NOW - SKEW - 1000);
    CHECK(parse_cmd_ts("clock", NULL, "2026-11-30T08:05:01+08:00") == COMMAND_EXPIRED);
    CHECK(HAS("ahead of the gateway's clock"));
    CHECK(parse_cmd_ts("resend", "{\"seq_from\":1,\"seq_to\":2}", "2026-11-29T08:00:00+08:00") ==
          COMMAND_EXPIRED);
    CHECK_STR(reason, "ts is 24.0 h behind the gateway's clock, more than command_skew (5 min)");
    CHECK(cmd.window == COMMAND_WINDOW_NONE);      /* args not read */
    /* expiry before args: an old command with bad args is expired */
    CHECK(parse_cmd_ts("resend", "{\"x\":1}", "2026-11-30T07:00:00+08:00") == COMMAND_EXPIRED);
}

static void test_id(void)
{
    char obj[512], id65[66];
    memset(id65, 'i', 65);
    id65[65] = 0;
    CHECK(parse_obj("{\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "no id");
    CHECK(parse_obj("{\"id\":\"\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "id is empty");
    CHECK(parse_obj("{\"id\":42,\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "id is not a string");
    snprintf(obj, sizeof obj, "{\"id\":\"%s\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}",
             id65);
    CHECK(parse_obj(obj) == COMMAND_MALFORMED);
    CHECK_STR(reason, "id is longer than 64 characters");
    CHECK_STR(cmd.id, "");
    snprintf(obj, sizeof obj, "{\"id\":\"%.64s\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}",
             id65);
    CHECK(parse_obj(obj) == COMMAND_OK);
    CHECK(strlen(cmd.id) == 64);
    CHECK(parse_obj("{\"id\":\"a\\u0001b\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "id has a character that is not printable ASCII");
    CHECK(parse_obj("{\"id\":\"\xe5\x8f\xb7\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "id has a character that is not printable ASCII");
    /* a raw control character in a string is not JSON */
    CHECK(parse_obj("{\"id\":\"a\tb\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK(HAS("control character (0x09)"));
    /* \u0000 would cut the id short of what was signed */
    CHECK(parse_obj("{\"id\":\"a\\u0000b\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "\\u0000 in a string of the command");
    /* printable ASCII with escapes is fine, and comes back unescaped */
    CHECK(parse_obj("{\"id\":\"a \\\"b\\\" c\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_OK);
    CHECK_STR(cmd.id, "a \"b\" c");
}

static void test_fields(void)
{
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"id\":\"t-2\"}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "duplicate field 'id'");
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"reboot\":true}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "unknown field 'reboot' (id, cmd, ts, args)");
    CHECK_STR(cmd.id, "t-1");
    CHECK(parse_obj("{\"id\":\"t-1\",\"ts\":\"2026-11-30T08:00:00+08:00\"}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "no cmd");
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":7,\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "cmd is not a string");
    CHECK(parse_cmd("status", "[]") == COMMAND_MALFORMED);
    CHECK_STR(reason, "args is not an object");
    CHECK(parse_cmd("measure", "{\"tags\":[\"a\"],\"tags\":[\"b\"]}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "duplicate field 'tags' in args");
    /* not JSON, not UTF-8 */
    CHECK(parse_obj("{\"id\":\"t-1\",}") == COMMAND_MALFORMED);
    CHECK(HAS("is not valid JSON"));
    CHECK(parse_obj("{\"id\":\"t-1\"}{}") == COMMAND_MALFORMED);
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"args\":{\"x\":\"\xff\"}}") == COMMAND_MALFORMED);
    CHECK(HAS("not UTF-8"));
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"args\":{\"x\":\"\xc0\xaf\"}}") == COMMAND_MALFORMED);      /* overlong */
    CHECK(HAS("not UTF-8"));
    CHECK(parse_obj("{\"id\":\"t-1\",\"cmd\":\"status\",\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"args\":{\"x\":\"\xed\xa0\x80\"}}") == COMMAND_MALFORMED);  /* surrogate */
    /* deep nesting is refused, not recursed into without end */
    char deep[4000];
    size_t o = (size_t)snprintf(deep, sizeof deep, "{\"id\":\"t-1\",\"cmd\":\"status\","
                                "\"ts\":\"2026-11-30T08:00:00+08:00\",\"args\":{\"x\":");
    for (int i = 0; i < 1500; i++)
        deep[o++] = '[';
    for (int i = 0; i < 1500; i++)
        deep[o++] = ']';
    deep[o++] = '}';
    deep[o++] = '}';
    deep[o] = 0;
    CHECK(parse_obj(deep) == COMMAND_MALFORMED);
    CHECK(HAS("is not valid JSON"));
    /* whitespace inside the object is the platform's business (it is signed) */
    CHECK(parse_obj("{ \"id\" : \"t-1\",\n\t\"cmd\":\"status\", \"ts\":\"2026-11-30T08:00:00+08:00\" }") ==
          COMMAND_OK);
}

static void test_unknown_cmd(void)
{
    CHECK(parse_cmd("reboot", NULL) == COMMAND_UNKNOWN_CMD);
    CHECK_STR(reason, "unknown cmd 'reboot' (resend, measure, clock, status, points)");
    CHECK_STR(cmd.id, "t-1");
    CHECK_STR(cmd.cmd, "reboot");   /* for the reply's "cmd" */
    CHECK(cmd.kind == COMMAND_NONE);
    CHECK(parse_cmd("RESEND", "{\"seq_from\":1,\"seq_to\":2}") == COMMAND_UNKNOWN_CMD);
    CHECK(parse_cmd("write_holding_register", NULL) == COMMAND_UNKNOWN_CMD);
    CHECK_STR(cmd.cmd, "");         /* too long to echo */
}

static void test_plain_commands(void)
{
    CHECK(parse_cmd("clock", NULL) == COMMAND_OK);
    CHECK(cmd.kind == COMMAND_CLOCK);
    CHECK(parse_cmd("status", "{}") == COMMAND_OK);
    CHECK(cmd.kind == COMMAND_STATUS);
    CHECK(parse_cmd("points", NULL) == COMMAND_OK);
    CHECK(cmd.kind == COMMAND_POINTS);
    CHECK(parse_cmd("clock", "{\"set\":\"2026-11-30T08:00:00+08:00\"}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "clock takes no args ('set'?)");
    CHECK(cmd.kind == COMMAND_CLOCK);
}

static void test_resend_time(void)
{
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T06:00:00+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\"}") ==
          COMMAND_OK);
    CHECK(cmd.window == COMMAND_WINDOW_TIME && cmd.select == COMMAND_SELECT_ALL && cmd.nnames == 0);
    CHECK(parse_cmd("resend", "{\"from\":\"20261130060000+0800\",\"to\":\"2026-11-30T07:00:00Z\","
                              "\"devices\":[\"tank_plc\"]}") == COMMAND_OK);
    CHECK(cmd.select == COMMAND_SELECT_DEVICES && cmd.nnames == 1);
    CHECK(cmd.nnames == 1 && !strcmp(cmd.names[0], "tank_plc"));
    CHECK(cmd.to_ms == NOW + 7 * HOUR);    /* to in the future is fine: nothing is there yet */
    /* to before from */
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T07:00:00+08:00\",\"to\":\"2026-11-30T06:00:00+08:00\"}") ==
          COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: to is before from");
    CHECK_STR(cmd.id, "t-1");
    CHECK(cmd.window == COMMAND_WINDOW_NONE);   /* a refused window is not handed on */
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T07:00:00.001+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\"}") ==
          COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: to is before from");
    /* from == to: one instant */
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T07:00:00+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\"}") ==
          COMMAND_OK);
    /* in the future: from past now + skew */
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T08:05:00+08:00\",\"to\":\"2026-11-30T09:00:00+08:00\"}") ==
          COMMAND_OK);
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T08:05:01+08:00\",\"to\":\"2026-11-30T09:00:00+08:00\"}") ==
          COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: the window is in the future (from is 5.0 min ahead of the "
                      "gateway's clock)");
    /* longer than resend_max: 7 days is the most */
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-23T08:00:00+08:00\",\"to\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_OK);
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-23T07:59:59+08:00\",\"to\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: the window is 7.0 days long, longer than resend_max (7 days)");
    /* halves and mixtures */
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T07:00:00+08:00\"}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: from without to");
    CHECK(parse_cmd("resend", "{\"to\":\"2026-11-30T07:00:00+08:00\"}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: to without from");
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T06:00:00+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\","
                              "\"seq_from\":1,\"seq_to\":2}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: from and to, or seq_from and seq_to: one window, not both");
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T06:00:00+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\","
                              "\"tags\":[\"a\"],\"devices\":[\"b\"]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: tags or devices, not both");
    CHECK(parse_cmd("resend", "{\"from\":\"yesterday\",\"to\":\"2026-11-30T07:00:00+08:00\"}") ==
          COMMAND_BAD_ARGS);
    CHECK(HAS("resend: from 'yesterday' is not a time"));
    CHECK(parse_cmd("resend", "{\"from\":1795989600000,\"to\":\"2026-11-30T07:00:00+08:00\"}") ==
          COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: from is not a string");
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T06:00:00+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\","
                              "\"points\":[\"a\"]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: unknown field 'points' in args (from, to, tags, devices; or "
                      "seq_from, seq_to)");
    CHECK(parse_cmd("resend", NULL) == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend needs a window: from and to, or seq_from and seq_to");
    CHECK(parse_cmd("resend", "{}") == COMMAND_BAD_ARGS);
    CHECK(parse_cmd("resend", "{\"from\":\"2026-11-30T06:00:00+08:00\",\"to\":\"2026-11-30T07:00:00+08:00\","
                              "\"tags\":[]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: tags is empty");
}

static void test_resend_seq(void)
{
    CHECK(parse_cmd("resend", "{\"seq_from\":1207,\"seq_to\":1300}") == COMMAND_OK);
    CHECK(cmd.window == COMMAND_WINDOW_SEQ && cmd.seq_from == 1207 && cmd.seq_to == 1300);
    CHECK(parse_cmd("resend", "{\"seq_from\":0,\"seq_to\":0}") == COMMAND_OK);
    CHECK(parse_cmd("resend", "{\"seq_from\":5,\"seq_to\":10000005}") == COMMAND_OK);
    CHECK(cmd.seq_to - cmd.seq_from == 10000000);
    CHECK(parse_cmd("resend", "{\"seq_from\":5,\"seq_to\":10000006}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: seq_from and seq_to are more than 10000000 apart");
    CHECK(parse_cmd("resend", "{\"seq_from\":9007199254740000,\"seq_to\":9007199254740992}") ==
          COMMAND_OK);
    CHECK(cmd.seq_to == 9007199254740992ULL);
    CHECK(parse_cmd("resend", "{\"seq_from\":1300,\"seq_to\":1207}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: seq_to is before seq_from");
    CHECK(parse_cmd("resend", "{\"seq_from\":-1,\"seq_to\":5}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: seq_from is not a non-negative integer (up to 2^53)");
    CHECK(parse_cmd("resend", "{\"seq_from\":1.5,\"seq_to\":5}") == COMMAND_BAD_ARGS);
    CHECK(parse_cmd("resend", "{\"seq_from\":1,\"seq_to\":\"5\"}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: seq_to is not a non-negative integer (up to 2^53)");
    CHECK(parse_cmd("resend", "{\"seq_from\":1,\"seq_to\":1e300}") == COMMAND_BAD_ARGS);
    CHECK(parse_cmd("resend", "{\"seq_from\":1}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: seq_from without seq_to");
    CHECK(parse_cmd("resend", "{\"seq_from\":1,\"seq_to\":2,\"tags\":[\"a\"]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "resend: tags go with from and to, not with seq_from and seq_to");
}

static void test_measure(void)
{
    CHECK(parse_cmd("measure", "{\"tags\":[\"LT-101\",\"1\xe5\x8f\xb7\xe5\x82\xa8\xe7\xbd\x90\"]}") ==
          COMMAND_OK);
    CHECK(cmd.kind == COMMAND_MEASURE && cmd.select == COMMAND_SELECT_TAGS && cmd.nnames == 2);
    CHECK(cmd.nnames == 2 && !strcmp(cmd.names[1], "1\xe5\x8f\xb7\xe5\x82\xa8\xe7\xbd\x90"));
    CHECK(parse_cmd("measure", "{\"devices\":[\"tank_plc\",\"gas_1\"]}") == COMMAND_OK);
    CHECK(cmd.select == COMMAND_SELECT_DEVICES && cmd.nnames == 2);
    CHECK(parse_cmd("measure", NULL) == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure needs tags or devices");
    CHECK(parse_cmd("measure", "{\"tags\":[\"a\"],\"devices\":[\"b\"]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: tags or devices, not both");
    CHECK(cmd.nnames == 0 && cmd.names == NULL);
    CHECK(parse_cmd("measure", "{\"tags\":[]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: tags is empty");
    CHECK(parse_cmd("measure", "{\"tags\":\"LT-101\"}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: tags is not an array of strings");
    CHECK(parse_cmd("measure", "{\"tags\":[\"a\",7]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: tags[1] is not a string");
    CHECK(parse_cmd("measure", "{\"tags\":[\"a\",\"\"]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: tags[1] is empty");
    CHECK(parse_cmd("measure", "{\"devices\":[\"a\\u0007\"]}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: devices[0] has a control character");
    CHECK(parse_cmd("measure", "{\"tags\":[\"a\"],\"all\":true}") == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: unknown field 'all' in args (tags or devices)");
    char args[600], name[300];
    memset(name, 'n', 256);
    name[256] = 0;
    snprintf(args, sizeof args, "{\"tags\":[\"%s\"]}", name);
    CHECK(parse_cmd("measure", args) == COMMAND_BAD_ARGS);
    CHECK_STR(reason, "measure: tags[0] is longer than 255 bytes");
    name[255] = 0;
    snprintf(args, sizeof args, "{\"tags\":[\"%s\"]}", name);
    CHECK(parse_cmd("measure", args) == COMMAND_OK);
    /* as many entries as fit in 4096 bytes: fine (the 1000-entry bound is never reached
     * within 4096 bytes: it is there in case the size bound grows) */
    char big[4096];
    size_t o = (size_t)snprintf(big, sizeof big, "{\"tags\":[");
    for (int i = 0; i < 800; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s\"t\"", i ? "," : "");
    snprintf(big + o, sizeof big - o, "]}");
    CHECK(parse_cmd("measure", big) == COMMAND_OK);
    CHECK(cmd.nnames == 800);
}

static const char REPLY_OBJ[] =
    "{\"id\":\"plat-20261130-0001\",\"cmd\":\"resend\",\"ok\":true,"
    "\"ts\":\"2026-11-30T08:00:01.250+08:00\",\"gateway\":\"GW01\",\"readings\":7200,"
    "\"missing\":[{\"from\":\"2026-11-30T06:10:00.000+08:00\",\"to\":\"2026-11-30T06:25:00.000+08:00\"}]}";
static const char REPLY_SHA256[] = "b7f2f791989264f6b420529a788a4d862016e0be7478ed99621a50be9154d570";
static const char REPLY_SM3[] = "84995b14180be0ad30f0ae5b9a87e651028c363b57b2b926910568b581d63eb9";

static void test_reply(void)
{
    cJSON *result = cJSON_Parse("{\"readings\":7200,\"missing\":[{\"from\":\"2026-11-30T06:10:00.000+08:00\","
                                "\"to\":\"2026-11-30T06:25:00.000+08:00\"}],\"ok\":false,\"id\":\"forged\"}");
    size_t n = 0;
    char *r = command_reply(&K256, "plat-20261130-0001", "resend", 1, "ignored", result,
                            NOW + 1250, 480, "GW01", &n);
    char want[1024];
    snprintf(want, sizeof want, "{\"reply\":%s,\"sign\":\"%s\"}", REPLY_OBJ, REPLY_SHA256);
    CHECK_STR(r, want);
    CHECK(r && n == strlen(r));
    cJSON *o = NULL;
    CHECK(command_verify_reply(r, n, &K256, &o, reason, sizeof reason) == COMMAND_OK);
    CHECK_STR(reason, "");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
    CHECK_NUM(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "readings")), 7200);
    cJSON_Delete(o);
    /* the result is not consumed */
    CHECK(cJSON_GetObjectItem(result, "readings") != NULL);
    free(r);
    r = command_reply(&KSM3, "plat-20261130-0001", "resend", 1, NULL, result, NOW + 1250, 480,
                      "GW01", &n);
    snprintf(want, sizeof want, "{\"reply\":%s,\"sign\":\"%s\"}", REPLY_OBJ, REPLY_SM3);
    CHECK_STR(r, want);
    CHECK(command_verify_reply(r, n, &KSM3, NULL, reason, sizeof reason) == COMMAND_OK);
    CHECK(command_verify_reply(r, n, &K256, NULL, reason, sizeof reason) == COMMAND_BAD_SIGNATURE);
    free(r);
    cJSON_Delete(result);

    /* a refusal; the id could not be read */
    r = command_reply(&K256, NULL, NULL, 0, "whitespace outside the command object", NULL, NOW,
                      0, "GW01", &n);
    const char *head = "{\"reply\":{\"id\":null,\"cmd\":null,\"ok\":false,"
                       "\"ts\":\"2026-11-30T00:00:00.000+00:00\",\"gateway\":\"GW01\","
                       "\"error\":\"whitespace outside the command object\"},\"sign\":\"";
    CHECK(r && !strncmp(r, head, strlen(head)));
    CHECK(n == strlen(head) + 66);
    CHECK(command_verify_reply(r, n, &K256, NULL, reason, sizeof reason) == COMMAND_OK);
    /* tampered: still shown, not trusted */
    char *t = r ? strstr(r, "false") : NULL;
    if (t)
        memcpy(t, "fals ", 5);
    o = NULL;
    CHECK(command_verify_reply(r, n, &K256, &o, reason, sizeof reason) == COMMAND_BAD_SIGNATURE);
    CHECK(o == NULL);       /* "fals " is not JSON */
    free(r);
    r = command_reply(&KOTHER, "x-1", "clock", 1, NULL, NULL, NOW, 480, "GW01", &n);
    CHECK(command_verify_reply(r, n, &K256, &o, reason, sizeof reason) == COMMAND_BAD_SIGNATURE);
    CHECK_STR(reason, "bad signature: not the HMAC-SHA256 of the reply object with this uplink's "
                      "command key");
    CHECK(o != NULL && cJSON_IsString(cJSON_GetObjectItem(o, "id")));
    cJSON_Delete(o);
    /* without a key: the form alone */
    CHECK(command_verify_reply(r, n, NULL, NULL, reason, sizeof reason) == COMMAND_OK);
    free(r);
}

static enum command_verdict reply_obj(const char *obj)
{
    size_t n = strlen(obj) + 100;
    char *p = malloc(n);
    char hex[MAC_HEX_LEN + 1];
    if (!p || mac_hex(K256.alg, K256.key, K256.len, obj, strlen(obj), hex))
        return COMMAND_NO_MEMORY;
    snprintf(p, n, "{\"reply\":%s,\"sign\":\"%s\"}", obj, hex);
    enum command_verdict v = command_verify_reply(p, strlen(p), &K256, NULL, reason, sizeof reason);
    free(p);
    return v;
}

static void test_reply_refused(void)
{
    CHECK(reply_obj("{\"id\":\"a\",\"cmd\":\"clock\",\"ok\":true,\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"gateway\":\"G\"}") == COMMAND_OK);
    CHECK(reply_obj("{\"id\":\"a\",\"cmd\":\"clock\",\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"gateway\":\"G\"}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "no ok");
    CHECK(reply_obj("{\"id\":\"a\",\"cmd\":\"clock\",\"ok\":false,\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"gateway\":\"G\"}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "ok is false and no error says why");
    CHECK(reply_obj("{\"id\":\"a\",\"cmd\":\"clock\",\"ok\":true,\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"gateway\":\"G\",\"error\":\"x\"}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "an error with ok true");
    CHECK(reply_obj("{\"id\":\"a\",\"cmd\":\"clock\",\"ok\":true,\"ts\":\"08:00\","
                    "\"gateway\":\"G\"}") == COMMAND_MALFORMED);
    CHECK(HAS("ts '08:00' is not a time"));
    CHECK(reply_obj("{\"cmd\":\"clock\",\"ok\":true,\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"gateway\":\"G\"}") == COMMAND_MALFORMED);
    CHECK(reply_obj("{\"id\":\"a\",\"cmd\":\"clock\",\"ok\":true,\"ts\":\"2026-11-30T08:00:00+08:00\"}") ==
          COMMAND_MALFORMED);
    CHECK_STR(reason, "no gateway");
    CHECK(reply_obj("{\"id\":\"a\",\"cmd\":\"clock\",\"ok\":1,\"ts\":\"2026-11-30T08:00:00+08:00\","
                    "\"gateway\":\"G\"}") == COMMAND_MALFORMED);
    CHECK_STR(reason, "ok is not true or false");
    /* a command is not a reply */
    size_t n;
    char *p = command_build(&K256, EXAMPLE_OBJ, &n);
    CHECK(command_verify_reply(p, n, &K256, NULL, reason, sizeof reason) == COMMAND_MALFORMED);
    CHECK_STR(reason, "not a reply: the payload must start with {\"reply\":");
    free(p);
}

int main(void)
{
    RUN(test_worked_example);
    RUN(test_too_big);
    RUN(test_envelope_form);
    RUN(test_signature);
    RUN(test_time_forms);
    RUN(test_skew);
    RUN(test_id);
    RUN(test_fields);
    RUN(test_unknown_cmd);
    RUN(test_plain_commands);
    RUN(test_resend_time);
    RUN(test_resend_seq);
    RUN(test_measure);
    RUN(test_reply);
    RUN(test_reply_refused);
    command_free(&cmd);
    return UNIT_END();
}
