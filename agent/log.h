/* log: one line an event on stderr, "level component[instance]: message".
 * Levels per component ("info, uplink=debug, device=warn"); an error or warning
 * repeated word for word within a few seconds is written once, and the next
 * time it passes says how many were held back. */
#ifndef GANZHI_LOG_H
#define GANZHI_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
/* Check a log_level setting: a level, then optional component=level pairs,
 * comma-separated. 0, or -1 with what is wrong in err. */
int log_spec_check(const char *spec, char *err, size_t errlen);
/* Apply a (checked) setting. */
void log_configure(const char *spec);

/* instance may be NULL for components that have only one. */
void log_msg(enum log_level level, const char *component, const char *instance,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(c, i, ...) log_msg(LOG_ERROR, c, i, __VA_ARGS__)
#define log_warn(c, i, ...)  log_msg(LOG_WARN, c, i, __VA_ARGS__)
#define log_info(c, i, ...)  log_msg(LOG_INFO, c, i, __VA_ARGS__)
#define log_debug(c, i, ...) log_msg(LOG_DEBUG, c, i, __VA_ARGS__)

#endif
