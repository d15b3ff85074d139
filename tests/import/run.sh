#!/bin/bash
# azbridgectl import goldens through the real binaries:
#   NN-name.yml, or the files of NN-name.d/ in lexical order (each over the
#   ones before, as the original layers its files)
#     -> NN-name.out (standard output, exit 0) and NN-name.err (standard
#        error, empty when absent); without .out, exit 1 and .err.
# Every drop-in made must be accepted by `azbridged -n`, and -o FILE must
# write the same bytes with mode 0600.
set -u
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
CTL=$ROOT/${BUILD:-build}/azbridgectl
DAEMON=$ROOT/${BUILD:-build}/azbridged
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

result() {  # result NAME WHY
	if [ -z "$2" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $1: $2"
	fi
}

same() {  # same WANT GOT: empty when equal (an absent WANT is empty)
	local want=$1
	[ -f "$want" ] || want=/dev/null
	cmp -s "$want" "$2" && return 0
	diff -u "$want" "$2" | head -n 30
	return 1
}

# The drop-in loads in azbridged's check mode, and -o writes it as printed.
check_output() {  # check_output NAME INPUTS...
	local name=$1 why=""
	shift
	cp "$TMP/out" "$TMP/dropin.conf"
	chmod 600 "$TMP/dropin.conf"
	"$DAEMON" -n -c "$TMP/dropin.conf" >"$TMP/n.out" 2>&1 || why="azbridged -n refuses it: $(head -n 3 "$TMP/n.out")"
	rm -f "$TMP/o.conf"
	"$CTL" import -o "$TMP/o.conf" "$@" 2>/dev/null || why="${why:+$why; }-o failed"
	[ -z "$why" ] && ! cmp -s "$TMP/out" "$TMP/o.conf" && why="-o wrote other bytes"
	[ -z "$why" ] && [ "$(stat -c %a "$TMP/o.conf")" != 600 ] && why="-o made mode $(stat -c %a "$TMP/o.conf")"
	result "$name (azbridged -n, -o)" "$why"
}

run_case() {  # run_case NAME INPUTS...
	local name=$1 want_rc=1 rc why=""
	shift
	[ -f "$name.out" ] && want_rc=0
	"$CTL" import "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" = "$want_rc" ] || why="exit $rc, wanted $want_rc"
	if [ -z "$why" ] && [ $want_rc = 0 ] && ! same "$name.out" "$TMP/out"; then
		why="stdout differs"
	fi
	if [ -z "$why" ] && [ $want_rc = 1 ] && [ -s "$TMP/out" ]; then
		why="wrote output despite errors"
	fi
	if [ -z "$why" ] && ! same "$name.err" "$TMP/err"; then
		why="stderr differs"
	fi
	result "$name" "$why"
	[ -z "$why" ] && [ $want_rc = 0 ] && check_output "$name" "$@"
}

for f in [0-9]*.yml [0-9]*.d; do
	[ -e "$f" ] || continue
	name=${f%.yml}
	name=${name%.d}
	if [ -d "$f" ]; then
		run_case "$name" "$f"/*.yml
	else
		run_case "$name" "$f"
	fi
done
# ---- the command around the conversion ----

expect() {  # expect NAME RC PATTERN COMMAND...: exit RC, stderr matching PATTERN
	local name=$1 want=$2 pat=$3 rc
	shift 3
	"$@" >"$TMP/x.out" 2>"$TMP/x.err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		result "$name" "exit $rc, wanted $want: $(head -c 300 "$TMP/x.err")"
	elif ! grep -qE -- "$pat" "$TMP/x.err"; then
		result "$name" "stderr lacks /$pat/: $(head -c 300 "$TMP/x.err")"
	else
		result "$name" ""
	fi
}

# Without FILE: the machine file and then the user's, those that exist.
mkdir -p "$TMP/home/.azbridge" "$TMP/nohome"
cp 06-udp.yml "$TMP/home/.azbridge/azbridge_config.yml"
HOME=$TMP/home "$CTL" import >"$TMP/x.out" 2>&1
grep -qF "#   $TMP/home/.azbridge/azbridge_config.yml" "$TMP/x.out" &&
	grep -q 'relay = "dns";' "$TMP/x.out"
result "without FILE: reads ~/.azbridge/azbridge_config.yml" "$([ $? = 0 ] || head -c 300 "$TMP/x.out")"
if [ ! -e /etc/azbridge/azbridge_config.machine.yml ]; then
	expect "without FILE and no file of the original" 1 "none of the original's files exist" \
		env HOME="$TMP/nohome" "$CTL" import
fi
expect "--svc takes no FILE" 2 "it takes no FILE" "$CTL" import --svc 01-client.yml
expect "-o needs FILE" 2 "-o needs a FILE" "$CTL" import 01-client.yml -o
expect "unknown option" 2 "unknown option" "$CTL" import --frobnicate 01-client.yml
expect "the daemon's options before import" 2 "import asks no daemon and takes none of its options" \
	"$CTL" --json import 01-client.yml
expect "a missing file" 1 "^azbridgectl import: $TMP/missing.yml: No such file or directory\$" \
	"$CTL" import 01-client.yml "$TMP/missing.yml"
expect "a directory" 1 "$TMP: not a regular file" "$CTL" import "$TMP"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$TMP/big.yml"
expect "a file over 1 MiB" 1 "big.yml: larger than 1024 KiB" "$CTL" import "$TMP/big.yml"
expect "-o into a missing directory" 1 "cannot write $TMP/no/such.conf" \
	"$CTL" import -o "$TMP/no/such.conf" 01-client.yml
# -o replaces a file others could read with one they cannot.
echo old >"$TMP/open.conf"
chmod 644 "$TMP/open.conf"
"$CTL" import -o "$TMP/open.conf" 01-client.yml 2>/dev/null
result "-o over a 0644 file leaves 0600" "$([ "$(stat -c %a "$TMP/open.conf")" = 600 ] || echo "mode $(stat -c %a "$TMP/open.conf")")"
result "-o leaves no temporary file" "$(ls -A "$TMP" | grep -E '\.conf\.' || true)"
# On a terminal the secrets are not shown; the rest is.
script -qec "$CTL import 01-client.yml" /dev/null >"$TMP/tty.out" 2>&1
grep -q 'relay = "broker";' "$TMP/tty.out" && grep -q '<hidden' "$TMP/tty.out" &&
	! grep -q 'c2VuZC1rZXktZm9yLXRlc3Rz' "$TMP/tty.out" &&
	grep -q 'secrets are not shown on a terminal' "$TMP/tty.out"
result "a terminal gets no secret" "$([ $? = 0 ] || head -c 400 "$TMP/tty.out")"

echo "import: $pass passed, $fail failed"
[ "$fail" = 0 ]
