# Shell helpers the bench scripts source: a temp dir cleaned on exit, free
# ports, bounded waits, the descriptor limit, and the machine line.
# Every process a script starts goes into pids, so that exit ends it.
BUILD=${BUILD:-build}
pids=()
bench_tmpdir() {  # bench_tmpdir NAME: sets DIR, removed with the processes on exit
	DIR=$(mktemp -d "/tmp/azbridge-bench-$1-XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}
bench_cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$DIR"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for FILE TEXT: at most 10 s for TEXT to appear in FILE
	for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "timeout: $2" >&2; cat "$1" >&2; exit 1
}
wait_port() {  # wait_port PORT: at most 10 s for a TCP listener on 127.0.0.1:PORT
	for _ in $(seq 1 100); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timeout: nothing listens on 127.0.0.1:$1" >&2; exit 1
}
# The soft descriptor limit raised to the hard one (an unlimited hard limit
# means the kernel's fs.nr_open); NOFILE is what the processes get.
raise_nofile() {
	local hard
	hard=$(ulimit -H -n)
	[ "$hard" = unlimited ] && hard=$(cat /proc/sys/fs/nr_open)
	if [ "$(ulimit -S -n)" != "$hard" ] && ! ulimit -S -n "$hard"; then
		echo "bench: cannot raise the descriptor limit from $(ulimit -S -n) to $hard" >&2
	fi
	NOFILE=$(ulimit -S -n)
	export NOFILE
}
machine() {
	echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
	     "kernel $(uname -r), descriptor limit $(ulimit -S -n)"
}
