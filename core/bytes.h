/* bytes: byte strings written as site engineers write them in a DTU's manual:
 * plain text ("GZ0001"), or "hex:" and hex digits ("hex:FE 01 A0", blanks, ':'
 * and '-' between bytes allowed). Used for a DTU's registration and heartbeat
 * packets in the configuration, the CLI and the simulator. */
#ifndef GANZHI_BYTES_H
#define GANZHI_BYTES_H

#include <stddef.h>
#include <stdint.h>

#define BYTES_MAX 64    /* longest registration or heartbeat packet accepted */

/* Parse spec into out (room for cap bytes). 0 with *len set, or -1 with the
 * reason in err (empty, odd hex digits, not hex, longer than cap). */
int bytes_parse(const char *spec, uint8_t *out, size_t cap, size_t *len, char *err, size_t errlen);

/* Show b as text when every byte is printable ASCII, else as "hex:..". */
const char *bytes_format(const uint8_t *b, size_t n, char *buf, size_t buflen);

/* The offset of needle in hay, or -1. */
long bytes_find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m);

#endif
