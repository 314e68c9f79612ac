/* num: strict number parsing for configuration values, command-line options and
 * point tables: the whole string must be the number, in range; anything else is
 * an error in words ("'7x' is not an integer", "'70000' out of range (1..65535)"). */
#ifndef GANZHI_NUM_H
#define GANZHI_NUM_H

#include <stddef.h>

/* A decimal integer in lo..hi: no blanks, no '+', no trailing junk. 0, or -1
 * with the reason in err. */
int num_parse_long(const char *s, long lo, long hi, long *out, char *err, size_t errlen);

/* A finite decimal number (digits, sign, '.', exponent; no blanks, hex, inf or
 * nan). 0, or -1 with the reason in err. */
int num_parse_double(const char *s, double *out, char *err, size_t errlen);

#endif
