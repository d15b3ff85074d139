#!/bin/sh
# The tools make bench needs, each as "command package". As root on Debian it
# installs what is missing; otherwise it names what is missing and fails, so
# that no figure is ever printed as a zero for want of a tool.
set -u
TOOLS="iperf3 iperf3
/usr/sbin/sshd openssh-server
ssh openssh-client
ssh-keygen openssh-client
stunnel4 stunnel4
wrk wrk
nginx nginx-light
openssl openssl
curl curl
python3 python3"

missing() {
	echo "$TOOLS" | while read -r cmd pkg; do
		command -v "$cmd" >/dev/null 2>&1 || echo "$pkg"
	done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

need=$(missing)
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "bench: installing $need"
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
	need=$(missing)
	[ -z "$need" ] && exit 0
fi
echo "bench: missing (Debian packages): $need" >&2
echo "bench: install them (apt-get install $need) or run make bench as root" >&2
exit 1
