#!/bin/bash
# The trap's new-connection rate and idle-connection memory, side by side:
#   sinktrap (every connection completed, its request read, detected, answered and
#             recorded as an event in JSON and SQLite)
#   a trivial C epoll server (reads, writes a fixed reply: the limit of this machine)
#   a thread-per-connection Python listener (the classic sinkhole scripts)
#   INetSim's HTTP service (Debian package inetsim)
# measured with wrk -H 'Connection: close' on a spread of ports, server pinned to
# CPU 1, wrk to CPU 0. Then 10,000 idle connections to sinktrap: resident memory
# per connection. Everything on 127.0.0.1; every server is stopped at the end.
#   bench/trap/run.sh [--quick]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SINKTRAP_BIN:-$root/build/sinktrap}
dur=10
idle=10000
[ "${1:-}" = "--quick" ] && dur=4 && idle=2000
ports=(18080 18081 18082 18083)
work=$(mktemp -d /tmp/sinktrap-bench-trap.XXXXXX)
chmod 755 "$work" # INetSim drops to its own user
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

cc -O2 -o "$work/trivial_http" "$here/trivial_http.c"

wait_port() {
	for _ in $(seq "${2:-100}"); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "port $1 never opened" >&2
	return 1
}

# Requests (= connections, one each) per second, summed over one wrk per port.
measure() {
	local name=$1 total=0
	local outs=()
	for p in "${ports[@]}"; do
		taskset -c 0 wrk -t1 -c32 -d"${dur}s" -H 'Connection: close' "http://127.0.0.1:$p/gate.php?id=1" \
			>"$work/wrk.$name.$p" 2>&1 &
		outs+=($!)
	done
	for o in "${outs[@]}"; do wait "$o" || true; done
	for p in "${ports[@]}"; do
		r=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.$name.$p")
		errs=$(awk '/Socket errors/ {print $0}' "$work/wrk.$name.$p")
		total=$(awk -v a="$total" -v b="${r:-0}" 'BEGIN {printf "%.0f", a + b}')
		[ -n "$errs" ] && echo "  $name port $p: $errs"
	done
	echo "$total"
}

declare -A rate

echo "== trivial C epoll server"
taskset -c 1 "$work/trivial_http" "${ports[@]}" & pids+=($!)
wait_port "${ports[0]}"
rate[trivial]=$(measure trivial | tail -1)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "== thread-per-connection Python listener"
taskset -c 1 /usr/bin/python3 "$here/threaded.py" "${ports[@]}" & pids+=($!)
wait_port "${ports[0]}"
rate[python]=$(measure python | tail -1)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "== INetSim HTTP"
mkdir -p "$work/inetsim/log" "$work/inetsim/report" "$work/inetsim/data"
cp -r /var/lib/inetsim/* "$work/inetsim/data/"
chown -R inetsim:inetsim "$work/inetsim" 2>/dev/null || true
{
	echo "start_service http"
	echo "service_bind_address 127.0.0.1"
	echo "http_bind_port ${ports[0]}"
	echo "dns_default_ip 127.0.0.1"
} >"$work/inetsim/inetsim.conf"
taskset -c 1 inetsim --conf "$work/inetsim/inetsim.conf" --data-dir "$work/inetsim/data" \
	--log-dir "$work/inetsim/log" --report-dir "$work/inetsim/report" >"$work/inetsim.out" 2>&1 & pids+=($!)
if wait_port "${ports[0]}" 300; then
	# INetSim serves one port; the others stay closed, so it is measured on its one.
	taskset -c 0 wrk -t1 -c32 -d"${dur}s" -H 'Connection: close' "http://127.0.0.1:${ports[0]}/gate.php" \
		>"$work/wrk.inetsim" 2>&1 || true
	rate[inetsim]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.inetsim")
else
	rate[inetsim]=0
	tail -5 "$work/inetsim.out"
fi
kill "${pids[-1]}" 2>/dev/null; wait "${pids[-1]}" 2>/dev/null || true
pkill -f "inetsim.*$work" 2>/dev/null || true

echo "== sinktrap"
cat >"$work/sinktrap.conf" <<CONF
[sinktrap]
state_dir = $work/var
log_level = warning
[dns]
enabled = no
[trap]
enabled = yes
listen = 127.0.0.1
ports = $(IFS=,; echo "${ports[*]}"),19999
max_connections = 100000
max_per_source = 100000
rate_per_source = 1000000
[events]
json = $work/var/events.json
sqlite = yes
CONF
taskset -c 1 "$bin" run -c "$work/sinktrap.conf" 2>"$work/sinktrap.log" & pids+=($!)
sinktrap_pid=${pids[-1]}
wait_port "${ports[0]}"
rate[sinktrap]=$(measure sinktrap | tail -1)
sleep 1
events=$(grep -c '"event_type":"trap"' "$work/var/events.json" || true)
rows=$(sqlite3 "$work/var/sinktrap.db" "select count(*) from events where event_type='trap'" 2>/dev/null || echo "?")

# 10,000 idle connections: resident memory of the trap worker per connection.
trap_pid=$(pgrep -P "$sinktrap_pid" -x sinktrap-trap || true)
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss_kb "$trap_pid")
/usr/bin/python3 - "$idle" <<'PY' &
import socket, sys, time, resource
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
n = int(sys.argv[1]); socks = []
for i in range(n):
    s = socket.socket(); s.connect(('127.0.0.1', 19999)); socks.append(s)
open('/tmp/sinktrap-bench-idle.ready', 'w').close()
time.sleep(20)
PY
holder=$!
pids+=($holder)
for _ in $(seq 200); do [ -e /tmp/sinktrap-bench-idle.ready ] && break; sleep 0.1; done
sleep 1
after=$(rss_kb "$trap_pid")
rm -f /tmp/sinktrap-bench-idle.ready
kill "$holder" 2>/dev/null || true

per=$(awk -v a="$after" -v b="$before" -v n="$idle" 'BEGIN {printf "%.2f", (a - b) / n}')
echo
echo "new connections per second (wrk -t1 -c32 -H 'Connection: close', ${#ports[@]} ports, ${dur}s):"
printf "  %-28s %8s conn/s\n" "trivial C epoll server" "${rate[trivial]}"
printf "  %-28s %8s conn/s\n" "Python thread per conn" "${rate[python]}"
printf "  %-28s %8s conn/s   (one port)\n" "INetSim HTTP" "${rate[inetsim]}"
printf "  %-28s %8s conn/s   (%s trap events in JSON, %s rows in SQLite)\n" "sinktrap" "${rate[sinktrap]}" "$events" "$rows"
awk -v s="${rate[sinktrap]}" -v t="${rate[trivial]}" -v p="${rate[python]}" -v i="${rate[inetsim]}" 'BEGIN {
	printf "  sinktrap / trivial server: %.2f (target >= 0.70)\n", s / t
	printf "  sinktrap / Python listener: %.1fx\n", s / (p ? p : 1)
	if (i > 0) printf "  sinktrap / INetSim: %.0fx\n", s / i }'
echo "idle connections: $idle held open; trap worker RSS ${before} KB -> ${after} KB: ${per} KB per connection (target < 8)"
