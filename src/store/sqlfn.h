/*
 * SQL functions for the readers of the store (the web worker, `sinktrap
 * sessions` and `pcap`), registered on each of their connections.
 */
#ifndef SINKTRAP_STORE_SQLFN_H
#define SINKTRAP_STORE_SQLFN_H

#include <sqlite3.h>

/*
 * st_in_net(ADDR, NET): 1 when the text address ADDR lies inside NET
 * ("10.0.0.0/8", "fd00::/64", a single address; host bits ignored), 0 when it
 * does not or is not an address. NET is parsed once per statement. An
 * unparsable NET is an SQL error naming it.
 */
int sqlfn_register(sqlite3 *db);

/*
 * A span h of the view sinkhole_map_spans holds the sessions row: h's domain
 * held the session's destination address when the session began (a recycled
 * address's earlier sessions stay its earlier domain's).
 */
#define SQL_SPAN_HOLDS_SESSION                                                                 \
	"h.address = sessions.dest_ip AND sessions.start_ts >= h.held_from AND (h.held_until " \
	"IS NULL OR sessions.start_ts < h.held_until)"

#endif
