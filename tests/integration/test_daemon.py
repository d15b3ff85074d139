"""azbridged as a system daemon: configuration files and drop-ins, reload on
SIGHUP and over the control socket, azbridgectl, the hosts-file block, sd_notify
around reloads, socket activation, permissions and hostile clients."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from conftest import BUILD, ROOT, Proc, echo_server, free_port, wait_for
from test_systemd import Notifications
from test_tunnels import roundtrip

CTL = os.path.join(BUILD, "azbridgectl")


class Daemon:
    """A config-file azbridged with its own control socket and hosts file."""

    def __init__(self, env, name="d", extra="", notify=False, hosts_text=None):
        self.env = env
        self.name = name
        self.dir = os.path.join(env.tmp, name)
        os.makedirs(os.path.join(self.dir, "azbridge.conf.d"), exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "azbridge.conf")
        self.dropins = self.conf + ".d"
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.hosts = os.path.join(self.dir, "hosts")
        if hosts_text is not None:
            with open(self.hosts, "w") as f:
                f.write(hosts_text)
        self.notify = None
        self.extra = extra
        self.base = (f'connection_string = "{env.conn_str}";\nca_file = "{env.ca}";\n'
                     f'control_socket = "{self.sock}";\nhosts_file = "{self.hosts}";\n'
                     'drain_timeout = 2;\nstop_timeout = 1;\n')
        self.write_main("")
        self.proc = None
        self.notify_path = os.path.join(self.dir, "notify.sock") if notify else None

    def write_main(self, forwards):
        with open(self.conf, "w") as f:
            f.write(self.base + self.extra + forwards)
        os.chmod(self.conf, 0o600)

    def dropin(self, name, text):
        path = os.path.join(self.dropins, name)
        if text is None:
            os.unlink(path)
            return
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def start(self, wait=True, argv_extra=(), wrap=()):
        benv = os.environ.copy()
        if self.notify_path:
            if not self.notify:
                self.notify = Notifications(self.notify_path)
            benv["NOTIFY_SOCKET"] = self.notify_path
        argv = [*wrap, os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-c", self.conf,
                *argv_extra]
        self.proc = Proc(f"{self.name}-{len(self.env.procs)}", argv, self.env.tmp, benv)
        self.env.procs.append(self.proc)
        if wait:
            self.proc.wait_log(r"running \d+ forward")
        return self.proc

    def ctl(self, *args, user=None, check=None):
        argv = [CTL, "--socket", self.sock, "--json", *args]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        try:
            out = json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            out = r.stdout
        if check is not None:
            assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
        return r.returncode, out, r.stderr

    def binding(self, name):
        _, out, _ = self.ctl("list", check=0)
        for b in out["bindings"]:
            if b["name"] == name and b["state"] != "draining":
                return b
        return None


def local_entry(name, port, relay="r1", extra=""):
    return (f'  {{ name = "{name}"; relay = "{relay}"; bind_address = "127.0.0.1"; '
            f'bind_port = {port};{extra} }}')


def forwards(*entries):
    return "local_forward = (\n" + ",\n".join(entries) + "\n);\n"


def request(sock_path, payload, read=True, timeout=5):
    """Raw bytes to the control socket; the reply lines back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(payload)
        if not read:
            return None
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            buf += b
    return [json.loads(line) for line in buf.decode().splitlines() if line]


def start_target(env, relay="r1"):
    target = free_port()
    echo_server(target)
    env.listener(f"t-{relay}", "-T", f"{relay}:{target}")
    return target


class Streamer:
    """One tunnel carrying data both ways until told to stop; any lost,
    reordered or corrupted byte, or a closed connection, is an error."""

    def __init__(self, port):
        self.c = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stop = threading.Event()
        self.error = None
        self.sent = 0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        seq = 0
        try:
            while not self.stop.is_set():
                chunk = (b"%08d" % seq) * 4096
                self.c.sendall(chunk)
                got = b""
                while len(got) < len(chunk):
                    b = self.c.recv(len(chunk) - len(got))
                    if not b:
                        raise AssertionError(f"tunnel closed after {self.sent} bytes")
                    got += b
                assert got == chunk, "corrupted data"
                self.sent += len(chunk)
                seq += 1
        except Exception as e:      # noqa: BLE001 - reported by the test
            self.error = e

    def finish(self):
        self.stop.set()
        self.t.join(10)
        self.c.close()
        return self.error


# ---- reload ---------------------------------------------------------------------

def test_reload_under_load_keeps_unchanged_tunnels(env):
    env.start_relay()
    start_target(env)
    port, extra_ports = free_port(), [free_port(), free_port()]
    d = Daemon(env)
    d.write_main(forwards(local_entry("stream", port)))
    d.start()
    since = d.binding("stream")["since"]
    s = Streamer(port)
    wait_for(lambda: s.sent > 0 or s.error, what="data through the tunnel")
    for i in range(50):
        # Other bindings come, change port and go; "stream" never changes.
        if i % 3 == 2:
            d.dropin("60-extra.conf", None)
        else:
            d.dropin("60-extra.conf", forwards(local_entry("extra", extra_ports[i % 2])))
        if i % 2:
            rc, out, err = d.ctl("reload", check=0)
            assert out["ok"] and "stream" not in out["changed"] + out["removed"], out
        else:
            d.proc.p.send_signal(signal.SIGHUP)
            d.proc.wait_log(r"configuration reloaded \(SIGHUP\)", count=i // 2 + 1)
    before = s.sent
    wait_for(lambda: s.sent > before or s.error, what="data after the reloads")
    assert s.finish() is None
    b = d.binding("stream")
    assert b["state"] == "listening" and b["since"] == since, b
    assert len(re.findall(r"configuration reloaded", d.proc.text())) == 50
    assert roundtrip(port, b"still here") == b"still here"


def test_bad_reload_keeps_running_config_and_says_why(env):
    env.start_relay()
    start_target(env)
    port = free_port()
    d = Daemon(env, notify=True)
    d.write_main(forwards(local_entry("db", port)))
    d.start()
    d.dropin("70-broken.conf", 'local_forward = ( { name = "x"; relay = "r1"; bind_port = 0x; } );\n'
             'bogus_key = 1;\n')
    rc, out, err = d.ctl("reload")
    assert rc == 1 and out["ok"] is False and out["error"] == "config", out
    assert any(re.match(r".*70-broken\.conf:1: ", e) for e in out["errors"]), out
    d.proc.wait_log(r"reload \(azbridgectl reload\) failed")
    assert re.search(r"70-broken\.conf:1: ", d.proc.text())
    # Human output names file and line too, and exits 1.
    r = subprocess.run([CTL, "--socket", d.sock, "reload"], capture_output=True, text=True)
    assert r.returncode == 1 and "70-broken.conf:1" in r.stderr + r.stdout, r
    # Everything still runs, status reports the failure, systemd heard it.
    assert roundtrip(port, b"alive") == b"alive"
    _, st, _ = d.ctl("status", check=0)
    assert st["last_reload"]["ok"] is False and st["last_reload"]["errors"], st
    assert st["online"] == 1
    wait_for(lambda: any("last reload failed: " in m and "70-broken.conf:1" in m
                         for m in d.notify.texts()), what="STATUS with the error")
    # SIGHUP with the same broken file: same outcome, still running.
    d.proc.p.send_signal(signal.SIGHUP)
    d.proc.wait_log(r"reload \(SIGHUP\) failed")
    assert roundtrip(port, b"alive") == b"alive"


def test_reload_notifications_in_order(env):
    env.start_relay()
    d = Daemon(env, notify=True)
    d.write_main(forwards(local_entry("a", free_port())))
    d.start()
    d.ctl("reload", check=0)
    d.proc.p.send_signal(signal.SIGHUP)
    d.proc.wait_log(r"configuration reloaded \(SIGHUP\)")
    time.sleep(0.2)
    texts = [m for m in d.notify.texts() if "WATCHDOG=1" not in m or "STATUS" in m]
    assert texts[0].startswith("READY=1"), texts
    seq = [m for m in texts if m.startswith(("RELOADING=1", "READY=1"))]
    assert [m.split("\n")[0] for m in seq] == ["READY=1", "RELOADING=1", "READY=1",
                                               "RELOADING=1", "READY=1"], seq
    for m in seq:
        if m.startswith("RELOADING=1"):
            usec = int(re.search(r"MONOTONIC_USEC=(\d+)", m).group(1))
            assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 30
    d.proc.stop()
    time.sleep(0.2)
    assert d.notify.texts()[-1].startswith("STOPPING=1")


def test_changed_binding_is_rebuilt_and_removed_one_drains(env):
    env.start_relay()
    start_target(env)
    p1, p2, p3 = free_port(), free_port(), free_port()
    d = Daemon(env)
    d.write_main(forwards(local_entry("keep", p1), local_entry("move", p2)))
    d.start()
    held = socket.create_connection(("127.0.0.1", p2), timeout=5)
    held.sendall(b"ping")
    assert held.recv(4) == b"ping"
    d.write_main(forwards(local_entry("keep", p1), local_entry("move", p3)))
    _, out, _ = d.ctl("reload", check=0)
    assert out["changed"] == ["move"] and out["unchanged"] == 1, out
    assert roundtrip(p3, b"new port") == b"new port"
    # The old listener is gone, its open tunnel drains (drain_timeout = 2).
    try:
        socket.create_connection(("127.0.0.1", p2), timeout=1).close()
        raise AssertionError("the old address still accepts")
    except ConnectionRefusedError:
        pass
    held.sendall(b"still")
    assert held.recv(5) == b"still"
    _, lst, _ = d.ctl("list", check=0)
    assert [b["state"] for b in lst["bindings"] if b["name"] == "move"] == ["listening",
                                                                          "draining"], lst
    held.settimeout(6)
    assert held.recv(10) == b""           # closed at the end of the drain
    held.close()
    wait_for(lambda: len(d.ctl("list", check=0)[1]["bindings"]) == 2, what="drained run gone")
    d.write_main(forwards(local_entry("keep", p1)))
    _, out, _ = d.ctl("reload", check=0)
    assert out["removed"] == ["move"], out


# ---- azbridgectl add / remove ------------------------------------------------------

def test_add_remove_persist_across_restart(env):
    env.start_relay()
    start_target(env)
    port, port2 = free_port(), free_port()
    d = Daemon(env)
    d.start()
    rc, out, err = d.ctl("add", "--name", "pg", "-L", f"127.0.0.1:{port}:r1", check=0)
    path = os.path.join(d.dropins, "50-pg.conf")
    assert out["file"] == path and out["state"] == "listening", out
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert roundtrip(port, b"added") == b"added"
    # Flags instead of an expression.
    d.ctl("add", "--local", "--name", "flags", "--relay", "r1", "--bind", f"127.0.0.1:{port2}",
          "--port-name", "x", check=0)
    assert d.binding("flags")["expression"].startswith(f"127.0.0.1:{port2}/x")
    # A duplicate name and a broken expression are refused and change nothing.
    rc, out, err = d.ctl("add", "--name", "pg", "-L", f"127.0.0.1:{free_port()}:r1")
    assert rc == 1 and out["error"] == "exists", out
    rc, out, err = d.ctl("add", "-L", "127.0.0.1:notaport:r1")
    assert rc == 1 and out["error"] == "invalid" and "notaport" in out["message"], out
    rc, out, err = d.ctl("add", "--name", "sneaky", "--local", "--relay", "r1", "--bind",
                         f"127.0.0.1:{port2}")
    assert rc == 1 and "already" in json.dumps(out), out      # same address as "flags"
    assert not os.path.exists(os.path.join(d.dropins, "50-sneaky.conf"))
    # Restart: both come back from their drop-ins.
    assert d.proc.stop() == 0
    d.start()
    assert d.binding("pg")["source"].startswith(f"{path}:")
    assert roundtrip(port, b"again") == b"again"
    rc, out, err = d.ctl("remove", "pg", check=0)
    assert not os.path.exists(path)
    assert d.binding("pg") is None
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise AssertionError("a removed binding still accepts")
    except ConnectionRefusedError:
        pass
    rc, out, err = d.ctl("remove", "pg")
    assert rc == 1 and out["error"] == "not-found", out


def test_runtime_add_survives_reload_not_restart(env):
    env.start_relay()
    start_target(env)
    port = free_port()
    d = Daemon(env)
    d.write_main(forwards(local_entry("file", free_port())))
    d.start()
    rc, out, err = d.ctl("add", "--runtime", "--name", "tmp", "-L", f"127.0.0.1:{port}:r1",
                         check=0)
    assert "file" not in out and os.listdir(d.dropins) == []
    d.ctl("reload", check=0)
    assert d.binding("tmp")["source"] == "runtime"
    assert roundtrip(port, b"rt") == b"rt"
    # A binding from a file cannot be removed over the socket.
    rc, out, err = d.ctl("remove", "file")
    assert rc == 1 and "azbridge.conf:" in out["message"], out
    assert d.proc.stop() == 0
    d.start()
    assert d.binding("tmp") is None and d.binding("file") is not None


def test_stats_count_bytes_and_tunnels(env):
    env.start_relay()
    start_target(env)
    port = free_port()
    d = Daemon(env)
    d.write_main(forwards(local_entry("s", port)))
    d.start()
    for _ in range(3):
        assert roundtrip(port, b"x" * 100000) == b"x" * 100000
    wait_for(lambda: d.ctl("stats", "s", check=0)[1]["total"]["tunnels_open"] == 0,
             what="tunnels closed")
    _, out, _ = d.ctl("stats", "s", check=0)
    st = out["bindings"][0]
    assert st["bytes_up"] == 300000 and st["bytes_down"] == 300000, st
    assert st["tunnels_total"] == 3 and st["tunnels_failed"] == 0, st
    _, out, _ = d.ctl("show", "s", check=0)
    assert out["binding"]["endpoints"][0]["bind_port"] == port
    r = subprocess.run([CTL, "--socket", d.sock, "stats"], capture_output=True, text=True)
    assert r.returncode == 0 and "TOTAL" in r.stdout, r
    # Bash completion offers verbs, and binding names asked of the daemon.
    assert complete(d, "azbridgectl", "st") == ["stats", "status"]
    assert complete(d, "azbridgectl", "--socket", d.sock, "show", "") == ["s"]
    assert complete(d, "azbridgectl", "hosts", "") == ["add", "list", "remove"]
    assert "--port-name" in complete(d, "azbridgectl", "add", "--local", "--po")


def complete(d, *words):
    """COMPREPLY of the installed-to-be completion for these words."""
    script = (f'source "{ROOT}/etc/completion/azbridgectl"; COMP_WORDS=("$@"); '
              'COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; '
              '_azbridgectl; printf "%s\\n" "${COMPREPLY[@]}"')
    env = dict(os.environ, PATH=f"{BUILD}:{os.environ['PATH']}", AZBRIDGE_CONTROL_SOCKET=d.sock)
    r = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0, r
    return sorted(w for w in r.stdout.splitlines() if w)


# ---- permissions and hostile clients --------------------------------------------------

def test_non_root_reads_but_cannot_mutate(env):
    os.chmod(env.tmp, 0o755)      # the socket's own mode and group decide, not the path
    env.start_relay()
    d = Daemon(env, extra='control_group = "nogroup";\n')
    d.write_main(forwards(local_entry("a", free_port())))
    d.start()
    st = os.stat(d.sock)
    assert oct(st.st_mode & 0o777) == "0o660" and st.st_gid == 65534
    rc, out, err = d.ctl("list", user=65534, check=0)
    assert [b["name"] for b in out["bindings"]] == ["a"]
    for args in (("reload",), ("remove", "a"), ("hosts", "add", "127.0.0.5", "x.example"),
                 ("add", "-L", f"127.0.0.1:{free_port()}:r1")):
        rc, out, err = d.ctl(*args, user=65534)
        assert rc == 4 and out["error"] == "permission-denied", (args, out)
    assert d.binding("a") is not None
    # Another user (not in the group) cannot even connect.
    rc, out, err = d.ctl("list", user=1)
    assert rc == 4, (rc, out, err)
    # Listed in control_users: allowed.
    d.extra = 'control_group = "nogroup";\ncontrol_users = [ "nobody" ];\n'
    d.write_main(forwards(local_entry("a", free_port())))
    d.proc.p.send_signal(signal.SIGHUP)
    d.proc.wait_log(r"configuration reloaded \(SIGHUP\)")
    d.ctl("reload", user=65534, check=0)


def test_garbage_huge_and_half_written_requests(env):
    env.start_relay()
    start_target(env)
    port = free_port()
    d = Daemon(env)
    d.write_main(forwards(local_entry("a", port)))
    d.start()
    replies = request(d.sock, b'hello\n{"cmd": 5}\n[1,2]\n{"cmd":"nope"}\n{"cmd":"show"}\n'
                      b'{"cmd":"show","name":"zz"}\n\xff\xfe\n{"cmd":"status"}\n')
    assert [r.get("error") for r in replies] == ["bad-request", "bad-request", "bad-request",
                                                 "unknown-command", "bad-request", "not-found",
                                                 "bad-request", None], replies
    assert replies[-1]["ok"] and replies[-1]["bindings"] == 1
    # A line over 64 KiB: one error, then the connection closes.
    replies = request(d.sock, b'{"cmd":"status","pad":"' + b"a" * 70000 + b'"}\n{"cmd":"list"}\n')
    assert [r["error"] for r in replies] == ["too-large"], replies
    # The limit is exact: 65536 bytes before the newline pass, one more does not.
    def padded(n):
        head = b'{"cmd":"version","pad":"'
        return head + b"a" * (n - len(head) - 2) + b'"}'
    assert len(padded(65536)) == 65536
    assert request(d.sock, padded(65536) + b"\n")[0]["ok"]
    assert request(d.sock, padded(65537) + b"\n")[0]["error"] == "too-large"
    # Half-written requests and abrupt closes.
    for _ in range(20):
        request(d.sock, b'{"cmd":"sta', read=False)
    # A client that never reads its replies is cut off, not buffered forever.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(d.sock)
        s.settimeout(10)
        try:
            for _ in range(40000):
                s.sendall(b'{"cmd":"list"}\n' * 10)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
    d.proc.wait_log(r"reads no replies; closing")
    # Many clients at once, each answered.
    socks = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        socks.append(s)
    for s in socks:
        s.sendall(b'{"cmd":"version"}\n')
    for s in socks:
        s.settimeout(5)
        assert json.loads(s.recv(4096))["protocol"] == 1
        s.close()
    assert d.proc.p.poll() is None
    assert d.ctl("status", check=0)[1]["online"] == 1
    assert roundtrip(port, b"ok") == b"ok"


def test_second_daemon_refused_while_first_answers(env):
    env.start_relay()
    d = Daemon(env)
    d.write_main(forwards(local_entry("a", free_port())))
    first = d.start()
    second = d.start(wait=False)
    second.ours = False           # expected to fail
    d.proc = first
    assert second.p.wait(10) == 3
    assert re.search(r"another azbridged answers on .*ctl\.sock", second.text())
    assert d.ctl("status", check=0)[1]["ok"]
    # After the first stops, a stale socket file does not block a new start.
    assert d.proc.stop(signal.SIGKILL) != 0
    assert os.path.exists(d.sock)
    d.start()
    assert d.ctl("status", check=0)[1]["ok"]


def test_socket_activation(env):
    env.start_relay()
    d = Daemon(env)
    path = os.path.join(d.dir, "activated.sock")
    d.base = d.base.replace(f'control_socket = "{d.sock}";\n', "")
    d.write_main(forwards(local_entry("a", free_port())))
    d.start(wrap=["systemd-socket-activate", "-l", path, "--fdname=control"], wait=False)
    wait_for(lambda: os.path.exists(path), what="the activation socket")
    d.sock = path
    wait_for(lambda: d.ctl("status")[0] == 0, what="an answer on the passed socket")
    assert "control socket: (socket activation)" in d.proc.text()


def test_sigterm_drains_then_exits(env):
    env.start_relay()
    start_target(env)
    port = free_port()
    d = Daemon(env, notify=True)
    d.base = d.base.replace("stop_timeout = 1;", "stop_timeout = 2;")
    d.write_main(forwards(local_entry("a", port)))
    d.start()
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.sendall(b"x")
    assert held.recv(1) == b"x"
    t0 = time.monotonic()
    d.proc.p.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    held.sendall(b"y")                  # still served while draining
    assert held.recv(1) == b"y"
    assert d.proc.p.wait(10) == 0
    took = time.monotonic() - t0
    assert 1.5 < took < 5, took
    held.close()
    assert any(m.startswith("STOPPING=1") for m in d.notify.texts())


# ---- hosts file --------------------------------------------------------------------

HOSTS = "127.0.0.1\tlocalhost\n# keep me\r\n::1 ip6-localhost ip6-loopback\n\n10.9.9.9 other # no final newline"


def read_hosts(d):
    with open(d.hosts, newline="") as f:     # "\r\n" must come back as it was
        return f.read()


def test_hosts_entries_follow_bindings_and_keep_other_lines(env):
    env.start_relay()
    port = free_port()
    d = Daemon(env, hosts_text=HOSTS)
    os.chmod(d.hosts, 0o640)
    d.write_main(forwards(local_entry("sql", port, extra=' host_name = "sql1.corp.example";')))
    d.start()
    wait_for(lambda: "sql1.corp.example" in read_hosts(d), what="the hosts entry")
    text = read_hosts(d)
    assert text.startswith(HOSTS) and oct(os.stat(d.hosts).st_mode & 0o777) == "0o640"
    assert re.search(r"^127\.0\.0\.1\s+sql1\.corp\.example\b", text, re.M)
    # Manual entries through azbridgectl.
    d.ctl("hosts", "add", "10.0.0.5", "db.example", check=0)
    rc, out, err = d.ctl("hosts", "add", "10.0.0.6", "sql1.corp.example")
    assert rc == 1 and out["error"] == "exists", out
    rc, out, err = d.ctl("hosts", "add", "999.1.1.1", "bad.example")
    assert rc == 1 and out["error"] == "invalid", out
    _, out, _ = d.ctl("hosts", "list", check=0)
    assert {(e["ip"], e["name"], e.get("binding")) for e in out["entries"]} == {
        ("127.0.0.1", "sql1.corp.example", "sql"), ("10.0.0.5", "db.example", None)}, out
    rc, out, err = d.ctl("hosts", "remove", "sql1.corp.example")
    assert rc == 1 and out["error"] == "invalid", out
    # The binding goes: so does its entry; the manual one stays.
    d.write_main("")
    d.ctl("reload", check=0)
    text = read_hosts(d)
    assert "sql1.corp.example" not in text and "db.example" in text
    d.ctl("hosts", "remove", "db.example", check=0)
    assert read_hosts(d) == HOSTS
    rc, out, err = d.ctl("hosts", "remove", "db.example")
    assert rc == 1 and out["error"] == "not-found", out
    # The original's shell functions, from /etc/profile.d, in sh and bash.
    profile = os.path.join(ROOT, "etc", "profile.d", "azbridge.sh")
    penv = dict(os.environ, PATH=f"{BUILD}:{os.environ['PATH']}", AZBRIDGE_CONTROL_SOCKET=d.sock)
    for shell in ("sh", "bash"):
        r = subprocess.run([shell, "-c", f'. "{profile}" && addhost 10.0.0.7 web.example'],
                           env=penv, capture_output=True, text=True)
        assert r.returncode == 0, r
        assert re.search(r"^10\.0\.0\.7\s+web\.example\b", read_hosts(d), re.M)
        r = subprocess.run([shell, "-c", f'. "{profile}" && removehost web.example'],
                           env=penv, capture_output=True, text=True)
        assert r.returncode == 0, r
        assert read_hosts(d) == HOSTS
    r = subprocess.run(["sh", "-c", f'. "{profile}" && removehost web.example'], env=penv,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "web.example" in r.stderr, r
    r = subprocess.run(["sh", "-c", f'. "{profile}" && addhost 10.0.0.7'], env=penv,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "usage: addhost IP NAME" in r.stderr, r


def test_hosts_entry_removed_on_stop_and_stale_ones_cleared(env):
    env.start_relay()
    port = free_port()
    d = Daemon(env, hosts_text=HOSTS)
    d.write_main(forwards(local_entry("sql", port, extra=' host_name = "sql1.corp.example";')))
    d.start()
    wait_for(lambda: "sql1.corp.example" in read_hosts(d), what="the hosts entry")
    assert d.proc.stop() == 0
    assert read_hosts(d) == HOSTS
    # A killed daemon leaves its entry; the next start without it clears it.
    d.start()
    wait_for(lambda: "sql1.corp.example" in read_hosts(d), what="the hosts entry")
    d.proc.stop(signal.SIGKILL)
    d.write_main("")
    d.start()
    wait_for(lambda: read_hosts(d) == HOSTS, what="the stale entry cleared")


def test_hosts_file_bind_mounted_is_rewritten_in_place(env):
    """As in a container, where /etc/hosts is a bind mount that no rename may
    replace: the block is written in place, under the same lock."""
    env.start_relay()
    port = free_port()
    d = Daemon(env, hosts_text=HOSTS)
    src = os.path.join(d.dir, "hosts.outside")
    with open(src, "w", newline="") as f:
        f.write(HOSTS)
    d.write_main(forwards(local_entry("sql", port, extra=' host_name = "sql1.corp.example";')))
    bind = ["unshare", "-m", "sh", "-c",
            f'mount --make-rprivate / && mount --bind "{src}" "{d.hosts}" && exec "$@"', "sh"]
    d.start(wrap=bind)
    wait_for(lambda: "sql1.corp.example" in open(src, newline="").read(),
             what="the entry written through the bind mount")
    text = open(src, newline="").read()
    assert text.startswith(HOSTS) and "# BEGIN azbridge" in text, text
    assert "not updated" not in d.proc.text()
    assert d.proc.stop() == 0
    assert open(src, newline="").read() == HOSTS


def test_binding_states_with_reasons_and_next_attempt(env):
    env.start_relay()
    target = free_port()
    echo_server(target)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = busy.getsockname()[1]
    d = Daemon(env, extra="exit_on_forward_failure = false;\n")
    d.write_main(forwards(local_entry("ok", free_port()), local_entry("taken", taken)) +
                 'remote_forward = ( { name = "rem"; relay = "r2"; host = "127.0.0.1"; '
                 f'host_port = {target}; }} );\n')
    d.start()
    wait_for(lambda: d.binding("rem")["state"] == "online", what="the listener online")
    assert d.binding("ok")["state"] == "listening"
    t = d.binding("taken")
    assert t["state"] == "failed" and "Address already in use" in t["reason"], t
    r = subprocess.run([CTL, "--socket", d.sock, "list"], capture_output=True, text=True)
    assert re.search(r"^taken\s+local\s+failed\b.*Address already in use", r.stdout, re.M), r.stdout
    # The relay goes away: the remote forward reconnects, and says when.
    env.relay.stop()
    wait_for(lambda: d.binding("rem")["state"] == "reconnecting", what="reconnecting")
    b = d.binding("rem")
    assert b["next_attempt"] > time.time() - 1 and b["reason"], b
    # It comes back on the same address: online again within seconds.
    env.start_relay(port=env.relay_port)
    wait_for(lambda: d.binding("rem")["state"] == "online", timeout=5, what="online again")
    _, out, _ = d.ctl("stats", "rem", check=0)
    assert out["total"]["reconnects"] >= 1 and out["total"]["last_error"], out
    # A reload retries the failed one once its port is free.
    busy.close()
    d.ctl("reload", check=0)
    wait_for(lambda: d.binding("taken")["state"] == "listening", what="the retried forward")
