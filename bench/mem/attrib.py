#!/usr/bin/env python3
"""Where the memory of open tunnels goes, on loopback:
client -> azbridged -L -> azbridge-relayd -> azbridged -T -> echo server.

  attrib.py [--build DIR] [--count N] [--wrap NAME=CMD]...

Prints, for each process, RSS and private (anonymous) memory from
/proc/PID/smaps_rollup when idle, with COUNT idle tunnels open, and after
they have all closed (a burst). --wrap runs one process (L, T or relay)
under a tool, e.g. --wrap 'relay=valgrind --tool=massif --massif-out-file=/tmp/r.ms'.
"""
import argparse
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path, text, secs=60):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                data = f.read()
            if text in data:
                return data
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timeout waiting for {text!r} in {path}")


def rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def snap(procs):
    return {name: rollup(p.pid) for name, p in procs.items()}


def massif_snapshots(procs, wrap, label):
    """Under massif, a detailed snapshot now: NAME-LABEL.ms beside --massif-out-file."""
    for name, p in procs.items():
        w = wrap.get(name, "")
        if "massif" not in w:
            continue
        out = w.split("--massif-out-file=")[1].split()[0] if "--massif-out-file=" in w else "massif"
        path = f"{out}.{label}"
        subprocess.run(["vgdb", f"--pid={p.pid}", "detailed_snapshot", path],
                       stdout=subprocess.DEVNULL, timeout=60, check=False)
        print(f"massif   {name:6} {path}", flush=True)


def gdb_trim_ms(pid):
    """malloc_trim(0) called in pid through gdb; returns how long the call
    took, from clock_gettime read in the process before and after."""
    t = "((double)({}) * 1e3 + (double)({}) / 1e6)"
    out = subprocess.run(
        ["gdb", "-p", str(pid), "-batch",
         "-ex", "set $a = (long *)malloc(32)",
         "-ex", "call (int)clock_gettime(1, $a)",
         "-ex", "call (int)malloc_trim(0)",
         "-ex", "call (int)clock_gettime(1, $a + 2)",
         "-ex", "print " + t.format("$a[2]", "$a[3]") + " - " + t.format("$a[0]", "$a[1]")],
        capture_output=True, text=True, timeout=120).stdout
    lines = [l for l in out.splitlines() if l.startswith("$")]
    return float(lines[-1].split("=")[1]) if lines else float("nan")


def show(label, s, base=None, count=0):
    for name, r in s.items():
        line = (f"{label:8} {name:6} rss={r['Rss']:6} KiB pss={r['Pss']:6} "
                f"anon={r['Anonymous']:6} private={r['Private_Clean'] + r['Private_Dirty']:6}")
        if base and count:
            line += f" per_tunnel={(r['Rss'] - base[name]['Rss']) * 1024 / count / 1024:.1f} KiB"
        elif base:
            line += f" vs_idle={r['Rss'] - base[name]['Rss']:+d} KiB"
        print(line, flush=True)


def hold(port, count, batch=250):
    """Open count tunnels, batch at a time (each batch echoed before the
    next: thousands of TLS handshakes at once would outlast their timeouts
    on a small machine), and keep them open."""
    conns = []
    while len(conns) < count:
        new = []
        for _ in range(min(batch, count - len(conns))):
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            c.sendall(b"h")
            new.append(c)
        for c in new:
            c.settimeout(60)
            if c.recv(1) != b"h":
                raise SystemExit(f"hold: no echo after {len(conns)} tunnels")
        conns += new
    return conns


def bulk(port, mb):
    """Send mb MiB through the echo tunnel while reading the echo back."""
    import threading
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    total, chunk = mb << 20, b"x" * 65536

    def send():
        for _ in range(total // len(chunk)):
            c.sendall(chunk)
    t = threading.Thread(target=send)
    t.start()
    got = 0
    while got < total:
        n = len(c.recv(1 << 20))
        if not n:
            raise SystemExit("bulk: closed early")
        got += n
    t.join()
    c.close()
    print(f"bulk     {got >> 20} MiB echoed", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--wrap", action="append", default=[])
    ap.add_argument("--bulk", type=int, default=0, metavar="MB",
                    help="instead: echo MB megabytes through one tunnel (for strace -c or "
                         "callgrind under --wrap)")
    ap.add_argument("--strace", metavar="PREFIX",
                    help="with --bulk: strace -c -f each process during the transfer "
                         "into PREFIX.NAME")
    ap.add_argument("--gdb-trim", action="store_true",
                    help="with the tunnels open and again just after they closed, call "
                         "malloc_trim(0) in each process through gdb: how long it takes, "
                         "and what is free in the heap but still resident")
    a = ap.parse_args()
    wrap = dict(w.split("=", 1) for w in a.wrap)
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    d = tempfile.mkdtemp(prefix="azbridge-mem-")
    echo, lport = free_port(), free_port()
    procs, logs = {}, {}

    def start(name, argv):
        logs[name] = os.path.join(d, name + ".log")
        argv = shlex.split(wrap.get(name, "")) + argv
        procs[name] = subprocess.Popen(argv, stdout=open(logs[name], "w"),
                                       stderr=subprocess.STDOUT)

    es = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "echo.py"), str(echo)])
    try:
        conf = os.path.join(d, "relayd.conf")
        with open(conf, "w") as f:   # every tunnel comes from 127.0.0.1
            f.write("max_connections = 100000;\nmax_connections_per_source = 100000;\n")
        os.chmod(conf, 0o600)
        start("relay", [f"{a.build}/azbridge-relayd", "--dev", "--config", conf,
                        "--state-dir", d + "/relay"])
        text = wait_for(logs["relay"], "CA certificate:")
        cs = text.split("connection string: ")[1].split("\n")[0]
        ca = text.split("CA certificate: ")[1].split("\n")[0]
        start("T", [f"{a.build}/azbridged", "-o", f"ca_file:{ca}", "-x", cs,
                    "-T", f"bench:echo/localhost:{echo}"])
        start("L", [f"{a.build}/azbridged", "-o", f"ca_file:{ca}", "-x", cs,
                    "-L", f"127.0.0.1:{lport}/echo:bench"])
        wait_for(logs["L"], f"listening on 127.0.0.1:{lport}")
        time.sleep(a.settle)
        hold(lport, 1)[0].close()   # one tunnel first: lazily made contexts exist
        time.sleep(a.settle)
        if a.bulk:
            tracers = [subprocess.Popen(["strace", "-c", "-f", "-p", str(p.pid), "-o",
                                         f"{a.strace}.{name}"], stderr=subprocess.DEVNULL)
                       for name, p in procs.items()] if a.strace else []
            time.sleep(1 if tracers else 0)
            bulk(lport, a.bulk)
            for t in tracers:
                t.send_signal(signal.SIGINT)
                t.wait(30)
            return
        idle = snap(procs)
        show("idle", idle)
        massif_snapshots(procs, wrap, "idle")
        conns = hold(lport, a.count)
        time.sleep(a.settle)
        show("open", snap(procs), idle, a.count)
        massif_snapshots(procs, wrap, "open")
        if a.gdb_trim:
            for name, p in procs.items():
                print(f"trim     {name:6} {gdb_trim_ms(p.pid):.1f} ms", flush=True)
            show("trimmed", snap(procs), idle, a.count)
        for c in conns:
            c.close()
        if a.gdb_trim:   # before the processes' own trim, 1 s after the last close
            time.sleep(0.3)
            for name, p in procs.items():   # one at a time: the later may have trimmed
                rss = rollup(p.pid)["Rss"]
                print(f"trim     {name:6} after the close: {gdb_trim_ms(p.pid):.1f} ms "
                      f"(rss {rss} -> {rollup(p.pid)['Rss']} KiB)", flush=True)
        time.sleep(a.settle * 3)
        show("closed", snap(procs), idle)
        massif_snapshots(procs, wrap, "closed")
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        es.kill()


if __name__ == "__main__":
    main()
