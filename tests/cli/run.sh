#!/bin/bash
# The azbridged command line through the real binary: exit codes, messages,
# what -n -v prints, that secrets stay out of output.
set -u
cd "$(dirname "$0")/../.."
BIN=${BUILD:-build}/azbridged
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
KEY=c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ==
CRED=(-e sb://relay.test:9443/ -K sendrule -k "$KEY")
AS=()   # a command to run the binary through (setpriv as another user)

# expect NAME EXIT-CODE PATTERN-STDOUT PATTERN-STDERR -- ARGS...  ('' = don't care)
expect() {
	local name=$1 code=$2 pout=$3 perr=$4
	shift 5
	# A bounded wait: a FIFO in place of a file must not make it hang.
	timeout 20 "${AS[@]}" "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	local why=""
	[ "$rc" = "$code" ] || why="exit $rc, wanted $code"
	if [ -z "$why" ] && [ -n "$pout" ] && ! grep -qE -- "$pout" "$TMP/out"; then
		why="stdout lacks /$pout/"
	fi
	if [ -z "$why" ] && [ -n "$perr" ] && ! grep -qE -- "$perr" "$TMP/err"; then
		why="stderr lacks /$perr/"
	fi
	if [ -z "$why" ] && grep -qF -- "$KEY" "$TMP/out" "$TMP/err"; then
		why="the key appears in the output"
	fi
	if [ -z "$why" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name: $why"
		sed 's/^/    out: /' "$TMP/out" | head -n 10
		sed 's/^/    err: /' "$TMP/err" | head -n 10
	fi
}

expect help 0 '^Usage: azbridged' '' -- --help
expect help-short 0 '^Usage: azbridged' '' -- -h
expect help-question 0 '^Usage: azbridged' '' -- '-?'
expect version 0 "^azbridged $(cat VERSION)\$" '' -- --version
expect unknown-option 2 '' "^azbridged: unknown option '--bogus'" -- --bogus
expect missing-value 2 '' "option '-L' needs a value" -- -L
expect positional 2 '' "unexpected argument 'stray'" -- -n stray
expect bad-o 2 '' '-o: expected KEY:VALUE, not "nocolon"' -- -o nocolon
expect missing-config 1 '' "$TMP/none.conf" -- -n -c "$TMP/none.conf"
expect cli-ok 0 '' '' -- -n -L 16161:db "${CRED[@]}"
expect cli-print 0 'relay = "db"' '' -- -n -v -L 16161:db "${CRED[@]}"
expect cli-print-port 0 'bind_port = 16161' '' -- -n -v -L 16161:db "${CRED[@]}"
expect cli-print-endpoint 0 'endpoint = "sb://relay.test:9443/"' '' -- -n -v -L 16161:db "${CRED[@]}"
expect logical-ports 0 'port_name = "sql2"' '' -- -n -v -L "127.0.0.8:16161/sql1;127.0.0.9:16161/sql2:db" "${CRED[@]}"
expect remote 0 'host_port = 5432' '' -- -n -v -T db:5432 "${CRED[@]}"
expect http 0 'http = true' '' -- -n -v -H web:https/443 "${CRED[@]}"
expect nonlocal-bind 1 '' '1\.1\.1\.1' -- -n -L 1.1.1.1:80:foobar "${CRED[@]}"
expect port-range 1 '' '70000' -- -n -L 70000:db "${CRED[@]}"
expect relay-name 1 '' 'foo\^\^\^bar' -- -n -L 80:foo^^^bar "${CRED[@]}"
expect error-where 1 '' '^command line: ' -- -n -L 70000:db "${CRED[@]}"
expect no-credentials 1 '' '' -- -n -L 16161:db
# No key name and no signature: Entra ID, as in the original tool.
expect entra-endpoint-only 0 'endpoint = "sb://relay.test/"' '' -- -n -v -e sb://relay.test/ -L 16161:db
expect entra-credential 0 'credential = "azure-cli"' '' -- -n -v -e sb://relay.test/ -o credential:azure-cli -L 16161:db
expect entra-bad-credential 1 '' 'credential "az" is not one of' -- -n -e sb://relay.test/ -o credential:az -L 16161:db
expect key-name-only 1 '' 'no credentials' -- -n -e sb://relay.test/ -K rule -L 16161:db
expect twice 1 '' 'given twice' -- -n -L 16161:db -L 16161:db "${CRED[@]}"
# AZURE_BRIDGE_CONNECTIONSTRING: the global connection string unless -x or a file gives one
AS=(env "AZURE_BRIDGE_CONNECTIONSTRING=Endpoint=sb://env.test/;SharedAccessKeyName=fromenv;SharedAccessKey=$KEY")
expect env-connstr 0 'shared_access_key_name = "fromenv"' '' -- -n -v -L 1:db
expect env-connstr-endpoint 0 'endpoint = "sb://flag.test/"' '' -- -n -v -L 1:db -e sb://flag.test/
expect env-connstr-x-wins 0 'shared_access_key_name = "fromcs"' 'AZURE_BRIDGE_CONNECTIONSTRING is not used: the command line gives' -- -n -v -L 1:db -x "Endpoint=sb://cs.test/;SharedAccessKeyName=fromcs;SharedAccessKey=$KEY"
printf 'connection_string = "Endpoint=sb://file.test/;SharedAccessKeyName=fromfile;SharedAccessKey=%s";\nlocal_forward = ( { relay = "db"; bind_port = 1; } );\n' "$KEY" >"$TMP/cs.conf"
chmod 600 "$TMP/cs.conf"
expect env-connstr-file-wins 0 'shared_access_key_name = "fromfile"' 'is not used: the configuration gives' -- -n -v -c "$TMP/cs.conf"
AS=(env "AZURE_BRIDGE_CONNECTIONSTRING=Endpoint=sb://env.test/;Bogus=1;SharedAccessKey=$KEY")
expect env-connstr-bad 1 '' '^AZURE_BRIDGE_CONNECTIONSTRING: .*Bogus' -- -n -L 1:db
AS=()
expect dup-port-name 1 '' '^command line: forward "[^"]+": port name "5432" is given to two bindings' -- -n -T "db:5432;db.internal:5432" "${CRED[@]}"
expect dup-port-name-legacy 1 '' 'port name "sql" is given to two bindings' -- -n -R "db:localhost:sql/5432;db.internal:sql/5432" "${CRED[@]}"
expect local-shared-port-name 0 '' '' -- -n -L "127.0.0.8:16161/sql;127.0.0.9:16161/sql:db" "${CRED[@]}"
expect o-snake 0 'keep_alive_interval = 45' '' -- -n -v -o keep_alive_interval:45 -L 1:db "${CRED[@]}"
expect o-pascal 0 'keep_alive_interval = 46' '' -- -n -v -o KeepAliveInterval:46 -L 1:db "${CRED[@]}"
expect o-uri-colons 0 'endpoint = "sb://other.test:8443/"' '' -- -n -v -L 1:db -K a -k "$KEY" -o AzureRelayEndpoint:sb://other.test:8443/
expect o-unknown 1 '' 'Fompa' -- -n -o Fompa:1 -L 1:db "${CRED[@]}"
expect a-option 0 'keep_alive_interval = 12' '' -- -n -v -a 12 -L 1:db "${CRED[@]}"
expect connstr 0 'shared_access_key_name = "fromcs"' '' -- -n -v -L 1:db -x "Endpoint=sb://cs.test/;SharedAccessKeyName=fromcs;SharedAccessKey=$KEY"
expect connstr-override 0 'shared_access_key_name = "override"' '' -- -n -v -L 1:db -K override -x "Endpoint=sb://cs.test/;SharedAccessKeyName=fromcs;SharedAccessKey=$KEY"
expect bad-connstr 1 '' 'Bogus' -- -n -L 1:db -x "Endpoint=sb://cs.test/;Bogus=1;SharedAccessKey=$KEY"
expect bad-key-name 1 '' 'bad name!' -- -n -L 1:db -e sb://x.test/ -K 'bad name!' -k "$KEY"
expect bad-key 1 '' 'shared_access_key' -- -n -L 1:db -e sb://x.test/ -K a -k 'not base64!'
expect bad-endpoint 1 '' 'endpoint' -- -n -L 1:db -e 'sb://' -K a -k "$KEY"
expect gateway-ports 0 '' 'has no effect' -- -n -g -L 1:db "${CRED[@]}"
expect verbose-not-level 0 'log_level = "info"' '' -- -n -v -L 1:db "${CRED[@]}"
echo 'LocalForward:' >"$TMP/old.yml"
chmod 600 "$TMP/old.yml"
expect yaml-hint 1 '' 'libconfig syntax' -- -n -f "$TMP/old.yml"

# Key files and configuration files that hold a secret: opened without
# following a symbolic link or blocking on a FIFO, then checked on that very
# descriptor: a regular file of root (or the daemon's user), mode 0600.
keyconf() {  # keyconf NAME KEYFILE: a config using KEYFILE, in $TMP/NAME.conf
	printf 'endpoint = "sb://relay.test/";\nshared_access_key_name = "k";\nshared_access_key_file = "%s";\nlocal_forward = ( { relay = "db"; bind_port = 1; } );\n' "$2" >"$TMP/$1.conf"
	chmod 600 "$TMP/$1.conf"
}
mkdir -m 700 "$TMP/keys"
printf '%s\n' "$KEY" >"$TMP/keys/good.key"
chmod 600 "$TMP/keys/good.key"
for k in link group world other; do cp -p "$TMP/keys/good.key" "$TMP/keys/$k.key"; done
rm "$TMP/keys/link.key"
ln -s good.key "$TMP/keys/link.key"
chmod 640 "$TMP/keys/group.key"
chmod 602 "$TMP/keys/world.key"
chown 65534 "$TMP/keys/other.key"
mkdir -m 700 "$TMP/keys/dir.key"
mkfifo -m 600 "$TMP/keys/fifo.key"
for k in good link group world other dir fifo; do keyconf "key-$k" "$TMP/keys/$k.key"; done
expect keyfile-good 0 '' '' -- -n -c "$TMP/key-good.conf"
expect keyfile-symlink 1 '' 'link\.key: is a symbolic link' -- -n -c "$TMP/key-link.conf"
expect keyfile-group-readable 1 '' 'group\.key holds a secret but is readable by group or others \(mode 0640\)' -- -n -c "$TMP/key-group.conf"
expect keyfile-world-writable 1 '' 'world\.key holds a secret but is writable by group or others \(mode 0602\)' -- -n -c "$TMP/key-world.conf"
expect keyfile-other-owner 1 '' 'other\.key holds a secret but is owned by uid 65534, not root or this daemon.s user' -- -n -c "$TMP/key-other.conf"
expect keyfile-directory 1 '' 'dir\.key: is not a regular file' -- -n -c "$TMP/key-dir.conf"
expect keyfile-fifo 1 '' 'fifo\.key: is not a regular file' -- -n -c "$TMP/key-fifo.conf"
# The daemon's own user may own its key files.
chown 65534 "$TMP" "$TMP/keys" "$TMP/key-other.conf"
AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
expect keyfile-own-user 0 '' '' -- -n -c "$TMP/key-other.conf"
AS=()
chown 0 "$TMP" "$TMP/keys" "$TMP/key-other.conf"
# A configuration file with an inline secret: the same rules for the file.
printf 'endpoint = "sb://relay.test/";\nshared_access_key_name = "k";\nshared_access_key = "%s";\nlocal_forward = ( { relay = "db"; bind_port = 1; } );\n' "$KEY" >"$TMP/inline.conf"
for k in owner gwrite gread; do cp "$TMP/inline.conf" "$TMP/inline-$k.conf"; done
chmod 600 "$TMP/inline.conf" "$TMP/inline-owner.conf"
chmod 620 "$TMP/inline-gwrite.conf"
chmod 640 "$TMP/inline-gread.conf"
chown 65534 "$TMP/inline-owner.conf"
expect inline-secret-ok 0 '' '' -- -n -c "$TMP/inline.conf"
# Any configuration file of another owner or writable by others is refused,
# secret or not; one that others may read may not hold a secret.
expect inline-secret-other-owner 1 '' 'inline-owner\.conf: is owned by uid 65534, not root' -- -n -c "$TMP/inline-owner.conf"
expect inline-secret-group-writable 1 '' 'inline-gwrite\.conf: is writable by its group \(mode 0620\)' -- -n -c "$TMP/inline-gwrite.conf"
expect inline-secret-group-readable 1 '' 'inline-gread\.conf:3: shared_access_key is set here but this file is readable by group or others \(mode 0640\)' -- -n -c "$TMP/inline-gread.conf"
mkfifo -m 600 "$TMP/fifo.conf"
expect config-fifo 1 '' 'fifo\.conf: is not a regular file' -- -n -c "$TMP/fifo.conf"

# A printed config must load again and print the same text.
"$BIN" -n -v -L "127.0.0.8:16161/sql1;127.0.0.9:16161/sql2:db" -T "db:sql1/localhost:5432" "${CRED[@]}" >"$TMP/p1.conf" 2>/dev/null
chmod 600 "$TMP/p1.conf"
if "$BIN" -n -v -c "$TMP/p1.conf" >"$TMP/p2.conf" 2>"$TMP/err" && cmp -s "$TMP/p1.conf" "$TMP/p2.conf"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL reprint: printed config does not print back the same"
	diff "$TMP/p1.conf" "$TMP/p2.conf" | head -n 20
	head -n 5 "$TMP/err"
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
