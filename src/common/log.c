#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *procname = "sinktrap";
static int verbosity = LOG_LVL_INFO;

void log_procname(const char *name)
{
	procname = name;
}
void log_level_set(int level)
{
	verbosity = level;
}
int log_level_get(void)
{
	return verbosity;
}

static void vlog(int level, const char *tag, const char *fmt, va_list ap, const char *errstr)
{
	char msg[1024];
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	if (level > verbosity)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One write per line so lines from several processes do not mix. */
	char line[1300];
	int n;
	if (errstr)
		n = snprintf(line, sizeof(line), "%s.%03ldZ sinktrap[%d] %s: %s%s: %s\n", stamp,
		             ts.tv_nsec / 1000000, (int)getpid(), procname, tag, msg, errstr);
	else
		n = snprintf(line, sizeof(line), "%s.%03ldZ sinktrap[%d] %s: %s%s\n", stamp,
		             ts.tv_nsec / 1000000, (int)getpid(), procname, tag, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

#define LOGFN(name, level, tag, witherr)                                                       \
	void name(const char *fmt, ...)                                                        \
	{                                                                                      \
		int saved = errno;                                                             \
		va_list ap;                                                                    \
		va_start(ap, fmt);                                                             \
		vlog(level, tag, fmt, ap, witherr ? strerror(saved) : NULL);                   \
		va_end(ap);                                                                    \
		errno = saved;                                                                 \
	}

LOGFN(log_warn, LOG_LVL_WARN, "warning: ", 1)
LOGFN(log_warnx, LOG_LVL_WARN, "warning: ", 0)
LOGFN(log_info, LOG_LVL_INFO, "", 0)
LOGFN(log_debug, LOG_LVL_DEBUG, "debug: ", 0)

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, "fatal: ", fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, "fatal: ", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
