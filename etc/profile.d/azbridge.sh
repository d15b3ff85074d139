# azbridge: addhost and removehost, the hosts-file helpers the original tool
# shipped, now wrappers around `azbridgectl hosts`, so the entries land in the
# azbridge block of the hosts file under its lock. A caller the daemon does
# not allow to change it (exit status 4) is retried through sudo, when sudo
# exists. Sourced from /etc/profile.d; POSIX sh and bash.

_azbridge_ctl() {
	azbridgectl "$@"
	set -- $? "$@"
	if [ "$1" -eq 4 ] && [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
		shift
		sudo azbridgectl "$@"
		return
	fi
	return "$1"
}

# addhost IP NAME
addhost() {
	if [ $# -ne 2 ]; then
		echo "usage: addhost IP NAME" >&2
		return 2
	fi
	_azbridge_ctl hosts add "$1" "$2"
}

# removehost NAME
removehost() {
	if [ $# -ne 1 ]; then
		echo "usage: removehost NAME" >&2
		return 2
	fi
	_azbridge_ctl hosts remove "$1"
}
