/*
 * conf_schema: every key of agent.conf as one table row per section (key, type,
 * default, range or choices, offset into the struct, meaning). The tables drive
 * parsing, defaults, the unknown-key hint, required-key checks, freeing and
 * `ganzhi check --keys`; a key added here is parsed, checked and documented.
 * Also the value parsers (numbers, durations, sizes) the CLI shares.
 */
#include "agent/conf_impl.h"
#include "core/bytes.h"
#include "core/num.h"
#include "core/url.h"
#include "proto/profile.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum ktype {
    K_STRING,   /* char *, verbatim */
    K_PATH,     /* char *, resolved against the conf file's directory */
    K_FILE,     /* K_PATH that must name a readable regular file now */
    K_INT,      /* int in lo..hi */
    K_UINT,     /* unsigned in lo..hi */
    K_DOUBLE,   /* double >= lo (and <= hi unless NOMAX) */
    K_DURATION, /* int64_t milliseconds in lo..hi */
    K_SIZE,     /* int64_t bytes in lo..hi */
    K_ENUM,     /* char *, one of choices */
    K_CHAR,     /* char, first letter of one of choices */
    K_INDEX,    /* int (an enum), index into choices */
    K_PROFILE,  /* char *, a name profile_find knows */
    K_TZ,       /* int minutes at off, normalised char * at off2 */
    K_URLS,     /* char ** at off, size_t count at off2 */
    K_BYTES,    /* char * as written at off, uint8_t[BYTES_MAX] at off2, size_t length at off3 */
    K_LISTEN,   /* "[ADDR]:PORT": char * as written at off, char * address at off2
                 * ("" for every address), int port at off3 */
};

#define F_REQ     0x01u         /* must be given (a driver's key: on that driver) */
#define F_TCP     CONF_APPLIES_TCP      /* on modbus-tcp devices */
#define F_RTU     CONF_APPLIES_RTU      /* on modbus-rtu devices */
#define F_RTUTCP  CONF_APPLIES_RTU_TCP  /* on modbus-rtu-tcp devices */
#define F_DERIVED 0x08u         /* default computed by conf.c; def only describes it */
#define F_DRIVERS (F_TCP | F_RTU | F_RTUTCP)    /* none of them: a key of every device */

#define NOMAX INT64_MAX
#define SEC   1000LL
#define MINUTE (60 * SEC)
#define HOUR  (60 * MINUTE)
#define DAY   (24 * HOUR)
#define KIB   1024LL
#define MIB   (1024 * KIB)
#define GIB   (1024 * MIB)

struct conf_key {
    const char *key;
    enum ktype type;
    const char *def;        /* as it would be written in the file; NULL: none */
    int64_t lo, hi;         /* numbers, durations (ms), sizes (bytes) */
    const char *choices;    /* enums: "a|b|c" */
    size_t off, off2, off3;
    unsigned flags;
    unsigned req_on;        /* F_TCP...: required on these drivers only (with F_REQ: on all) */
    const char *desc;
};

#define A(f) offsetof(struct conf_agent, f)
static const struct conf_key agent_keys[] = {
    { .key = "enterprise_code", .type = K_STRING, .off = A(enterprise_code), .flags = F_REQ,
      .desc = "enterprise code (企业编码) issued by the regulator" },
    { .key = "enterprise_name", .type = K_STRING, .def = "", .off = A(enterprise_name),
      .desc = "enterprise name (企业名称)" },
    { .key = "gateway_code", .type = K_STRING, .off = A(gateway_code), .flags = F_REQ,
      .desc = "gateway code (网关编码), unique within the enterprise" },
    { .key = "district_code", .type = K_STRING, .def = "", .off = A(district_code),
      .desc = "administrative division code (行政区划代码)" },
    { .key = "data_dir", .type = K_PATH, .def = "/var/lib/ganzhi", .off = A(data_dir),
      .desc = "directory of the store" },
    { .key = "wire_timezone", .type = K_TZ, .def = "+08:00", .off = A(wire_tz_minutes),
      .off2 = A(wire_timezone), .desc = "time zone of timestamps on the wire (+HH:MM, -HH:MM or Z)" },
    { .key = "store_max", .type = K_SIZE, .def = "2GB", .lo = MIB, .hi = NOMAX, .off = A(store_max_bytes),
      .desc = "disk budget for the store" },
    { .key = "retention", .type = K_DURATION, .def = "90d", .lo = SEC, .hi = NOMAX, .off = A(retention_ms),
      .desc = "keep history at least this long (within store_max)" },
    { .key = "status_interval", .type = K_DURATION, .def = "60s", .lo = SEC, .hi = DAY,
      .off = A(status_interval_ms), .desc = "period of status messages" },
    { .key = "commit_interval", .type = K_DURATION, .def = "200ms", .lo = 10, .hi = 10 * SEC,
      .off = A(commit_interval_ms), .desc = "how long the store gathers readings per transaction" },
    { .key = "queue_max", .type = K_UINT, .def = "100000", .lo = 100, .hi = 10000000, .off = A(queue_max),
      .desc = "readings held in memory between the pollers and the store" },
    { .key = "log_level", .type = K_STRING, .def = "info", .off = A(log_level),
      .desc = "least severe level written: error, warn, info or debug, then per component, "
              "e.g. info, uplink=debug, device=warn" },
    { .key = "points_charset", .type = K_ENUM, .def = "auto", .choices = "auto|utf-8|gbk|gb18030",
      .off = A(points_charset),
      .desc = "charset of the point tables: auto reads a table as UTF-8 when it is valid UTF-8 "
              "(a byte order mark allowed), else as GB 18030, a superset of GBK (as Excel on a "
              "Chinese Windows saves CSV), and `ganzhi check` says so; utf-8 refuses any other; "
              "gbk and gb18030 read every table as GB 18030" },
    { .key = "dtu_register_timeout", .type = K_DURATION, .def = "10s", .lo = 100, .hi = 5 * MINUTE,
      .off = A(dtu_register_timeout_ms),
      .desc = "how long a DTU dialling in (a modbus-rtu-tcp device's listen) may take to send its "
              "registration packet before the connection is closed" },
    { .key = "dtu_pending_max", .type = K_UINT, .def = "16", .lo = 1, .hi = 1024, .off = A(dtu_pending_max),
      .desc = "connections dialled in and awaiting their registration packet at once; beyond it "
              "new ones are refused" },
};
#undef A

#define D(f) offsetof(struct conf_device, f)
static const struct conf_key device_keys[] = {
    { .key = "driver", .type = K_INDEX, .choices = "modbus-tcp|modbus-rtu|modbus-rtu-tcp", .off = D(driver),
      .flags = F_REQ, .desc = "how the device is reached: modbus-tcp (Modbus TCP), modbus-rtu (a serial "
                              "port), modbus-rtu-tcp (RTU framing over TCP: a serial device server "
                              "dialled out to with host, or DTUs dialling in to listen)" },
    { .key = "host", .type = K_STRING, .off = D(host), .flags = F_TCP | F_RTUTCP, .req_on = F_TCP,
      .desc = "host name or IP address dialled out to: the device or gateway (modbus-tcp), the "
              "serial device server (modbus-rtu-tcp, which takes host or listen)" },
    { .key = "port", .type = K_INT, .def = "502 on modbus-tcp", .lo = 1, .hi = 65535, .off = D(port),
      .flags = F_TCP | F_RTUTCP | F_DERIVED,
      .desc = "TCP port of host; modbus-rtu-tcp with host needs it (serial device servers have no "
              "standard port: the one set in the server, e.g. 4001)" },
    { .key = "listen", .type = K_LISTEN, .off = D(listen), .off2 = D(listen_host), .off3 = D(listen_port),
      .flags = F_RTUTCP,
      .desc = "[ADDR]:PORT the agent listens at for DTUs dialling in (instead of host), e.g. :9000 "
              "(every address), 0.0.0.0:9000, [::]:9000; needs dtu" },
    { .key = "dtu", .type = K_BYTES, .off = D(dtu), .off2 = D(dtu_id), .off3 = D(dtu_id_len),
      .flags = F_RTUTCP,
      .desc = "the DTU the device is behind (with listen), by the registration packet the DTU "
              "sends on connecting: text (GZ-DTU-0001) or hex: and hex digits (hex:47 5A 00 01)" },
    { .key = "heartbeat", .type = K_BYTES, .off = D(heartbeat), .off2 = D(heartbeat_bytes),
      .off3 = D(heartbeat_len), .flags = F_RTUTCP,
      .desc = "the DTU's heartbeat packet (with listen), text or hex:..., taken out of the "
              "stream; none when not given" },
    { .key = "serial", .type = K_STRING, .off = D(serial), .flags = F_REQ | F_RTU,
      .desc = "serial port; devices naming one port share one bus" },
    { .key = "baud", .type = K_INT, .def = "9600", .lo = 300, .hi = 4000000, .off = D(baud),
      .flags = F_RTU | F_RTUTCP,
      .desc = "bits per second (on modbus-rtu-tcp: of the serial line behind the bridge, for timing)" },
    { .key = "parity", .type = K_CHAR, .def = "N", .choices = "N|E|O", .off = D(parity),
      .flags = F_RTU | F_RTUTCP, .desc = "none, even or odd" },
    { .key = "data_bits", .type = K_INT, .def = "8", .lo = 7, .hi = 8, .off = D(data_bits),
      .flags = F_RTU | F_RTUTCP, .desc = "data bits per character" },
    { .key = "stop_bits", .type = K_INT, .def = "1", .lo = 1, .hi = 2, .off = D(stop_bits),
      .flags = F_RTU | F_RTUTCP, .desc = "stop bits per character" },
    { .key = "frame_gap", .type = K_DURATION, .def = "3.5 characters at baud", .lo = 0, .hi = 10 * SEC,
      .off = D(frame_gap_ms), .flags = F_RTUTCP | F_DERIVED,
      .desc = "pause before each request, the silence that ends a frame on the serial line behind "
              "the bridge" },
    { .key = "echo", .type = K_INDEX, .def = "auto", .choices = "auto|on|off", .off = D(echo),
      .flags = F_RTUTCP,
      .desc = "whether the link echoes our own requests back (a half-duplex adapter): auto "
              "recognises an echo and skips it, on expects one, off expects none" },
    { .key = "link", .type = K_INDEX, .def = "shared", .choices = "shared|own", .off = D(link),
      .flags = F_TCP,
      .desc = "devices on one host:port share one connection and one schedule (shared: a gateway "
              "to a serial bus, most PLCs), or this one has a connection of its own (own: a PLC "
              "that serves concurrent connections well)" },
    { .key = "unit_id", .type = K_INT, .def = "1", .lo = 0, .hi = 255, .off = D(unit_id),
      .desc = "Modbus unit (slave) id; 1..247 on modbus-rtu and modbus-rtu-tcp" },
    { .key = "interval", .type = K_DURATION, .def = "1s", .lo = 10, .hi = DAY, .off = D(interval_ms),
      .desc = "poll period" },
    { .key = "timeout", .type = K_DURATION, .def = "500ms", .lo = 10, .hi = 60 * SEC, .off = D(timeout_ms),
      .desc = "response timeout" },
    { .key = "backoff_max", .type = K_DURATION, .def = "30s", .lo = 100, .hi = HOUR,
      .off = D(backoff_max_ms), .desc = "longest wait between retries of a device that does not answer" },
    { .key = "max_registers", .type = K_UINT, .def = "125", .lo = 1, .hi = 125, .off = D(max_registers),
      .desc = "registers per read request" },
    { .key = "max_bits", .type = K_UINT, .def = "2000", .lo = 1, .hi = 2000, .off = D(max_bits),
      .desc = "coils or discrete inputs per read request" },
    { .key = "max_gap", .type = K_UINT, .def = "0", .lo = 0, .hi = 124, .off = D(max_gap),
      .desc = "unused registers a merged read may span" },
    { .key = "points", .type = K_FILE, .off = D(points_file), .flags = F_REQ,
      .desc = "point table (CSV)" },
};
#undef D

#define U(f) offsetof(struct conf_uplink, f)
static const struct conf_key uplink_keys[] = {
    { .key = "url", .type = K_URLS, .off = U(urls), .off2 = U(nurls), .flags = F_REQ,
      .desc = "mqtt://host[:port] or mqtts://..., a comma-separated list fails over in order" },
    { .key = "profile", .type = K_PROFILE, .def = "generic", .off = U(profile),
      .desc = "message format of the platform" },
    { .key = "client_id", .type = K_STRING, .def = "<enterprise_code>-<gateway_code>-<uplink name>",
      .off = U(client_id), .flags = F_DERIVED, .desc = "MQTT client id" },
    { .key = "ca_file", .type = K_FILE, .off = U(ca_file),
      .desc = "CA certificates that verify the server (required by mqtts://)" },
    { .key = "cert_file", .type = K_FILE, .off = U(cert_file),
      .desc = "client certificate (with key_file)" },
    { .key = "key_file", .type = K_FILE, .off = U(key_file),
      .desc = "client private key (with cert_file)" },
    { .key = "username", .type = K_STRING, .off = U(username), .desc = "MQTT user name" },
    { .key = "password", .type = K_STRING, .off = U(password), .desc = "MQTT password" },
    { .key = "qos", .type = K_INT, .def = "1", .lo = 0, .hi = 1, .off = U(qos),
      .desc = "MQTT QoS of published messages" },
    { .key = "topic_prefix", .type = K_STRING, .def = "ganzhi/<enterprise_code>", .off = U(topic_prefix),
      .flags = F_DERIVED, .desc = "topics are PREFIX/realtime, /alarm, /status, /points" },
    { .key = "backfill_rate", .type = K_DOUBLE, .def = "0", .lo = 0, .hi = NOMAX, .off = U(backfill_rate),
      .desc = "messages per second while re-uploading a backlog, 0: unlimited" },
    { .key = "backfill_delay", .type = K_DURATION, .def = "250ms", .lo = 0, .hi = MINUTE,
      .off = U(backfill_delay_ms),
      .desc = "the queueing delay a backlog may add on a slow link: its window follows the "
              "delay its acknowledgements show, so live readings wait about this much behind "
              "it; 0: the backlog takes the whole window" },
    { .key = "message_readings", .type = K_UINT, .def = "100", .lo = 1, .hi = 10000,
      .off = U(message_readings), .desc = "readings per realtime message" },
    { .key = "max_inflight", .type = K_UINT, .def = "32", .lo = 1, .hi = 1000, .off = U(max_inflight),
      .desc = "messages awaiting PUBACK at once" },
    { .key = "max_inflight_bytes", .type = K_SIZE, .def = "1MB", .lo = 4096, .hi = 1024 * MIB,
      .off = U(max_inflight_bytes),
      .desc = "bytes of messages awaiting PUBACK, at most (at least one message): with "
              "max_inflight, what paho holds in memory" },
    { .key = "send_queue", .type = K_UINT, .def = "32", .lo = 1, .hi = 1000, .off = U(send_queue),
      .desc = "messages made ahead while paho's window is full (memory: this many messages)" },
    { .key = "send_queue_bytes", .type = K_SIZE, .def = "512KB", .lo = 4096, .hi = 1024 * MIB,
      .off = U(send_queue_bytes),
      .desc = "bytes of messages made ahead, at most (at least one message): large messages "
              "queue fewer" },
    { .key = "keepalive", .type = K_DURATION, .def = "30s", .lo = SEC, .hi = HOUR, .off = U(keepalive_ms),
      .desc = "MQTT keepalive" },
    { .key = "connect_timeout", .type = K_DURATION, .def = "10s", .lo = SEC, .hi = 5 * MINUTE,
      .off = U(connect_timeout_ms),
      .desc = "longest wait for a connection, TLS handshake and CONNACK included" },
    { .key = "ack_timeout", .type = K_DURATION, .def = "60s", .lo = SEC, .hi = HOUR,
      .off = U(ack_timeout_ms),
      .desc = "messages in flight and no PUBACK for this long: the broker is taken for stuck, "
              "the connection is dropped and made again (what was in flight is sent again)" },
    { .key = "reconnect_max", .type = K_DURATION, .def = "5s", .lo = 100, .hi = 10 * MINUTE,
      .off = U(reconnect_max_ms), .desc = "longest wait between reconnection attempts" },
    { .key = "live_window", .type = K_DURATION, .def = "30s", .lo = SEC, .hi = DAY,
      .off = U(live_window_ms), .desc = "readings older than this are sent as resend (补传)" },
    { .key = "app_id", .type = K_STRING, .off = U(app_id),
      .desc = "the platform's app id (appId of the envelope and of some profiles)" },
    { .key = "envelope", .type = K_ENUM, .def = "none",
      .choices = "none|A256GCM|A128CBC|SM4-CBC|SM4-GCM", .off = U(envelope),
      .desc = "payload encryption in a JSON envelope (see proto/envelope.h): AES-256-GCM, "
              "AES-128-CBC, or the national SM4 (GB/T 32907) in CBC or GCM mode; "
              "override.envelope.encoding = base64|hex|HEX writes its iv, data and tag" },
    { .key = "envelope_key_file", .type = K_FILE, .off = U(envelope_key_file),
      .desc = "the encryption key as hex (64 digits for A256GCM; 32 for A128CBC, SM4-CBC, "
              "SM4-GCM); mode 600" },
    { .key = "sign_key_file", .type = K_FILE, .off = U(sign_key_file),
      .desc = "the HMAC key (text) signing the envelope with sign_alg; mode 600" },
    { .key = "sign_over", .type = K_ENUM, .def = "wire", .choices = "wire|body", .off = U(sign_over),
      .desc = "what the signature covers: the envelope's fields, or the body bytes" },
    { .key = "sign_alg", .type = K_ENUM, .def = "HMAC-SHA256", .choices = "HMAC-SHA256|HMAC-SM3",
      .off = U(sign_alg), .desc = "the envelope's signature: HMAC-SHA256, or HMAC-SM3 (the "
                                  "national hash, GB/T 32905); needs sign_key_file" },
    { .key = "commands", .type = K_ENUM, .def = "off", .choices = "off|on", .off = U(commands),
      .desc = "read signed commands from {topic_prefix}/command (resend, measure, clock, status, "
              "points) and reply on {topic_prefix}/reply; needs command_key_file" },
    { .key = "command_key_file", .type = K_FILE, .off = U(command_key_file),
      .desc = "the HMAC key commands and replies are signed with (text; mode 600)" },
    { .key = "command_sign", .type = K_ENUM, .def = "sha256", .choices = "sha256|sm3",
      .off = U(command_sign), .desc = "the signature of commands and replies: HMAC-SHA256 or HMAC-SM3" },
    { .key = "command_skew", .type = K_DURATION, .def = "5m", .lo = SEC, .hi = DAY,
      .off = U(command_skew_ms), .desc = "a command whose ts is further than this from the gateway's "
                                         "clock is refused" },
    { .key = "command_rate", .type = K_UINT, .def = "20", .lo = 1, .hi = 6000, .off = U(command_rate),
      .desc = "commands a minute at most; more are refused" },
    { .key = "resend_max", .type = K_DURATION, .def = "7d", .lo = MINUTE, .hi = 366 * DAY,
      .off = U(resend_max_ms), .desc = "the longest window one resend command may ask for" },
    { .key = "clock_tolerance", .type = K_DURATION, .def = "10s", .lo = 100, .hi = DAY,
      .off = U(clock_tolerance_ms), .desc = "a clock command finding the gateway's clock further "
                                            "than this from the platform's raises a clock alarm" },
};
#undef U

struct section_schema {
    const char *title;
    const struct conf_key *keys;
    size_t n;
};

#define COUNT(a) (sizeof (a) / sizeof (a)[0])
static const struct section_schema schemas[] = {
    [CONF_SEC_AGENT]  = { "[agent]",       agent_keys,  COUNT(agent_keys) },
    [CONF_SEC_DEVICE] = { "[device NAME]", device_keys, COUNT(device_keys) },
    [CONF_SEC_UPLINK] = { "[uplink NAME]", uplink_keys, COUNT(uplink_keys) },
};

/* --- value parsers -------------------------------------------------------- */

/* Decimal "digits[.digits]" scaled by `mult` into an exact integer: no floating
 * point, so "0.1s" is 100 ms and not 99. */
static int parse_scaled(const char *num, size_t n, int64_t mult, int64_t *out, int *finer)
{
    uint64_t mant = 0;
    int frac = -1, digits = 0;
    *finer = 0;
    for (size_t i = 0; i < n; i++) {
        if (num[i] == '.') {
            if (frac >= 0)
                return -1;
            frac = 0;
            continue;
        }
        if (!isdigit((unsigned char)num[i]))
            return -1;
        if (__builtin_mul_overflow(mant, 10, &mant) || __builtin_add_overflow(mant, (uint64_t)(num[i] - '0'), &mant))
            return -2;
        digits++;
        if (frac >= 0)
            frac++;
    }
    if (!digits)
        return -1;
    if (frac < 0)
        frac = 0;
    while (frac > 0 && mant % 10 == 0) {
        mant /= 10;
        frac--;
    }
    uint64_t v;
    if (__builtin_mul_overflow(mant, (uint64_t)mult, &v))
        return -2;
    for (; frac > 0; frac--) {
        if (v % 10) {
            *finer = 1;
            return -1;
        }
        v /= 10;
    }
    if (v > INT64_MAX)
        return -2;
    *out = (int64_t)v;
    return 0;
}

struct unit {
    const char *name;
    int64_t mult;
};

static const struct unit duration_units[] = {
    { "", SEC }, { "ms", 1 }, { "s", SEC }, { "m", MINUTE }, { "h", HOUR }, { "d", DAY },
};
static const struct unit size_units[] = {
    { "", 1 }, { "B", 1 }, { "KB", KIB }, { "MB", MIB }, { "GB", GIB },
};

static int parse_with_unit(const char *s, const struct unit *units, size_t nunits, int fold,
                           int64_t *out, const char *what, const char *expect,
                           char *err, size_t errlen)
{
    if (!*s) {
        snprintf(err, errlen, "empty (expected %s)", expect);
        return -1;
    }
    if (s[0] == '-') {
        snprintf(err, errlen, "'%s' is negative (expected %s)", s, expect);
        return -1;
    }
    size_t n = 0;
    while (isdigit((unsigned char)s[n]) || s[n] == '.')
        n++;
    const char *u = s + n;
    for (size_t i = 0; i < nunits; i++) {
        if (fold ? strcasecmp(u, units[i].name) : strcmp(u, units[i].name))
            continue;
        int finer;
        int rc = parse_scaled(s, n, units[i].mult, out, &finer);
        if (rc == 0)
            return 0;
        if (rc == -2)
            snprintf(err, errlen, "'%s' is too large", s);
        else if (finer)
            snprintf(err, errlen, "'%s' is finer than %s", s,
                     units == size_units ? "a byte" : "a millisecond");
        else
            break;
        return -1;
    }
    snprintf(err, errlen, "'%s' is not a %s (expected %s)", s, what, expect);
    return -1;
}

int conf_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen)
{
    return parse_with_unit(s, duration_units, COUNT(duration_units), 0, ms, "duration",
                           "a number with ms, s, m, h or d, e.g. 500ms, 2s, 90d", err, errlen);
}

int conf_parse_size(const char *s, int64_t *bytes, char *err, size_t errlen)
{
    return parse_with_unit(s, size_units, COUNT(size_units), 1, bytes, "size",
                           "a number with B, KB, MB or GB, e.g. 512MB, 2GB", err, errlen);
}

/* The largest unit that states v exactly: 86400000 -> "1d", 1500 -> "1500ms". */
static void fmt_units(char *buf, size_t n, int64_t v, const struct unit *units, size_t nunits)
{
    const struct unit *best = NULL;
    if (v == 0) {
        snprintf(buf, n, "0");
        return;
    }
    for (size_t i = 1; i < nunits; i++)
        if (v % units[i].mult == 0 && (!best || units[i].mult > best->mult))
            best = &units[i];
    snprintf(buf, n, "%lld%s", (long long)(v / best->mult), best->name);
}

static void fmt_value(char *buf, size_t n, const struct conf_key *k, int64_t v)
{
    if (k->type == K_DURATION)
        fmt_units(buf, n, v, duration_units, COUNT(duration_units));
    else if (k->type == K_SIZE)
        fmt_units(buf, n, v, size_units, COUNT(size_units));
    else
        snprintf(buf, n, "%lld", (long long)v);
}

/* "10ms..1d", ">= 1MB", "error, warn, info, debug"; "" when unconstrained. */
static void range_text(char *buf, size_t n, const struct conf_key *k)
{
    char lo[32], hi[32];
    buf[0] = 0;
    switch (k->type) {
    case K_INT: case K_UINT: case K_DOUBLE: case K_DURATION: case K_SIZE:
        fmt_value(lo, sizeof lo, k, k->lo);
        if (k->hi == NOMAX) {
            snprintf(buf, n, ">= %s", lo);
        } else {
            fmt_value(hi, sizeof hi, k, k->hi);
            snprintf(buf, n, "%s..%s", lo, hi);
        }
        break;
    case K_ENUM: case K_CHAR: case K_INDEX: {
        size_t o = 0;
        for (const char *c = k->choices; *c && o + 3 < n; c++) {
            if (*c == '|') {
                buf[o++] = ',';
                buf[o++] = ' ';
            } else {
                buf[o++] = *c;
            }
        }
        buf[o] = 0;
        break;
    }
    case K_PROFILE:
        snprintf(buf, n, "%s", profile_names());
        break;
    default:
        break;
    }
}

/* Index of v in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *v)
{
    size_t len = strlen(v);
    int i = 0;
    for (const char *c = choices; ; i++) {
        const char *bar = strchr(c, '|');
        size_t cl = bar ? (size_t)(bar - c) : strlen(c);
        if (cl == len && strncmp(c, v, len) == 0)
            return i;
        if (!bar)
            return -1;
        c = bar + 1;
    }
}

/* "+08:00", "-05:30" or "Z", to minutes east of UTC and the "+08:00" form. */
static int parse_tz(const char *s, int *minutes, char *norm, size_t nlen, char *err, size_t errlen)
{
    if (strcmp(s, "Z") == 0) {
        *minutes = 0;
        snprintf(norm, nlen, "+00:00");
        return 0;
    }
    if ((s[0] == '+' || s[0] == '-') && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2])
        && s[3] == ':' && isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) && !s[6]) {
        int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
        if (h <= 14 && m <= 59) {
            *minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
            snprintf(norm, nlen, "%c%02d:%02d", *minutes < 0 ? '-' : '+', h, m);
            return 0;
        }
    }
    snprintf(err, errlen, "'%s' is not a time zone (expected +HH:MM, -HH:MM or Z, e.g. +08:00)", s);
    return -1;
}

/* One broker address: mqtt[s]://host[:port], host a name, an IPv4 or an [IPv6];
 * or file:///DIR, an outbox folder the files of a text profile are written to. */
static int check_url(const char *s, char *err, size_t errlen)
{
    struct url u;
    if (url_parse(s, &u, err, errlen) != 0)
        return -1;
    struct stat st;
    if (u.scheme == URL_FILE && (stat(u.path, &st) != 0 || !S_ISDIR(st.st_mode))) {
        snprintf(err, errlen, "'%s': %s is not a folder", s, u.path);
        return -1;
    }
    return 0;
}

static int parse_urls(struct conf_loader *L, const char *s, char ***out, size_t *nout,
                      char *err, size_t errlen)
{
    if (!*s) {
        snprintf(err, errlen, "empty (expected mqtt[s]://host[:port], comma-separated)");
        return -1;
    }
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    char **v = calloc(cap, sizeof *v);
    size_t n = 0;
    if (!v) {
        conf__oom(L);
        return -1;
    }
    for (const char *c = s; ; ) {
        const char *comma = strchr(c, ',');
        size_t len = comma ? (size_t)(comma - c) : strlen(c);
        while (len && isspace((unsigned char)*c)) {
            c++;
            len--;
        }
        while (len && isspace((unsigned char)c[len - 1]))
            len--;
        char *u = strndup(c, len);
        if (!u) {
            conf__oom(L);
            goto fail;
        }
        v[n++] = u;
        if (!len) {
            snprintf(err, errlen, "empty entry in the list '%s'", s);
            goto fail;
        }
        if (check_url(u, err, errlen) < 0)
            goto fail;
        if (!comma)
            break;
        c = comma + 1;
    }
    *out = v;
    *nout = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return -1;
}

#define LISTEN_FORMS "[ADDR]:PORT, e.g. :9000 for every address, 0.0.0.0:9000, 127.0.0.1:9000, [::]:9000"

/* "[ADDR]:PORT" where the agent listens: an empty ADDR is every address; else an
 * IPv4 address, or an IPv6 one in brackets (an address of this machine's, so no
 * names to resolve). The address goes to host without brackets. */
static int parse_listen(const char *s, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
    const char *a = s, *colon;
    size_t al;
    if (!*s) {
        snprintf(err, errlen, "empty (expected %s)", LISTEN_FORMS);
        return -1;
    }
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close) {
            snprintf(err, errlen, "'%s' has an unclosed '[' (expected %s)", s, LISTEN_FORMS);
            return -1;
        }
        a = s + 1;
        al = (size_t)(close - a);
        colon = close + 1;
        if (*colon != ':') {
            snprintf(err, errlen, "'%s' has no ':PORT' after the address (expected %s)", s, LISTEN_FORMS);
            return -1;
        }
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            bool digits = true;
            for (const char *c = s; *c; c++)
                digits &= isdigit((unsigned char)*c) != 0;
            if (digits)
                snprintf(err, errlen, "'%s' has no ':' before the port (write :%s to listen at every "
                         "address, or ADDR:%s at one)", s, s, s);
            else
                snprintf(err, errlen, "'%s' has no port (expected %s)", s, LISTEN_FORMS);
            return -1;
        }
        al = (size_t)(colon - s);
        if (memchr(s, ':', al)) {
            snprintf(err, errlen, "'%s': an IPv6 address is written in brackets, e.g. [::]:9000 "
                     "or [::1]:9000", s);
            return -1;
        }
    }
    if (al >= hostlen) {
        snprintf(err, errlen, "'%s': the address is too long", s);
        return -1;
    }
    memcpy(host, a, al);
    host[al] = 0;
    if (a != s) {
        struct in6_addr in6;
        if (inet_pton(AF_INET6, host, &in6) != 1) {
            snprintf(err, errlen, "'%s': '%s' is not an IPv6 address (expected %s)", s, host, LISTEN_FORMS);
            return -1;
        }
    } else if (al) {
        struct in_addr in4;
        if (inet_pton(AF_INET, host, &in4) != 1) {
            snprintf(err, errlen, "'%s': '%s' is not an IPv4 address (expected %s)", s, host, LISTEN_FORMS);
            return -1;
        }
    }
    long v;
    char perr[128];
    if (num_parse_long(colon + 1, 1, 65535, &v, perr, sizeof perr) != 0) {
        snprintf(err, errlen, "'%s' has a bad port: %s", s, perr);
        return -1;
    }
    *port = (int)v;
    return 0;
}

/* Store value v of key k into obj. 0, or -1 with the reason in err. */
static int set_value(struct conf_loader *L, const struct conf_key *k, const char *v, void *obj,
                     char *err, size_t errlen)
{
    char *field = (char *)obj + k->off;
    char range[96];
    long l;
    int64_t i64;
    double d;

    switch (k->type) {
    case K_STRING:
        if (!*v && ((k->flags & F_REQ) || k->req_on)) {
            snprintf(err, errlen, "empty (a value is required)");
            return -1;
        }
        *(char **)field = conf__strdup(L, v);
        return 0;
    case K_PATH:
    case K_FILE: {
        if (!*v) {
            snprintf(err, errlen, "empty (expected a path)");
            return -1;
        }
        char *p = conf__resolve(L, v);
        if (!p)
            return -1;
        char why[96];
        if (k->type == K_FILE && conf__readable(p, why, sizeof why) < 0) {
            snprintf(err, errlen, "cannot read '%s' (%s)", p, why);
            free(p);
            return -1;
        }
        *(char **)field = p;
        return 0;
    }
    case K_INT:
    case K_UINT:
        if (num_parse_long(v, (long)k->lo, (long)k->hi, &l, err, errlen) < 0)
            return -1;
        if (k->type == K_INT)
            *(int *)field = (int)l;
        else
            *(unsigned *)field = (unsigned)l;
        return 0;
    case K_DOUBLE:
        if (num_parse_double(v, &d, err, errlen) < 0)
            return -1;
        if (d < (double)k->lo || (k->hi != NOMAX && d > (double)k->hi)) {
            range_text(range, sizeof range, k);
            snprintf(err, errlen, "'%s' out of range (%s)", v, range);
            return -1;
        }
        *(double *)field = d;
        return 0;
    case K_DURATION:
    case K_SIZE:
        if ((k->type == K_DURATION ? conf_parse_duration : conf_parse_size)(v, &i64, err, errlen) < 0)
            return -1;
        if (i64 < k->lo || i64 > k->hi) {
            range_text(range, sizeof range, k);
            snprintf(err, errlen, "'%s' out of range (%s)", v, range);
            return -1;
        }
        *(int64_t *)field = i64;
        return 0;
    case K_ENUM:
    case K_CHAR:
    case K_INDEX: {
        int i = choice_index(k->choices, v);
        if (i < 0) {
            range_text(range, sizeof range, k);
            snprintf(err, errlen, "'%s' is not one of: %s", v, range);
            return -1;
        }
        if (k->type == K_ENUM)
            *(char **)field = conf__strdup(L, v);
        else if (k->type == K_CHAR)
            *field = v[0];
        else
            *(int *)field = i;
        return 0;
    }
    case K_PROFILE:
        if (!profile_find(v)) {
            snprintf(err, errlen, "'%s' is not a profile (expected one of: %s)", v, profile_names());
            return -1;
        }
        *(char **)field = conf__strdup(L, v);
        return 0;
    case K_TZ: {
        char norm[16];
        int m;
        if (parse_tz(v, &m, norm, sizeof norm, err, errlen) < 0)
            return -1;
        *(int *)field = m;
        *(char **)((char *)obj + k->off2) = conf__strdup(L, norm);
        return 0;
    }
    case K_URLS:
        return parse_urls(L, v, (char ***)field, (size_t *)((char *)obj + k->off2), err, errlen);
    case K_BYTES:
        if (!*v) {
            snprintf(err, errlen, "empty (expected text, e.g. GZ-DTU-0001, or hex: and hex digits, "
                     "e.g. hex:FE or hex:47 5A 00 01)");
            return -1;
        }
        if (bytes_parse(v, (uint8_t *)obj + k->off2, BYTES_MAX, (size_t *)((char *)obj + k->off3),
                        err, errlen) < 0)
            return -1;
        *(char **)field = conf__strdup(L, v);
        return 0;
    case K_LISTEN: {
        char host[256];
        int port;
        if (parse_listen(v, host, sizeof host, &port, err, errlen) < 0)
            return -1;
        *(char **)field = conf__strdup(L, v);
        *(char **)((char *)obj + k->off2) = conf__strdup(L, host);
        *(int *)((char *)obj + k->off3) = port;
        return 0;
    }
    }
    return -1;
}

_Static_assert(sizeof(enum conf_driver) == sizeof(int) && sizeof(enum conf_echo) == sizeof(int)
               && sizeof(enum conf_link) == sizeof(int), "K_INDEX stores an int");

/* "modbus-tcp", "modbus-rtu and modbus-rtu-tcp": the drivers in a mask, in the
 * order of the driver key's choices. */
static const char *driver_names(unsigned mask, char *buf, size_t n)
{
    static const struct { unsigned bit; const char *name; } drivers[] = {
        { F_TCP, "modbus-tcp" }, { F_RTU, "modbus-rtu" }, { F_RTUTCP, "modbus-rtu-tcp" },
    };
    size_t total = 0, at = 0, o = 0;
    for (size_t i = 0; i < COUNT(drivers); i++)
        total += (mask & drivers[i].bit) != 0;
    buf[0] = 0;
    for (size_t i = 0; i < COUNT(drivers); i++) {
        if (!(mask & drivers[i].bit))
            continue;
        const char *sep = at == 0 ? "" : at + 1 == total ? " and " : ", ";
        int w = snprintf(buf + o, n - o, "%s%s", sep, drivers[i].name);
        if (w < 0 || (size_t)w >= n - o)
            break;
        o += (size_t)w;
        at++;
    }
    return buf;
}

static bool applies_to(const struct conf_key *k, unsigned applies)
{
    unsigned only = k->flags & F_DRIVERS;
    return !only || !applies || (only & applies);
}

/* Missing, is the key an error? A driver's key only once the driver is known. */
static bool required(const struct conf_key *k, unsigned applies)
{
    if (k->flags & F_REQ)
        return applies || !(k->flags & F_DRIVERS);
    return (k->req_on & applies) != 0;
}

void conf__apply(struct conf_loader *L, enum conf_sec sec, const struct ini_section *s,
                 void *obj, unsigned applies)
{
    const struct section_schema *sc = &schemas[sec];
    bool seen[48] = { false };
    char err[512];
    const char *title = s->name ? (sec == CONF_SEC_DEVICE ? "device" : "uplink") : "agent";

    _Static_assert(COUNT(device_keys) <= 48 && COUNT(uplink_keys) <= 48 && COUNT(agent_keys) <= 48,
                   "seen[] holds every key of a section");
    for (size_t i = 0; i < s->n; i++) {
        const struct ini_entry *e = &s->e[i];
        const struct conf_key *k = NULL;
        for (size_t j = 0; j < sc->n; j++)
            if (strcmp(sc->keys[j].key, e->key) == 0) {
                k = &sc->keys[j];
                seen[j] = true;
            }
        /* override.KEY: a profile variant setting, checked against the profile by
         * the loader (conf.c), which knows the uplink's profile. */
        if (!k && sec == CONF_SEC_UPLINK && strncmp(e->key, "override.", 9) == 0)
            continue;
        if (!k) {
            const char *best = NULL;
            size_t bd = SIZE_MAX;
            for (size_t j = 0; j < sc->n; j++) {
                size_t d = conf__distance(e->key, sc->keys[j].key);
                if (d < bd) {
                    bd = d;
                    best = sc->keys[j].key;
                }
            }
            if (best && bd <= 2 && bd < strlen(e->key))
                conf__err(L, L->path, e->line, "unknown key '%s' (did you mean '%s'?)", e->key, best);
            else
                conf__err(L, L->path, e->line, "unknown key '%s' (not a key of [%s]; "
                          "`ganzhi check --keys` lists them)", e->key, title);
            continue;
        }
        if (!applies_to(k, applies)) {
            char only[64], mine[64];
            conf__err(L, L->path, e->line, "key '%s' applies to %s devices only (this one is %s)",
                      e->key, driver_names(k->flags, only, sizeof only),
                      driver_names(applies, mine, sizeof mine));
            continue;
        }
        if (set_value(L, k, e->value, obj, err, sizeof err) < 0)
            conf__err(L, L->path, e->line, "%s: %s", e->key, err);
    }

    for (size_t j = 0; j < sc->n; j++) {
        const struct conf_key *k = &sc->keys[j];
        if (seen[j] || !applies_to(k, applies))
            continue;
        if (required(k, applies)) {
            if (s->name)
                conf__err(L, L->path, s->line, "[%s %s]: missing required key '%s' (%s)",
                          title, s->name, k->key, k->desc);
            else
                conf__err(L, L->path, s->line, "[%s]: missing required key '%s' (%s)",
                          title, k->key, k->desc);
        } else if (k->def && !(k->flags & F_DERIVED)) {
            if (set_value(L, k, k->def, obj, err, sizeof err) < 0)
                conf__err(L, L->path, s->line, "default of %s: %s", k->key, err);  /* a bug */
        }
    }
}

void conf__schema_free(enum conf_sec sec, void *obj)
{
    const struct section_schema *sc = &schemas[sec];
    for (size_t j = 0; j < sc->n; j++) {
        const struct conf_key *k = &sc->keys[j];
        char *field = (char *)obj + k->off;
        switch (k->type) {
        case K_STRING: case K_PATH: case K_FILE: case K_ENUM: case K_PROFILE:
            free(*(char **)field);
            *(char **)field = NULL;
            break;
        case K_TZ:
            free(*(char **)((char *)obj + k->off2));
            *(char **)((char *)obj + k->off2) = NULL;
            break;
        case K_BYTES:
            free(*(char **)field);
            *(char **)field = NULL;
            break;
        case K_LISTEN:
            free(*(char **)field);
            *(char **)field = NULL;
            free(*(char **)((char *)obj + k->off2));
            *(char **)((char *)obj + k->off2) = NULL;
            break;
        case K_URLS: {
            char **v = *(char ***)field;
            size_t *n = (size_t *)((char *)obj + k->off2);
            for (size_t i = 0; v && i < *n; i++)
                free(v[i]);
            free(v);
            *(char ***)field = NULL;
            *n = 0;
            break;
        }
        default:
            break;
        }
    }
}

static const char *type_name(enum ktype t)
{
    static const char *const names[] = {
        [K_STRING] = "string", [K_PATH] = "path", [K_FILE] = "file", [K_INT] = "int",
        [K_UINT] = "int", [K_DOUBLE] = "number", [K_DURATION] = "duration", [K_SIZE] = "size",
        [K_ENUM] = "enum", [K_CHAR] = "enum", [K_INDEX] = "enum", [K_PROFILE] = "enum",
        [K_TZ] = "timezone", [K_URLS] = "url list", [K_BYTES] = "bytes", [K_LISTEN] = "address",
    };
    return names[t];
}

/* "modbus-rtu and modbus-rtu-tcp: " before the meaning of a driver's key. */
static const char *applies_prefix(const struct conf_key *k, char *buf, size_t n)
{
    char names[64];
    if (!(k->flags & F_DRIVERS))
        return "";
    snprintf(buf, n, "%s: ", driver_names(k->flags, names, sizeof names));
    return buf;
}

/* One line per key: key, type, default, range, meaning. A default made of other
 * keys (F_DERIVED) is told in the meaning, so the columns stay narrow. */
void conf_schema_print(FILE *f)
{
    fprintf(f, "Durations: a number with ms, s, m, h or d (a bare number is seconds).\n"
               "Sizes: a number with B, KB, MB or GB (powers of 1024; a bare number is bytes).\n"
               "Bytes: text, or hex: and hex digits, e.g. GZ-DTU-0001 or hex:FE 01.\n"
               "Paths are relative to the configuration file unless absolute; files must be readable.\n");
    int wkey = 16, wdef = 7, wrange = 5;
    for (size_t i = 0; i < COUNT(schemas); i++)
        for (size_t j = 0; j < schemas[i].n; j++) {
            const struct conf_key *k = &schemas[i].keys[j];
            char range[128];
            range_text(range, sizeof range, k);
            if ((int)strlen(k->key) > wkey)
                wkey = (int)strlen(k->key);
            if (k->def && !(k->flags & F_DERIVED) && (int)strlen(k->def) > wdef)
                wdef = (int)strlen(k->def);
            if ((int)strlen(range) > wrange && strlen(range) <= 32)
                wrange = (int)strlen(range);
        }
    for (size_t i = 0; i < COUNT(schemas); i++) {
        const struct section_schema *sc = &schemas[i];
        fprintf(f, "\n%s\n  %-*s %-8s %-*s %-*s %s\n", sc->title, wkey, "key", "type", wdef, "default",
                wrange, "range", "meaning");
        for (size_t j = 0; j < sc->n; j++) {
            const struct conf_key *k = &sc->keys[j];
            char range[128], prefix[80], req[64];
            const char *def = k->flags & F_REQ ? "(required)" : k->flags & F_DERIVED ? "(derived)"
                              : !k->def ? "(none)" : !*k->def ? "\"\"" : k->def;
            range_text(range, sizeof range, k);
            fprintf(f, "  %-*s %-8s %-*s %-*s %s%s", wkey, k->key, type_name(k->type), wdef, def,
                    wrange, range[0] ? range : "-", applies_prefix(k, prefix, sizeof prefix), k->desc);
            if (k->req_on)
                fprintf(f, " (required on %s)", driver_names(k->req_on, req, sizeof req));
            if (k->flags & F_DERIVED)
                fprintf(f, " (default %s)", k->def);
            fputc('\n', f);
        }
    }
}

/* Text for a troff line: backslashes and minus signs escaped, and a leading
 * '.' or '\'' kept from being read as a request. */
static void man_text(FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

/* One .SS per section, one .TP per key: name and type, the meaning, then the
 * default and the range or choices, all from the table the parser uses. */
void conf_schema_print_man(FILE *f)
{
    for (size_t i = 0; i < COUNT(schemas); i++) {
        const struct section_schema *sc = &schemas[i];
        fputs(".SS \"", f);
        man_text(f, sc->title);
        fputs("\"\n", f);
        for (size_t j = 0; j < sc->n; j++) {
            const struct conf_key *k = &sc->keys[j];
            char range[128];
            range_text(range, sizeof range, k);
            fputs(".TP\n\\fB", f);
            man_text(f, k->key);
            fprintf(f, "\\fR (\\fI%s\\fR)\n", type_name(k->type));
            char prefix[80], req[64];
            man_text(f, applies_prefix(k, prefix, sizeof prefix));
            man_text(f, k->desc);
            fputs(".\n.br\n", f);
            if (k->flags & F_REQ) {
                fputs("Required", f);
            } else if (k->req_on) {
                fputs("Required on ", f);
                man_text(f, driver_names(k->req_on, req, sizeof req));
            } else if (!k->def) {
                fputs("Default: none", f);
            } else if (!*k->def) {
                fputs("Default: empty", f);
            } else {
                fputs("Default: \\fB", f);
                man_text(f, k->def);
                fputs("\\fR", f);
            }
            if (range[0]) {
                int choices = k->type == K_ENUM || k->type == K_CHAR || k->type == K_INDEX ||
                              k->type == K_PROFILE;
                fputs(choices ? "; one of: " : "; range: ", f);
                man_text(f, range);
            }
            fputs(".\n", f);
        }
    }
}
