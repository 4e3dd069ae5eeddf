"""Write a batt shaped like the real generated ones (tokpidjin's ``card.py`` output), for tests.

What the real ones look like, and what this copies in shape (none of their code):
- the batt file is named ``test_*.py`` and starts with sibling imports of its DSL
  (``from pile import *``, ``from gen_env import GenEnv as Env``, ``from safe_default import
  _get_safe_default``); the DSL module prints a line at import;
- ``batt`` is one long function of numbered steps ``tN = op(...)``, each in ``try/except``
  with a type-appropriate safe default (``()`` or ``0``);
- candidates ``o.append((N, evo, 'solver_id', tN))`` whose values are often not grids:
  ``()``, ``None``, grids of floats with ``nan``/``-inf``, lists, numpy arrays;
- differ rows ``s.append((N, 'None', 'differ_<hex>', tN))`` and, per solver,
  ``s.append((N, 'solver_id', 'differ_<hex>', tN))``, whose values are ``(size, frozenset)``,
  ``(0, nan)``, or a safe default that does not count.

The module is a pure function of its arguments, so Phase 3's per-candidate diff calls and
the plugin's one call per distinct value must fold to the same scores.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import List

DSL = '''
"""A small grid DSL for the generated test batt."""
import math

import numpy as _np

print("GenDSL: no accelerator found, using CPU only")

F0 = 0
NAN = float("nan")


def identity(x):
    return x


def hmirror(g):
    return tuple(tuple(r) for r in g[::-1])


def vmirror(g):
    return tuple(tuple(r[::-1]) for r in g)


def rot90(g):
    return tuple(zip(*g[::-1]))


def transpose(g):
    return tuple(zip(*g))


def fractal(g):
    """007bbfb7: each non-zero cell of the input becomes a copy of the input."""
    h, w = len(g), len(g[0])
    if h * h > 30 or w * w > 30:
        raise ValueError("too large")
    return tuple(
        tuple(g[i % h][j % w] if g[i // h][j // w] else 0 for j in range(w * w))
        for i in range(h * h)
    )


def upscale2(g):
    return tuple(tuple(v for v in r for _ in range(2)) for r in g for _ in range(2))


def as_float(g):
    """Cells as floats, 0 as -inf: a grid no ARC scorer can match."""
    return tuple(tuple(-math.inf if v == 0 else float(v) for v in r) for r in g)


def with_nan(g):
    return tuple(tuple(NAN if v == 0 else v for v in r) for r in g)


def as_list(g):
    return [list(r) for r in g]


def as_array(g):
    return _np.array(g, dtype=_np.int64)


def first_row(g):
    if len(g) < 2:
        raise ValueError("too small")
    return (tuple(g[0]),)


def nothing(g):
    return None


def cells(g):
    if not isinstance(g, tuple):
        raise TypeError("not a tuple grid")
    return frozenset((i, j, v) for i, r in enumerate(g) for j, v in enumerate(r))


def difference_tuple(a, b):
    return frozenset(a) - frozenset(b)


def size(x):
    return len(x)


def astuple(a, b):
    return (a, b)


def colours(g):
    return frozenset(v for r in g for v in r)
'''

SAFE = '''
"""Safe defaults: what a failed step yields, by the kind of value the operation returns."""
_INTS = {"size"}


def _get_safe_default(func):
    return 0 if getattr(func, "__name__", "") in _INTS else ()
'''

ENV = '''
class GenEnv:
    """Unused at run time, as in the real batts: imported for its side effects only."""

    def __init__(self, *args, **kwargs):
        self.args = args
'''

PILE = '''
from gen_dsl import *  # noqa: F401,F403
'''

GRID_OPS = ["identity", "hmirror", "vmirror", "rot90", "transpose", "fractal", "upscale2"]
ODD_OPS = ["as_float", "with_nan", "as_list", "as_array", "first_row", "nothing"]


class _Writer:
    def __init__(self) -> None:
        self.lines: List[str] = []
        self.n = 0

    def step(self, op: str, *args: str) -> str:
        self.n += 1
        t = f"t{self.n}"
        self.lines += [
            f"    # step {self.n}: {op}({', '.join(args)})",
            "    try:",
            f"        {t} = {op}({', '.join(args)})",
            "    except (TypeError, AttributeError, ValueError, IndexError):",
            f"        {t} = _get_safe_default({op})",
        ]
        return t

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)


def batt_source(solvers: int = 24, differs: int = 4, seed: int = 1) -> str:
    """The batt module's text; deterministic for given arguments."""
    rng = random.Random(seed)
    w = _Writer()
    names = ["007bbfb7"] + [hashlib.sha1(f"{seed}:{k}".encode()).hexdigest()[:8] for k in range(1, solvers)]
    outs = {}
    for k, sid in enumerate(names):
        if k == 0:
            t = w.step("fractal", "I")
        else:
            first = rng.choice(GRID_OPS)
            t = w.step(first, "I")
            if rng.random() < 0.5:
                t = w.step(rng.choice(GRID_OPS + ODD_OPS + ODD_OPS), t)
        w.emit(f"o.append(({w.n}, {rng.random() < 0.3}, '{sid}', {t}))")
        outs[sid] = t
    # Two solvers that compute the same grid as others (equal values, distinct objects).
    for sid in names[1:3]:
        t = w.step("hmirror", w.step("hmirror", outs[sid]))
        w.emit(f"o.append(({w.n}, False, '{sid}', {t}))")
    differ_ids = ["differ_" + hashlib.md5(f"{seed}:d{j}".encode()).hexdigest() for j in range(differs)]
    for j, d in enumerate(differ_ids):
        a = w.step("cells", "C")
        b = w.step("cells", "I" if j % 2 == 0 else w.step("vmirror", "I"))
        diff = w.step("difference_tuple", a, b)
        n = w.step("size", diff)
        row = w.step("astuple", n, diff)
        w.emit(f"s.append(({w.n}, 'None', '{d}', {row}))")
    w.emit(f"s.append(({w.n + 1}, 'None', 'differ_nan', (0, NAN)))")
    for sid in names:
        for d in rng.sample(differ_ids, k=min(2, len(differ_ids))):
            a = w.step("cells", outs[sid])
            b = w.step("cells", "C")
            diff = w.step("difference_tuple", a, b)
            n = w.step("size", diff)
            row = w.step("astuple", n, w.step("colours", outs[sid]))
            w.emit(f"s.append(({w.n}, '{sid}', '{d}', {row}))")
        w.emit(f"s.append(({w.n}, '{sid}', '{differ_ids[0]}', {n}))  # a bare size: does not count")
    head = [
        "# Generated by tests/generated_batt.py (shaped like tokpidjin's card.py output)",
        "",
        "from pile import *",
        "from gen_env import GenEnv as Env",
        "from safe_default import _get_safe_default",
        "",
        "",
        "def batt(task_id, S, I, C, log_path):",
        "    s = []",
        "    o = []",
    ]
    return "\n".join(head + w.lines + ["    return o, s", ""])


def write(folder: Path, name: str = "test_gen_batt.py", **options: int) -> Path:
    """The batt and its sibling DSL modules in ``folder``; returns the batt's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for file, text in (("gen_dsl.py", DSL), ("safe_default.py", SAFE), ("gen_env.py", ENV), ("pile.py", PILE)):
        (folder / file).write_text(text.lstrip())
    path = folder / name
    path.write_text(batt_source(**options))
    return path
