/* tls_probe: one TLS handshake done with mbedTLS, apart from paho's, to say in
 * plain words why a broker's TLS refused us or we refused it (untrusted or
 * misnamed broker certificate, a client certificate required or refused, an
 * expired certificate, a key that does not match its certificate). paho only
 * reports "connect failure"; a field engineer needs the reason. */
#ifndef GANZHI_TLS_PROBE_H
#define GANZHI_TLS_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* Handshake with host:port verifying the broker against ca_file and its name;
 * cert_file/key_file may be NULL. Returns 0 if the handshake succeeds, else -1
 * with the reason in why. */
int tls_probe(const char *host, const char *port, const char *ca_file, const char *cert_file,
              const char *key_file, int timeout_ms, char *why, size_t whylen);

/* What a certificate says, for people. Times are UTC, "YYYY-MM-DD HH:MM:SS". */
struct tls_cert_info {
    char subject[256], issuer[256];
    char names[256];        /* subjectAltName DNS entries, "a, b" ("" when none) */
    char not_before[24], not_after[24];
    long days_left;         /* whole days until not_after; negative once expired */
};

/* Read cert_file (the first certificate in it) and, when key_file is not NULL,
 * whether that private key belongs to it (mbedtls_pk_check_pair). key_match is
 * 1 yes, 0 no, -1 not checked (no key_file, or it cannot be read: then why says
 * so and the return is still 0). Returns 0, or -1 if the certificate cannot be
 * read, with the reason in why. Never prints key material. */
int tls_cert_inspect(const char *cert_file, const char *key_file, struct tls_cert_info *info,
                     int *key_match, char *why, size_t whylen);

/* What one diagnostic handshake found. */
struct tls_details {
    int handshake_ok;           /* the TLS handshake completed */
    int verified;               /* ...and the broker's certificate verified: chain and name */
    int trusted;                /* the chain leads to ca_file (or the system CAs without one) */
    int name_ok;                /* the broker's certificate names the host we dialled */
    int expired;                /* the broker's certificate is out of its validity dates */
    int have_peer;              /* peer below is filled */
    struct tls_cert_info peer;  /* the broker's own certificate */
    char version[16], ciphersuite[96];
    char verify_info[256];      /* mbedTLS's words for a failed verification */
    int client_cert_requested;  /* the broker asked for a client certificate */
    int client_cert_sent;       /* we had one to give */
    int alert;                  /* fatal alert the broker sent, 0 none */
    int64_t handshake_ms;
};

/* Like tls_probe, but the handshake goes on past a broker certificate that does
 * not verify so that its details can be shown, and everything found is returned
 * in d. Returns 0 if the handshake succeeded and the broker verified; -1 with the
 * reason in plain words in why ("TLS handshake failed: ..."). A client key that
 * does not match its certificate is not offered (the handshake goes on without a
 * client certificate). */
int tls_probe_details(const char *host, const char *port, const char *ca_file,
                      const char *cert_file, const char *key_file, int timeout_ms,
                      struct tls_details *d, char *why, size_t whylen);

#endif
