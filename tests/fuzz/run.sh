#!/bin/bash
# Builds the libFuzzer targets and runs each for FUZZ_TIME seconds (default
# 10) from its seed corpus in tests/fuzz/corpus/NAME (with tests/fuzz/NAME.dict
# when there is one); a crash, a leak or a
# sanitizer report fails it. Every tests/fuzz/fuzz_NAME.c is a target (the
# Makefile says what each links). Two run at a time, one per core. Ends
# with "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
T=${FUZZ_TIME:-10}
JOBS=${FUZZ_JOBS:-2}
pass=0 fail=0
if ! make -s --no-print-directory BUILD="$BUILD" fuzz >"$BUILD/fuzz-build.log" 2>&1; then
	sed 's/^/  /' "$BUILD/fuzz-build.log" | tail -n 20
	echo "fuzz: 0 passed, 1 failed (the targets did not build)"
	exit 1
fi
targets=$(ls tests/fuzz/fuzz_*.c | sed -E 's|.*/fuzz_(.*)\.c|\1|')

run_one() {   # run_one NAME: its result line goes to $BUILD/fuzz/NAME.result
	local t=$1 work dict=
	work=$(mktemp -d)
	[ -f tests/fuzz/$t.dict ] && dict=tests/fuzz/$t.dict
	[ -d tests/fuzz/corpus/$t ] && cp tests/fuzz/corpus/$t/* "$work/"
	if [ ! -d tests/fuzz/corpus/$t ]; then
		echo "FAIL fuzz_$t: no seed corpus in tests/fuzz/corpus/$t" >"$BUILD/fuzz/$t.result"
	elif "$BUILD/fuzz/fuzz_$t" -max_total_time="$T" -rss_limit_mb=1024 -timeout=10 \
		${dict:+-dict=$dict} -artifact_prefix="$BUILD/fuzz/$t-" "$work" \
		>"$BUILD/fuzz/$t.log" 2>&1; then
		echo "ok fuzz_$t: $(grep -oE '^Done [0-9]+ runs.*' "$BUILD/fuzz/$t.log" | tail -n1)" \
			>"$BUILD/fuzz/$t.result"
	else
		{ echo "FAIL fuzz_$t, see $BUILD/fuzz/$t.log:"
		  grep -E 'ERROR|SUMMARY|runtime error' "$BUILD/fuzz/$t.log" | head -n 5 | sed 's/^/    /'
		} >"$BUILD/fuzz/$t.result"
	fi
	rm -rf "$work"
}

running=0
for t in $targets; do
	rm -f "$BUILD/fuzz/$t.result"
	run_one "$t" &
	running=$((running + 1))
	if [ $running -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait
for t in $targets; do
	line=$(cat "$BUILD/fuzz/$t.result" 2>/dev/null || echo "FAIL fuzz_$t: no result")
	case $line in
	ok*) echo "  ${line#ok }"; pass=$((pass + 1)) ;;
	*) echo "  $line"; fail=$((fail + 1)) ;;
	esac
done
echo "fuzz: $pass passed, $fail failed"
[ $fail = 0 ]
