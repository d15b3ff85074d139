"""What a new tunnel's set-up does before its first byte: connections to the
relay opened ahead of need (bounded, dropped when idle), resumed TLS
sessions, and a relay whose new process no longer knows the old tickets."""
import os
import re
import socket

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
    # ...and the next tunnels go out on them, sender and rendezvous alike,
    # with the relay's certificate checked when each was opened.
    l.wait_log(r"opened ahead, now in use", count=5)
    t.wait_log(r"opened ahead, now in use", count=5)
    assert "full handshake" in l.text()           # the very first one
    assert re.search(r"TLS with localhost: TLSv1\.3, resumed", l.text())
    assert re.search(r"TLS with localhost: TLSv1\.3, resumed", t.text())


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
