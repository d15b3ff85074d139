"""Local users against the root daemon: a user holding a lock on the hosts
file, a daemon that must leave the hosts file alone, and what a user listed
in control_users may and may not make the daemon do."""
import ctypes
import fcntl
import json
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import time

from conftest import Proc, echo_server, free_port, wait_for
from test_daemon import CTL, HOSTS, Daemon, forwards, local_entry, read_hosts, start_target
from test_tunnels import roundtrip

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def hold_flock(env, path, *, user=True, name="holder"):
    """A process (unprivileged unless user=False) holding flock(LOCK_EX) on
    path; -o keeps the lock in flock itself, so stopping it frees the lock."""
    argv = [*(AS_NOBODY if user else []), "flock", "-o", "-x", path, "sleep", "300"]
    p = Proc(name, argv, env.tmp, ours=False)
    env.procs.append(p)

    def held():
        with open(path) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    wait_for(held, what=f"the lock on {path}")
    return p


def status_answers(d, timeout=5):
    """azbridgectl status, answered within timeout seconds."""
    r = subprocess.run([CTL, "--socket", d.sock, "--timeout", str(timeout), "--json", "status"],
                       capture_output=True, text=True, timeout=timeout + 30)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def open_tree(env):
    os.chmod(env.tmp, 0o755)     # the socket's mode and group decide, not the path


# ---- item 9: the hosts-file lock -------------------------------------------------

def test_user_flock_on_hosts_file_does_not_stall_the_daemon(env):
    open_tree(env)
    env.start_relay()
    d = Daemon(env, hosts_text=HOSTS)
    os.chmod(d.hosts, 0o644)     # world-readable, as /etc/hosts is
    d.write_main(forwards(local_entry("sql", free_port(), extra=' host_name = "sql1.corp.example";')))
    hold_flock(env, d.hosts)
    d.start()                    # start-up completes (it waits for "running")
    status_answers(d)
    wait_for(lambda: "sql1.corp.example" in read_hosts(d), what="the entry, despite the lock")
    # A reload that adds another host name.
    d.dropin("60-web.conf", forwards(local_entry("web", free_port(),
                                                 extra=' host_name = "web.corp.example";')))
    r = subprocess.run([CTL, "--socket", d.sock, "--timeout", "5", "--json", "reload"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["added"] == ["web"], r
    wait_for(lambda: "web.corp.example" in read_hosts(d), what="the second entry")
    # Entries by hand, and the daemon still answering.
    d.ctl("--timeout", "5", "hosts", "add", "10.0.0.5", "db.example", check=0)
    assert "db.example" in read_hosts(d)
    _, out, _ = d.ctl("--timeout", "5", "hosts", "list", check=0)
    assert len(out["entries"]) == 3, out
    assert status_answers(d)["bindings"] == 2
    assert read_hosts(d).startswith(HOSTS)


def test_writers_wait_for_the_lock_file_from_a_timer(env):
    """The lock that writers share is a file in the runtime directory; while
    another writer holds it the daemon keeps answering and retries."""
    env.start_relay()
    d = Daemon(env, hosts_text=HOSTS)
    d.write_main(forwards(local_entry("sql", free_port(), extra=' host_name = "sql1.corp.example";')))
    lock = os.path.join(d.dir, "hosts.lock")
    with open(lock, "w"):
        pass
    os.chmod(lock, 0o600)
    holder = hold_flock(env, lock, user=False)
    d.start()
    for _ in range(3):
        status_answers(d)
        time.sleep(0.5)
    assert "sql1.corp.example" not in read_hosts(d)      # the lock is honoured
    rc, out, _ = d.ctl("--timeout", "5", "hosts", "add", "10.0.0.5", "db.example")
    assert rc == 1 and out["error"] == "busy" and "hosts.lock" in out["message"], out
    holder.stop()
    wait_for(lambda: "sql1.corp.example" in read_hosts(d), timeout=30,
             what="the entry once the lock is free")
    d.ctl("hosts", "add", "10.0.0.5", "db.example", check=0)
    st = os.lstat(lock)
    assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o600 and st.st_uid == 0


def test_fifo_as_hosts_file_does_not_hang_the_daemon(env):
    env.start_relay()
    d = Daemon(env)
    os.mkfifo(d.hosts, 0o644)
    d.write_main(forwards(local_entry("sql", free_port(), extra=' host_name = "sql1.corp.example";')))
    d.start()
    rc, out, _ = d.ctl("--timeout", "5", "hosts", "list")
    assert rc == 1 and "not a regular file" in out["message"], out
    rc, out, _ = d.ctl("--timeout", "5", "hosts", "add", "10.0.0.5", "db.example")
    assert rc == 1 and "not a regular file" in out["message"], out
    assert status_answers(d)["bindings"] == 1
    d.proc.wait_log(r"hosts file .* not updated: .*not a regular file")
    assert stat.S_ISFIFO(os.lstat(d.hosts).st_mode)


def test_hosts_file_writable_in_a_read_only_directory(env):
    """As under ProtectSystem=strict with ReadWritePaths=/etc/hosts: the file
    can be written but nothing can be created beside it, so it is rewritten
    in place, under the lock file."""
    env.start_relay()
    d = Daemon(env)
    etc, src = os.path.join(d.dir, "etc"), os.path.join(d.dir, "hosts.rw")
    os.mkdir(etc)
    for p in (src, os.path.join(etc, "hosts")):
        with open(p, "w", newline="") as f:
            f.write(HOSTS)
    d.base = d.base.replace(d.hosts, os.path.join(etc, "hosts"))
    d.write_main(forwards(local_entry("sql", free_port(), extra=' host_name = "sql1.corp.example";')))
    ro = ["unshare", "-m", "sh", "-c",
          f'mount --make-rprivate / && mount --bind "{etc}" "{etc}" && '
          f'mount -o remount,bind,ro "{etc}" && mount --bind "{src}" "{etc}/hosts" && exec "$@"',
          "sh"]
    d.start(wrap=ro)
    wait_for(lambda: "sql1.corp.example" in open(src, newline="").read(),
             what="the entry written in place")
    assert open(src, newline="").read().startswith(HOSTS)
    assert "not updated" not in d.proc.text()
    assert d.proc.stop() == 0
    assert open(src, newline="").read() == HOSTS


IN_ALL_EVENTS = 0xfff


class Inotify:
    def __init__(self, *paths):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        self.wd = {}
        for p in paths:
            wd = self.libc.inotify_add_watch(self.fd, p.encode(), IN_ALL_EVENTS)
            assert wd >= 0, os.strerror(ctypes.get_errno())
            self.wd[wd] = p

    def events(self):
        """(path, name, mask) of everything seen so far."""
        out, buf = [], b""
        while True:
            try:
                buf += os.read(self.fd, 65536)
            except BlockingIOError:
                break
        while buf:
            wd, mask, _, n = struct.unpack_from("iIII", buf)
            name = buf[16:16 + n].rstrip(b"\0").decode()
            out.append((self.wd.get(wd), name, mask))
            buf = buf[16 + n:]
        return out

    def close(self):
        os.close(self.fd)


def test_daemon_without_host_name_never_opens_the_hosts_file(env):
    env.start_relay()
    start_target(env)
    # The file even holds a binding's entry, left by something else: without
    # the daemon's own record of having written it, it stays as it is.
    left = HOSTS + "\n# BEGIN azbridge (managed by azbridged; use azbridgectl hosts)\n" \
        "127.0.0.1\told.example\t# binding=old\n# END azbridge\n"
    d = Daemon(env, hosts_text=left)
    port = free_port()
    d.write_main(forwards(local_entry("a", port)))
    watch = Inotify(d.hosts, d.dir)
    try:
        d.start()
        assert roundtrip(port, b"x") == b"x"
        d.ctl("reload", check=0)
        d.dropin("60-b.conf", forwards(local_entry("b", free_port())))
        d.ctl("reload", check=0)
        status_answers(d)
        assert d.proc.stop() == 0
        seen = [(p, n, hex(m)) for p, n, m in watch.events()
                if p == d.hosts or n == "hosts" or n.startswith(".hosts")]
    finally:
        watch.close()
    assert seen == [], seen
    assert read_hosts(d) == left
    # A FIFO in its place: opening it would hang the daemon.
    os.unlink(d.hosts)
    os.mkfifo(d.hosts, 0o644)
    d.start()
    status_answers(d)
    d.ctl("reload", check=0)
    assert status_answers(d)["bindings"] == 2


# ---- item 10: what control_users may do ----------------------------------------------

def raw_request(sock, obj, user=NOBODY):
    """One request line sent as user, the reply object back."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\ns.settimeout(30)\ns.connect(sys.argv[1])\n"
            "s.sendall(sys.argv[2].encode() + b'\\n')\nbuf = b''\n"
            "while not buf.endswith(b'\\n'):\n"
            "    b = s.recv(65536)\n    if not b:\n        break\n    buf += b\n"
            "sys.stdout.write(buf.decode())\n")
    argv = [*(AS_NOBODY if user == NOBODY else []), "/usr/bin/python3", "-c", code, sock,
            json.dumps(obj)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def policy_daemon(env, extra=""):
    open_tree(env)
    d = Daemon(env, hosts_text=HOSTS)
    os.chmod(d.hosts, 0o644)
    allowed = os.path.join(env.tmp, "socks")
    outside = os.path.join(env.tmp, "outside")
    for p in (allowed, outside):
        os.mkdir(p, 0o755)
    d.extra = ('control_group = "nogroup";\ncontrol_users = [ "nobody" ];\n'
               f'control_socket_dirs = [ "{allowed}", "{d.dir}" ];\n'
               'control_host_names = [ "dev.example" ];\n' + extra)
    d.write_main(forwards(local_entry("base", free_port())))
    return d, allowed, outside


def refused(d, *args, want, key=None):
    rc, out, err = d.ctl(*args, user=NOBODY)
    assert rc == 4 and out["error"] == "permission-denied", (args, rc, out, err)
    assert want in out["message"], (args, out)
    if key:
        assert key in out["message"], (args, out)
    return out


def stale_socket(path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    return os.lstat(path).st_ino


def test_control_user_unix_sockets_only_in_allowed_dirs(env):
    env.start_relay()
    tport = start_target(env, "r1")
    d, allowed, outside = policy_daemon(env)
    d.start()
    echo_server(unix_path=os.path.join(outside, "x.sock"), banner=b"outside")
    echo_server(unix_path=os.path.join(allowed, "t.sock"), banner=b"allowed")
    os.symlink(outside, os.path.join(allowed, "link"))
    os.symlink(os.path.join(outside, "x.sock"), os.path.join(allowed, "alias.sock"))
    mine = os.path.join(allowed, "mine")
    os.mkdir(mine, 0o755)
    os.chown(mine, NOBODY, NOBODY)
    target = ["add", "--runtime", "--remote", "--relay", "r9", "--target-socket"]
    # The daemon's own control socket: a forward to it would make every
    # sender a root client of the daemon. Its directory is even allowed.
    out = refused(d, *target, d.sock, want="control socket")
    refused(d, *target, os.path.join(d.dir, "..", "d", "ctl.sock"), want="..")
    # Outside the allowed directories, directly, through a symlinked
    # directory, as a symlink, and with "..".
    refused(d, *target, os.path.join(outside, "x.sock"), want=outside, key="control_socket_dirs")
    refused(d, *target, os.path.join(allowed, "link", "x.sock"), want=outside,
            key="control_socket_dirs")
    refused(d, *target, os.path.join(allowed, "alias.sock"), want="symbolic link")
    refused(d, *target, os.path.join(allowed, "..", "outside", "x.sock"), want="..")
    refused(d, *target, "relative.sock", want="absolute")
    # A directory the caller can write: the socket there could be swapped.
    refused(d, *target, os.path.join(mine, "s.sock"), want="uid 65534 can write")
    # Listening sockets: outside, and over a stale socket that binding would
    # have deleted; the persistent form is checked the same way.
    stale = os.path.join(outside, "stale.sock")
    ino = stale_socket(stale)
    refused(d, "add", "--runtime", "-L", f"{os.path.join(outside, 'new.sock')}:r1",
            want=outside, key="control_socket_dirs")
    refused(d, "add", "-L", f"{stale}:r1", want=outside, key="control_socket_dirs")
    assert os.lstat(stale).st_ino == ino
    assert not os.path.exists(os.path.join(outside, "new.sock"))
    assert os.listdir(d.dropins) == []
    assert [b["name"] for b in d.ctl("list", check=0)[1]["bindings"]] == ["base"]
    # Root may.
    d.ctl("add", "--runtime", "--name", "root-t", "--remote", "--relay", "r8",
          "--target-socket", os.path.join(outside, "x.sock"), check=0)
    p8 = free_port()
    env.sender("s8", p8, "-L", f"127.0.0.1:{p8}:r8")
    wait_for(lambda: d.binding("root-t")["state"] == "online", what="root's forward online")
    assert roundtrip(p8, b"!").startswith(b"outside")
    # Allowed ones work end to end: a target and a listening socket.
    rc, out, err = d.ctl("add", "--runtime", "--name", "t", "--remote", "--relay", "r2",
                         "--target-socket", os.path.join(allowed, "t.sock"), user=NOBODY)
    assert rc == 0, (out, err)
    p2 = free_port()
    env.sender("s2", p2, "-L", f"127.0.0.1:{p2}:r2")
    wait_for(lambda: d.binding("t")["state"] == "online", what="the user's forward online")
    assert roundtrip(p2, b"hi") == b"allowedhi"
    lsock = os.path.join(allowed, "in.sock")
    rc, out, err = d.ctl("add", "--name", "l", "-L", f"[{lsock}]/{tport}:r1", user=NOBODY)
    assert rc == 0, (out, err)
    assert os.path.exists(os.path.join(d.dropins, "50-l.conf"))
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(30)
        c.connect(lsock)
        c.sendall(b"via unix")
        c.shutdown(socket.SHUT_WR)
        got = b""
        while len(got) < 8:
            b = c.recv(100)
            if not b:
                break
            got += b
    assert got == b"via unix"


def privileged_free_port():
    for port in range(1000, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


def test_control_user_ports_keys_and_host_names(env):
    env.start_relay()
    d, allowed, outside = policy_daemon(env)
    d.start()
    priv = privileged_free_port()
    refused(d, "add", "--runtime", "-L", "127.0.0.1:80:r1", want="port 80",
            key="control_privileged_ports")
    refused(d, "add", "--runtime", "-L", f"127.0.0.1:{priv}:r1", want=str(priv),
            key="control_privileged_ports")
    refused(d, "add", "--runtime", "--local", "--relay", "r1", "--bind", "127.0.0.1:53",
            "--udp", want="53", key="control_privileged_ports")
    # Keys outside the list for control users, even ones that root's files
    # know; credentials are refused for everyone.
    port = free_port()
    for key, value in (("log_file", "/tmp/x.log"), ("hosts_file", "/etc/passwd"),
                       ("control_users", "nobody")):
        out = raw_request(d.sock, {"cmd": "add", "runtime": True, "binding": {
            "direction": "local", "relay": "r1", "bind_port": port, key: value}})
        assert out["error"] == "permission-denied" and key in out["message"] \
            and "control_users" in out["message"], out
    out = raw_request(d.sock, {"cmd": "add", "runtime": True, "binding": {
        "direction": "remote", "relay": "r1", "bindings": [
            {"host_port": port, "log_level": "debug"}]}})
    assert out["error"] == "permission-denied" and "log_level" in out["message"], out
    out = raw_request(d.sock, {"cmd": "add", "binding": {
        "direction": "local", "relay": "r1", "bind_port": port,
        "shared_access_key_file": "/etc/shadow"}})
    assert out["ok"] is False and "shared_access_key_file" in out["message"], out
    # Host names: only under control_host_names, on label boundaries.
    d.ctl("hosts", "add", "10.9.0.1", "mirror.example", check=0)         # root
    for name in ("deb.debian.org", "dev.example.evil.org", "xdev.example", "mirror.example"):
        refused(d, "hosts", "add", "10.0.0.5", name, want=name, key="control_host_names")
    refused(d, "hosts", "remove", "mirror.example", want="mirror.example", key="control_host_names")
    refused(d, "add", "--runtime", "--local", "--relay", "r1", "--bind", f"127.0.0.1:{port}",
            "--host-name", "deb.debian.org", want="deb.debian.org", key="control_host_names")
    text = read_hosts(d)
    assert "deb.debian.org" not in text and "10.9.0.1\tmirror.example" in text
    d.ctl("hosts", "add", "10.0.0.6", "api.dev.example", user=NOBODY, check=0)
    d.ctl("hosts", "add", "10.0.0.7", "dev.example", user=NOBODY, check=0)
    d.ctl("hosts", "remove", "dev.example", user=NOBODY, check=0)
    d.ctl("add", "--runtime", "--name", "web", "--local", "--relay", "r1", "--bind",
          f"127.0.0.1:{port}", "--host-name", "web.dev.example", user=NOBODY, check=0)
    wait_for(lambda: "web.dev.example" in read_hosts(d), what="the user's host name")
    assert "10.0.0.6\tapi.dev.example" in read_hosts(d)
    # Root still may do all of it.
    d.ctl("hosts", "add", "10.0.0.8", "deb.debian.org", check=0)
    d.ctl("add", "--runtime", "--name", "priv", "-L", f"127.0.0.1:{priv}:r1", check=0)
    d.ctl("remove", "priv", check=0)
    # The configuration may allow privileged ports.
    d.extra += "control_privileged_ports = true;\n"
    d.write_main(forwards(local_entry("base", free_port())))
    d.ctl("reload", check=0)
    d.ctl("add", "--runtime", "--name", "p", "-L", f"127.0.0.1:{priv}:r1", user=NOBODY, check=0)
    assert d.binding("p")["state"] == "listening"


def test_non_control_user_is_refused_before_any_check(env):
    """A member of control_group that is not in control_users gets the
    permission error, not a policy message that would probe the file system."""
    env.start_relay()
    d, allowed, outside = policy_daemon(env)
    d.extra = d.extra.replace('control_users = [ "nobody" ];\n', "")
    d.write_main(forwards(local_entry("base", free_port())))
    d.start()
    rc, out, _ = d.ctl("add", "--runtime", "--remote", "--relay", "r1", "--target-socket",
                       os.path.join(outside, "x.sock"), user=NOBODY)
    assert rc == 4 and "control_users" in out["message"] and outside not in out["message"], out


# ---- item 13: a restored drop-in keeps its mode and owner --------------------------

def test_dropin_restored_after_failed_reload_keeps_mode_and_owner(env):
    env.start_relay()
    d = Daemon(env)
    d.write_main(forwards(local_entry("base", free_port())))
    d.start()
    d.ctl("add", "--name", "m", "-L", f"127.0.0.1:{free_port()}:r1", check=0)
    path = os.path.join(d.dropins, "50-m.conf")
    text = open(path).read()
    os.chmod(path, 0o640)
    os.chown(path, 0, NOBODY)             # root's, as every configuration file must be
    with open(d.conf, "a") as f:
        f.write("this is not libconfig\n")
    rc, out, err = d.ctl("remove", "m")
    assert rc == 1 and out["error"] == "config", out
    st = os.stat(path)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 0, NOBODY), oct(st.st_mode)
    assert open(path).read() == text
    assert d.binding("m") is not None
    assert sorted(os.listdir(d.dropins)) == ["50-m.conf"]
    # Once the configuration is fixed the removal goes through, leaving nothing.
    d.write_main(forwards(local_entry("base", free_port())))
    d.ctl("remove", "m", check=0)
    assert os.listdir(d.dropins) == [] and d.binding("m") is None
