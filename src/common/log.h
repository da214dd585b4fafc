/*
 * Logging: four verbs and two fatal variants, in the manner of OpenBSD's
 * daemons. Every line is prefixed with the process name ("parent", "dns",
 * "store", ...) so interleaved output from the workers stays readable.
 */
#ifndef SINKTRAP_LOG_H
#define SINKTRAP_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_WARN = 0, LOG_LVL_INFO = 1, LOG_LVL_DEBUG = 2 };

/* Set the process name shown in every line (borrowed: must outlive use). */
void log_procname(const char *name);
/* Messages above this level are dropped. */
void log_level_set(int level);
int log_level_get(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal() appends strerror(errno); both exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
