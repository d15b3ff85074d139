"""HTTP forwards (-H) end to end: curl and Python's http.client in front of
our relay, azbridged -H behind it, and a real nginx (started here on a
loopback port with its own configuration) as the web server. A tiny Python
server stands in only where nginx cannot: echoing the request head, never
answering, resetting."""
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import threading
import time

from conftest import Proc, can_connect, free_port, wait_for
from test_daemon import Daemon

HCS = ("web", "api", "tls", "plain", "slow", "reset", "echo", "xff", "down", "dns", "bighead",
       "garbage", "toclose", "twolengths")
K64 = 64 * 1024
MB20 = 20 * 1024 * 1024


# ---- the world --------------------------------------------------------------

def open_relay(env):
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write("hybrid_connections = (\n" + ",\n".join(
            f'  {{ name = "{n}"; requires_client_authorization = false; }}' for n in HCS)
            + ',\n  { name = "auth"; }\n);\n')
    os.chmod(path, 0o600)
    env.start_relay(extra=["--config", path])


NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format conn "$connection $request";
    access_log {d}/access.log conn;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{ text/plain txt; application/octet-stream bin; }}
    absolute_redirect off;
    server {{
        listen 127.0.0.1:{port}{ssl};
        {tls}
        root {d}/www;
        client_max_body_size 100m;
        location = /nocontent {{ return 204; }}
        location = /moved {{ return 302 /files/small.txt; }}
        location = /cookies {{
            add_header Set-Cookie "a=1; Path=/";
            add_header Set-Cookie "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT";
            add_header X-Custom "custom value";
            return 200 "cookies\\n";
        }}
        location /uri/ {{ return 200 "$request_uri\\n"; }}
        # nginx cannot echo a body: a POST is stored (as a PUT to /store/)
        # and the test reads the file nginx wrote.
        location /upload/ {{
            proxy_method PUT;
            proxy_pass http://127.0.0.1:{port}/store/;
        }}
        location /store/ {{ dav_methods PUT; create_full_put_path on; }}
    }}
}}
"""


class Nginx:
    def __init__(self, env, cert=None):
        self.dir = os.path.join(env.tmp, f"nginx{len(env.procs)}")
        os.makedirs(os.path.join(self.dir, "www", "files"))
        os.makedirs(os.path.join(self.dir, "www", "store"))
        self.port = free_port()
        tls = f"ssl_certificate {cert[0]}; ssl_certificate_key {cert[1]};" if cert else ""
        conf = NGINX_CONF.format(d=self.dir, port=self.port, tls=tls, ssl=" ssl" if cert else "")
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = Proc("nginx", ["nginx", "-c", path, "-p", self.dir], env.tmp, ours=False)
        env.procs.append(self.proc)
        wait_for(lambda: can_connect(self.port), what="nginx to listen")

    def file(self, name, data):
        with open(os.path.join(self.dir, "www", "files", name), "wb") as f:
            f.write(data)

    def connections(self, path):
        """nginx's connection serial of each request for path, in order."""
        with open(os.path.join(self.dir, "access.log")) as f:
            return [l.split()[0] for l in f if l.split()[2:3] == [path]]

    def stored(self, name):
        with open(os.path.join(self.dir, "www", "store", name), "rb") as f:
            return f.read()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def curl(env, path, *args, hc="web"):
    """curl through the relay: (status, headers as a list of (name, value), body)."""
    hdr = os.path.join(env.tmp, "curl.head")
    r = subprocess.run(["curl", "-sS", "--max-time", "60", "--cacert", env.ca, "--path-as-is",
                        "-D", hdr, "-o", "-", *args, f"https://localhost:{env.relay_port}/{hc}{path}"],
                       capture_output=True, timeout=90)
    assert r.returncode == 0, r.stderr
    return parse_head(hdr) + (r.stdout,)


def curl_direct(port, path, *args):
    hdr = os.path.join("/tmp", f"azb-direct-{os.getpid()}.head")
    r = subprocess.run(["curl", "-sS", "--max-time", "60", "--path-as-is", "-D", hdr, "-o", "-",
                        *args, f"http://127.0.0.1:{port}{path}"], capture_output=True, timeout=90)
    assert r.returncode == 0, r.stderr
    out = parse_head(hdr) + (r.stdout,)
    os.unlink(hdr)
    return out


def parse_head(path):
    with open(path, "rb") as f:
        lines = f.read().decode("latin-1").split("\r\n")
    # the last head (curl writes a 100 Continue too)
    start = max(i for i, l in enumerate(lines) if l.startswith("HTTP/"))
    status = int(lines[start].split()[1])
    hs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[start + 1:] if ":" in l]
    return status, hs


def values(hs, name):
    return [v for n, v in hs if n.lower() == name.lower()]


def relay_conn(env):
    ctx = ssl.create_default_context(cafile=env.ca)
    return http.client.HTTPSConnection("localhost", env.relay_port, context=ctx, timeout=60)


def request(env, method, path, body=None, headers=None, hc="web"):
    c = relay_conn(env)
    try:
        c.request(method, f"/{hc}{path}", body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def http_bridge(env, *specs, extra=""):
    """A config-file daemon with one remote forward per (name, relay, binding keys)."""
    d = Daemon(env, "h", extra=extra)
    fwds = ",\n".join(f'{{ name = "{n}"; relay = "{r}"; bindings = ( {{ {b} }} ); }}'
                      for n, r, b in specs)
    d.write_main(f"remote_forward = (\n{fwds}\n);\n")
    d.start()
    for n, _, _ in specs:
        wait_for(lambda n=n: d.binding(n)["state"] == "online", timeout=20, what=f"{n} online")
    return d


def http_keys(port, extra="", scheme="http"):
    return (f'host = "127.0.0.1"; host_port = {port}; http = true; port_name = "{scheme}"; '
            + extra)


# ---- GET, HEAD, statuses, headers --------------------------------------------

# Hop-by-hop or the relay's own: everything else nginx sends arrives as sent.
NOT_END_TO_END = {"connection", "keep-alive", "transfer-encoding", "via", "date"}


def test_get_bodies_heads_and_statuses_as_nginx_serves_them(env):
    open_relay(env)
    ng = Nginx(env)
    files = {"small.txt": b"hello, relay\n", "k64m1.bin": os.urandom(K64 - 1),
             "k64.bin": os.urandom(K64), "k64p1.bin": os.urandom(K64 + 1),
             "big.bin": os.urandom(MB20)}
    for name, data in files.items():
        ng.file(name, data)
    env.listener("h", "-H", f"web:http/127.0.0.1:{ng.port}")
    for name, data in files.items():
        st, hs, body = curl(env, f"/files/{name}")
        dst, dhs, dbody = curl_direct(ng.port, f"/files/{name}")
        assert (st, sha(body)) == (dst, sha(dbody)) == (200, sha(data)), name
        strip = lambda h: sorted((n.lower(), v) for n, v in h if n.lower() not in NOT_END_TO_END)
        assert strip(hs) == strip(dhs), name
        assert values(hs, "Via"), "the relay's Via is missing"
    # HEAD: the length of the body it would have, and no body
    st, hs, body = request(env, "HEAD", "/files/big.bin")
    assert (st, values(hs, "Content-Length"), body) == (200, [str(MB20)], b"")
    # 304 for a validator nginx made, 204, and a redirect that is not followed
    etag = values(curl_direct(ng.port, "/files/small.txt")[1], "ETag")[0]
    st, hs, body = curl(env, "/files/small.txt", "-H", f"If-None-Match: {etag}")
    assert (st, body, values(hs, "ETag")) == (304, b"", [etag])
    st, _, body = curl(env, "/nocontent")
    assert (st, body) == (204, b"")
    st, hs, _ = curl(env, "/moved")
    assert (st, values(hs, "Location")) == (302, ["/files/small.txt"])
    # two Set-Cookie stay two, and a custom header arrives
    st, hs, body = curl(env, "/cookies")
    assert st == 200 and body == b"cookies\n"
    assert values(hs, "Set-Cookie") == ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT"]
    assert values(hs, "X-Custom") == ["custom value"]


def test_query_strings_and_path_tricks_stay_on_the_target_under_its_base(env):
    open_relay(env)
    ng = Nginx(env)
    env.listener("h", "-H", f"web:http/127.0.0.1/uri/base:{ng.port}")
    cases = {
        "/x?a=%20b&c=%2F%3F%23&d=%C3%A9&e=1+2": "/uri/base/x?a=%20b&c=%2F%3F%23&d=%C3%A9&e=1+2",
        "": "/uri/base/",
        "/": "/uri/base/",
        "?q=1": "/uri/base/?q=1",
        "//evil.example/x": "/uri/base//evil.example/x",
        "/http://evil.example/x": "/uri/base/http://evil.example/x",
        "/../../../etc/passwd": "/uri/base/etc/passwd",
        "/a/%2e%2e/%2E%2E/b/./c/": "/uri/base/b/c/",
        "/a/b/..": "/uri/base/a/",
    }
    for path, want in cases.items():
        st, _, body = request(env, "GET", path)
        assert (st, body.decode()) == (200, want + "\n"), path
    # A server that also splits on these (IIS) would climb out of the base:
    # refused, and nothing reaches the target.
    for path in ("/a%2F..%2F..%2Fb", "/..%5c..%5cwin.ini", "/a/..\\..\\b", "/x/.%2e%2Fy"):
        st, _, body = request(env, "GET", path)
        assert st == 400 and b"dot segment" in body, (path, st, body)


# ---- request bodies ----------------------------------------------------------

def test_request_bodies_reach_nginx_whole_with_a_length_and_chunked(env):
    open_relay(env)
    ng = Nginx(env)
    env.listener("h", "-H", f"web:http/127.0.0.1:{ng.port}")
    big = os.urandom(MB20)
    src = os.path.join(env.tmp, "big.src")
    with open(src, "wb") as f:
        f.write(big)
    st, _, _ = curl(env, "/upload/len.bin", "--data-binary", f"@{src}",
                    "-H", "Content-Type: application/octet-stream")
    assert st in (201, 204) and sha(ng.stored("len.bin")) == sha(big)
    st, _, _ = curl(env, "/upload/chunked.bin", "--data-binary", f"@{src}",
                    "-H", "Transfer-Encoding: chunked")
    assert st in (201, 204) and sha(ng.stored("chunked.bin")) == sha(big)
    for n in (K64 - 1, K64, K64 + 1, 0):
        data = os.urandom(n)
        st, _, _ = request(env, "POST", f"/upload/n{n}", body=data,
                           headers={"Content-Length": str(n)})
        assert st in (201, 204), n
        assert ng.stored(f"n{n}") == data, n


# ---- what reaches the target -------------------------------------------------

class Target:
    """A target on a loopback port: each connection to one() in a thread."""

    def __init__(self):
        self.port = free_port()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(128)
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()


class EchoHead(Target):
    """Answers every request with its own head as JSON (and how many body
    bytes came), after reading a Content-Length body."""

    def one(self, c):
        with c:
            f = c.makefile("rb")
            line = f.readline().decode().rstrip("\r\n")
            hs = []
            while True:
                l = f.readline().decode("latin-1").rstrip("\r\n")
                if not l:
                    break
                n, v = l.split(":", 1)
                hs.append([n, v.strip()])
            n = int(next((v for k, v in hs if k.lower() == "content-length"), "0"))
            f.read(n)
            out = json.dumps({"line": line, "headers": hs}).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(out)).encode() + b"\r\nConnection: close\r\n\r\n" + out)


def echoed(env, hc, path="/p", body=None, headers=None):
    st, _, out = request(env, "POST" if body is not None else "GET", path, body=body,
                         headers=headers, hc=hc)
    assert st == 200
    j = json.loads(out)
    return j["line"], j["headers"]


def test_headers_reach_the_target_end_to_end_and_forwarded_ones_only_when_asked(env):
    open_relay(env)
    echo = EchoHead()
    d = http_bridge(env, ("e", "echo", http_keys(echo.port)),
                    ("x", "xff", http_keys(echo.port, "x_forwarded_for = true; "
                                           "x_forwarded_proto = true; x_forwarded_host = true;")))
    sent = {"Authorization": "Bearer app-token", "Content-Type":
            "application/cloudevents+json;charset=utf-8;foo=bar", "X-Custom": "v 1",
            "Keep-Alive": "timeout=5", "Cookie": "c=1"}
    line, hs = echoed(env, "echo", "/p?q=%41", body=b"{}", headers=sent)
    got = {n.lower(): v for n, v in hs}
    assert line == "POST /p?q=%41 HTTP/1.1"
    assert got["host"] == f"127.0.0.1:{echo.port}"
    for n in ("Authorization", "Content-Type", "X-Custom", "Cookie"):
        assert got[n.lower()] == sent[n], n
    assert got["content-length"] == "2"
    assert "keep-alive" not in got
    assert not [n for n in got if n.startswith("x-forwarded")]
    _, hs = echoed(env, "xff")
    got = {n.lower(): v for n, v in hs}
    assert got["x-forwarded-for"] == "127.0.0.1"
    assert got["x-forwarded-proto"] == "https"
    assert got["x-forwarded-host"] == "localhost"
    # one access-log line per request, at info
    d.proc.wait_log(r'e: "POST /echo/p\?q=%41" 200, 2 bytes in, \d+ bytes out, \d+ ms')


def test_the_applications_authorization_passes_the_relay_token_does_not(env):
    from test_tunnels import sas_token
    open_relay(env)
    echo = EchoHead()
    http_bridge(env, ("a", "auth", http_keys(echo.port)))
    key = env.conn_str.split("SharedAccessKey=")[1]
    token = sas_token("http://localhost/auth/", "RootManageSharedAccessKey", key,
                      int(time.time()) + 600)
    _, hs = echoed(env, "auth", headers={"ServiceBusAuthorization": token,
                                         "Authorization": "Bearer bearbear"})
    got = {n.lower(): v for n, v in hs}
    assert got["authorization"] == "Bearer bearbear"
    assert "servicebusauthorization" not in got
    # the relay's token in Authorization stays with the relay
    _, hs = echoed(env, "auth", headers={"Authorization": token})
    assert "authorization" not in {n.lower() for n, _ in hs}
    assert token.split("sig=")[1].split("&")[0] not in json.dumps(hs)


# ---- errors --------------------------------------------------------------------

def serve(handle):
    """A web server on loopback that gives each accepted connection to
    handle(c), in turn, until srv is closed; returns (port, srv)."""
    port = free_port()
    srv = socket.socket()
    srv.bind(("127.0.0.1", port))
    srv.listen(16)

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            handle(c)
    threading.Thread(target=loop, daemon=True).start()
    return port, srv


def silent_server():
    """Accepts and reads, never answers."""
    held = []
    return serve(held.append)


def resetting_server():
    """Reads the request, then resets the connection."""
    def reset(c):
        c.recv(65536)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    return serve(reset)


def canned_server(reply):
    """Reads a request, sends reply, closes."""
    def answer(c):
        with c:
            c.recv(65536)
            c.sendall(reply)
    return serve(answer)


def test_errors_are_ours_and_precise_beside_a_tcp_forward_on_one_daemon(env):
    open_relay(env)
    ng = Nginx(env)
    slow, _s = silent_server()
    reset, _r = resetting_server()
    big, _b = canned_server(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
    junk, _j = canned_server(b"SMTP ready\r\n\r\n")
    tcp = free_port()
    d = http_bridge(env, ("down", "down", http_keys(free_port())),
                    ("slow", "slow", http_keys(slow, "http_timeout = 2;")),
                    ("reset", "reset", http_keys(reset)),
                    ("dns", "dns", http_keys(80).replace("127.0.0.1", "nothing.invalid")),
                    ("bighead", "bighead", http_keys(big)),
                    ("garbage", "garbage", http_keys(junk)),
                    ("web", "web", http_keys(ng.port)),
                    ("plain", "plain", f'host = "127.0.0.1"; host_port = {tcp}; '
                     'port_name = "db";'))
    st, hs, body = request(env, "GET", "/x", hc="down")
    assert st == 502 and b"cannot reach the target" in body
    assert values(hs, "Content-Type") == ["text/plain; charset=utf-8"]
    t0 = time.monotonic()
    st, _, body = request(env, "GET", "/x", hc="slow")
    assert st == 504 and b"did not answer within 2 s" in body
    assert time.monotonic() - t0 < 40
    st, _, _ = request(env, "GET", "/x", hc="reset")
    assert st == 502
    st, _, body = request(env, "GET", "/x", hc="dns")
    assert st == 502 and b"does not resolve" in body
    st, _, body = request(env, "GET", "/x", hc="bighead")
    assert st == 502 and b"over 32 kB" in body
    st, _, body = request(env, "GET", "/x", hc="garbage")
    assert st == 502 and b"malformed" in body
    # a -T forward still answers 501, the -H beside it serves
    assert request(env, "GET", "/x", hc="plain")[0] == 501
    ng.file("ok.txt", b"ok\n")
    assert request(env, "GET", "/files/ok.txt")[:3:2] == (200, b"ok\n")
    # a slow request never holds up the others on the same channel
    res = {}
    t = threading.Thread(target=lambda: res.update(slow=request(env, "GET", "/y", hc="slow")[0]))
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert request(env, "GET", "/files/ok.txt")[0] == 200
    assert time.monotonic() - t0 < 1.9, "a fast request waited for the slow one"
    t.join(60)
    assert res["slow"] == 504
    assert d.proc.p.poll() is None


def test_a_body_ended_by_the_close_arrives_and_two_lengths_are_refused(env):
    """A response framed by closing the connection (no length, no chunks,
    as an HTTP/1.0-style server sends) arrives whole; one that names two
    different lengths has none and is answered 502."""
    open_relay(env)
    toclose, _c = canned_server(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                b"up to the close\n")
    two, _t = canned_server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n"
                            b"\r\nhello, w")
    d = http_bridge(env, ("toclose", "toclose", http_keys(toclose)),
                    ("twolengths", "twolengths", http_keys(two)))
    for _ in range(3):
        st, _, body = request(env, "GET", "/x", hc="toclose")
        assert (st, body) == (200, b"up to the close\n")
    st, _, body = request(env, "GET", "/x", hc="twolengths")
    assert st == 502 and b"not one we can pass on" in body, (st, body)
    assert d.proc.p.poll() is None


def test_stream_connections_to_an_http_relay_are_tcp_to_the_web_server(env):
    open_relay(env)
    ng = Nginx(env)
    ng.file("t.txt", b"over a tunnel\n")
    env.listener("h", "-H", f"web:http/127.0.0.1:{ng.port}")
    local = free_port()
    env.sender("s", local, "-L", f"127.0.0.1:{local}/http:web")
    st, _, body = curl_direct(local, "/files/t.txt")
    assert (st, body) == (200, b"over a tunnel\n")


def all_true(fn, n):
    """fn(0..n-1) at once, in threads: each must return True."""
    results = []

    def one(i):
        try:
            results.append(fn(i))
        except Exception as e:  # a failure is counted, not lost in a thread
            results.append(repr(e))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert results.count(True) == n, [r for r in results if r is not True][:5]


def test_a_hundred_concurrent_requests_and_several_http_forwards(env):
    open_relay(env)
    ng = Nginx(env)
    small, large = b"s" * 100, os.urandom(200 * 1024)
    ng.file("small.txt", small)
    ng.file("large.bin", large)
    env.listener("h", "-H", f"web:http/127.0.0.1:{ng.port}", "-H", f"api:http/127.0.0.1:{ng.port}")

    def one(i):
        hc = "web" if i % 2 else "api"
        name = "large.bin" if i % 4 == 0 else "small.txt"
        st, _, body = request(env, "GET", f"/files/{name}", hc=hc)
        return st == 200 and body == (large if name == "large.bin" else small)
    all_true(one, 100)


# ---- TLS to the target -----------------------------------------------------------

def private_ca(tmp):
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)
    ca_key, ca, key, csr, crt = (os.path.join(tmp, n) for n in
                                 ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    ext = os.path.join(tmp, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName = DNS:localhost, IP:127.0.0.1\n")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=test private CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", csr, "-subj", "/CN=localhost")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
        "-days", "2", "-extfile", ext)
    return ca, crt, key


def test_https_target_verified_against_its_private_ca(env):
    open_relay(env)
    ca, crt, key = private_ca(env.tmp)
    ng = Nginx(env, cert=(crt, key))
    ng.file("s.txt", b"secure\n")
    keys = f'host = "localhost"; host_port = {ng.port}; http = true; port_name = "https"; '
    d = http_bridge(env, ("ok", "tls", keys + f'ca_file = "{ca}";'),
                    ("unverified", "web", keys),
                    ("insecure", "api", keys + "insecure = true;"))
    assert request(env, "GET", "/files/s.txt", hc="tls")[:3:2] == (200, b"secure\n")
    st, _, body = request(env, "GET", "/files/s.txt", hc="web")
    assert st == 502 and b"TLS" in body
    assert request(env, "GET", "/files/s.txt", hc="api")[:3:2] == (200, b"secure\n")
    assert re.search(r"insecure: insecure = true: the certificate of https://localhost:\d+ is "
                     r"not verified", d.proc.text())
    assert "ok: insecure" not in d.proc.text()


def test_https_requests_reuse_one_verified_connection(env):
    open_relay(env)
    ca, crt, key = private_ca(env.tmp)
    ng = Nginx(env, cert=(crt, key))
    ng.file("s.txt", b"secure\n")
    http_bridge(env, ("ok", "tls", f'host = "localhost"; host_port = {ng.port}; http = true; '
                      f'port_name = "https"; ca_file = "{ca}";'))
    for _ in range(5):
        assert request(env, "GET", "/files/s.txt", hc="tls")[:3:2] == (200, b"secure\n")
    assert len(set(ng.connections("/files/s.txt"))) == 1


# ---- streaming and bounded memory ------------------------------------------------

def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))


def test_bodies_stream_both_ways_in_bounded_memory(env):
    from conftest import MEM_FACTOR
    open_relay(env)
    ng = Nginx(env)
    size = 96 * 1024 * 1024
    big = os.path.join(ng.dir, "www", "files", "sparse.bin")
    with open(big, "wb") as f:
        f.truncate(size)         # a hole: nginx serves zeros, nothing is held here
    h = env.listener("h", "-H", f"web:http/127.0.0.1:{ng.port}")
    r = subprocess.run(["curl", "-sS", "--max-time", "120", "--cacert", env.ca, "-o", "/dev/null",
                        "-w", "%{http_code} %{size_download}",
                        f"https://localhost:{env.relay_port}/web/files/sparse.bin"],
                       capture_output=True, text=True, timeout=150)
    assert r.stdout == f"200 {size}", r.stderr
    st, _, _ = curl(env, "/upload/sparse.bin", "--data-binary", f"@{big}",
                    "-H", "Transfer-Encoding: chunked")
    assert st in (201, 204)
    assert os.path.getsize(os.path.join(ng.dir, "www", "store", "sparse.bin")) == size
    peak = peak_rss_kib(h.p.pid)
    print(f"azbridged peak RSS {peak} KiB after {size} bytes each way")
    assert peak < 40 * 1024 * MEM_FACTOR, f"azbridged peaked at {peak} KiB"


class SlowBody:
    """Sends a head and the first bytes of a chunked body, then finishes only
    once told that the client has seen them."""

    def __init__(self):
        self.port = free_port()
        self.seen = threading.Event()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(4)
        threading.Thread(target=self.one, daemon=True).start()

    def one(self):
        c, _ = self.srv.accept()
        with c:
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            self.seen.wait(30)
            c.sendall(b"4\r\nlast\r\n0\r\n\r\n")


def test_a_body_that_stalls_reaches_the_client_before_it_ends(env):
    open_relay(env)
    slow = SlowBody()
    env.listener("h", "-H", f"web:http/127.0.0.1:{slow.port}")
    c = relay_conn(env)
    c.request("GET", "/web/stream")
    r = c.getresponse()
    assert r.status == 200
    assert r.read(5) == b"first"       # the target has not ended its body yet
    slow.seen.set()
    assert r.read() == b"last"
    c.close()


def test_access_log_lines_carry_journald_fields(env):
    from test_systemd import Journal, journal_bridge
    open_relay(env)
    ng = Nginx(env)
    ng.file("j.txt", b"journal\n")
    jdir = os.path.join(env.tmp, "journal")
    os.makedirs(jdir)
    j = Journal(os.path.join(jdir, "socket"))
    journal_bridge(env, "h", jdir, "-H", f"web:http/127.0.0.1:{ng.port}")
    wait_for(lambda: j.find(r"listener online", AZB_RELAY="web"), what="the listener online")
    assert request(env, "GET", "/files/j.txt?sig=secret")[0] == 200
    # the signature is gone from the message and the field alike
    wait_for(lambda: j.find(r'^h-web\S+: "GET /web/files/j.txt\?sig=REDACTED 200, 0 bytes in, 8 '
                            r'bytes out, \d+ ms$'), what="the access log")
    e = j.find(r'"GET /web/files/j.txt')[0]
    assert e["PRIORITY"] == "6" and e["AZB_BINDING"] and e["AZB_PEER"].startswith("127.0.0.1:"), e
    assert (e["AZB_HTTP_METHOD"], e["AZB_HTTP_STATUS"], e["AZB_HTTP_BYTES_IN"],
            e["AZB_HTTP_BYTES_OUT"]) == ("GET", "200", "0", "8"), e
    assert e["AZB_HTTP_PATH"] == "/web/files/j.txt?sig=REDACTED", e
    assert int(e["AZB_HTTP_MS"]) >= 0
    j.done = True


def test_one_client_connection_carries_requests_over_the_rendezvous_and_inline(env):
    """The relay sends a client's later requests over the rendezvous its
    first large one came on; the bridge answers them there and keeps it."""
    open_relay(env)
    ng = Nginx(env)
    small, large = b"small\n", os.urandom(100 * 1024)
    ng.file("s.txt", small)
    ng.file("l.bin", large)
    env.listener("h", "-H", f"web:http/127.0.0.1:{ng.port}")
    c = relay_conn(env)
    up = os.urandom(200 * 1024)
    steps = [("POST", "/upload/a.bin", up, (201, 204)), ("GET", "/files/s.txt", None, small),
             ("GET", "/files/l.bin", None, large), ("POST", "/upload/b.bin", b"x" * 10, (201, 204)),
             ("HEAD", "/files/l.bin", None, b""), ("GET", "/files/s.txt", None, small)]
    first = None
    for method, path, body, want in steps:
        c.request(method, f"/web{path}", body=body)
        r = c.getresponse()
        got = r.read()
        first = first or c.sock
        assert c.sock is first, f"{method} {path}: the client connection was dropped"
        if isinstance(want, tuple):
            assert r.status in want, (method, path, r.status)
        else:
            assert (r.status, got) == (200, want), (method, path)
    c.close()
    assert ng.stored("a.bin") == up and ng.stored("b.bin") == b"x" * 10


def test_a_ca_file_that_cannot_be_read_stops_the_forward_naming_it(env):
    open_relay(env)
    d = Daemon(env, "h")
    missing = os.path.join(env.tmp, "no-such-ca.pem")
    d.write_main('remote_forward = ( { name = "w"; relay = "tls"; bindings = ( { '
                 + http_keys(free_port(), f'ca_file = "{missing}";', scheme="https") + ' } ); } );\n')
    p = d.start(wait=False)
    p.ours = False                # it is meant to exit 3
    assert p.p.wait(30) == 3
    assert f"w: not started: ca_file {missing}: No such file or directory" in p.text()


# ---- keep-alive connections to the target ------------------------------------------

def test_requests_reuse_one_connection_to_nginx_unless_told_to_keep_none(env):
    open_relay(env)
    ng = Nginx(env)
    ng.file("k.txt", b"kept\n")
    ng.file("n.txt", b"not kept\n")
    http_bridge(env, ("kept", "web", http_keys(ng.port)),
                ("none", "api", http_keys(ng.port, "http_idle_connections = 0;")))
    for _ in range(10):
        assert request(env, "GET", "/files/k.txt")[::2] == (200, b"kept\n")
        assert request(env, "HEAD", "/files/k.txt")[0] == 200
        assert request(env, "GET", "/nocontent")[0] == 204
        assert request(env, "GET", "/moved")[0] == 302
        st, _, _ = request(env, "POST", "/upload/k.bin", body=b"p" * 1000)
        assert st in (201, 204)
        assert request(env, "GET", "/files/n.txt", hc="api")[::2] == (200, b"not kept\n")
    used = [ng.connections(p) for p in ("/files/k.txt", "/nocontent", "/moved", "/upload/k.bin")]
    assert [len(u) for u in used] == [20, 10, 10, 10]
    assert len(set(sum(used, []))) == 1, "requests of one forward opened more than one connection"
    assert len(set(ng.connections("/files/n.txt"))) == 10
    assert ng.stored("k.bin") == b"p" * 1000


class KeepServer(Target):
    """An HTTP/1.1 target that keeps its connections (and answers each
    request with its number on the connection and its body's digest),
    counting accepts and open connections. close_idle: seconds after which
    it closes a connection it waits on; reset_at: the request on each
    connection met with a reset, after the bytes partial; delay: seconds
    each answer waits; head: more header lines of each answer."""

    def __init__(self, close_idle=None, reset_at=None, partial=b"", delay=0, head=b""):
        self.close_idle, self.reset_at, self.partial = close_idle, reset_at, partial
        self.delay, self.head = delay, head
        self.lock = threading.Lock()
        self.accepts = self.open = 0
        super().__init__()

    @staticmethod
    def body(f, hs):
        if hs.get("transfer-encoding") != "chunked":
            return f.read(int(hs.get("content-length", "0")))
        out = b""
        while True:
            n = int(f.readline().split(b";")[0], 16)
            out += f.read(n)
            f.readline()
            if n == 0:
                return out

    def request(self, f):
        if not f.readline():
            return None
        hs = {}
        while True:
            l = f.readline().decode("latin-1").rstrip("\r\n")
            if not l:
                return hs
            n, v = l.split(":", 1)
            hs[n.strip().lower()] = v.strip()

    def serve(self, c):
        f = c.makefile("rb")
        c.settimeout(self.close_idle or None)
        # close_idle 0: one answer, then the connection closes
        for n in range(1, 2 if self.close_idle == 0 else 10000):
            try:
                hs = self.request(f)
            except (TimeoutError, OSError):
                return
            if hs is None:
                return
            if n == self.reset_at:
                c.sendall(self.partial)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            out = json.dumps({"n": n, "sha": sha(self.body(f, hs))}).encode()
            time.sleep(self.delay)
            c.sendall(b"HTTP/1.1 200 OK\r\n" + self.head + b"Content-Length: "
                      + str(len(out)).encode() + b"\r\n\r\n" + out)

    def one(self, c):
        with self.lock:
            self.accepts += 1
            self.open += 1
        try:
            self.serve(c)
        finally:
            c.close()
            with self.lock:
                self.open -= 1


def ours_half_closed(port):
    """Our connections to port that the target has closed and we have not."""
    r = subprocess.run(["ss", "-Htn", "state", "close-wait", "dport", "=", f":{port}"],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def answer(env, method="GET", body=None, hc="web"):
    st, _, out = request(env, method, "/k", body=body, hc=hc)
    return st, json.loads(out) if st == 200 else out


def test_a_target_closing_idle_connections_costs_the_client_nothing(env):
    open_relay(env)
    idle = KeepServer(close_idle=0.3)
    eager = KeepServer(close_idle=0)     # closes as soon as it has answered, saying nothing
    http_bridge(env, ("idle", "web", http_keys(idle.port)), ("eager", "api", http_keys(eager.port)))
    for i in range(3):
        assert answer(env) == (200, {"n": 1, "sha": sha(b"")})
        wait_for(lambda: idle.open == 0, timeout=10, what="the target to close")
        # the bridge noticed the close while idle: nothing of ours is left half closed
        wait_for(lambda: not ours_half_closed(idle.port), timeout=10, what="the bridge to notice")
    assert idle.accepts == 3
    for i in range(10):
        st, got = answer(env, "POST", body=b"e" * (i + 1), hc="api")
        assert (st, got["sha"]) == (200, sha(b"e" * (i + 1)))


def test_a_kept_connection_the_target_resets_is_retried_or_answered_502_never_hung(env):
    open_relay(env)
    second = KeepServer(reset_at=2)     # every connection's second request is reset unanswered
    midway = KeepServer(reset_at=2, partial=b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123")
    d = http_bridge(env, ("reset", "reset", http_keys(second.port)),
                    ("midway", "api", http_keys(midway.port)))
    for i in range(4):
        assert answer(env, hc="reset") == (200, {"n": 1, "sha": sha(b"")})
        body = os.urandom(2000)
        assert answer(env, "POST", body=body, hc="reset") == (200, {"n": 1, "sha": sha(body)})
    assert second.accepts == 8
    # a body that came over the rendezvous is gone once sent: not sent again
    assert answer(env, hc="reset")[0] == 200
    t0 = time.monotonic()
    try:
        st, out = answer(env, "POST", body=os.urandom(200 * 1024), hc="reset")
    except (OSError, http.client.HTTPException) as e:
        st, out = None, repr(e)
    # ours, or the relay's (or the relay ending the upload) when the bridge
    # answered before the relay had sent all of the body
    assert st in (502, None), (st, out)
    d.proc.wait_log(r"reset: request \S+: the target closed a kept connection without an "
                    r"answer")
    assert second.accepts == 9
    # an answer cut short is the target's fault, and never replayed
    assert answer(env, hc="api")[0] == 200
    st, out = answer(env, hc="api")
    assert st == 502 and b"in the body" in out, (st, out)
    assert answer(env, hc="api") == (200, {"n": 1, "sha": sha(b"")})
    assert midway.accepts == 2
    assert time.monotonic() - t0 < 40


def test_the_idle_cap_holds_under_a_hundred_concurrent_requests(env):
    open_relay(env)
    ks = KeepServer(delay=0.5)       # so that the requests overlap at the target
    http_bridge(env, ("capped", "web", http_keys(ks.port, "http_idle_connections = 4;")))

    def one(i):
        st, got = answer(env, "POST", body=str(i).encode())
        return st == 200 and got["sha"] == sha(str(i).encode())
    all_true(one, 100)
    assert ks.accepts > 10, "the requests did not overlap"
    # those over the cap close as their answers end, well before the idle timeout
    wait_for(lambda: ks.open <= 4, timeout=3, what="the idle connections down to the cap")
    assert 1 <= ks.open <= 4
    time.sleep(0.5)
    assert ks.open <= 4 and not ours_half_closed(ks.port)
    # and they go after the idle timeout
    wait_for(lambda: ks.open == 0, timeout=20, what="the idle connections to time out")


def test_connections_authenticated_by_ntlm_or_negotiate_are_never_kept(env):
    open_relay(env)
    plain, challenged = KeepServer(), KeepServer(head=b"WWW-Authenticate: NTLM TlRMTVNTUAAC\r\n")
    http_bridge(env, ("plain", "web", http_keys(plain.port)),
                ("challenged", "api", http_keys(challenged.port)))
    for auth in ("Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkq", "ntlm TlRMTVNTUAAB", "Basic dTpw"):
        st, _, _ = request(env, "GET", "/k", headers={"Authorization": auth})
        assert st == 200
        assert request(env, "GET", "/k", hc="api")[0] == 200
    # only the Basic request's connection was kept, and the next one used it
    assert answer(env) == (200, {"n": 2, "sha": sha(b"")})
    assert plain.accepts == 3 and challenged.accepts == 3
