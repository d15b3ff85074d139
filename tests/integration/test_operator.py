"""An operator's day with systemctl, drop-in files and azbridgectl alone:
the seed's TCP scenarios (one database; several targets behind one relay,
told apart by logical port names and reached by hosts-file names) run by a
real systemd, in a private PID and mount namespace that this test boots.
/etc is an overlay there, so the host's /etc is never written; /run is
private, so the control socket and the journal are the namespace's own."""
import json
import os
import re
import shutil
import socket
import subprocess

from conftest import BUILD, ROOT, SANITIZED, echo_server, free_port, wait_for
from test_postgres import postgres, psql

# The binaries are copied beside the units: a checkout under /tmp would be
# hidden inside the namespace (its /tmp is private) and from every unit
# with PrivateTmp=yes.
BIN_DIR = "/run/azb-units/bin"
CTL = f"{BIN_DIR}/azbridgectl"

# Only the units below exist for this systemd: nothing of the machine's own
# boot (tmpfiles, sysctl, udev, mounts) may run, even by a dependency. /tmp
# and /var/tmp are private too, so nothing there can be cleaned by mistake.
# Cut off from the machine's mounts first, then shared among our own as under
# a booted systemd: a service's credentials are mounted in a child namespace
# and reach the service only by propagation.
BOOT = r"""
set -e
mount --make-rprivate /
mount -t overlay azb-etc -o "lowerdir=/etc,upperdir=$1/etc-upper,workdir=$1/etc-work" /etc
mount -t tmpfs azb-run /run
mkdir -p /run/systemd/system /run/azb-units
mount --bind "$1/units" /run/azb-units
mount -t tmpfs azb-tmp /tmp
mount -t tmpfs azb-vartmp /var/tmp
mount --make-rshared /
exec /lib/systemd/systemd --system --unit=azb-test.target --log-target=console \
    --show-status=no
"""

STUB_TARGETS = ("azb-test", "sysinit", "basic", "shutdown", "network-online", "multi-user",
                "sockets")

JOURNALD = """[Unit]
Description=Journal Service
DefaultDependencies=no
Requires=systemd-journald.socket
After=systemd-journald.socket

[Service]
Type=notify
ExecStart=/lib/systemd/systemd-journald
Sockets=systemd-journald.socket
StandardOutput=null
RuntimeDirectory=systemd/journal
RuntimeDirectoryPreserve=yes
"""

JOURNALD_SOCKET = """[Unit]
Description=Journal Socket
DefaultDependencies=no

[Socket]
ListenDatagram=/run/systemd/journal/socket
ListenStream=/run/systemd/journal/stdout
PassCredentials=yes
ReceiveBuffer=8M
Service=systemd-journald.service
SocketMode=0666
"""


class SystemdHost:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "host")
        units = os.path.join(self.dir, "units")
        for d in ("units", "etc-upper", "etc-work"):
            os.makedirs(os.path.join(self.dir, d))
        files = {f"{t}.target": f"[Unit]\nDescription={t}\nDefaultDependencies=no\n"
                 for t in STUB_TARGETS}
        files["systemd-journald.service"] = JOURNALD
        files["systemd-journald.socket"] = JOURNALD_SOCKET
        os.makedirs(os.path.join(units, "bin"))
        for prog in ("azbridged", "azbridge-relayd", "azbridgectl"):
            shutil.copy2(os.path.join(BUILD, prog), os.path.join(units, "bin", prog))
        for unit in ("azbridged.service", "azbridge-relayd.service"):
            with open(os.path.join(ROOT, "systemd", unit)) as f:
                files[unit] = f.read().replace("/usr/sbin/", BIN_DIR + "/")
        for name, text in files.items():
            with open(os.path.join(units, name), "w") as f:
                f.write(text)
        if SANITIZED:
            # LeakSanitizer stops the threads with ptrace at exit; the units'
            # system call filter would kill it there.
            for unit in ("azbridged.service", "azbridge-relayd.service"):
                self.drop_in(unit, "sanitizer.conf", "[Service]\nSystemCallFilter=ptrace\n")
        self.log = open(os.path.join(self.dir, "systemd.log"), "wb")
        env = dict(os.environ, SYSTEMD_UNIT_PATH="/run/azb-units")
        self.outer = subprocess.Popen(["unshare", "--pid", "--fork", "--mount", "--mount-proc",
                                       "--uts", "--ipc", "--kill-child", "sh", "-c", BOOT, "sh",
                                       self.dir],
                                      stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pid = None
        wait_for(self._find_init, what="systemd in its namespace")
        wait_for(lambda: self.run("systemctl", "is-system-running").stdout.strip()
                 in ("running", "degraded"), timeout=30, what="systemd to finish booting")
        self.systemctl("start", "systemd-journald.socket", "systemd-journald.service")

    def _find_init(self):
        try:
            with open(f"/proc/{self.outer.pid}/task/{self.outer.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            return False
        if kids:
            self.pid = int(kids[0])
        return self.pid is not None and os.path.exists(f"/proc/{self.pid}")

    def run(self, *argv, check=None, input=None):
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p", "--", *argv],
                           capture_output=True, text=True, timeout=60, input=input)
        if check is not None:
            assert r.returncode == check, (argv, r.returncode, r.stdout, r.stderr)
        return r

    def systemctl(self, *args, check=0):
        return self.run("systemctl", "--no-pager", *args, check=check)

    def write(self, path, text, mode):
        self.run("install", "-D", f"-m{mode:o}", "/dev/stdin", path, input=text, check=0)

    def ctl(self, *args, check=0):
        r = self.run(CTL, "--json", *args, check=check)
        return json.loads(r.stdout) if r.stdout.strip() else None

    def drop_in(self, unit, name, text):
        """A drop-in as systemctl edit would write it (in the unit path here)."""
        d = os.path.join(self.dir, "units", f"{unit}.d")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)

    def prop(self, name, unit="azbridged"):
        return self.systemctl("show", "-P", name, unit).stdout.strip()

    def journal(self, *matches, unit="azbridged"):
        r = self.run("journalctl", "--no-pager", "-o", "json", "-u", unit, *matches)
        return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]

    def close(self):
        if self.pid:
            try:
                os.kill(self.pid, 9)           # the namespace's init: everything in it goes
            except ProcessLookupError:
                pass
        self.outer.wait(30)
        self.log.close()


def hello(host, port=None):
    """The banner of the target behind host:port (or the Unix socket host),
    after one round trip."""
    if port is None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(host)
    else:
        s = socket.create_connection((host, port), timeout=10)
    with s:
        f = s.makefile("rb")
        name = f.readline().strip().decode()
        s.sendall(b"ping")
        assert f.read(4) == b"ping"
        return name


def test_operator_runs_the_tcp_scenarios_with_systemctl(env):
    with postgres(env) as pg_port:
        env.start_relay()
        sql1, sql2 = free_port(), free_port()
        echo_server(sql1, banner=b"sql1\n")
        echo_server(sql2, banner=b"sql2\n")
        local_pg, local_sql = free_port(), free_port()
        host = SystemdHost(env.tmp)
        try:
            operate(env, host, pg_port, sql1, sql2, local_pg, local_sql)
        except Exception:
            shutil.copy(host.log.name, os.path.join(env.tmp, "..", "azb-systemd.log"))
            print(host.run("journalctl", "--no-pager", "-n", "200").stdout)
            raise
        finally:
            host.close()


def operate(env, host, pg_port, sql1, sql2, local_pg, local_sql):
    host.run("groupadd", "--system", "azbridge", check=0)
    with open(env.ca) as f:                       # /tmp is not the namespace's
        host.write("/etc/azbridge/ca.pem", f.read(), 0o644)
    host.write("/etc/azbridge.conf", f'''
connection_string = "{env.conn_str}";
ca_file = "/etc/azbridge/ca.pem";
remote_forward = (
  {{ name = "db"; relay = "db"; host = "127.0.0.1"; host_port = {pg_port}; }}
);
''', 0o600)
    # Several targets behind one relay: logical ports, and names in /etc/hosts.
    host.write("/etc/azbridge.conf.d/20-sql.conf", f'''
remote_forward = (
  {{ name = "sql-targets"; relay = "sql"; bindings = (
      {{ port_name = "sql1"; host = "127.0.0.1"; host_port = {sql1}; }},
      {{ port_name = "sql2"; host = "127.0.0.1"; host_port = {sql2}; }} ); }}
);
local_forward = (
  {{ name = "sql"; relay = "sql"; bindings = (
      {{ bind_address = "127.0.0.8"; bind_port = {local_sql}; port_name = "sql1";
        host_name = "sql1.corp.example"; }},
      {{ bind_address = "127.0.0.9"; bind_port = {local_sql}; port_name = "sql2";
        host_name = "sql2.corp.example"; }} ); }}
);
''', 0o644)
    host.systemctl("daemon-reload")
    host.systemctl("start", "azbridged")          # returns once READY=1 arrived
    assert host.prop("ActiveState") == "active"
    wait_for(lambda: re.fullmatch(r"3 bindings, 3 online, 0 tunnels", host.prop("StatusText")),
             what="all three online in the unit's status")
    sock = host.run("stat", "-c", "%a %G", "/run/azbridged/control.sock", check=0).stdout.split()
    assert sock == ["660", "azbridge"], sock

    # The database: one azbridgectl add, persisted as a drop-in.
    out = host.ctl("add", "--name", "pg", "-L", f"127.0.0.1:{local_pg}:db")
    assert out["file"] == "/etc/azbridge.conf.d/50-pg.conf" and out["state"] == "listening", out
    r = psql(local_pg, "select 6 * 7, current_setting('port')")
    assert r.returncode == 0 and r.stdout.strip() == f"42|{pg_port}", r

    # The named targets: each name resolves in the namespace and reaches its own target.
    for name, ip, who in (("sql1.corp.example", "127.0.0.8", "sql1"),
                          ("sql2.corp.example", "127.0.0.9", "sql2")):
        got = host.run("getent", "hosts", name, check=0).stdout.split()
        assert got[:2] == [ip, name], got
        assert hello(ip, local_sql) == who
    listed = {b["name"]: b for b in host.ctl("list")["bindings"]}
    assert listed["sql"]["state"] == "listening" and listed["db"]["state"] == "online", listed
    assert listed["sql"]["host_names"] == ["sql1.corp.example", "sql2.corp.example"], listed
    stats = host.ctl("stats", "sql")["total"]
    assert stats["tunnels_total"] == 2 and stats["bytes_up"] == 8, stats
    human = host.run(CTL, "stats", check=0).stdout
    assert re.search(r"^TOTAL\b", human, re.M), human

    # The journal has the events, with their fields.
    wait_for(lambda: host.journal("AZB_BINDING=sql", "AZB_RELAY=sql"), what="journal entries")
    msgs = [e["MESSAGE"] for e in host.journal("AZB_BINDING=sql")]
    assert any("listening on 127.0.0.8" in m for m in msgs), msgs

    # A broken drop-in: the reload fails, says where, and nothing stops.
    host.write("/etc/azbridge.conf.d/30-broken.conf",
               'local_forward = ( { relay = "x"; bind_port = 99999; } );\n', 0o644)
    host.systemctl("reload", "azbridged")
    wait_for(lambda: "last reload failed" in host.prop("StatusText"), what="the failed reload")
    assert "30-broken.conf:1" in host.prop("StatusText")
    assert any("30-broken.conf:1" in e["MESSAGE"] and e["PRIORITY"] == "3"
               for e in host.journal()), "the error with file:line in the journal"
    assert host.prop("ActiveState") == "active"
    assert psql(local_pg, "select 1").stdout.strip() == "1"
    host.run("rm", "/etc/azbridge.conf.d/30-broken.conf", check=0)
    out = host.ctl("reload")
    assert out["ok"] and out["unchanged"] == 4, out

    # Restart: everything comes back from the files, the drop-in included.
    host.systemctl("restart", "azbridged")
    wait_for(lambda: host.prop("StatusText").startswith("4 bindings, 4 online"),
             what="four bindings after the restart")
    assert psql(local_pg, "select 2").stdout.strip() == "2"
    assert hello("127.0.0.8", local_sql) == "sql1"

    # Remove the database binding: its drop-in goes, its port closes.
    out = host.ctl("remove", "pg")
    assert out["ok"], out
    assert host.run("test", "-e", "/etc/azbridge.conf.d/50-pg.conf").returncode == 1
    wait_for(lambda: psql(local_pg, "select 1").returncode != 0, what="the port to close")

    # Stop: a clean exit, and the hosts entries leave with the daemon.
    host.systemctl("stop", "azbridged")
    assert host.prop("Result") == "success" and host.prop("ActiveState") == "inactive"
    hosts = host.run("cat", "/etc/hosts", check=0).stdout
    assert "corp.example" not in hosts, hosts
