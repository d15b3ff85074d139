"""A raw Hybrid Connections client for attack tests: TLS to the relay from a
chosen loopback source address, hand-written request heads, websocket frames
read and written byte by byte, so a test can send what no real client would."""
import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import time
import urllib.parse


def sas(resource, key_name, key, ttl=3600, expiry=None):
    se = expiry if expiry is not None else int(time.time()) + ttl
    sr = urllib.parse.quote(resource, safe="")
    sig = base64.b64encode(hmac.new(key.encode(), f"{sr}\n{se}".encode(),
                                    hashlib.sha256).digest()).decode()
    return f"SharedAccessSignature sr={sr}&sig={urllib.parse.quote(sig, safe='')}&se={se}&skn={key_name}"


def frame(op, payload, fin=True, mask=True, rsv=0):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | op])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if mask:
        k = os.urandom(4)
        payload = bytes(b ^ k[i % 4] for i, b in enumerate(payload))
        head += k
    return head + payload


class Conn:
    """One TLS connection to the relay."""

    def __init__(self, env, source="127.0.0.1", timeout=10, tls=True):
        raw = socket.create_connection(("127.0.0.1", env.relay_port), timeout=timeout,
                                       source_address=(source, 0))
        if tls:
            ctx = ssl.create_default_context(cafile=env.ca)
            self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        else:
            self.s = raw
        self.buf = b""
        self.port = env.relay_port

    def send(self, data):
        self.s.sendall(data)

    def _more(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("closed by the relay")
        self.buf += b

    def head(self):
        """The response head as (status, {lower-case name: value}, raw)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode(errors="replace")
        return status, hdrs, raw

    def body(self, n):
        while len(self.buf) < n:
            self._more()
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    def response(self):
        status, hdrs, raw = self.head()
        body = self.body(int(hdrs.get("content-length", "0")))
        return status, hdrs, raw, body

    def upgrade(self, path, host=None, extra=""):
        self.send((f"GET {path} HTTP/1.1\r\nHost: {host or f'localhost:{self.port}'}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode("latin-1"))
        return self.head()

    def ws_frame(self):
        """(opcode, fin, payload) of the next frame from the relay."""
        while len(self.buf) < 2:
            self._more()
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._more()
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            while len(self.buf) < 10:
                self._more()
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        while len(self.buf) < off + n:
            self._more()
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, bool(b0 & 0x80), payload

    def ws_message(self, skip_control=True):
        """The next whole data message (opcode, bytes); control frames are
        answered (ping) or returned (close) on the way."""
        op, data = None, b""
        while True:
            o, fin, p = self.ws_frame()
            if o == 9:
                self.send(frame(10, p))
                continue
            if o == 10 and skip_control:
                continue
            if o == 8:
                return 8, p
            if o != 0:
                op = o
            data += p
            if fin:
                return op, data

    def json(self):
        op, data = self.ws_message()
        if op == 8:
            raise EOFError(f"channel closed: {data!r}")
        assert op == 1, (op, data)
        return json.loads(data)

    def send_json(self, obj):
        self.send(frame(1, json.dumps(obj).encode()))

    def closed(self, timeout=10):
        """True once the relay has closed the connection (within timeout)."""
        self.s.settimeout(timeout)
        try:
            while True:
                b = self.s.recv(65536)
                if not b:
                    return True
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def listen(env, name, token, **kw):
    """A raw listener's control channel, upgraded."""
    c = Conn(env, **kw)
    status, _, raw = c.upgrade(f"/$hc/{name}?sb-hc-action=listen&sb-hc-id=raw",
                               extra=f"ServiceBusAuthorization: {token}\r\n")
    assert status == 101, raw
    return c


def rendezvous(env, address, extra="", **kw):
    """Open the websocket an accept or request message points at."""
    u = urllib.parse.urlsplit(address)
    c = Conn(env, **kw)
    return c, c.upgrade(f"{u.path}?{u.query}", host=u.netloc, extra=extra)


def relay_rss_kib(env):
    with open(f"/proc/{env.relay.p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def relay_fds(env):
    return len(os.listdir(f"/proc/{env.relay.p.pid}/fd"))
