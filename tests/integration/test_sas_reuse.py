"""SAS tokens a bridge makes from a key: senders opened one after another
carry one token while most of its lifetime remains, and a reload that
changes the key signs anew, never reusing the token made with the old key."""
import base64
import os
import re
import socket
import time

from conftest import echo_server, free_port, wait_for
from test_daemon import Daemon, forwards, local_entry
from test_tunnels import roundtrip

SEND = re.compile(r'Send token of rule "([^"]+)" accepted, valid until (\d+)')


def send_checks(env):
    return SEND.findall(env.relay.text())


def opens(port, data):
    """A round trip; False when the relay refused the tunnel."""
    try:
        return roundtrip(port, data, timeout=10) == data
    except OSError:
        return False


def relay_conf(env, name, key):
    path = os.path.join(env.tmp, f"relayd-{name}.conf")
    with open(path, "w") as f:
        f.write(f'rules = ( {{ name = "send"; key = "{key}"; rights = [ "Send" ]; }} );\n')
    os.chmod(path, 0o600)
    return path


def test_senders_in_a_row_carry_one_token(env):
    """Four tunnels over more than three seconds: the relay sees one expiry
    (a token signed per sender would carry a later one each second), an
    hour ahead as token_lifetime says."""
    env.start_relay(extra=["-v"])
    target, local = free_port(), free_port()
    echo_server(target)
    env.listener("t", "-T", f"db:{target}")
    env.sender("l", local, "-L", f"127.0.0.1:{local}:db")
    start = int(time.time())
    for i in range(4):
        assert roundtrip(local, b"tunnel %d" % i) == b"tunnel %d" % i
        time.sleep(1.1)
    wait_for(lambda: len(send_checks(env)) >= 4, what="four sender checks")
    expiries = {int(se) for _, se in send_checks(env)}
    assert len(expiries) == 1, expiries
    assert start + 3600 - 2 <= expiries.pop() <= start + 3600 + 2


def test_reload_with_a_new_key_never_reuses_the_old_token(env):
    """The relay's rule "send" changes its key (the relay restarted without
    the old one): the bridge's token made with the old key is refused; once
    the bridge is reloaded with the new key, the next tunnel opens with a
    token signed by it (the relay holds no other key for "send")."""
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    env.start_relay(extra=["-v", "--config", relay_conf(env, "old", old)])
    port = env.relay_port
    target, local = free_port(), free_port()
    echo_server(target)
    t = env.listener("t", "-T", f"db:{target}")
    d = Daemon(env, "l")
    d.base = d.base.replace(env.conn_str,
                            f"Endpoint=sb://localhost:{port}/;SharedAccessKeyName=send;"
                            f"SharedAccessKey={old}")
    d.write_main(forwards(local_entry("a", local, relay="db")))
    d.start()
    assert roundtrip(local, b"old key") == b"old key"

    env.relay.stop()
    env.start_relay(port=port, extra=["-v", "--config", relay_conf(env, "new", new)])
    t.wait_log(r"listener online", count=2, timeout=30)
    with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
        c.settimeout(10)
        c.sendall(b"x")
        assert c.recv(10) == b""          # the old key's token: refused
    env.relay.wait_log(r"signature is not valid for rule \"send\"")

    d.base = d.base.replace(old, new)
    d.write_main(forwards(local_entry("a", local, relay="db")))
    d.ctl("reload", check=0)
    wait_for(lambda: opens(local, b"new key"), timeout=20, step=0.2,
             what="a tunnel with the new key")
    assert [rule for rule, _ in send_checks(env)] == ["send"]
    assert old[:16] not in d.proc.text() and new[:16] not in d.proc.text()
