"""The shipped units as they are, hardened, under a real systemd (the
operator tests' private PID and mount namespace): who reaches the control
socket, and every feature working inside the sandbox: hosts entries through
a read-only /etc, drop-ins from azbridgectl add, ports below 1024, Unix
sockets both ways, the journal, reload, and azbridge-relayd.service serving
on 443 with its root-only configuration and key passed as credentials. Also
systemd's own exposure score of both unit files."""
import os
import random
import re
import subprocess

import pytest

from conftest import ROOT, echo_server, free_port, wait_for
from test_operator import CTL, SystemdHost, hello

MAX_EXPOSURE = 2.0


def exposure(unit_file):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit_file],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m, (r.returncode, r.stdout[-2000:], r.stderr)
    return float(m.group(1)), r.stdout


@pytest.mark.parametrize("unit", ["azbridged.service", "azbridge-relayd.service"])
def test_unit_exposure_at_most_2(unit):
    score, report = exposure(os.path.join(ROOT, "systemd", unit))
    print(f"{unit}: exposure {score}")
    weak = [line for line in report.splitlines() if line.startswith("\u2717")]
    assert score <= MAX_EXPOSURE, f"{unit} scores {score}:\n" + "\n".join(weak)


def booted(env):
    host = SystemdHost(env.tmp)
    host.run("groupadd", "--system", "azbridge", check=0)
    return host


def keep_log(env, host):
    with open(host.log.name, "rb") as f:
        print(f.read().decode(errors="replace")[-5000:])
    for unit in ("azbridged", "azbridge-relayd"):
        print(host.systemctl("status", "-n", "0", unit, check=None).stdout)
        print(host.run("journalctl", "--no-pager", "-n", "100", "-u", unit).stdout)


def as_user(host, user, *args):
    return host.run("runuser", "-u", user, "--", CTL, *args)


def test_control_group_reads_others_are_refused(env):
    host = booted(env)
    try:
        host.run("useradd", "--system", "--no-create-home", "-G", "azbridge", "azb-reader",
                 check=0)
        host.run("useradd", "--system", "--no-create-home", "azb-outsider", check=0)
        host.write("/etc/azbridge.conf", "log_level = \"info\";\n", 0o600)
        host.systemctl("start", "azbridged")
        sock = host.run("stat", "-c", "%a %U %G", "/run/azbridged/control.sock", check=0)
        assert sock.stdout.split() == ["660", "root", "azbridge"], sock.stdout
        # A member reads...
        r = as_user(host, "azb-reader", "status")
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        assert re.search(r"^bindings: 0 ", r.stdout, re.M), r.stdout
        r = as_user(host, "azb-reader", "--json", "list")
        assert r.returncode == 0 and '"bindings"' in r.stdout, (r.returncode, r.stdout, r.stderr)
        # ...and may change nothing: the daemon answers, and refuses.
        r = as_user(host, "azb-reader", "--json", "add", "--name", "x", "-L", "127.0.0.1:1999:x")
        assert r.returncode == 4 and '"permission-denied"' in r.stdout, \
            (r.returncode, r.stdout, r.stderr)
        assert host.run("test", "-e", "/etc/azbridge.conf.d/50-x.conf").returncode == 1
        # Others do not get a connection at all.
        r = as_user(host, "azb-outsider", "status")
        assert r.returncode == 4 and "ermission denied" in r.stderr, \
            (r.returncode, r.stdout, r.stderr)
    except Exception:
        keep_log(env, host)
        raise
    finally:
        host.close()


# ---- every feature under the hardened units -----------------------------------

def make_cert(tmp, name):
    key, cert = os.path.join(tmp, "server.key"), os.path.join(tmp, "server.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={name}", "-addext",
                    f"subjectAltName=DNS:{name}"], check=True, capture_output=True, timeout=60)
    with open(key) as k, open(cert) as c:
        return k.read(), c.read()


def example(name):
    with open(os.path.join(ROOT, "etc", name)) as f:
        return f.read()


def relay_config(ip):
    """The shipped example, on our address and name, with two more hybrid
    connections."""
    text = example("azbridge-relayd.conf")
    for old, new in (('listen = [ "0.0.0.0:443", "[::]:443" ];', f'listen = [ "{ip}:443" ];'),
                     ('"relay.example.com"', '"relay.azb.test"'),
                     ("hybrid_connections = (",
                      'hybrid_connections = ( { name = "unix"; }, { name = "more"; },')):
        assert old in text, old
        text = text.replace(old, new)
    return text


def bridge_config(key_name, key, ip, echo_port):
    return f'''
connection_string = "Endpoint=sb://relay.azb.test/;SharedAccessKeyName={key_name};SharedAccessKey={key}";
ca_file = "/etc/azbridge/ca.pem";
stop_timeout = 1;
remote_forward = (
  {{ name = "tcp-target"; relay = "db"; host = "127.0.0.1"; host_port = {echo_port}; }},
  {{ name = "unix-target"; relay = "unix"; bindings = (
      {{ port_name = "echo"; local_socket = "/run/azb-target/echo.sock"; }} ); }},
  {{ name = "more-target"; relay = "more"; host = "127.0.0.1"; host_port = {echo_port}; }}
);
local_forward = (
  {{ name = "web"; relay = "db"; bindings = (
      {{ bind_address = "{ip}"; bind_port = 80; host_name = "echo.azb.test"; }} ); }},
  {{ name = "app"; relay = "unix"; bindings = (
      {{ bind_local_socket = "/run/myapp/app.sock"; port_name = "echo"; }} ); }}
);
'''


def test_every_feature_under_the_hardened_units(env):
    # Ports 80 and 443 on an address of our own: nothing else on the machine
    # binds there.
    ip = f"127.{random.randint(100, 199)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    echo_port = free_port()
    echo_server(echo_port, banner=b"tcp\n")
    host = booted(env)
    try:
        features(env, host, ip, echo_port)
    except Exception:
        keep_log(env, host)
        raise
    finally:
        host.close()


def start_relay(env, host, ip):
    key_name, key = "RootManageSharedAccessKey", "cm9vdC1rZXktZm9yLXRoZS11bml0LXRlc3QtMDEyMzQ="
    server_key, cert = make_cert(env.tmp, "relay.azb.test")
    host.write("/etc/azbridge-relayd/server.key", server_key, 0o600)
    host.write("/etc/azbridge-relayd/server.pem", cert, 0o644)
    for name, k in (("root", key), ("db-listen", "bGlzdGVu"), ("db-send", "c2VuZA==")):
        host.write(f"/etc/azbridge-relayd/{name}.key", k + "\n", 0o600)
    host.write("/etc/azbridge-relayd.conf", relay_config(ip), 0o600)
    host.write("/etc/azbridge/ca.pem", cert, 0o644)
    hosts = host.run("cat", "/etc/hosts", check=0).stdout
    host.write("/etc/hosts", hosts + f"{ip} relay.azb.test\n", 0o644)
    # Its rule key files: the example drop-in.
    host.drop_in("azbridge-relayd.service", "keys.conf",
                 example("systemd/azbridge-relayd.service.d/keys.conf"))
    host.systemctl("daemon-reload")
    host.systemctl("start", "azbridge-relayd")
    assert host.prop("ActiveState", "azbridge-relayd") == "active"
    pid = host.prop("MainPID", "azbridge-relayd")
    uid = host.run("awk", "/^Uid:/ {print $2}", f"/proc/{pid}/status", check=0).stdout.strip()
    assert uid not in ("", "0"), f"the relay runs as uid {uid!r}"
    return key_name, key


def features(env, host, ip, echo_port):
    key_name, key = start_relay(env, host, ip)

    # Unix sockets: a target the remote forward dials (any directory), and a
    # directory for the local forward's socket, made writable by the example
    # drop-in.
    host.run("mkdir", "-p", "/run/azb-target", "/run/myapp", check=0)
    echo_server(unix_path=f"/proc/{host.pid}/root/run/azb-target/echo.sock", banner=b"unix\n")
    host.drop_in("azbridged.service", "local.conf",
                 example("systemd/azbridged.service.d/local.conf"))
    host.write("/etc/azbridge.conf", bridge_config(key_name, key, ip, echo_port), 0o600)
    host.systemctl("daemon-reload")
    host.systemctl("start", "azbridged")
    wait_for(lambda: re.fullmatch(r"5 bindings, 5 online, 0 tunnels", host.prop("StatusText")),
             timeout=30, what="all five online in the unit's status")

    # The sandbox is in force: in the daemon's view /etc is read-only but for
    # the drop-in directory.
    pid = host.prop("MainPID")
    probe = host.run("nsenter", "-t", pid, "-m", "--", "sh", "-c",
                     "touch /etc/azb-probe; touch /etc/azbridge.conf.d/.probe && "
                     "rm /etc/azbridge.conf.d/.probe")
    assert probe.returncode == 0 and "Read-only file system" in probe.stderr, probe
    assert host.run("test", "-e", "/etc/azb-probe").returncode == 1

    # A port below 1024 on this side, 443 on the relay's, a name in /etc/hosts
    # (read-only but for the file itself), which keeps its mode.
    got = host.run("getent", "hosts", "echo.azb.test", check=0).stdout.split()
    assert got[:2] == [ip, "echo.azb.test"], got
    assert hello(ip, 80) == "tcp"
    mode = host.run("stat", "-c", "%a %U %G", "/etc/hosts", check=0).stdout.split()
    assert mode == ["644", "root", "root"], mode

    # Unix sockets both ways: our socket in /run/myapp, the target's in
    # /run/azb-target.
    assert hello(f"/proc/{host.pid}/root/run/myapp/app.sock") == "unix"

    # azbridgectl add: a drop-in with the mode the daemon gives it, despite
    # UMask=0077, and a second port below 1024.
    out = host.ctl("add", "--name", "extra", "-L", f"{ip}:81:db")
    assert out["file"] == "/etc/azbridge.conf.d/50-extra.conf" and \
        out["state"] == "listening", out
    mode = host.run("stat", "-c", "%a %U", out["file"], check=0).stdout.split()
    assert mode == ["644", "root"], mode
    assert hello(ip, 81) == "tcp"
    # Hosts entries from azbridgectl too.
    host.ctl("hosts", "add", "10.1.2.3", "other.azb.test")
    assert host.run("getent", "hosts", "other.azb.test", check=0).stdout.split()[:1] == \
        ["10.1.2.3"]

    # Reload through ExecReload (kill under the system call filter).
    host.write("/etc/azbridge.conf.d/30-more.conf", f'''
local_forward = ( {{ name = "more"; relay = "more"; bind_address = "{ip}"; bind_port = 82; }} );
''', 0o644)
    host.systemctl("reload", "azbridged")
    wait_for(lambda: host.prop("StatusText").startswith("7 bindings, 7 online"), timeout=30,
             what="the reloaded drop-in online")
    assert hello(ip, 82) == "tcp"

    # The journal: the daemon's events with their fields, the relay's lines.
    wait_for(lambda: host.journal("AZB_BINDING=web"), what="journal entries of web")
    assert any(f"listening on {ip}:80" in e["MESSAGE"] for e in host.journal("AZB_BINDING=web"))
    assert any("serving 4 hybrid connections" in e["MESSAGE"]
               for e in host.journal(unit="azbridge-relayd"))

    # Stop: clean exits, and the hosts entries leave with the daemon.
    host.systemctl("stop", "azbridged", "azbridge-relayd")
    assert host.prop("Result") == "success", host.prop("Result")
    assert host.prop("Result", "azbridge-relayd") == "success"
    hosts = host.run("cat", "/etc/hosts", check=0).stdout
    assert "echo.azb.test" not in hosts and "relay.azb.test" in hosts, hosts
