/*
 * libpq, opened at the first call (common/dynlib.h): only a store with a
 * PostgreSQL destination, and the config checks of one, load it.
 */
#include <libpq-fe.h>

#include "../common/dynlib.h"
#include "sinkspec.h"

static struct dynlib pq = DYNLIB_INIT("PostgreSQL client library (libpq)", "libpq.so.5");

DYNLIB_FN(pq, PGconn *, PQconnectdbParams,
          (const char *const *keywords, const char *const *values, int expand_dbname),
          (keywords, values, expand_dbname))
DYNLIB_FN(pq, PGconn *, PQconnectStartParams,
          (const char *const *keywords, const char *const *values, int expand_dbname),
          (keywords, values, expand_dbname))
DYNLIB_FN(pq, PostgresPollingStatusType, PQconnectPoll, (PGconn * conn), (conn))
DYNLIB_VOID(pq, PQfinish, (PGconn * conn), (conn))
DYNLIB_FN(pq, ConnStatusType, PQstatus, (const PGconn *conn), (conn))
DYNLIB_FN(pq, char *, PQerrorMessage, (const PGconn *conn), (conn))
DYNLIB_FN(pq, int, PQsocket, (const PGconn *conn), (conn))
DYNLIB_FN(pq, const char *, PQparameterStatus, (const PGconn *conn, const char *paramName),
          (conn, paramName))
DYNLIB_FN(pq, PQnoticeProcessor, PQsetNoticeProcessor,
          (PGconn * conn, PQnoticeProcessor proc, void *arg), (conn, proc, arg))
DYNLIB_FN(pq, int, PQsendQuery, (PGconn * conn, const char *query), (conn, query))
DYNLIB_FN(pq, int, PQsetnonblocking, (PGconn * conn, int arg), (conn, arg))
DYNLIB_FN(pq, int, PQflush, (PGconn * conn), (conn))
DYNLIB_FN(pq, int, PQisBusy, (PGconn * conn), (conn))
DYNLIB_FN(pq, PGresult *, PQgetResult, (PGconn * conn), (conn))
DYNLIB_FN(pq, ExecStatusType, PQresultStatus, (const PGresult *res), (res))
DYNLIB_FN(pq, int, PQntuples, (const PGresult *res), (res))
DYNLIB_FN(pq, char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num),
          (res, tup_num, field_num))
DYNLIB_VOID(pq, PQclear, (PGresult * res), (res))
DYNLIB_FN(pq, int, PQputCopyData, (PGconn * conn, const char *buffer, int nbytes),
          (conn, buffer, nbytes))
DYNLIB_FN(pq, int, PQputCopyEnd, (PGconn * conn, const char *errormsg), (conn, errormsg))
DYNLIB_FN(pq, int, PQconsumeInput, (PGconn * conn), (conn))
DYNLIB_FN(pq, PGnotify *, PQnotifies, (PGconn * conn), (conn))
DYNLIB_VOID(pq, PQfreemem, (void *ptr), (ptr))
DYNLIB_FN(pq, PQconninfoOption *, PQconninfoParse, (const char *conninfo, char **errmsg),
          (conninfo, errmsg))
DYNLIB_VOID(pq, PQconninfoFree, (PQconninfoOption * connOptions), (connOptions))

int pq_ready(char *err, size_t errlen)
{
	return dynlib_ready(&pq, err, errlen);
}
