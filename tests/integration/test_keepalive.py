"""Keep-alive on every tunnel. Both bridges reach the relay through a TCP
forwarder of the test's own that behaves like a middlebox: it cuts a
connection that carried nothing either way for CUT seconds, and on demand it
black-holes every connection (passes nothing, closes nothing). The
connection string names the forwarder's port, so TLS still verifies the
relay's certificate for localhost, and the rendezvous addresses the relay
hands out name the port the listener came in on: the -T side's tunnels go
through the forwarder too."""
import json
import os
import re
import select
import socket
import threading
import time

from conftest import echo_server, free_port, wait_for
from test_daemon import Daemon, forwards, local_entry, request

CUT = 3.0        # the middlebox's idle limit, seconds
SILENCE = 8.0    # how long the tests keep an open tunnel quiet


class Middlebox:
    def __init__(self, env, cut=CUT):
        self.to = env.relay_port
        self.cut = cut
        self.cuts = 0
        self.socks = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.blackhole = threading.Event()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.srv.settimeout(0.1)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def conn_str(self, env):
        return re.sub(r"sb://localhost:\d+/", f"sb://localhost:{self.port}/", env.conn_str)

    def accept(self):
        while not self.stop.is_set():
            try:
                a, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.to), timeout=5)
            except OSError:
                a.close()
                continue
            with self.lock:
                self.socks += [a, b]
            threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, a, b):
        last = time.monotonic()
        other = {a: b, b: a}
        try:
            while not self.stop.is_set():
                if self.blackhole.is_set():
                    time.sleep(0.1)   # sockets stay open, nothing moves
                    continue
                if time.monotonic() - last > self.cut:
                    with self.lock:
                        self.cuts += 1
                    return
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    other[s].sendall(data)
                    last = time.monotonic()
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def close(self):
        self.stop.set()
        self.srv.close()


def start(env, ka, cut=CUT):
    """Relay, a middlebox in front of it for each bridge, an echo target, a
    listener and a sender; both bridges' tunnels ping every ka seconds
    (None: the defaults). Returns the client port and the two middleboxes."""
    env.start_relay()
    mb_t, mb_l = Middlebox(env, cut), Middlebox(env, cut)
    target, local = free_port(), free_port()
    echo_server(target)
    opt = ("-o", f"tunnel_keep_alive:{ka}") if ka is not None else ()
    # -a 1: the listener's control channel outlives the middlebox in every test.
    env.listener("t", "-a", "1", *opt, "-T", f"echo:{target}", cs=mb_t.conn_str(env))
    env.sender("l", local, *opt, "-L", f"127.0.0.1:{local}:echo", cs=mb_l.conn_str(env))
    return local, mb_t, mb_l


def echo(c, data, timeout=10):
    c.settimeout(timeout)
    c.sendall(data)
    got = b""
    while len(got) < len(data):
        b = c.recv(65536)
        assert b, f"the tunnel closed after {got!r}"
        got += b
    assert got == data


def wait_closed(c, timeout):
    """Seconds until the tunnel's end closes the client's connection."""
    t0 = time.monotonic()
    c.settimeout(timeout)
    try:
        assert c.recv(1) == b"", "data instead of a close"
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError(f"the client's connection still open after {timeout} s")
    return time.monotonic() - t0


def test_idle_tunnel_survives_a_middlebox_with_keep_alive_below_its_cut(env):
    local, mb_t, mb_l = start(env, ka=1)
    with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
        echo(c, b"before the silence")
        time.sleep(SILENCE)
        echo(c, b"after the silence")
    assert (mb_t.cuts, mb_l.cuts) == (0, 0)
    mb_t.close()
    mb_l.close()


def test_idle_tunnel_is_cut_by_the_middlebox_without_keep_alive(env):
    """The same tunnel with the keep-alive off: the middlebox cuts it, and
    the client sees its connection end."""
    local, mb_t, mb_l = start(env, ka=0)
    with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
        echo(c, b"before the silence")
        wait_closed(c, SILENCE + 20)
    wait_for(lambda: mb_t.cuts + mb_l.cuts >= 1, 5, what="a cut by a middlebox")
    mb_t.close()
    mb_l.close()


def test_default_keep_alive_of_a_sender_is_longer_than_the_cut(env):
    """Without tunnel_keep_alive a sender pings after 3.5 minutes and a
    listener's rendezvous every -a seconds: a sender's tunnel behind a
    3-second middlebox is cut, its listener side alone does not save it."""
    local, mb_t, mb_l = start(env, ka=None)
    with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
        echo(c, b"before the silence")
        wait_closed(c, SILENCE + 20)
    wait_for(lambda: mb_l.cuts >= 1, 5, what="a cut on the sender's side")
    mb_t.close()
    mb_l.close()


def test_black_holed_tunnel_is_closed_within_the_bound(env):
    """Nothing passes and nothing closes: the pings go unanswered, both
    bridges close the tunnel within a few intervals, the client sees it."""
    local, mb_t, mb_l = start(env, ka=1, cut=3600)
    with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
        echo(c, b"before the black hole")
        mb_t.blackhole.set()
        mb_l.blackhole.set()
        # One interval of silence, then two of unanswered pings, checked
        # every half interval: about 3.5 s; the rest is room for a loaded
        # machine (without keep-alive it stays open for good).
        wait_closed(c, 20)
    for name in ("t", "l"):
        p = next(p for p in env.procs if p.name == name)
        p.wait_log(r"keep-alive pings unanswered", timeout=10)
        assert len(re.findall(r"keep-alive pings unanswered", p.text())) == 1
    mb_t.close()
    mb_l.close()


def test_forwards_of_a_file_and_of_the_control_socket_set_their_own(env):
    """No global setting, so a sender would ping after 3.5 minutes; a forward
    of the file and one added over the control socket set 1 s each, and both
    their idle tunnels outlive the middlebox."""
    env.start_relay()
    mb_t, mb_l = Middlebox(env), Middlebox(env)
    target, port, port2 = free_port(), free_port(), free_port()
    echo_server(target)
    env.listener("t", "-a", "1", "-T", f"echo:{target}", cs=mb_t.conn_str(env))
    d = Daemon(env)
    d.base = d.base.replace(env.conn_str, mb_l.conn_str(env))
    d.write_main(forwards(local_entry("own", port, relay="echo", extra=" tunnel_keep_alive = 1;")))
    d.start()
    add = {"cmd": "add", "binding": {"direction": "local", "name": "added", "tunnel_keep_alive": 1,
                                     "expression": f"127.0.0.1:{port2}:echo"}}
    out = request(d.sock, json.dumps(add).encode() + b"\n")[0]
    assert out["ok"], out
    with open(os.path.join(d.dropins, "50-added.conf")) as f:
        assert "tunnel_keep_alive = 1;" in f.read()
    wait_for(lambda: (d.binding("added") or {}).get("state") == "listening", 10,
             what="the added forward to listen")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as a, \
         socket.create_connection(("127.0.0.1", port2), timeout=10) as b:
        echo(a, b"file")
        echo(b, b"socket")
        time.sleep(SILENCE)
        echo(a, b"file again")
        echo(b, b"socket again")
    assert (mb_t.cuts, mb_l.cuts) == (0, 0)
    mb_t.close()
    mb_l.close()
