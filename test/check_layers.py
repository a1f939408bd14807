#!/usr/bin/env python3
"""The architecture of lib/ (docs/algorithm.md, "Layers"): no include circle, no circle between
translation units, and no lower layer that uses a higher one.

Two graphs are checked:
  - includes: file -> the lib/ header it includes ("dir/name.h");
  - symbols: translation unit -> the translation units defining the symbols it uses (nm on the
    objects of OBJ_DIR), which catches circles that run through one shared header (a stage
    calling another that calls it back).
Each must be acyclic, and every edge must go to the same layer or a lower one. The layers, from
the bottom, are the directories of lib/ in LAYERS.

usage: check_layers.py LIB_DIR OBJ_DIR      (exit 1 with the offending edges or circles)
       check_layers.py --selftest           (the checks find a planted circle and a planted
                                             upward edge)
"""
import os
import re
import subprocess
import sys

LAYERS = ["core", "io", "image", "nn", "model", "text", "heads", "vision", "seg"]
RANK = {d: i for i, d in enumerate(LAYERS)}


def layer(node):
    return node.split("/", 1)[0]


def include_graph(lib):
    g = {}
    for root, _, files in os.walk(lib):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            node = os.path.relpath(path, lib)
            deps = set()
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                    if m and os.path.exists(os.path.join(lib, m.group(1))):
                        deps.add(m.group(1))
            g[node] = deps
    return g


def symbol_graph(lib, obj_dir):
    defs, uses = {}, {}
    for root, _, files in os.walk(obj_dir):
        for f in files:
            if not f.endswith(".o"):
                continue
            path = os.path.join(root, f)
            node = os.path.relpath(path, obj_dir)[:-2]
            if not os.path.exists(os.path.join(lib, node + ".c")):
                continue  # an object left from a source that is gone
            out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
            d, u = set(), set()
            for line in out.splitlines():
                p = line.split()
                if len(p) == 3 and p[1] in "TDRBCV":
                    d.add(p[2])
                elif len(p) == 2 and p[0] == "U":
                    u.add(p[1])
            defs[node], uses[node] = d, u
    owner = {s: n for n, d in defs.items() for s in d}
    return {n: {owner[s] for s in u if s in owner and owner[s] != n} for n, u in uses.items()}


def circles(g):
    """Strongly connected components of more than one node, and nodes that reach themselves."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        # iterative Tarjan
        work = [(v, iter(sorted(g.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
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
                if len(comp) > 1 or node in g.get(node, ()):
                    out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def upward(g):
    bad = []
    for a in sorted(g):
        for b in sorted(g[a]):
            la, lb = layer(a), layer(b)
            if la not in RANK or lb not in RANK:
                bad.append((a, b, "directory outside the layer list"))
            elif RANK[lb] > RANK[la]:
                bad.append((a, b, "%s uses the higher layer %s" % (la, lb)))
    return bad


def report(name, g):
    ok = True
    for c in circles(g):
        print("layers: %s circle: %s" % (name, " <-> ".join(c)))
        ok = False
    for a, b, why in upward(g):
        print("layers: %s edge %s -> %s: %s" % (name, a, b, why))
        ok = False
    return ok


def selftest():
    fine = {"core/a.c": {"core/a.h"}, "nn/b.c": {"core/a.h", "nn/b.h"}, "nn/b.h": set(), "core/a.h": set()}
    assert not circles(fine) and not upward(fine)
    circle = dict(fine, **{"seg/x.c": {"seg/y.c"}, "seg/y.c": {"seg/z.c"}, "seg/z.c": {"seg/x.c"}})
    assert circles(circle) == [["seg/x.c", "seg/y.c", "seg/z.c"]], circles(circle)
    up = dict(fine, **{"nn/t.h": {"model/model.h"}, "model/model.h": set()})
    assert [e[:2] for e in upward(up)] == [("nn/t.h", "model/model.h")], upward(up)
    selfloop = {"core/a.c": {"core/a.c"}}
    assert circles(selfloop) == [["core/a.c"]]
    print("layers: self-test passed (a planted circle, self-loop and upward edge are found)")
    return True


def main(argv):
    if len(argv) == 2 and argv[1] == "--selftest":
        return 0 if selftest() else 1
    if len(argv) != 3:
        print(__doc__)
        return 2
    lib, obj = argv[1], argv[2]
    inc, sym = include_graph(lib), symbol_graph(lib, obj)
    if not sym:
        print("layers: no objects under %s (build the library first)" % obj)
        return 1
    ok = selftest() and report("include", inc) & report("symbol", sym)
    if ok:
        print("layers: lib/ has no include or symbol circle; %d files and %d objects follow %s"
              % (len(inc), len(sym), " < ".join(LAYERS)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
