"""HTTP requests through azbridge-relayd to Microsoft's hyco-https listener
(http_cases.js), with curl and Python's http.client as clients: bodies
either side of the 64 KiB inline limit both ways, chunked uploads, HEAD,
204 and 304, the statuses the relay answers itself, a listener that answers
before it has read the body, keep-alive after a rendezvous, and the relay's
memory while a slow client reads a large response."""
import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import MEM_FACTOR, wait_for
from hcraw import frame, listen, relay_fds, relay_rss_kib, rendezvous, sas
from test_attacks import choke
from test_relay import node, root_creds, uri

KIB = 1024
CONFIG = """
hybrid_connections = (
  { name = "web"; requires_client_authorization = false; },
  { name = "idle"; requires_client_authorization = false; }
);
"""


def pattern(n):
    """What http_cases.js serves for /web/big?n=N: byte i is i * 7 + i / 2048
    (mod 256), built a 2048-byte block at a time."""
    base = bytes((i * 7) & 0xFF for i in range(2048))
    blocks = [base.translate(bytes((j + k) & 0xFF for j in range(256))) for k in range(256)]
    return b"".join(blocks[k & 0xFF] for k in range((n + 2047) // 2048))[:n]


def start(env, timeout=None, extra=""):
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write(CONFIG + (f"request_timeout = {timeout};\n" if timeout else "") + extra)
    env.start_relay(extra=["--config", path])
    kn, key = root_creds(env)
    lst = node(env, "http_cases.js", uri(env, "web", "listen"), kn, key, tag="hyco-https")
    lst.wait_log(r"^listening", timeout=20)
    return lst


@pytest.fixture
def web(env):
    return start(env)


def client(env, timeout=60):
    ctx = ssl.create_default_context(cafile=env.ca)
    return http.client.HTTPSConnection("localhost", env.relay_port, context=ctx,
                                       timeout=timeout)


def curl(env, *args, timeout=60):
    argv = ["curl", "-sS", "--max-time", str(timeout), "--cacert", env.ca, *args]
    return subprocess.run(argv, capture_output=True, timeout=timeout + 30)


def url(env, path):
    return f"https://localhost:{env.relay_port}{path}"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def body_file(env, body):
    src = os.path.join(env.tmp, "body")
    with open(src, "wb") as f:
        f.write(body)
    return src


def post_slowly(env, path, body, piece, pause):
    """POST body with its length, a piece at a time: (connection, response)."""
    def pieces():
        for at in range(0, len(body), piece):
            yield body[at:at + piece]
            time.sleep(pause)

    c = client(env, timeout=30)
    c.request("POST", path, body=pieces(), headers={"Content-Length": str(len(body))})
    return c, c.getresponse()


def raw_listener(env, name):
    kn, key = root_creds(env)
    return listen(env, name, sas(f"http://localhost/{name}", kn, key))


def answer(chan, request_id, status, body):
    chan.send_json({"response": {"requestId": request_id, "statusCode": status,
                                 "responseHeaders": {"Content-Type": "text/plain"},
                                 "body": True}})
    chan.send(frame(2, body))


SIZES = [64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 3 * 1024 * KIB]


# ---- bodies either side of 64 KiB ----------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_request_and_response_bodies_around_64k_with_http_client(env, web, size):
    body = os.urandom(size)
    c = client(env)
    c.request("POST", "/web/echo", body=body, headers={"Content-Type": "application/x-test"})
    r = c.getresponse()
    got = r.read()
    assert r.status == 200, (r.status, got[:200])
    assert r.getheader("X-Body-Length") == str(size)
    assert r.getheader("X-Body-Sha256") == sha(body)
    assert len(got) == size and sha(got) == sha(body)
    c.request("GET", f"/web/big?n={size}")
    r = c.getresponse()
    got = r.read()
    assert r.status == 200
    assert len(got) == size and sha(got) == r.getheader("X-Body-Sha256") == sha(pattern(size))
    c.close()


@pytest.mark.parametrize("size", SIZES)
def test_request_and_response_bodies_around_64k_with_curl(env, web, size):
    body = os.urandom(size)
    src, out = body_file(env, body), os.path.join(env.tmp, "out")
    r = curl(env, "-D", "-", "-o", out, "--data-binary", f"@{src}", url(env, "/web/echo"))
    head = r.stdout.decode().lower()
    assert " 200 " in head, r.stdout + r.stderr
    assert f"x-body-sha256: {sha(body)}" in head
    with open(out, "rb") as f:
        assert sha(f.read()) == sha(body)
    r = curl(env, "-D", "-", "-o", out, url(env, f"/web/big?n={size}"))
    assert f"x-body-sha256: {sha(pattern(size))}" in r.stdout.decode().lower(), r.stdout + r.stderr
    with open(out, "rb") as f:
        assert sha(f.read()) == sha(pattern(size))


@pytest.mark.parametrize("args", [["--http1.0"], ["-H", "Connection: close"]])
def test_a_response_without_length_ends_with_the_connection_when_not_kept_alive(env, web, args):
    out = os.path.join(env.tmp, "out")
    r = curl(env, *args, "-D", "-", "-o", out, url(env, "/web/big?n=200000"))
    head = r.stdout.decode().lower()
    assert " 200 " in head and "connection: close" in head, r.stdout + r.stderr
    assert "transfer-encoding" not in head
    with open(out, "rb") as f:
        assert f.read() == pattern(200000)


# ---- chunked uploads ----------------------------------------------------------------

@pytest.mark.parametrize("total", [10, 64 * KIB + 1, 2 * 1024 * KIB + 77])
def test_chunked_upload_reaches_the_listener_whole(env, web, total):
    body = os.urandom(total)
    sizes = [1, 4095, 65536, 17, 300000]

    def pieces():
        at, i = 0, 0
        while at < total:
            n = sizes[i % len(sizes)]
            yield body[at:at + n]
            at += n
            i += 1

    c = client(env)
    c.request("POST", "/web/sink", body=pieces(), encode_chunked=True)
    r = c.getresponse()
    got = r.read().decode()
    assert r.status == 200, got
    assert got == f"{total} {sha(body)}\n"
    c.close()


def test_chunked_upload_from_curl(env, web):
    body = os.urandom(1024 * KIB + 3)
    src = body_file(env, body)
    r = curl(env, "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{src}",
             url(env, "/web/sink"))
    assert r.stdout.decode() == f"{len(body)} {sha(body)}\n", r.stdout + r.stderr


# ---- responses without a body ----------------------------------------------------------

def test_head_204_and_304_carry_no_body_on_one_connection(env, web):
    c = client(env, timeout=20)
    for method, path, status in [("HEAD", "/web/big?n=200000", 200),
                                 ("GET", "/web/status/204", 204),
                                 ("GET", "/web/status/304", 304),
                                 ("HEAD", "/web/big?n=10", 200)]:
        c.request(method, path)
        r = c.getresponse()
        assert r.status == status, (path, r.status)
        assert r.read() == b""
        assert r.getheader("ETag" if status != 200 else "X-Body-Sha256")
    # A body left on the wire by any of them would be read as this head.
    c.request("GET", "/web/plain")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"GET /web/plain\n")
    c.close()


def test_bodies_a_listener_sends_with_head_204_and_304_stay_with_the_relay(env):
    start(env)
    chan = raw_listener(env, "idle")
    c = client(env, timeout=20)
    for method, path, status in [("HEAD", "/idle/h", 200), ("GET", "/idle/n", 204),
                                 ("GET", "/idle/m", 304), ("GET", "/idle/after", 200)]:
        c.request(method, path)
        rq = chan.json()["request"]
        assert rq["requestTarget"] == path
        chan.send_json({"response": {"requestId": rq["id"], "statusCode": status,
                                     "responseHeaders": {"Content-Length": "4"}, "body": True}})
        chan.send(frame(2, b"body"))
        r = c.getresponse()
        assert (r.status, r.read()) == (status, b"body" if path == "/idle/after" else b"")
        # A 204 has no length (RFC 9110 8.6); HEAD and 304 keep the one a GET would have.
        assert r.getheader("Content-Length") == (None if status == 204 else "4"), path
    c.close()
    chan.close()


def test_curl_head_204_and_304_do_not_wait_for_a_body(env, web):
    for args, path, status in [(["-I"], "/web/big?n=100000", b"200"),
                               ([], "/web/status/204", b"204"),
                               ([], "/web/status/304", b"304")]:
        r = curl(env, *args, "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                 url(env, path), timeout=15)
        assert r.stdout == status + b" 0", (path, r.stdout, r.stderr)


# ---- statuses the relay answers itself --------------------------------------------------

def code(env, path, *args, timeout=30):
    return curl(env, "-o", "/dev/null", "-w", "%{http_code}", *args, url(env, path),
                timeout=timeout).stdout


def status_and_via(env, path):
    r = curl(env, "-s", "-o", "/dev/null", "-D", "-", url(env, path), timeout=30)
    head = r.stdout.decode().lower()
    return head.split(" ")[1] if head else r.stderr, "\r\nvia:" in head


def test_statuses_when_no_listener_answers(env):
    start(env, timeout=3)
    # The relay's own answers carry no Via; the listener's carry the relay's.
    assert status_and_via(env, "/nothing/here") == ("404", False)   # no such hybrid connection
    assert status_and_via(env, "/idle/x") == ("502", False)         # none online
    t0 = time.monotonic()
    assert status_and_via(env, "/web/hang") == ("504", False)       # request_timeout = 3
    assert time.monotonic() - t0 < 25
    assert status_and_via(env, "/web/after") == ("200", True)


def test_a_stalled_request_body_is_408_and_a_slow_one_goes_through(env):
    start(env, timeout=3)
    c = client(env, timeout=30)
    c.putrequest("POST", "/web/sink")
    c.putheader("Content-Length", str(200 * KIB))
    c.endheaders(b"x" * 1000)                        # and no more
    r = c.getresponse()
    assert r.status == 408, r.status
    c.close()
    # Slower in all than request_timeout, but never idle that long.
    body = os.urandom(300 * KIB)
    c, r = post_slowly(env, "/web/sink", body, 25 * KIB, 0.5)
    assert (r.status, r.read().decode()) == (200, f"{len(body)} {sha(body)}\n")
    c.close()


def test_only_a_closing_listener_is_no_listener_online_502(env):
    start(env, extra="close_timeout = 60;\n")
    chan = raw_listener(env, "idle")
    choke(chan)                       # reads nothing: its close lasts close_timeout
    try:
        chan.send(frame(8, b"\x03\xe8"))
    except OSError:
        pass
    # 503 until the relay has read the close behind the pings; then 502, long
    # before the closing listener is gone.
    seen, end = [], time.monotonic() + 20
    while not seen or (seen[-1] == 503 and time.monotonic() < end):
        c = client(env, timeout=20)
        c.request("GET", "/idle/x")
        r = c.getresponse()
        seen.append(r.status)
        r.read()
        c.close()
        time.sleep(0.1)
    assert seen[-1] == 502 and set(seen) <= {502, 503}, seen
    assert "listener for idle gone" not in env.relay.text()
    chan.close()


def test_a_large_request_to_a_listener_that_never_answers_is_504(env):
    start(env, timeout=3)
    c = client(env, timeout=30)
    c.request("POST", "/web/hang", body=os.urandom(200 * KIB))
    r = c.getresponse()
    assert r.status == 504
    r.read()


# ---- a listener that answers before it reads the body -------------------------------------

def test_answer_before_a_slow_body_reaches_curl_at_once(env, web):
    before = relay_fds(env)
    # 600 kB at 30 kB/s: twenty seconds of upload, answered after the first piece.
    src = body_file(env, os.urandom(600 * KIB))
    t0 = time.monotonic()
    r = curl(env, "-D", "-", "--limit-rate", "30k", "--data-binary", f"@{src}",
             url(env, "/web/early"), timeout=40)
    took = time.monotonic() - t0
    assert b" 501 " in r.stdout and r.stdout.endswith(b"not here\n"), r.stdout + r.stderr
    assert took < 15, f"the answer took {took:.1f} s"
    assert code(env, "/web/after", timeout=20) == b"200"
    wait_for(lambda: relay_fds(env) <= before, timeout=15, what="the relay to close what it opened")


def test_answer_before_the_body_then_keep_alive_with_http_client(env, web):
    c, r = post_slowly(env, "/web/early", os.urandom(300 * KIB), 30 * KIB, 0.1)
    assert (r.status, r.read()) == (501, b"not here\n")
    # The rest of that body was taken off the connection: the next request is read as one.
    c.request("POST", "/web/sink", body=b"x" * 100)
    r = c.getresponse()
    assert (r.status, r.read().decode()) == (200, f"100 {sha(b'x' * 100)}\n")
    c.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_answer_on_the_control_channel_instead_of_a_rendezvous(env, chunked):
    """A listener that answers a request too large to come inline without
    opening the rendezvous for its body (azbridged's 501 before -H could
    forward) is heard at once, and the client's connection goes on."""
    start(env)
    before = relay_fds(env)
    chan = raw_listener(env, "idle")
    body = os.urandom(300 * KIB)
    c = client(env, timeout=20)
    c.connect()
    if chunked:
        c.request("POST", "/idle/x", body=iter([body[:1000], body[1000:]]), encode_chunked=True)
    else:
        c.request("POST", "/idle/x", body=body)
    rq = chan.json()["request"]
    assert "method" not in rq and "sb-hc-action=request" in rq["address"]
    first = rq["address"]
    answer(chan, rq["id"], 501, b"no HTTP here\n")
    r = c.getresponse()
    assert (r.status, r.read()) == (501, b"no HTTP here\n")
    # The next request on that connection comes inline.
    c.request("GET", "/idle/next")
    rq = chan.json()["request"]
    assert rq["method"] == "GET" and rq["requestTarget"] == "/idle/next"
    answer(chan, rq["id"], 200, b"next\n")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"next\n")
    c.close()
    # The rendezvous address of the answered request is dead.
    rdv, (status, _, _) = rendezvous(env, first)
    assert status == 403
    rdv.close()
    chan.close()
    wait_for(lambda: relay_fds(env) <= before, timeout=15, what="the relay to close what it opened")


def test_expect_100_continue_waits_for_the_listener_to_want_the_body(env):
    """No 100 Continue before the listener opens the rendezvous: one that
    answers at once spares the client its upload."""
    start(env)
    chan = raw_listener(env, "idle")
    raw = socket.create_connection(("127.0.0.1", env.relay_port), timeout=20)
    tls = ssl.create_default_context(cafile=env.ca).wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"POST /idle/up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 300000\r\n"
                b"Expect: 100-continue\r\n\r\n")
    rq = chan.json()["request"]
    assert "method" not in rq
    answer(chan, rq["id"], 501, b"no\n")
    got = b""
    while True:                       # to the end: the body never came, the connection ends
        more = tls.recv(4096)
        if not more:
            break
        got += more
    assert got.startswith(b"HTTP/1.1 501 ") and got.endswith(b"\r\n\r\nno\n"), got
    assert b"\r\nConnection: close\r\n" in got
    tls.close()
    # Once the rendezvous is open the client is told to go on.
    raw = socket.create_connection(("127.0.0.1", env.relay_port), timeout=20)
    tls = ssl.create_default_context(cafile=env.ca).wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"POST /idle/up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n"
                b"Expect: 100-continue\r\n\r\n")
    rq = chan.json()["request"]
    rdv, (status, _, _) = rendezvous(env, rq["address"])
    assert status == 101
    assert rdv.json()["request"]["method"] == "POST"
    got = b""
    while b"\r\n\r\n" not in got:
        got += tls.recv(4096)
    assert got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), got
    body = os.urandom(70000)
    tls.sendall(body)
    op, data = rdv.ws_message()
    assert (op, data) == (2, body)
    tls.close()
    rdv.close()
    chan.close()


# ---- keep-alive after a rendezvous -------------------------------------------------------

def test_requests_after_a_rendezvous_carried_one_on_the_same_connection(env, web):
    c = client(env, timeout=30)
    sock = None
    for method, path, size in [("POST", "/web/sink", 200 * KIB), ("GET", "/web/one", 0),
                               ("POST", "/web/sink", 100), ("POST", "/web/echo", 80 * KIB),
                               ("GET", "/web/big?n=70000", 0), ("GET", "/web/two", 0)]:
        body = os.urandom(size) if size else None
        c.request(method, path, body=body)
        r = c.getresponse()
        got = r.read()
        assert r.status == 200, (path, r.status, got[:200])
        if path == "/web/sink":
            assert got.decode() == f"{size} {sha(body)}\n"
        elif path == "/web/echo":
            assert got == body
        elif path.startswith("/web/big"):
            assert got == pattern(70000)
        else:
            assert got == f"GET {path}\n".encode()
        assert sock is None or c.sock is sock, f"{path}: a new connection"
        sock = c.sock
    c.close()
    assert web.text().count("request GET /web/two") == 1


class _Shared:
    """One buffered reader for every response of a pipelined connection."""

    def __init__(self, f):
        self.f = f

    def makefile(self, *args, **kw):
        return self

    def close(self):
        pass

    def __getattr__(self, name):
        return getattr(self.f, name)


def chunked(body, piece):
    return b"".join(b"%x\r\n%s\r\n" % (len(body[at:at + piece]), body[at:at + piece])
                    for at in range(0, len(body), piece)) + b"0\r\n\r\n"


def test_pipelined_requests_after_rendezvous_bodies_are_each_answered(env, web):
    # Chunked goes through a rendezvous at any size, and 70 KiB does too; the
    # whole pipeline fits in the sockets' buffers, so it is sent at once.
    one, two = os.urandom(20 * KIB), os.urandom(70 * KIB)
    wire = (b"POST /web/sink HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
            chunked(one, 7000) +
            b"GET /web/one HTTP/1.1\r\nHost: localhost\r\n\r\n" +
            b"POST /web/sink HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(two) +
            two + b"GET /web/two HTTP/1.1\r\nHost: localhost\r\n\r\n")
    raw = socket.create_connection(("127.0.0.1", env.relay_port), timeout=30)
    tls = ssl.create_default_context(cafile=env.ca).wrap_socket(raw, server_hostname="localhost")
    tls.sendall(wire)
    shared = _Shared(tls.makefile("rb"))
    for want in [f"{len(one)} {sha(one)}\n", "GET /web/one\n", f"{len(two)} {sha(two)}\n",
                 "GET /web/two\n"]:
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert (r.status, r.read().decode()) == (200, want)
    tls.close()


def test_100_concurrent_requests_inline_and_through_rendezvous(env, web):
    sizes = [(i * 7919) % (200 * KIB) for i in range(100)]
    results = [None] * 100

    def one(i):
        body = os.urandom(sizes[i]) if i % 2 else None
        c = client(env, timeout=60)
        try:
            if body is None:
                c.request("GET", f"/web/big?n={sizes[i]}")
            else:
                c.request("POST", "/web/echo", body=body)
            r = c.getresponse()
            got = r.read()
            results[i] = r.status == 200 and got == (pattern(sizes[i]) if body is None else body)
            if not results[i]:
                results[i] = (r.status, len(got))
        except Exception as e:
            results[i] = repr(e)
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(ok is True for ok in results), [(i, ok) for i, ok in enumerate(results) if ok is not True]


def test_clients_that_go_away_mid_exchange_leave_nothing_behind(env, web):
    before = relay_fds(env)
    heads = [b"GET /web/big?n=20000000 HTTP/1.1\r\nHost: localhost\r\n\r\n",
             b"POST /web/sink HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000000\r\n\r\n" +
             os.urandom(1000000),
             b"POST /web/hang HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"10\r\n0123456789abcdef\r\n",
             b"GET /web/hang HTTP/1.1\r\nHost: localhost\r\n\r\n"]
    for n, wire in enumerate(heads):
        raw = socket.create_connection(("127.0.0.1", env.relay_port), timeout=30)
        tls = ssl.create_default_context(cafile=env.ca).wrap_socket(raw, server_hostname="localhost")
        tls.sendall(wire)
        if n == 0:
            got = 0
            while got < 100000:
                got += len(tls.recv(65536))
        web.wait_log(r"request ", count=n + 1, timeout=20)
        tls.close()
    wait_for(lambda: relay_fds(env) <= before, timeout=20, what="the relay to close what it opened")
    assert code(env, "/web/after", timeout=20) == b"200"


@pytest.mark.parametrize("where", ["control channel", "rendezvous"])
def test_a_listener_that_goes_away_before_it_answers_is_502(env, where):
    start(env)
    before = relay_fds(env)
    chan = raw_listener(env, "idle")
    c = client(env, timeout=20)
    c.connect()
    c.request("POST", "/idle/x", body=os.urandom(200 * KIB))
    rq = chan.json()["request"]
    if where == "rendezvous":
        rdv, (status, _, _) = rendezvous(env, rq["address"])
        assert status == 101
        assert rdv.json()["request"]["method"] == "POST"
        rdv.ws_message()                       # some of the body
        rdv.close()
    else:
        chan.close()
    r = c.getresponse()
    assert (r.status, r.read()) == (502, b"the listener went away")
    c.close()
    chan.close()
    wait_for(lambda: relay_fds(env) <= before, timeout=15, what="the relay to close what it opened")


# ---- memory stays bounded ------------------------------------------------------------------

def test_slow_reader_of_a_large_response_keeps_the_relay_small(env, web):
    size = 48 * 1024 * KIB
    base = relay_rss_kib(env)
    c = client(env, timeout=60)
    c.connect()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KIB)
    c.request("GET", f"/web/big?n={size}")
    r = c.getresponse()
    assert r.status == 200
    h = hashlib.sha256()
    got, peak = 0, 0
    deadline = time.monotonic() + 240
    while got < size and time.monotonic() < deadline:
        b = r.read(16 * KIB)
        if not b:
            break
        h.update(b)
        got += len(b)
        if got < 8 * 1024 * KIB:          # slowly for the first 8 MB, then at speed
            time.sleep(0.005)
            peak = max(peak, relay_rss_kib(env))
    c.close()
    assert got == size
    assert h.hexdigest() == r.getheader("X-Body-Sha256") == sha(pattern(size))
    grown = peak - base
    assert grown < 24 * 1024 * MEM_FACTOR, f"relay grew {grown} KiB serving a slow reader"


def test_a_client_that_reads_nothing_does_not_hold_up_the_control_channel(env):
    """An answer on the control channel is queued for its client, bounded,
    rather than pausing the channel that every other request is answered on."""
    start(env)
    chan = raw_listener(env, "idle")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", env.relay_port))
    stuck = ssl.create_default_context(cafile=env.ca).wrap_socket(raw, server_hostname="localhost")
    stuck.sendall(b"GET /idle/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
    rq = chan.json()["request"]
    # 8 MB: more than the kernel holds for a client that reads nothing, and
    # more than max_output_queue (the protocol wants a rendezvous past 64 kB).
    chan.send_json({"response": {"requestId": rq["id"], "statusCode": 200, "body": True}})
    piece = os.urandom(64 * KIB)
    for i in range(128):
        chan.send(frame(2 if i == 0 else 0, piece, fin=i == 127))
    for n in range(3):
        c = client(env, timeout=10)
        c.request("GET", f"/idle/other{n}")
        rq = chan.json()["request"]
        assert rq["requestTarget"] == f"/idle/other{n}"
        answer(chan, rq["id"], 200, b"other\n")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"other\n")
        c.close()
    env.relay.wait_log(r"connection from 127\.0\.0\.1:\d+ reads too slowly: over 1048576 bytes "
                       r"queued; dropped")
    stuck.close()
    chan.close()


def test_large_upload_keeps_the_relay_small(env, web):
    size = 32 * 1024 * KIB
    base = relay_rss_kib(env)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], relay_rss_kib(env))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    block = os.urandom(KIB * KIB)
    h = hashlib.sha256()
    for _ in range(size // len(block)):
        h.update(block)

    def body():
        for _ in range(size // len(block)):
            yield block

    c = client(env, timeout=120)
    c.request("POST", "/web/sink", body=body(), headers={"Content-Length": str(size)})
    r = c.getresponse()
    got = r.read().decode()
    done.set()
    t.join(5)
    assert got == f"{size} {h.hexdigest()}\n"
    grown = peak[0] - base
    assert grown < 24 * 1024 * MEM_FACTOR, f"relay grew {grown} KiB passing a 32 MB upload"


def test_headers_the_client_names_in_connection_stay_with_the_relay(env):
    """RFC 9110 7.6.1: a header the client lists in Connection is for this
    hop only, so the listener never sees it; the others go on."""
    start(env)
    chan = raw_listener(env, "idle")
    c = client(env, timeout=20)
    c.request("GET", "/idle/x", headers={"Connection": "keep-alive, X-Hop-Secret",
                                          "X-Hop-Secret": "for the relay only",
                                          "X-End-To-End": "kept"})
    rq = chan.json()["request"]
    names = {k.lower() for k in rq["requestHeaders"]}
    assert "x-hop-secret" not in names and "connection" not in names, rq["requestHeaders"]
    assert "x-end-to-end" in names, rq["requestHeaders"]
    answer(chan, rq["id"], 200, b"ok\n")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"ok\n")
    c.close()
    chan.close()
