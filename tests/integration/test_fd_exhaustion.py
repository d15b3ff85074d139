"""Out of descriptors: the relay's listening socket, a local forward's and
the daemon's control socket, each in a process limited to 64 descriptors.
Connections are opened until accepting fails and held for a while: the
process must stay nearly idle (no accept loop spinning on EMFILE), say so
once, and serve a new connection end to end once the holders are gone."""
import os
import socket
import subprocess
import time

from conftest import echo_server, free_port, wait_for
from test_daemon import CTL, Daemon, forwards, local_entry
from test_tunnels import roundtrip

NOFILE = 64
PRLIMIT = ("prlimit", f"--nofile={NOFILE}:{NOFILE}", "--")
HOLD = 3.0
CPU_BOUND = 0.5       # seconds of CPU in HOLD seconds; a spinning loop uses ~HOLD
SHORT = r"out of file descriptors \(Too many open files\): accepting paused"
AGAIN = r"accepting again after \d+\.\d s, \d+ refused"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fill(proc, connect, until, held, limit=4 * NOFILE):
    """Open connections (kept in held), one at a time, each once the last is
    in, until proc holds `until` descriptors."""
    pid = proc.p.pid
    for _ in range(limit):
        n = fds(pid)
        if n >= until:
            return
        try:
            held.append(connect())
        except OSError:
            pass
        end = time.monotonic() + 2
        while fds(pid) <= n and time.monotonic() < end:
            time.sleep(0.01)
    raise AssertionError(f"{proc.name} holds {fds(pid)} descriptors, not {until}")


def exhaust(proc, connect, held):
    """Every descriptor in use: the next connections wait in the backlog and
    accepting them fails."""
    fill(proc, connect, NOFILE, held)
    for _ in range(5):
        held.append(connect())


def stays_idle(proc, connect, held):
    """While short of descriptors, with more clients trying, the process uses
    little CPU; it says so, once."""
    before = cpu_seconds(proc.p.pid)
    end = time.monotonic() + HOLD
    while time.monotonic() < end:
        try:
            held.append(connect())
        except OSError:
            pass
        time.sleep(0.3)
    used = cpu_seconds(proc.p.pid) - before
    assert used < CPU_BOUND, f"{used:.2f} s of CPU in {HOLD} s while out of descriptors"
    assert proc.p.poll() is None
    text = proc.text()
    assert text.count("out of file descriptors") == 1, text[-3000:]


def release(held):
    for c in held:
        c.close()


def tcp(port):
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=2)


def relay_config(env, text):
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return ["--config", path]


def test_relay_out_of_descriptors(env):
    # Past the default max_connections (the limit less its reserve) the
    # relay would refuse before accept() fails: lift it to reach EMFILE.
    relay = env.start_relay(wrap=PRLIMIT, extra=relay_config(env, "max_connections = 100000;\n"))
    target = free_port()
    echo_server(target)
    env.listener("t", "-T", f"r1:{target}")
    local = free_port()
    env.sender("s", local, "-L", f"127.0.0.1:{local}:r1")
    connect, held = tcp(env.relay_port), []
    exhaust(relay, connect, held)
    stays_idle(relay, connect, held)
    relay.wait_log(r"relay: " + SHORT)
    release(held)
    # The listener's channel stayed; a new tunnel needs two new descriptors.
    assert roundtrip(local, b"served again") == b"served again"
    relay.wait_log(AGAIN)


def test_relay_default_budget_stops_short_of_the_descriptor_limit(env):
    """By default the relay admits connections only up to its descriptor
    limit less a reserve, so accept() never fails for want of one."""
    relay = env.start_relay(wrap=PRLIMIT)
    connect, held = tcp(env.relay_port), []
    for _ in range(2 * NOFILE):
        try:
            held.append(connect())
        except OSError:
            pass
    relay.wait_log(r"refusing connections: max_connections \(32\) reached")
    assert fds(relay.p.pid) < NOFILE
    assert "out of file descriptors" not in relay.text()
    release(held)


def tunnel(port):
    """A client whose tunnel is open end to end (an echo came back), or one
    the daemon could not serve (it closes it)."""
    def connect():
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
        c.sendall(b"x")
        try:
            c.recv(1)
        except socket.timeout:
            pass
        return c
    return connect


def unix(path):
    def connect():
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(2)
        c.connect(path)
        return c
    return connect


def test_local_forward_out_of_descriptors(env):
    env.start_relay()
    target = free_port()
    echo_server(target)
    env.listener("t", "-T", f"r1:{target}")
    local = free_port()
    d = Daemon(env)
    d.write_main(forwards(local_entry("fwd", local)))
    d.start(wrap=PRLIMIT)
    held = []
    # Open tunnels take two descriptors each; control clients fill the last.
    fill(d.proc, tunnel(local), NOFILE - 1, held)
    fill(d.proc, unix(d.sock), NOFILE, held)
    for _ in range(5):
        held.append(tcp(local)())
    stays_idle(d.proc, tcp(local), held)
    # One episode for the process: whichever socket tried first says so.
    d.proc.wait_log(r"(fwd|control socket): " + SHORT)
    release(held)
    assert roundtrip(local, b"served again") == b"served again"
    d.proc.wait_log(AGAIN)


def test_control_socket_out_of_descriptors(env):
    env.start_relay()
    d = Daemon(env)
    d.start(wrap=PRLIMIT)
    connect, held = unix(d.sock), []
    exhaust(d.proc, connect, held)
    stays_idle(d.proc, connect, held)
    d.proc.wait_log(r"control socket: " + SHORT)
    release(held)
    # Each closed client frees its descriptor; status is answered again.
    def answered():
        r = subprocess.run([CTL, "--socket", d.sock, "--timeout", "2", "status"],
                           capture_output=True, text=True, timeout=10)
        return r.returncode == 0
    wait_for(answered, timeout=15, step=0.3, what="status answered again")
    d.proc.wait_log(AGAIN)
