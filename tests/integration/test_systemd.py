"""systemd notifications from a running bridge, captured on a private
NOTIFY_SOCKET: READY first, STATUS with counts, WATCHDOG=1 at half of
WatchdogSec even while a tunnel streams, STOPPING last; journald entries with
the AZB_* fields of each event."""
import os
import re
import socket
import threading
import time

from conftest import BUILD, Proc, echo_server, free_port, wait_for
from test_tunnels import roundtrip


class Notifications:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.msgs = []           # (monotonic time, text)
        self.done = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.msgs.append((time.monotonic(), data.decode()))

    def texts(self):
        return [m for _, m in self.msgs]


def test_notify_ready_status_watchdog_stopping(env):
    env.start_relay()
    path = os.path.join(env.tmp, "notify.sock")
    n = Notifications(path)
    target, local = free_port(), free_port()
    echo_server(target)
    benv = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="600000")
    t = env.listener("t", "-T", f"sd:{target}", env=benv)
    env.sender("l", local, "-L", f"127.0.0.1:{local}:sd")
    assert n.texts() and n.texts()[0].startswith("READY=1\nSTATUS=1 binding, ")
    # Under load: 3 s of 8 MB round trips while keep-alives must keep coming.
    data = os.urandom(8 << 20)
    start = time.monotonic()
    while time.monotonic() - start < 3:
        assert roundtrip(local, data) == data
    ticks = [ts for ts, m in n.msgs if "WATCHDOG=1" in m and ts >= start]
    assert len(ticks) >= 5, n.texts()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.6, f"a keep-alive came {max(gaps):.3f} s after the previous one"
    assert any("STATUS=1 binding, 1 online" in m for m in n.texts()), n.texts()
    assert t.stop() == 0
    time.sleep(0.3)
    n.done = True
    assert "STOPPING=1" in n.texts()[-1], n.texts()[-3:]


# ---- journald ---------------------------------------------------------------

class Journal:
    """A stand-in for journald's native socket: collects each datagram as a
    dict of fields (journald's native protocol, both value encodings)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.entries = []
        self.done = False
        threading.Thread(target=self.loop, daemon=True).start()

    @staticmethod
    def parse(data):
        fields, i = {}, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                i = nl + 1
            else:
                k, n = line, int.from_bytes(data[nl + 1:nl + 9], "little")
                v = data[nl + 9:nl + 9 + n]
                i = nl + 9 + n + 1
            fields[k.decode()] = v.decode()
        return fields

    def loop(self):
        while not self.done:
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return
            self.entries.append(self.parse(data))

    def find(self, pattern, **fields):
        return [e for e in self.entries if re.search(pattern, e.get("MESSAGE", ""))
                and all(e.get(k) == v for k, v in fields.items())]


def journal_bridge(env, name, jdir, *args):
    """A bridge whose stderr systemd would have connected to the journal:
    JOURNAL_STREAM names that stream, and in a private mount namespace
    /run/systemd/journal is our directory, so the host journal sees nothing."""
    log = os.path.join(env.tmp, f"{name}.log")
    open(log, "wb").close()           # Proc truncates it: same inode
    st = os.stat(log)
    script = ('set -e; mount --make-rprivate /; '
              'if [ ! -d /run/systemd/journal ]; then mount -t tmpfs azb-test /run; '
              'mkdir -p /run/systemd/journal; fi; '
              'mount --bind "$1" /run/systemd/journal; shift; exec "$@"')
    argv = [os.path.join(BUILD, "azbridged"), "-v", "-v", "-o",
            f"ca_file:{env.ca}", "-o", "stop_timeout:1", "-x", env.conn_str, *args]
    p = Proc(name, ["unshare", "-m", "sh", "-c", script, "sh", jdir, *argv], env.tmp,
             dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
    env.procs.append(p)
    return p


def test_journal_fields_per_event(env):
    env.start_relay()
    jdir = os.path.join(env.tmp, "journal")
    os.makedirs(jdir)
    j = Journal(os.path.join(jdir, "socket"))
    target, local, dead, local2 = free_port(), free_port(), free_port(), free_port()
    echo_server(target)
    t = journal_bridge(env, "t", jdir, "-T", f"jr:{target}", "-T", f"jr2:{dead}")
    l = journal_bridge(env, "l", jdir, "-L", f"127.0.0.1:{local}:jr",
                       "-L", f"127.0.0.1:{local2}:jr2")
    wait_for(lambda: j.find(r"listener online", AZB_RELAY="jr")
             and j.find(r"listening on", AZB_RELAY="jr"), what="both bridges up")
    assert roundtrip(local, b"journal" * 1000) == b"journal" * 1000
    # Open and close at debug, with the tunnel, its peer, bytes and duration.
    wait_for(lambda: len(j.find(r"^tunnel closed: 7000 bytes up, 7000 down, [0-9.]+ s$",
                                AZB_RELAY="jr")) == 2, what="both ends log the close")
    for e in j.find(r"^tunnel (open|closed)", AZB_RELAY="jr"):
        assert e["PRIORITY"] == "7" and e["SYSLOG_IDENTIFIER"] == "azbridged", e
        assert e["AZB_BINDING"] and re.fullmatch(r"[0-9a-f-]{36}", e["AZB_TUNNEL"]), e
        assert e["AZB_PEER"], e
    opened = j.find(r"^tunnel open after", AZB_RELAY="jr")
    assert len(opened) == 2 and len({e["AZB_TUNNEL"] for e in opened}) == 2, opened
    # A failure (nothing listens on the target) at warning, with its tunnel.
    with socket.create_connection(("127.0.0.1", local2), timeout=2) as s:
        s.settimeout(5)
        assert s.recv(10) == b""
    wait_for(lambda: j.find(r"failed while .*cannot reach the target", AZB_RELAY="jr2"),
             what="the failure in the journal")
    for e in j.find(r"failed while", AZB_RELAY="jr2"):
        assert e["PRIORITY"] == "4" and e["AZB_TUNNEL"] and e["AZB_PEER"], e
    assert t.stop() == 0 and l.stop() == 0
    j.done = True
    # Events without a tunnel carry no empty tunnel fields.
    for e in j.find(r"listening on|listener online"):
        assert "AZB_TUNNEL" not in e and "AZB_PEER" not in e, e
    assert not [e for e in j.entries if any(v == "" for v in e.values())]
    assert t.text() == "" and l.text() == "", "stderr stays quiet when logging to the journal"
