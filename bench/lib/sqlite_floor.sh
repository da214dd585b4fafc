# shellcheck shell=bash
# sqlite_floor DB WORKDIR TABLE...: the seconds the sqlite3 shell takes to copy
# the rows of each TABLE of DB (a sinktrap database) into a new database of the
# same schema, with the store's pragmas (16 KB pages, WAL, synchronous=NORMAL,
# 64 MB of cache, checkpoints every 2048 pages), in one INSERT ... SELECT
# transaction: what those rows cost SQLite alone, with no packet, no query, no
# JSON and no binding. Sourced by the benchmarks; needs sqlite3 and bc.
sqlite_floor() {
	local src=$1 d="$2/floor.db" sql="" t t0 t1
	shift 2
	for t in "$@"; do sql="$sql INSERT INTO $t SELECT * FROM s.$t;"; done
	rm -f "$d" "$d-wal" "$d-shm"
	{ echo "PRAGMA page_size=16384; PRAGMA journal_mode=WAL;"; sqlite3 "$src" .schema; } |
		sqlite3 "$d" >/dev/null
	sync
	t0=$EPOCHREALTIME
	sqlite3 "$d" "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;
		PRAGMA wal_autocheckpoint=2048; ATTACH '$src' AS s; BEGIN; $sql COMMIT;" >/dev/null
	t1=$EPOCHREALTIME
	rm -f "$d" "$d-wal" "$d-shm"
	echo "$t1 - $t0" | bc
}
