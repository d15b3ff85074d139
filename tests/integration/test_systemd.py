"""systemd notifications from a running bridge, captured on a private
NOTIFY_SOCKET: READY first, STATUS with counts, WATCHDOG=1 at half of
WatchdogSec even while a tunnel streams, STOPPING last."""
import os
import signal
import socket
import threading
import time

from conftest import echo_server, free_port
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
