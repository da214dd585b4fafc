#include "store/sqlfn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/addr.h"

static void in_net(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	struct prefix tmp, *p = sqlite3_get_auxdata(ctx, 1);
	if (p == NULL) {
		const char *net = (const char *)sqlite3_value_text(argv[1]);
		char err[160];
		if (net == NULL || prefix_parse_net(net, &tmp, err, sizeof(err)) < 0) {
			sqlite3_result_error(ctx, net ? err : "st_in_net: no network", -1);
			return;
		}
		p = &tmp;
		/* Kept for the statement's next rows (SQLite may decline: then
		 * it frees the copy at once and the next row parses again). */
		struct prefix *keep = malloc(sizeof(*keep));
		if (keep) {
			*keep = tmp;
			sqlite3_set_auxdata(ctx, 1, keep, free);
		}
	}
	const char *a = (const char *)sqlite3_value_text(argv[0]);
	uint8_t bin[16];
	int fam = a ? addr_parse_ip(a, bin) : 0;
	sqlite3_result_int(ctx, fam != 0 && fam == p->family && prefix_contains(p, bin));
}

int sqlfn_register(sqlite3 *db)
{
	return sqlite3_create_function(db, "st_in_net", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
	                               NULL, in_net, NULL, NULL) == SQLITE_OK
	           ? 0
	           : -1;
}
