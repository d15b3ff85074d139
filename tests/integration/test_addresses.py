"""Every address of the relay's name. Each bridge runs in a mount namespace of
its own whose /etc/hosts gives "localhost" (the name in the relay's
connection string and certificate) the addresses a test wants, in the order
getaddrinfo returns them; the relay listens on 127.0.0.2 only. An address
where nothing listens refuses at once; one whose listener's accept queue is
full drops SYNs silently, as a firewall would, so a connect there hangs.
The daemon tells at debug level (-v) which addresses it tried."""
import contextlib
import os
import re
import socket
import subprocess
import time

from conftest import echo_server, free_port
from test_tunnels import roundtrip

GOOD = "127.0.0.2"
SLACK = 8      # generous: a loaded 2-core machine, a sanitizer build


def private_hosts(env, name, lines):
    """A wrap for env.bridge(): the command runs with /etc/hosts replaced."""
    path = os.path.join(env.tmp, f"hosts-{name}")
    with open(path, "w") as f:
        f.write("".join(f"{addr} localhost\n" for addr in lines))
    wrap = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', path]
    # The test means nothing unless the resolver sees this order there.
    out = subprocess.run([*wrap, "getent", "ahosts", "localhost"], capture_output=True,
                         text=True, timeout=10).stdout
    seen = []
    for line in out.splitlines():
        addr = line.split()[0].removeprefix("::ffff:")
        if "STREAM" in line and addr not in seen:
            seen.append(addr)
    assert seen == list(lines), f"the resolver orders {seen}, the test needs {lines}"
    return wrap


def refuses(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam) as s:
        s.settimeout(5)
        try:
            s.connect((addr, port))
        except ConnectionRefusedError:
            return True
    return False


class SynDropper:
    """addr:port accepts one connection and nobody takes it off the queue:
    every SYN after that is dropped without an answer."""

    def __init__(self, addr, port):
        self.srv = socket.socket()
        self.srv.bind((addr, port))
        self.srv.listen(0)
        self.fill = socket.create_connection((addr, port), timeout=5)
        probe = socket.socket()
        probe.settimeout(1.5)
        t = time.monotonic()
        try:
            probe.connect((addr, port))
            raise AssertionError("the full queue took a connection")
        except socket.timeout:
            pass       # silent, as wanted
        finally:
            probe.close()
        assert time.monotonic() - t >= 1.4

    def close(self):
        self.fill.close()
        self.srv.close()


def bridge_both(env, name, wrap, target, local):
    """One daemon with a listener (-T) and a sender (-L) for the same relay
    name: the listener's control channel connects first, then every tunnel
    opens a sender and a rendezvous connection of its own."""
    return env.bridge(name, "-T", f"hc:127.0.0.1:{target}", "-L", f"127.0.0.1:{local}:hc",
                      wrap=wrap)


def test_refused_ipv6_then_ipv4_and_remembered(env):
    env.start_relay(host=GOOD)
    assert refuses("::1", env.relay_port)
    wrap = private_hosts(env, "a", ["::1", GOOD])
    target, local = free_port(), free_port()
    srv = echo_server(target)
    b = bridge_both(env, "b", wrap, target, local)
    b.wait_log(r"listener online", timeout=10 + SLACK)
    b.wait_log(rf"listening on 127\.0\.0\.1:{local}\b")
    refused = rf"localhost:{env.relay_port}: ::1: Connection refused"
    assert len(re.findall(refused, b.text())) == 1, b.text()
    connected = rf"localhost:{env.relay_port}: connected to {re.escape(GOOD)} \(address 2 of 2\)"
    assert len(re.findall(connected, b.text())) == 1, b.text()
    # Two tunnels: four more connections to the relay, all straight to GOOD.
    for i in range(2):
        data = os.urandom(100000)
        assert roundtrip(local, data, timeout=20) == data
    assert len(re.findall(refused, b.text())) == 1, b.text()
    assert len(re.findall(connected, b.text())) == 1, b.text()
    srv.close()


def test_silent_address_is_passed_over(env):
    env.start_relay(host=GOOD)
    drop = SynDropper("127.0.0.1", env.relay_port)
    try:
        wrap = private_hosts(env, "s", ["127.0.0.1", GOOD])
        target, local = free_port(), free_port()
        srv = echo_server(target)
        t0 = time.monotonic()
        # connect_timeout far above the attempt delay: only trying the next
        # address alongside the silent one brings the listener online early.
        b = bridge_both(env, "b", wrap, target, local)
        b.wait_log(r"listener online", timeout=SLACK)
        assert time.monotonic() - t0 < SLACK
        assert re.search(rf"no answer from 127\.0\.0\.1 within \d+ ms; trying "
                         rf"{re.escape(GOOD)} as well", b.text()), b.text()
        b.wait_log(rf"listening on 127\.0\.0\.1:{local}\b")
        tries = len(re.findall(r"no answer from 127\.0\.0\.1", b.text()))
        t1 = time.monotonic()
        data = os.urandom(100000)
        assert roundtrip(local, data, timeout=20) == data
        assert time.monotonic() - t1 < SLACK
        # Remembered: no tunnel connection waited on the silent address.
        assert len(re.findall(r"no answer from 127\.0\.0\.1", b.text())) == tries
        srv.close()
    finally:
        drop.close()


def test_every_address_failing_says_how_many(env):
    env.start_relay(host=GOOD)
    assert refuses("::1", env.relay_port) and refuses("127.0.0.3", env.relay_port)
    wrap = private_hosts(env, "f", ["::1", "127.0.0.3"])
    b = env.bridge("b", "-T", f"hc:127.0.0.1:{free_port()}", wrap=wrap)
    b.wait_log(r"2 addresses of localhost tried, last 127\.0\.0\.3: Connection refused",
               timeout=10 + SLACK)
    assert "listener online" not in b.text()


@contextlib.contextmanager
def silent_relay_name(env, name, timeout):
    """A listener bridge whose relay name has two addresses, both dropping
    SYNs, with connect_timeout timeout."""
    env.start_relay(host=GOOD)
    port = free_port()
    drops = [SynDropper(a, port) for a in ("127.0.0.3", "127.0.0.4")]
    try:
        wrap = private_hosts(env, name, ["127.0.0.3", "127.0.0.4"])
        cs = env.conn_str.replace(f"localhost:{env.relay_port}", f"localhost:{port}")
        yield env.bridge("b", "-o", f"connect_timeout:{timeout}", "-T",
                         f"hc:127.0.0.1:{free_port()}", cs=cs, wrap=wrap)
    finally:
        for d in drops:
            d.close()


def test_deadline_names_the_addresses_tried(env):
    """Only silent addresses: the connect timeout ends the attempts and says
    how far they got."""
    with silent_relay_name(env, "d", 2) as b:
        b.wait_log(r"timed out after 2 s connecting \(2 of 2 addresses of localhost tried, "
                   r"none answered\)", timeout=2 + SLACK)
        assert b.p.poll() is None


def test_stop_while_attempts_are_under_way(env):
    """SIGTERM with two attempts hanging on silent addresses: the daemon
    stops at once and cleanly (under ASan: nothing leaked)."""
    with silent_relay_name(env, "x", 60) as b:
        b.wait_log(r"no answer from 127\.0\.0\.3 within \d+ ms; trying 127\.0\.0\.4 as well",
                   timeout=SLACK)
        t = time.monotonic()
        assert b.stop() == 0
        assert time.monotonic() - t < SLACK


class SilentDns:
    """A name server on 127.0.0.77:53 that reads queries and never answers:
    a lookup through it hangs until the resolver gives up."""

    ADDR = "127.0.0.77"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ADDR, 53))

    def queries(self):
        self.sock.setblocking(False)
        n = 0
        with contextlib.suppress(BlockingIOError):
            for _ in range(1000):
                self.sock.recv(512)
                n += 1
        return n

    def close(self):
        self.sock.close()


def test_stop_while_the_relay_name_is_being_looked_up(env):
    """SIGTERM while the listener's first connection still waits for its
    name (no socket on the loop yet): the daemon stops cleanly; under ASan,
    with no use of the freed lookup. The lookup itself runs on the worker
    thread, which the exit waits for: the resolver's own timeout (2 s here)
    bounds it."""
    env.start_relay(host=GOOD)
    dns = SilentDns()
    try:
        hosts = os.path.join(env.tmp, "hosts-empty")
        resolv = os.path.join(env.tmp, "resolv-silent")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n")
        with open(resolv, "w") as f:
            f.write(f"nameserver {SilentDns.ADDR}\noptions timeout:2 attempts:1\n")
        wrap = ["unshare", "-m", "sh", "-c",
                'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && '
                'shift && exec "$@"', hosts, resolv]
        cs = env.conn_str.replace("localhost", "relay.lookup.test")
        b = env.bridge("b", "-T", f"hc:127.0.0.1:{free_port()}", cs=cs, wrap=wrap)
        deadline = time.monotonic() + SLACK
        while dns.queries() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert time.monotonic() < deadline, "the lookup never reached the silent name server"
        assert "listener online" not in b.text()
        assert b.stop() == 0, b.text()
    finally:
        dns.close()


def test_target_name_with_every_address(env):
    """A remote forward's target by name: the relay by its IP (in its
    certificate); "localhost" an IPv6 address that answers and an IPv4 one
    that refuses. One address per name took IPv4 and never connected."""
    env.start_relay()
    target, local = free_port(), free_port()
    assert refuses("127.0.0.3", target)
    wrap = private_hosts(env, "t", ["::1", "127.0.0.3"])
    srv = echo_server(target, host="::1", family=socket.AF_INET6)
    cs = env.conn_str.replace("sb://localhost:", "sb://127.0.0.1:")
    b = env.bridge("b", "-T", f"hc:localhost:{target}", "-L", f"127.0.0.1:{local}:hc", cs=cs,
                   wrap=wrap)
    b.wait_log(r"listener online", timeout=10 + SLACK)
    b.wait_log(rf"listening on 127\.0\.0\.1:{local}\b")
    for i in range(2):
        data = os.urandom(100000)
        assert roundtrip(local, data, timeout=20) == data
    srv.close()


def test_target_silent_address_is_passed_over(env):
    """The target's first address drops SYNs: the next starts beside it and
    the tunnel opens well before any connect timeout; the next tunnel goes
    straight to the one that answered."""
    env.start_relay()
    target, local = free_port(), free_port()
    drop = SynDropper("127.0.0.1", target)
    try:
        wrap = private_hosts(env, "u", ["127.0.0.1", "127.0.0.3"])
        srv = echo_server(target, host="127.0.0.3")
        cs = env.conn_str.replace("sb://localhost:", "sb://127.0.0.1:")
        b = env.bridge("b", "-T", f"hc:localhost:{target}", "-L", f"127.0.0.1:{local}:hc",
                       cs=cs, wrap=wrap)
        b.wait_log(r"listener online", timeout=10 + SLACK)
        b.wait_log(rf"listening on 127\.0\.0\.1:{local}\b")
        slow = rf"localhost:{target}: no answer from 127\.0\.0\.1 within \d+ ms"
        for i in range(2):
            t = time.monotonic()
            data = os.urandom(10000)
            assert roundtrip(local, data, timeout=20) == data
            assert time.monotonic() - t < SLACK
        assert len(re.findall(slow, b.text())) == 1, b.text()
        srv.close()
    finally:
        drop.close()

