/* keyfile: secret keys read from files that no other user may read. A key file
 * holds the key as hex (64 hex digits for AES-256, 32 for AES-128; whitespace
 * ignored) or, for an HMAC key, any text (a trailing newline is not part of it). */
#ifndef GANZHI_KEYFILE_H
#define GANZHI_KEYFILE_H

#include <stddef.h>

/* Read path into key (room for max bytes): hex when want_hex, else raw. Refuses
 * a file readable or writable by group or others. 0 and *len, or -1 with a
 * reason in err (never the key itself). */
int keyfile_read(const char *path, int want_hex, unsigned char *key, size_t max, size_t *len,
                 char *err, size_t errlen);

#endif
