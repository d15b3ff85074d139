#!/bin/bash
# Throughput, latency and memory of the full path
#   client -> azbridged -L -> azbridge-relayd (TLS) -> azbridged -T -> server
# against direct loopback and `ssh -L`, all measured in this one run.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECS=${SECS:-5}
ulimit -n 65536
DIR=$(mktemp -d /tmp/azbridge-bench-XXXXXX)
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout: $2" >&2; cat "$1" >&2; exit 1; }

IPERF=$(port); ECHO=$(port); LI=$(port); LE=$(port); SSHP=$(port); SSHL=$(port)
iperf3 -s -p "$IPERF" >"$DIR/iperf.log" 2>&1 & pids+=($!)
python3 bench/echo.py "$ECHO" & pids+=($!)
"$BUILD/azbridge-relayd" --dev --state-dir "$DIR/relay" >"$DIR/relay.log" 2>&1 & RELAY_PID=$!; pids+=($!)
wait_for "$DIR/relay.log" "CA certificate:"
CS=$(sed -n 's/^connection string: //p' "$DIR/relay.log")
CA=$(sed -n 's/^CA certificate: //p' "$DIR/relay.log")
"$BUILD/azbridged" -q -o "ca_file:$CA" -x "$CS" -T "bench:iperf/localhost:$IPERF;echo/localhost:$ECHO" >"$DIR/t.log" 2>&1 & T_PID=$!; pids+=($!)
"$BUILD/azbridged" -o "ca_file:$CA" -x "$CS" -L "127.0.0.1:$LI/iperf;127.0.0.1:$LE/echo:bench" >"$DIR/l.log" 2>&1 & L_PID=$!; pids+=($!)
wait_for "$DIR/l.log" "listening on 127.0.0.1:$LE"
sleep 1

# ssh -L over a private sshd on loopback, as the reference peer
ssh-keygen -q -t ed25519 -N '' -f "$DIR/hostkey"; ssh-keygen -q -t ed25519 -N '' -f "$DIR/userkey"
cp "$DIR/userkey.pub" "$DIR/authorized_keys"; chmod 600 "$DIR/authorized_keys"
cat >"$DIR/sshd_config" <<CFG
Port $SSHP
ListenAddress 127.0.0.1
HostKey $DIR/hostkey
AuthorizedKeysFile $DIR/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $DIR/sshd.pid
CFG
mkdir -p /run/sshd
/usr/sbin/sshd -f "$DIR/sshd_config" -D -e 2>"$DIR/sshd.log" & pids+=($!)
sleep 0.5
ssh -q -N -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ExitOnForwardFailure=yes \
	-i "$DIR/userkey" -p "$SSHP" -L "$SSHL:127.0.0.1:$IPERF" root@127.0.0.1 & pids+=($!)
for _ in $(seq 1 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$SSHL),0.2)" 2>/dev/null && break; sleep 0.1; done

gbps() {  # gbps PORT STREAMS -> receiver Gbit/s
	iperf3 -c 127.0.0.1 -p "$1" -P "$2" -t "$SECS" -f g 2>&1 |
		awk '/receiver/ { v = $(NF-2) } END { print v + 0 }'
}
ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else 'n/a')"; }

echo "== throughput (iperf3, $SECS s each, Gbit/s)"
for streams in 1 8; do
	d=$(gbps "$IPERF" $streams); a=$(gbps "$LI" $streams); s=$(gbps "$SSHL" $streams)
	echo "streams=$streams direct=$d azbridge=$a ssh-L=$s azbridge/direct=$(ratio "$a" "$d") azbridge/ssh=$(ratio "$a" "$s")"
done
echo "== time to first byte of a new tunnel (500 connections)"
echo "direct:   $(python3 bench/probe.py ttfb "$ECHO" 500)"
echo "azbridge: $(python3 bench/probe.py ttfb "$LE" 500)"
echo "== request/response through an open connection (5000 round trips)"
echo "direct:   $(python3 bench/probe.py rtt "$ECHO" 5000)"
echo "azbridge: $(python3 bench/probe.py rtt "$LE" 5000)"
echo "== memory with 1000 open tunnels"
python3 bench/probe.py hold "$LE" 1000 "azbridged-L=$L_PID" "azbridged-T=$T_PID" "relay=$RELAY_PID"
echo "== machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
