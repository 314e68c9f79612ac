/* url: the addresses a site engineer writes: an uplink's broker
 * (mqtt://host[:port], mqtts://host[:port], host a name, IPv4 or [IPv6]), an
 * outbox folder (file:///DIR), and a device's host[:port]. One parser for the
 * configuration check, the agent and the CLI, so they never disagree. */
#ifndef GANZHI_URL_H
#define GANZHI_URL_H

#include <stddef.h>

enum url_scheme { URL_MQTT, URL_MQTTS, URL_FILE };

#define URL_HOST_MAX 256
#define URL_PATH_MAX 512

struct url {
    enum url_scheme scheme;
    char host[URL_HOST_MAX];    /* without the brackets of an IPv6 address; "" for file */
    int port;                   /* as written, else 1883 (mqtt), 8883 (mqtts); 0 for file */
    char path[URL_PATH_MAX];    /* file: the absolute folder; "" otherwise */
};

/* 0, or -1 with what is wrong and what is expected in err. Checks the form
 * only: whether a folder exists is the caller's to ask. */
int url_parse(const char *s, struct url *u, char *err, size_t errlen);

/* "host", "host:port", "[v6]" or "[v6]:port"; a bare IPv6 address (two or more
 * colons, no brackets) is taken as a host without a port. *port is set only when
 * one is written. 0, or -1 with the reason in err. */
int url_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *err,
                       size_t errlen);

/* paho's form of a broker address: tcp://host:port or ssl://[v6]:port. 0, or -1
 * if it does not fit (or u is an outbox). */
int url_paho(const struct url *u, char *buf, size_t len);

#endif
