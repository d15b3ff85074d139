#!/usr/bin/env python3
"""Latency and memory probes for bench/tunnel.sh, all on loopback.

  probe.py ttfb PORT COUNT        new connection -> first echoed byte, p50/p99 (ms)
  probe.py rtt PORT COUNT         1-byte request/response on one open connection, p50/p99 (us)
  probe.py hold PORT COUNT PIDS   open COUNT connections, print each pid's RSS growth (KiB)
"""
import socket
import statistics
import sys
import time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def ttfb(port, count):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(b"x")
            if c.recv(1) != b"x":
                raise SystemExit("ttfb: no echo")
            times.append((time.perf_counter() - t0) * 1000)
    print(f"ttfb_ms p50={pct(times, 50):.3f} p99={pct(times, 99):.3f} "
          f"mean={statistics.mean(times):.3f} n={count}")


def rtt(port, count):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"w")
        c.recv(1)
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            c.sendall(b"p")
            if c.recv(1) != b"p":
                raise SystemExit("rtt: no echo")
            times.append((time.perf_counter() - t0) * 1e6)
    print(f"rtt_us p50={pct(times, 50):.1f} p99={pct(times, 99):.1f} n={count}")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return status_kib(pid, "VmRSS")


def hold(port, count, pids):
    before = {p: rss_kib(p) for p in pids}
    anon = {p: status_kib(p, "RssAnon") for p in pids}
    conns = []
    for _ in range(count):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"h")
        conns.append(c)
    for c in conns:               # every tunnel is open end to end
        if c.recv(1) != b"h":
            raise SystemExit("hold: no echo")
    time.sleep(1)
    for p, name in pids.items():
        after = rss_kib(p)
        print(f"rss_kib {name} idle={before[p]} (private {anon[p]}) with_{count}={after} "
              f"per_tunnel={(after - before[p]) / count:.1f}")
    for c in conns:
        c.close()


def main():
    mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "ttfb":
        ttfb(port, count)
    elif mode == "rtt":
        rtt(port, count)
    else:
        pids = {}
        for spec in sys.argv[4:]:
            name, pid = spec.split("=")
            pids[int(pid)] = name
        hold(port, count, pids)


if __name__ == "__main__":
    main()
