/* log: one line an event on stderr, "level component[instance]: message". */
#ifndef GANZHI_LOG_H
#define GANZHI_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
/* instance may be NULL for components that have only one. */
void log_msg(enum log_level level, const char *component, const char *instance,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(c, i, ...) log_msg(LOG_ERROR, c, i, __VA_ARGS__)
#define log_warn(c, i, ...)  log_msg(LOG_WARN, c, i, __VA_ARGS__)
#define log_info(c, i, ...)  log_msg(LOG_INFO, c, i, __VA_ARGS__)
#define log_debug(c, i, ...) log_msg(LOG_DEBUG, c, i, __VA_ARGS__)

#endif
