#!/bin/bash
# Config goldens through the real binary:
#   NN-name.conf [+ NN-name.conf.d/]  ->  NN-name.out (stdout of -n -v, exit 0)
#                                         NN-name.err (stderr; exit 1 when there is no .out)
# "example" runs etc/azbridge.conf itself. Every printed config must load
# again and print the same text. Paths under the checkout print as @ROOT@.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/${BUILD:-build}/azbridged
DIR=tests/config
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

# git keeps no modes: set the ones the cases expect.
find $DIR -name '*.conf' -exec chmod 600 {} +
chmod 600 $DIR/keys/* $DIR/creds/*
chmod 644 $DIR/*exposed*.conf $DIR/keys/*open*
chmod 666 $DIR/*world-writable*.conf
chmod 620 $DIR/*group-writable*.conf
chown 65534 $DIR/*other-owner*.conf
chmod 775 $DIR/*open-dropins*.conf.d

run_case() {  # run_case NAME CONF
	local name=$1 conf=$2 want_rc=1 rc
	[ -f $DIR/$name.out ] && want_rc=0
	CREDENTIALS_DIRECTORY=$ROOT/$DIR/creds "$BIN" -n -v -c "$conf" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	sed -i "s|$ROOT/|@ROOT@/|g" "$TMP/out" "$TMP/err"
	local why=""
	[ "$rc" = "$want_rc" ] || why="exit $rc, wanted $want_rc"
	if [ -z "$why" ] && [ $want_rc = 0 ] && ! cmp -s "$TMP/out" $DIR/$name.out; then
		why="stdout differs"
		diff -u $DIR/$name.out "$TMP/out" | head -n 30
	fi
	if [ -z "$why" ] && ! cmp -s "$TMP/err" "$( [ -f $DIR/$name.err ] && echo $DIR/$name.err || echo /dev/null)"; then
		why="stderr differs"
		diff -u "$( [ -f $DIR/$name.err ] && echo $DIR/$name.err || echo /dev/null)" "$TMP/err" | head -n 30
	fi
	if [ -z "$why" ] && [ $want_rc = 0 ]; then
		# the printed config loads again and prints the same
		sed "s|@ROOT@/|$ROOT/|g" "$TMP/out" >"$TMP/again.conf"
		chmod 600 "$TMP/again.conf"
		"$BIN" -n -v -c "$TMP/again.conf" >"$TMP/out2" 2>/dev/null
		sed -i "s|$ROOT/|@ROOT@/|g" "$TMP/out2"
		cmp -s "$TMP/out" "$TMP/out2" || { why="printed config does not print back the same"; diff -u "$TMP/out" "$TMP/out2" | head -n 20; }
	fi
	if [ -z "$why" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name: $why"
	fi
}

run_case example etc/azbridge.conf
for conf in $DIR/[0-9]*.conf; do
	name=$(basename "$conf" .conf)
	run_case "$name" "$conf"
done
echo "config: $pass passed, $fail failed"
[ "$fail" = 0 ]
