"""Write a heavy batt module shaped like the real generated ones, for benchmarks/run.py.

Real batts are generated: one function of thousands of numbered steps ``t123 = op(t45, ...)``,
each a DSL call on tuple grids wrapped in ``try/except`` (a failing step yields ``None`` and
everything built on it fails too), candidates appended as
``o.append((t, evo, 'solver_N', grid))`` and, on a diff call, differ rows
``s.append((t, 'None', 'dN', (size, x)))`` plus per-solver rows
``s.append((t, 'solver_N', 'dN', (size, x)))`` along the way. This script writes such a
module: a small pure-Python (plus a little numpy) grid DSL at the top, then ``batt`` with
``--steps`` steps (default 8000, about 33k lines) drawn by a seeded RNG, so the output is deterministic for given options.
The module is a pure function of ``(S, I, C)`` and never raises.

    python benchmarks/make_heavy_batt.py [--steps 8000] [--solvers 6] [--differs 12] [--seed 1] [-o PATH]

Default output: ``$XDG_CACHE_HOME/pytest-batt-bench/heavy_batt_<steps>_<seed>.py`` (a cache
dir: the generated file is not committed). Prints the path.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from typing import List, Optional, Sequence

DSL = '''
import numpy as _np


def rot90(g):
    return tuple(zip(*g[::-1]))


def rot180(g):
    return tuple(tuple(r[::-1]) for r in g[::-1])


def rot270(g):
    return tuple(zip(*g))[::-1]


def hmirror(g):
    return tuple(g[::-1])


def vmirror(g):
    return tuple(tuple(r[::-1]) for r in g)


def dmirror(g):
    return tuple(zip(*g))


def tophalf(g):
    return tuple(g[: max(1, len(g) // 2)])


def lefthalf(g):
    w = max(1, len(g[0]) // 2)
    return tuple(tuple(r[:w]) for r in g)


def trim(g):
    if len(g) < 3 or len(g[0]) < 3:
        raise ValueError("too small to trim")
    return tuple(tuple(r[1:-1]) for r in g[1:-1])


def compress(g):
    rows = [r for r in g if len(set(r)) > 1] or [g[0]]
    cols = [j for j in range(len(rows[0])) if len({r[j] for r in rows}) > 1] or [0]
    return tuple(tuple(r[j] for j in cols) for r in rows)


def mostcolor(g):
    counts = [0] * 10
    for r in g:
        for v in r:
            counts[v] += 1
    return max(range(10), key=counts.__getitem__)


def leastcolor(g):
    counts = [0] * 10
    for r in g:
        for v in r:
            counts[v] += 1
    present = [c for c in range(10) if counts[c]]
    return min(present, key=counts.__getitem__)


def palette(g):
    return frozenset(v for r in g for v in r)


def colorcount(g, c):
    return sum(r.count(c) for r in g)


def replace(g, a, b):
    return tuple(tuple(b if v == a else v for v in r) for r in g)


def switch(g, a, b):
    return tuple(tuple(b if v == a else a if v == b else v for v in r) for r in g)


def cellwise(a, b, fallback):
    if len(a) != len(b) or len(a[0]) != len(b[0]):
        raise ValueError("shapes differ")
    return tuple(tuple(x if x == y else fallback for x, y in zip(ra, rb)) for ra, rb in zip(a, b))


def hconcat(a, b):
    if len(a) != len(b):
        raise ValueError("heights differ")
    return tuple(tuple((ra + rb)[:30]) for ra, rb in zip(a, b))


def vconcat(a, b):
    if len(a[0]) != len(b[0]):
        raise ValueError("widths differ")
    return tuple((tuple(a) + tuple(b))[:30])


def upscale(g, k):
    k = 1 + k % 2
    return tuple(tuple(v for v in r for _ in range(k))[:30] for r in g for _ in range(k))[:30]


def fill_border(g, c):
    h, w = len(g), len(g[0])
    return tuple(tuple(c if i in (0, h - 1) or j in (0, w - 1) else v for j, v in enumerate(r)) for i, r in enumerate(g))


def gravity(g, c):
    cols = list(zip(*g))
    out = []
    for col in cols:
        keep = [v for v in col if v != c]
        out.append(tuple([c] * (len(col) - len(keep)) + keep))
    return tuple(zip(*out))


def objects_count(g, bg):
    h, w = len(g), len(g[0])
    seen = set()
    n = 0
    for i in range(h):
        for j in range(w):
            if g[i][j] == bg or (i, j) in seen:
                continue
            n += 1
            stack = [(i, j)]
            seen.add((i, j))
            while stack:
                a, b = stack.pop()
                for x, y in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                    if 0 <= x < h and 0 <= y < w and (x, y) not in seen and g[x][y] == g[a][b]:
                        seen.add((x, y))
                        stack.append((x, y))
    return n


def asobject(g):
    return frozenset((v, (i, j)) for i, r in enumerate(g) for j, v in enumerate(r))


def paint(g, obj):
    h, w = len(g), len(g[0])
    rows = [list(r) for r in g]
    for v, (i, j) in obj:
        if 0 <= i < h and 0 <= j < w:
            rows[i][j] = v
    return tuple(map(tuple, rows))


def shift_paint(g, k):
    di, dj = k % 3 - 1, k // 3 % 3 - 1
    obj = frozenset((v, (i + di, j + dj)) for v, (i, j) in asobject(g))
    return paint(g, obj)


def largest_part(g, c):
    parts = {}
    for v, ij in asobject(g):
        parts.setdefault(v, set()).add((v, ij))
    big = max(parts.values(), key=len)
    return paint(g, frozenset((c, ij) for _, ij in big))


def recolor_objects(g, bg):
    obj = asobject(g)
    fg = frozenset(cell for cell in obj if cell[0] != bg)
    ids = sorted({v for v, _ in fg})
    mapping = {v: ids[(n + 1) % len(ids)] for n, v in enumerate(ids)}
    return paint(g, frozenset((mapping[v], ij) for v, ij in fg))


def np_rot(g, k):
    return tuple(map(tuple, _np.rot90(_np.asarray(g, dtype=_np.int8), k % 4).tolist()))


def np_shift(g, k):
    return tuple(map(tuple, _np.roll(_np.asarray(g, dtype=_np.int8), k % 3, axis=k % 2).tolist()))


def first_in(S, k):
    return S[k % len(S)][0]


def first_out(S, k):
    return S[k % len(S)][1]


def diff_size(c, x):
    if len(c) != len(x) or len(c[0]) != len(x[0]):
        return len(c) * len(c[0])
    return sum(a != b for rc, rx in zip(c, x) for a, b in zip(rc, rx))


def as_grid(g):
    return tuple(tuple(int(v) for v in r) for r in g)
'''

# (name, argument kinds): g = a grid step, i = an int step, k = a literal 0..9
GRID_OPS = [
    ("rot90", "g"), ("rot180", "g"), ("rot270", "g"), ("hmirror", "g"), ("vmirror", "g"), ("dmirror", "g"),
    ("tophalf", "g"), ("lefthalf", "g"), ("trim", "g"), ("compress", "g"), ("replace", "gik"),
    ("switch", "gii"), ("upscale", "gk"), ("fill_border", "gi"), ("gravity", "gi"), ("np_rot", "gk"),
    ("np_shift", "gk"),
]
# What makes real DSL calls heavy: frozensets of (colour, (i, j)) cells, built and painted back.
SET_OPS = [("shift_paint", "gk"), ("largest_part", "gi"), ("recolor_objects", "gi")]
RARE_OPS = [("cellwise", "ggi"), ("hconcat", "gg"), ("vconcat", "gg")]  # often raise: shapes must agree
INT_OPS = [("mostcolor", "g"), ("leastcolor", "g"), ("colorcount", "gk"), ("objects_count", "gi")]


def generate(steps: int, solvers: int, differs: int, seed: int, set_share: float = 0.7) -> str:
    rng = random.Random(seed)
    out: List[str] = [
        f'"""Generated by benchmarks/make_heavy_batt.py --steps {steps} --solvers {solvers} --differs {differs} --seed {seed}.',
        "",
        "A benchmark batt shaped like real generated ones; do not edit, regenerate.",
        '"""',
        DSL,
        "",
        "def batt(task_id, S, I, C, log_path):",
        "    o = []",
        "    s = []",
        "    t0 = as_grid(I)",
        "    c0 = as_grid(C) if C is not None else None",
    ]
    grid_steps: List[int] = [0]
    int_steps: List[int] = []
    # Candidates and differ rows are spread over the steps, as in generated batts.
    solver_at = {int((k + 1) * steps / (solvers + 1)): k for k in range(solvers)}
    differ_at = {int((k + 0.5) * steps / differs): k for k in range(differs)}
    solver_steps: List[tuple] = []
    pending: List[int] = []

    roots: List[int] = [0]  # the input and the demo grids read from S: failures do not reach them

    def pick_grid() -> str:
        if rng.random() < 0.25:
            return f"t{rng.choice(roots[-8:])}"
        return f"t{rng.choice(grid_steps[-40:])}"

    def pick_int() -> str:
        if int_steps and rng.random() < 0.8:
            return f"t{rng.choice(int_steps[-20:])}"
        return str(rng.randrange(10))

    for n in range(1, steps + 1):
        if n % 37 == 0:  # a fresh start from a demo pair now and then, as solvers read S
            expr = f"first_{rng.choice(['in', 'out'])}(S, {rng.randrange(10)})"
            kind = "g"
            roots.append(n)
        elif rng.random() < 0.2:
            name, args = rng.choice(INT_OPS)
            expr = f"{name}({', '.join(pick_grid() if a == 'g' else pick_int() if a == 'i' else str(rng.randrange(10)) for a in args)})"
            kind = "i"
        else:
            r = rng.random()
            name, args = rng.choice(RARE_OPS if r < 0.03 else SET_OPS if r < 0.03 + set_share else GRID_OPS)
            expr = f"{name}({', '.join(pick_grid() if a == 'g' else pick_int() if a == 'i' else str(rng.randrange(10)) for a in args)})"
            kind = "g"
        out += ["    try:", f"        t{n} = {expr}", "    except Exception:", f"        t{n} = None"]
        (grid_steps if kind == "g" else int_steps).append(n)
        if n in solver_at:
            pending.append(solver_at[n])
        if kind == "g" and pending:  # a solver's output is a grid step
            k = pending.pop(0)
            out.append(f"    o.append(({n}, 0, 'solver_{k}', t{n}))")
            solver_steps.append((n, k))
            for j in range(rng.randrange(1, 3)):  # solvers often end in the same grid: duplicate candidates
                m = n if rng.random() < 0.7 else rng.choice(grid_steps[-6:])
                out.append(f"    o.append(({m}, {j + 1}, 'solver_{k}_{j}', t{m}))")
                solver_steps.append((m, f"{k}_{j}"))
        if n in differ_at:
            d = differ_at[n]
            g = pick_grid()
            out += [
                "    if c0 is not None:",
                "        try:",
                f"            z{n} = diff_size(c0, {g})",
                "        except Exception:",
                f"            z{n} = None",
                f"        s.append(({n}, 'None', 'd{d}', (z{n}, {g})))",
            ]
            for t, k in solver_steps[-4:]:  # per-solver rows for the candidates built so far
                out += [
                    "        try:",
                    f"            s.append(({t}, 'solver_{k}', 'd{d}', (diff_size(c0, t{t}), t{t})))",
                    "        except Exception:",
                    "            pass",
                ]
    out += ["    return o, s", ""]
    return "\n".join(out)


def default_path(steps: int, seed: int) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pytest-batt-bench", f"heavy_batt_{steps}_{seed}.py")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--solvers", type=int, default=6)
    p.add_argument("--differs", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-o", "--output", default=None)
    args = p.parse_args(argv)
    path = args.output or default_path(args.steps, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = generate(args.steps, args.solvers, args.differs, args.seed)
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if old != text:  # unchanged source keeps its .pyc: import cost is then the real, cached one
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
