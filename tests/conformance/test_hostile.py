"""Bad input from the network: malformed upgrades, frames and control
messages, each on its own connection, a bounded number of them. The relay
answers or closes that connection only, and keeps serving everyone else."""
import os
import random
import re
import socket
import ssl
import time

from conftest import MEM_FACTOR
from hcraw import frame, sas
from test_relay import root_creds, run_node, start, uri, node

ATTEMPTS = 120


def tls(env):
    ctx = ssl.create_default_context(cafile=env.ca)
    s = socket.create_connection(("127.0.0.1", env.relay_port), timeout=5)
    return ctx.wrap_socket(s, server_hostname="localhost")


def drain(s, limit=1 << 20):
    """Everything until the relay closes; raises on a timeout (it must close:
    a head that never completes is cut at header_timeout)."""
    got = b""
    while len(got) < limit:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not b:
            break
        got += b
    s.close()
    return got


def upgrade(path, extra=""):
    return (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def bad_upgrade(rng):
    choices = [
        lambda: os.urandom(rng.randint(1, 4000)),
        lambda: b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 40000 + b"\r\n\r\n",
        lambda: b"GET /$hc/hyco?sb-hc-action=listen HTTP/1.1\r\n" + b"H: v\r\n" * 200 + b"\r\n",
        lambda: upgrade("/$hc/hyco?sb-hc-action=" + rng.choice(["", "fly", "listen%00", "accept"])),
        lambda: upgrade("/$hc/%zz%?sb-hc-action=connect"),
        lambda: upgrade("/$hc/hyco?sb-hc-action=listen", "ServiceBusAuthorization: "
                        "SharedAccessSignature sr=%&sig=&se=x&skn=\r\n"),
        lambda: upgrade("/$hc/hyco?sb-hc-action=accept&sb-hc-id=" + "9" * 300),
        lambda: b"POST /web/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        lambda: b"POST /open/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
        lambda: b"GET /open/x HTTP/1.1\r\nHost: localhost\r\n\r",
    ]
    return rng.choice(choices)()


def bad_frames(rng):
    big = b'{"renewToken":' + b" " * (1100 * 1024) + b"}"
    # Messages a listener garbles are dropped: its channel stays open.
    kept = [
        lambda: frame(1, b"not json"),
        lambda: frame(1, b"[1,2,3]"),
        lambda: frame(1, b'{"response":{"requestId":"x","statusCode":200,'
                         b'"responseHeaders":{"A":"b\\r\\nSet-Cookie: x"}}}'),
        lambda: frame(1, b'{"response":{"requestId":"nope","statusCode":200}}') + frame(1, b"}"),
    ]
    choices = [
        lambda: frame(1, b'{"renewToken":{"token":"SharedAccessSignature sr=a&sig=b&se=1&skn=c"}}'),
        lambda: frame(1, big),
        lambda: frame(2, os.urandom(100), mask=False),
        lambda: frame(3, b"reserved opcode"),
        lambda: frame(9, b"p" * 126),
        lambda: frame(9, b"ping", fin=False),
        lambda: frame(1, b"{}", rsv=0x40),
        lambda: frame(0, b"continuation without a start"),
        lambda: frame(8, b"\x03"),
    ]
    # Random bytes may be the start of a long frame: the relay rightly waits.
    if rng.random() < 0.1:
        return os.urandom(rng.randint(1, 3000)), False
    if rng.random() < 0.25:
        return rng.choice(kept)(), False
    return rng.choice(choices)(), True


def test_relay_survives_hostile_upgrades_frames_and_json(env):
    start(env)
    kn, key = root_creds(env)
    token = sas("http://localhost/hyco", kn, key)
    rng = random.Random(20261125)
    for i in range(ATTEMPTS):
        s = tls(env)
        if i % 2:
            s.sendall(bad_upgrade(rng))
            drain(s)
            continue
        s.sendall(upgrade("/$hc/hyco?sb-hc-action=listen", f"ServiceBusAuthorization: {token}\r\n"))
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        data, must_close = bad_frames(rng)
        try:
            s.sendall(data)
        except (ssl.SSLError, OSError):
            pass                  # closed by the relay before it had it all
        if must_close:
            drain(s)
        else:
            s.close()
    assert env.relay.p.poll() is None, "the relay died"
    # Everyone else is still served.
    lst = node(env, "ws_listener.js", uri(env, "hyco", "listen"), kn, key, "A", tag="listener")
    lst.wait_log(r"A listening", timeout=20)
    rc, out = run_node(env, "ws_sender.js", uri(env, "hyco", "connect"), kn, key, "100000", "5")
    assert rc == 0 and "ok 5" in out, out
    with open(f"/proc/{env.relay.p.pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    assert rss < 64 * 1024 * MEM_FACTOR, f"relay RSS {rss} KiB after hostile input"
