#!/bin/bash
# Event delivery benchmark: a real store worker (the code `sinktrap run` runs)
# fed DNS events at a fixed rate, delivering to
#   (1) a real rsyslog over TCP (RFC 5424, octet-counted) and SQLite,
#   (2) PostgreSQL (batched COPY + INSERT ... ON CONFLICT, one transaction per batch),
#   (3) all of them at once, plus the JSON lines file,
#   (4) rsyslog + SQLite again, unpaced: the ceiling.
# Per case: events/s as the receiver saw them arrive (first to last arrival),
# and per-event latency percentiles: the event's own timestamp (taken when it
# was made) to its arrival (rsyslog's receive time; the moment a SQLite reader
# sees the row; PostgreSQL's clock at the insert, inside the committing
# transaction). Everything runs on 127.0.0.1; servers are started here and
# stopped at the end.
#
#   bench/events/run.sh [--quick] [--duration S] [--rate N] [--pg-rate N] [--no-docs] [--keep]
#
# Results: bench/events/build-bench/results-<time>/ and, unless --no-docs, the
# section "Event delivery" of docs/benchmarks.md (replaced, the rest kept).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BB="$HERE/build-bench"
DURATION=20
RATE=50000
PG_RATE=25000
ALL_RATE=20000
DOCS=1
KEEP=0
PGBIN=/usr/lib/postgresql/15/bin

usage() {
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) DURATION=5 ;;
	--duration) DURATION=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--pg-rate) PG_RATE=$2; shift ;;
	--no-docs) DOCS=0 ;;
	--keep) KEEP=1 ;;
	*) usage ;;
	esac
	shift
done

for t in cc rsyslogd "$PGBIN/initdb" /usr/bin/python3; do
	command -v "$t" >/dev/null || { echo "missing: $t (scripts/deps.sh test)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import psycopg2' || { echo "missing: python3-psycopg2" >&2; exit 1; }
[ -f "$ROOT/build/libsinktrap_core.a" ] || { echo "build first: ninja -C build" >&2; exit 1; }

mkdir -p "$BB"
# Linked as the sinktrap binary is: its link arguments from the build.
LINKARGS=$(awk '/^build sinktrap:/ {f = 1; next} f && /^ *LINK_ARGS = / {sub(/^ *LINK_ARGS = /, ""); print; exit}' \
	"$ROOT/build/build.ninja")
[ -n "$LINKARGS" ] || { echo "no link arguments for sinktrap in build/build.ninja" >&2; exit 1; }
# shellcheck disable=SC2086
(cd "$ROOT/build" && cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$ROOT/src" -o "$BB/evbench" \
	"$HERE/evbench.c" $LINKARGS)

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
RES="$BB/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RES"
W=$(mktemp -d /tmp/sinktrap-evbench-XXXXXX)
chmod 755 "$W"
RSPID=""
cleanup() {
	[ -n "$RSPID" ] && kill "$RSPID" 2>/dev/null || true
	if [ -f "$W/pg/data/postmaster.pid" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	if [ "$KEEP" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

RSPORT=$(free_port)
start_rsyslog() { # output file
	[ -n "$RSPID" ] && { kill "$RSPID"; wait "$RSPID" 2>/dev/null || true; RSPID=""; }
	cat >"$W/rsyslog.conf" <<EOF
global(workDirectory="$W" maxMessageSize="64k")
module(load="imtcp")
template(name="lat" type="string" string="%timereported:::date-rfc3339% %timegenerated:::date-rfc3339%\n")
ruleset(name="r") { action(type="omfile" file="$1" template="lat") }
input(type="imtcp" address="127.0.0.1" port="$RSPORT" ruleset="r")
EOF
	rsyslogd -n -f "$W/rsyslog.conf" -i "$W/rsyslogd.pid" >>"$RES/rsyslogd.log" 2>&1 &
	RSPID=$!
	for _ in $(seq 100); do
		/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$RSPORT),0.2)" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "rsyslogd did not start" >&2
	exit 1
}

PGPORT=$(free_port)
mkdir -p "$W/pg"
chown postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 \
	--locale=C >"$RES/initdb.log" 2>&1
# The server's defaults for durability (fsync, synchronous_commit on).
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/postgres.log" -w -o \
	"-k $W/pg -p $PGPORT -c listen_addresses=127.0.0.1" start >/dev/null

mkdb() {
	/usr/bin/python3 - "$PGPORT" "$1" <<'EOF'
import sys, psycopg2
c = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres", dbname="postgres")
c.autocommit = True
c.cursor().execute(f'CREATE DATABASE "{sys.argv[2]}"')
EOF
}

# CPU clock ticks a process (and its reaped children) used so far; 0 if there is none.
cpu_ticks() {
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
	awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}
# The PostgreSQL server started here: its postmaster and every backend.
pg_ticks() {
	local pm t=0 p
	pm=$(head -1 "$W/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
	for p in "$pm" $(pgrep -P "$pm"); do
		t=$((t + $(cpu_ticks "$p")))
	done
	echo "$t"
}
CPUROWS="$RES/cpu.md"
: >"$CPUROWS"
cpu_row() { # case evbench-output receiver-ticks
	/usr/bin/python3 - "$@" "$(getconf CLK_TCK)" <<'EOF' | tee -a "$CPUROWS"
import re, sys
case, path, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(path).read()
sent = int(re.search(r"sent=(\d+)", text).group(1))
st = float(re.search(r"cpu_store_us=([\d.]+)", text).group(1))
sk = float(re.search(r"cpu_sinks_us=([\d.]+)", text).group(1))
rc = ticks / hz * 1e6 / sent
tot = st + sk + rc
print(f"| {case} | {st:.1f} | {sk:.1f} | {rc:.1f} | {tot:.1f} | {2e6 / tot:,.0f} |")
EOF
}

SUMMARY="$RES/summary.md"
: >"$SUMMARY"
row() { echo "$1" | tee -a "$SUMMARY"; }

# name rate sqlite(yes/no) json(yes/no) syslog(yes/no) pg(yes/no)
run_case() {
	local name=$1 rate=$2 sqlite=$3 json=$4 syslog=$5 pg=$6
	local sd="$W/$name"
	mkdir -p "$sd"
	{
		echo "[sinktrap]"
		echo "state_dir = $sd"
		echo "[dns]"
		echo "enabled = no"
		echo "[events]"
		echo "sqlite = $sqlite"
		if [ "$json" = yes ]; then echo "json = $sd/events.json"; else echo "json = no"; fi
		[ "$syslog" = yes ] && echo "syslog = tcp://127.0.0.1:$RSPORT format=rfc5424 name=siem"
		if [ "$pg" = yes ]; then
			mkdb "$name"
			echo "database = postgresql://postgres@127.0.0.1:$PGPORT/$name"
		fi
	} >"$sd/sinktrap.conf"
	[ "$syslog" = yes ] && start_rsyslog "$W/$name.rsyslog"
	local poller=""
	if [ "$sqlite" = yes ]; then
		/usr/bin/python3 "$HERE/analyze.py" poll-sqlite "$sd/sinktrap.db" "$W/$name.sqlite" \
			$((DURATION + 60)) &
		poller=$!
	fi
	echo "== $name: $rate events/s offered for ${DURATION}s (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
	local rs0 pg0 rs1 pg1
	rs0=$(cpu_ticks "$RSPID")
	pg0=$(pg_ticks)
	"$BB/evbench" -c "$sd/sinktrap.conf" -r "$rate" -d "$DURATION" | tee "$RES/$name.evbench"
	rs1=$(cpu_ticks "$RSPID")
	pg1=$(pg_ticks)
	local offered
	offered=$(sed -n 's/.*offered_rate=\([0-9]*\).*/\1/p' "$RES/$name.evbench")
	cpu_row "$name" "$RES/$name.evbench" $((rs1 - rs0 + pg1 - pg0))
	if [ -n "$poller" ]; then
		# The poller has seen the last rows once the store committed them.
		sleep 1
		kill "$poller" 2>/dev/null || true
		wait "$poller" 2>/dev/null || true
		/usr/bin/python3 "$HERE/analyze.py" sqlite-lat "$W/$name.sqlite" >"$RES/$name.sqlite.json"
		emit_row "$name" "$rate" "$offered" "SQLite (visible to a reader)" "$RES/$name.sqlite.json"
	fi
	if [ "$syslog" = yes ]; then
		sleep 1
		/usr/bin/python3 "$HERE/analyze.py" rsyslog "$W/$name.rsyslog" >"$RES/$name.rsyslog.json"
		emit_row "$name" "$rate" "$offered" "rsyslog TCP (received)" "$RES/$name.rsyslog.json"
	fi
	if [ "$pg" = yes ]; then
		/usr/bin/python3 "$HERE/analyze.py" pg 127.0.0.1 "$PGPORT" "$name" >"$RES/$name.pg.json"
		emit_row "$name" "$rate" "$offered" "PostgreSQL (inserted)" "$RES/$name.pg.json"
	fi
}

emit_row() { # case target offered sink json
	/usr/bin/python3 - "$@" <<'EOF' | tee -a "$SUMMARY"
import json, sys
case, target, offered, sink, path = sys.argv[1:]
j = json.load(open(path))
l = j.get("latency_ms", {})
target = "as fast as taken" if int(target) == 0 else f"{int(target):,}"
print(f"| {case} | {target} | {int(offered):,} | {sink} | {j['count']:,} | {j['rate']:,} | "
      f"{l.get('p50', '-')} | {l.get('p90', '-')} | {l.get('p99', '-')} | "
      f"{l.get('p99.9', '-')} | {l.get('max', '-')} |")
EOF
}

{
	echo "| case | target ev/s | taken ev/s | sink | events | ev/s at the sink | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |"
	echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
} >>"$SUMMARY"

run_case rsyslog_sqlite "$RATE" yes no yes no
run_case postgresql "$PG_RATE" no no no yes
run_case all_sinks "$ALL_RATE" yes yes yes yes
run_case rsyslog_sqlite_max 0 yes no yes no

{
	echo
	echo "| case | store thread µs/event | delivery threads µs/event | receivers µs/event | total µs/event | events/s 2 idle cores could carry |"
	echo "|---|---:|---:|---:|---:|---:|"
	cat "$CPUROWS"
} >>"$SUMMARY"
echo
cat "$SUMMARY"

if [ "$DOCS" = 1 ]; then
	DOC="$ROOT/docs/benchmarks.md"
	CPU=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
	RSV=$(rsyslogd -v | head -1 | awk '{print $2}' | tr -d ,)
	PGV=$("$PGBIN/postgres" --version | awk '{print $3}')
	/usr/bin/python3 - "$DOC" "$SUMMARY" "$DURATION" "$RATE" "$PG_RATE" "$ALL_RATE" "$CPU" \
		"$(nproc)" "$RSV" "$PGV" "$LOAD0" <<'EOF'
import re, sys, datetime, os
doc, summ, dur, rate, pgrate, allrate, cpu, ncpu, rsv, pgv, load = sys.argv[1:]
table = open(summ).read().strip()
sec = f"""## Event delivery

`bench/events/run.sh` ({datetime.date.today()}, {ncpu} cores: {cpu}; rsyslog {rsv},
PostgreSQL {pgv} with its default durability: fsync and synchronous_commit on).
A real store worker is fed DNS events (about 700 bytes of JSON each) over its producer
channel at a fixed rate for {dur} s, as the DNS worker would feed it (`target`); `taken` is
the rate the store actually took them at (lower when the machine could not keep up), and
`ev/s at the sink` counts them between the first and the last arrival there. Latency is per event, from
the event's own timestamp to its arrival: rsyslog's receive time (`timegenerated`), the
moment a reader polling SQLite every 20 ms sees the row (the store commits every 200 ms),
PostgreSQL's clock at the insert (in the transaction that commits the batch). Every
remote event first goes through its delivery queue on disk (written before the store
takes the next message, fdatasync at every commit tick).

{table}

The second table is what each event cost in CPU time (store thread; delivery threads, which
format and send; the receivers: rsyslog, or every PostgreSQL process), measured from `/proc`, and
the rate two otherwise idle cores could carry at that cost. It does not depend on what else runs
on the machine, the rates above do: the load average was {load} when this run started.

Cases: `rsyslog_sqlite` offers {int(rate):,} events/s to rsyslog over TCP (RFC 5424) and
SQLite; `postgresql` offers {int(pgrate):,}/s to PostgreSQL alone; `all_sinks` offers
{int(allrate):,}/s to rsyslog, SQLite, PostgreSQL and the JSON file at once;
`rsyslog_sqlite_max` sends as fast as the store takes them (the ceiling on this machine;
its latency is that of a saturated pipeline, queues full).
"""
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
m = re.search(r"^## Event delivery\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
if m:
    text = text[:m.start()] + sec + "\n" + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + sec
open(doc, "w").write(text.rstrip("\n") + "\n")
print(f"updated {doc}")
EOF
fi
