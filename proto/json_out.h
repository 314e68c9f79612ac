/* json_out: a growing buffer that JSON text is written into directly. The realtime
 * encoders run once per reading at up to 100k readings/s, where building a cJSON
 * tree and printing it (an allocation per key, sprintf and sscanf per number)
 * cost more than polling, storing and sending together. */
#ifndef GANZHI_JSON_OUT_H
#define GANZHI_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct json_out {
    char *buf;
    size_t len, cap;
    int failed;     /* an allocation failed; the text is incomplete */
};

void json_init(struct json_out *j);
/* With room for about `hint` bytes from the start (no regrowing a big message). */
void json_init_hint(struct json_out *j, size_t hint);
/* The NUL-terminated text, handed to the caller (free()); NULL if failed. */
char *json_take(struct json_out *j);
void json_free(struct json_out *j);

void json_raw_grow(struct json_out *j, const char *s, size_t n);
/* Inline: the encoders append a few bytes at a time, tens of times a reading. */
static inline void json_raw(struct json_out *j, const char *s, size_t n)
{
    if (j->len + n > j->cap) {
        json_raw_grow(j, s, n);
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}
#define json_lit(j, s) json_raw((j), (s), sizeof(s) - 1)
/* A quoted, escaped string (UTF-8 passes through). */
void json_str(struct json_out *j, const char *s);
void json_u64(struct json_out *j, uint64_t v);
/* The shortest text that reads back as exactly v; null for NaN or infinity. */
void json_num(struct json_out *j, double v);

#endif
