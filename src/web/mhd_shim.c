/*
 * libmicrohttpd, opened at the first call (common/dynlib.h): only the web
 * worker loads it, and with it GnuTLS and its dependencies.
 */
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "../common/dynlib.h"

static struct dynlib mhd =
    DYNLIB_INIT("HTTP server library (libmicrohttpd)", "libmicrohttpd.so.12");

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port,
                                    MHD_AcceptPolicyCallback apc, void *apc_cls,
                                    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	va_list ap;
	va_start(ap, dh_cls);
	struct MHD_Daemon *d = DYNLIB_GET(mhd, struct MHD_Daemon *, MHD_start_daemon_va,
	                                  (unsigned int, uint16_t, MHD_AcceptPolicyCallback,
	                                   void *, MHD_AccessHandlerCallback, void *,
	                                   va_list))(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

/* Only the kinds that take no further argument are asked for here (the
 * client's address). */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *connection,
                                                        enum MHD_ConnectionInfoType info_type,
                                                        ...)
{
	return DYNLIB_GET(mhd, const union MHD_ConnectionInfo *, MHD_get_connection_info,
	                  (struct MHD_Connection *, enum MHD_ConnectionInfoType, ...))(
	    connection, info_type);
}

DYNLIB_VOID(mhd, MHD_stop_daemon, (struct MHD_Daemon * daemon), (daemon))
DYNLIB_FN(mhd, const char *, MHD_lookup_connection_value,
          (struct MHD_Connection * connection, enum MHD_ValueKind kind, const char *key),
          (connection, kind, key))
DYNLIB_FN(mhd, int, MHD_get_connection_values,
          (struct MHD_Connection * connection, enum MHD_ValueKind kind,
           MHD_KeyValueIterator iterator, void *iterator_cls),
          (connection, kind, iterator, iterator_cls))
DYNLIB_FN(mhd, enum MHD_Result, MHD_queue_response,
          (struct MHD_Connection * connection, unsigned int status_code,
           struct MHD_Response *response),
          (connection, status_code, response))
DYNLIB_FN(mhd, struct MHD_Response *, MHD_create_response_from_callback,
          (uint64_t size, size_t block_size, MHD_ContentReaderCallback crc, void *crc_cls,
           MHD_ContentReaderFreeCallback crfc),
          (size, block_size, crc, crc_cls, crfc))
DYNLIB_FN(mhd, struct MHD_Response *, MHD_create_response_from_buffer,
          (size_t size, void *buffer, enum MHD_ResponseMemoryMode mode), (size, buffer, mode))
DYNLIB_VOID(mhd, MHD_destroy_response, (struct MHD_Response * response), (response))
DYNLIB_FN(mhd, enum MHD_Result, MHD_add_response_header,
          (struct MHD_Response * response, const char *header, const char *content),
          (response, header, content))
