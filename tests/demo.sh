#!/bin/bash
# `make run`: the whole path on loopback. A local web server stands in for
# the service in the private network; azbridge-relayd --dev stands in for
# Azure Relay; one azbridged listens on the relay (-T) next to the service,
# another forwards a local port to it (-L). A third serves the same web
# server at the relay's own HTTPS address (-H), the restaurant scenario:
# only the side next to the service runs. Ctrl+C stops all of it.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DIR=$(mktemp -d /tmp/azbridge-demo-XXXXXX)
pids=()

cleanup() {
	trap - EXIT INT TERM
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$DIR"
	echo "demo stopped"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() {  # wait_for FILE PATTERN
	for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "make run: timed out waiting for '$2' in $1:" >&2
	cat "$1" >&2
	exit 1
}

wait_port() {  # wait_port PORT: until something listens there
	for _ in $(seq 1 100); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	echo "make run: nothing listens on 127.0.0.1:$1" >&2
	exit 1
}

SERVICE=$(free_port)
LOCAL=$(free_port)
mkdir -p "$DIR/www"
echo "Hello from the service behind the relay." >"$DIR/www/index.html"
python3 -m http.server --bind 127.0.0.1 --directory "$DIR/www" "$SERVICE" >"$DIR/service.log" 2>&1 &
pids+=($!)
# The service first: a tunnel to a port nobody listens on yet is refused.
wait_port "$SERVICE"

# demo for the tunnel; latavola open to any HTTP client, as a public web site is.
cat >"$DIR/relayd.conf" <<CFG
hybrid_connections = (
  { name = "demo"; },
  { name = "latavola"; requires_client_authorization = false; }
);
CFG
chmod 600 "$DIR/relayd.conf"
"$BUILD/azbridge-relayd" --dev --state-dir "$DIR/relay" --config "$DIR/relayd.conf" \
	>"$DIR/relay.log" 2>&1 &
pids+=($!)
wait_for "$DIR/relay.log" "CA certificate:"
CS=$(sed -n 's/^connection string: //p' "$DIR/relay.log")
CA=$(sed -n 's/^CA certificate: //p' "$DIR/relay.log")
RELAY=$(sed -n 's/^listening on \(.*\) (.*/\1/p' "$DIR/relay.log")

"$BUILD/azbridged" --foreground -o "ca_file:$CA" -x "$CS" -T "demo:$SERVICE" >"$DIR/listener.log" 2>&1 &
pids+=($!)
"$BUILD/azbridged" --foreground -o "ca_file:$CA" -x "$CS" -L "127.0.0.1:$LOCAL:demo" >"$DIR/sender.log" 2>&1 &
pids+=($!)
"$BUILD/azbridged" --foreground -o "ca_file:$CA" -x "$CS" -H "latavola:http/127.0.0.1:$SERVICE" \
	>"$DIR/http.log" 2>&1 &
pids+=($!)
wait_for "$DIR/listener.log" "listener online"
wait_for "$DIR/sender.log" "listening on"
wait_for "$DIR/http.log" "listener online"
HTTPS="https://localhost:${RELAY##*:}/latavola/"

cat <<MSG

azbridge demo is running on loopback:

  web server (the service)   127.0.0.1:$SERVICE
  azbridge-relayd --dev      $RELAY
  azbridged -T demo:$SERVICE       (next to the service, listening on the relay)
  azbridged -L 127.0.0.1:$LOCAL:demo  (where clients connect)
  azbridged -H latavola:http/127.0.0.1:$SERVICE  (the web server at the relay's HTTPS address)

Try it in another terminal:

  curl http://127.0.0.1:$LOCAL/

The request goes curl -> azbridged -L -> relay (TLS) -> azbridged -T -> web server.
And with only the service's side running, at the relay's own address:

  curl --cacert $CA $HTTPS

That request goes curl -> relay (HTTPS) -> azbridged -H -> web server.
Logs: $DIR/{relay,listener,sender,http,service}.log
Press Ctrl+C to stop.
MSG
if [ -n "${AZB_DEMO_CHECK:-}" ]; then
	# Non-interactive check (used by the test suite): one request, then stop.
	curl -sf "http://127.0.0.1:$LOCAL/" && curl -sf --cacert "$CA" "$HTTPS"
	exit $?
fi
wait
