#!/bin/bash
# What one `dns` row costs SQLite, part by part: 300,000 rows shaped as the
# store writes them (the events table of sinktrap's schema, version 3 columns,
# and the store's pragmas: WAL, 16 KB pages, 64 MB cache; one transaction),
# inserted by the sqlite3 shell itself so that no sinktrap code is timed, in
# four variants:
#
#   full        the JSON text (570 bytes) and every index a dns row touches
#   no-domain   as full, without the index on domain (names in random order)
#   no-json     as full, with an empty JSON text
#   bare        no JSON text and only the unique event_id index
#
# Each variant runs 3 times on a fresh database; the median CPU time (user +
# system, insert and commit) per row is printed. Bounded: about a minute.
#
#   bench/events/sqlite_rowcost.sh [ROWS]
set -euo pipefail

ROWS=${1:-300000}
command -v sqlite3 >/dev/null || { echo "missing: sqlite3 (apt-get install sqlite3)" >&2; exit 1; }
W=$(mktemp -d /tmp/sinktrap-rowcost-XXXXXX)
trap 'rm -rf "$W"' EXIT
PIN=""
[ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && PIN="taskset -c 1"

script() { # json-expression domain-index(yes/no) other-indexes(yes/no)
	cat <<EOF
PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824; PRAGMA wal_autocheckpoint=2048;
CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
  ts INTEGER NOT NULL, event_type TEXT NOT NULL, src_ip TEXT, src_port INTEGER,
  dest_ip TEXT, dest_port INTEGER, proto TEXT, community_id TEXT, domain TEXT,
  json TEXT NOT NULL, flow_id INTEGER, sensor TEXT, stored INTEGER);
EOF
	if [ "$3" = yes ]; then
		echo "CREATE INDEX events_ts ON events(ts);"
		echo "CREATE INDEX events_type_ts ON events(event_type, ts);"
		echo "CREATE INDEX events_src_ts ON events(src_ip, ts);"
		echo "CREATE INDEX events_dest_ts ON events(dest_ip, ts);"
		echo "CREATE INDEX events_community_id ON events(community_id) WHERE community_id IS NOT NULL;"
		echo "CREATE INDEX events_flow_id ON events(flow_id) WHERE flow_id IS NOT NULL;"
	fi
	[ "$2" = yes ] && echo "CREATE INDEX events_domain ON events(domain);"
	cat <<EOF
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $ROWS)
INSERT INTO events(event_id, ts, event_type, src_ip, src_port, dest_ip, dest_port, proto,
  domain, json, stored)
SELECT printf('%024x', x), 1795000000000000 + x, 'dns', '10.1.2.3', x % 60000, '10.0.0.53',
  53, 'UDP', 'host-' || (abs(random()) % 1000000) || '.evil.test', $1, 1795000000000000 + x
FROM c;
COMMIT;
EOF
}

# CPU seconds (user + system) of one run of the shell on a fresh database.
run_once() {
	rm -f "$W"/t.db*
	script "$@" >"$W/t.sql"
	local TIMEFORMAT='%3U %3S' t
	t=$({ time $PIN sqlite3 "$W/t.db" <"$W/t.sql" >/dev/null; } 2>&1)
	echo "$t" | awk '{printf "%.3f\n", $1 + $2}'
}

echo "rows: $ROWS per run; CPU time per row, median of 3 (sqlite3 $(sqlite3 --version | cut -d' ' -f1))"
for v in full no-domain no-json bare; do
	case $v in
	full) a=("printf('%570d', x)" yes yes) ;;
	no-domain) a=("printf('%570d', x)" no yes) ;;
	no-json) a=("''" yes yes) ;;
	bare) a=("''" no no) ;;
	esac
	secs=$( (for _ in 1 2 3; do run_once "${a[@]}"; done) | sort -n | sed -n 2p)
	awk -v t="$secs" -v n="$ROWS" -v v="$v" 'BEGIN { printf "  %-10s %5.1f us\n", v, t / n * 1e6 }'
done
