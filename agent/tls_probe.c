/* tls_probe: a diagnostic TLS 1.2 client handshake over mbedTLS (see tls_probe.h). */
#include "agent/tls_probe.h"
#include "core/clock.h"
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* connect(2) with a timeout: a probe must never hang an uplink on a dead host. */
static int connect_timeout(const char *host, const char *port, int timeout_ms, char *why,
                           size_t whylen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd p = { fd, POLLOUT, 0 };
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&p, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                break;
            snprintf(why, whylen, "TCP connect to %s:%s: %s", host, port,
                     err ? strerror(err) : "timed out");
        } else {
            snprintf(why, whylen, "TCP connect to %s:%s: %s", host, port, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static const char *alert_name(int alert)
{
    switch (alert) {
    case 40: return "handshake failure";
    case 42: return "bad certificate";
    case 43: return "unsupported certificate";
    case 44: return "certificate revoked";
    case 45: return "certificate expired";
    case 46: return "certificate unknown";
    case 48: return "unknown CA";
    case 70: return "protocol version";
    case 116: return "certificate required";
    default: return "alert";
    }
}

int tls_probe(const char *host, const char *port, const char *ca_file, const char *cert_file,
              const char *key_file, int timeout_ms, char *why, size_t whylen)
{
    /* Our own certificate first: a key that does not match it, or an expired
     * one, is the whole story, whatever the broker would say. */
    if (cert_file && key_file) {
        struct tls_cert_info own;
        int match;
        if (tls_cert_inspect(cert_file, key_file, &own, &match, why, whylen) != 0)
            return -1;
        if (match == 0) {
            snprintf(why, whylen, "key_file %s does not belong to cert_file %s", key_file,
                     cert_file);
            return -1;
        }
        if (own.days_left < 0) {
            snprintf(why, whylen, "our client certificate %s expired on %s", cert_file,
                     own.not_after);
            return -1;
        }
    }
    struct tls_details d;
    if (tls_probe_details(host, port, ca_file, cert_file, key_file, timeout_ms, &d, why,
                          whylen) != 0)
        return -1;
    snprintf(why, whylen, "TLS handshake succeeded (%s, %s)", d.version, d.ciphersuite);
    return 0;
}

/* ---- details for `ganzhi uplink` ---- */

static void x509_time_text(const mbedtls_x509_time *t, char *buf, size_t len)
{
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d", t->year, t->mon, t->day, t->hour,
             t->min, t->sec);
}

static long days_until(const mbedtls_x509_time *t)
{
    struct tm tm = { .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                     .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec };
    double secs = difftime(timegm(&tm), time(NULL));
    long days = (long)(secs / 86400.0);
    if (secs < 0 && (double)days * 86400.0 != secs)
        days--;     /* floor: an hour past expiry is day -1 */
    return days;
}

static void cert_info_fill(const mbedtls_x509_crt *crt, struct tls_cert_info *info)
{
    memset(info, 0, sizeof *info);
    if (mbedtls_x509_dn_gets(info->subject, sizeof info->subject, &crt->subject) < 0)
        snprintf(info->subject, sizeof info->subject, "?");
    if (mbedtls_x509_dn_gets(info->issuer, sizeof info->issuer, &crt->issuer) < 0)
        snprintf(info->issuer, sizeof info->issuer, "?");
    size_t off = 0;
    for (const mbedtls_x509_sequence *n = &crt->subject_alt_names; n && n->buf.p; n = n->next) {
        if (n->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME))
            continue;
        int w = snprintf(info->names + off, sizeof info->names - off, "%s%.*s", off ? ", " : "",
                         (int)n->buf.len, (const char *)n->buf.p);
        if (w < 0 || (size_t)w >= sizeof info->names - off)
            break;
        off += (size_t)w;
    }
    x509_time_text(&crt->valid_from, info->not_before, sizeof info->not_before);
    x509_time_text(&crt->valid_to, info->not_after, sizeof info->not_after);
    info->days_left = days_until(&crt->valid_to);
}

int tls_cert_inspect(const char *cert_file, const char *key_file, struct tls_cert_info *info,
                     int *key_match, char *why, size_t whylen)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    char buf[200];
    int ret, rc = -1;
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    *key_match = -1;
    why[0] = 0;
    if ((ret = mbedtls_x509_crt_parse_file(&crt, cert_file)) != 0) {
        mbedtls_strerror(ret, buf, sizeof buf);
        snprintf(why, whylen, "cannot read cert_file %s: %s", cert_file, buf);
        goto out;
    }
    cert_info_fill(&crt, info);
    rc = 0;
    if (!key_file)
        goto out;
    if ((ret = mbedtls_pk_parse_keyfile(&key, key_file, NULL)) != 0) {
        mbedtls_strerror(ret, buf, sizeof buf);
        snprintf(why, whylen, "cannot read key_file %s: %s", key_file, buf);
        goto out;
    }
    *key_match = mbedtls_pk_check_pair(&crt.pk, &key) == 0;
out:
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    return rc;
}

/* Verification callback: keep the broker's own certificate (depth 0) for the
 * report, whatever the verdict. */
static int keep_peer(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct tls_details *d = arg;
    if (depth == 0) {
        cert_info_fill(crt, &d->peer);
        d->have_peer = 1;
    }
    return 0;
}

/* Why a handshake that returned ret failed, in plain words. */
static void handshake_words(const struct tls_details *d, int ret, const char *host,
                            const char *port, const char *cert_file, char *why, size_t whylen)
{
    char buf[200];
    if (ret == MBEDTLS_ERR_SSL_TIMEOUT) {
        snprintf(why, whylen, "TLS handshake timed out: is %s:%s a TLS port?", host, port);
    } else if (d->client_cert_requested && !d->client_cert_sent) {
        /* It asked for one, we had none to give, and it hung up. */
        snprintf(why, whylen, "TLS handshake failed: the broker requires a client certificate%s",
                 cert_file ? " and ours was not offered (key_file does not match cert_file, "
                             "or they cannot be read)"
                           : ": set cert_file and key_file");
    } else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        int a = d->alert;
        if (d->client_cert_sent && (a == 40 || a == 42 || a == 45 || a == 46 || a == 48))
            snprintf(why, whylen, "TLS handshake failed: the broker does not accept our client "
                     "certificate (alert %d, %s: certificate unknown to it?)", a, alert_name(a));
        else
            snprintf(why, whylen, "TLS handshake failed: the broker ended it (alert %d, %s)", a,
                     alert_name(a));
    } else if (ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_SSL_CONN_EOF ||
               ret == MBEDTLS_ERR_NET_RECV_FAILED || ret == MBEDTLS_ERR_NET_SEND_FAILED) {
        snprintf(why, whylen, "TLS handshake failed: the broker closed the connection (is %s:%s "
                 "a TLS port?)", host, port);
    } else {
        mbedtls_strerror(ret, buf, sizeof buf);
        snprintf(why, whylen, "TLS handshake failed: %s", buf);
    }
}

int tls_probe_details(const char *host, const char *port, const char *ca_file,
                      const char *cert_file, const char *key_file, int timeout_ms,
                      struct tls_details *d, char *why, size_t whylen)
{
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca, own;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    char buf[256];
    int rc = -1, ret;
    memset(d, 0, sizeof *d);
    why[0] = 0;
    mbedtls_net_init(&net);
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&own);
    mbedtls_pk_init(&key);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);

    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                              (const unsigned char *)"ganzhi-tls-details", 18) != 0) {
        snprintf(why, whylen, "no entropy for TLS");
        goto out;
    }
    if (ca_file) {
        if ((ret = mbedtls_x509_crt_parse_file(&ca, ca_file)) != 0) {
            mbedtls_strerror(ret, buf, sizeof buf);
            snprintf(why, whylen, "cannot read ca_file %s: %s", ca_file, buf);
            goto out;
        }
    } else {
        /* No ca_file: the system's trusted CAs, as OpenSSL (paho) would use. */
        mbedtls_x509_crt_parse_path(&ca, "/etc/ssl/certs");
    }
    if (cert_file && key_file && mbedtls_x509_crt_parse_file(&own, cert_file) == 0 &&
        mbedtls_pk_parse_keyfile(&key, key_file, NULL) == 0 &&
        mbedtls_pk_check_pair(&own.pk, &key) == 0)
        d->client_cert_sent = 1;
    int fd = connect_timeout(host, port, timeout_ms, why, whylen);
    if (fd < 0)
        goto out;
    why[0] = 0;     /* an address that failed before this one is no finding */
    net.fd = fd;
    int64_t t0 = mono_ms();
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    /* Optional: finish the handshake to see the broker's certificate; the
     * verdict is read afterwards and decides. */
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    mbedtls_ssl_conf_verify(&conf, keep_peer, d);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_read_timeout(&conf, (uint32_t)timeout_ms);
    if (d->client_cert_sent)
        mbedtls_ssl_conf_own_cert(&conf, &own, &key);
    if (mbedtls_ssl_setup(&ssl, &conf) != 0 || mbedtls_ssl_set_hostname(&ssl, host) != 0) {
        snprintf(why, whylen, "TLS setup failed");
        goto out;
    }
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
    while ((ret = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ ||
           ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        ;
    d->handshake_ms = mono_ms() - t0;
    d->client_cert_requested = ssl.client_auth;
    uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
    if (d->have_peer) {
        d->trusted = !(flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
        d->name_ok = !(flags & MBEDTLS_X509_BADCERT_CN_MISMATCH);
        d->expired = (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)) != 0;
        if (flags && flags != (uint32_t)-1) {
            mbedtls_x509_crt_verify_info(d->verify_info, sizeof d->verify_info, "", flags);
            for (char *p = d->verify_info; (p = strchr(p, '\n'));)
                *p = p[1] ? ';' : 0;
        }
    }
    if (ret != 0) {
        if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
            d->alert = ssl.in_msg ? ssl.in_msg[1] : 0;
        handshake_words(d, ret, host, port, cert_file, why, whylen);
        goto out;
    }
    d->handshake_ok = 1;
    snprintf(d->version, sizeof d->version, "%s", mbedtls_ssl_get_version(&ssl));
    snprintf(d->ciphersuite, sizeof d->ciphersuite, "%s", mbedtls_ssl_get_ciphersuite(&ssl));
    if (flags != 0) {
        if (!d->trusted)
            snprintf(why, whylen, "TLS handshake failed: the broker's certificate is not signed "
                     "by %s (its issuer: %s)", ca_file ? "ca_file" : "a CA this system trusts",
                     d->have_peer ? d->peer.issuer : "?");
        else if (!d->name_ok)
            snprintf(why, whylen, "TLS handshake failed: the broker's certificate does not name "
                     "%s (it names %s)", host, d->peer.names[0] ? d->peer.names : d->peer.subject);
        else if (d->expired)
            snprintf(why, whylen, "TLS handshake failed: the broker's certificate is out of its "
                     "validity dates (%s to %s UTC)", d->peer.not_before, d->peer.not_after);
        else
            snprintf(why, whylen, "TLS handshake failed: the broker's certificate is refused: %s",
                     d->verify_info);
        mbedtls_ssl_close_notify(&ssl);
        goto out;
    }
    d->verified = 1;
    rc = 0;
    mbedtls_ssl_close_notify(&ssl);
out:
    mbedtls_net_free(&net);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&own);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return rc;
}
