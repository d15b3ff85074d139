#!/bin/bash
# Runs every test suite and ends with one line "N passed, N failed".
# Each suite prints its own "<suite>: N passed, N failed" as its last line.
# SUITES="unit config cli" selects suites; BUILD names the build directory.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITES=${SUITES:-"unit cycles config import cli docs install fuzz integration conformance"}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
export BUILD
total_pass=0
total_fail=0

count() {   # count "<line>": adds "N passed, N failed" to the totals
	local p f
	p=$(sed -nE 's/.*\b([0-9]+) passed.*/\1/p' <<<"$1")
	f=$(sed -nE 's/.*\b([0-9]+) failed.*/\1/p' <<<"$1")
	total_pass=$((total_pass + ${p:-0}))
	total_fail=$((total_fail + ${f:-1}))
}

# cmocka binaries: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)".
suite_unit() {
	local pass=0 fail=0 t out p f
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		out=$(timeout 120 "$t" 2>&1)
		local rc=$?
		echo "$out" >"$LOGDIR/$(basename "$t").log"
		p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' <<<"$out" | tail -n1)
		f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' <<<"$out" | tail -n1)
		if [ -z "$p$f" ]; then
			echo "  $(basename "$t"): crashed or printed no summary (exit $rc), see $LOGDIR"
			fail=$((fail + 1))
			continue
		fi
		pass=$((pass + ${p:-0}))
		fail=$((fail + ${f:-0}))
		if [ "${f:-0}" != 0 ] || [ $rc != 0 ]; then
			grep -E '^\[  (FAILED|ERROR)  \]|Failure|error:' <<<"$out" | sed 's/^/  /' | head -n 20
			[ "${f:-0}" = 0 ] && fail=$((fail + 1))
		fi
	done
	echo "unit: $pass passed, $fail failed"
}

suite_script() {   # suite_script NAME SCRIPT
	local out
	if [ ! -x "$2" ]; then
		echo "$1: 0 passed, 1 failed ($2 is missing)"
		return 0
	fi
	out=$("$2" 2>&1 | tee "$LOGDIR/$1.log")
	local last
	last=$(grep -E '[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
	grep -vE '[0-9]+ passed, [0-9]+ failed' <<<"$out" | grep -E 'FAIL|Error|error' | head -n 40 | sed 's/^/  /'
	if [ -z "$last" ]; then
		echo "$1: 0 passed, 1 failed (the suite printed no summary, see $LOGDIR/$1.log)"
	else
		echo "$1: ${last#*: }"
	fi
}

for s in $SUITES; do
	case $s in
	unit) line=$(suite_unit) ;;
	cycles) line=$(suite_script cycles tests/cycles.py) ;;
	config) line=$(suite_script config tests/config/run.sh) ;;
	import) line=$(suite_script import tests/import/run.sh) ;;
	cli) line=$(suite_script cli tests/cli/run.sh) ;;
	docs) line=$(suite_script docs tests/docs/run.sh) ;;
	install) line=$(suite_script install tests/install/run.sh) ;;
	integration) line=$(suite_script integration tests/integration/run.sh) ;;
	conformance) line=$(suite_script conformance tests/conformance/run.sh) ;;
	fuzz) line=$(suite_script fuzz tests/fuzz/run.sh) ;;
	*) echo "unknown suite $s"; exit 2 ;;
	esac
	[ -n "$line" ] || continue
	echo "$line"
	count "$(tail -n 1 <<<"$line")"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$total_pass" -gt 0 ]
