#!/usr/bin/python3
"""Call cycles between object files, read from their symbol tables with nm.

An object calls another when it leaves a symbol undefined that the other
defines (functions and data alike). Every strongly connected component of
that graph with more than one object is a cycle; it is printed with the
symbols on each edge. A cycle inside one subsystem (files of one module
split for size) is allowed; one that spans subsystems fails.

Usage: tests/cycles.py [BUILD]   (default $BUILD, else build): reads
BUILD/*/*.o. The last line is "cycles: N passed, N failed", one check per
object file."""

import glob
import os
import subprocess
import sys

# Files that form one subsystem: a cycle among them is one module split over
# several files. Every other object is a subsystem of its own.
SUBSYSTEMS = {
    "daemon/control": ["daemon/control", "daemon/control_verbs", "daemon/control_add",
                       "daemon/ctlreq", "daemon/ctlpolicy"],
}


def subsystem(obj):
    for name, files in SUBSYSTEMS.items():
        if obj in files:
            return name
    return obj


def symbols(path):
    """(defined, undefined) global symbols of one object."""
    out = subprocess.run(["nm", "-P", path], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRCWVGS":
            defined.add(name)
    return defined, undefined


def graph(build):
    objs = {}
    for path in sorted(glob.glob(os.path.join(build, "*", "*.o"))):
        rel = os.path.relpath(path, build)[:-2]
        if os.path.exists(rel + ".c"):      # not an object whose source has gone
            objs[rel] = symbols(path)
    owner = {}
    for obj, (defined, _) in objs.items():
        for s in defined:
            owner.setdefault(s, obj)
    edges = {obj: {} for obj in objs}
    for obj, (_, undefined) in objs.items():
        for s in sorted(undefined):
            to = owner.get(s)
            if to and to != obj:
                edges[obj].setdefault(to, []).append(s)
    return edges


def components(edges):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    out.append(sorted(comp))
                continue
            if nxt not in index:
                index[nxt] = low[nxt] = counter
                counter += 1
                stack.append(nxt)
                on.add(nxt)
                work.append((nxt, iter(sorted(edges[nxt]))))
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
    return [c for c in out if len(c) > 1]


def show(comp, edges):
    members = set(comp)
    for obj in comp:
        for to in sorted(edges[obj]):
            if to in members:
                syms = edges[obj][to]
                more = " ..." if len(syms) > 4 else ""
                print(f"    {obj} -> {to}: {' '.join(syms[:4])}{more}")


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BUILD", "build")
    build = os.path.abspath(build)
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    edges = graph(build)
    if not edges:
        print(f"no object files under {build}/*/")
        print("cycles: 0 passed, 1 failed")
        return 1
    bad = set()
    for comp in components(edges):
        groups = sorted({subsystem(o) for o in comp})
        if len(groups) == 1:
            print(f"cycle inside subsystem {groups[0]} (allowed): {' '.join(comp)}")
            continue
        print(f"FAIL cycle across subsystems: {' '.join(comp)}")
        show(comp, edges)
        bad.update(comp)
    print(f"cycles: {len(edges) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
