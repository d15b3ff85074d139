"""Secrets and hostile text: keys given on the command line leave it, no error
anywhere (stderr, a log file, the journal, the control socket's replies,
systemd's STATUS=) repeats a key or signature, a running daemon's memory is
not readable by another process of its user, and control characters a peer
chose reach neither a log line nor azbridgectl's tables raw."""
import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BUILD, Proc, free_port, wait_for
from test_daemon import CTL, Daemon, forwards, local_entry
from test_systemd import Journal, Notifications
from test_tunnels import sas_token

AZBRIDGED = os.path.join(BUILD, "azbridged")
NOBODY = 65534


def secret():
    """A fresh SAS key; tests look for its first 16 characters."""
    return base64.b64encode(os.urandom(32)).decode()


def leaked(text, secrets):
    return [s for s in secrets if s[:16] in text]


def check(*args, cwd=None):
    r = subprocess.run([AZBRIDGED, "-n", *args], capture_output=True, text=True, timeout=30,
                       cwd=cwd)
    return r.returncode, r.stdout + r.stderr


# ---- errors ------------------------------------------------------------------

def command_line_cases(s):
    cs = "Endpoint=sb://x.test/;SharedAccessKeyName=rule;"
    cred = ["-e", "sb://x.test/", "-K", "rule"]
    return [
        ("connection string segment without '='", ["-x", f"{cs}SharedAccessKey {s}"]),
        ("key pasted as a connection string field", ["-x", cs + s]),
        ("connection string in -e", ["-e", f"sb://x.test/;SharedAccessKey={s}"]),
        ("token in -e", ["-e", f"SharedAccessSignature sr=x&sig={s}&se=1&skn=rule"]),
        ("connection string in -o endpoint",
         ["-o", f"AzureRelayEndpoint:Endpoint=sb://x.test/;SharedAccessKey={s}"]),
        ("-o with '=' for ':'", [*cred, "-o", f"shared_access_key={s}"]),
        ("-o original name with '='", [*cred, "-o", f"AzureRelaySharedAccessKey={s}"]),
        ("misspelt long option", [*cred, f"--shared-access-keys={s}"]),
        ("ambiguous long option", [*cred, f"--shared={s}"]),
        ("flag given a value", [*cred, f"--quiet={s}"]),
        ("unquoted token split in two", ["-e", "sb://x.test/", "-s", "SharedAccessSignature",
                                         f"sr=x&sig={s}&se=1&skn=rule"]),
        ("-o value split off", [*cred, "-o", "shared_access_key:", s]),
        ("key that is not base64", [*cred, "-k", s + "!"]),
        ("-o key that is not base64", [*cred, "-o", f"shared_access_key:{s}!"]),
        ("bad key name next to a key", ["-x", f"{cs[:-1]}x y;SharedAccessKey={s}"]),
    ]


def test_command_line_errors_never_echo_a_secret():
    s = secret()
    bad = []
    for what, args in command_line_cases(s):
        rc, out = check("-L", "16161:db", *args)
        if rc not in (1, 2) or not out.strip() or leaked(out, [s]):
            bad.append((what, rc, out))
    assert not bad, bad


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def secret_file_errors(s):
    """Lines that are each wrong next to a secret, and the line numbers the
    errors must name."""
    text = (f'endpoint = "sb://x.test/;SharedAccessKey={s[0]}";\n'
            f'connection_string = "Endpoint=sb://x.test/;SharedAccessKeyName=r;{s[1]}";\n'
            'local_forward = ( { relay = "r"; bind_port = 1;\n'
            f'  connection_string = "Endpoint=sb://x.test/;SharedAccessKey {s[2]}";\n'
            f'  endpoint = "SharedAccessSignature sr=a&sig={s[3]}&se=1";\n'
            f'  shared_access_key = "{s[4]}!"; }} );\n')
    return text, [1, 2, 4, 5, 6]


def test_config_file_errors_never_echo_a_secret(tmp_path):
    s = [secret() for _ in range(6)]
    text, lines = secret_file_errors(s)
    conf = tmp_path / "azbridge.conf"
    write(conf, text)
    (tmp_path / "azbridge.conf.d").mkdir()
    write(tmp_path / "azbridge.conf.d" / "10-syntax.conf", f'shared_access_key = "{s[5]}" x;\n')
    rc, out = check("-c", str(conf))
    assert rc == 1
    for n in lines:
        assert f"azbridge.conf:{n}: " in out, (n, out)
    assert "10-syntax.conf:1: " in out, out
    assert not leaked(out, s), out


def start_daemon(env, d, target):
    """d's daemon logging to target: "stderr", "file" (log_file) or
    "journal" (a private journald socket, as under systemd)."""
    benv = dict(os.environ, NOTIFY_SOCKET=d.notify_path)
    d.notify = Notifications(d.notify_path)
    argv = [AZBRIDGED, "-v", "-c", d.conf]
    d.log_file = os.path.join(d.dir, "azbridged.log")
    d.journal = None
    if target == "stderr":
        argv.insert(1, "--foreground")
    elif target == "file":
        argv += ["-l", d.log_file]
    else:
        jdir = os.path.join(d.dir, "journal")
        os.makedirs(jdir)
        d.journal = Journal(os.path.join(jdir, "socket"))
        log = os.path.join(env.tmp, f"{d.name}-journal.log")
        open(log, "wb").close()
        st = os.stat(log)
        benv["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        script = ('set -e; mount --make-rprivate /; '
                  'if [ ! -d /run/systemd/journal ]; then mount -t tmpfs azb-test /run; '
                  'mkdir -p /run/systemd/journal; fi; '
                  'mount --bind "$1" /run/systemd/journal; shift; exec "$@"')
        argv = ["unshare", "-m", "sh", "-c", script, "sh", jdir, *argv]
    d.proc = Proc(f"{d.name}-journal" if d.journal else d.name, argv, env.tmp, benv)
    env.procs.append(d.proc)
    return d.proc


def log_text(d):
    if d.journal:
        return "\n".join(json.dumps(e) for e in d.journal.entries)
    if os.path.exists(d.log_file):
        with open(d.log_file, errors="replace") as f:
            return d.proc.text() + f.read()
    return d.proc.text()


@pytest.mark.parametrize("target", ["stderr", "file", "journal"])
def test_reload_errors_never_echo_a_secret(env, target):
    env.start_relay()
    d = Daemon(env, notify=True)
    d.write_main(forwards(local_entry("db", free_port())))
    start_daemon(env, d, target)
    wait_for(lambda: re.search(r"running \d+ forward", log_text(d)), what="the daemon up")
    s = [secret() for _ in range(6)]
    text, lines = secret_file_errors(s)
    write(os.path.join(d.dropins, "70-secret.conf"), text)
    outputs = []
    rc, out, _ = d.ctl("reload")
    assert rc == 1 and out["error"] == "config", out
    for n in lines:
        assert any(f"70-secret.conf:{n}: " in e for e in out["errors"]), (n, out)
    outputs.append(json.dumps(out))
    r = subprocess.run([CTL, "--socket", d.sock, "reload"], capture_output=True, text=True)
    assert r.returncode == 1 and "70-secret.conf:1: " in r.stderr, r
    outputs += [r.stdout, r.stderr]
    d.proc.p.send_signal(signal.SIGHUP)
    wait_for(lambda: len(re.findall(r"reload \([^)]*\) failed", log_text(d))) >= 3,
             what="three failed reloads logged")
    wait_for(lambda: any("last reload failed: " in m for m in d.notify.texts()),
             what="STATUS with the error")
    _, st, _ = d.ctl("status", check=0)
    assert st["last_reload"]["errors"], st
    outputs.append(json.dumps(st))
    r = subprocess.run([CTL, "--socket", d.sock, "status"], capture_output=True, text=True)
    outputs += [r.stdout, r.stderr]
    wait_for(lambda: re.search(r"70-secret\.conf:6: ", log_text(d)), what="the errors logged")
    outputs += ["\n".join(d.notify.texts()), log_text(d), d.proc.text()]
    for o in outputs:
        assert not leaked(o, s), o
    assert d.proc.stop() == 0


# ---- the command line ----------------------------------------------------------

def secret_spellings():
    """Every way a secret can be given: -k, -x, -s and -o with each key that
    holds one, in short, attached, long and --long=value forms, unique
    abbreviations too. Returns (argv, the secrets)."""
    keys, argv = [], []

    def key():
        keys.append(secret())
        return keys[-1]

    def cs():
        return f"Endpoint=sb://x.test/;SharedAccessKeyName=rule;SharedAccessKey={key()}"

    def token():
        return f"SharedAccessSignature sr=x&sig={key()}&se=4102444800&skn=rule"

    for opt in ("-k", "--shared-access-key"):
        argv += [opt, key()]
    argv += ["-k" + key(), "--shared-access-key=" + key()]
    argv += ["-x", cs(), "-x" + cs(), "--connection-string", cs(), "--connection=" + cs()]
    argv += ["-s", token(), "--signature=" + token(), "-s" + token(), "--sig", token()]
    for name, value in (("shared_access_key", key), ("AzureRelaySharedAccessKey", key),
                        ("connection_string", cs), ("AzureRelayConnectionString", cs),
                        ("shared_access_signature", token),
                        ("AzureRelaySharedAccessSignature", token)):
        argv += ["-o", f"{name}:{value()}", f"-o{name}:{value()}",
                 "--option", f"{name}:{value()}", f"--option={name}:{value()}",
                 f"--opt={name}:{value()}"]
    return argv, keys


def test_every_spelling_of_a_secret_leaves_the_command_line(env):
    argv, keys = secret_spellings()
    port = free_port()
    p = Proc("cmdline", [AZBRIDGED, "--foreground", "-L", f"127.0.0.1:{port}:db",
                         "-e", "sb://x.test/", "-K", "rule", *argv], env.tmp)
    env.procs.append(p)
    p.wait_log(rf"listening on 127\.0\.0\.1:{port}")
    with open(f"/proc/{p.p.pid}/cmdline", "rb") as f:
        cmdline = f.read().decode(errors="replace")
    assert not leaked(cmdline, keys), cmdline.replace("\0", " ")
    assert "shared_access_key:xxxx" in cmdline and "-o" in cmdline
    assert not leaked(p.text(), keys)


# ---- memory --------------------------------------------------------------------

def as_nobody(argv):
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


def readable_by_nobody(pid):
    """What another process of the same unprivileged user can open of pid's
    memory and environment."""
    probe = ("import sys\nok = []\nfor f in ('environ', 'mem'):\n"
             "    try:\n        open(f'/proc/{sys.argv[1]}/' + f, 'rb').close()\n"
             "        ok.append(f)\n    except PermissionError:\n        pass\nprint(ok)\n")
    r = subprocess.run(as_nobody(["/usr/bin/python3", "-c", probe, str(pid)]),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_running_daemon_and_relay_are_not_dumpable(env):
    """Not dumpable: no core file, and no other process of the user they run
    as (nor anyone without CAP_SYS_PTRACE) reads their memory or environment."""
    port = free_port()
    d = Proc("nobody-daemon", as_nobody([AZBRIDGED, "--foreground", "-L", f"127.0.0.1:{port}:db",
                                         "-e", "sb://x.test/", "-K", "rule", "-k", secret()]),
             env.tmp)
    env.procs.append(d)
    d.wait_log(rf"listening on 127\.0\.0\.1:{port}")
    os.chmod(env.tmp, 0o711)
    state = os.path.join(env.tmp, "relay-state")
    os.makedirs(state)
    os.chown(state, NOBODY, NOBODY)
    r = Proc("nobody-relay", as_nobody([os.path.join(BUILD, "azbridge-relayd"), "--dev",
                                        "--state-dir", state, "--listen", "127.0.0.1:0"]),
             env.tmp)
    env.procs.append(r)
    r.wait_log(r"CA certificate: ")
    assert readable_by_nobody(d.p.pid) == "[]"
    assert readable_by_nobody(r.p.pid) == "[]"


# ---- host names ------------------------------------------------------------------

def test_add_refuses_a_bad_host_name(env):
    """azbridgectl add goes through the configuration parser: a host_name that
    is not a host name (it would become a line of the hosts file) is refused
    with the reason, and nothing is written."""
    env.start_relay()
    hosts = "127.0.0.1\tlocalhost\n"
    d = Daemon(env, hosts_text=hosts)
    d.start()
    for bad in ("bad name", "evil\n10.0.0.1 bank.example", "127.0.0.1", "-x.example", "a" * 64):
        rc, out, _ = d.ctl("add", "--name", "h", "--local", "--relay", "r1", "--bind",
                           f"127.0.0.1:{free_port()}", "--host-name", bad)
        assert rc == 1 and out["error"] == "invalid", (bad, out)
        assert re.search(r'host_name ".*" is not a host name', out["message"], re.S), out
        assert not os.listdir(d.dropins), os.listdir(d.dropins)
    with open(d.hosts) as f:
        assert f.read() == hosts
    port = free_port()
    d.ctl("add", "--name", "h", "--local", "--relay", "r1", "--bind", f"127.0.0.1:{port}",
          "--host-name", "db.corp.example", check=0)
    wait_for(lambda: "db.corp.example" in open(d.hosts).read(), what="the good name added")


# ---- text a peer chose -------------------------------------------------------------

def ws_frame(payload, op=0x2):
    """One masked, final websocket frame (a sender's frames are masked)."""
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else
                                 bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def raw_sender(env, relay, port_name):
    """A sender written by hand: websocket upgrade to the relay, then the bridge
    preamble 01 00 mode len name with a name of our choosing."""
    key = env.conn_str.split("SharedAccessKey=")[1]
    token = sas_token(f"http://localhost/{relay}/", "RootManageSharedAccessKey", key,
                      int(time.time()) + 600)
    ctx = ssl.create_default_context(cafile=env.ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", env.relay_port), timeout=10),
                        server_hostname="localhost")
    s.sendall((f"GET /$hc/{relay}?sb-hc-action=connect&sb-hc-id=raw-sender HTTP/1.1\r\n"
               "Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"ServiceBusAuthorization: {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        assert b, head
        head += b
    assert head.startswith(b"HTTP/1.1 101"), head
    s.sendall(ws_frame(bytes([1, 0, 0, len(port_name)]) + port_name))
    return s


RAW_CONTROLS = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def refused_port_name(env, name):
    """A listener daemon logging to a file, and a raw sender whose preamble
    names port `name`, refused: (daemon, log path) once the refusal is logged."""
    env.start_relay()
    d = Daemon(env, extra=f'log_file = "{env.tmp}/d/listener.log";\n')
    d.write_main('remote_forward = ( { name = "t"; relay = "db"; host = "127.0.0.1"; '
                 f'host_port = {free_port()}; }} );\n')
    log = os.path.join(d.dir, "listener.log")
    d.start(wait=False)
    wait_for(lambda: os.path.exists(log) and "listener online" in open(log).read(),
             what="the listener online")
    s = raw_sender(env, "db", name)
    s.settimeout(10)
    try:
        while True:
            b = s.recv(4096)
            # The refusal is a close frame and no reply bytes; this sender
            # does not answer it, so the relay would hold it for its linger.
            if not b or b[0] & 0x0F == 8:
                break
    except (ConnectionResetError, ssl.SSLError):
        pass
    s.close()
    wait_for(lambda: "no binding for port name" in open(log, errors="replace").read(),
             what="the refusal logged")
    return d, log


def test_control_characters_from_a_peer_are_escaped(env):
    """A sender's preamble names a port with ESC sequences, CR, LF, BEL and a C1
    CSI: the listener's log lines and azbridgectl's tables show them escaped,
    one event per line, nothing a terminal would act on."""
    d, log = refused_port_name(env, "\x1b[2J\r\nazbridged: error: forged\x07\u009b1m".encode())
    with open(log, "rb") as f:
        text = f.read()
    assert not RAW_CONTROLS.search(text), text
    line = [x for x in text.split(b"\n") if b"no binding for port name" in x][0]
    assert b'"\\x1b[2J\\x0d\\x0aazbridged: error: forged\\x07\\xc2\\x9b1m"' in line, line
    assert b"azbridged: error: forged" not in text.replace(line, b"")
    for verb in (["list"], ["stats"], ["stats", "t"], ["show", "t"]):
        r = subprocess.run([CTL, "--socket", d.sock, *verb], capture_output=True, timeout=30)
        assert r.returncode == 0, r
        assert not RAW_CONTROLS.search(r.stdout + r.stderr), (verb, r.stdout)
    r = subprocess.run([CTL, "--socket", d.sock, "stats"], capture_output=True, timeout=30)
    assert b"\\x1b[2J" in r.stdout, r.stdout


# ---- -b NAME -----------------------------------------------------------------------

def peer_server(family=socket.AF_INET, host="127.0.0.1"):
    """A target that answers each connection with the address it came from."""
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(16)

    def loop():
        while True:
            try:
                c, addr = srv.accept()
            except OSError:
                return
            with c:
                c.sendall(addr[0].encode() + b"\n")

    threading.Thread(target=loop, daemon=True).start()
    return srv


def with_hosts(env, text):
    """argv prefix: run in a private mount namespace whose /etc/hosts is text."""
    path = os.path.join(env.tmp, f"hosts-{len(env.procs)}")
    with open(path, "w") as f:
        f.write(text)
    return ["unshare", "-m", "sh", "-c",
            'mount --make-rprivate / && mount --bind "$1" /etc/hosts && shift && exec "$@"',
            "sh", path]


def first_line(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.settimeout(10)
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(100)
            if not b:
                break
            got += b
    return got.decode().strip()


def bind_listener(env, name, bind, target, wrap=()):
    argv = [*wrap, AZBRIDGED, "--foreground", "-v", "-o", f"ca_file:{env.ca}", "-o",
            "stop_timeout:1", "-x", env.conn_str, "-b", bind, "-T", target]
    p = Proc(name, argv, env.tmp)
    env.procs.append(p)
    p.wait_log(r"listener online")
    return p


def test_bind_address_name_is_resolved_and_used(env):
    """-b NAME is looked up and every outbound dial, the first one too, leaves
    from its address; the address of the target's family is taken."""
    env.start_relay()
    v4, v6 = peer_server(), peer_server(socket.AF_INET6, "::1")
    hosts = "127.0.0.1 localhost\n::1 localhost\n127.0.0.7 azb-src.test\n"
    bind_listener(env, "t1", "azb-src.test", f"r1:127.0.0.1:{v4.getsockname()[1]}",
                  with_hosts(env, hosts))
    bind_listener(env, "t2", "localhost", f"r2:[::1]:{v6.getsockname()[1]}",
                  with_hosts(env, hosts))
    l1, l2 = free_port(), free_port()
    env.sender("l1", l1, "-L", f"127.0.0.1:{l1}:r1")
    env.sender("l2", l2, "-L", f"127.0.0.1:{l2}:r2")
    assert first_line(l1) == "127.0.0.7"
    assert first_line(l1) == "127.0.0.7"
    assert first_line(l2) == "::1"


def test_bind_address_that_does_not_resolve_or_is_not_local(env):
    for name in ("nonexistent.invalid", "remote.test"):
        argv = [AZBRIDGED, "-n", "-e", "sb://x.test/", "-K", "r", "-k", secret(), "-b", name,
                "-T", "db:5432"]
        r = subprocess.run(with_hosts(env, "192.0.2.1 remote.test\n") + argv,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, (name, r)
        assert re.search(rf'^command line: bind_address "{name}" '
                         r'(does not resolve|resolves to 192\.0\.2\.1, not a local address)',
                         r.stderr, re.M), r.stderr
    # The same at start, and from a configuration file with its file and line.
    env.start_relay()
    d = Daemon(env, extra='bind_address = "nonexistent.invalid";\n')
    p = d.start(wait=False)
    p.ours = False            # it is meant to exit 1
    wait_for(lambda: p.p.poll() is not None, timeout=60, what="start-up refused")
    assert p.p.returncode == 1
    assert re.search(r'azbridge\.conf:\d+: bind_address "nonexistent\.invalid" does not resolve',
                     p.text()), p.text()


def test_bind_address_name_changed_by_reload_is_never_ignored(env):
    """A reload to a name that does not resolve: the loop goes on answering,
    the failure is logged with the key, and dials fail rather than leave from
    any address."""
    env.start_relay()
    srv = peer_server()
    d = Daemon(env, extra='bind_address = "localhost";\n')
    d.write_main(f'remote_forward = ( {{ name = "t"; relay = "db"; host = "127.0.0.1"; '
                 f'host_port = {srv.getsockname()[1]}; }} );\n')
    d.start()
    local = free_port()
    env.sender("l", local, "-L", f"127.0.0.1:{local}:db")
    wait_for(lambda: d.binding("t")["state"] == "online", what="the listener online")
    assert first_line(local) == "127.0.0.1"
    d.extra = 'bind_address = "nonexistent.invalid";\n'
    d.write_main(f'remote_forward = ( {{ name = "t"; relay = "db"; host = "127.0.0.1"; '
                 f'host_port = {srv.getsockname()[1]}; }} );\n')
    d.ctl("reload", check=0)
    d.proc.wait_log(r'bind_address "nonexistent\.invalid" does not resolve', timeout=60)
    assert d.ctl("status", check=0)[1]["ok"]
    wait_for(lambda: d.binding("t")["state"] == "online", what="the listener back online")
    assert first_line(local) == ""
    d.proc.wait_log(r"cannot reach the target")


def test_port_name_that_is_not_utf8_breaks_no_reply(env):
    """A port name of bytes that are not UTF-8 reaches the forward's last
    error: every reply that shows it must still be JSON, and escaped."""
    d, _ = refused_port_name(env, b"p\xff\xfe\xc3")
    for verb in (["list"], ["stats"], ["show", "t"], ["--json", "stats"], ["status"]):
        r = subprocess.run([CTL, "--socket", d.sock, *verb], capture_output=True, timeout=30)
        assert r.returncode == 0, (verb, r)
        r.stdout.decode("utf-8")                      # valid UTF-8 throughout
    r = subprocess.run([CTL, "--socket", d.sock, "--json", "show", "t"], capture_output=True,
                       timeout=30)
    assert json.loads(r.stdout)["ok"] is True, r.stdout
