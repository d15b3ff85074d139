#!/usr/bin/env python3
"""Every tunnel figure of make bench, one table each, for the paths that
bench/tunnel.sh started (a JSON file: name -> ports and forwarding pids).

Each table has one row per path (direct, azbridge, ssh -L, stunnel), the
figure, the figure over direct's ("x direct") and azbridge's over the row's
("azb/x": above 1 means azbridge is higher). Throughput rounds interleave the
paths, rotating their order, and report the median, so that a neighbour's
load falls on all of them alike. CPU is utime+stime (and that of reaped
children) of each forwarding process and its descendants, from /proc/PID/stat.

Knobs (environment; QUICK=1 picks the second value): SECS 4/1 per throughput
sample, ROUNDS 5/3, TTFB 600/150 new tunnels (half as many again one every
TTFB_GAP_MS 10), RTT 3000/600 round trips,
HOLD 1000/1000 tunnels held, SCALE 8000/2000 tunnels opened within
SCALE_OPEN_SECS 150/40, SCALE_SECS 10/3 of traffic on them, UDP_LEN 1200
bytes, UDP_RATE 0 (unlimited) per flow, UDP_PACED_MBIT 500 in all for the
second UDP run, STUNNEL_MAX 1000 tunnels (stunnel runs a thread per
connection), STEPS (which figures, in order).
"""
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import probe

QUICK = os.environ.get("QUICK", "0") not in ("", "0")


def knob(name, full, quick):
    return int(os.environ.get(name, quick if QUICK else full))


SECS = knob("SECS", 4, 1)
ROUNDS = knob("ROUNDS", 5, 3)
TTFB_N = knob("TTFB", 600, 150)
TTFB_GAP_MS = knob("TTFB_GAP_MS", 10, 10)
RTT_N = knob("RTT", 3000, 600)
HOLD_N = knob("HOLD", 1000, 1000)
SCALE_N = knob("SCALE", 8000, 2000)
SCALE_SECS = knob("SCALE_SECS", 10, 3)
SCALE_OPEN_SECS = knob("SCALE_OPEN_SECS", 150, 40)
UDP_LEN = knob("UDP_LEN", 1200, 1200)
UDP_RATE = os.environ.get("UDP_RATE", "0")
UDP_PACED_MBIT = knob("UDP_PACED_MBIT", 500, 500)
STUNNEL_MAX = knob("STUNNEL_MAX", 1000, 1000)
# Descriptors one tunnel takes in the busiest process of each path (the load
# generator and the echo server take one each).
FD_PER_TUNNEL = {"direct": 1, "azbridge": 2, "ssh -L": 1, "stunnel": 4}
CLK = os.sysconf("SC_CLK_TCK")
FAILED = []
START = {}   # path -> process -> RSS KiB before the first figure
FIGS = {}    # table key -> its rows, for the targets at the end


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        with open("/proc/sys/fs/nr_open") as f:
            hard = int(f.read())
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


NOFILE = raise_nofile()


def fail(what):
    FAILED.append(what)
    print(f"bench: FAILED {what}")


# --- processes -------------------------------------------------------------

def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def tree(root):
    """ROOT and its descendants (sshd forks one process per connection)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                kids.setdefault(int(stat_fields(d)[1]), []).append(int(d))
            except OSError:
                pass
    out = [root]
    for p in out:
        out.extend(kids.get(p, []))
    return out


def cpu_secs(root):
    total = 0
    for p in tree(root):
        try:
            f = stat_fields(p)
        except OSError:
            continue
        total += sum(int(x) for x in f[11:15])   # utime stime cutime cstime
    return total / CLK


def rss(root, field="VmRSS"):
    return sum(probe.status_kib(p, field) for p in tree(root))


def pss(root):
    """Proportional set size, KiB: shared library pages divided among their users."""
    total = 0
    for p in tree(root):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next((int(l.split()[1]) for l in f if l.startswith("Pss:")), 0)
        except OSError:
            pass
    return total


def each(procs, fn):
    return {name: fn(pid) for name, pid in procs.items()}


# --- tables ----------------------------------------------------------------

def fmt(v, digits):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def table(title, cols, rows, key):
    """cols: (header, key, digits, with_ratios); rows: path -> {key: value, "detail": str}."""
    FIGS[key] = rows
    print(f"\n== {title}")
    head = f"{'path':<9}"
    for h, _, _, r in cols:
        head += f" {h:>10}" + (f" {'x direct':>8} {'azb/x':>6}" if r else "")
    print(head + "  detail")
    direct, azb = rows.get("direct", {}), rows.get("azbridge", {})
    for path, row in rows.items():
        line = f"{path:<9}"
        for _, key, digits, r in cols:
            v = row.get(key)
            line += f" {fmt(v, digits):>10}"
            if r:
                line += f" {ratio(v, direct.get(key)):>8} {ratio(azb.get(key), v):>6}"
        print((line + "  " + row.get("detail", "")).rstrip())


def med(values):
    return statistics.median(values) if values else None


# --- figures ---------------------------------------------------------------

def capped(path, want):
    """How many tunnels PATH can hold within the descriptor limit (and, for
    stunnel, STUNNEL_MAX threads), and why a count was cut."""
    n, why = want, []
    fd = (NOFILE - 256) // FD_PER_TUNNEL[path]
    if fd < n:
        n = fd
        why.append(f"descriptor limit {NOFILE}, {FD_PER_TUNNEL[path]} per tunnel in one process")
    if path == "stunnel" and STUNNEL_MAX < n:
        n = STUNNEL_MAX
        why.append(f"a thread per connection, 4 per tunnel: STUNNEL_MAX={STUNNEL_MAX}")
    if why:
        print(f"bench: {path}: {n} tunnels instead of {want} ({'; '.join(why)})")
    return n, "; ".join(why)


def kib_detail(procs, values, digits=1):
    return "  ".join(f"{name} {fmt(values[name], digits)}" for name in procs)


def idle_rss(paths):
    rows = {}
    for path, p in paths.items():
        vm, anon, ps = START[path], each(p["procs"], lambda r: rss(r, "RssAnon")), each(p["procs"], pss)
        rows[path] = {"kib": sum(vm.values()) if vm else None, "procs": vm,
                      "detail": "  ".join(f"{n} {vm[n]} (private {anon[n]}, pss {ps[n]})" for n in vm)}
    table("idle RSS, KiB (each forwarding process: VmRSS; private RssAnon; pss: Pss, shared pages divided)",
          [("KiB", "kib", 0, True)], rows, "idle")


async def hold_one(port, n, procs):
    before = each(procs, rss)
    conns = await probe.open_many(port, n, 64, 120)
    await asyncio.sleep(1)
    held = each(procs, rss)
    await probe.close_all(conns)
    await asyncio.sleep(3)
    after = each(procs, rss)
    return len(conns), before, held, after


def hold_and_burst(paths):
    per, burst = {}, {}
    for path, p in paths.items():
        n, why = capped(path, HOLD_N)
        got, before, held, after = asyncio.run(hold_one(p["echo"], n, p["procs"]))
        if got < n:
            fail(f"hold {path}: {got} of {n} tunnels opened")
        pt = {k: (held[k] - before[k]) / max(got, 1) for k in before}
        per[path] = {"kib": sum(pt.values()) if pt else None, "procs": pt,
                     "detail": (f"{got} held: " if got != HOLD_N else "") + kib_detail(before, pt)
                     + (f"  (cut: {why})" if why else "")}
        d = {k: after[k] - before[k] for k in before}
        moved = "  ".join(f"{k} {before[k]}->{after[k]} ({d[k]:+d})" for k in d)
        burst[path] = {"kib": sum(d.values()) if d else None, "procs": d,
                       "detail": (f"{got} opened: " if got != HOLD_N else "") + moved}
    table(f"RSS per open tunnel, KiB ({HOLD_N} tunnels held, each echoed a byte)",
          [("KiB", "kib", 1, True)], per, "per_tunnel")
    table(f"RSS after a burst of {HOLD_N} tunnels has closed (3 s later), KiB over where it started",
          [("KiB", "kib", 0, True)], burst, "burst")


def interleaved(paths, total, fn):
    """fn(port, count) -> samples, called in ROUNDS rounds over the paths."""
    out = {p: [] for p in paths}
    for r in range(ROUNDS):
        order = list(paths)[r % len(paths):] + list(paths)[:r % len(paths)]
        for path in order:
            try:
                out[path] += fn(paths[path]["echo"], max(total // ROUNDS, 1))
            except (OSError, RuntimeError) as e:
                fail(f"{fn.__name__} {path}: {e}")
    return out


def ttfb_paced(port, count):
    return probe.ttfb_times(port, count, TTFB_GAP_MS / 1000)


def latency(paths):
    t = interleaved(paths, TTFB_N, probe.ttfb_times)
    rows = {p: {"p50": probe.pct(v, 50), "p99": probe.pct(v, 99)} if v else {} for p, v in t.items()}
    table(f"time to first byte of a new tunnel, ms ({TTFB_N} connections back to back, {ROUNDS} "
          "interleaved rounds)", [("p50 ms", "p50", 3, True), ("p99 ms", "p99", 3, True)], rows, "ttfb")
    # Back to back, each tunnel's set-up shares the cores with the last one's
    # close and its replacement spare connections: that row measures how many
    # tunnels a second the path sets up as much as how long one takes. One
    # every TTFB_GAP_MS measures the time itself.
    t = interleaved(paths, TTFB_N // 2, ttfb_paced)
    rows = {p: {"p50": probe.pct(v, 50), "p99": probe.pct(v, 99)} if v else {} for p, v in t.items()}
    table(f"time to first byte of a new tunnel, ms ({TTFB_N // 2} connections, one every "
          f"{TTFB_GAP_MS} ms, {ROUNDS} interleaved rounds)",
          [("p50 ms", "p50", 3, True), ("p99 ms", "p99", 3, True)], rows, "ttfb_paced")
    t = interleaved(paths, RTT_N, probe.rtt_times)
    rows = {p: {"p50": probe.pct(v, 50), "p99": probe.pct(v, 99)} if v else {} for p, v in t.items()}
    table(f"request/response on an open tunnel, us ({RTT_N} round trips of 1 byte)",
          [("p50 us", "p50", 1, True), ("p99 us", "p99", 1, True)], rows, "rtt")


def iperf(port, streams, udp=False, rate=None):
    """One sample; a sample iperf3 itself fails (its control connection can
    time out on a loaded machine, on any path) is taken once more, and said."""
    end, err = iperf_once(port, streams, udp, rate)
    if err:
        print(f"bench: iperf3 on port {port} failed ({err}); that sample is taken again",
              file=sys.stderr)
        time.sleep(1)
        end, err = iperf_once(port, streams, udp, rate)
    return end, err


def iperf_once(port, streams, udp, rate):
    """rate: iperf3 -b per stream for UDP (UDP_RATE if None)."""
    cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-P", str(streams), "-t", str(SECS), "-J"]
    if udp:
        cmd += ["-u", "-b", rate or UDP_RATE, "-l", str(UDP_LEN)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=SECS + 30)
        j = json.loads(p.stdout)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    except ValueError:
        return None, (p.stderr.strip() or "no output")[:200]
    if "error" in j:
        return None, j["error"]
    return j["end"], None


def tcp_sample(path, p, streams, res):
    cpu0 = each(p["procs"], cpu_secs)
    end, err = iperf(p["iperf"], streams)
    if err or not end["sum_received"]["bytes"]:
        fail(f"throughput {path} {streams} streams: {err or 'no bytes'}")
        return
    cpu1 = each(p["procs"], cpu_secs)
    gb = end["sum_received"]["bytes"] / 1e9
    res["gbps"].append(end["sum_received"]["bits_per_second"] / 1e9)
    for k in cpu0:
        res["cpu"].setdefault(k, []).append((cpu1[k] - cpu0[k]) / gb)
    if cpu0:
        res["cpu_total"].append(sum(cpu1.values()) / gb - sum(cpu0.values()) / gb)


def throughput(paths):
    res = {(path, s): {"gbps": [], "cpu": {}, "cpu_total": []} for path in paths for s in (1, 8)}
    for r in range(ROUNDS):
        order = list(paths)[r % len(paths):] + list(paths)[:r % len(paths)]
        for s in (1, 8):
            for path in order:
                tcp_sample(path, paths[path], s, res[(path, s)])
    for s in (1, 8):
        rows = {}
        for path in paths:
            v = res[(path, s)]["gbps"]
            rows[path] = {"v": med(v), "detail": " ".join(f"{x:.2f}" for x in v)}
        table(f"throughput, {s} stream{'s' if s > 1 else ''}, Gbit/s (iperf3, median of {ROUNDS} x {SECS} s;"
              " detail: each sample)", [("Gbit/s", "v", 2, True)], rows, f"tput{s}")
    for s in (1, 8):
        rows = {}
        for path in paths:
            c = res[(path, s)]
            rows[path] = {"v": med(c["cpu_total"]),
                          "detail": kib_detail(c["cpu"], {k: med(v) for k, v in c["cpu"].items()}, 2)}
        table(f"CPU-seconds per GB of the forwarding processes, {s} stream{'s' if s > 1 else ''}"
              " (median; lower is better)", [("CPU-s/GB", "v", 2, True)], rows, f"cpu{s}")


def udp_rounds(both, rate_for):
    res = {(path, f): {"recv": [], "sent": [], "loss": []} for path in both for f in (1, 4)}
    for r in range(ROUNDS):
        for f in (1, 4):
            for path in (list(both)[r % 2:] + list(both)[:r % 2]):
                end, err = iperf(both[path]["udp"], f, udp=True, rate=rate_for(f))
                if err or not end["sum_received"]["bytes"]:
                    fail(f"udp {path} {f} flows: {err or 'nothing received'}")
                    continue
                secs, sent = end["sum"]["seconds"] or SECS, end["sum"]["packets"]
                x = res[(path, f)]
                x["sent"].append(sent / secs)
                x["recv"].append(end["sum_received"]["bytes"] / UDP_LEN / secs)
                x["loss"].append(100 * end["sum"]["lost_packets"] / max(sent, 1))
    return res


def udp(paths):
    """Once offered without limit (capacity: on two cores the sender itself
    takes most of a core), once at UDP_PACED_MBIT in all (loss at a rate)."""
    both = {k: v for k, v in paths.items() if "udp" in v}
    for key, how, rate_for in (("udp", f"iperf3 -b {UDP_RATE}", lambda f: None),
                               ("udp_paced", f"{UDP_PACED_MBIT} Mbit/s offered in all",
                                lambda f: f"{UDP_PACED_MBIT // f}M")):
        res = udp_rounds(both, rate_for)
        for f in (1, 4):
            rows = {path: {k: med(v) for k, v in res[(path, f)].items()} for path in both}
            rows.update({p: {"detail": "TCP only"} for p in paths if p not in both})
            table(f"UDP through -L ...U / -T ...U, {f} flow{'s' if f > 1 else ''}, {UDP_LEN}-byte datagrams"
                  f" ({how}, median of {ROUNDS} x {SECS} s)",
                  [("recv/s", "recv", 0, True), ("sent/s", "sent", 0, False), ("loss %", "loss", 1, False)],
                  rows, f"{key}{f}")


async def scale_one(port, n, procs, before):
    t0 = time.monotonic()
    conns = await probe.open_many(port, n, 100, SCALE_OPEN_SECS)
    opened = time.monotonic() - t0
    held = each(procs, rss)
    trips, carrying = await probe.traffic(conns, SCALE_SECS)
    await probe.close_all(conns)
    return len(conns), opened, held, before, trips, carrying


def scale(paths):
    """A count short of SCALE within SCALE_OPEN_SECS is a result (the table
    says so), not a failure; nothing opened, or a tunnel that did not carry
    its traffic, is."""
    rows = {}
    for path, p in paths.items():
        n, why = capped(path, SCALE_N)
        got, secs, held, before, trips, carrying = asyncio.run(
            scale_one(p["echo"], n, p["procs"], START[path]))
        if not got or carrying < got:
            fail(f"scale {path}: {got} of {n} tunnels opened, {carrying} carried traffic")
        notes = [why] if why else []
        if got < n:
            notes.append(f"only {got} of {n} opened within {SCALE_OPEN_SECS} s")
        pt = {k: (held[k] - before[k]) / max(got, 1) for k in before}
        rows[path] = {"open": got, "carry": carrying, "rate": got / secs, "rt": trips / SCALE_SECS,
                      "kib": sum(pt.values()) if pt else None, "procs": pt,
                      "detail": kib_detail(pt, pt) + "".join(f"  ({x})" for x in notes)}
        time.sleep(3)
    table(f"scale: {SCALE_N} concurrent tunnels, opened 100 at a time, then {SCALE_SECS} s of 64-byte"
          " round trips on every one (KiB per tunnel: over the idle RSS; detail: per process)",
          [("tunnels", "open", 0, False), ("carrying", "carry", 0, False), ("opened/s", "rate", 0, True),
           ("trips/s", "rt", 0, True), ("KiB/tunnel", "kib", 1, True)], rows, "scale")


def fig(key, path, field, proc=None):
    row = FIGS.get(key, {}).get(path, {})
    return row.get("procs", {}).get(proc) if proc else row.get(field)


def target(what, value, op, bound, unit=""):
    if value is None:
        print(f"  n/a      {what} (not measured)")
        return
    ok = value >= bound if op == ">=" else value <= bound
    shown = f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"
    print(f"  {'met' if ok else 'NOT met':<8} {what}: {shown}{unit} ({op} {bound}{unit})")


def over(key, peer):
    a, b = fig(key, "azbridge", "v"), fig(key, peer, "v")
    return a / b if a is not None and b else None


def targets():
    """The performance targets, each read off the tables above."""
    print("\n== targets (read off the tables above)")
    for key, peer, bound, what in (("tput1", "ssh -L", 1.5, "1 stream, azbridge over ssh -L"),
                                   ("tput8", "ssh -L", 1.5, "8 streams, azbridge over ssh -L"),
                                   ("tput8", "stunnel", 1.2, "8 streams, azbridge over stunnel")):
        target(what, over(key, peer), ">=", bound, "x")
    for s in (1, 8):
        target(f"CPU per GB, {s} stream{'s' if s > 1 else ''}, azbridge over ssh -L",
               over(f"cpu{s}", "ssh -L"), "<=", 0.6, "x")
    for key, how in (("ttfb", "back to back"), ("ttfb_paced", f"one every {TTFB_GAP_MS} ms")):
        target(f"time to first byte p50, {how}", fig(key, "azbridge", "p50"), "<=", 1.5, " ms")
        target(f"time to first byte p99, {how}", fig(key, "azbridge", "p99"), "<=", 3, " ms")
    for proc, bound in (("-L", 16), ("-T", 16), ("relay", 24)):
        target(f"RSS per open tunnel, {proc}", fig("per_tunnel", "azbridge", "", proc), "<=", bound, " KiB")
    for proc in ("-L", "-T"):
        target(f"idle RSS, {proc}", fig("idle", "azbridge", "", proc), "<=", 8192, " KiB")
    for proc in ("-L", "relay", "-T"):
        target(f"RSS after the burst over the start, {proc}", fig("burst", "azbridge", "", proc),
               "<=", 2048, " KiB")
    if SCALE_N < 8000:
        print(f"  n/a      8000 tunnels at once (SCALE is {SCALE_N} in this run)")
        return
    target("tunnels open and carrying at once", fig("scale", "azbridge", "carry"), ">=", 8000)
    for proc, bound in (("-L", 16), ("-T", 16), ("relay", 24)):
        target(f"RSS per tunnel with 8000 open, {proc}", fig("scale", "azbridge", "", proc), "<=", bound,
               " KiB")


def main():
    with open(sys.argv[1]) as f:
        paths = json.load(f)
    print(f"== settings: QUICK={int(QUICK)} SECS={SECS} ROUNDS={ROUNDS} TTFB={TTFB_N}"
          f" TTFB_GAP_MS={TTFB_GAP_MS} RTT={RTT_N} HOLD={HOLD_N} SCALE={SCALE_N} SCALE_SECS={SCALE_SECS} UDP_LEN={UDP_LEN}"
          f" UDP_RATE={UDP_RATE} UDP_PACED_MBIT={UDP_PACED_MBIT} descriptor limit {NOFILE}")
    print("== columns: x direct = the row's figure over direct's; azb/x = azbridge's over the row's")
    START.update({path: each(p["procs"], rss) for path, p in paths.items()})
    steps = os.environ.get("STEPS", "idle hold latency throughput udp scale").split()
    for step in steps:
        t0 = time.monotonic()
        {"idle": idle_rss, "hold": hold_and_burst, "latency": latency, "throughput": throughput,
         "udp": udp, "scale": scale}[step](paths)
        print(f"   ({step}: {time.monotonic() - t0:.0f} s)")
    targets()
    if FAILED:
        print(f"\nbench: {len(FAILED)} figure(s) FAILED: " + "; ".join(FAILED))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
