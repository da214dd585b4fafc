#!/bin/bash
# Packet capture benchmarks, side by side in one run:
#
#  live     a real capture replayed with tcpreplay (-K, --pps ladder and --topspeed)
#           on a veth pair between two network namespaces of this script; on the
#           other end, one at a time: tcpdump -w, daemonlogger (the engine of
#           OpenFPC, its way: 1 GB files) and sinktrap's capture worker (flows,
#           index, events, 1 GB files). Per rate: packets sent, captured, dropped.
#           The capture tool is pinned to CPU 1, tcpreplay to CPU 0; twice: with
#           CPU 1 to itself, and held to a share of it by a CPU quota (a cgroup of
#           this script: QUOTA % of a CPU in every 10 ms), the same for every tool,
#           which brings the tools' limits under what one core of tcpreplay can
#           send. Per trial also the tool's own CPU time (user + system).
#  ingest   a 1 GB capture made of a real one (looped, each round's addresses
#           moved): `tcpdump -r X -w /dev/null` against `sinktrap ingest X` (spool
#           copy, flows, index, events into SQLite and JSON), median of 3. Also the
#           SQLite floor: the rows that ingest stored (events and sessions), copied
#           by the sqlite3 shell into a new database of the same schema and pragmas
#           in one INSERT ... SELECT transaction: what the rows cost SQLite alone,
#           with no packet, no JSON and no binding.
#  extract  a spool of 3 files of 1 GB (OpenFPC's file size), ingested; for 10
#           sessions: `sinktrap pcap --session ID` against the OpenFPC way
#           (tcpdump -r FILE -w OUT 'host A and host B and port P and port Q' over
#           the files of the session's time range, mergecap when several); each
#           command writes a new file and is timed by bash's clock and by timeit
#           (timeit.c: fork, exec, wait); median times, and the packets compared
#           record by record.
#
#   bench/capture/run.sh [--quick] [--parts "live ingest extract" | quota] [--wait-idle S]
#                        [--capture FILE] [--quota PERCENT] [--keep]
#
# Hard time limit: 40 minutes (--quick: 15). Everything it starts (processes,
# namespaces, the veth pair, temporary files) is removed at exit, whatever
# happens. Needs root, tcpreplay, tcpdump, daemonlogger, capinfos, mergecap,
# taskset, cc, sqlite3 and build/sinktrap. Results: bench/capture/build-bench/results-TIME/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BB="$HERE/build-bench"
PCAPS="$ROOT/../shared/data/pcaps"
# shellcheck source=bench/lib/sqlite_floor.sh
. "$ROOT/bench/lib/sqlite_floor.sh"

QUICK=0
PARTS="live ingest extract"
WAIT_IDLE=0
KEEP=0
QUOTA=10
CAPTURE="$PCAPS/capture-Thu-11-24-16-10-28-11_cerber.pcap"
SINKTRAP="$ROOT/build/sinktrap"

usage() {
	cat <<EOF
usage: bench/capture/run.sh [--quick] [--parts "live ingest extract"] [--wait-idle S]
                            [--capture FILE] [--keep]
  --quick        smaller: live trials of ~2 s, ingest of 256 MB, a 1 GB spool, 5 sessions
  --parts LIST   which benchmarks (default: all three; "quota": the CPU-quota live ladder alone)
  --wait-idle S  before each measurement wait up to S s for the machine to go idle
  --capture F    the real capture replayed live (default: the Cerber capture)
  --quota P      the second live ladder: each tool gets P % of a CPU (default 10)
  --keep         keep the temporary directory
EOF
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--parts) PARTS=$2; shift ;;
	--wait-idle) WAIT_IDLE=$2; shift ;;
	--capture) CAPTURE=$2; shift ;;
	--quota) QUOTA=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (namespaces, packet capture)" >&2; exit 1; }
for t in tcpreplay tcpdump daemonlogger capinfos mergecap editcap taskset cc bc ip /usr/bin/python3; do
	command -v "$t" >/dev/null || { echo "run.sh: $t missing (scripts/deps.sh bench)" >&2; exit 1; }
done
[ -x "$SINKTRAP" ] || { echo "run.sh: $SINKTRAP missing (make build)" >&2; exit 1; }

LIMIT=$((QUICK ? 900 : 2400))
CGROUP=""
if [ "$QUICK" = 1 ]; then
	TRIAL_S=2; INGEST_MB=256; SPOOL_FILES=1; SESSIONS=5; REPS=3
else
	TRIAL_S=5; INGEST_MB=1024; SPOOL_FILES=3; SESSIONS=10; REPS=3
fi
FILE_MB=1024

WORK=$(mktemp -d /tmp/sinktrap-capbench-XXXXXX)
chmod 755 "$WORK"
TAG=$$
NS_SRC="stb-src-$TAG"
NS_CAP="stb-cap-$TAG"
IF_SRC="stbs$TAG"
IF_CAP="stbc$TAG"
PIDS=()

cleanup() {
	set +e
	# the tool of a live trial still running (started in a subshell: its id is in a file)
	[ -f "$WORK/trial.pid" ] && PIDS+=("$(cat "$WORK/trial.pid")")
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.5
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	ip netns del "$NS_SRC" 2>/dev/null
	ip netns del "$NS_CAP" 2>/dev/null
	[ -n "$CGROUP" ] && rmdir "$CGROUP" 2>/dev/null
	[ -n "${WATCHDOG:-}" ] && kill "$WATCHDOG" 2>/dev/null
	if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 1' INT TERM
# The watchdog's sleep goes with it: a stray sleep would keep the files this script
# inherited open (a lock held by the caller, for one) long after the run.
(
	trap 'kill "$sp" 2>/dev/null; exit 0' TERM
	sleep "$LIMIT" &
	sp=$!
	wait "$sp"
	echo "run.sh: time limit ($LIMIT s) reached" >&2
	kill -TERM $$
) &
WATCHDOG=$!

mkdir -p "$BB"
RES="$BB/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RES"
SUM="$RES/summary.md"
say() { echo "$*" | tee -a "$SUM"; }

CLK_TCK=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
IDLE_NOTE=""
wait_idle() {
	IDLE_NOTE=""
	[ "$WAIT_IDLE" -gt 0 ] || return 0
	local deadline=$(($(date +%s) + WAIT_IDLE)) a b
	while :; do
		a=$(busy_ticks); sleep 1; b=$(busy_ticks)
		if [ $((b - a)) -lt $((CLK_TCK / 5)) ]; then IDLE_NOTE=""; return 0; fi
		if [ "$(date +%s)" -ge "$deadline" ]; then IDLE_NOTE=" (machine busy)"; return 0; fi
	done
}
# wall-clock times are taken with bash's $EPOCHREALTIME (no process started to read the clock)
perf_start() { # median wall time of 20 starts of a command, in ms
	local t=() i a b
	for i in $(seq 20); do a=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || true; b=$EPOCHREALTIME; t+=("$(echo "($b - $a) * 1000" | bc)"); done
	printf '%.1f ms' "$(printf '%s\n' "${t[@]}" | median)"
}
# packets the kernel dropped before any socket saw them (input backlog full), all CPUs
backlog_drops() {
	local s=0 a b rest
	while read -r a b rest; do s=$((s + 0x$b)); done </proc/net/softnet_stat
	echo "$s"
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# build what is measured
ninja -C "$ROOT/build" >/dev/null
cc -O2 -D_GNU_SOURCE -I"$ROOT/src" "$HERE/capgen.c" "$ROOT/src/capture/pcapfile.c" \
	"$ROOT/src/common/util.c" "$ROOT/src/common/log.c" -o "$WORK/capgen"
cc -O2 "$HERE/timeit.c" -o "$WORK/timeit"

say "# Packet capture benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
say ""
say "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
say "tools: $(tcpdump --version 2>&1 | head -1), $(tcpreplay -V 2>&1 | head -1), $(daemonlogger -v 2>&1 | grep -i -m1 version | sed 's/^[^A-Za-z]*//'), sinktrap $($SINKTRAP version | cut -d' ' -f2)"
say ""

conf_common() { # state_dir
	cat <<EOF
[sinktrap]
state_dir = $1
log_level = warning
[dns]
enabled = no
EOF
}

# ---------------------------------------------------------------- live

live_trial() { # tool rate(pps, 0 = top) -> "sent captured drops kernel_drops seconds"
	local tool=$1 rate=$2 out="$WORK/live-$1" pid sent secs captured kdrops loops rateopt cpu
	set +e # a subshell: whatever fails, it still prints its line
	rm -rf "$out"; mkdir -p "$out"; chmod 755 "$out"
	case $tool in
	tcpdump)
		ip netns exec "$NS_CAP" taskset -c 1 tcpdump -i "$IF_CAP" -w "$out/td.pcap" \
			>"$out/stdout" 2>"$out/stderr" &
		pid=$! ;;
	daemonlogger)
		ip netns exec "$NS_CAP" taskset -c 1 daemonlogger -i "$IF_CAP" -l "$out" -n dl \
			-s 1073741824 >"$out/stdout" 2>"$out/stderr" &
		pid=$! ;;
	sinktrap)
		{ conf_common "$out/state"; cat <<EOF
[capture]
interface = $IF_CAP
file_size = 1G
stats_interval = 1s
[events]
json = no
sqlite = no
EOF
		} >"$out/st.conf"
		ip netns exec "$NS_CAP" taskset -c 1 "$SINKTRAP" capture -c "$out/st.conf" \
			>"$out/stdout" 2>"$out/stderr" &
		pid=$! ;;
	esac
	echo "$pid" >"$WORK/trial.pid"
	# into the quota's cgroup when it is on, from here: `ip netns exec` gives the tool a
	# /sys of its namespace, without the cgroup file systems (threads started later follow)
	if [ "$QUOTA_ON" = 1 ]; then
		sleep 0.2
		echo "$pid" >"$CGROUP_PROCS" || echo "run.sh: cannot put $tool in $CGROUP" >&2
	fi
	sleep 1.5
	local bl0 bl1
	bl0=$(backlog_drops)
	if [ "$rate" = 0 ]; then
		rateopt="--topspeed"; loops=$((TOPLOOPS))
	else
		rateopt="--pps=$rate"; loops=$(( (rate * TRIAL_S + REPLAY_PKTS - 1) / REPLAY_PKTS ))
	fi
	ip netns exec "$NS_SRC" taskset -c 0 tcpreplay -i "$IF_SRC" -K "$rateopt" --loop="$loops" \
		"$WORK/replay.pcap" >"$out/tcpreplay" 2>&1 || true
	sleep 1.5
	bl1=$(backlog_drops)
	# the tool's CPU time, all its threads, in ms (the trial's whole life: mostly the replay)
	cpu=$(awk -v hz="$CLK_TCK" '{printf "%d", ($14 + $15) * 1000 / hz}' "/proc/$pid/stat" 2>/dev/null || echo 0)
	kill -INT "$pid" 2>/dev/null
	[ "$tool" = sinktrap ] && kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$WORK/trial.pid"
	sent=$(awk '/Actual:/{print $2}' "$out/tcpreplay")
	secs=$(awk '/Actual:/{for(i=1;i<=NF;i++) if($i=="in") print $(i+1)}' "$out/tcpreplay")
	sent=${sent:-0}; secs=${secs:-0}
	case $tool in
	tcpdump)
		captured=$(awk '/packets captured/{print $1}' "$out/stderr")
		kdrops=$(awk '/dropped by kernel/{print $1}' "$out/stderr") ;;
	daemonlogger)
		captured=0
		for f in "$out"/dl*; do
			[ -f "$f" ] || continue
			captured=$((captured + $(capinfos -c -M "$f" 2>/dev/null | awk '/Number of packets/{print $NF}')))
		done
		kdrops=$(grep -Eih 'drop' "$out/stderr" "$out/stdout" 2>/dev/null | grep -Eo '[0-9]+' | head -1 || true)
		kdrops=${kdrops:--} ;;
	sinktrap)
		read -r captured kdrops < <(/usr/bin/python3 -c '
import json, sys
last = None
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event_type") == "stats" and "capture" in e.get("stats", {}):
        last = e["stats"]["capture"]
print(last["captured"], last["kernel_drops"] + last["ifdrops"]) if last else print(0, "-")
' "$out/stdout") ;;
	esac
	captured=${captured:-0}
	local drops=$((sent > captured ? sent - captured : 0))
	echo "$sent $captured $drops ${kdrops:--} $secs $((bl1 - bl0)) ${cpu:-0}"
}

# CPU time per packet sent, in microseconds
us_per_pkt() { awk -v c="$1" -v n="$2" 'BEGIN{printf "%.2f", (n > 0 ? c * 1000 / n : 0)}'; }

live_scenario() { # title rates
	local title=$1 rates=$2
	[ "$QUICK" = 1 ] && rates=$(echo "$rates" | awk '{print $2, $4, $NF}')
	say "### $title"
	say ""
	say "| tool | rate asked (pkt/s) | sent | rate sent (pkt/s) | captured | lost | dropped by the socket (kernel) | dropped before any socket (backlog) | tool CPU (ms) | CPU µs/packet |"
	say "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	declare -gA MAXOK
	local -A failed
	local tool
	for tool in tcpdump daemonlogger sinktrap; do
		MAXOK[$tool]=0
		failed[$tool]=0
	done
	# rate by rate, the tools in turn (whatever else the machine does then falls on all
	# of them alike); a tool's ladder ends at its first loss
	for r in $rates; do
		for tool in tcpdump daemonlogger sinktrap; do
			[ "${failed[$tool]}" = 1 ] && continue
			wait_idle
			read -r sent cap lost kd secs bl cpu < <(live_trial "$tool" "$r") || true
			local pps
			pps=$(awk -v n="$sent" -v s="$secs" 'BEGIN{printf "%d", (s > 0 ? n / s : 0)}')
			say "| $tool | $([ "$r" = 0 ] && echo topspeed || echo "$r") | $sent | $pps | $cap | $lost | $kd | $bl | $cpu | $(us_per_pkt "$cpu" "$sent") |$IDLE_NOTE"
			if [ "$lost" = 0 ]; then
				MAXOK[$tool]=$pps
			else
				failed[$tool]=1
			fi
		done
	done
	local base=${MAXOK[tcpdump]}
	[ "${MAXOK[daemonlogger]}" -gt "$base" ] && base=${MAXOK[daemonlogger]}
	say ""
	say "highest rate without a loss (every lower rate lossless too): tcpdump ${MAXOK[tcpdump]} pkt/s, daemonlogger ${MAXOK[daemonlogger]} pkt/s, sinktrap ${MAXOK[sinktrap]} pkt/s"
	# sinktrap at the better of the two and at 1.5 times it, three times each
	local r15=$(( base * 3 / 2 ))
	say ""
	say "sinktrap again, three trials each at $base pkt/s (the best peer's lossless rate) and at $r15 pkt/s (1.5 x; the rate sent is what tcpreplay reached):"
	say ""
	say "| rate asked (pkt/s) | trial | sent | rate sent (pkt/s) | captured | lost | dropped by the socket (kernel) | dropped before any socket (backlog) | tool CPU (ms) | CPU µs/packet |"
	say "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for r in "$base" "$r15"; do
		for i in 1 2 3; do
			wait_idle
			read -r sent cap lost kd secs bl cpu < <(live_trial sinktrap "$r") || true
			say "| $r | $i | $sent | $(awk -v n="$sent" -v s="$secs" 'BEGIN{printf "%d", (s > 0 ? n / s : 0)}') | $cap | $lost | $kd | $bl | $cpu | $(us_per_pkt "$cpu" "$sent") |$IDLE_NOTE"
		done
	done
	say ""
}

# A cgroup with a CPU quota for the capture tool: cgroup v2 (cpu.max) or v1 (cfs quota).
QUOTA_ON=0
QUOTA_RATES="25000 50000 75000 100000 125000 150000 175000 200000 250000 300000 0"
quota_setup() {
	local v2=/sys/fs/cgroup v1=/sys/fs/cgroup/cpu period=10000
	local q=$((period * QUOTA / 100))
	if [ -f "$v2/cgroup.controllers" ] && grep -qw cpu "$v2/cgroup.subtree_control" 2>/dev/null; then
		CGROUP="$v2/sinktrap-capbench-$TAG"
		mkdir "$CGROUP" && echo "$q $period" >"$CGROUP/cpu.max" || return 1
	elif [ -f "$v1/cpu.cfs_quota_us" ]; then
		CGROUP="$v1/sinktrap-capbench-$TAG"
		mkdir "$CGROUP" && echo "$period" >"$CGROUP/cpu.cfs_period_us" &&
			echo "$q" >"$CGROUP/cpu.cfs_quota_us" || return 1
	else
		return 1
	fi
	CGROUP_PROCS="$CGROUP/cgroup.procs"
}

run_live() {
	say "## Live capture"
	say ""
	ip netns add "$NS_SRC"
	ip netns add "$NS_CAP"
	ip link add "$IF_SRC" type veth peer name "$IF_CAP"
	ip link set "$IF_SRC" netns "$NS_SRC"
	ip link set "$IF_CAP" netns "$NS_CAP"
	for n in "$NS_SRC:$IF_SRC" "$NS_CAP:$IF_CAP"; do
		ns=${n%%:*}; dev=${n#*:}
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip -n "$ns" link set "$dev" mtu 65535 2>/dev/null || ip -n "$ns" link set "$dev" mtu 9000
		ip -n "$ns" link set "$dev" up
	done
	# the real capture as classic pcap (tcpreplay preloads it with -K)
	editcap -F pcap "$CAPTURE" "$WORK/replay.pcap"
	REPLAY_PKTS=$(capinfos -c -M "$WORK/replay.pcap" | awk '/Number of packets/{print $NF}')
	local avg
	avg=$(capinfos -z -M "$WORK/replay.pcap" | awk '/Average packet size/{print $(NF-1)}')
	say "replayed: $(basename "$CAPTURE"), $REPLAY_PKTS packets a round, average $avg bytes, looped; each trial about ${TRIAL_S} s of traffic (topspeed: $(( TRIAL_S * 300000 / REPLAY_PKTS + 1 )) rounds)"
	TOPLOOPS=$(( TRIAL_S * 300000 / REPLAY_PKTS + 1 ))
	wait_idle
	ip netns exec "$NS_SRC" taskset -c 0 tcpreplay -i "$IF_SRC" -K --topspeed --loop="$TOPLOOPS" \
		"$WORK/replay.pcap" >"$WORK/top.txt" 2>&1 || true
	say "tcpreplay --topspeed with nothing capturing: $(awk '/Rated:/{print $(NF-1)}' "$WORK/top.txt" | cut -d. -f1) pkt/s"
	say ""
	QUOTA_ON=0
	[ "$1" = all ] && live_scenario "The capture tool has CPU 1 to itself" "50000 100000 150000 200000 250000 300000 0"
	# One core of tcpreplay cannot outrun the tools here; the same ladder with every tool
	# held to QUOTA % of CPU 1 (as the sensor's other workers would leave it less than a
	# core), which brings their limits under what tcpreplay can send.
	if quota_setup; then
		QUOTA_ON=1
		live_scenario "Each capture tool held to ${QUOTA} % of CPU 1 (CPU quota, 10 ms period)" "$QUOTA_RATES"
		QUOTA_ON=0
	else
		say "(no CPU controller to hold the tools to a quota: the second ladder is skipped)"
	fi
	say ""
	ip netns del "$NS_SRC"
	ip netns del "$NS_CAP"
}

# ---------------------------------------------------------------- ingest

run_ingest() {
	say "## Offline: ingest of a ${INGEST_MB} MB capture against tcpdump -r X -w /dev/null"
	say ""
	say "| capture | packets | sessions | tcpdump -r -w /dev/null (s) | sinktrap ingest (s) | ratio | ingest, spool and index only (s) | SQLite floor: its rows by INSERT ... SELECT (s) | ratio to the floor |"
	say "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	local name src
	for name in mix cerber; do
		if [ $name = mix ]; then
			src="$PCAPS/http_espn.pcapng $PCAPS/ek_to_cryptowall4.pcapng $PCAPS/honeynet_fc2010-1_attack-trace.pcap $PCAPS/cryptowall4_c2.pcapng $PCAPS/macgyver.pcap"
		else
			src="$PCAPS/capture-Thu-11-24-16-10-28-11_cerber.pcap"
		fi
		# shellcheck disable=SC2086
		"$WORK/capgen" -u "$WORK/in-$name" "$INGEST_MB" "$INGEST_MB" $src >/dev/null
		local x="$WORK/in-$name-001.pcap" td=() st=() bare=() pk ses
		cat "$x" >/dev/null
		for i in $(seq "$REPS"); do
			wait_idle
			local t0 t1
			t0=$EPOCHREALTIME; tcpdump -r "$x" -w /dev/null 2>/dev/null; t1=$EPOCHREALTIME
			td+=("$(echo "$t1 - $t0" | bc)")
			for mode in full bare; do
				rm -rf "$WORK/ing"; mkdir -p "$WORK/ing"
				{ conf_common "$WORK/ing"; echo "[events]"
				  if [ $mode = full ]; then echo "json = $WORK/ing/events.json"; echo "sqlite = yes";
				  else echo "json = no"; echo "sqlite = no"; fi; } >"$WORK/ing.conf"
				sync
				wait_idle
				t0=$EPOCHREALTIME; "$SINKTRAP" ingest -q -c "$WORK/ing.conf" "$x" 2>"$WORK/ing.err"; t1=$EPOCHREALTIME
				if [ $mode = full ]; then st+=("$(echo "$t1 - $t0" | bc)"); else bare+=("$(echo "$t1 - $t0" | bc)"); fi
			done
		done
		pk=$(capinfos -c -M "$x" | awk '/Number of packets/{print $NF}')
		rm -rf "$WORK/ing"; mkdir -p "$WORK/ing"
		{ conf_common "$WORK/ing"; printf '[events]\njson = no\nsqlite = yes\n'; } >"$WORK/ing.conf"
		ses=$("$SINKTRAP" ingest -c "$WORK/ing.conf" "$x" 2>/dev/null | grep -o '[0-9]* sessions' | cut -d' ' -f1)
		local fl=() mtd mst mbare mfl
		for i in $(seq "$REPS"); do
			wait_idle
			fl+=("$(sqlite_floor "$WORK/ing/sinktrap.db" "$WORK" events sessions)")
		done
		mtd=$(printf '%s\n' "${td[@]}" | median); mst=$(printf '%s\n' "${st[@]}" | median)
		mbare=$(printf '%s\n' "${bare[@]}" | median); mfl=$(printf '%s\n' "${fl[@]}" | median)
		say "| $name | $pk | $ses | $(printf %.2f "$mtd") | $(printf %.2f "$mst") | $(awk -v a="$mtd" -v b="$mst" 'BEGIN{printf "%.2fx", a/b}') | $(printf %.2f "$mbare") | $(printf %.2f "$mfl") | $(awk -v a="$mtd" -v b="$mfl" 'BEGIN{printf "%.2fx", a/b}') |$IDLE_NOTE"
		rm -f "$x"
		rm -rf "$WORK/ing"
	done
	say ""
	say "(ratio: tcpdump's time over sinktrap's, above 1 means sinktrap is faster; medians of $REPS; the input is in the page cache for both. The floor: sinktrap's rows of that capture, events and sessions, copied by the sqlite3 shell into a new database of the same schema and pragmas in one transaction; below 1x, SQLite alone takes longer than tcpdump)"
	say ""
}

# ---------------------------------------------------------------- extract

run_extract() {
	say "## Pulling one session out of the spool"
	say ""
	local src="$PCAPS/http_espn.pcapng $PCAPS/ek_to_cryptowall4.pcapng $PCAPS/honeynet_fc2010-1_attack-trace.pcap $PCAPS/cryptowall4_c2.pcapng $PCAPS/macgyver.pcap"
	# shellcheck disable=SC2086
	"$WORK/capgen" -u "$WORK/sp" $((FILE_MB * SPOOL_FILES)) "$FILE_MB" $src >/dev/null
	mkdir -p "$WORK/ex"
	{ conf_common "$WORK/ex"; printf '[capture]\nfile_size = 1G\n[events]\njson = no\nsqlite = yes\n'; } >"$WORK/ex.conf"
	"$SINKTRAP" ingest -q -c "$WORK/ex.conf" "$WORK"/sp-*.pcap
	rm -f "$WORK"/sp-*.pcap
	local spool="$WORK/ex/pcap" bytes
	sync
	# "cold": what a spool of terabytes is, not in memory; only this spool's files and
	# database are dropped from the page cache (dd's nocache: POSIX_FADV_DONTNEED)
	evict_spool() {
		local f
		for f in "$spool"/* "$WORK"/ex/sinktrap.db*; do
			[ -f "$f" ] && dd if="$f" iflag=nocache count=0 status=none 2>/dev/null
		done
		true
	}
	bytes=$(du -cb "$spool"/*.pcap | tail -1 | cut -f1)
	say "spool: $(ls "$spool"/*.pcap | wc -l) files, $(echo "$bytes / 1048576" | bc) MB of packets, indexes $(du -cb "$spool"/*.idx | tail -1 | cut -f1) bytes ($(awk -v i="$(du -cb "$spool"/*.idx | tail -1 | cut -f1)" -v b="$bytes" 'BEGIN{printf "%.3f", 100*i/b}')% of the packets)"
	# the files' time ranges, as OpenFPC keeps them (not timed)
	for f in "$spool"/*.pcap; do
		capinfos -a -e -S -M "$f" | awk -v f="$f" '/First packet time/{a=$NF} /Last packet time/{b=$NF} END{print f, a, b}'
	done >"$WORK/ranges"
	/usr/bin/python3 - "$WORK/ex/sinktrap.db" "$SESSIONS" >"$WORK/pick" <<'EOF'
import random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
# TCP sessions of 10 packets or more whose 5-tuple occurs once in the spool: both
# ways must then return the same packets
rows = db.execute("select flow_id, src_ip, dest_ip, src_port, dest_port, start_ts, end_ts, "
                  "pkts_toserver + pkts_toclient from sessions where proto = 'TCP' and "
                  "pkts_toserver + pkts_toclient >= 10 and (src_ip, dest_ip, src_port, "
                  "dest_port) in (select src_ip, dest_ip, src_port, dest_port from sessions "
                  "group by 1, 2, 3, 4 having count(*) = 1) order by flow_id").fetchall()
random.seed(42)
for r in random.sample(rows, min(int(sys.argv[2]), len(rows))):
    print(*r)
EOF
	say ""
	say "Each command is timed twice, in turn: by bash's clock around it (as in the first runs: bash's own fork and wait included) and by \`timeit\` (bench/capture/timeit.c: fork, exec, wait, nothing else)."
	say ""
	say "| session | packets | files read by tcpdump | OpenFPC way (s) | sinktrap pcap, whole command (s) | speed-up | timeit: OpenFPC way (s) | timeit: sinktrap pcap (s) | timeit: speed-up | of which the extraction (ms) | speed-up of the extraction | cold: OpenFPC way (s) | cold: sinktrap pcap (s) | cold: speed-up | cold, timeit: OpenFPC way (s) | cold, timeit: sinktrap pcap (s) | cold, timeit: speed-up | same packets |"
	say "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	local ratios=() iratios=() cratios=() tratios=() ctratios=()
	while read -r id a b sp dp st en n; do
		local files=() f s e
		while read -r f s e; do
			# overlap of [s, e] (seconds) with the session's [start, end] (usec)
			if awk -v s="$s" -v e="$e" -v a="$st" -v b="$en" 'BEGIN{exit !(s <= b/1e6 + 1 && e >= a/1e6 - 1)}'; then
				files+=("$f")
			fi
		done <"$WORK/ranges"
		local tof=() tst=() tin=() cof=() cst=() i t0 t1
		# OpenFPC's commands; with several files one shell runs them (its start is
		# then OpenFPC's: it runs them from a script too)
		local ofcmd=() k=0 f outs=()
		for f in "${files[@]}"; do
			outs+=("$WORK/of-$k.pcap"); k=$((k + 1))
		done
		if [ ${#files[@]} -eq 1 ]; then
			ofcmd=(tcpdump -r "${files[0]}" -w "$WORK/ofpc.pcap" "host $a and host $b and port $sp and port $dp")
		else
			local script="" q
			for k in "${!files[@]}"; do
				printf -v q '%q ' tcpdump -r "${files[$k]}" -w "${outs[$k]}" "host $a and host $b and port $sp and port $dp"
				script+="$q 2>/dev/null; "
			done
			printf -v q '%q ' mergecap -F pcap -w "$WORK/ofpc.pcap" "${outs[@]}"
			ofcmd=(/bin/sh -c "$script$q")
		fi
		# each command writes a new file, as an analyst's would: overwriting the
		# one written a moment before makes the kernel wait for its writeback
		# first (0.5 ms here), which is neither tool's work (not timed)
		fresh_of() { rm -f "$WORK"/ofpc.pcap "$WORK"/of-*.pcap; }
		fresh_st() { rm -f "$WORK"/st.pcap; }
		local stcmd=("$SINKTRAP" pcap -c "$WORK/ex.conf" --session "$id" -w "$WORK/st.pcap")
		openfpc_way() { "${ofcmd[@]}" 2>/dev/null; }
		sinktrap_way() { "${stcmd[@]}" 2>"$WORK/st.err"; }
		# the same commands under timeit, which appends each one's time to the file named
		openfpc_timed() { "$WORK/timeit" "$WORK/$1" "${ofcmd[@]}" 2>/dev/null; }
		sinktrap_timed() { "$WORK/timeit" "$WORK/$1" "${stcmd[@]}" 2>"$WORK/st.err"; }
		rm -f "$WORK"/t-of "$WORK"/t-st "$WORK"/t-cof "$WORK"/t-cst
		for i in $(seq "$REPS"); do
			wait_idle
			fresh_of; t0=$EPOCHREALTIME; openfpc_way; t1=$EPOCHREALTIME; tof+=("$(echo "$t1 - $t0" | bc)")
			fresh_st; t0=$EPOCHREALTIME; sinktrap_way; t1=$EPOCHREALTIME; tst+=("$(echo "$t1 - $t0" | bc)")
			tin+=("$(grep -o 'in [0-9.]* ms' "$WORK/st.err" | cut -d' ' -f2)")
			fresh_of; openfpc_timed t-of
			fresh_st; sinktrap_timed t-st
		done
		# cold: the spool's files and the database dropped from the page cache before each
		for i in $(seq "$REPS"); do
			wait_idle
			fresh_of; evict_spool; t0=$EPOCHREALTIME; openfpc_way; t1=$EPOCHREALTIME; cof+=("$(echo "$t1 - $t0" | bc)")
			fresh_st; evict_spool; t0=$EPOCHREALTIME; sinktrap_way; t1=$EPOCHREALTIME; cst+=("$(echo "$t1 - $t0" | bc)")
			fresh_of; evict_spool; openfpc_timed t-cof
			fresh_st; evict_spool; sinktrap_timed t-cst
		done
		local same
		same=$(/usr/bin/python3 - "$WORK/ofpc.pcap" "$WORK/st.pcap" <<'EOF'
import struct, sys
def recs(p):
    d = open(p, "rb").read()
    e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    ns = d[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    out, o = [], 24
    while o + 16 <= len(d):
        s, f, c, l = struct.unpack(e + "IIII", d[o:o + 16])
        out.append((s, f // 1000 if ns else f, l, d[o + 16:o + 16 + c])); o += 16 + c
    return out
a, b = recs(sys.argv[1]), recs(sys.argv[2])
print("yes (%d)" % len(a) if a == b else "NO (%d vs %d)" % (len(a), len(b)))
EOF
)
		local mo ms mi mco mcs xo xs xco xcs
		mo=$(printf '%s\n' "${tof[@]}" | median); ms=$(printf '%s\n' "${tst[@]}" | median)
		mi=$(printf '%s\n' "${tin[@]}" | median)
		mco=$(printf '%s\n' "${cof[@]}" | median); mcs=$(printf '%s\n' "${cst[@]}" | median)
		xo=$(median <"$WORK/t-of"); xs=$(median <"$WORK/t-st")
		xco=$(median <"$WORK/t-cof"); xcs=$(median <"$WORK/t-cst")
		tratios+=("$(awk -v a="$xo" -v b="$xs" 'BEGIN{printf "%.1f", a/b}')")
		ctratios+=("$(awk -v a="$xco" -v b="$xcs" 'BEGIN{printf "%.1f", a/b}')")
		ratios+=("$(awk -v a="$mo" -v b="$ms" 'BEGIN{printf "%.1f", a/b}')")
		iratios+=("$(awk -v a="$mo" -v b="$mi" 'BEGIN{printf "%.1f", a*1000/b}')")
		cratios+=("$(awk -v a="$mco" -v b="$mcs" 'BEGIN{printf "%.1f", a/b}')")
		say "| $id | $n | ${#files[@]} | $(printf %.3f "$mo") | $(printf %.4f "$ms") | $(awk -v a="$mo" -v b="$ms" 'BEGIN{printf "%.0fx", a/b}') | $(printf %.3f "$xo") | $(printf %.4f "$xs") | $(awk -v a="$xo" -v b="$xs" 'BEGIN{printf "%.0fx", a/b}') | $mi | $(awk -v a="$mo" -v b="$mi" 'BEGIN{printf "%.0fx", a*1000/b}') | $(printf %.3f "$mco") | $(printf %.4f "$mcs") | $(awk -v a="$mco" -v b="$mcs" 'BEGIN{printf "%.0fx", a/b}') | $(printf %.3f "$xco") | $(printf %.4f "$xcs") | $(awk -v a="$xco" -v b="$xcs" 'BEGIN{printf "%.0fx", a/b}') | $same |$IDLE_NOTE"
	done <"$WORK/pick"
	say ""
	say "median speed-up, files in the page cache: $(printf '%s\n' "${ratios[@]}" | median)x for the whole command by bash's clock, $(printf '%s\n' "${tratios[@]}" | median)x by timeit, $(printf '%s\n' "${iratios[@]}" | median)x for the extraction alone; files not in the page cache: $(printf '%s\n' "${cratios[@]}" | median)x by bash's clock, $(printf '%s\n' "${ctratios[@]}" | median)x by timeit (medians of $REPS runs each)"
	say ""
	say "process start-up on this machine (median of 20 starts, nothing else done): sinktrap version $(perf_start "$SINKTRAP" version), tcpdump --version $(perf_start tcpdump --version)"
	say ""
}

for p in $PARTS; do
	case $p in
	live) run_live all ;;
	quota) run_live quota ;; # the second live ladder alone
	ingest) run_ingest ;;
	extract) run_extract ;;
	*) echo "run.sh: unknown part $p" >&2; exit 2 ;;
	esac
done
say "results in $RES"
