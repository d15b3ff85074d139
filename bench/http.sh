#!/bin/bash
# Requests per second and p99 latency of an HTTP forward,
#   wrk -> azbridge-relayd (HTTPS) -> azbridged -H -> nginx
# against wrk -> nginx directly, measured in this one run; "no-idle" is the
# same forward with http_idle_connections = 0 (a new connection to nginx for
# each request).
set -u
cd "$(dirname "$0")/.."
[ "${QUICK:-0}" != 0 ] && SECS=${SECS:-2}
SECS=${SECS:-5}
CONNS=${CONNS:-32}
. bench/lib.sh
bench_tmpdir http
raise_nofile

WEB=$(port)
mkdir -p "$DIR/www" "$DIR/tmp"
head -c 1024 /dev/urandom >"$DIR/www/1k.bin"
head -c 102400 /dev/urandom >"$DIR/www/100k.bin"
cat >"$DIR/nginx.conf" <<CFG
user root;
worker_processes 1;
daemon off;
pid $DIR/nginx.pid;
error_log $DIR/nginx.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $DIR/tmp;
    proxy_temp_path $DIR/tmp;
    fastcgi_temp_path $DIR/tmp;
    uwsgi_temp_path $DIR/tmp;
    scgi_temp_path $DIR/tmp;
    server { listen 127.0.0.1:$WEB; root $DIR/www; }
}
CFG
nginx -c "$DIR/nginx.conf" -p "$DIR" & pids+=($!)
cat >"$DIR/relayd.conf" <<CFG
hybrid_connections = ( { name = "web"; requires_client_authorization = false; },
		       { name = "once"; requires_client_authorization = false; } );
CFG
chmod 600 "$DIR/relayd.conf"
"$BUILD/azbridge-relayd" --dev --state-dir "$DIR/relay" --config "$DIR/relayd.conf" \
	>"$DIR/relay.log" 2>&1 & pids+=($!)
wait_for "$DIR/relay.log" "CA certificate:"
CS=$(sed -n 's/^connection string: //p' "$DIR/relay.log")
CA=$(sed -n 's/^CA certificate: //p' "$DIR/relay.log")
RELAY=$(sed -nE 's/^listening on [^:]+:([0-9]+).*/\1/p' "$DIR/relay.log" | head -n1)
"$BUILD/azbridged" -q -o "ca_file:$CA" -x "$CS" -H "web:http/127.0.0.1:$WEB" >"$DIR/h.log" 2>&1 &
pids+=($!)
# The same forward keeping no idle connection: a new one to nginx per request.
cat >"$DIR/once.conf" <<CFG
remote_forward = ( { name = "once"; relay = "once"; bindings = ( { host = "127.0.0.1";
	host_port = $WEB; http = true; port_name = "http"; http_idle_connections = 0; } ); } );
CFG
chmod 600 "$DIR/once.conf"
"$BUILD/azbridged" -q -o "ca_file:$CA" -x "$CS" -c "$DIR/once.conf" >"$DIR/once.log" 2>&1 &
pids+=($!)
for hc in web once; do
	for _ in $(seq 1 100); do
		curl -sf --cacert "$CA" -o /dev/null "https://localhost:$RELAY/$hc/1k.bin" && break
		sleep 0.1
	done
done

# wrk's summary -> "rps=N p99_ms=N"
run() {
	wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$1" 2>&1 | awk '
		/Requests\/sec:/ { rps = $2 }
		/^ +99%/ { v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
			   p99 = v * (u == "us" ? 0.001 : u == "s" ? 1000 : 1) }
		/Non-2xx|Socket errors/ { bad = bad " " $0 }
		END { printf "rps=%.0f p99_ms=%.2f%s\n", rps, p99, bad }'
}
field() { sed -nE "s/.*$1=([0-9.]+).*/\\1/p" <<<"$2"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else 'n/a')"; }

failed=0
echo "== HTTP requests through -H (wrk, $CONNS connections, $SECS s each)"
for f in 1k.bin 100k.bin; do
	d=$(run "http://127.0.0.1:$WEB/$f")
	a=$(run "https://localhost:$RELAY/web/$f")
	o=$(run "https://localhost:$RELAY/once/$f")
	for r in "$d" "$a" "$o"; do
		[ "$(field rps "$r" | cut -d. -f1)" -gt 0 ] 2>/dev/null || { echo "bench: FAILED $f: $r"; failed=1; }
	done
	echo "$f direct: $d"
	echo "$f azbridge: $a"
	echo "$f azbridge-no-idle: $o"
	echo "$f azbridge/direct rps=$(ratio "$(field rps "$a")" "$(field rps "$d")")" \
	     "p99=$(ratio "$(field p99_ms "$a")" "$(field p99_ms "$d")")"
	echo "$f azbridge-no-idle/direct rps=$(ratio "$(field rps "$o")" "$(field rps "$d")")" \
	     "p99=$(ratio "$(field p99_ms "$o")" "$(field p99_ms "$d")")"
done
exit $failed
