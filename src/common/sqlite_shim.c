/*
 * libsqlite3, opened at the first call (common/dynlib.h). The workers and
 * most commands use it; `sinktrap pcap --session` (the spool's indexes
 * alone), `version`, `check-config` and the DNS worker's answers do not,
 * and loading and relocating it (with libm) cost every start some 30 page
 * faults, about 0.6 ms here.
 */
#include <sqlite3.h>
#include <stdarg.h>

#include "dynlib.h"

static struct dynlib sqlite = DYNLIB_INIT("SQLite library (libsqlite3)", "libsqlite3.so.0");

DYNLIB_FN(sqlite, int, sqlite3_bind_int, (sqlite3_stmt * a0, int a1, int a2), (a0, a1, a2))
DYNLIB_FN(sqlite, int, sqlite3_bind_int64, (sqlite3_stmt * a0, int a1, sqlite3_int64 a2),
          (a0, a1, a2))
DYNLIB_FN(sqlite, int, sqlite3_bind_null, (sqlite3_stmt * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, int, sqlite3_bind_text,
          (sqlite3_stmt * a0, int a1, const char *a2, int a3, void (*a4)(void *)),
          (a0, a1, a2, a3, a4))
DYNLIB_FN(sqlite, int, sqlite3_busy_handler, (sqlite3 * a0, int (*a1)(void *, int), void *a2),
          (a0, a1, a2))
DYNLIB_FN(sqlite, int, sqlite3_busy_timeout, (sqlite3 * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, int, sqlite3_changes, (sqlite3 * a0), (a0))
DYNLIB_FN(sqlite, int, sqlite3_clear_bindings, (sqlite3_stmt * a0), (a0))
DYNLIB_FN(sqlite, int, sqlite3_close, (sqlite3 * a0), (a0))
DYNLIB_FN(sqlite, int, sqlite3_column_bytes, (sqlite3_stmt * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, int, sqlite3_column_count, (sqlite3_stmt * a0), (a0))
DYNLIB_FN(sqlite, double, sqlite3_column_double, (sqlite3_stmt * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, int, sqlite3_column_int, (sqlite3_stmt * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, const char *, sqlite3_column_name, (sqlite3_stmt * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, const unsigned char *, sqlite3_column_text, (sqlite3_stmt * a0, int a1),
          (a0, a1))
DYNLIB_FN(sqlite, int, sqlite3_column_type, (sqlite3_stmt * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, int, sqlite3_create_function,
          (sqlite3 * a0, const char *a1, int a2, int a3, void *a4,
           void (*a5)(sqlite3_context *, int, sqlite3_value **),
           void (*a6)(sqlite3_context *, int, sqlite3_value **), void (*a7)(sqlite3_context *)),
          (a0, a1, a2, a3, a4, a5, a6, a7))
DYNLIB_FN(sqlite, void *, sqlite3_get_auxdata, (sqlite3_context * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, const char *, sqlite3_errmsg, (sqlite3 * a0), (a0))
DYNLIB_FN(sqlite, int, sqlite3_exec,
          (sqlite3 * a0, const char *a1, int (*a2)(void *, int, char **, char **), void *a3,
           char **a4),
          (a0, a1, a2, a3, a4))
DYNLIB_FN(sqlite, int, sqlite3_finalize, (sqlite3_stmt * a0), (a0))
DYNLIB_FN(sqlite, int, sqlite3_get_autocommit, (sqlite3 * a0), (a0))
DYNLIB_VOID(sqlite, sqlite3_free, (void *a0), (a0))
DYNLIB_FN(sqlite, int, sqlite3_open_v2, (const char *a0, sqlite3 **a1, int a2, const char *a3),
          (a0, a1, a2, a3))
DYNLIB_FN(sqlite, int, sqlite3_prepare_v2,
          (sqlite3 * a0, const char *a1, int a2, sqlite3_stmt **a3, const char **a4),
          (a0, a1, a2, a3, a4))
DYNLIB_FN(sqlite, int, sqlite3_prepare_v3,
          (sqlite3 * a0, const char *a1, int a2, unsigned int a3, sqlite3_stmt **a4,
           const char **a5),
          (a0, a1, a2, a3, a4, a5))
DYNLIB_FN(sqlite, int, sqlite3_reset, (sqlite3_stmt * a0), (a0))
DYNLIB_VOID(sqlite, sqlite3_progress_handler,
            (sqlite3 * a0, int a1, int (*a2)(void *), void *a3), (a0, a1, a2, a3))
DYNLIB_VOID(sqlite, sqlite3_result_error, (sqlite3_context * a0, const char *a1, int a2),
            (a0, a1, a2))
DYNLIB_VOID(sqlite, sqlite3_result_int, (sqlite3_context * a0, int a1), (a0, a1))
DYNLIB_FN(sqlite, int, sqlite3_step, (sqlite3_stmt * a0), (a0))
DYNLIB_VOID(sqlite, sqlite3_set_auxdata,
            (sqlite3_context * a0, int a1, void *a2, void (*a3)(void *)), (a0, a1, a2, a3))
DYNLIB_FN(sqlite, const unsigned char *, sqlite3_value_text, (sqlite3_value * a0), (a0))

/* Variadic: the options sinktrap sets take one int (SQLITE_CONFIG_MEMSTATUS)
 * or nothing (the threading modes). */
int sqlite3_config(int op, ...)
{
	int (*f)(int, ...) = DYNLIB_GET(sqlite, int, sqlite3_config, (int, ...));
	switch (op) {
	case SQLITE_CONFIG_SINGLETHREAD:
	case SQLITE_CONFIG_MULTITHREAD:
	case SQLITE_CONFIG_SERIALIZED:
		return f(op);
	case SQLITE_CONFIG_MEMSTATUS: {
		va_list ap;
		va_start(ap, op);
		int v = va_arg(ap, int);
		va_end(ap);
		return f(op, v);
	}
	default:
		return SQLITE_MISUSE;
	}
}
