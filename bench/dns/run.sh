#!/bin/bash
# DNS sinkhole benchmark: sinktrap against Unbound, Knot Resolver and dnsmasq,
# each sinkholing the same 1,000,000-name list (and a 10-name list).
#
#   bench/dns/run.sh            full run, about 12 minutes (hard limit 15)
#   bench/dns/run.sh --quick    about 2 minutes (hard limit 5)
#
# Per server: load time (start until a listed name gets the sinkhole answer),
# resident memory after load, and queries/s with dnsperf and with qgen for
#   (a) listed names  (b) subdomains of listed names  (c) unlisted names.
# Unlisted names go to an upstream on 127.0.0.1 that this script starts (the
# trivial responder, answering A 127.0.0.1 for everything), the same for all
# servers; each server keeps its default cache in front of it.
# For sinktrap also: the ratios its targets name, a SIGHUP reload under full
# load (lost must be 0) and events recorded vs sinkholed answers.
#
# Everything runs in a private network namespace holding only loopback
# (unshare -n), so no query can leave the machine and no port collides with
# anything else on it. Each server (all of its processes) is pinned to CPU 1,
# the load generator and the upstream to CPU 0.
#
# Needs: cc, taskset, unshare, dnsperf, /usr/bin/python3; unbound, kresd
# and dnsmasq for their rows; build/sinktrap for sinktrap's (skipped if it
# is missing). Results (summary and every tool's output) are kept under
# bench/dns/build-bench/results-<time>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BB="$HERE/build-bench"

QUICK=0
DURATION=""
SERVERS="sinktrap unbound kresd dnsmasq"
WINDOW=200
DNSPERF_OPTS="-T 2 -c 8 -q 200 -t 1"
SINKTRAP="$ROOT/build/sinktrap"
# shellcheck source=bench/lib/sqlite_floor.sh
. "$ROOT/bench/lib/sqlite_floor.sh"
KEEP=0
NETNS=1
WAIT_IDLE=0
SERVER_CPU=1
GEN_CPU=0
SINKHOLE=127.66.0.1
EVENTS=all

usage() {
	cat <<EOF
usage: bench/dns/run.sh [--quick] [--duration S] [--servers "LIST"] [--window N]
                        [--dnsperf-opts "OPTS"] [--sinktrap PATH] [--wait-idle S]
                        [--sinktrap-events all|json|none] [--keep] [--no-netns]
  --quick           ~2 min: 3 s runs, qgen only (dnsperf only against the trivial
                    responder), 200k-line query files, 10-name list for sinktrap only
  --duration S      seconds per measurement (default 10, quick 3)
  --servers LIST    among: sinktrap unbound kresd dnsmasq (default: all)
  --window N        qgen queries outstanding (default $WINDOW)
  --dnsperf-opts O  dnsperf options besides -s -p -d -l (default "$DNSPERF_OPTS")
  --sinktrap PATH   binary (default build/sinktrap)
  --wait-idle S     before each measurement wait up to S s for the rest of the
                    machine to go idle (for shared machines; adds to the time limit)
  --sinktrap-events where sinktrap records its events: all (JSON lines and
                    SQLite, as in production; the default), json, or none
                    (to see what recording costs; the events check then fails)
  --keep            keep the temporary directory (lists, configs, logs, state)
  --no-netns        run in the current network namespace (still loopback only)
EOF
	exit 2
}

ARGS=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--duration) DURATION=$2; shift ;;
	--servers) SERVERS=$2; shift ;;
	--window) WINDOW=$2; shift ;;
	--dnsperf-opts) DNSPERF_OPTS=$2; shift ;;
	--sinktrap) SINKTRAP=$2; shift ;;
	--keep) KEEP=1 ;;
	--wait-idle) WAIT_IDLE=$2; shift ;;
	--sinktrap-events) EVENTS=$2; shift ;;
	--no-netns) NETNS=0 ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done

for s in $SERVERS; do
	case "$s" in
	sinktrap|unbound|kresd|dnsmasq) ;;
	*) echo "run.sh: unknown server $s" >&2; usage ;;
	esac
done
case "$EVENTS" in
all|json|none) ;;
*) echo "run.sh: --sinktrap-events: all, json or none" >&2; usage ;;
esac
for v in "$WINDOW" "$WAIT_IDLE" "${DURATION:-1}"; do
	[[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -le 100000 ] || { echo "run.sh: $v: not a number" >&2; usage; }
done

# A private network namespace: only lo exists, so nothing can leave the machine.
if [ "$NETNS" = 1 ] && [ -z "${SINKTRAP_BENCH_IN_NETNS:-}" ]; then
	if unshare -n true 2>/dev/null; then
		exec unshare -n env SINKTRAP_BENCH_IN_NETNS=1 "$BASH" "${BASH_SOURCE[0]}" "${ARGS[@]}"
	fi
	echo "run.sh: cannot create a network namespace; running on the host's loopback" >&2
	NETNS=0
fi
if [ -n "${SINKTRAP_BENCH_IN_NETNS:-}" ]; then
	ip link set lo up
fi

if [ "$QUICK" = 1 ]; then
	: "${DURATION:=3}"
	QUERIES=200000
	TOOLS="qgen"
	SMALL_FOR="sinktrap"
	TIME_LIMIT=300
else
	: "${DURATION:=10}"
	QUERIES=1000000
	TOOLS="dnsperf qgen"
	SMALL_FOR="sinktrap unbound kresd dnsmasq"
	TIME_LIMIT=900
fi
TIME_LIMIT=$((TIME_LIMIT + 60 * WAIT_IDLE))
LOAD_LIMIT=120 # seconds a server may take to load the big list

UP_PORT=5399
declare -A PORT=([sinktrap]=5400 [unbound]=5401 [kresd]=5402 [dnsmasq]=5403 [trivial]=5404)
declare -A LISTNAME=([big]=1M [small]=10)
FILES="listed sub unlisted"
declare -A FILELABEL=([listed]="(a) listed" [sub]="(b) subdomain" [unlisted]="(c) unlisted")

# ---------------------------------------------------------------- set-up

STAMP=$(date +%Y%m%d-%H%M%S)
RES="$BB/results-$STAMP"
mkdir -p "$BB" "$RES"
T=$(mktemp -d /tmp/sinktrap-dnsbench.XXXXXX)
chmod 755 "$T"
PIDS=()
WATCHDOG=""
IDLE_NOTE=""

alive() { # pid: running (an exited child not yet reaped is a zombie, not alive)
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st%% *}" != Z ]
}

stop_pid() { # pid: SIGTERM, then SIGKILL after 10 s
	local pid=$1
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		alive "$pid" || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ -n "$WATCHDOG" ]; then
		kill $(pgrep -P "$WATCHDOG") "$WATCHDOG" 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then
		echo "run.sh: kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

(sleep "$TIME_LIMIT"; echo "run.sh: time limit of $TIME_LIMIT s reached, stopping" >&2
 kill -TERM $$) 2>/dev/null &
WATCHDOG=$!

busy_ticks() { # ticks all CPUs spent outside idle and iowait, and the steal among them
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $9 }' /proc/stat
}

say() { echo "$*" | tee -a "$RES/summary.txt"; }
note() { echo "$*" >>"$RES/summary.txt"; echo "$*"; }

for tool in cc taskset dnsperf /usr/bin/python3; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then
	echo "run.sh: needs 2 CPUs to pin server and generator apart" >&2
	exit 1
fi

build() { # name: cc -O2 the helper if its source is newer than the binary
	if [ ! -x "$BB/$1" ] || [ "$HERE/$1.c" -nt "$BB/$1" ]; then
		cc -O2 -std=gnu11 -Wall -Wextra -o "$BB/$1" "$HERE/$1.c"
	fi
}
build qgen
build trivial_responder
QGEN="$BB/qgen"
TRIVIAL="$BB/trivial_responder"

CLK_TCK=$(getconf CLK_TCK)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
say "DNS sinkhole benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
say "machine: $NCPU CPUs ($CPU_MODEL), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "pinning: each server (all of its processes) on CPU $SERVER_CPU; dnsperf, qgen and the upstream responder on CPU $GEN_CPU (taskset)"
say "network: $([ -n "${SINKTRAP_BENCH_IN_NETNS:-}" ] && echo "private namespace, loopback only" || echo "host loopback")"
say "runs: ${DURATION} s each; qgen window $WINDOW; dnsperf $DNSPERF_OPTS; sinktrap records events to: $(
	case $EVENTS in all) echo "JSON and SQLite" ;; json) echo "JSON only" ;; none) echo "nothing" ;; esac); tools: $TOOLS$( [ "$WAIT_IDLE" -gt 0 ] && echo "; waiting up to $WAIT_IDLE s for an idle machine before each")"
say "versions: $(unbound -V 2>/dev/null | sed -n 's/^Version /unbound /p'), $(kresd --version 2>/dev/null | sed 's/.*version /kresd /'), $(dnsmasq --version 2>/dev/null | head -1 | awk '{print "dnsmasq", $3}'), $(dnsperf -h 2>&1 | sed -n 's/^Version /dnsperf /p')"

# Other work on the machine skews every number: say so up front.
read -r B0 _ < <(busy_ticks)
sleep 2
read -r B1 _ < <(busy_ticks)
IDLE_BUSY=$(awk -v d=$((B1 - B0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz / 2 }')
say "before start, other work on the machine used $IDLE_BUSY CPUs"
if awk -v b="$IDLE_BUSY" 'BEGIN { exit !(b > 0.1) }'; then
	say "WARNING: the machine is not idle; results will be low and noisy. Busiest processes:"
	ps -eo pcpu=,comm= --sort=-pcpu | head -5 | sed 's/^/    /' | tee -a "$RES/summary.txt"
fi

echo "generating lists and query files (fixed seed) ..."
/usr/bin/python3 "$HERE/gen_lists.py" --out "$T/data" --queries "$QUERIES" | tee -a "$RES/summary.txt"
# shellcheck disable=SC1091
. "$T/data/meta.env"
D="$T/data"

if [ -z "${SINKTRAP_BENCH_IN_NETNS:-}" ]; then
	for p in "$UP_PORT" "${PORT[@]}"; do
		if [ -n "$(ss -Hlun "sport = :$p" 2>/dev/null)" ]; then
			echo "run.sh: UDP port $p is in use on this host; run without --no-netns" >&2
			exit 1
		fi
	done
fi

# The upstream for unlisted names: the trivial responder on CPU 0.
taskset -c "$GEN_CPU" "$TRIVIAL" -a 127.0.0.1 -p "$UP_PORT" -A 127.0.0.1 2>"$T/upstream.log" &
UPID=$!
PIDS+=("$UPID")

# ---------------------------------------------------------------- measuring

declare -A QPS LOST FAIL GCPU GREAL SCPU OTHER LOADMS RSS RSS_END RSS_DETAIL RSS_END_DETAIL SINKED WCPU
WORKERS="" # sinktrap's "dns:PID store:PID" while it is measured: CPU per worker

tree_pids() { # pid and its descendants
	local p=$1 c
	echo "$p"
	for c in $(pgrep -P "$p" 2>/dev/null); do
		tree_pids "$c"
	done
}

tree_ticks() { # CPU ticks used so far by pid and its descendants
	local sum=0 p t
	for p in $(tree_pids "$1"); do
		# utime and stime, counted after the ")" that ends a name that may hold spaces
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

tree_rss_kb() {
	local sum=0 p
	for p in $(tree_pids "$1"); do
		sum=$((sum + $(rss_kb "$p")))
	done
	echo "$sum"
}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

udp_inode() { # port: inode of the UDP socket bound to 127.0.0.1:port
	awk -v p="$(printf '0100007F:%04X' "$1")" '$2 == p { print $10; exit }' /proc/net/udp
}

holds() { # pid target: whether pid has target open
	local f
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "$2" ] && return 0
	done
	return 1
}

# Which sinktrap worker a child is: its argv ("sinktrap: dns") or process
# name ("sinktrap-dns") if it says, else what it holds open: the DNS socket
# (dns) or the database (store).
proc_label() { # pid port statedir
	local p=$1 a ino
	a=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | sed 's/ *$//')
	case "$a" in
	*"sinktrap: "*) echo "${a##*sinktrap: }" | awk '{ print $1 }'; return ;;
	esac
	a=$(cat "/proc/$p/comm" 2>/dev/null)
	case "$a" in
	sinktrap-*) echo "${a#sinktrap-}"; return ;;
	esac
	ino=$(udp_inode "$2")
	if [ -n "$ino" ] && holds "$p" "socket:[$ino]"; then
		echo dns
	elif holds "$p" "$3/sinktrap.db"; then
		echo store
	else
		echo "$(cat "/proc/$p/comm" 2>/dev/null)[$p]"
	fi
}

sinktrap_rss_detail() { # parent port statedir: "parent 3.1 MB, dns 40.2 MB, store 8.0 MB"
	local parent=$1 out c
	out="parent $(mb "$(rss_kb "$parent")") MB"
	for c in $(pgrep -P "$parent" 2>/dev/null); do
		out="$out, $(proc_label "$c" "$2" "$3") $(mb "$(tree_rss_kb "$c")") MB"
	done
	echo "$out"
}

sinktrap_worker_pid() { # parent port statedir label
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do
		if [ "$(proc_label "$c" "$2" "$3")" = "$4" ]; then
			echo "$c"
			return
		fi
	done
}
sinktrap_dns_pid() { sinktrap_worker_pid "$1" "$2" "$3" dns; } # parent port statedir

kv() { # key file: value of key=... on the RESULT line, empty if none
	sed -n "s/^RESULT .*\\b$1=\\([^ ]*\\).*/\\1/p" "$2" 2>/dev/null | head -1
}
kvn() { local v; v=$(kv "$1" "$2"); echo "${v:-0}"; } # the same, 0 if none

run_qgen() { # key port file [extra qgen options]
	local key=$1 port=$2 file=$3 out="$RES/$1.txt"
	shift 3
	timeout $((DURATION + 30)) taskset -c "$GEN_CPU" "$QGEN" -s 127.0.0.1 -p "$port" \
		-d "$D/$file" -l "$DURATION" -w "$WINDOW" -A "$SINKHOLE" "$@" >"$out" 2>&1 || true
	QPS[$key]=$(kv qps "$out")
	LOST[$key]=$(kv lost "$out")
	FAIL[$key]=$(( $(kvn servfail "$out") + $(kvn other_rcode "$out") ))
	GCPU[$key]=$(kv busy_pct "$out") # share of the time it was moving datagrams
	GREAL[$key]=$(kv cpu_pct "$out") # CPU it used, spinning included
	SINKED[$key]=$(kv sinkholed "$out")
}

run_dnsperf() { # key port file
	local key=$1 port=$2 file=$3 out="$RES/$1.txt"
	# shellcheck disable=SC2086
	timeout $((DURATION + 30)) /usr/bin/time -f "TIME %U %S %e" \
		taskset -c "$GEN_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$D/$file" \
		-l "$DURATION" $DNSPERF_OPTS >"$out" 2>&1 || true
	QPS[$key]=$(awk '/Queries per second:/ {printf "%.0f", $4}' "$out")
	LOST[$key]=$(awk '/Queries lost:/ {print $3}' "$out")
	FAIL[$key]=$(awk '/Response codes:/ { n = 0; for (i = 3; i < NF; i += 3) {
		c = $i; v = $(i + 1); sub(",", "", c)
		if (c != "NOERROR" && c != "NXDOMAIN") n += v }; print n }' "$out")
	GCPU[$key]=$(awk '/^TIME / { if ($4 > 0) printf "%.0f", 100 * ($2 + $3) / $4 }' "$out")
	GREAL[$key]=${GCPU[$key]}
	SINKED[$key]=$(awk '/Response codes:/ { for (i = 3; i < NF; i += 3) if ($i ~ /NOERROR/) print $(i + 1) }' "$out")
}

# Wait up to WAIT_IDLE s for 2 s in which the machine used under 0.1 CPU
# (our servers are idle between runs); sets IDLE_NOTE.
wait_idle() {
	local deadline a b
	IDLE_NOTE=""
	[ "$WAIT_IDLE" -gt 0 ] || return 0
	deadline=$(($(date +%s) + WAIT_IDLE))
	while :; do
		read -r a _ < <(busy_ticks)
		sleep 2
		read -r b _ < <(busy_ticks)
		if [ $((b - a)) -lt $((CLK_TCK / 5)) ]; then
			IDLE_NOTE=" (idle)"
			return 0
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			IDLE_NOTE=" (machine busy)"
			return 0
		fi
	done
}

# One run of one tool; also the CPU the server used, and what neither the
# server, the generator nor the upstream used ("others": anything else on the
# machine, which makes the numbers noisy).
measure_one() { # key tool port queryfile server-pid label
	local key=$1 tool=$2 port=$3 qf=$4 pid=$5 label=$6 s0 s1 u0 u1 b0 b1 st0 st1 w0 w1 wk
	local -A k0
	wait_idle
	for wk in $WORKERS; do k0[$wk]=$(tree_ticks "${wk#*:}"); done
	s0=$(tree_ticks "$pid"); u0=$(tree_ticks "$UPID")
	read -r b0 st0 < <(busy_ticks)
	w0=$(date +%s%N)
	"run_$tool" "$key" "$port" "$qf"
	w1=$(date +%s%N)
	read -r b1 st1 < <(busy_ticks)
	s1=$(tree_ticks "$pid"); u1=$(tree_ticks "$UPID")
	WCPU[$key]=""
	for wk in $WORKERS; do
		WCPU[$key]="${WCPU[$key]}${WCPU[$key]:+ }${wk%%:*} $(awk -v d=$(($(tree_ticks "${wk#*:}") - k0[$wk])) \
			-v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN { printf "%.0f", 100 * d / hz / s }')"
	done
	SCPU[$key]=$(awk -v d=$((s1 - s0)) -v hz="$CLK_TCK" -v s="$DURATION" \
		'BEGIN { printf "%.0f", 100 * d / hz / s }')
	# over the whole wall time of the tool (it also loads its file and drains)
	OTHER[$key]=$(awk -v b=$((b1 - b0)) -v sv=$((s1 - s0)) -v up=$((u1 - u0)) \
		-v g="${GREAL[$key]:-0}" -v hz="$CLK_TCK" -v w=$(((w1 - w0) / 1000000)) \
		-v s="$DURATION" -v st=$((st1 - st0)) \
		'BEGIN { w /= 1000; o = 100 * (b - st - sv - up) / hz / w - g * s / w
			if (o < 0) o = 0; printf "%.0f/%.0f", o, 100 * st / hz / w }')
	printf '  %-28s %-8s %8s q/s  lost %s  fail %s  CPU%%: server %s%s generator %s others/steal %s%s\n' \
		"$label" "$tool" "${QPS[$key]:--}" "${LOST[$key]:--}" "${FAIL[$key]:--}" \
		"${SCPU[$key]:--}" "${WCPU[$key]:+ (${WCPU[$key]})}" "${GCPU[$key]:--}" "${OTHER[$key]}" "$IDLE_NOTE"
}

measure() { # server list pid port: every query file with every tool
	local s=$1 l=$2 pid=$3 port=$4 f tool qf
	for f in $FILES; do
		for tool in $TOOLS; do
			qf="q-$l-$f"
			# each tool its own unlisted names: none is in the cache yet
			if [ "$f" = unlisted ]; then
				qf="q-unlisted-1"
				[ "$tool" = qgen ] && qf="q-unlisted-2"
			fi
			measure_one "$s.$l.$f.$tool" "$tool" "$port" "$qf" "$pid" \
				"$s ${LISTNAME[$l]} ${FILELABEL[$f]}"
		done
	done
}

# ---------------------------------------------------------------- servers

start_sinktrap() { # list dir port: writes the config, starts; the pid in SPID
	local l=$1 dir=$2 port=$3
	mkdir -p "$dir/var"
	cp "$D/$l.hosts" "$dir/list.hosts"
	cat >"$dir/sinktrap.conf" <<EOF
[sinktrap]
state_dir = $dir/var
log_level = warning
[dns]
listen = 127.0.0.1:$port
upstream = 127.0.0.1:$UP_PORT
blocklist = $dir/list.hosts
sinkhole_ipv4 = $SINKHOLE
sinkhole_ipv6 = fd00:66::1
ttl = 300
[events]
json = $([ "$EVENTS" = none ] && echo no || echo "$dir/var/events.json")
sqlite = $([ "$EVENTS" = all ] && echo yes || echo no)
EOF
	taskset -c "$SERVER_CPU" "$SINKTRAP" run -c "$dir/sinktrap.conf" >"$dir/log" 2>&1 &
	SPID=$!
}

start_unbound() {
	local l=$1 dir=$2 port=$3
	cat >"$dir/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$port
    port: $port
    do-ip6: no
    num-threads: 1
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$dir"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    # no trust anchor and no validator: the upstream is a local stand-in
    module-config: "iterator"
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$UP_PORT
include: "$D/$l.unbound.conf"
EOF
	taskset -c "$SERVER_CPU" unbound -d -c "$dir/unbound.conf" >"$dir/log" 2>&1 &
	SPID=$!
}

start_kresd() {
	local l=$1 dir=$2 port=$3
	mkdir -p "$dir/run"
	cat >"$dir/kresd.conf" <<EOF
-- Knot Resolver 5.6, one process, its own cache in the temporary directory.
log_level('warning')
net.ipv6 = false
net.listen('127.0.0.1', $port, { kind = 'dns' })
cache.open(100 * MB, 'lmdb://$dir/cache')
-- The upstream is a local stand-in: no trust anchor, nothing that would
-- query the root (priming, RFC 5011 refresh, time-skew checks).
trust_anchors.remove('.')
modules.unload('ta_update')
modules.unload('ta_signal_query')
modules.unload('ta_sentinel')
modules.unload('priming')
modules.unload('detect_time_skew')
modules.unload('detect_time_jump')
-- Listed names and their subdomains: the RPZ holds "name A ip" and
-- "*.name A ip"; local data answers as it is, so the action (used only
-- for "CNAME ." entries, of which there are none) does not matter.
-- No file watching (false): the list is static during the run.
policy.add(policy.rpz(policy.DENY, '$D/$l.rpz', false))
-- Everything else goes to the local upstream as a stub query.
policy.add(policy.all(policy.STUB('127.0.0.1@$UP_PORT')))
EOF
	taskset -c "$SERVER_CPU" kresd -n -c "$dir/kresd.conf" "$dir/run" >"$dir/log" 2>&1 &
	SPID=$!
}

start_dnsmasq() {
	local l=$1 dir=$2 port=$3
	taskset -c "$SERVER_CPU" dnsmasq -k -C "$D/$l.dnsmasq.conf" --no-resolv \
		--server="127.0.0.1#$UP_PORT" -p "$port" --listen-address=127.0.0.1 \
		--bind-interfaces --no-hosts --pid-file= --user=root --local-ttl=300 \
		--log-facility="$dir/log" >"$dir/stderr" 2>&1 &
	SPID=$!
}

start_trivial() {
	local l=$1 dir=$2 port=$3
	taskset -c "$SERVER_CPU" "$TRIVIAL" -a 127.0.0.1 -p "$port" -A "$SINKHOLE" >"$dir/log" 2>&1 &
	SPID=$!
}

server_available() {
	case "$1" in
	sinktrap) [ -x "$SINKTRAP" ] ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

# Events sinktrap recorded: "JSON-lines SQLite-rows" (dns events only).
sinktrap_event_count() { # dir
	local j q
	j=$(grep -c '"event_type": *"dns"' "$1/var/events.json" 2>/dev/null) || j=${j:-0}
	q=$(sqlite3 -readonly "$1/var/sinktrap.db" \
		"SELECT count(*) FROM events WHERE event_type = 'dns'" 2>/dev/null) ||
		q=$(sqlite3 -readonly "$1/var/sinktrap.db" "SELECT count(*) FROM events" 2>/dev/null) ||
		q="?"
	echo "${j:-0} ${q:-?}"
}

# SIGHUP twice under full qgen load; the second reload adds RELOAD_NAME.
sighup_test() { # dir parent port
	local dir=$1 parent=$2 port=$3 out="$RES/sinktrap.sighup.qgen.txt" q dns_before dns_after
	local gap
	gap=$(awk -v d="$DURATION" 'BEGIN { printf "%.2f", d / 3 }')
	dns_before=$(sinktrap_dns_pid "$parent" "$port" "$dir/var")
	taskset -c "$GEN_CPU" "$QGEN" -s 127.0.0.1 -p "$port" -d "$D/q-big-listed" -l "$DURATION" \
		-w "$WINDOW" -A "$SINKHOLE" -S 1 >"$out" 2>&1 &
	q=$!
	PIDS+=("$q")
	sleep "$gap"
	kill -HUP "$parent"
	{ cat "$dir/list.hosts"; echo "0.0.0.0 $RELOAD_NAME"; } >"$dir/list.hosts.new"
	mv "$dir/list.hosts.new" "$dir/list.hosts"
	sleep "$gap"
	kill -HUP "$parent"
	wait "$q" || true
	dns_after=$(sinktrap_dns_pid "$parent" "$port" "$dir/var")
	SIGHUP_SENT=$(kv sent "$out")
	SIGHUP_RECV=$(kv received "$out")
	SIGHUP_LOST=$(kv lost "$out")
	SIGHUP_FAIL=$(( $(kvn servfail "$out") + $(kvn other_rcode "$out") ))
	SIGHUP_NOTSINK=$(( $(kvn received "$out") - $(kvn sinkholed "$out") ))
	SIGHUP_QPS=$(kv qps "$out")
	if timeout 10 "$QGEN" -p "$port" -P "$RELOAD_NAME" -A "$SINKHOLE" -l 5 >/dev/null; then
		SIGHUP_RELOADED="yes ($RELOAD_NAME, added before the 2nd SIGHUP, is sinkholed)"
	else
		SIGHUP_RELOADED="NO ($RELOAD_NAME, added before the 2nd SIGHUP, is not sinkholed;"
		if "$SINKTRAP" check "$RELOAD_NAME" -c "$dir/sinktrap.conf" >/dev/null 2>&1; then
			SIGHUP_RELOADED="$SIGHUP_RELOADED though 'sinktrap check' on the list file sinkholes it)"
		else
			SIGHUP_RELOADED="$SIGHUP_RELOADED and 'sinktrap check' on the list file does not either)"
		fi
		SIGHUP_RELOADED="$SIGHUP_RELOADED; log: $(grep -i reload "$dir/log" | tail -2 | tr '\n' ' ')"
	fi
	SIGHUP_WORKER="dns worker pid $dns_before before, $dns_after after"
	alive "$parent" || SIGHUP_WORKER="$SIGHUP_WORKER; PARENT EXITED"
}

run_server() { # server list
	local s=$1 l=$2 dir pid t0 t1 probe
	dir="$T/$s-$l"
	mkdir -p "$dir"
	probe=$PROBE_BIG
	[ "$l" = small ] && probe=$PROBE_SMALL
	echo "== $s, ${LISTNAME[$l]} list: starting on 127.0.0.1:${PORT[$s]}"
	t0=$(date +%s%N)
	"start_$s" "$l" "$dir" "${PORT[$s]}"
	pid=$SPID
	PIDS+=("$pid")
	if ! timeout $((LOAD_LIMIT + 10)) "$QGEN" -s 127.0.0.1 -p "${PORT[$s]}" -P "$probe" \
		-A "$SINKHOLE" -l "$LOAD_LIMIT" -i 2 >"$dir/probe" 2>&1; then
		note "   $s did not answer $probe with $SINKHOLE within $LOAD_LIMIT s; skipped. Log:"
		tail -5 "$dir/log" 2>/dev/null | sed 's/^/     /' | tee -a "$RES/summary.txt"
		stop_pid "$pid"
		LOADMS[$s.$l]="fail"
		return
	fi
	t1=$(date +%s%N)
	LOADMS[$s.$l]=$(( (t1 - t0) / 1000000 ))
	sleep 0.2 # let a just-forked worker settle before reading RSS
	RSS[$s.$l]=$(tree_rss_kb "$pid")
	if [ "$s" = sinktrap ]; then
		RSS_DETAIL[$s.$l]=$(sinktrap_rss_detail "$pid" "${PORT[$s]}" "$dir/var")
		EVENTS0=$(sinktrap_event_count "$dir")
		WORKERS="dns:$(sinktrap_worker_pid "$pid" "${PORT[$s]}" "$dir/var" dns) store:$(sinktrap_worker_pid "$pid" "${PORT[$s]}" "$dir/var" store)"
	fi
	echo "   loaded in ${LOADMS[$s.$l]} ms, RSS $(mb "${RSS[$s.$l]}") MB ${RSS_DETAIL[$s.$l]:+(${RSS_DETAIL[$s.$l]})}"
	measure "$s" "$l" "$pid" "${PORT[$s]}"
	WORKERS=""
	RSS_END[$s.$l]=$(tree_rss_kb "$pid")
	if [ "$s" = sinktrap ]; then
		RSS_END_DETAIL[$s.$l]=$(sinktrap_rss_detail "$pid" "${PORT[$s]}" "$dir/var")
	fi
	if [ "$s" = sinktrap ] && [ "$l" = big ]; then
		echo "   SIGHUP test: qgen (a) for $DURATION s, SIGHUP to the parent at 1/3 and 2/3"
		sighup_test "$dir" "$pid" "${PORT[$s]}"
	fi
	stop_pid "$pid"
	cp "$dir/log" "$RES/$s-$l.log" 2>/dev/null || true
	if [ "$s" = sinktrap ]; then
		# Answers the generators saw sinkholed during the runs (qgen: A = the
		# sinkhole; dnsperf: NOERROR on (a) and (b)), plus the reload probe,
		# against the events recorded after the load probe (counted then).
		local k n=0 e0j e0q e1j e1q dropped
		for k in "${!SINKED[@]}"; do
			case "$k" in
			sinktrap.$l.unlisted.*) ;;
			sinktrap.$l.*) n=$((n + ${SINKED[$k]:-0})) ;;
			esac
		done
		[ "$l" = big ] && n=$((n + $(kvn sinkholed "$RES/sinktrap.sighup.qgen.txt") + 1))
		read -r e0j e0q <<<"$EVENTS0"
		read -r e1j e1q < <(sinktrap_event_count "$dir")
		# sinktrap logs "N events dropped: the store did not keep up"
		dropped=$(awk '{ for (i = 1; i + 2 <= NF; i++)
			if ($(i + 1) == "events" && $(i + 2) == "dropped:") n += $i }
			END { print n + 0 }' "$dir/log")
		EVENTS[$l]="sinkholed answers seen by the generators $n; dns events recorded meanwhile: JSON $((e1j - e0j)), SQLite $(
			[[ "$e1q$e0q" =~ ^[0-9]+$ ]] && echo $((e1q - e0q)) || echo "$e1q (total)"); dropped as logged by sinktrap: $dropped"
		echo "   ${EVENTS[$l]}"
		# The SQLite floor: the run's event rows copied by INSERT ... SELECT,
		# what they cost SQLite alone (no query, no JSON, no binding).
		local rows secs
		rows=$(sqlite3 -readonly "$dir/var/sinktrap.db" "SELECT count(*) FROM events" 2>/dev/null || echo 0)
		if [ "${rows:-0}" -gt 0 ]; then
			secs=$(sqlite_floor "$dir/var/sinktrap.db" "$dir" events)
			FLOOR[$l]="$rows rows in $secs s: $(awk -v n="$rows" -v t="$secs" 'BEGIN { printf "%.0f", n / t }') rows/s"
			echo "   SQLite floor (the run's events rows by INSERT ... SELECT): ${FLOOR[$l]}"
		fi
	fi
	if [ "$KEEP" = 0 ]; then
		rm -rf "$dir"
	fi
}
declare -A EVENTS FLOOR
EVENTS0="0 0"

# The limit of the UDP path: the trivial responder, (a) only.
echo "== trivial responder (no lookup): the limit of this machine's UDP path"
mkdir -p "$T/trivial"
start_trivial - "$T/trivial" "${PORT[trivial]}"
TPID=$SPID
PIDS+=("$TPID")
sleep 0.3
for tool in dnsperf qgen; do
	measure_one "trivial.none.listed.$tool" "$tool" "${PORT[trivial]}" q-big-listed "$TPID" \
		"trivial (a) listed"
done
stop_pid "$TPID"

for s in $SERVERS; do
	if ! server_available "$s"; then
		if [ "$s" = sinktrap ]; then
			note "== sinktrap: $SINKTRAP not found; skipped (build it: meson setup build && ninja -C build)"
		else
			note "== $s: not installed; skipped"
		fi
		continue
	fi
	run_server "$s" big
	case " $SMALL_FOR " in
	*" $s "*) run_server "$s" small ;;
	esac
done

# ---------------------------------------------------------------- report

cell() { echo "${QPS[$1]:--}"; }

{
echo
echo "Load: time from start until a listed name gets $SINKHOLE; RSS of the server's processes"
printf '%-9s %-5s %10s %14s %16s\n' server list "load ms" "RSS after load" "RSS after runs"
for s in $SERVERS; do
	for l in big small; do
		[ -n "${LOADMS[$s.$l]:-}" ] || continue
		printf '%-9s %-5s %10s %11s MB %13s MB\n' "$s" "${LISTNAME[$l]}" "${LOADMS[$s.$l]}" \
			"$(mb "${RSS[$s.$l]:-0}")" "$(mb "${RSS_END[$s.$l]:-0}")"
		[ -n "${RSS_DETAIL[$s.$l]:-}" ] && echo "          after load: ${RSS_DETAIL[$s.$l]}"
		[ -n "${RSS_END_DETAIL[$s.$l]:-}" ] && echo "          after runs: ${RSS_END_DETAIL[$s.$l]}"
	done
done
echo
echo "Rate: responses/s over ${DURATION} s (lost = no answer within the timeout; fail = SERVFAIL/REFUSED/other)"
printf '%-9s %-5s %-8s %12s %12s %12s   %s\n' server list tool "(a) listed" "(b) sub" "(c) unlisted" "lost/fail (a,b,c)"
for tool in dnsperf qgen; do
	k="trivial.none.listed.$tool"
	[ -n "${QPS[$k]:-}" ] && printf '%-9s %-5s %-8s %12s %12s %12s   %s\n' trivial - "$tool" \
		"$(cell "$k")" - - "${LOST[$k]:--}/${FAIL[$k]:--}"
done
for s in $SERVERS; do
	for l in big small; do
		for tool in $TOOLS; do
			[ -n "${QPS[$s.$l.listed.$tool]+x}" ] || continue
			lf=""
			for f in $FILES; do
				lf="$lf${lf:+, }${LOST[$s.$l.$f.$tool]:--}/${FAIL[$s.$l.$f.$tool]:--}"
			done
			printf '%-9s %-5s %-8s %12s %12s %12s   %s\n' "$s" "${LISTNAME[$l]}" "$tool" \
				"$(cell "$s.$l.listed.$tool")" "$(cell "$s.$l.sub.$tool")" \
				"$(cell "$s.$l.unlisted.$tool")" "$lf"
		done
	done
done
echo "(server CPU % and generator CPU % per run are in the progress lines above and in $RES/)"
} | tee -a "$RES/summary.txt"

ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { # value op target
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		if (v !~ /^[0-9]+(\.[0-9]*)?$/) { print "n/a"; exit }
		ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 < t + 0)
		print ok ? "PASS" : "FAIL" }'
}

{
echo
echo "Targets (sinktrap):"
if [ -z "${QPS[sinktrap.big.listed.qgen]:-}" ]; then
	echo "  no sinktrap results (binary missing or it did not come up): re-run when build/sinktrap exists"
else
	for tool in $TOOLS; do
		for f in listed sub; do
			best=""; bestname=""
			for s in unbound kresd dnsmasq; do
				v=${QPS[$s.big.$f.$tool]:-}
				[ -n "$v" ] || continue
				if [ -z "$best" ] || [ "$v" -gt "$best" ]; then best=$v; bestname=$s; fi
			done
			r=$(ratio "${QPS[sinktrap.big.$f.$tool]:-}" "$best")
			printf '  %-15s %-8s sinktrap / best peer (%s): %s  (target >= 1.50: %s)\n' \
				"${FILELABEL[$f]}" "$tool" "${bestname:-none}" "$r" "$(verdict "$r" '>=' 1.5)"
		done
	done
	for tool in $TOOLS; do
		for f in listed sub unlisted; do
			[ -n "${QPS[sinktrap.small.$f.$tool]:-}" ] || continue
			r=$(ratio "${QPS[sinktrap.big.$f.$tool]:-}" "${QPS[sinktrap.small.$f.$tool]}")
			printf '  %-15s %-8s sinktrap 1M / 10-entry: %s  (target >= 0.95: %s)\n' \
				"${FILELABEL[$f]}" "$tool" "$r" "$(verdict "$r" '>=' 0.95)"
		done
	done
	for f in listed sub; do
		r=$(ratio "${QPS[sinktrap.big.$f.qgen]:-}" "${QPS[trivial.none.listed.qgen]:-}")
		printf '  %-15s %-8s sinktrap / trivial responder: %s  (target >= 0.50: %s)\n' \
			"${FILELABEL[$f]}" qgen "$r" "$(verdict "$r" '>=' 0.5)"
	done
	# Where the one CPU goes: CPU time per answer (server CPU / answers per second).
	us() { awk -v c="${1:-}" -v q="${2:-}" 'BEGIN { if (c == "" || q == "" || q == 0) print "-"; else printf "%.1f", c * 1e4 / q }'; }
	for f in listed sub; do
		k=sinktrap.big.$f.qgen
		[ -n "${QPS[$k]:-}" ] || continue
		read -r _ wd _ ws <<<"${WCPU[$k]:-}"
		printf '  %-15s %-8s CPU per answer: sinktrap %s us (dns worker %s, store %s), trivial responder %s us\n' \
			"${FILELABEL[$f]}" qgen "$(us "${SCPU[$k]:-}" "${QPS[$k]}")" "$(us "${wd:-}" "${QPS[$k]}")" \
			"$(us "${ws:-}" "${QPS[$k]}")" \
			"$(us "${SCPU[trivial.none.listed.qgen]:-}" "${QPS[trivial.none.listed.qgen]:-}")"
	done
	lm=${LOADMS[sinktrap.big]:-}
	printf '  load of 1M: %s ms  (target < 1000: %s)\n' "$lm" "$(verdict "$lm" '<' 1000)"
	dnsrss=""
	if [[ "${RSS_DETAIL[sinktrap.big]:-}" =~ dns\ ([0-9.]+)\ MB ]]; then dnsrss=${BASH_REMATCH[1]}; fi
	printf '  RSS after loading 1M: dns worker %s MB, all processes %s MB  (target < 64 MB: dns %s, all %s)\n' \
		"${dnsrss:--}" "$(mb "${RSS[sinktrap.big]:-0}")" "$(verdict "${dnsrss:--}" '<' 64)" \
		"$(verdict "$(mb "${RSS[sinktrap.big]:-0}")" '<' 64)"
	if [ -n "${SIGHUP_SENT:-}" ]; then
		printf '  SIGHUP x2 under load: sent %s, received %s, lost %s, failed %s, not sinkholed %s, %s q/s  (target lost 0: %s)\n' \
			"$SIGHUP_SENT" "$SIGHUP_RECV" "$SIGHUP_LOST" "$SIGHUP_FAIL" "$SIGHUP_NOTSINK" "$SIGHUP_QPS" \
			"$( [ "$SIGHUP_LOST" = 0 ] && [ "$SIGHUP_FAIL" = 0 ] && echo PASS || echo FAIL)"
		echo "    reload took effect: $SIGHUP_RELOADED; $SIGHUP_WORKER"
		echo "    same window without SIGHUP, (a) run above: lost ${LOST[sinktrap.big.listed.qgen]:--}"
	fi
	for l in big small; do
		[ -n "${EVENTS[$l]:-}" ] && echo "  events, ${LISTNAME[$l]} list: ${EVENTS[$l]}"
	done
	for l in big small; do
		[ -n "${FLOOR[$l]:-}" ] || continue
		best=""
		for s in unbound kresd dnsmasq; do
			v=${QPS[$s.big.listed.qgen]:-}
			if [ -n "$v" ] && { [ -z "$best" ] || [ "$v" -gt "$best" ]; }; then best=$v; fi
		done
		echo "  SQLite floor, ${LISTNAME[$l]} list: the run's events rows copied by INSERT ... SELECT into a new database, one transaction: ${FLOOR[$l]}${best:+ (1.5 x the best peer on (a) with qgen: $((best * 3 / 2)) q/s)}"
	done
fi
echo
echo "generator check: trivial responder $(cell trivial.none.listed.qgen) q/s with qgen vs $(cell trivial.none.listed.dnsperf) q/s with dnsperf"
echo "results: $RES"
} | tee -a "$RES/summary.txt"
