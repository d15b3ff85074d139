#!/bin/bash
# Integration tests: real processes on loopback. Ends with one summary line.
set -u
cd "$(dirname "$0")"
out=$(timeout 900 /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" 2>&1)
rc=$?
echo "$out" | tail -n 40
p=$(grep -oE '[0-9]+ passed' <<<"$out" | tail -n1 | grep -oE '[0-9]+')
f=$(grep -oE '[0-9]+ (failed|error)' <<<"$out" | awk '{s+=$1} END {print s+0}')
[ $rc = 0 ] || [ "${f:-0}" != 0 ] || f=1
echo "integration: ${p:-0} passed, ${f:-0} failed"
[ $rc = 0 ]
