"""Interop with Microsoft's own Hybrid Connections client (npm hyco-ws,
pinned in tests/conformance/package-lock.json): its listener behind our -L,
its sender in front of our -T, both through our relay."""
import os
import re
import subprocess

from conftest import ROOT, Proc, echo_server, free_port

NODE_DIR = os.path.join(ROOT, "tests", "conformance")


def node_env(env):
    e = dict(os.environ, NODE_EXTRA_CA_CERTS=env.ca, NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
    return e


def creds(env):
    m = re.search(r"SharedAccessKeyName=([^;]+);SharedAccessKey=(\S+)", env.conn_str)
    return m.group(1), m.group(2)


def test_our_sender_reaches_the_official_listener(env):
    env.start_relay()
    key_name, key = creds(env)
    uri = f"wss://localhost:{env.relay_port}/$hc/interop?sb-hc-action=listen"
    lst = Proc("hyco-listener", ["node", os.path.join(NODE_DIR, "listener_echo.js"), uri,
                                 key_name, key], env.tmp, node_env(env), ours=False)
    env.procs.append(lst)
    lst.wait_log(r"^listening", timeout=20)
    local = free_port()
    env.sender("l", local, "-L", f"127.0.0.1:{local}/app1:interop")
    from test_tunnels import roundtrip
    data = os.urandom(3 * 1024 * 1024)
    assert roundtrip(local, data) == data
    assert "preamble ok 01000004 name=app1" in lst.text()


def test_official_sender_reaches_our_listener(env):
    env.start_relay()
    key_name, key = creds(env)
    target = free_port()
    echo_server(target)
    env.listener("t", "-T", f"interop:app2/localhost:{target}")
    # what hyco-ws's createRelaySendUri() builds, with our relay's port
    uri = f"wss://localhost:{env.relay_port}/$hc/interop?sb-hc-action=connect"
    r = subprocess.run(["node", os.path.join(NODE_DIR, "sender_preamble.js"), uri, key_name, key,
                        "app2", str(2 * 1024 * 1024)], env=node_env(env), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reply 010000" in r.stdout
    assert "echo ok" in r.stdout
