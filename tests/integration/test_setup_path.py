"""What a new tunnel's set-up does before its first byte: connections to the
relay opened ahead of need (bounded, dropped when idle), resumed TLS
sessions, and a relay whose new process no longer knows the old tickets."""
import os
import re
import select
import socket
import ssl

from conftest import echo_server, free_port, round_trip, wait_for

PER_KEY = 2          # RELAY_POOL_PER_KEY
IDLE_S = 15          # RELAY_POOL_IDLE_S


def relay_conns(pid, relay_port):
    """Established TCP connections of process pid to the relay's port."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            inodes.add(m.group(1))
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            remote_port = int(cols[2].split(":")[1], 16)
            if cols[3] == "01" and remote_port == relay_port and cols[9] in inodes:
                n += 1
    return n


def pair(env):
    target, local = free_port(), free_port()
    echo_server(target)
    t = env.listener("t", "-T", f"db:{target}")
    l = env.sender("l", local, "-L", f"127.0.0.1:{local}:db")
    return t, l, local


def test_next_tunnels_take_connections_opened_ahead(env):
    env.start_relay()
    t, l, local = pair(env)
    assert round_trip(local, b"first") == b"first"
    # Both bridges keep spares once a tunnel has used the relay...
    l.wait_log(r"opened ahead of need", count=PER_KEY)
    t.wait_log(r"opened ahead of need", count=PER_KEY)
    for i in range(5):
        assert round_trip(local, b"next %d" % i) == b"next %d" % i
        # Each tunnel that ends opens a spare for the next; waiting for it
        # keeps a loaded machine from racing the next tunnel past it.
        l.wait_log(r"opened ahead of need", count=PER_KEY + i + 1)
        t.wait_log(r"opened ahead of need", count=PER_KEY + i + 1)
    # ...and the next tunnels go out on them, sender and rendezvous alike,
    # with the relay's certificate checked when each was opened.
    l.wait_log(r"opened ahead, now in use", count=5)
    t.wait_log(r"opened ahead, now in use", count=5)
    assert "full handshake" in l.text()           # the very first one
    assert re.search(r"TLS with localhost: TLSv1\.3, resumed", l.text())
    assert re.search(r"TLS with localhost: TLSv1\.3, resumed", t.text())


def test_every_tunnel_after_the_first_resumes_its_tls_session(env):
    """The session cache keeps copies: a connection that ends in a TLS
    error (OpenSSL then marks its session unresumable) does not cost the
    next one a full handshake."""
    env.start_relay()
    t, l, local = pair(env)
    for i in range(40):
        assert round_trip(local, b"r%d" % i) == b"r%d" % i
    l.wait_log(r"tunnel closed", count=40)
    # One full handshake each: the sender's first tunnel, the listener's
    # control channel. Everything after it is resumed.
    assert l.text().count("full handshake") == 1, l.text().count("full handshake")
    assert t.text().count("full handshake") == 1, t.text().count("full handshake")
    assert l.text().count(", resumed") >= 40


def tls_exchange(env, ctx, session=None):
    """One TLS connection to the relay (Python's own TLS client), through to
    an HTTP answer so that tickets sent after the handshake are read."""
    with socket.create_connection(("127.0.0.1", env.relay_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
            return s.session, s.session_reused


def test_a_resumed_connection_keeps_its_ticket(env):
    """The relay gives a full handshake tickets and a resumed one none: the
    client's next connection resumes with the same ticket (its session id is
    the ticket's hash), and each connection holds no session of its own."""
    env.start_relay()
    ctx = ssl.create_default_context(cafile=env.ca)
    first, reused = tls_exchange(env, ctx)
    assert not reused and first.has_ticket
    sess = first
    for _ in range(3):
        sess, reused = tls_exchange(env, ctx, sess)
        assert reused
        assert sess.id == first.id, "the relay sent a new ticket on a resumed connection"


def test_spares_are_bounded_and_closed_when_idle(env):
    env.start_relay()
    t, l, local = pair(env)
    for i in range(12):
        assert round_trip(local, b"x%d" % i) == b"x%d" % i
    pid_l, pid_t, port = l.p.pid, t.p.pid, env.relay_port
    # Every tunnel has ended: what is left open are the spares (and the
    # listener's control channel), never more than the bound.
    wait_for(lambda: relay_conns(pid_l, port) == PER_KEY, timeout=10, what="the sender's spares")
    wait_for(lambda: relay_conns(pid_t, port) == 1 + PER_KEY, timeout=10,
             what="the listener's spares")
    # Unused, they are closed after their idle time and not replaced.
    wait_for(lambda: relay_conns(pid_l, port) == 0, timeout=IDLE_S + 20,
             what="the sender's idle spares to close")
    wait_for(lambda: relay_conns(pid_t, port) == 1, timeout=IDLE_S + 20,
             what="the listener's idle spares to close")
    # A tunnel after that still works: connected afresh.
    n_fresh = l.text().count("full handshake") + l.text().count("resumed")
    assert round_trip(local, b"later") == b"later"
    assert l.text().count("full handshake") + l.text().count("resumed") > n_fresh


def test_restarted_relay_refuses_old_tickets_and_tunnels_work(env):
    port = free_port()
    env.start_relay(port)
    t, l, local = pair(env)
    assert round_trip(local, b"one") == b"one"
    assert round_trip(local, b"two") == b"two"
    assert re.search(r"TLS with localhost: TLSv1\.3, resumed", l.text())
    # A new relay process: same certificate and key, new ticket key.
    env.relay.stop()
    t.wait_log(r"listener offline")
    full_before = l.text().count("full handshake")
    env.start_relay(port)
    t.wait_log(r"listener online", count=2, timeout=15)
    # The spares to the old process are gone with it; the session tickets
    # it issued are refused by the new one, so the next tunnel makes a
    # full handshake (certificate verified again) and carries data.
    assert round_trip(local, b"three") == b"three"
    wait_for(lambda: l.text().count("full handshake") > full_before, timeout=5,
             what="a full handshake with the new relay")
    assert round_trip(local, b"four") == b"four"


def test_client_bytes_go_with_the_preamble_in_order(env):
    """A client that speaks first: what it sent before the relay answered
    goes out with the preamble, and what follows comes after it, in order."""
    env.start_relay()
    t, l, local = pair(env)
    for i in range(5):
        with socket.create_connection(("127.0.0.1", local), timeout=30) as c:
            msg = b"hello %d" % i
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = c.recv(100)
                assert b, "closed before the echo"
                got += b
            assert got == msg
    # The client's bytes are in its socket long before the relay's answer.
    assert re.search(r"\d+ bytes from the client go with the preamble", l.text())
    # More than fits with the preamble: the rest follows it, in order.
    data = os.urandom(3 << 20)
    assert round_trip(local, data) == data


def test_server_speaks_first_no_early_bytes(env):
    """A client that waits for the server's banner sends nothing early; the
    tunnel opens as before."""
    env.start_relay()
    target, local = free_port(), free_port()
    echo_server(target, banner=b"220 ready\r\n")
    env.listener("t", "-T", f"db:{target}")
    l = env.sender("l", local, "-L", f"127.0.0.1:{local}:db")
    with socket.create_connection(("127.0.0.1", local), timeout=30) as c:
        got = b""
        while not got.endswith(b"\r\n"):
            b = c.recv(100)
            assert b, "closed before the banner"
            got += b
        assert got == b"220 ready\r\n"
        c.sendall(b"QUIT\r\n")
        got = b""
        while len(got) < 6:
            got += c.recv(100)
        assert got == b"QUIT\r\n"
    l.wait_log(r"tunnel closed")
    assert "go with the preamble" not in l.text()


def test_early_bytes_for_an_unknown_port_name_reach_no_target(env):
    """The listener has no binding for the port name asked: the bytes that
    came with the preamble go nowhere, and the client is closed."""
    env.start_relay()
    target, local = free_port(), free_port()
    srv = socket.socket()
    srv.bind(("127.0.0.1", target))
    srv.listen(4)
    t = env.listener("t", "-T", f"db:web/127.0.0.1:{target}")
    l = env.sender("l", local, "-L", f"127.0.0.1:{local}/nosuch:db")
    # The client's bytes are in its socket long before the relay answers;
    # a few tries make that certain on a loaded machine.
    for i in range(1, 6):
        with socket.create_connection(("127.0.0.1", local), timeout=30) as c:
            c.sendall(b"secret")
            assert c.recv(100) == b""
        t.wait_log(r'no binding for port name "nosuch"', count=i)
        l.wait_log(r"tunnel closed|failed|refused|closed", count=i)
        if "go with the preamble" in l.text():
            break
    l.wait_log(r"go with the preamble")
    dialled, _, _ = select.select([srv], [], [], 0.5)
    srv.close()
    assert not dialled, "the target was dialled"
