"""The seed's database scenario: a real PostgreSQL server reached through the
tunnel with psql and pgbench (Debian's postgresql-15)."""
import contextlib
import os
import shutil
import subprocess
import time

from conftest import free_port, wait_for

PGBIN = "/usr/lib/postgresql/15/bin"


def as_postgres(*argv, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                          text=True, timeout=120, **kw)


@contextlib.contextmanager
def postgres(env):
    """A throw-away PostgreSQL cluster on 127.0.0.1; yields its port."""
    data = os.path.join(env.tmp, "pgdata")
    os.makedirs(data)
    shutil.chown(env.tmp, "postgres")
    shutil.chown(data, "postgres")
    os.chmod(env.tmp, 0o755)
    r = as_postgres(f"{PGBIN}/initdb", "-D", data, "-A", "trust", "-U", "postgres")
    assert r.returncode == 0, r.stderr
    pg_port = free_port()
    server = subprocess.Popen(["runuser", "-u", "postgres", "--", f"{PGBIN}/postgres", "-D", data,
                               "-p", str(pg_port), "-k", data, "-c", "listen_addresses=127.0.0.1",
                               "-c", "fsync=off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: subprocess.run([f"{PGBIN}/pg_isready", "-h", "127.0.0.1", "-p",
                                         str(pg_port)], capture_output=True).returncode == 0,
                 timeout=30, what="PostgreSQL")
        yield pg_port
    finally:
        server.terminate()
        server.wait(30)


def psql(port, sql):
    return subprocess.run([f"{PGBIN}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                           "-tA", "-c", sql], capture_output=True, text=True, timeout=60)


def test_psql_and_pgbench_through_the_tunnel(env):
    with postgres(env) as pg_port:
        local = free_port()
        env.start_relay()
        env.listener("t", "-T", f"db:{pg_port}")
        env.sender("l", local, "-L", f"127.0.0.1:{local}:db")
        conn = ["-h", "127.0.0.1", "-p", str(local), "-U", "postgres"]
        r = psql(local, "select 6 * 7, current_setting('port')")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"42|{pg_port}"
        r = subprocess.run([f"{PGBIN}/pgbench", *conn, "-i", "-s", "2", "postgres"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        start = time.monotonic()
        r = subprocess.run([f"{PGBIN}/pgbench", *conn, "-c", "8", "-j", "2", "-T", "5",
                            "postgres"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - start < 60
        assert "number of failed transactions: 0" in r.stdout
        tps = [ln for ln in r.stdout.splitlines() if ln.startswith("tps")]
        print("pgbench through the tunnel:", tps)
        assert tps and float(tps[0].split()[2]) > 10
