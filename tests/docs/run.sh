#!/bin/bash
# Documentation checks: man pages render cleanly; every option in
# azbridged --help and every configuration key azbridged prints is documented;
# every source file is placed in the README and docs/ARCHITECTURE.md.
set -u
cd "$(dirname "$0")/../.."
BIN=${BUILD:-build}/azbridged
pass=0
fail=0
check() {  # check NAME COMMAND...
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name"
	fi
}

for m in man/*.[0-9]; do
	check "groff $m" sh -c "groff -man -ww -z '$m' 2>&1 | (! grep -q .)"
done
for opt in $("$BIN" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	check "azbridged.8 documents $opt" grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" man/azbridged.8
done
for opt in $("$BIN" --help | grep -oE -- '^  -[a-zA-Z?]' | sort -u); do
	check "azbridged.8 documents $opt" grep -qE -- "^\.B[IR]? \\\\$opt|\\\\$opt\b" man/azbridged.8
done
RELAYD=${BUILD:-build}/azbridge-relayd
for opt in $("$RELAYD" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	check "azbridge-relayd.8 documents $opt" grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" man/azbridge-relayd.8
done
for key in $(grep -oE '^ *[a-z_]+ =' etc/azbridge-relayd.conf | sed 's/ =//; s/^ *//' | sort -u); do
	check "azbridge-relayd.8 documents $key" grep -qE "^\.B[R]? $(sed 's/_/\\\\?_/g' <<<"$key")\b" man/azbridge-relayd.8
done
for key in $(cat tests/config/*.out | grep -oE '^ *(\{ )?[a-z_]+ =' | grep -oE '[a-z_]+ =' |
	     sed 's/ =//' | sort -u) $(grep -oE '[a-z_]+ = ' tests/config/*.out | sed 's/.*://; s/ = //' | sort -u); do
	check "azbridge.conf.5 documents $key" grep -qE "^\.B[R]? $(sed 's/_/\\\\?_/g' <<<"$key")\b|$(sed 's/_/\\\\?_/g' <<<"$key")" man/azbridge.conf.5
done
CTL=${BUILD:-build}/azbridgectl
for opt in $("$CTL" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	check "azbridgectl.8 documents $opt" grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" man/azbridgectl.8
done
for opt in $("$CTL" --help | grep -oE -- '--[a-z][a-z-]+' | grep -vxE -- '--(help|version)' | sort -u); do
	check "README shows azbridgectl $opt" grep -qF -- "$opt" README.md
done
for opt in $("$CTL" import --help | grep -oE -- '--[a-z][a-z-]+' | grep -vxE -- '--help' | sort -u); do
	check "azbridgectl.8 documents import $opt" grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" man/azbridgectl.8
	check "README shows azbridgectl import $opt" grep -qF -- "$opt" README.md
done
for verb in status list show stats add remove reload version "hosts add" "hosts remove" "hosts list" import; do
	check "azbridgectl --help names $verb" sh -c "'$CTL' --help | grep -qw -- '$verb'"
	check "azbridgectl.8 documents $verb" grep -qE "^\.B[IR]? $verb\b|^\.B \"$verb\"" man/azbridgectl.8
	check "README shows azbridgectl $verb" grep -qE "azbridgectl (--json )?$verb\b" README.md
done
check "azbridgectl.8 has a PROTOCOL section" grep -q '^\.SH PROTOCOL' man/azbridgectl.8
check "azbridgectl.8 has EXIT STATUS" grep -q '^\.SH "\?EXIT STATUS' man/azbridgectl.8
# Every daemon key has a (commented) line in the example configuration.
for key in $(grep -oE '^[a-z_]+ =' tests/config/14-daemon.out | sed 's/ =//'); do
	check "etc/azbridge.conf shows $key" grep -qE "^#? ?$key = " etc/azbridge.conf
done
for sig in SIGHUP SIGTERM; do
	check "azbridged.8 documents $sig" grep -q "^\.B.* $sig" man/azbridged.8
done
# Every source file has its place in the README's layout and in the
# architecture document.
for f in common/*.c daemon/*.c relay/*.c ctl/*.c; do
	b=$(basename "$f" .c)
	check "README's layout names $f" grep -qw -- "$b" README.md
	check "docs/ARCHITECTURE.md names $f" grep -qw -- "$b" docs/ARCHITECTURE.md
done
# The benchmark scripts at least parse (make bench itself runs nothing here).
for f in bench/*.sh; do
	check "$f parses" bash -n "$f"
done
for f in bench/*.py; do
	check "$f parses" python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' "$f"
done
echo "docs: $pass passed, $fail failed"
[ "$fail" = 0 ]
