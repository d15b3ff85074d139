"""The original tool's and Azure's ways where ours differed: the SAS audience
the SDK signs, a clean close for an unknown logical port, the connection
string from AZURE_BRIDGE_CONNECTIONSTRING or connection_string_file."""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import urllib.parse

from conftest import BUILD, ROOT, echo_server, free_port, round_trip, wait_for

NODE_DIR = os.path.join(ROOT, "tests", "conformance")


def creds(env):
    m = re.search(r"SharedAccessKeyName=([^;]+);SharedAccessKey=(\S+)", env.conn_str)
    return m.group(1), m.group(2)


def head_catcher(env):
    """A TLS server with the dev relay's certificate that keeps the first
    request head it is sent and answers 404: what a bridge sends Azure."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    state = os.path.join(env.tmp, "relay")
    ctx.load_cert_chain(os.path.join(state, "server.pem"), os.path.join(state, "server.key"))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    heads = []

    def serve():
        while not heads:
            try:
                raw, _ = srv.accept()
                c = ctx.wrap_socket(raw, server_side=True)
                buf = b""
                c.settimeout(10)
                while b"\r\n\r\n" not in buf:
                    b = c.recv(4096)
                    if not b:
                        break
                    buf += b
                c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                c.close()
                heads.append(buf.decode("latin-1"))
            except OSError:
                return

    env.thread(serve)
    return srv.getsockname()[1], heads


def test_daemon_signs_the_sdk_audience(env):
    """Host lower-cased, no port, the path's case kept, one trailing slash,
    scheme http: what Microsoft's SDK signs and Azure compares."""
    env.start_relay()
    kn, key = creds(env)
    port, heads = head_catcher(env)
    cs = f"Endpoint=sb://LocalHost:{port}/;SharedAccessKeyName={kn};SharedAccessKey={key}"
    env.bridge("t", "-T", "Db:5432", cs=cs)
    wait_for(lambda: heads, timeout=20, what="the listener's upgrade")
    tok = re.search(r"\r\nServiceBusAuthorization: (SharedAccessSignature \S+)\r\n", heads[0])
    assert tok, heads[0]
    fields = dict(p.split("=", 1) for p in tok.group(1).split(" ", 1)[1].split("&"))
    assert urllib.parse.unquote(fields["sr"]) == "http://localhost/Db/"
    want = hmac.new(key.encode(), f"{fields['sr']}\n{fields['se']}".encode(), hashlib.sha256)
    assert urllib.parse.unquote(fields["sig"]) == base64.b64encode(want.digest()).decode()


def node_env(env):
    return dict(os.environ, NODE_EXTRA_CA_CERTS=env.ca,
                NODE_PATH=os.path.join(NODE_DIR, "node_modules"))


def test_unknown_port_name_gets_a_clean_close(env):
    """As the original's listener does: no reply bytes, a close frame 1000
    "Shutdown" the sender reads (it was an abort: 1006 to the sender)."""
    env.start_relay()
    kn, key = creds(env)
    target = free_port()
    echo_server(target)
    t = env.listener("t", "-T", f"db:sql1/localhost:{target};sql2/localhost:{target}")
    uri = f"wss://localhost:{env.relay_port}/$hc/db?sb-hc-action=connect"
    r = subprocess.run(["node", os.path.join(NODE_DIR, "sender_close.js"), uri, kn, key, "nosuch"],
                       env=node_env(env), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == ["close 1000 Shutdown"], r.stdout
    t.wait_log(r'no binding for port name "nosuch"')
    # the listener still serves the names it has
    r = subprocess.run(["node", os.path.join(NODE_DIR, "sender_preamble.js"), uri, kn, key,
                        "sql2", "1000"], env=node_env(env), capture_output=True, text=True,
                       timeout=60)
    assert "echo ok" in r.stdout, r.stdout + r.stderr


def texts(reply):
    return "\n".join([reply.get("message", "")] + reply.get("errors", []))


def test_duplicate_port_names_are_refused_by_add_and_reload(env):
    """azbridgectl add and a reload with one port name given to two bindings
    of a remote forward change nothing and say which forward and name."""
    from test_daemon import Daemon
    env.start_relay()
    target = free_port()
    echo_server(target)
    d = Daemon(env)
    d.write_main(f'remote_forward = ( {{ name = "pg"; relay = "db"; host_port = {target}; }} );\n')
    d.start()
    d.proc.wait_log(r"listener online")
    rc, out, _ = d.ctl("add", "--name", "two", "-T", f"db2:sql/localhost:{target};sql/other:{target}")
    assert rc == 1 and not out["ok"], out
    assert 'forward "two": port name "sql" is given to two bindings' in texts(out), out
    assert os.listdir(d.dropins) == []
    rc, out, _ = d.ctl("add", "--runtime", "--name", "two", "-T",
                       f"db2:{target};other:{target}")
    assert rc == 1 and f'port name "{target}" is given to two' in texts(out), out
    d.dropin("60-dup.conf", 'remote_forward = ( { name = "dup"; relay = "db3"; bindings = (\n'
             f'  {{ host_port = {target}; port_name = "a"; }},\n'
             f'  {{ host_port = {target + 1}; port_name = "a"; }} ); }} );\n')
    rc, out, _ = d.ctl("reload")
    assert rc == 1 and any(re.search(r'60-dup\.conf:1: forward "dup": port name "a"', e)
                           for e in out["errors"]), out
    _, st, _ = d.ctl("list", check=0)
    assert [b["name"] for b in st["bindings"]] == ["pg"], st
    assert d.binding("pg")["state"] == "online"


def bridge_without_x(env, name, *args, extra_env=None):
    """azbridged as env.bridge() starts it, but with no -x."""
    from conftest import Proc
    argv = [os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-o", f"ca_file:{env.ca}",
            "-o", "stop_timeout:1", *args]
    p = Proc(name, argv, env.tmp, dict(os.environ, **(extra_env or {})))
    env.procs.append(p)
    return p


def secret_free(pid, text, key):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert key.encode() not in f.read()
    with open(f"/proc/{pid}/environ", "rb") as f:
        environ = f.read()
    assert key.encode() not in environ
    assert b"AZURE_BRIDGE_CONNECTIONSTRING" not in environ.split(b"\0")
    assert key not in text


def test_env_and_file_connection_strings_drive_a_tunnel(env):
    """The listener reads the relay's connection string from a file (the
    dev relay writes one, mode 0600), the sender from the environment; the
    key shows in no command line, environment, log or control reply."""
    from test_daemon import CTL
    env.start_relay()
    _, key = creds(env)
    cs_file = os.path.join(env.tmp, "relay", "connection-string")
    assert oct(os.stat(cs_file).st_mode & 0o777) == "0o600"
    target, local = free_port(), free_port()
    echo_server(target)
    sock = os.path.join(env.tmp, "ctl.sock")
    t = bridge_without_x(env, "t", "-o", f"connection_string_file:{cs_file}", "-o",
                         f"control_socket:{sock}", "-T", f"db:{target}")
    t.wait_log(r"listener online")
    s = bridge_without_x(env, "s", "-L", f"127.0.0.1:{local}:db",
                         extra_env={"AZURE_BRIDGE_CONNECTIONSTRING": env.conn_str})
    s.wait_log(rf"listening on 127\.0\.0\.1:{local}\b")
    assert round_trip(local, b"through env and file") == b"through env and file"
    replies = ""
    for verb in (["status"], ["list"], ["stats"]):
        r = subprocess.run([CTL, "--socket", sock, "--json", *verb], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        replies += r.stdout + r.stderr
    assert key not in replies
    secret_free(t.p.pid, t.text(), key)
    secret_free(s.p.pid, s.text(), key)


def test_check_mode_hides_env_and_file_secrets(env):
    env.start_relay()
    _, key = creds(env)
    cs_file = os.path.join(env.tmp, "relay", "connection-string")
    for args, extra in ((["-o", f"connection_string_file:{cs_file}"], {}),
                        ([], {"AZURE_BRIDGE_CONNECTIONSTRING": env.conn_str})):
        r = subprocess.run([os.path.join(BUILD, "azbridged"), "-n", "-v", *args, "-L", "1:db"],
                           env=dict(os.environ, **extra), capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        assert "RootManageSharedAccessKey" in r.stdout
        assert key not in r.stdout + r.stderr
    # a file others may read is refused, naming it
    os.chmod(cs_file, 0o644)
    r = subprocess.run([os.path.join(BUILD, "azbridged"), "-n", "-o",
                        f"connection_string_file:{cs_file}", "-L", "1:db"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and f"{cs_file} holds a secret but is readable" in r.stderr, r.stderr
    assert key not in r.stdout + r.stderr


def test_connection_string_file_reload_and_control_socket(env):
    """The file is read again on every reload: one others may read makes
    the reload fail and keeps the running forward; over the control socket
    the key is refused like every other credential, even for root."""
    from test_daemon import Daemon, request
    env.start_relay()
    target = free_port()
    echo_server(target)
    cs_file = os.path.join(env.tmp, "relay", "connection-string")
    d = Daemon(env)
    d.base = d.base.replace(f'connection_string = "{env.conn_str}";',
                            f'connection_string_file = "{cs_file}";')
    d.write_main(f'remote_forward = ( {{ name = "pg"; relay = "db"; host_port = {target}; }} );\n')
    d.start()
    d.proc.wait_log(r"listener online")
    os.chmod(cs_file, 0o640)
    rc, out, _ = d.ctl("reload")
    assert rc == 1 and f"{cs_file} holds a secret but is readable by group" in texts(out), out
    assert d.binding("pg")["state"] == "online"
    os.chmod(cs_file, 0o600)
    d.ctl("reload", check=0)
    [out] = request(d.sock, (json.dumps({"cmd": "add", "runtime": True, "binding": {
        "direction": "remote", "relay": "r2", "host_port": target,
        "connection_string_file": cs_file}}) + "\n").encode())
    assert out["ok"] is False and "connection_string_file cannot be set over the control socket" \
        in out["message"], out
    _, key = creds(env)
    assert key not in d.proc.text()
