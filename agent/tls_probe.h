/* tls_probe: one TLS handshake done with mbedTLS, apart from paho's, to say in
 * plain words why a broker's TLS refused us or we refused it (untrusted or
 * misnamed broker certificate, a client certificate required or refused, an
 * expired certificate, a key that does not match its certificate). paho only
 * reports "connect failure"; a field engineer needs the reason. */
#ifndef GANZHI_TLS_PROBE_H
#define GANZHI_TLS_PROBE_H

#include <stddef.h>

/* Handshake with host:port verifying the broker against ca_file and its name;
 * cert_file/key_file may be NULL. Returns 0 if the handshake succeeds, else -1
 * with the reason in why. */
int tls_probe(const char *host, const char *port, const char *ca_file, const char *cert_file,
              const char *key_file, int timeout_ms, char *why, size_t whylen);

#endif
