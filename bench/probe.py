#!/usr/bin/env python3
"""Latency, memory and scale probes against an echo server, all on loopback.
bench/measure.py imports them; from the command line:

  probe.py ttfb PORT COUNT [GAP_MS]  new connection -> first echoed byte, p50/p99 (ms)
  probe.py rtt PORT COUNT         1-byte request/response on one open connection, p50/p99 (us)
  probe.py hold PORT COUNT PIDS   open COUNT connections, print each pid's RSS growth (KiB)
"""
import asyncio
import socket
import statistics
import sys
import time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def ttfb_times(port, count, gap_s=0.0):
    """Milliseconds from connect() to the first echoed byte, one new connection
    each; gap_s apart (0: back to back, each as soon as the last has closed)."""
    times = []
    for _ in range(count):
        if gap_s:
            time.sleep(gap_s)
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(b"x")
            if c.recv(1) != b"x":
                raise RuntimeError("ttfb: no echo")
            times.append((time.perf_counter() - t0) * 1000)
    return times


def rtt_times(port, count):
    """Microseconds per 1-byte request/response on one open connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"w")
        c.recv(1)
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            c.sendall(b"p")
            if c.recv(1) != b"p":
                raise RuntimeError("rtt: no echo")
            times.append((time.perf_counter() - t0) * 1e6)
    return times


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid):
    return status_kib(pid, "VmRSS")


async def _open_one(port, sem, deadline):
    async with sem:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), left)
            w.write(b"h")
            if await asyncio.wait_for(r.readexactly(1), max(deadline - time.monotonic(), 0.01)) == b"h":
                return r, w
            w.close()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        return None


async def open_many(port, count, concurrency, secs):
    """Open up to COUNT tunnels, CONCURRENCY at a time, within SECS; each one
    has echoed a byte end to end. Returns the (reader, writer) pairs."""
    sem = asyncio.Semaphore(concurrency)
    deadline = time.monotonic() + secs
    got = await asyncio.gather(*(_open_one(port, sem, deadline) for _ in range(count)))
    return [c for c in got if c]


async def _pingpong(conn, until, payload):
    r, w = conn
    n = 0
    try:
        while time.monotonic() < until:
            w.write(payload)
            await r.readexactly(len(payload))
            n += 1
    except (OSError, asyncio.IncompleteReadError):
        pass
    return n


async def traffic(conns, secs, size=64):
    """Every connection sends SIZE bytes and waits for their echo, over and
    over for SECS. Returns (round trips in all, connections that made one)."""
    until = time.monotonic() + secs
    payload = b"t" * size
    jobs = [_pingpong(c, until, payload) for c in conns]
    try:
        counts = await asyncio.wait_for(asyncio.gather(*jobs), secs + 30)
    except asyncio.TimeoutError:
        return 0, 0
    return sum(counts), sum(1 for n in counts if n)


async def close_all(conns):
    for _, w in conns:
        w.close()
    await asyncio.sleep(0)


async def _hold(port, count, pids):
    before = {p: rss_kib(p) for p in pids}
    anon = {p: status_kib(p, "RssAnon") for p in pids}
    conns = await open_many(port, count, 64, 60)
    await asyncio.sleep(1)
    for p, name in pids.items():
        after = rss_kib(p)
        print(f"rss_kib {name} idle={before[p]} (private {anon[p]}) with_{len(conns)}={after} "
              f"per_tunnel={(after - before[p]) / max(len(conns), 1):.1f}")
    await close_all(conns)


def main():
    mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "ttfb":
        t = ttfb_times(port, count, float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0)
        print(f"ttfb_ms p50={pct(t, 50):.3f} p99={pct(t, 99):.3f} "
              f"mean={statistics.mean(t):.3f} n={count}")
    elif mode == "rtt":
        t = rtt_times(port, count)
        print(f"rtt_us p50={pct(t, 50):.1f} p99={pct(t, 99):.1f} n={count}")
    else:
        pids = {int(pid): name for name, pid in (s.split("=") for s in sys.argv[4:])}
        asyncio.run(_hold(port, count, pids))


if __name__ == "__main__":
    main()
