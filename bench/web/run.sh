#!/bin/bash
# The web API and page under load, on a store of a busy month: 1,000,000
# events and 1,000,000 sessions (bench/web/gen.py, into the schema sinktrap
# itself creates) and a real PCAP spool (bench/web/genpcap.py, through
# `sinktrap ingest`). wrk against every list call and the host page: p50, p95
# and p99 per endpoint (target: p95 under 100 ms). Then a session's PCAP
# through the API against `sinktrap pcap --session ID -w -`.
#
#   flock /tmp/sinktrap-heavy.lock bench/web/run.sh
#
# Environment: EVENTS, SESSIONS, SEED (the store; kept in bench/web/out/ for
# the next run with the same values), DURATION (seconds of wrk per endpoint,
# 8), CONNS (wrk connections, 4), LIMIT (hard time limit of the whole run in
# seconds, 1200), SINKTRAP (the binary, build/sinktrap).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SINKTRAP:-$ROOT/build/sinktrap}
EVENTS=${EVENTS:-1000000}
SESSIONS=${SESSIONS:-1000000}
SEED=${SEED:-1}
DURATION=${DURATION:-8}
CONNS=${CONNS:-4}
LIMIT=${LIMIT:-1200}
OUT=$ROOT/bench/web/out
STORE=$OUT/store-$EVENTS-$SESSIONS-$SEED
PY=/usr/bin/python3
TOKEN=bench-web-token-0123456789
PORT=${PORT:-28480}

[ -x "$BIN" ] || { echo "no $BIN: build first (ninja -C build)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 2; }

WORK=$(mktemp -d /tmp/sinktrap-bench-web.XXXXXX)
WEB_PID=
WATCH_PID=
MAKING=
cleanup() {
	# A store left half made is made again by the next run.
	[ -n "$MAKING" ] && [ ! -f "$STORE/done" ] && rm -rf "$STORE"
	[ -n "$WEB_PID" ] && kill "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null || true
	# the watchdog's sleep too: it holds whatever descriptors (and locks) the run inherited
	[ -n "$WATCH_PID" ] && { pkill -P "$WATCH_PID" 2>/dev/null; kill "$WATCH_PID" 2>/dev/null; } || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench/web: stopped" >&2; exit 124' TERM INT
# The hard limit: whatever happens, the run ends (and cleans up) by then.
( sleep "$LIMIT"; echo "bench/web: time limit of ${LIMIT}s reached" >&2; kill -TERM $$ ) &
WATCH_PID=$!
disown "$WATCH_PID"

t_start=$(date +%s)
mkdir -p "$OUT"

# --- the store: made once per EVENTS/SESSIONS/SEED, then reused ------------------
if [ ! -f "$STORE/done" ]; then
	echo "making the store in $STORE (once)..."
	rm -rf "$STORE"
	MAKING=1
	tmp=$STORE
	mkdir -p "$tmp/state"
	$PY "$ROOT/bench/web/genpcap.py" "$tmp/capture.pcap" --mb 48
	cat >"$tmp/conf" <<EOF
[sinktrap]
state_dir = $tmp/state
log_level = warning
[dns]
listen = 127.0.0.1:9
upstream = 127.0.0.1:9
blocklist = $tmp/list.hosts
sinkhole_ipv4 = 10.66.0.0/16
[events]
sqlite = yes
EOF
	: >"$tmp/list.hosts"
	# sinktrap makes the database (its migrations), the spool and the
	# captured sessions; gen.py adds a month of a busy sensor to it.
	"$BIN" ingest -c "$tmp/conf" -q "$tmp/capture.pcap"
	$PY "$ROOT/bench/web/gen.py" "$tmp/state/sinktrap.db" --events "$EVENTS" \
		--sessions "$SESSIONS" --seed "$SEED" --list "$tmp/list.hosts" >"$tmp/summary.json"
	rm -f "$tmp/capture.pcap"
	touch "$STORE/done"
	echo "store made in $(($(date +%s) - t_start)) s"
fi
summary() { $PY -c "import json,sys; print(json.load(open('$STORE/summary.json'))['$1'])"; }
BUSY=$(summary busy_host)
TYPICAL=$(summary typical_host)
FAMILY=$(summary family)
DOMAIN=$(summary domain)
SINCE=$(summary day_since)
UNTIL=$(summary day_until)

printf 'bench:%s\n' "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" >"$WORK/tokens"
cat >"$WORK/conf" <<EOF
[sinktrap]
state_dir = $STORE/state
log_level = warning
[dns]
listen = 127.0.0.1:9
upstream = 127.0.0.1:9
blocklist = $STORE/list.hosts
sinkhole_ipv4 = 10.66.0.0/16
[web]
enabled = yes
listen = 127.0.0.1:$PORT
tokens = $WORK/tokens
EOF

"$BIN" web -c "$WORK/conf" >"$WORK/web.log" 2>&1 &
WEB_PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 100); do
	curl -s -o /dev/null "$BASE/login" && break
	sleep 0.1
done
AUTH="Authorization: Bearer $TOKEN"
# The first call after the worker starts counts every stored event once
# (the worker starts that at once on its own; this waits for it).
first=$(curl -s -o /dev/null -w '%{time_total}' -H "$AUTH" "$BASE/api/stats")
first_check=$(curl -s -o /dev/null -w '%{time_total}' -H "$AUTH" "$BASE/api/lists/check?name=$DOMAIN")
echo "first /api/stats after start: ${first}s; first /api/lists/check: ${first_check}s"

ENDPOINTS=(
	"/api/stats"
	"/api/hosts"
	"/api/hosts?offset=2000"
	"/api/hosts/$BUSY"
	"/api/hosts/$TYPICAL"
	"/api/dns"
	"/api/dns?host=$TYPICAL"
	"/api/dns?domain=$FAMILY"
	"/api/dns?since=$SINCE&until=$UNTIL"
	"/api/dns?offset=5000"
	"/api/trap"
	"/api/trap?port=443"
	"/api/trap?host=$BUSY"
	"/api/events?type=fileinfo"
	"/api/sessions"
	"/api/sessions?host=$TYPICAL"
	"/api/sessions?port=443"
	"/api/sessions?domain=$FAMILY"
	"/api/sessions?since=$SINCE&until=$UNTIL"
	"/api/payloads"
	"/api/payloads?host=$BUSY"
	"/api/lists"
	"/api/lists/check?name=$DOMAIN"
	"/"
	"/app.js"
)
THREADS=$((CONNS < 2 ? CONNS : 2))
RES=$WORK/results
: >"$RES"
printf '%-46s %8s %8s %8s %9s %8s %6s\n' endpoint p50_ms p95_ms p99_ms req/s requests errors
for ep in "${ENDPOINTS[@]}"; do
	curl -s -o /dev/null -H "$AUTH" "$BASE$ep"
	line=$(timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s \
		-s "$ROOT/bench/web/report.lua" -H "$AUTH" "$BASE$ep" | grep '^RESULT' || true)
	[ -n "$line" ] || line="RESULT - - - - 0 -1"
	read -r _ p50 p95 p99 rate n errs <<<"$line"
	# The host page: what the browser loads for #/host/IP (/, then the API call).
	name=$ep
	case "$ep" in "/api/hosts/$BUSY") name="/api/hosts/{busy-host}" ;;
	"/api/hosts/$TYPICAL") name="/api/hosts/{typical host}" ;; esac
	name=${name//$TYPICAL/"{host}"}
	name=${name//$BUSY/"{busy-host}"}
	name=${name//$DOMAIN/"{name}"}
	name=${name//$FAMILY/"{domain}"}
	name=${name//$SINCE/"{day}"}
	name=${name//$UNTIL/"{day+1}"}
	printf '%-46s %8s %8s %8s %9s %8s %6s\n' "$name" "$p50" "$p95" "$p99" "$rate" "$n" "$errs" | tee -a "$RES"
done

# --- a session's packets: the API against the CLI ---------------------------------
read -r FLOW PKTS <<<"$($PY -c "
import sqlite3; c = sqlite3.connect('file:$STORE/state/sinktrap.db?mode=ro', uri=True)
print(*c.execute('SELECT flow_id, pkts_toserver + pkts_toclient FROM sessions ORDER BY bytes_toserver + bytes_toclient DESC LIMIT 1').fetchone())")"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
api_t=()
cli_t=()
for i in 1 2 3 4 5 6 7; do
	api_t+=("$(curl -s -o "$WORK/api.pcap" -w '%{time_total}' -H "$AUTH" "$BASE/api/sessions/$FLOW/pcap")")
	s=$(date +%s%N)
	"$BIN" pcap -c "$WORK/conf" --session "$FLOW" -w - >"$WORK/cli.pcap"
	cli_t+=("$(awk -v a="$s" -v b="$(date +%s%N)" 'BEGIN {printf "%.6f", (b - a) / 1e9}')")
done
cmp -s "$WORK/api.pcap" "$WORK/cli.pcap" && same=identical || same=DIFFERENT
size=$(stat -c %s "$WORK/cli.pcap")
api_m=$(printf '%s\n' "${api_t[@]}" | median)
cli_m=$(printf '%s\n' "${cli_t[@]}" | median)
ratio=$(awk -v a="$api_m" -v c="$cli_m" 'BEGIN {printf "%.2f", a / c}')
echo
echo "session $FLOW ($PKTS packets, $size bytes): API ${api_m}s, CLI ${cli_m}s (medians of 7), API/CLI = $ratio; outputs $same"

# --- while a slow download runs, the API keeps answering ---------------------------
curl -s --limit-rate 2M -o /dev/null -H "$AUTH" "$BASE/api/sessions/$FLOW/pcap" &
slow=$!
sleep 1
during=$(curl -s -o /dev/null -w '%{time_total}' -H "$AUTH" "$BASE/api/stats")
kill "$slow" 2>/dev/null || true
wait "$slow" 2>/dev/null || true
echo "/api/stats during a 2 MB/s PCAP download: ${during}s"

miss=$(awk '$(NF-4) == "-" || $(NF-4) + 0 >= 100 || $NF != 0 {print $1}' "$RES")
echo
echo "events $(summary events), sessions $(summary sessions), payloads $(summary payloads); $CONNS connections, ${DURATION}s per endpoint; $(nproc) cores"
if [ -n "$miss" ]; then
	echo "p95 at or over 100 ms: $miss"
else
	echo "every endpoint p95 under 100 ms"
fi
echo "run took $(($(date +%s) - t_start)) s"
