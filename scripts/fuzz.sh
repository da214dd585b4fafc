#!/bin/sh
# Run every fuzz target built in DIR for SECONDS each, from its seed corpus.
# A crash fails the run; the crashing input is kept in fuzz/artifacts/.
#   scripts/fuzz.sh build-fuzz 10
set -eu
dir=$1
secs=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/fuzz/artifacts"
ran=0
failed=0
for bin in "$dir"/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=$(basename "$bin" | sed 's/^fuzz_//')
	work=$(mktemp -d)
	seeds="$root/fuzz/corpus/$name"
	[ -d "$seeds" ] || seeds=""
	echo "fuzz $name: ${secs}s"
	if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
		-artifact_prefix="$root/fuzz/artifacts/$name-" "$work" $seeds >"$work.log" 2>&1; then
		echo "fuzz $name: FAILED"
		tail -40 "$work.log"
		failed=$((failed + 1))
	else
		grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$work.log" | tail -1 || true
	fi
	rm -rf "$work" "$work.log"
	ran=$((ran + 1))
done
echo "fuzz: $ran targets, $failed failed"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
