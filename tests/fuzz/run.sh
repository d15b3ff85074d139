#!/bin/bash
# Builds the libFuzzer targets and runs each for FUZZ_TIME seconds (default
# 20) from the seed corpus in tests/fuzz/corpus; a crash, a leak or a
# sanitizer report fails it. Ends with "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
T=${FUZZ_TIME:-20}
pass=0 fail=0
if ! make -s --no-print-directory BUILD="$BUILD" fuzz >"$BUILD/fuzz-build.log" 2>&1; then
	sed 's/^/  /' "$BUILD/fuzz-build.log" | tail -n 20
	echo "fuzz: 0 passed, 1 failed (the targets did not build)"
	exit 1
fi
for t in ctlmsg wire hosts; do
	work=$(mktemp -d)
	cp tests/fuzz/corpus/$t/* "$work/"
	if "$BUILD/fuzz/fuzz_$t" -max_total_time="$T" -rss_limit_mb=1024 -timeout=10 \
		-artifact_prefix="$BUILD/fuzz/$t-" "$work" >"$BUILD/fuzz/$t.log" 2>&1; then
		echo "  fuzz_$t: $(grep -oE '^Done [0-9]+ runs.*' "$BUILD/fuzz/$t.log" | tail -n1)"
		pass=$((pass + 1))
	else
		echo "  FAIL fuzz_$t, see $BUILD/fuzz/$t.log:"
		grep -E 'ERROR|SUMMARY|runtime error' "$BUILD/fuzz/$t.log" | head -n 5 | sed 's/^/    /'
		fail=$((fail + 1))
	fi
	rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed"
[ $fail = 0 ]
