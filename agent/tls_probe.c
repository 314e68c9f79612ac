/* tls_probe: a diagnostic TLS 1.2 client handshake over mbedTLS (see tls_probe.h). */
#include "agent/tls_probe.h"
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
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca, own;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    char buf[256];
    int rc = -1, ret;
    mbedtls_net_init(&net);
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&own);
    mbedtls_pk_init(&key);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);

    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                              (const unsigned char *)"ganzhi-tls-probe", 16) != 0) {
        snprintf(why, whylen, "no entropy for TLS");
        goto out;
    }
    if (ca_file && (ret = mbedtls_x509_crt_parse_file(&ca, ca_file)) != 0) {
        mbedtls_strerror(ret, buf, sizeof buf);
        snprintf(why, whylen, "ca_file %s: %s", ca_file, buf);
        goto out;
    }
    int have_cert = cert_file && key_file;
    if (have_cert) {
        if ((ret = mbedtls_x509_crt_parse_file(&own, cert_file)) != 0) {
            mbedtls_strerror(ret, buf, sizeof buf);
            snprintf(why, whylen, "cert_file %s: %s", cert_file, buf);
            goto out;
        }
        if ((ret = mbedtls_pk_parse_keyfile(&key, key_file, NULL)) != 0) {
            mbedtls_strerror(ret, buf, sizeof buf);
            snprintf(why, whylen, "key_file %s: %s", key_file, buf);
            goto out;
        }
        if (mbedtls_pk_check_pair(&own.pk, &key) != 0) {
            snprintf(why, whylen, "key_file %s does not belong to cert_file %s", key_file,
                     cert_file);
            goto out;
        }
        if (mbedtls_x509_time_is_past(&own.valid_to)) {
            snprintf(why, whylen, "our client certificate %s expired on %04d-%02d-%02d",
                     cert_file, own.valid_to.year, own.valid_to.mon, own.valid_to.day);
            goto out;
        }
    }
    int fd = connect_timeout(host, port, timeout_ms, why, whylen);
    if (fd < 0)
        goto out;
    net.fd = fd;
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_read_timeout(&conf, (uint32_t)timeout_ms);
    if (have_cert)
        mbedtls_ssl_conf_own_cert(&conf, &own, &key);
    if (mbedtls_ssl_setup(&ssl, &conf) != 0 || mbedtls_ssl_set_hostname(&ssl, host) != 0) {
        snprintf(why, whylen, "TLS setup failed");
        goto out;
    }
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
    while ((ret = mbedtls_ssl_handshake(&ssl)) != 0) {
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
            mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags);
            buf[strcspn(buf, "\n")] = 0;
            snprintf(why, whylen, "the broker's certificate is refused: %s%s", buf,
                     flags & MBEDTLS_X509_BADCERT_CN_MISMATCH ? " (it does not name this host)"
                     : flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED ? " (not signed by ca_file)" : "");
        } else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
            int alert = ssl.in_msg ? ssl.in_msg[1] : 0;
            snprintf(why, whylen, "the broker ended the TLS handshake (alert %d, %s)%s", alert,
                     alert_name(alert),
                     !have_cert ? ": it probably requires a client certificate (cert_file, key_file)"
                     : alert == 48 || alert == 42 || alert == 46
                         ? ": it does not accept our client certificate" : "");
        } else if (ret == MBEDTLS_ERR_SSL_TIMEOUT) {
            snprintf(why, whylen, "TLS handshake timed out: is %s:%s a TLS port?", host, port);
        } else {
            mbedtls_strerror(ret, buf, sizeof buf);
            snprintf(why, whylen, "TLS handshake failed: %s", buf);
        }
        goto out;
    }
    snprintf(why, whylen, "TLS handshake succeeded (%s, %s)", mbedtls_ssl_get_version(&ssl),
             mbedtls_ssl_get_ciphersuite(&ssl));
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
