#!/bin/bash
# make bench: every benchmark, one table per figure; exits non-zero when a
# tool is missing or any figure could not be measured. QUICK=1: shorter.
#   bench/run.sh --record   also appends the run to bench/RESULTS.md in the
#                           format of its "Recorded runs" section
set -u
cd "$(dirname "$0")/.."
case ${1:-} in
--record) record=1 ;;
"") record=0 ;;
*) echo "usage: bench/run.sh [--record]" >&2; exit 2 ;;
esac
bench/deps.sh || exit 1
. bench/lib.sh
raise_nofile
commit() {
	local c
	c=$(git rev-parse --short HEAD 2>/dev/null) || { echo "unknown"; return; }
	echo "$c ($(git rev-parse --abbrev-ref HEAD))$(git diff --quiet HEAD -- . ':!bench/RESULTS.md' ||
		echo ', with uncommitted changes')"
}
STAMP=$(date -u '+%Y-%m-%d %H:%M UTC')
MODE=$([ "${QUICK:-0}" != 0 ] && echo "QUICK=1" || echo "full")
run_all() {
	local rc=0
	echo "== run: $STAMP, commit $(commit), $MODE"
	echo "== machine: $(machine)"
	echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	bench/tunnel.sh || rc=1
	bench/http.sh || rc=1
	echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	return $rc
}
[ $record = 1 ] || { run_all; exit; }
log=$(mktemp /tmp/azbridge-bench-XXXXXX.log)
run_all | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ]; then
	echo "bench: not recorded (a figure failed); the output is in $log" >&2
	exit "$rc"
fi
{
	printf '\n### %s, commit %s, %s\n\n' "$STAMP" "$(commit)" "$MODE"
	printf 'Machine: %s.\n\n```\n' "$(machine)"
	cat "$log"
	printf '```\n'
} >>bench/RESULTS.md
rm -f "$log"
echo "bench: recorded in bench/RESULTS.md"
