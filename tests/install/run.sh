#!/bin/bash
# make install into a staging directory: every file where it belongs.
set -u
cd "$(dirname "$0")/../.."
DEST=$(mktemp -d)
trap 'rm -rf "$DEST"' EXIT
pass=0
fail=0
check() {
	if [ -e "$DEST$2" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: $2 missing"; fi
}
if ! make -s install DESTDIR="$DEST" PREFIX=/usr UNITDIR=/lib/systemd/system BUILD="${BUILD:-build}" >"$DEST.log" 2>&1; then
	cat "$DEST.log"
	echo "install: 0 passed, 1 failed"
	exit 1
fi
rm -f "$DEST.log"
check daemon /usr/sbin/azbridged
check relay /usr/sbin/azbridge-relayd
check ctl /usr/bin/azbridgectl
check man8 /usr/share/man/man8/azbridged.8
check man5 /usr/share/man/man5/azbridge.conf.5
check unit /lib/systemd/system/azbridged.service
check example /usr/share/doc/azbridge/examples/azbridge.conf
check relay-unit /lib/systemd/system/azbridge-relayd.service
check relay-example /usr/share/doc/azbridge/examples/azbridge-relayd.conf
check relay-man /usr/share/man/man8/azbridge-relayd.8
check config /etc/azbridge.conf
check dropins /etc/azbridge.conf.d
if grep -q '^ExecStart=/usr/sbin/azbridged' "$DEST/lib/systemd/system/azbridged.service"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1)); echo "FAIL unit: ExecStart does not point at /usr/sbin"
fi
if [ "$(stat -c %a "$DEST/etc/azbridge.conf")" = 600 ]; then
	pass=$((pass + 1))
else
	fail=$((fail + 1)); echo "FAIL config: /etc/azbridge.conf is not mode 600"
fi
check completion /usr/share/bash-completion/completions/azbridgectl
check profile /etc/profile.d/azbridge.sh
check ctl-man /usr/share/man/man8/azbridgectl.8
# systemd's own checks of the installed units, with their binaries and the
# man pages their Documentation= names.
for u in azbridged azbridge-relayd; do
	sed "s|/usr/sbin/|$DEST/usr/sbin/|g" "$DEST/lib/systemd/system/$u.service" >"$DEST/$u.service"
	if out=$(MANPATH="$DEST/usr/share/man" systemd-analyze verify "$DEST/$u.service" 2>&1); then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); echo "FAIL unit: systemd-analyze verify $u.service:"; echo "$out"
	fi
done
has() {  # has UNIT LINE...: the installed unit has each line as it is
	local u=$1
	shift
	for k in "$@"; do
		if grep -qxF "$k" "$DEST/lib/systemd/system/$u.service"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1)); echo "FAIL unit: $u.service lacks $k"
		fi
	done
}
has azbridged 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'RuntimeDirectory=azbridged' \
	'RuntimeDirectoryMode=0755' 'SupplementaryGroups=azbridge' 'ProtectSystem=strict' \
	'ReadWritePaths=-/etc/hosts' 'ConfigurationDirectory=azbridge.conf.d'
has azbridge-relayd 'Type=notify' 'DynamicUser=yes' 'ProtectSystem=strict' \
	'LoadCredential=azbridge-relayd.conf:/etc/azbridge-relayd.conf' \
	'ExecStart=/usr/sbin/azbridge-relayd --config %d/azbridge-relayd.conf'
# systemd's exposure score of each installed unit: at most 2.0 (20 on the
# scale of --threshold).
for u in azbridged azbridge-relayd; do
	if out=$(systemd-analyze security --offline=yes --threshold=20 "$DEST/$u.service" 2>&1); then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); echo "FAIL unit: $u.service is rated above 2.0:"; echo "$out" | tail -1
	fi
done
check dropin-example /usr/share/doc/azbridge/examples/systemd/azbridged.service.d/local.conf
check relay-dropin-example /usr/share/doc/azbridge/examples/systemd/azbridge-relayd.service.d/keys.conf
# The Debian build's flags reach the compiler: debian/rules asks for
# hardening=+all, dpkg-buildflags puts -D_FORTIFY_SOURCE=2 in CPPFLAGS, and
# the objects then call glibc's checked __*_chk functions (none without it).
FORT=$(mktemp -d)
export DEB_BUILD_MAINT_OPTIONS=$(sed -n 's/^export DEB_BUILD_MAINT_OPTIONS = //p' debian/rules)
fortified() {  # fortified BUILD [make variables]: the __*_chk symbols main.o uses
	make -s --no-print-directory BUILD="$1" "${@:2}" "$1/daemon/main.o" >/dev/null 2>&1 &&
		nm -u "$1/daemon/main.o" | grep -cE '__[a-z_]+_chk$'
}
n_plain=$(fortified "$FORT/plain" CFLAGS="$(dpkg-buildflags --get CFLAGS)")
n_deb=$(fortified "$FORT/deb" CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS)" CFLAGS="$(dpkg-buildflags --get CFLAGS)")
if dpkg-buildflags --get CPPFLAGS | grep -q -- -D_FORTIFY_SOURCE=2 && [ "${n_plain:-0}" = 0 ] && [ "${n_deb:-0}" -gt 0 ]; then
	pass=$((pass + 1))
else
	fail=$((fail + 1)); echo "FAIL fortify: CPPFLAGS from dpkg-buildflags do not reach the compiler ($n_plain checked calls without, ${n_deb:-none} with)"
fi
rm -rf "$FORT"
echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
