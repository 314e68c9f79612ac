/* unit_core: the bottom layer: broker and host:port addresses, strict numbers, byte strings. */
#include "tests/unit.h"
#include "core/bytes.h"
#include "core/num.h"
#include "core/url.h"

static void test_url_mqtt(void)
{
    struct url u;
    char err[300], paho[300];
    CHECK(url_parse("mqtt://broker", &u, err, sizeof err) == 0);
    CHECK(u.scheme == URL_MQTT && u.port == 1883);
    CHECK_STR(u.host, "broker");
    CHECK(url_paho(&u, paho, sizeof paho) == 0);
    CHECK_STR(paho, "tcp://broker:1883");
    CHECK(url_parse("mqtts://county.example:18883", &u, err, sizeof err) == 0);
    CHECK(u.scheme == URL_MQTTS && u.port == 18883);
    CHECK(url_paho(&u, paho, sizeof paho) == 0);
    CHECK_STR(paho, "ssl://county.example:18883");
    CHECK(url_parse("mqtts://[2001:db8::1]", &u, err, sizeof err) == 0);
    CHECK_STR(u.host, "2001:db8::1");
    CHECK(u.port == 8883);
    CHECK(url_paho(&u, paho, sizeof paho) == 0);
    CHECK_STR(paho, "ssl://[2001:db8::1]:8883");
    CHECK(url_parse("mqtt://[::1]:1884", &u, err, sizeof err) == 0 && u.port == 1884);
}

static void test_url_refused(void)
{
    struct url u;
    char err[300];
    CHECK(url_parse("http://x", &u, err, sizeof err) == -1);
    CHECK_STR(err, "'http://x' must start with mqtt://, mqtts:// or file:///");
    CHECK(url_parse("mqtt://:1883", &u, err, sizeof err) == -1);
    CHECK(strstr(err, "has no host") != NULL);
    CHECK(url_parse("mqtt://a:99999", &u, err, sizeof err) == -1);
    CHECK_STR(err, "'mqtt://a:99999' has a bad port (expected 1..65535)");
    CHECK(url_parse("mqtt://a:", &u, err, sizeof err) == -1);
    CHECK(url_parse("mqtt://a/path", &u, err, sizeof err) == -1);
    CHECK(strstr(err, "has a path") != NULL);
    CHECK(url_parse("mqtts://[::1", &u, err, sizeof err) == -1);
    CHECK(strstr(err, "unclosed") != NULL);
    CHECK(url_parse("mqtt://2001:db8::1", &u, err, sizeof err) == -1);
    CHECK(strstr(err, "brackets") != NULL);
    CHECK(url_parse("mqtt://[]:1883", &u, err, sizeof err) == -1);
    CHECK(url_parse("file://relative", &u, err, sizeof err) == -1);
}

static void test_url_file(void)
{
    struct url u;
    char err[300], paho[64];
    CHECK(url_parse("file:///var/spool/coal", &u, err, sizeof err) == 0);
    CHECK(u.scheme == URL_FILE && u.port == 0 && !u.host[0]);
    CHECK_STR(u.path, "/var/spool/coal");
    CHECK(url_paho(&u, paho, sizeof paho) == -1);
}

static void test_hostport(void)
{
    char host[64], err[200];
    int port = 502;
    CHECK(url_parse_hostport("127.0.0.1:5020", host, sizeof host, &port, err, sizeof err) == 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK(port == 5020);
    port = 502;
    CHECK(url_parse_hostport("plc.local", host, sizeof host, &port, err, sizeof err) == 0);
    CHECK_STR(host, "plc.local");
    CHECK(port == 502);
    CHECK(url_parse_hostport("[::1]:1502", host, sizeof host, &port, err, sizeof err) == 0);
    CHECK_STR(host, "::1");
    CHECK(port == 1502);
    port = 502;
    CHECK(url_parse_hostport("fe80::1", host, sizeof host, &port, err, sizeof err) == 0);
    CHECK_STR(host, "fe80::1");
    CHECK(port == 502);
    CHECK(url_parse_hostport("h:0", host, sizeof host, &port, err, sizeof err) == -1);
    CHECK(strstr(err, "bad port") != NULL);
    CHECK(url_parse_hostport(":502", host, sizeof host, &port, err, sizeof err) == -1);
    CHECK(url_parse_hostport("[::1]x", host, sizeof host, &port, err, sizeof err) == -1);
    CHECK(url_parse_hostport("averyveryverylonghostname", host, 8, &port, err, sizeof err) == -1);
}

static void test_numbers(void)
{
    long v;
    double d;
    char err[128];
    CHECK(num_parse_long("42", 0, 100, &v, err, sizeof err) == 0 && v == 42);
    CHECK(num_parse_long("-5", -10, 10, &v, err, sizeof err) == 0 && v == -5);
    CHECK(num_parse_long(" 4", 0, 100, &v, err, sizeof err) == -1);
    CHECK(num_parse_long("+4", 0, 100, &v, err, sizeof err) == -1);
    CHECK(num_parse_long("4x", 0, 100, &v, err, sizeof err) == -1);
    CHECK_STR(err, "'4x' is not an integer");
    CHECK(num_parse_long("70000", 1, 65535, &v, err, sizeof err) == -1);
    CHECK_STR(err, "'70000' out of range (1..65535)");
    CHECK(num_parse_long("99999999999999999999", 0, 10, &v, err, sizeof err) == -1);
    CHECK(num_parse_long("", 0, 10, &v, err, sizeof err) == -1);
    CHECK(num_parse_double("0.001", &d, err, sizeof err) == 0 && d == 0.001);
    CHECK(num_parse_double("-1e3", &d, err, sizeof err) == 0 && d == -1000);
    CHECK(num_parse_double("inf", &d, err, sizeof err) == -1);
    CHECK(num_parse_double("0x10", &d, err, sizeof err) == -1);
    CHECK(num_parse_double("1e999", &d, err, sizeof err) == -1);
    CHECK_STR(err, "'1e999' is too large");
}

static void test_bytes(void)
{
    uint8_t b[8];
    size_t n = 0;
    char err[128], buf[64];
    CHECK(bytes_parse("GZ01", b, sizeof b, &n, err, sizeof err) == 0 && n == 4 && b[0] == 'G');
    CHECK(bytes_parse("hex:FE 01-a0:7f", b, sizeof b, &n, err, sizeof err) == 0 && n == 4);
    CHECK(b[0] == 0xFE && b[1] == 0x01 && b[2] == 0xA0 && b[3] == 0x7F);
    CHECK_STR(bytes_format(b, n, buf, sizeof buf), "hex:FE01A07F");
    CHECK_STR(bytes_format((const uint8_t *)"GZ01", 4, buf, sizeof buf), "GZ01");
    CHECK(bytes_parse("hex:F", b, sizeof b, &n, err, sizeof err) == -1);
    CHECK(bytes_parse("hex:F 0", b, sizeof b, &n, err, sizeof err) == -1);
    CHECK(bytes_parse("hex:zz", b, sizeof b, &n, err, sizeof err) == -1);
    CHECK(bytes_parse("hex:", b, sizeof b, &n, err, sizeof err) == -1);
    CHECK(bytes_parse("", b, sizeof b, &n, err, sizeof err) == -1);
    CHECK(bytes_parse("123456789", b, sizeof b, &n, err, sizeof err) == -1);
    CHECK(bytes_find((const uint8_t *)"abcabd", 6, (const uint8_t *)"abd", 3) == 3);
    CHECK(bytes_find((const uint8_t *)"ab", 2, (const uint8_t *)"abd", 3) == -1);
}

int main(void)
{
    RUN(test_bytes);
    RUN(test_url_mqtt);
    RUN(test_url_refused);
    RUN(test_url_file);
    RUN(test_hostport);
    RUN(test_numbers);
    return UNIT_END();
}
