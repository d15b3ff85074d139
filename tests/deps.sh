#!/bin/sh
# Installs what building and testing need on Debian 12. Idempotent: when
# everything is present it only checks and returns.
set -eu
PKGS="gcc make pkg-config libssl-dev libwebsockets-dev libsystemd-dev libconfig-dev
libjansson-dev libcurl4-openssl-dev libyaml-dev libcmocka-dev python3 python3-pytest python3-cryptography groff-base
openssl valgrind curl postgresql-15 clang libclang-rt-14-dev systemd man-db util-linux
dpkg-dev binutils nginx-light wrk tinyproxy-bin"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	echo "installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
cd "$(dirname "$0")"
if [ -f conformance/package-lock.json ] && ! command -v npm >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || SUDO=sudo
	${SUDO:-} apt-get update -qq
	DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ -f conformance/package-lock.json ]; then
	if [ ! -d conformance/node_modules ] || [ conformance/package-lock.json -nt conformance/node_modules ]; then
		(cd conformance && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi
echo "dependencies present"
