/* url: broker, outbox and host:port addresses parsed once, for everyone. */
#include "core/url.h"
#include "core/num.h"
#include <stdio.h>
#include <string.h>

int url_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *err,
                       size_t errlen)
{
    const char *p, *h = s;
    size_t hl;
    if (*s == '[') {
        p = strchr(s, ']');
        if (!p) {
            snprintf(err, errlen, "'%s' has an unclosed '[' (expected [::1]:PORT)", s);
            return -1;
        }
        h = s + 1;
        hl = (size_t)(p - h);
        p++;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {     /* a bare IPv6 address */
            hl = strlen(s);
            p = s + hl;
        } else {
            hl = colon ? (size_t)(colon - s) : strlen(s);
            p = s + hl;
        }
    }
    if (hl == 0) {
        snprintf(err, errlen, "'%s' has no host (expected HOST[:PORT])", s);
        return -1;
    }
    if (hl >= hostlen) {
        snprintf(err, errlen, "'%s': the host name is too long", s);
        return -1;
    }
    if (*p == ':') {
        long v;
        char perr[128];
        if (num_parse_long(p + 1, 1, 65535, &v, perr, sizeof perr) != 0) {
            snprintf(err, errlen, "'%s' has a bad port: %s", s, perr);
            return -1;
        }
        *port = (int)v;
    } else if (*p) {
        snprintf(err, errlen, "'%s' has junk after the host (expected HOST[:PORT])", s);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    return 0;
}

int url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (strncmp(s, "file://", 7) == 0) {
        u->scheme = URL_FILE;
        if (s[7] != '/') {
            snprintf(err, errlen, "'%s': an outbox is file:///absolute/folder", s);
            return -1;
        }
        if (strlen(s + 7) >= sizeof u->path) {
            snprintf(err, errlen, "'%s': the folder's name is too long", s);
            return -1;
        }
        snprintf(u->path, sizeof u->path, "%s", s + 7);
        return 0;
    }
    const char *h;
    if (strncmp(s, "mqtt://", 7) == 0) {
        u->scheme = URL_MQTT;
        u->port = 1883;
        h = s + 7;
    } else if (strncmp(s, "mqtts://", 8) == 0) {
        u->scheme = URL_MQTTS;
        u->port = 8883;
        h = s + 8;
    } else {
        snprintf(err, errlen, "'%s' must start with mqtt://, mqtts:// or file:///", s);
        return -1;
    }
    if (strchr(h, '/')) {
        snprintf(err, errlen, "'%s' has a path or junk after the host (expected "
                 "mqtt[s]://host[:port])", s);
        return -1;
    }
    if (*h == '[' && !strchr(h, ']')) {
        snprintf(err, errlen, "'%s' has an unclosed '[' (expected mqtts://[::1]:8883)", s);
        return -1;
    }
    if (!*h || (h[0] == '[' && h[1] == ']') || *h == ':') {
        snprintf(err, errlen, "'%s' has no host (expected mqtt[s]://host[:port])", s);
        return -1;
    }
    /* In a URL an IPv6 address is always bracketed: a second colon is junk. */
    const char *colon = *h == '[' ? strchr(h, ']') : strchr(h, ':');
    if (*h != '[' && colon && strchr(colon + 1, ':')) {
        snprintf(err, errlen, "'%s': an IPv6 address goes in brackets (mqtts://[::1]:8883)", s);
        return -1;
    }
    char why[200];
    if (url_parse_hostport(h, u->host, sizeof u->host, &u->port, why, sizeof why) != 0) {
        if (strstr(why, "bad port"))
            snprintf(err, errlen, "'%s' has a bad port (expected 1..65535)", s);
        else
            snprintf(err, errlen, "'%s': %s", s, why);
        return -1;
    }
    return 0;
}

int url_paho(const struct url *u, char *buf, size_t len)
{
    if (u->scheme == URL_FILE)
        return -1;
    int v6 = strchr(u->host, ':') != NULL;
    int n = snprintf(buf, len, "%s://%s%s%s:%d", u->scheme == URL_MQTTS ? "ssl" : "tcp",
                     v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
