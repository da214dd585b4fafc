#!/bin/bash
# The forwarding path of two or more sinktrap builds, side by side: each build
# in turn, ROUNDS times, forwards unlisted names (400,000 distinct, none in
# the cache) to the trivial responder for SECONDS, driven by qgen with 200
# queries outstanding. sinktrap (all its processes) on CPU 1, qgen and the
# upstream on CPU 0, in a private network namespace holding only loopback.
#
#   bench/dns/forward_ab.sh [-r ROUNDS] [-l SECONDS] BIN [BIN...]
#
# Prints one line per run (answers/s, lost) and each build's mean. Stops by
# itself (each run is bounded by timeout); needs root (unshare -n).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BB="$HERE/build-bench"
ROUNDS=3
SECS=3
while getopts r:l: o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	l) SECS=$OPTARG ;;
	*) echo "usage: $0 [-r ROUNDS] [-l SECONDS] BIN [BIN...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-r ROUNDS] [-l SECONDS] BIN [BIN...]" >&2; exit 2; }
for b in "$@"; do [ -x "$b" ] || { echo "$b: not an executable" >&2; exit 2; }; done

if [ -z "${FORWARD_AB_INNER:-}" ]; then
	mkdir -p "$BB"
	for t in qgen trivial_responder; do
		if [ ! -x "$BB/$t" ] || [ "$HERE/$t.c" -nt "$BB/$t" ]; then
			cc -O2 -std=gnu11 -Wall -Wextra -o "$BB/$t" "$HERE/$t.c"
		fi
	done
	bins=()
	for b in "$@"; do bins+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")"); done
	exec env FORWARD_AB_INNER=1 timeout $((ROUNDS * $# * (SECS + 15) + 30)) \
		unshare -n "$0" -r "$ROUNDS" -l "$SECS" "${bins[@]}"
fi

W=$(mktemp -d /tmp/sinktrap-forward-ab-XXXXXX)
chmod 755 "$W"
TP=""
cleanup() {
	[ -n "$TP" ] && kill "$TP" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
ip link set lo up
/usr/bin/python3 - "$W/q" <<'EOF'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(400000):
        f.write("u%d-%06x.unlisted-ab.test A\n" % (i, random.getrandbits(24)))
EOF
taskset -c 0 "$BB/trivial_responder" -a 127.0.0.1 -p 5399 -A 127.0.0.1 2>/dev/null &
TP=$!
sleep 0.3
declare -A SUM
for round in $(seq "$ROUNDS"); do
	for bin in "$@"; do
		d=$(mktemp -d "$W/run-XXXX")
		printf '0.0.0.0 listed-ab.test\n' >"$d/l.hosts"
		cat >"$d/c.conf" <<EOC
[sinktrap]
state_dir = $d/state
[dns]
listen = 127.0.0.1:5400
upstream = 127.0.0.1:5399
blocklist = $d/l.hosts
sinkhole_ipv4 = 127.66.0.0/16
[trap]
enabled = no
[events]
json = $d/events.json
EOC
		taskset -c 1 "$bin" run -c "$d/c.conf" >"$d/log" 2>&1 &
		sp=$!
		for _ in $(seq 200); do grep -q 'ready' "$d/log" && break; sleep 0.05; done
		out=$(timeout $((SECS + 10)) taskset -c 0 "$BB/qgen" -s 127.0.0.1 -p 5400 -d "$W/q" \
			-l "$SECS" -w 200 -A 127.66.0.1 2>&1 || true)
		qps=$(echo "$out" | tr ' ' '\n' | sed -n 's/^qps=//p')
		lost=$(echo "$out" | tr ' ' '\n' | sed -n 's/^lost=//p')
		echo "$bin round $round: ${qps:-?} answers/s, lost ${lost:-?}"
		SUM[$bin]=$(( ${SUM[$bin]:-0} + ${qps:-0} ))
		kill "$sp"
		wait "$sp" 2>/dev/null || true
		rm -rf "$d"
	done
done
for bin in "$@"; do
	echo "$bin mean: $(( SUM[$bin] / ROUNDS )) answers/s"
done
