#!/usr/bin/env python3
"""Sum a massif snapshot's heap by call site: for each allocation, the
first frame in our own code and the nearest named library function above
the allocator, so OpenSSL's share shows under the call of ours that made it.

  massif_sites.py FILE.ms [SNAPSHOT]   (default: the peak)
  massif_sites.py --base IDLE.ms --per N OPEN.ms
      what N tunnels added over IDLE.ms, per tunnel, by site (the files
      attrib.py's massif snapshots write: NAME.ms.idle, NAME.ms.open)
"""
import collections
import re
import sys

NODE = re.compile(r"^( *)n(\d+): (\d+) (.*)$")
OURS = re.compile(r"\((\w+\.c):\d+\)")
NAMED = re.compile(r"0x[0-9A-F]+: ([A-Za-z_]\w*) \(in /")
ALLOC = {"malloc", "calloc", "realloc", "CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc",
         "xmalloc", "xcalloc", "xrealloc", "xstrdup", "xasprintf", "lws_realloc",
         "CRYPTO_memdup", "CRYPTO_strdup", "CRYPTO_strndup", "BUF_MEM_grow", "BUF_MEM_grow_clean"}


def snapshots(path):
    snap, lines = None, []
    for line in open(path):
        if line.startswith("snapshot="):
            if snap is not None:
                yield snap, lines
            snap, lines = int(line.split("=")[1]), []
        else:
            lines.append(line.rstrip("\n"))
    if snap is not None:
        yield snap, lines


def leaves(lines):
    stack = []
    for line in lines:
        m = NODE.match(line)
        if not m:
            continue
        depth, kids, size, text = len(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        stack.append((depth, text))
        if kids == 0 and size:
            yield size, [t for _, t in stack[1:]]


def site(frames):
    ours = next((f for f in frames if OURS.search(f)), None)
    lib = None
    for f in frames:
        m = NAMED.search(f)
        if m and m.group(1) not in ALLOC:
            lib = m.group(1)
            break
        if f is ours:
            break
    where = "?"
    if ours:
        fn = ours.split(": ", 1)[1] if ": " in ours else ours
        where = fn.split(" (")[0] + " " + OURS.search(ours).group(1)
    if frames and "below massif's threshold" in frames[-1]:
        where += " (small)"
    return where, lib or "-"


def by_site(lines):
    total = collections.Counter()
    for size, frames in leaves(lines):
        total[site(frames)] += size
    return total


def chosen_snapshot(path, want):
    """Snapshot want; else the peak; else the last detailed one (a file
    vgdb's detailed_snapshot wrote holds just that one)."""
    peak = last = None
    for snap, lines in snapshots(path):
        if any(l.startswith("heap_tree=") and l != "heap_tree=empty" for l in lines):
            if want is not None and str(snap) == want:
                return snap, lines
            last = (snap, lines)
            if "heap_tree=peak" in lines:
                peak = last
    if want is not None or not (peak or last):
        raise SystemExit("no such detailed snapshot")
    return peak or last


def per_tunnel(base, path, n):
    """Bytes per tunnel by site: (path - base) / n, largest first."""
    before = by_site(chosen_snapshot(base, None)[1])
    after = by_site(chosen_snapshot(path, None)[1])
    grown = {k: (v - before.get(k, 0)) / n for k, v in after.items()}
    print(f"{(sum(after.values()) - sum(before.values())) / n:.0f} bytes per tunnel")
    for (where, lib), size in sorted(grown.items(), key=lambda kv: -kv[1])[:40]:
        if size < 8:
            break
        print(f"{size:10.0f}  {where:40s}  {lib}")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--base"]:
        if len(args) != 5 or args[2] != "--per":
            raise SystemExit("usage: massif_sites.py --base IDLE.ms --per N OPEN.ms")
        per_tunnel(args[1], args[4], int(args[3]))
        return
    want = args[1] if len(args) > 1 else None
    snap, lines = chosen_snapshot(args[0], want)
    total = by_site(lines)
    print(f"snapshot {snap}: {sum(total.values())} bytes")
    for (where, lib), size in total.most_common(40):
        print(f"{size:10d}  {where:40s}  {lib}")


if __name__ == "__main__":
    main()
