"""Microsoft's own Hybrid Connections clients (npm hyco-ws and hyco-https,
pinned in package-lock.json) against azbridge-relayd: official listener to
official sender, load sharing, HTTP through hyco-https, and refusals with
the service's status codes."""
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess

import pytest

from conftest import ROOT, Proc

NODE_DIR = os.path.join(ROOT, "tests", "conformance")
SEND_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
LISTEN_KEY = base64.b64encode(secrets.token_bytes(32)).decode()

CONFIG = """
header_timeout = 2;
hybrid_connections = (
  { name = "hyco"; },
  { name = "web"; },
  { name = "open"; requires_client_authorization = false; }
);
rules = (
  { name = "sendonly"; key = "%s"; rights = [ "Send" ]; },
  { name = "listenonly"; key = "%s"; rights = [ "Listen" ]; }
);
""" % (SEND_KEY, LISTEN_KEY)


def node_env(env):
    return dict(os.environ, NODE_EXTRA_CA_CERTS=env.ca,
                NODE_PATH=os.path.join(NODE_DIR, "node_modules"))


def root_creds(env):
    m = re.search(r"SharedAccessKeyName=([^;]+);SharedAccessKey=(\S+)", env.conn_str)
    return m.group(1), m.group(2)


def start(env):
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write(CONFIG)
    os.chmod(path, 0o600)
    env.start_relay(extra=["--config", path, "--request-timeout", "5"])


def uri(env, name, action):
    return f"wss://localhost:{env.relay_port}/$hc/{name}?sb-hc-action={action}"


def node(env, name, *args, tag=None):
    p = Proc(tag or name, ["node", os.path.join(NODE_DIR, name), *args], env.tmp,
             node_env(env), ours=False)
    env.procs.append(p)
    return p


def run_node(env, name, *args, timeout=90):
    r = subprocess.run(["node", os.path.join(NODE_DIR, name), *args], env=node_env(env),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def curl(env, *args, token=None):
    argv = ["curl", "-sS", "--max-time", "60", "--cacert", env.ca, *args]
    if token:
        argv[1:1] = ["-H", f"ServiceBusAuthorization: {token}"]
    return subprocess.run(argv, capture_output=True, timeout=90)


def node_token(env, resource, key_name, key, secs=3600):
    code = ("console.log(require('hyco-https').createRelayToken(process.argv[1], "
            "process.argv[2], process.argv[3], parseInt(process.argv[4], 10)))")
    r = subprocess.run(["node", "-e", code, resource, key_name, key, str(secs)],
                       env=node_env(env), capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def test_official_listener_and_sender_exchange_10mb_both_ways(env):
    start(env)
    kn, key = root_creds(env)
    lst = node(env, "ws_listener.js", uri(env, "hyco", "listen"), kn, key, "A", tag="listener")
    lst.wait_log(r"A listening", timeout=20)
    rc, out = run_node(env, "ws_sender.js", uri(env, "hyco", "connect"), kn, key,
                       str(10 * 1024 * 1024), "1")
    assert rc == 0 and "ok 1" in out, out
    sent = re.search(r"sent (\w+)", out).group(1)
    lst.wait_log(r"A received \d+ \w+")
    got = re.search(r"A received (\d+) (\w+)", lst.text())
    assert int(got.group(1)) == 10 * 1024 * 1024
    assert got.group(2) == sent


def test_two_official_listeners_share_200_connections(env):
    start(env)
    kn, key = root_creds(env)
    a = node(env, "ws_listener.js", uri(env, "hyco", "listen"), kn, key, "A", tag="listener-a")
    b = node(env, "ws_listener.js", uri(env, "hyco", "listen"), kn, key, "B", tag="listener-b")
    a.wait_log(r"A listening", timeout=20)
    b.wait_log(r"B listening", timeout=20)
    rc, out = run_node(env, "ws_sender.js", uri(env, "hyco", "connect"), kn, key, "4096", "200")
    assert rc == 0 and "ok 200" in out, out
    na = len(re.findall(r"A conn \d+", a.text()))
    nb = len(re.findall(r"B conn \d+", b.text()))
    assert na + nb == 200
    assert na > 0 and nb > 0, (na, nb)


@pytest.fixture
def https_server(env):
    start(env)
    kn, key = root_creds(env)
    srv = node(env, "https_server.js", uri(env, "web", "listen"), kn, key, tag="hyco-https")
    srv.wait_log(r"^listening", timeout=20)
    return node_token(env, "https://localhost/web", kn, key)


def test_official_https_server_answers_get(env, https_server):
    r = curl(env, "-i", f"https://localhost:{env.relay_port}/web/items/7?color=red&sb-hc-id=x1",
             token=https_server)
    head, body = r.stdout.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"\r\nVia: 1.1 localhost" in head
    seen = json.loads(body)
    assert seen["method"] == "GET"
    assert seen["url"] == "/web/items/7?color=red"         # sb-hc- parameters removed
    assert "serviceBusAuthorization".lower() not in seen["headers"]
    assert seen["headers"]["via"] == "1.1 localhost"


def test_official_https_server_echoes_5mb_post(env, https_server):
    body = os.urandom(5 * 1024 * 1024)
    src = os.path.join(env.tmp, "body")
    with open(src, "wb") as f:
        f.write(body)
    r = curl(env, "-D", "-", "--data-binary", f"@{src}", "-o", os.path.join(env.tmp, "out"),
             f"https://localhost:{env.relay_port}/web/upload", token=https_server)
    digest = hashlib.sha256(body).hexdigest()
    assert b" 200 " in r.stdout, r.stdout + r.stderr
    assert f"x-body-sha256: {digest}".encode() in r.stdout.lower()
    with open(os.path.join(env.tmp, "out"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest


def test_official_https_server_answers_head_from_curl(env, https_server):
    r = curl(env, "-I", f"https://localhost:{env.relay_port}/web/thing", token=https_server)
    assert r.stdout.startswith(b"HTTP/1.1 200"), r.stdout + r.stderr
    assert b"x-served-by: hyco-https" in r.stdout.lower()


def test_keep_alive_mixes_inline_and_rendezvous(env, https_server):
    base = f"https://localhost:{env.relay_port}/web"
    outs = [os.path.join(env.tmp, f"o{i}") for i in range(4)]
    r = curl(env, "-v", f"{base}/a", f"{base}/b?big=300000", f"{base}/c", f"{base}/d?big=70000",
             *sum((["-o", o] for o in outs), []), token=https_server)
    assert r.stderr.count(b"Re-using existing connection") == 3, r.stderr
    assert r.stderr.count(b"< HTTP/1.1 200") == 4
    with open(outs[1], "rb") as f:
        assert f.read() == b"abcdefghijklmnopqrstuvwxyz" * 11538 + b"abcdefghijkl"
    with open(outs[2], "rb") as f:
        assert json.loads(f.read())["url"] == "/web/c"


def test_http_statuses_from_the_relay(env, https_server):
    base = f"https://localhost:{env.relay_port}"
    code = lambda *a, **k: curl(env, "-o", "/dev/null", "-w", "%{http_code}", *a, **k).stdout
    assert code(f"{base}/web/x") == b"401"                               # no token
    assert code(f"{base}/nothing/x", token=https_server) == b"404"       # unknown entity
    assert code(f"{base}/open/x") == b"502"                              # no listener
    assert code("-X", "CONNECT", f"{base}/web/x", token=https_server) == b"405"
    assert code(f"{base}/web/hang", token=https_server) == b"504"        # --request-timeout 5
    assert code(f"{base}/web/after", token=https_server) == b"200"       # and still serving


@pytest.mark.parametrize("case, mode, name, rule, secs, status", [
    ("wrong key", "connect", "hyco", "RootManageSharedAccessKey", None, "401"),
    ("expired token", "connect", "hyco", None, -60, "401"),
    ("send-only key to listen", "listen", "hyco", "sendonly", None, "403"),
    ("listen-only key to send", "connect", "hyco", "listenonly", None, "403"),
    ("unknown hybrid connection", "connect", "nosuch", None, None, "404"),
    ("unknown hybrid connection", "listen", "nosuch", None, None, "404"),
])
def test_official_clients_are_refused_with_the_service_status(env, case, mode, name, rule, secs,
                                                              status):
    start(env)
    kn, key = root_creds(env)
    keys = {"sendonly": SEND_KEY, "listenonly": LISTEN_KEY}
    if case == "wrong key":
        key = base64.b64encode(secrets.token_bytes(32)).decode()
    elif rule:
        kn, key = rule, keys[rule]
    if mode == "connect" and name == "hyco":
        lst = node(env, "ws_listener.js", uri(env, "hyco", "listen"), *root_creds(env), "A")
        lst.wait_log(r"A listening", timeout=20)
    args = [mode, uri(env, name, mode), kn, key] + ([str(secs)] if secs else [])
    rc, out = run_node(env, "ws_probe.js", *args)
    assert f"status {status}" in out, (case, out)


def relayd(*args):
    return subprocess.run([os.path.join(ROOT, os.environ.get("BUILD", "build"), "azbridge-relayd"),
                           *args], capture_output=True, text=True, timeout=30)


def test_example_configuration_checks(env, tmp_path):
    env.start_relay()                        # for its certificate and key
    state = os.path.dirname(env.ca)
    with open(os.path.join(ROOT, "etc", "azbridge-relayd.conf")) as f:
        text = f.read()
    # Its relative names are next to the file (the unit's credentials there).
    for k in ("server.pem", "server.key"):
        shutil.copy(os.path.join(state, k), tmp_path / k)
    for k in ("root.key", "db-listen.key", "db-send.key"):
        p = tmp_path / k
        p.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
        p.chmod(0o600)
    conf = tmp_path / "relayd.conf"
    conf.write_text(text)
    r = relayd("--check", "--config", str(conf))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 hybrid connections, 1 rule" in r.stdout
    (tmp_path / "db-send.key").chmod(0o644)  # a key others can read is refused
    r = relayd("--check", "--config", str(conf))
    assert r.returncode == 2
    assert re.search(r"relayd\.conf:\d+: rule \"bridge-send\": .*db-send\.key holds a secret but is "
                     r"readable by group or others", r.stderr), r.stderr


def test_bad_configuration_is_reported_with_lines(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('listen = [ "127.0.0.1:99999" ];\nplain = true;\nmax_listeners = 0;\n'
                    'hybrid_connections = ( { name = "a"; }, { name = "a"; } );\n'
                    'rules = ( { name = "r"; key_file = "nope.key"; rights = [ "Listen" ]; } );\n')
    r = relayd("--check", "--config", str(conf))
    assert r.returncode == 2
    for want in [r"bad\.conf:1: listen \"127\.0\.0\.1:99999\"", r"bad\.conf:3: max_listeners must be",
                 r"bad\.conf:4: hybrid connection \"a\" is defined twice",
                 r"bad\.conf:5: rule \"r\": .*nope\.key: No such file"]:
        assert re.search(want, r.stderr), (want, r.stderr)
