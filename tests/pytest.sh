#!/bin/bash
# Runs one pytest suite (a directory under tests/) with the shared fixtures
# of tests/conftest.py. Ends with one summary line "<suite>: N passed, N failed".
set -u
suite=$1
shift
cd "$(dirname "$0")"
out=$(AZB_SUITE=$suite timeout 900 /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	--rootdir=. --confcutdir=. "$suite" "$@" 2>&1)
rc=$?
echo "$out" | tail -n 40
# Counts from pytest's own summary line only: a test's output may say
# "N failed" too.
sum=$(grep -E '^=*( ?[0-9]+ [a-z]+,?)+.* in [0-9.]+s' <<<"$out" | tail -n1)
p=$(grep -oE '[0-9]+ passed' <<<"$sum" | grep -oE '[0-9]+')
f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$sum" | awk '{s+=$1} END {print s+0}')
s=$(grep -oE '[0-9]+ skipped' <<<"$sum" | grep -oE '[0-9]+')
# A skipped test is not a passed one: it fails the suite.
f=$((${f:-0} + ${s:-0}))
[ $rc = 0 ] || [ "$f" != 0 ] || f=1
echo "$suite: ${p:-0} passed, $f failed"
[ $rc = 0 ] && [ "$f" = 0 ]
