"""Fixtures that start real processes on loopback: our relay, our bridges,
and small echo/sink servers. Every process is killed by pid at the end and
its log is kept under build/test-logs/integration when a test fails."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
# ASan's shadow memory and quarantine make RSS figures of a sanitizer build
# (make SANITIZE=1) meaningless against production limits: give them room.
SANITIZED = BUILD.rstrip("/").endswith("san")
MEM_FACTOR = 4 if SANITIZED else 1
# ASan keeps freed memory aside (256 MB by default) to catch use after free:
# every released TLS buffer would count as growth. A smaller quarantine still
# catches the reuse of anything freed recently.
if SANITIZED:
    os.environ.setdefault("ASAN_OPTIONS", "quarantine_size_mb=8")
LOGS = os.path.join(BUILD, "test-logs", os.environ.get("AZB_SUITE", "integration"))


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.02, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def can_connect(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Proc:
    def __init__(self, name, argv, tmp, env=None, ours=True):
        self.name = name
        self.ours = ours         # our daemons must stop cleanly; others may not
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.killed = False
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  env=env or os.environ.copy(), start_new_session=True)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=10.0, count=1):
        wait_for(lambda: len(re.findall(pattern, self.text())) >= count, timeout,
                 what=f"{self.name} to log /{pattern}/")

    def stop(self, sig=signal.SIGTERM):
        if sig != signal.SIGTERM:
            self.killed = True
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


class Env:
    """One test's world: a relay and any number of bridges and servers."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.threads = []
        self.relay = None
        self.relay_port = None
        self.conn_str = None
        self.ca = None

    def start_relay(self, port=0, extra=(), wrap=(), host="127.0.0.1"):
        state = os.path.join(self.tmp, "relay")
        os.makedirs(state, exist_ok=True)
        listen = f"{host}:{port}"
        p = Proc("relay", [*wrap, os.path.join(BUILD, "azbridge-relayd"), "--dev", "--state-dir",
                           state, "--listen", listen, *extra], self.tmp)
        self.procs.append(p)
        p.wait_log(r"CA certificate: ")
        out = p.text()
        self.conn_str = re.search(r"connection string: (\S+)", out).group(1)
        self.ca = re.search(r"CA certificate: (\S+)", out).group(1)
        self.relay_port = int(re.search(r"listening on [^:]+:(\d+)", out).group(1))
        self.relay = p
        return p

    def bridge(self, name, *args, cs=None, env=None, wrap=()):
        # stop_timeout 1: teardown does not wait out the default drain.
        argv = [*wrap, os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-o",
                f"ca_file:{self.ca}", "-o", "stop_timeout:1", "-x", cs or self.conn_str, *args]
        p = Proc(name, argv, self.tmp, env)
        self.procs.append(p)
        return p

    def listener(self, name, *args, **kw):
        p = self.bridge(name, *args, **kw)
        p.wait_log(r"listener online")
        return p

    def sender(self, name, port, *args, host="127.0.0.1", **kw):
        """A -L bridge, ready once it says it listens (a probe connection
        would open a real tunnel)."""
        p = self.bridge(name, *args, **kw)
        p.wait_log(rf"listening on \[?{re.escape(host)}\]?:{port}\b")
        return p

    def thread(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def close(self, failed):
        unclean = []
        for p in reversed(self.procs):
            rc = p.stop()
            if rc != 0 and not p.killed and p.ours:
                unclean.append(f"{p.name} exited with {rc}")
        failed = failed or bool(unclean)
        if failed:
            os.makedirs(LOGS, exist_ok=True)
            for p in self.procs:
                shutil.copy(p.log_path, os.path.join(LOGS, os.path.basename(p.log_path)))
        return unclean


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def env(request):
    tmp = tempfile.mkdtemp(prefix="azb-it-")
    e = Env(tmp)
    yield e
    failed = getattr(request.node, "rep_call", None)
    unclean = e.close(failed is not None and failed.failed)
    shutil.rmtree(tmp, ignore_errors=True)
    # Every daemon stops cleanly on SIGTERM (under ASan: with no leak).
    assert not unclean, unclean


# ---- servers ---------------------------------------------------------------

def echo_server(port=None, host="127.0.0.1", family=socket.AF_INET, unix_path=None, banner=b""):
    """TCP (or Unix) echo server in a thread: sends the banner (which tells
    targets apart), echoes until EOF, then closes."""
    if unix_path:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(unix_path)
    else:
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, port))
    srv.listen(512)

    def handle(c):
        with c:
            if banner:
                c.sendall(banner)
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv


def round_trip(port, data, timeout=30):
    """data to 127.0.0.1:port, our end shut, and everything that comes back
    until the peer ends or len(data) bytes are in."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        back = b""
        while len(back) < len(data):
            b = c.recv(65536)
            if not b:
                break
            back += b
    return back


def udp_echo_server(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))

    def loop():
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except OSError:
                return
            s.sendto(data, addr)

    threading.Thread(target=loop, daemon=True).start()
    return s
