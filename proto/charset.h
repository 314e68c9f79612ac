/* charset: the wire text in the charset a platform reads. Ganzhi encodes in
 * UTF-8; many legacy coal-mine platforms (and their upload folders) read GBK or
 * GB 18030, so a profile override (`override.charset = gbk`) converts each
 * message as it leaves the encoder. glibc's iconv does the conversion: no
 * library beyond libc. */
#ifndef GANZHI_CHARSET_H
#define GANZHI_CHARSET_H

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

#endif
