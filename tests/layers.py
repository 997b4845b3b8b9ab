#!/usr/bin/python3
"""tests/layers.py BUILD_DIR SOURCE_DIR: the runtime's dependencies point
one way (docs/ARCHITECTURE.md, "The tree").

Folders of runtime/ are layers, lowest first (LAYERS). A file may use (call
a function of, or include a header of) files of its own folder or of a
lower one, never a higher one; and no two files use each other, directly
or round a longer circle. Calls are read from the object files the build
made (nm: what each defines, what each needs), includes from the sources.
A callback passed as a pointer is not a call: that is how a lower layer
reports to a higher one.
"""
import glob, os, re, subprocess, sys

LAYERS = ["base", "wire", "plan", "host", "cluster", "supervisor", "embed", "cli"]

build, src = sys.argv[1], sys.argv[2]
runtime = os.path.join(src, "runtime")
rank = {f: i for i, f in enumerate(LAYERS)}

def folder(path):
    return path.split("/")[0]

# sources, as "folder/name.c"
sources = sorted(os.path.relpath(p, runtime) for p in
                 glob.glob(os.path.join(runtime, "*", "*.[ch]")))
unknown = [s for s in sources if folder(s) not in rank]
problems = ["%s: in no layer (LAYERS in tests/layers.py)" % s for s in unknown]

# the object of each source: meson names it FOLDER_NAME.c.o (runtime_FOLDER_...
# for targets outside runtime/); one object per source is enough
objects = {}
for o in glob.glob(os.path.join(build, "**", "*.c.o"), recursive=True):
    base = os.path.basename(o)[:-2].replace("runtime_", "", 1)
    for f in LAYERS:
        if base.startswith(f + "_"):
            objects.setdefault(f + "/" + base[len(f) + 1:], o)
missing = [s for s in sources if s.endswith(".c") and s not in objects]
if len(missing) > len(sources) // 2:
    sys.exit("layers: no objects in %s (build it first)" % build)

defs, needs = {}, {}
for s, o in objects.items():
    out = subprocess.run(["nm", o], capture_output=True, text=True).stdout
    needs[s] = set()
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "TDBRC":
            defs.setdefault(p[2], s)
        elif len(p) == 2 and p[0] == "U":
            needs[s].add(p[1])

edges = {}  # file -> {file: why}
def use(a, b, why):
    if a != b:
        edges.setdefault(a, {}).setdefault(b, why)

for s, syms in needs.items():
    for sym in syms:
        if sym in defs:
            use(s, defs[sym], "calls " + sym)

inc = re.compile(r'^\s*#\s*include\s+"([a-z]+/[a-z_0-9]+\.h)"', re.M)
for s in sources:
    text = open(os.path.join(runtime, s)).read()
    for h in inc.findall(text):
        use(s, h, "includes " + h)

for a, bs in sorted(edges.items()):
    for b, why in sorted(bs.items()):
        if folder(b) in rank and folder(a) in rank and rank[folder(b)] > rank[folder(a)]:
            problems.append("%s %s: %s is a higher layer than %s" %
                            (a, why, folder(b), folder(a)))

# circles: Tarjan's strongly connected components over files and headers
index, low, stack, on, comps = {}, {}, [], set(), []
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in edges.get(v, {}):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            comps.append(sorted(comp))
for v in sorted(set(edges) | {b for bs in edges.values() for b in bs}):
    if v not in index:
        visit(v)
for comp in comps:
    ring = "; ".join("%s -> %s (%s)" % (a, b, edges[a][b])
                     for a in comp for b in edges.get(a, {}) if b in comp)
    problems.append("a circle: " + ring)

for p in problems:
    print("layers: " + p)
if problems:
    sys.exit(1)
print("layers: %d files in %d folders, %d uses, every one pointing down, no circle"
      % (len(sources), len(LAYERS), sum(len(b) for b in edges.values())))
