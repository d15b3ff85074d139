#!/usr/bin/env python3
"""Sum a massif snapshot's heap by call site: for each allocation, the
first frame in our own code and the nearest named library function above
the allocator, so OpenSSL's share shows under the call of ours that made it.

  massif_sites.py FILE.ms [SNAPSHOT]   (default: the peak)
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


def main():
    path = sys.argv[1]
    want = sys.argv[2] if len(sys.argv) > 2 else None
    chosen = None
    for snap, lines in snapshots(path):
        if any(l.startswith("heap_tree=") and l != "heap_tree=empty" for l in lines):
            if want is None and "heap_tree=peak" in lines:
                chosen = (snap, lines)
            elif want is not None and str(snap) == want:
                chosen = (snap, lines)
            elif want is None and chosen is None:
                pass
    if not chosen:
        raise SystemExit("no such detailed snapshot")
    total = collections.Counter()
    for size, frames in leaves(chosen[1]):
        total[site(frames)] += size
    print(f"snapshot {chosen[0]}: {sum(total.values())} bytes")
    for (where, lib), size in total.most_common(40):
        print(f"{size:10d}  {where:40s}  {lib}")


if __name__ == "__main__":
    main()
