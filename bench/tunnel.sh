#!/bin/bash
# Tunnel figures of four paths to the same servers, all on loopback, in one run:
#   direct     client -> server
#   azbridge   client -> azbridged -L -> azbridge-relayd (TLS both ways) -> azbridged -T -> server
#   ssh -L     client -> ssh -L -> sshd (a private one on a loopback port) -> server
#   stunnel    client -> stunnel -> stunnel -> stunnel -> server: three processes,
#              two TLS hops, the shape of azbridge's path
# This script starts the servers and the three forwarding paths;
# bench/measure.py measures and prints one table per figure.
# QUICK=1 runs shorter and smaller; see measure.py for the knobs.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_tmpdir tunnel
raise_nofile
# The same cipher on every hop of every path: AES-128-GCM.
SSH_CIPHER=${SSH_CIPHER:-aes128-gcm@openssh.com}
TLS_SUITE=TLS_AES_128_GCM_SHA256

IPERF=$(port); ECHO=$(port)
iperf3 -s -p "$IPERF" >"$DIR/iperf.log" 2>&1 & pids+=($!)
python3 bench/echo.py "$ECHO" & pids+=($!)

# azbridge. A tunnel is two relay connections from 127.0.0.1 (sender and
# rendezvous), so the per-source cap must admit the scale figure's count.
cat >"$DIR/relayd.conf" <<CFG
max_connections_per_source = 1000000;
max_pending_accepts_per_hybrid_connection = 10000;
CFG
chmod 600 "$DIR/relayd.conf"
"$BUILD/azbridge-relayd" --dev --state-dir "$DIR/relay" --config "$DIR/relayd.conf" \
	>"$DIR/relay.log" 2>&1 & RELAY_PID=$!; pids+=($!)
wait_for "$DIR/relay.log" "CA certificate:"
CS=$(sed -n 's/^connection string: //p' "$DIR/relay.log")
CA=$(sed -n 's/^CA certificate: //p' "$DIR/relay.log")
LI=$(port); LE=$(port)
"$BUILD/azbridged" -q -o "ca_file:$CA" -x "$CS" \
	-T "bench:iperf/localhost:$IPERF;iperfu/localhost:${IPERF}U;echo/localhost:$ECHO" \
	>"$DIR/t.log" 2>&1 & T_PID=$!; pids+=($!)
"$BUILD/azbridged" -q -o "ca_file:$CA" -x "$CS" \
	-L "127.0.0.1:$LI/iperf;127.0.0.1:${LI}U/iperfu;127.0.0.1:$LE/echo:bench" \
	>"$DIR/l.log" 2>&1 & L_PID=$!; pids+=($!)

# ssh -L through a private sshd: its own host key, config and port.
SSHP=$(port); SSHI=$(port); SSHE=$(port)
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
Ciphers $SSH_CIPHER
PidFile $DIR/sshd.pid
LogLevel ERROR
CFG
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd  # its privilege separation directory
/usr/sbin/sshd -f "$DIR/sshd_config" -D -e 2>"$DIR/sshd.log" & SSHD_PID=$!; pids+=($!)
wait_port "$SSHP"
ssh -F /dev/null -q -N -c "$SSH_CIPHER" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o ExitOnForwardFailure=yes -o BatchMode=yes -i "$DIR/userkey" -p "$SSHP" \
	-L "$SSHI:127.0.0.1:$IPERF" -L "$SSHE:127.0.0.1:$ECHO" "$(id -un)@127.0.0.1" &
SSH_PID=$!; pids+=($!)

# stunnel: client (plain in, TLS out), middle (TLS in, TLS out; stunnel
# terminates and starts TLS in two services joined by a Unix socket), server
# (TLS in, plain out to the target).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -keyout "$DIR/st.key" -out "$DIR/st.pem" 2>/dev/null
stunnel_conf() {  # stunnel_conf NAME: the global part of one stunnel's file
	printf 'foreground = yes\npid =\nsyslog = no\ndebug = err\noutput = %s\n' "$DIR/st-$1.log"
	printf 'ciphersuites = %s\nsslVersionMin = TLSv1.3\n' "$TLS_SUITE"
	printf 'socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n'
}
tls_in() { printf 'cert = %s\nkey = %s\nCAfile = %s\n' "$DIR/st.pem" "$DIR/st.key" "$DIR/st.pem"; }
tls_out() { printf 'client = yes\nCAfile = %s\nverifyChain = yes\ncheckHost = localhost\n' "$DIR/st.pem"; }
SCI=$(port); SCE=$(port); SMI=$(port); SME=$(port); SSI=$(port); SSE=$(port)
{ stunnel_conf client
  for s in "iperf $SCI $SMI" "echo $SCE $SME"; do set -- $s
	printf '[%s]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$1" "$2" "$3"; tls_out; done
} >"$DIR/st-client.conf"
{ stunnel_conf middle
  for s in "iperf $SMI $SSI" "echo $SME $SSE"; do set -- $s
	printf '[%s-in]\naccept = 127.0.0.1:%s\nconnect = %s\n' "$1" "$2" "$DIR/st-$1.sock"; tls_in
	printf '[%s-out]\naccept = %s\nconnect = 127.0.0.1:%s\n' "$1" "$DIR/st-$1.sock" "$3"; tls_out; done
} >"$DIR/st-middle.conf"
{ stunnel_conf server
  for s in "iperf $SSI $IPERF" "echo $SSE $ECHO"; do set -- $s
	printf '[%s]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$1" "$2" "$3"; tls_in; done
} >"$DIR/st-server.conf"
for s in server middle client; do
	stunnel4 "$DIR/st-$s.conf" >>"$DIR/st-$s.log" 2>&1 &
	pids+=($!); eval "ST_${s}_PID=$!"
done

for p in "$LE" "$SSHE" "$SCE" "$ECHO" "$IPERF"; do wait_port "$p"; done
cat >"$DIR/paths.json" <<JSON
{"direct":   {"iperf": $IPERF, "echo": $ECHO, "udp": $IPERF, "procs": {}},
 "azbridge": {"iperf": $LI, "echo": $LE, "udp": $LI,
              "procs": {"-L": $L_PID, "relay": $RELAY_PID, "-T": $T_PID}},
 "ssh -L":   {"iperf": $SSHI, "echo": $SSHE, "procs": {"ssh": $SSH_PID, "sshd": $SSHD_PID}},
 "stunnel":  {"iperf": $SCI, "echo": $SCE,
              "procs": {"client": $ST_client_PID, "middle": $ST_middle_PID, "server": $ST_server_PID}}}
JSON
echo "== paths: ssh cipher $SSH_CIPHER, stunnel and azbridge TLS 1.3 $TLS_SUITE;" \
     "descriptor limit $NOFILE per process"
python3 bench/measure.py "$DIR/paths.json"
rc=$?
[ $rc = 0 ] || for f in "$DIR"/*.log; do  # what the forwarders said, when a figure failed
	case $(basename "$f") in iperf.log | relay.log) continue ;; esac  # relay.log holds the key
	[ -s "$f" ] && { echo "-- $(basename "$f"):"; tail -n 5 "$f"; }
done
exit $rc
