"""Attacks on azbridge-relayd by its own clients: senders, listeners and HTTP
clients that send what no honest client would, each a real connection
written byte by byte (hcraw.py). Each test is one attack; the relay must
refuse it (or contain it to the attacker's own connection) and keep serving
everyone else."""
import base64
import json
import os
import re
import secrets
import socket
import threading
import time

import pytest

from conftest import MEM_FACTOR, wait_for
from hcraw import Conn, frame, listen, relay_fds, relay_rss_kib, rendezvous, sas
from test_relay import node, root_creds, run_node, uri

SEND_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
A_LISTEN_KEY = base64.b64encode(secrets.token_bytes(32)).decode()

CONFIG = """
header_timeout = 3;
accept_timeout = 3;
request_timeout = 5;
close_timeout = 2;
max_pending_accepts_per_hybrid_connection = 8;
max_connections_per_source = 60;
hybrid_connections = (
  { name = "a"; rules = ( { name = "a-listen"; key = "%s"; rights = [ "Listen" ]; } ); },
  { name = "b"; },
  { name = "web1"; requires_client_authorization = false; },
  { name = "web2"; requires_client_authorization = false; },
  { name = "open"; requires_client_authorization = false; }
);
rules = ( { name = "send"; key = "%s"; rights = [ "Send" ]; } );
""" % (A_LISTEN_KEY, SEND_KEY)


def start(env, extra_config=""):
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write(CONFIG + extra_config)
    os.chmod(path, 0o600)
    env.start_relay(extra=["--config", path])


def root_token(env, name, **kw):
    kn, key = root_creds(env)
    return sas(f"http://localhost/{name}", kn, key, **kw)


def sender(env, name, query="", extra="", **kw):
    """A raw sender's upgrade: (conn, status, headers)."""
    c = Conn(env, **kw)
    status, hdrs, _ = c.upgrade(f"/$hc/{name}?sb-hc-action=connect{query}",
                                extra=extra)
    return c, status, hdrs


def async_sender(env, name, query="", extra=""):
    """Start a sender in a thread: its result is out["status"] once the
    relay has answered its upgrade."""
    out = {}

    def run():
        try:
            c, out["status"], out["headers"] = sender(env, name, query, extra)
            out["conn"] = c
        except (EOFError, OSError) as e:
            out["status"] = repr(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    out["thread"] = t
    return out


def http_request(env, c, path, host=None, body=b"", method=None, extra=""):
    method = method or ("POST" if body else "GET")
    c.send((f"{method} {path} HTTP/1.1\r\nHost: {host or f'localhost:{env.relay_port}'}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body)


def respond(chan, request_id, status=200, body=b"", headers=None):
    chan.send_json({"response": {"requestId": request_id, "statusCode": status,
                                 "responseHeaders": headers or {}, "body": bool(body)}})
    if body:
        chan.send(frame(2, body))


def honest_pair_works(env):
    """Microsoft's own listener and sender still exchange data."""
    kn, key = root_creds(env)
    lst = node(env, "ws_listener.js", uri(env, "b", "listen"), kn, key, "H", tag="honest")
    lst.wait_log(r"H listening", timeout=20)
    rc, out = run_node(env, "ws_sender.js", uri(env, "b", "connect"), kn, key, "20000", "3")
    lst.stop()
    return rc == 0 and "ok 3" in out


# ---- 1. strings a peer chose, on their way into JSON and headers ----------------

@pytest.mark.parametrize("query, extra", [
    ("&sb-hc-id=%ff", ""),                              # not UTF-8: json_pack returned NULL
    ("&sb-hc-id=%c3%28", ""),
    ("&sb-hc-id=a%00b", ""),
    ("&sb-hc-id=" + "x" * 200, ""),
    ("&sb-hc-id=a%26sb-hc-action%3Daccept", ""),
    ("", "X-Junk: \xff\xfe\r\n"),                       # a connect header JSON cannot hold
    ("", "Sec-WebSocket-Protocol: \xc0\xaf\r\n"),
])
def test_sender_strings_that_json_cannot_hold_get_400(env, query, extra):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    c = Conn(env)
    status, _, raw = c.upgrade(f"/$hc/open?sb-hc-action=connect{query}", extra=extra)
    assert status == 400, raw
    assert env.relay.p.poll() is None, "the relay died"
    # The listener was never offered the connection, and still works.
    c2, status, _ = sender(env, "open", "&sb-hc-id=fine-1")
    assert status != 400
    msg = lst.json()
    assert msg["accept"]["id"].startswith("fine-1"), msg


def test_listener_and_http_strings_that_json_cannot_hold_get_400(env):
    start(env)
    token = root_token(env, "open")
    c = Conn(env)
    status, _, raw = c.upgrade("/$hc/open?sb-hc-action=listen",
                               extra=f"ServiceBusAuthorization: {token}\r\nUser-Agent: \xff\r\n")
    assert status == 400, raw
    for extra in ("X-A: caf\xe9\r\n", "X-B: \xed\xa0\x80\r\n"):     # Latin-1, a surrogate
        c = Conn(env)
        c.send(f"GET /open/x HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode("latin-1"))
        assert c.response()[0] == 400
    assert env.relay.p.poll() is None


# ---- 2. one entity's token never opens another -----------------------------------

@pytest.mark.parametrize("host", [
    "localhost:443/a", "localhost/a", "localhost:443@evil", "localhost:", "localhost:0",
    "localhost:99999", "localhost:+443", "local host", "[::1", "[::1]x", "[::1]:", "[zz]:1",
    "a,b", "localhost:443:1", "user@localhost",
])
def test_host_header_is_parsed_strictly(env, host):
    start(env)
    token = root_token(env, "a")                    # a token for entity a only
    c = Conn(env)
    status, _, raw = c.upgrade("/$hc/b?sb-hc-action=listen", host=host,
                               extra=f"ServiceBusAuthorization: {token}\r\n")
    assert status == 400, (host, raw)


def test_token_for_one_entity_never_opens_another(env):
    start(env)
    token = root_token(env, "a")
    for host in (f"localhost:{env.relay_port}", "LOCALHOST", "localhost"):
        c = Conn(env)
        status, _, raw = c.upgrade("/$hc/b?sb-hc-action=listen", host=host,
                                   extra=f"ServiceBusAuthorization: {token}\r\n")
        assert status == 403, (host, raw)
        c = Conn(env)
        status, _, raw = c.upgrade("/$hc/a?sb-hc-action=listen", host=host,
                                   extra=f"ServiceBusAuthorization: {token}\r\n")
        assert status == 101, (host, raw)
    c = Conn(env)
    status, _, raw = c.upgrade("/$hc/a?sb-hc-action=listen",
                               extra=f"ServiceBusAuthorization: {token}\r\nHost: other\r\n")
    assert status == 400, raw                         # two Host headers


def test_resource_comes_from_the_configured_host_name(env):
    start(env, 'hosts = [ "relay.test" ];\n')
    kn, key = root_creds(env)
    token = sas("http://relay.test/a", kn, key)
    c = Conn(env)
    status, _, raw = c.upgrade("/$hc/a?sb-hc-action=listen", host="RELAY.test:443",
                               extra=f"ServiceBusAuthorization: {token}\r\n")
    assert status == 101, raw
    for host in ("localhost", "relay.test.evil", "relay.test:443/a"):
        c = Conn(env)
        status, _, _ = c.upgrade("/$hc/b?sb-hc-action=listen", host=host,
                                 extra=f"ServiceBusAuthorization: {token}\r\n")
        assert status in (400, 404), host


# ---- 3. rendezvous addresses come from the relay, not from a client's Host -----------

def test_clients_host_never_steers_a_listener(env):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    own = f"wss://localhost:{env.relay_port}/$hc/open?"
    c = Conn(env)
    http_request(env, c, "/open/x", host="evil.example:9")
    msg = lst.json()["request"]
    assert msg["address"].startswith(own), msg["address"]
    respond(lst, msg["id"], 204)
    assert c.response()[0] == 204
    big = Conn(env)
    http_request(env, big, "/open/upload", host="evil.example:9", body=b"x" * 100000)
    msg = lst.json()["request"]
    assert msg["address"].startswith(own), msg["address"]
    s = async_sender(env, "open", extra="X-Forwarded-Host: evil.example\r\n")
    msg = lst.json()["accept"]
    assert msg["address"].startswith(own), msg["address"]


# ---- 4. lifetimes -------------------------------------------------------------------------

def test_connection_that_carried_http_cannot_become_a_listener(env):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    c = Conn(env)
    http_request(env, c, "/open/x")
    msg = lst.json()["request"]
    respond(lst, msg["id"], 200, b"hi", {"Content-Length": "2"})
    assert c.response()[0] == 200
    status, _, raw = c.upgrade("/$hc/open?sb-hc-action=listen",
                               extra=f"ServiceBusAuthorization: {root_token(env, 'open')}\r\n")
    assert status == 400, raw
    # Requests of others still go to the real listener.
    d = Conn(env)
    http_request(env, d, "/open/y")
    msg = lst.json()["request"]
    respond(lst, msg["id"], 204)
    assert d.response()[0] == 204
    assert env.relay.p.poll() is None


def serve_over_rendezvous(env, chan):
    """A large request arrives as a bare address; answer it over the
    rendezvous. Returns the rendezvous connection."""
    ask = chan.json()["request"]
    assert "method" not in ask, ask
    rdv, (status, _, raw) = rendezvous(env, ask["address"])
    assert status == 101, raw
    req = rdv.json()["request"]
    op, body = rdv.ws_message()
    assert op == 2 and len(body) == 100000
    respond(rdv, req["id"], 200, b"ok", {"Content-Length": "2"})
    return rdv


def test_reused_rendezvous_carries_only_its_own_hybrid_connection(env):
    start(env)
    l1 = listen(env, "web1", root_token(env, "web1"))
    l2 = listen(env, "web2", root_token(env, "web2"))
    c = Conn(env)
    http_request(env, c, "/web1/upload", body=b"x" * 100000)
    rdv = serve_over_rendezvous(env, l1)
    assert c.response()[0] == 200
    http_request(env, c, "/web2/secret")           # same client connection, other tenant
    msg = l2.json()["request"]
    assert msg["requestTarget"] == "/web2/secret", msg
    respond(l2, msg["id"], 204)
    assert c.response()[0] == 204
    rdv.s.settimeout(0.5)
    try:
        op, data = rdv.ws_message()
        assert op == 8, f"web1's rendezvous was sent {data[:200]!r}"
    except (socket.timeout, EOFError):
        pass


def test_closing_connection_is_aborted_after_close_timeout(env):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    base = relay_fds(env)
    s = async_sender(env, "open")
    acc = lst.json()["accept"]
    rdv, (status, _, _) = rendezvous(env, acc["address"])
    assert status == 101
    s["thread"].join(5)
    assert s["status"] == 101
    # The listener's side pushes 8 MB at a sender that reads nothing, until
    # the relay's queue towards the sender is full ...
    chunk = frame(2, b"z" * 65536, mask=True)
    rdv.s.settimeout(3)
    try:
        for _ in range(128):
            rdv.send(chunk)
    except (socket.timeout, OSError):
        pass
    # ... then the sender breaks the protocol: the relay closes it, but the
    # queue in front of its close frame never drains.
    s["conn"].send(frame(3, b"reserved opcode"))
    wait_for(lambda: relay_fds(env) <= base, timeout=2 + 6, what="the relay to drop the pair")
    assert env.relay.p.poll() is None


def choke(conn, seconds=3.0):
    """Send pings and read nothing until the relay's writes to us back up."""
    conn.s.settimeout(0.2)
    ping = frame(9, b"p" * 125, mask=True) * 512
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            conn.send(ping)
        except (socket.timeout, BlockingIOError):
            break
        except OSError:
            break


def all_reach(env, good, n=6):
    """n senders, every one accepted by the good listener."""
    senders = [async_sender(env, "open") for _ in range(n)]
    for _ in senders:
        acc = good.json()["accept"]
        rendezvous(env, acc["address"])
    for s in senders:
        s["thread"].join(10)
        assert s["status"] == 101, s["status"]


def test_choked_listener_is_never_picked(env):
    start(env)
    good = listen(env, "open", root_token(env, "open"))
    bad = listen(env, "open", root_token(env, "open"))
    choke(bad)
    all_reach(env, good)


def test_closing_listener_is_never_picked(env):
    start(env)
    good = listen(env, "open", root_token(env, "open"))
    bad = listen(env, "open", root_token(env, "open"))
    choke(bad, 1.5)
    try:
        bad.send(frame(8, b"\x03\xe8", mask=True))
    except OSError:
        pass
    all_reach(env, good)


def test_only_choked_listeners_means_503(env):
    start(env)
    bad = listen(env, "open", root_token(env, "open"))
    choke(bad)
    c, status, _ = sender(env, "open")
    assert status == 503
    c = Conn(env)
    http_request(env, c, "/open/x")
    assert c.response()[0] == 503


# ---- 5. bounded memory ------------------------------------------------------------------

def test_ping_storm_without_reading_keeps_memory_flat(env):
    start(env)
    bad = listen(env, "open", root_token(env, "open"))
    before = relay_rss_kib(env)
    bad.s.settimeout(30)
    storm = frame(9, b"p" * 125, mask=True) * 4096        # ~540 KB a write
    sent = 0
    try:
        while sent < 64 << 20:
            bad.send(storm)
            sent += len(storm)
    except (socket.timeout, OSError):
        pass
    grown = relay_rss_kib(env) - before
    assert grown < 8 * 1024 * MEM_FACTOR, f"relay grew {grown} KiB after {sent} bytes of pings"
    assert env.relay.p.poll() is None


def test_pending_accepts_are_capped_per_hybrid_connection(env):
    start(env)
    tok = sas("http://localhost/a", "a-listen", A_LISTEN_KEY)
    mute = listen(env, "a", tok)                      # reads accepts, answers none
    send_tok = sas("http://localhost/a", "send", SEND_KEY)
    hdr = f"ServiceBusAuthorization: {send_tok}\r\n"
    waiting = [async_sender(env, "a", extra=hdr) for _ in range(8)]
    for _ in waiting:
        mute.json()
    over = [sender(env, "a", extra=hdr)[1] for _ in range(4)]
    assert over == [503] * 4, over
    # Other hybrid connections are still served at once.
    assert honest_pair_works(env)
    for s in waiting:
        s["thread"].join(10)
        assert s["status"] == 504


def count_cut(socks, wait=0.7):
    """How many of socks the relay has closed by now (checked without waiting
    on each, so header_timeout cannot close them meanwhile)."""
    time.sleep(wait)
    cut = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_DONTWAIT) == b"":
                cut += 1
        except BlockingIOError:
            pass
        except OSError:
            cut += 1
    return cut


def test_connections_per_source_are_capped(env):
    start(env)
    held = [socket.create_connection(("127.0.0.1", env.relay_port), source_address=("127.0.0.9", 0))
            for _ in range(80)]
    cut = count_cut(held)
    assert cut >= 20, f"only {cut} of 80 connections from one source were refused"
    # Another source is served meanwhile.
    lst = listen(env, "open", root_token(env, "open"), source="127.0.0.10")
    s = async_sender(env, "open")
    acc = lst.json()["accept"]
    rendezvous(env, acc["address"], source="127.0.0.10")
    s["thread"].join(10)
    assert s["status"] == 101
    for h in held:
        h.close()


def test_total_connections_are_capped(env):
    start(env, "max_connections = 40;\n")
    held = [socket.create_connection(("127.0.0.1", env.relay_port),
                                     source_address=(f"127.0.1.{i % 20 + 1}", 0)) for i in range(60)]
    cut = count_cut(held)
    assert cut >= 20, f"only {cut} of 60 connections were refused"
    for s in held:
        s.close()
    wait_for(lambda: count_cut([socket.create_connection(("127.0.0.1", env.relay_port))], 0.3) == 0,
             timeout=5, what="the relay to accept again")


# ---- 7. listener-supplied text --------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "&sb-hc-statusCode=403&sb-hc-statusDescription=no%0D%0AX-Injected%3A%201",
    "&sb-hc-statusCode=101&sb-hc-statusDescription=Switching",
    "&statusCode=200",
    "&sb-hc-statusCode=700",
])
def test_listener_rejection_text_is_checked(env, query):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    s = async_sender(env, "open")
    acc = lst.json()["accept"]
    rdv, (status, _, _) = rendezvous(env, acc["address"] + query)
    assert status == 400
    s["thread"].join(10)
    assert s["status"] == 502, s["status"]
    assert "x-injected" not in s["headers"]


def test_listener_rejection_with_a_clean_reason_reaches_the_sender(env):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    s = async_sender(env, "open")
    acc = lst.json()["accept"]
    rdv, (status, _, _) = rendezvous(
        env, acc["address"] + "&sb-hc-statusCode=403&sb-hc-statusDescription=Go%20away")
    assert status == 410
    s["thread"].join(10)
    assert s["status"] == 403


def test_listener_subprotocol_must_be_one_the_sender_offered(env):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    s = async_sender(env, "open", extra="Sec-WebSocket-Protocol: chat, superchat\r\n")
    acc = lst.json()["accept"]
    rdv, (status, hdrs, _) = rendezvous(env, acc["address"], extra="Sec-WebSocket-Protocol: evil\r\n")
    assert status == 400
    s["thread"].join(10)
    assert s["status"] == 502 and "sec-websocket-protocol" not in s["headers"]
    s = async_sender(env, "open", extra="Sec-WebSocket-Protocol: chat, superchat\r\n")
    acc = lst.json()["accept"]
    rdv, (status, hdrs, _) = rendezvous(env, acc["address"],
                                        extra="Sec-WebSocket-Protocol: superchat\r\n")
    assert status == 101 and hdrs["sec-websocket-protocol"] == "superchat"
    s["thread"].join(10)
    assert s["status"] == 101 and s["headers"]["sec-websocket-protocol"] == "superchat"


@pytest.mark.parametrize("code", [100, 101, 199, 600, 999, "abc", None])
def test_bad_listener_response_fails_only_that_request(env, code):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    c = Conn(env)
    http_request(env, c, "/open/x")
    msg = lst.json()["request"]
    resp = {"requestId": msg["id"], "body": False}
    if code is not None:
        resp["statusCode"] = code
    lst.send_json({"response": resp})
    t0 = time.monotonic()
    status, _, raw, _ = c.response()
    assert status == 502 and time.monotonic() - t0 < 3, raw
    # The listener's control channel still serves the next request.
    d = Conn(env)
    http_request(env, d, "/open/y")
    msg = lst.json()["request"]
    respond(lst, msg["id"], 204)
    assert d.response()[0] == 204


@pytest.mark.parametrize("head", [
    b"GET /open/x HTTP/1.1\r\nHost: localhost\r\nX: a\x00b\r\n\r\n",
    b"GET /open/x HTTP/1.1\r\nHost: localhost\r\nX: a\nY: b\r\n\r\n",
    b"GET /open/x HTTP/1.1\r\nHost: localhost\r\nX: a\rY: b\r\n\r\n",
    b"GET /open/x HTTP/1.1\nHost: localhost\r\n\r\n",
    b"POST /open/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc",
    b"POST /open/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"POST /open/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    b"POST /open/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /open/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"GET http://localhost/open/x HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /open/\xff HTTP/1.1\r\nHost: localhost\r\n\r\n",
])
def test_http_heads_are_parsed_strictly(env, head):
    start(env)
    lst = listen(env, "open", root_token(env, "open"))
    c = Conn(env)
    c.send(head)
    status, _, raw, _ = c.response()
    assert status == 400, (head, raw)
    lst.s.settimeout(0.3)
    with pytest.raises(socket.timeout):
        lst.json()


# ---- 8. tokens -----------------------------------------------------------------------------

def test_absurd_expiry_does_not_overflow(env):
    start(env)
    tok = root_token(env, "open", expiry=9223372036854775807)
    lst = listen(env, "open", tok)
    time.sleep(2)
    s = async_sender(env, "open")
    acc = lst.json()["accept"]
    assert acc["id"]


def test_renewal_at_expiry_gets_a_grace_period(env):
    start(env)
    se = int(time.time()) + 3
    lst = listen(env, "open", root_token(env, "open", expiry=se))
    mute = listen(env, "a", sas("http://localhost/a", "a-listen", A_LISTEN_KEY, expiry=se))
    while time.time() < se + 1.5:                    # the .NET SDK renews at expiry
        time.sleep(0.1)
    lst.send_json({"renewToken": {"token": root_token(env, "open", ttl=3600)}})
    time.sleep(1)
    s = async_sender(env, "open")
    assert "accept" in lst.json()
    # Without a renewal the channel is closed with 1008 soon after the grace period.
    mute.s.settimeout(15)
    op, payload = mute.ws_message()
    assert op == 8 and payload[:2] == b"\x03\xf0", payload
    assert time.time() < se + 12


# ---- the whole relay under a mixed attack --------------------------------------------------

def test_garbage_floods_ping_storms_and_half_open_connections_from_many_sources(env):
    start(env)
    kn, key = root_creds(env)
    honest = node(env, "ws_listener.js", uri(env, "b", "listen"), kn, key, "H", tag="honest")
    honest.wait_log(r"H listening", timeout=20)
    time.sleep(0.5)
    rss0, fds0 = relay_rss_kib(env), relay_fds(env)
    attackers = []
    stop = threading.Event()

    def attack(i):
        src = f"127.0.2.{i + 1}"
        mine = []
        try:
            for _ in range(8):                        # half-open: TCP, then nothing
                mine.append(socket.create_connection(("127.0.0.1", env.relay_port),
                                                     source_address=(src, 0)))
            for _ in range(4):                        # garbage after TLS
                c = Conn(env, source=src)
                c.send(os.urandom(3000))
                mine.append(c.s)
            storm = listen(env, "open", root_token(env, "open"), source=src)
            mine.append(storm.s)
            choke(storm, 2)
            for _ in range(4):                        # senders nobody accepts
                c = Conn(env, source=src)
                c.send(b"GET /$hc/a?sb-hc-action=connect HTTP/1.1\r\nHost: localhost\r\n"
                       b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       b"Sec-WebSocket-Version: 13\r\n\r\n")
                mine.append(c.s)
        except OSError:
            pass
        stop.wait(20)
        for s in mine:
            try:
                s.close()
            except OSError:
                pass

    for i in range(20):
        t = threading.Thread(target=attack, args=(i,), daemon=True)
        t.start()
        attackers.append(t)
    time.sleep(3)
    # The honest tenant is served in the middle of it all.
    rc, out = run_node(env, "ws_sender.js", uri(env, "b", "connect"), kn, key, "200000", "5")
    assert rc == 0 and "ok 5" in out, out
    peak = relay_rss_kib(env)
    stop.set()
    for t in attackers:
        t.join(30)
    wait_for(lambda: relay_fds(env) <= fds0 + 2, timeout=15, what="the relay's descriptors to "
             "come back")
    rss1 = relay_rss_kib(env)
    print(f"relay RSS {rss0} KiB before, {peak} KiB under attack, {rss1} KiB after; "
          f"descriptors {fds0} before, {relay_fds(env)} after")
    assert peak - rss0 < 48 * 1024 * MEM_FACTOR, (rss0, peak)
    assert rss1 - rss0 < 16 * 1024 * MEM_FACTOR, (rss0, rss1)
    assert env.relay.p.poll() is None
