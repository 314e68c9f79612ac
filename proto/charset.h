/* charset: text between UTF-8 and the Chinese national charsets. Ganzhi works
 * in UTF-8; many legacy coal-mine platforms (and their upload folders) read GBK
 * or GB 18030, so a profile override (`override.charset = gbk`) converts each
 * message as it leaves the encoder; and a point table saved by Excel on a
 * Chinese Windows is GBK, converted as it is read (`points_charset`). glibc's
 * iconv does the conversion: no library beyond libc. */
#ifndef GANZHI_CHARSET_H
#define GANZHI_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

/* The iconv name of a charset a profile may name ("utf-8", "gbk", "gb18030",
 * any case), or NULL if it is not one of them. */
const char *charset_iconv_name(const char *name);

/* UTF-8 text (NUL-terminated, len bytes) converted to `to` (an iconv name), in
 * a new NUL-terminated buffer; *outlen its length. A character the charset
 * cannot hold becomes '?', counted in *replaced (a platform gets every message,
 * never none). NULL when out of memory or `to` is unknown to iconv. */
char *charset_from_utf8(const char *to, const char *text, size_t len, size_t *outlen,
                        size_t *replaced);
/* The other way, for a captured message (`ganzhi validate --charset gbk`): text
 * in `from` converted to UTF-8; a byte that is not `from` becomes '?'. */
char *charset_to_utf8(const char *from, const char *text, size_t len, size_t *outlen,
                      size_t *replaced);

/* The same, for text that must be exact (a point table): each byte sequence
 * that is not `from` is passed to bad(arg, offset), offsets increasing, and
 * becomes '?'. NULL when out of memory or `from` is unknown to iconv. */
char *charset_to_utf8_checked(const char *from, const char *text, size_t len, size_t *outlen,
                              void (*bad)(void *arg, size_t offset), void *arg);

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0: overlong forms,
 * surrogates, code points past U+10FFFF and cut sequences are invalid. A NUL
 * byte is a valid sequence of 1. */
size_t charset_utf8_seq(const unsigned char *s, size_t n);
/* Whether all len bytes at s are valid UTF-8. */
bool charset_utf8_valid(const char *s, size_t len);

#endif
