"""UDP datagrams read in one wakeup share TLS writes on every hop; each stays
its own websocket message, whole, in the boundaries it was sent with."""
import os
import random
import socket
import sys
import threading
import time

from conftest import free_port, udp_echo_server, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "conformance"))
from hcraw import frame, listen, rendezvous, sas  # noqa: E402

# Around every length the framing changes at: the websocket header (the
# 2-byte length makes 124 bytes of datagram a 126-byte message), the
# relay's moved frames (4 KiB), a TLS record (16 KiB), the largest IPv4
# datagram.
SIZES = (1, 2, 3, 5, 64, 122, 123, 124, 125, 126, 600, 1200, 1200, 1200, 1400, 4093, 4094,
         4095, 9000, 16380, 16383, 16384, 30000, 65507)
COUNT = 2000
BURST = 16


def payloads(seed):
    """COUNT distinct datagrams: a 4-byte number first where it fits, random after."""
    rnd = random.Random(seed)
    out = []
    for i in range(COUNT):
        n = SIZES[i % len(SIZES)]
        head = i.to_bytes(4, "big")[-n:] if n < 4 else i.to_bytes(4, "big")
        out.append(head + rnd.randbytes(n - len(head)))
    return out


def collect(sock, got, stop):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            got.append(sock.recv(65535))
        except socket.timeout:
            continue
        except OSError:
            return


def settle(got, want, timeout=20, quiet=1.0):
    """Until want have come or nothing more came for quiet seconds."""
    end, last, n = time.monotonic() + timeout, time.monotonic(), 0
    while len(got) < want and time.monotonic() < end:
        if len(got) != n:
            n, last = len(got), time.monotonic()
        elif time.monotonic() - last > quiet:
            return
        time.sleep(0.02)


def send_bursts(sock, to, msgs, pause=0.01):
    """BURST datagrams back to back (one wakeup's read), then a pause."""
    for i in range(0, len(msgs), BURST):
        for m in msgs[i:i + BURST]:
            sock.sendto(m, to)
        time.sleep(pause)


def test_udp_burst_comes_back_whole_and_exact(env):
    env.start_relay()
    target, local = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    udp_echo_server(target)
    env.listener("t", "-T", f"b:burst/localhost:{target}U")
    env.bridge("l", "-L", f"127.0.0.1:{local}U/burst:b").wait_log(r"listening on")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    c.bind(("127.0.0.1", 0))
    # The flow's first datagram waits for its tunnel; the burst follows once it is open.
    c.settimeout(0.5)
    for _ in range(40):
        c.sendto(b"\xff" * 7, ("127.0.0.1", local))
        try:
            if c.recv(65535) == b"\xff" * 7:
                break
        except socket.timeout:
            continue
    else:
        raise AssertionError("the flow never opened")
    msgs = payloads(16)
    sent = set(msgs)
    got, stop = [], threading.Event()
    rx = env.thread(collect, c, got, stop)
    send_bursts(c, ("127.0.0.1", local), msgs)
    settle(got, COUNT)
    stop.set()
    rx.join(5)
    stray = [g for g in got if g not in sent and g != b"\xff" * 7]
    assert not stray, f"{len(stray)} datagrams merged, split or changed, e.g. " \
                      f"{[len(g) for g in stray[:5]]} bytes"
    back = set(got) & sent
    print(f"udp burst: {len(back)} of {COUNT} came back")
    assert len(back) >= COUNT * 0.6, f"only {len(back)} of {COUNT} came back"
    # Every size made it at least once: none is cut or refused on the way.
    assert {len(m) for m in back} == set(SIZES)


def hc_token(env, name):
    kn = env.conn_str.split("SharedAccessKeyName=")[1].split(";")[0]
    key = env.conn_str.split("SharedAccessKey=")[1].split(";")[0]
    return sas(f"http://localhost/{name}", kn, key)


def test_each_datagram_is_one_websocket_message_on_the_wire(env):
    """A raw listener on the relay reads -L's tunnel message by message:
    each a 2-byte length and that many bytes, in order (the relay may cut a
    message into frames where its reads cut it, as it always has); what it
    sends back, several messages per TLS write, reaches the client as the
    same datagrams."""
    env.start_relay()
    local = free_port(socket.SOCK_DGRAM)
    lst = listen(env, "rawu", hc_token(env, "rawu"))
    env.bridge("l", "-L", f"127.0.0.1:{local}U/p1:rawu").wait_log(r"listening on")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    c.bind(("127.0.0.1", 0))
    msgs = payloads(17)[:400]
    c.sendto(msgs[0], ("127.0.0.1", local))
    accept = lst.json()["accept"]
    rdv, (status, _, raw) = rendezvous(env, accept["address"])
    assert status == 101, raw
    op, fin, pre = rdv.ws_frame()
    assert (op, fin) == (2, True) and pre[:3] == b"\x01\x00\x01", pre
    rdv.send(frame(2, b"\x01\x00\x01"))
    send_bursts(c, ("127.0.0.1", local), msgs[1:], pause=0.02)
    seen = []
    rdv.s.settimeout(10)
    while len(seen) < len(msgs):
        try:
            op, p = rdv.ws_message()
        except socket.timeout:
            break
        assert op == 2, f"message {len(seen)}: opcode {op}"
        assert len(p) >= 2 and int.from_bytes(p[:2], "big") == len(p) - 2, \
            f"message {len(seen)}: {len(p)} bytes framed as {int.from_bytes(p[:2], 'big')}"
        seen.append(p[2:])
    # In order, none merged or split; -L may drop under load, never reorder.
    it = iter(msgs)
    assert all(any(s == m for m in it) for s in seen), "datagrams out of order or changed"
    assert len(seen) >= len(msgs) * 0.6, f"only {len(seen)} of {len(msgs)} arrived"
    # Back: many messages in one write of ours; each becomes one datagram.
    replies = [b"r" + m[:1000] for m in seen[:64]]
    rdv.send(b"".join(frame(2, len(r).to_bytes(2, "big") + r) for r in replies))
    got, stop = [], threading.Event()
    rx = env.thread(collect, c, got, stop)
    wait_for(lambda: len(got) >= len(replies), timeout=10, what="the replies")
    # A frame cut across two messages (the original tool's -T may send so)
    # between whole ones, all in one write: in order, none lost or merged.
    cut = (len(b"cut" * 300).to_bytes(2, "big") + b"cut" * 300)
    rdv.send(frame(2, b"\x00\x01A") + frame(2, cut[:100]) + frame(2, cut[100:]) +
             frame(2, b"\x00\x01C"))
    wait_for(lambda: len(got) >= len(replies) + 3, timeout=10, what="the cut reply")
    stop.set()
    rx.join(5)
    assert got == replies + [b"A", b"cut" * 300, b"C"]
