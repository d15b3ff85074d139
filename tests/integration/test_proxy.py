"""Both bridges through a real HTTP CONNECT proxy (tinyproxy, on loopback,
with a configuration of its own) to our relay: from the environment and
from the setting, with and without Basic authentication, and the ways a
proxy refuses. The proxy's own log says which connections went through it."""
import os
import re
import shutil
import signal
import json
import socket
import subprocess
import threading

import pytest

from conftest import BUILD, Proc, can_connect, echo_server, free_port, round_trip, wait_for
from test_daemon import request as ctl_request
from test_entra import bridge as entra_bridge
from test_setup_path import relay_conns
from test_entra import cred_env, echo, idp, pair, start_relay  # noqa: F401 (idp: a fixture)

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")
SECRET = "pr0xy-s3cret-pw"

class Tinyproxy:
    def __init__(self, env, auth=None):
        self.port = free_port()
        self.log_path = os.path.join(env.tmp, f"tinyproxy-{self.port}.log")
        conf = os.path.join(env.tmp, f"tinyproxy-{self.port}.conf")
        lines = [f"Port {self.port}", "Listen 127.0.0.1", "Timeout 60",
                 f'LogFile "{self.log_path}"', "LogLevel Connect", "MaxClients 100"]
        if auth:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = Proc(f"tinyproxy-{self.port}", [TINYPROXY, "-d", "-c", conf], env.tmp,
                         ours=False)
        env.procs.append(self.proc)
        wait_for(lambda: can_connect(self.port), what="tinyproxy to listen")
        self.url = f"http://127.0.0.1:{self.port}"

    def text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def connects(self, relay_port):
        return len(re.findall(rf"CONNECT localhost:{relay_port} HTTP/1\.1", self.text()))


def clean_env(**extra):
    e = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    e.update(extra)
    return e


def password_file(env, text=SECRET):
    path = os.path.join(env.tmp, "proxy-password")
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def bridges(env, *opts, listener_env=None, sender_env=None):
    """A -T and a -L bridge for one hybrid connection; returns the local port."""
    target, local = free_port(), free_port()
    env.srv = echo_server(target)
    env.listener("t", *opts, "-T", f"db:{target}", env=listener_env)
    env.sender("l", local, *opts, "-L", f"127.0.0.1:{local}:db", env=sender_env)
    return local


def carries(local):
    data = os.urandom(256 * 1024)
    assert round_trip(local, data) == data


def no_secret_anywhere(env):
    for p in env.procs:
        if p.ours:
            assert SECRET not in p.text(), f"{p.name} logged the proxy password"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert SECRET not in ps


def test_both_bridges_through_the_environments_proxy(env):
    env.start_relay()
    proxy = Tinyproxy(env)
    e = clean_env(https_proxy=proxy.url)
    local = bridges(env, listener_env=e, sender_env=e)
    carries(local)
    # listener control channel, the sender's tunnel and the rendezvous
    assert proxy.connects(env.relay_port) >= 3, proxy.text()


def test_no_connection_opened_ahead_goes_around_the_proxy(env):
    """Tunnels through a proxy take no spare connections: those would go to
    the relay directly, where a proxy may be the only way out."""
    env.start_relay()
    proxy = Tinyproxy(env)
    e = clean_env(https_proxy=proxy.url)
    local = bridges(env, listener_env=e, sender_env=e)
    for _ in range(4):
        carries(local)
    # control channel, then a sender's tunnel and a rendezvous per tunnel
    wait_for(lambda: proxy.connects(env.relay_port) >= 9, 10, what="every connection proxied")
    for p in env.procs:
        if p.ours and p.name in ("t", "l"):
            assert "opened ahead" not in p.text(), p.text()
            assert relay_conns(p.p.pid, env.relay_port) == 0


def test_authenticating_proxy_from_the_setting(env):
    env.start_relay()
    proxy = Tinyproxy(env, auth=("alice", SECRET))
    opts = ("-o", f"proxy:{proxy.url}", "-o", "proxy_user:alice", "-o",
            f"proxy_password_file:{password_file(env)}")
    local = bridges(env, *opts, listener_env=clean_env(), sender_env=clean_env())
    carries(local)
    assert proxy.connects(env.relay_port) >= 3, proxy.text()
    no_secret_anywhere(env)


# tinyproxy answers a CONNECT without credentials with 407 and one with a
# wrong password with 401: both are reported as the proxy said them.
@pytest.mark.parametrize("user,answer", [(None, "407 Proxy Authentication Required"),
                                         ("alice", "401 Unauthorized")])
def test_refusal_named_once_and_never_the_password(env, user, answer):
    env.start_relay()
    proxy = Tinyproxy(env, auth=("alice", "the-right-one"))
    opts = ["-o", f"proxy:{proxy.url}"]
    if user:
        opts += ["-o", f"proxy_user:{user}", "-o", f"proxy_password_file:{password_file(env)}"]
    b = env.bridge("t", *opts, "-T", f"db:{free_port()}", env=clean_env())
    b.wait_log(re.escape(answer))
    # the listener retries; tinyproxy sees each attempt, the log says it once
    wait_for(lambda: proxy.connects(env.relay_port) >= 3, timeout=30, what="more attempts")
    lines = [ln for ln in b.text().splitlines() if answer in ln and "debug:" not in ln]
    assert len(lines) == 1, lines
    assert f"proxy 127.0.0.1:{proxy.port} from the setting proxy refused the tunnel: " \
        f"{answer}" in lines[0]
    assert b.p.poll() is None
    no_secret_anywhere(env)


def test_sender_behind_a_wrong_password_tells_its_client(env):
    env.start_relay()
    proxy = Tinyproxy(env, auth=("alice", "the-right-one"))
    target, local = free_port(), free_port()
    env.srv = echo_server(target)
    env.listener("t", "-T", f"db:{target}", env=clean_env())
    s = env.sender("l", local, "-o", f"proxy:{proxy.url}", "-o", "proxy_user:alice", "-o",
                   f"proxy_password_file:{password_file(env)}", "-L",
                   f"127.0.0.1:{local}:db", env=clean_env())
    with socket.create_connection(("127.0.0.1", local), timeout=20) as c:
        c.settimeout(20)
        assert c.recv(10) == b""       # closed, not held open
    s.wait_log(rf"proxy 127\.0\.0\.1:{proxy.port} from the setting proxy refused the "
               r"tunnel: 401 Unauthorized")
    no_secret_anywhere(env)


def test_proxy_that_is_down(env):
    env.start_relay()
    dead = free_port()
    b = env.bridge("t", "-T", f"db:{free_port()}",
                   env=clean_env(HTTPS_PROXY=f"http://127.0.0.1:{dead}"))
    b.wait_log(rf"proxy 127\.0\.0\.1:{dead} from HTTPS_PROXY: Connection refused")
    assert b.p.poll() is None


def test_silent_proxy_times_out_within_connect_timeout(env):
    env.start_relay()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])   # takes the CONNECT, says nothing
            except OSError:
                pass

    env.thread(accept)
    port = srv.getsockname()[1]
    try:
        b = env.bridge("t", "-o", "connect_timeout:2", "-T", f"db:{free_port()}",
                       env=clean_env(all_proxy=f"http://127.0.0.1:{port}"))
        b.wait_log(r"timed out after 2 s awaiting the proxy's answer "
                   rf"\(proxy 127\.0\.0\.1:{port} from all_proxy\)", timeout=20)
    finally:
        stop.set()
        for c in held:
            c.close()
        srv.close()


def test_no_proxy_excludes_the_relay(env):
    env.start_relay()
    proxy = Tinyproxy(env)
    e = clean_env(https_proxy=proxy.url, no_proxy="localhost, 127.0.0.0/8")
    local = bridges(env, listener_env=e, sender_env=e)
    carries(local)
    assert "Request" not in proxy.text(), proxy.text()


def test_setting_overrides_the_environment(env):
    env.start_relay()
    proxy = Tinyproxy(env)
    dead = f"http://127.0.0.1:{free_port()}"
    # the environment names a proxy that is down; the setting the live one
    e = clean_env(https_proxy=dead, no_proxy="localhost")
    local = bridges(env, "-o", f"proxy:{proxy.url}", listener_env=e, sender_env=e)
    carries(local)
    assert proxy.connects(env.relay_port) >= 3, proxy.text()


def test_direct_setting_ignores_the_environments_proxy(env):
    env.start_relay()
    proxy = Tinyproxy(env)
    e = clean_env(https_proxy=proxy.url)
    local = bridges(env, "-o", "proxy:direct", listener_env=e, sender_env=e)
    carries(local)
    assert "Request" not in proxy.text(), proxy.text()


def test_a_forwards_own_proxy_setting(env):
    """Per forward: one through the proxy, one direct, in one daemon."""
    env.start_relay()
    proxy = Tinyproxy(env)
    target = free_port()
    env.srv = echo_server(target)
    env.listener("t", "-T", f"db:{target}", env=clean_env())
    a, b = free_port(), free_port()
    conf = os.path.join(env.tmp, "azbridge.conf")
    with open(conf, "w") as f:
        f.write(f'ca_file = "{env.ca}";\nstop_timeout = 1;\ncontrol_socket = "none";\n'
                f'connection_string = "{env.conn_str}";\nproxy = "{proxy.url}";\n'
                f'local_forward = (\n'
                f'  {{ name = "via"; relay = "db"; bind_address = "127.0.0.1"; '
                f'bind_port = {a}; }},\n'
                f'  {{ name = "direct"; relay = "db"; bind_address = "127.0.0.1"; '
                f'bind_port = {b}; proxy = "direct"; }}\n);\n')
    os.chmod(conf, 0o600)
    p = Proc("d", [os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-c", conf],
             env.tmp, clean_env())
    env.procs.append(p)
    p.wait_log(rf"listening on 127\.0\.0\.1:{b}\b")
    p.wait_log(rf"listening on 127\.0\.0\.1:{a}\b")
    carries(b)
    assert "Request" not in proxy.text(), proxy.text()
    carries(a)
    assert proxy.connects(env.relay_port) == 1, proxy.text()   # the sender's tunnel


def test_identity_endpoint_and_relay_through_all_proxy(env, idp):
    """The token request (http://) and the relay connections (https) both
    through all_proxy."""
    start_relay(env, idp)
    proxy = Tinyproxy(env)
    e = {k: v for k, v in cred_env(idp, "secret").items() if k not in PROXY_VARS}
    e["all_proxy"] = proxy.url
    lst, snd, port = pair(env, e, "environment")
    echo(port)
    assert re.search(rf"Request \(file descriptor \d+\): POST http://127\.0\.0\.1:{idp.port}/",
                     proxy.text()), proxy.text()
    assert len(re.findall(r"CONNECT 127\.0\.0\.1:\d+ HTTP/1\.1", proxy.text())) >= 3


def test_identity_endpoint_through_the_proxy_setting(env, idp):
    """libcurl is handed the setting (which it could not know of itself),
    with the credentials; the environment's proxy, which is down, is not
    used."""
    start_relay(env, idp)
    proxy = Tinyproxy(env, auth=("alice", SECRET))
    e = {k: v for k, v in cred_env(idp, "secret").items() if k not in PROXY_VARS}
    e["http_proxy"] = e["https_proxy"] = f"http://127.0.0.1:{free_port()}"
    target = free_port()
    echo_server(target)
    lst = entra_bridge(env, "listener", e, "-o", f"proxy:{proxy.url}", "-o", "proxy_user:alice",
                       "-o", f"proxy_password_file:{password_file(env)}", "-T",
                       f"db:127.0.0.1:{target}", credential="environment")
    lst.wait_log(r"listener online", timeout=30)
    assert re.search(rf"Request \(file descriptor \d+\): POST http://127\.0\.0\.1:{idp.port}/",
                     proxy.text()), proxy.text()
    no_secret_anywhere(env)


def test_bytes_after_the_proxys_answer_go_to_tls(env):
    """A proxy that sends a TLS alert right behind its 200: TLS sees it (the
    handshake fails on that alert) instead of the bytes being lost."""
    env.start_relay()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.5)
    stop = threading.Event()
    conns = []

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            conns.append(c)
            c.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                b = c.recv(4096)
                if not b:
                    break
                head += b
            # 200, then an alert record (fatal, internal_error) in the same write
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n\x15\x03\x03\x00\x02\x02\x50")

    env.thread(serve)
    try:
        b = env.bridge("t", "-T", f"db:{free_port()}",
                       env=clean_env(https_proxy=f"http://127.0.0.1:{srv.getsockname()[1]}"))
        b.wait_log(r"alert internal error", timeout=20)
        assert "listener online" not in b.text()
    finally:
        stop.set()
        for c in conns:
            c.close()
        srv.close()


def test_proxy_keys_refused_over_the_control_socket(env):
    """A request naming the proxy, its user or a password file could send
    any root-only file's first line, as a proxy password, to a proxy of the
    requester's choosing: like credentials, they live in files only."""
    env.start_relay()
    sock = os.path.join(env.tmp, "ctl.sock")
    d = env.bridge("d", "-o", f"control_socket:{sock}", "-L", f"127.0.0.1:{free_port()}:db",
                   env=clean_env())
    wait_for(lambda: os.path.exists(sock), what="the control socket")
    for key, value in (("proxy", "http://127.0.0.1:9"), ("proxy_user", "x"),
                       ("proxy_password_file", password_file(env))):
        out = ctl_request(sock, json.dumps({"cmd": "add", "runtime": True, "binding": {
            "direction": "local", "relay": "r1", "bind_port": free_port(),
            key: value}}).encode() + b"\n")
        assert out and out[0]["ok"] is False and key in out[0]["message"], out
    assert d.p.poll() is None


def test_reload_moves_a_forward_to_another_proxy(env):
    """A changed proxy setting rebuilds the forwards it applies to."""
    env.start_relay()
    proxy = Tinyproxy(env)
    target = free_port()
    env.srv = echo_server(target)
    conf = os.path.join(env.tmp, "azbridge.conf")

    def write(url):
        with open(conf, "w") as f:
            f.write(f'ca_file = "{env.ca}";\nstop_timeout = 1;\ncontrol_socket = "none";\n'
                    f'connection_string = "{env.conn_str}";\nproxy = "{url}";\n'
                    f'remote_forward = ( {{ name = "t"; relay = "db"; host = "127.0.0.1"; '
                    f'host_port = {target}; }} );\n')
        os.chmod(conf, 0o600)

    dead = free_port()
    write(f"http://127.0.0.1:{dead}")
    p = Proc("d", [os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-c", conf],
             env.tmp, clean_env())
    env.procs.append(p)
    p.wait_log(rf"proxy 127\.0\.0\.1:{dead} from the setting proxy: Connection refused")
    write(proxy.url)
    p.p.send_signal(signal.SIGHUP)
    p.wait_log(r"listener online", timeout=30)
    assert proxy.connects(env.relay_port) >= 1, proxy.text()


def test_relay_certificate_is_checked_through_the_tunnel(env):
    """TLS inside the tunnel verifies the relay as it would directly: with
    only the system's CAs the relay's development certificate is refused."""
    env.start_relay()
    proxy = Tinyproxy(env)
    b = env.bridge("t", "-o", "ca_file:/etc/ssl/certs/ca-certificates.crt", "-T",
                   f"db:{free_port()}", env=clean_env(https_proxy=proxy.url))
    b.wait_log(r"listener offline: .*TLS: unable to get local issuer certificate", timeout=20)
    assert proxy.connects(env.relay_port) >= 1, proxy.text()
    assert "listener online" not in b.text()
