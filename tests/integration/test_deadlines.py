"""Deadlines on every websocket azbridged opens to the relay. Fake relays on
the relay's own port: one that accepts TCP and never speaks, one that
completes TLS and never answers the upgrade, one that upgrades and never
passes on the listener's preamble reply. Remote forwards back off and retry,
-L clients are closed, UDP routes time out and share one queue budget; the
real relay taking the port over brings each of them back."""
import base64
import hashlib
import json
import os
import re
import socket
import ssl
import threading
import time

import pytest

from conftest import echo_server, free_port, udp_echo_server, wait_for
from test_daemon import Daemon
from test_tunnels import roundtrip

TIMEOUT = 2          # connect_timeout in these tests
SLACK = 6            # generous: a loaded 2-core machine, a sanitizer build
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeRelay:
    """Listens on the relay's port and never completes what mode says."""

    def __init__(self, env, port, mode, messages=()):
        self.mode = mode
        self.messages = list(messages)   # text frames sent after the first upgrade
        self.heads = []
        self.accepted = 0
        self.upgraded = 0
        self.frames = 0
        self.conns = []
        self.stop = threading.Event()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(64)
        self.srv.settimeout(0.1)
        if mode != "silent":
            state = os.path.join(env.tmp, "relay")
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(os.path.join(state, "server.pem"),
                                     os.path.join(state, "server.key"))
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            if self.mode != "silent":
                threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.setblocking(True)
            t = self.ctx.wrap_socket(c, server_side=True)
            self.conns.append(t)
            if self.mode == "upgrade":
                self.upgrade(t)
            while t.recv(65536):       # take everything, answer nothing
                self.frames += 1
        except (OSError, ssl.SSLError, ValueError):
            pass

    def upgrade(self, t):
        head = b""
        while b"\r\n\r\n" not in head:
            b = t.recv(4096)
            if not b:
                raise OSError("closed")
            head += b
        self.heads.append(head)
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        acc = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        t.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
        self.upgraded += 1
        if self.upgraded == 1:
            for m in self.messages:
                t.sendall(ws_text(m))

    def close(self):
        self.stop.set()
        self.t.join(5)
        self.srv.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def ws_text(payload):
    """One unmasked text frame, as a relay sends it."""
    n = len(payload)
    if n < 126:
        hdr = bytes([0x81, n])
    elif n < 65536:
        hdr = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return hdr + payload


def fake_relay(env, mode):
    """The real relay once, for its certificates and connection string, then
    a fake one on its port."""
    env.start_relay()
    env.relay.stop()
    return FakeRelay(env, env.relay_port, mode)


def remote_daemon(env, target, timeout=TIMEOUT):
    d = Daemon(env, extra=f"connect_timeout = {timeout};\nexit_on_forward_failure = false;\n")
    d.write_main('remote_forward = ( { name = "rem"; relay = "r1"; host = "127.0.0.1"; '
                 f'host_port = {target}; }} );\n')
    d.start()
    return d


def stats(d, name):
    _, out, _ = d.ctl("stats", name, check=0)
    return out["total"]


@pytest.mark.parametrize("mode,phase", [("silent", "connecting"),
                                        ("tls", "awaiting the upgrade")])
def test_listener_channel_gives_up_and_retries(env, mode, phase):
    fake = fake_relay(env, mode)
    target = free_port()
    echo_server(target)
    d = remote_daemon(env, target)
    wait_for(lambda: d.binding("rem")["state"] == "reconnecting", timeout=TIMEOUT + SLACK,
             what="the listener giving up on a silent relay")
    b = d.binding("rem")
    assert b["next_attempt"] > time.time() - 1, b
    assert f"timed out after {TIMEOUT} s {phase}" in b["reason"], b
    # It keeps trying, each attempt bounded the same way.
    wait_for(lambda: fake.accepted >= 3, timeout=3 * (TIMEOUT + SLACK), what="retries")
    assert d.binding("rem")["state"] in ("reconnecting", "connecting")
    fake.close()
    env.start_relay(port=env.relay_port)
    # After a few failed attempts the backoff may be at 5 or 10 s.
    wait_for(lambda: d.binding("rem")["state"] == "online", timeout=TIMEOUT + SLACK + 12,
             what="online once the real relay is back")
    local = free_port()
    env.sender("s", local, "-L", f"127.0.0.1:{local}:r1")
    assert roundtrip(local, b"through") == b"through"


def closed_within(port, bound):
    """Connect and wait for the daemon to close us: the seconds it took."""
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    start = time.monotonic()
    c.settimeout(bound)
    try:
        got = c.recv(1)
    except ConnectionResetError:
        got = b""
    except socket.timeout:
        raise AssertionError(f"client still open after {bound} s")
    finally:
        c.close()
    assert got == b""
    return time.monotonic() - start


@pytest.mark.parametrize("mode,phase", [
    ("silent", "connecting"), ("tls", "awaiting the upgrade"),
    ("upgrade", "awaiting the peer's first reply")])
def test_sender_client_closed_within_the_deadline(env, mode, phase):
    fake = fake_relay(env, mode)
    local = free_port()
    s = env.sender("l", local, "-o", f"connect_timeout:{TIMEOUT}", "-L",
                   f"127.0.0.1:{local}:r1")
    closed_within(local, TIMEOUT + SLACK)
    s.wait_log(rf"failed while \w+: .*timed out after {TIMEOUT} s {phase}")
    if mode == "upgrade":
        assert fake.frames >= 1       # the preamble went out, no reply came
    fake.close()
    env.start_relay(port=env.relay_port)
    target = free_port()
    echo_server(target)
    env.listener("t", "-T", f"r1:{target}")
    assert roundtrip(local, b"now it works") == b"now it works"


def udp_daemon(env, local, timeout=TIMEOUT * 2):
    d = Daemon(env, extra=f"connect_timeout = {timeout};\n")
    d.write_main('local_forward = ( { name = "u"; relay = "r1"; bind_address = "127.0.0.1"; '
                 f'bind_port = {local}; udp = true; port_name = "u1"; }} );\n')
    d.start()
    return d


def test_udp_routes_share_a_budget_and_time_out(env):
    fake = fake_relay(env, "silent")
    local = free_port(socket.SOCK_DGRAM)
    # Long enough for all of the sending to happen while every route waits.
    timeout = 10
    d = udp_daemon(env, local, timeout)
    # 40 sources, 100 kB each: 4 MB waiting for routes that never open,
    # each under the per-route cap, together four times the forward's. The
    # order turns each round, so no source always meets a full socket buffer.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(40)]
    for r in range(25):
        for s in socks[r % 40:] + socks[:r % 40]:
            s.sendto(b"x" * 4000, ("127.0.0.1", local))
            time.sleep(0.0005)
    wait_for(lambda: stats(d, "u")["tunnels_total"] == 40, what="40 routes")
    st = stats(d, "u")
    assert st["bytes_up"] <= 1 << 20, st
    assert st["datagrams_dropped"] >= 1, st
    # Every route gives up at its deadline, not at the 4-minute idle time.
    wait_for(lambda: stats(d, "u")["tunnels_open"] == 0, timeout=timeout + SLACK,
             what="the routes to time out")
    st = stats(d, "u")
    assert st["tunnels_failed"] == 40 and "timed out after" in st["last_error"], st
    for s in socks:
        s.close()
    fake.close()
    env.start_relay(port=env.relay_port)
    target = free_port(socket.SOCK_DGRAM)
    udp_echo_server(target)
    env.listener("t", "-T", f"r1:u1/localhost:{target}U")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(0.5)
    got = None
    for _ in range(40):
        c.sendto(b"ping", ("127.0.0.1", local))
        try:
            got = c.recv(100)
            break
        except socket.timeout:
            continue
    c.close()
    assert got == b"ping"


def test_udp_route_that_fails_at_once_is_never_used(env):
    """A relay address whose connect() fails at once frees the route while it
    is being created; the datagram that made it must not touch it after.
    (Seen by ASan in a SANITIZE=1 build as a heap use after free.)"""
    env.start_relay()
    cs = "Endpoint=sb://255.255.255.255:9/;SharedAccessKeyName=k;SharedAccessKey=a2V5"
    local = free_port(socket.SOCK_DGRAM)
    p = env.bridge("l", "-L", f"127.0.0.1:{local}U:r1", cs=cs)
    p.wait_log(rf"listening on 127\.0\.0\.1:{local}/udp")
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(5)]
    for i in range(3):
        for s in socks:
            s.sendto(b"d%d" % i, ("127.0.0.1", local))
        time.sleep(0.1)
    p.wait_log(r"udp flow \S+ from 127\.0\.0\.1:\d+ failed", count=5)
    time.sleep(0.3)
    assert p.p.poll() is None, p.text()[-2000:]
    for s in socks:
        s.close()


def test_udp_forward_removed_while_routes_connect(env):
    """Routes still connecting when their forward goes: freed once, never
    used again, and the daemon stops cleanly (no leak under ASan)."""
    fake = fake_relay(env, "silent")
    local = free_port(socket.SOCK_DGRAM)
    d = udp_daemon(env, local)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(10)]
    for s in socks:
        s.sendto(b"early", ("127.0.0.1", local))
    wait_for(lambda: fake.accepted >= 10, what="routes connecting")
    d.write_main("")
    _, out, _ = d.ctl("reload", check=0)
    assert out["removed"] == ["u"], out
    for s in socks:               # the port is gone; nothing may reach a freed route
        s.sendto(b"late", ("127.0.0.1", local))
        s.close()
    wait_for(lambda: d.binding("u") is None, what="the forward gone")
    time.sleep(0.3)
    assert d.proc.p.poll() is None
    fake.close()


# ---- the relay's control messages -------------------------------------------

def test_malformed_control_messages_are_dropped_not_followed(env):
    """A hostile relay sends accepts whose address, id or remote endpoint are
    bad, one over the size cap, junk and a kind we do not know: none of them
    may make the listener connect anywhere (the canary port sees nothing),
    each is dropped, the first logged once with its bytes escaped, and the
    channel stays up for the valid accept that follows."""
    env.start_relay()
    env.relay.stop()
    port = env.relay_port
    canary = socket.socket()
    canary.bind(("127.0.0.1", 0))
    canary.listen(16)
    canary.settimeout(0.1)
    cport = canary.getsockname()[1]
    bad_addr = f"wss://127.0.0.1:{cport}/$hc/r1"

    def accept(address, rid="a1", ep=None):
        body = {"address": address, "id": rid}
        if ep is not None:
            body["remoteEndpoint"] = ep
        return json.dumps({"accept": body}).encode()

    messages = [
        accept(bad_addr + "\x01?sb-hc-action=accept"),
        accept(bad_addr + "?x=\r\nX-Injected: 1"),
        accept(f"wss://127.0.0.1:{cport}/elsewhere"),
        accept(f"https://127.0.0.1:{cport}/$hc/r1"),
        accept(f"wss://[127.0.0.1]:{cport}/$hc/r1"),
        accept(f"wss://127.0.0.1:99999/$hc/r1"),
        accept(f"wss://bad_host!:{cport}/$hc/r1"),
        accept(bad_addr, rid="x" * 1000),
        accept(bad_addr, rid="bell\x07"),
        accept(bad_addr, ep={"address": "not-an-ip\r\n", "port": 5}),
        accept(bad_addr, ep={"address": "1.2.3.4", "port": 70000}),
        json.dumps({"accept": {"address": bad_addr, "pad": "p" * 300000}}).encode(),
        json.dumps({"accept": {"address": bad_addr}, "request": {"id": "r"}}).encode(),
        b'{"accept": {"address": "' + bad_addr.encode() + b'", "address": "x"}}',
        json.dumps({"request": {"id": "\x1b[31m", "address": bad_addr}}).encode(),
        b"[1, 2]",
        b"\xff\xfe not json",
        json.dumps({"somethingNew": {"address": bad_addr}}).encode(),
        accept(f"wss://localhost:{port}/$hc/r1?sb-hc-action=accept&sb-hc-id=good", rid="good",
               ep={"address": "2001:db8::1", "port": 443}),
    ]
    fake = FakeRelay(env, port, "upgrade", messages)
    d = remote_daemon(env, free_port(), timeout=5)
    wait_for(lambda: d.binding("rem")["state"] == "online", what="the listener online")
    # The valid accept is followed, to the address it names.
    wait_for(lambda: len(fake.heads) >= 2, what="the rendezvous for the valid accept")
    assert fake.heads[1].startswith(b"GET /$hc/r1?sb-hc-action=accept&sb-hc-id=good HTTP/1.1"), \
        fake.heads[1]
    try:
        c, _ = canary.accept()
        c.close()
        raise AssertionError("a malformed accept made the listener connect to its address")
    except socket.timeout:
        pass
    canary.close()
    text = d.proc.text()
    warned = re.findall(r"warning: .*dropping a malformed control message.*", text)
    assert len(warned) == 1, warned
    assert "\\x01" in warned[0] and "\x01" not in text, warned[0]
    assert len(re.findall(r"dropping a malformed control message", text)) == len(messages) - 2
    assert "\x1b" not in text and "\x07" not in text
    assert d.binding("rem")["state"] == "online"
    fake.close()
