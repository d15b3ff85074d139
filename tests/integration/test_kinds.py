"""What each kind of forward does through its own ops table, seen from
outside: HTTP requests answered by -H (502 when its web server is down) and
501 by plain forwards, UDP
flows that are tunnels (counted, their bytes payloads on both bridges), and
a sender's flows ending with its forward, on both bridges."""
import os
import socket
import subprocess
import time

from conftest import free_port, udp_echo_server, wait_for
from test_daemon import Daemon

OPEN_HCS = """
hybrid_connections = (
  { name = "web"; requires_client_authorization = false; },
  { name = "plain"; requires_client_authorization = false; }
);
"""


def open_relay(env):
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write(OPEN_HCS)
    os.chmod(path, 0o600)
    env.start_relay(extra=["--config", path])


def http_status(env, name):
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", env.ca, "-o", "/dev/null",
                        "-w", "%{http_code}", f"https://localhost:{env.relay_port}/{name}/x"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout.strip()


def test_http_requests_are_answered_by_http_forwards_and_501_by_others(env):
    open_relay(env)
    env.listener("h", "-H", f"web:http/127.0.0.1:{free_port()}")
    env.listener("t", "-T", f"plain:{free_port()}")
    assert http_status(env, "web") == "502"
    assert http_status(env, "plain") == "501"


def stats(d, name):
    _, out, _ = d.ctl("stats", name, check=0)
    return out["total"]


def udp_pair(env, target):
    t = Daemon(env, "t")
    t.write_main('remote_forward = ( { name = "ut"; relay = "r1"; host = "127.0.0.1"; '
                 f'port = {target}; udp = true; port_name = "u1"; }} );\n')
    t.start()
    wait_for(lambda: t.binding("ut")["state"] == "online", what="the UDP listener online")
    local = free_port(socket.SOCK_DGRAM)
    s = Daemon(env, "s")
    s.write_main('local_forward = ( { name = "us"; relay = "r1"; bind_address = "127.0.0.1"; '
                 f'bind_port = {local}; udp = true; port_name = "u1"; }} );\n')
    s.start()
    return t, s, local


def echoed(c, local, msg):
    """Send msg until its echo comes back (the first may race the flow's
    set-up); False after 40 tries."""
    for _ in range(40):
        c.sendto(msg, ("127.0.0.1", local))
        try:
            if c.recv(65535) == msg:
                return True
        except socket.timeout:
            continue
    return False


def test_udp_flows_are_tunnels_counted_in_payload_bytes(env):
    env.start_relay()
    target = free_port(socket.SOCK_DGRAM)
    udp_echo_server(target)
    t, s, local = udp_pair(env, target)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(0.5)
    sizes = (0, 1, 100, 1400, 9000)
    for n in sizes:
        assert echoed(c, local, bytes([n % 251]) * n), f"no echo of {n} bytes"
    c.close()
    # Payloads, as the local sides see them, the same on both bridges (the
    # 2-byte frame of each datagram is not counted); retries may repeat some.
    wait_for(lambda: stats(s, "us")["bytes_down"] == stats(t, "ut")["bytes_up"] and
             stats(s, "us")["bytes_up"] == stats(t, "ut")["bytes_down"], what="both counts")
    st, tt = stats(s, "us"), stats(t, "ut")
    assert sum(sizes) <= st["bytes_up"] <= 40 * sum(sizes), st
    assert st["tunnels_total"] == 1 and st["tunnels_open"] == 1, st
    assert tt["tunnels_total"] == 1 and tt["tunnels_open"] == 1, tt
    assert st["tunnels_failed"] == 0 and tt["tunnels_failed"] == 0, (st, tt)


def test_sender_flow_stop_ends_both_tunnels(env):
    """The sender's forward removed: its flow closes, and so does the
    listener's tunnel for it; both bridges keep running."""
    env.start_relay()
    target = free_port(socket.SOCK_DGRAM)
    udp_echo_server(target)
    t, s, local = udp_pair(env, target)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(0.5)
    assert echoed(c, local, b"hi")
    c.close()
    assert stats(t, "ut")["tunnels_open"] == 1
    s.write_main("")
    _, out, _ = s.ctl("reload", check=0)
    assert out["removed"] == ["us"], out
    wait_for(lambda: stats(t, "ut")["tunnels_open"] == 0, timeout=20,
             what="the listener's flow to end with the sender's")
    time.sleep(0.2)
    assert t.proc.p.poll() is None and s.proc.p.poll() is None
