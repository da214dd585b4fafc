#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* fatal() and fatalx(): shown at every level */
#define LVL_FATAL (-1)

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

/*
 * Under systemd, stderr is a stream to the journal, which stamps each line
 * itself and reads its priority from a "<N>" prefix (sd-daemon(3)). The
 * journal says so in $JOURNAL_STREAM ("DEV:INODE" of that stream); when stderr
 * is still that stream, lines carry the priority and no time of their own.
 */
static int to_journal(void)
{
	static int known, journal;
	if (!known) {
		const char *e = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat st;
		known = 1;
		journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
		          fstat(STDERR_FILENO, &st) == 0 &&
		          (unsigned long long)st.st_dev == dev &&
		          (unsigned long long)st.st_ino == ino;
	}
	return journal;
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
	if (to_journal()) {
		/* sd-daemon's levels: 3 err (fatal), 4 warning, 6 info, 7 debug */
		int pri = level == LVL_FATAL      ? 3
		          : level == LOG_LVL_WARN ? 4
		          : level == LOG_LVL_INFO ? 6
		                                  : 7;
		n = snprintf(line, sizeof(line), "<%d>%s[%d]: %s%s%s%s\n", pri, procname,
		             (int)getpid(), tag, msg, errstr ? ": " : "", errstr ? errstr : "");
	} else if (errstr)
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
	vlog(LVL_FATAL, "fatal: ", fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LVL_FATAL, "fatal: ", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
