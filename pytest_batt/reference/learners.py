"""Fitted program families: parameters learnt from the demo pairs.

Each family is a :class:`Fitted` with ``fit(pairs) -> params`` (raising
``ValueError`` when the family does not apply) and ``run(grid, params)``.
Families flexible enough to memorise any demo set (lookup tables keyed on
cell neighbourhoods, object features, whole-input features) are marked
``loo=True``: the solver layer scores them leave-one-out, so their demo score
measures generalisation rather than recall.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import permutations
from typing import Callable, SupportsInt, cast

import numpy as np

from . import dsl
from .dsl import Grid

Pairs = list[tuple[Grid, Grid]]


@dataclass(frozen=True)
class Fitted:
    """A fitted program family: learn parameters from demos, then apply."""

    name: str
    fit: Callable[[Pairs], object]
    run: Callable[[Grid, object], Grid]
    loo: bool = False  # score demos leave-one-out (learner could memorise)
    loo_outs: Callable[[Pairs], list] | None = None  # fast leave-one-out predictions


def _same_shape(pairs: Pairs) -> None:
    if any(a.shape != b.shape for a, b in pairs):
        raise ValueError("shape changes")


def _fit_const(pairs: Pairs) -> Grid:
    first = pairs[0][1]
    if len(pairs) < 2 or any(b.shape != first.shape or (b != first).any() for _, b in pairs):
        raise ValueError("outputs differ")
    return first


def _fit_logic(op: str) -> Callable[[Pairs], object]:
    def fit(pairs: Pairs) -> object:
        for axis in (None, 0, 1):
            fg = bg = None
            ok = True
            for a, b in pairs:
                try:
                    m = dsl.LOGIC_OPS[op](*(h != 0 for h in dsl.split_halves(a, axis)))
                except ValueError:
                    ok = False
                    break
                if m.shape != b.shape:
                    ok = False
                    break
                on, off = set(b[m].tolist()), set(b[~m].tolist())
                if len(on) > 1 or len(off) > 1:
                    ok = False
                    break
                if on:
                    if fg is None:
                        fg = on.pop()
                    elif on.pop() != fg:
                        ok = False
                        break
                if off:
                    if bg is None:
                        bg = off.pop()
                    elif off.pop() != bg:
                        ok = False
                        break
            if ok and fg is not None and bg is not None and fg != bg:
                return (axis, fg, bg)
        raise ValueError("no logic fit")

    return fit


def _run_logic(op: str) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, p: object) -> Grid:
        axis, fg, bg = cast("tuple[int | None, int, int]", p)
        return dsl.logic_halves(g, op, fg, bg, axis)

    return run


def _new_color(pairs: Pairs) -> int:
    """The one colour painted over input cells by all demos."""
    cols: Counter = Counter()
    for a, b in pairs:
        if a.shape != b.shape:
            raise ValueError("shape")
        d = a != b
        cols.update(b[d].tolist())
    if len(cols) != 1:
        raise ValueError("not one new colour")
    return next(iter(cols))


def _fit_fill_enclosed(pairs: Pairs) -> object:
    """Fill colour: what the demos put on enclosed background cells."""
    _same_shape(pairs)
    cols: set[int] = set()
    for a, b in pairs:
        bg = dsl.background_color(a)
        m = (dsl.fill_enclosed(a, -1, bg) == -1)
        cols |= set(b[m].tolist())
    if len(cols) != 1:
        raise ValueError("not one fill colour")
    return cols.pop()


def _fit_outline(pairs: Pairs) -> object:
    c = _new_color(pairs)
    for diag in (True, False):
        if all((dsl.outline_objects(a, c, diag) == b).all() for a, b in pairs):
            return (c, diag)
    raise ValueError("no outline")


def _mask_color(pairs: Pairs) -> int:
    """Colour that marks the cells to repair: every changed cell had it."""
    olds: set[int] = set()
    for a, b in pairs:
        if a.shape == b.shape:
            olds |= set(a[a != b].tolist())
    if len(olds) == 1:
        return olds.pop()
    # crop variant: the colour whose bounding box has the output's shape
    cand = set.intersection(*(dsl.palette(a) for a, _ in pairs))
    fits = [c for c in sorted(cand)
            if all(a.shape != b.shape and _box_shape(a == c) == b.shape for a, b in pairs)]
    if len(fits) == 1:
        return fits[0]
    raise ValueError("no mask colour")


def _box_shape(m: np.ndarray) -> tuple[int, int]:
    r0, c0, r1, c1 = dsl.bbox(m)
    return (r1 - r0 + 1, c1 - c0 + 1)


def _repair_run(kind: str, crop: bool) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, c: object) -> Grid:
        f = dsl.symmetry_complete if kind == "sym" else dsl.periodic_complete
        out = f(g, int(cast(SupportsInt, c)))
        if crop:
            return dsl.crop(out, *dsl.bbox(g == c))
        return out

    return run


# --- local cell rules (a learnt cellular automaton) -------------------------


def _feat_patch3(a: Grid) -> list:
    p = np.pad(a.astype(np.int16), 1, constant_values=-1)
    h, w = a.shape
    stack = np.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], -1)
    return [tuple(x) for x in stack.reshape(h * w, 9).tolist()]


def _feat_cross(a: Grid) -> list:
    p = np.pad(a.astype(np.int16), 1, constant_values=-1)
    h, w = a.shape
    idx = [(1, 1), (0, 1), (2, 1), (1, 0), (1, 2)]
    stack = np.stack([p[dy:dy + h, dx:dx + w] for dy, dx in idx], -1)
    return [tuple(x) for x in stack.reshape(h * w, 5).tolist()]


def _feat_nbcount(a: Grid) -> list:
    """Centre colour and the multiset of its 8 neighbours (rotation-free)."""
    p = np.pad(a.astype(np.int16), 1, constant_values=-1)
    h, w = a.shape
    nb = np.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)
                   if (dy, dx) != (1, 1)], -1).reshape(h * w, 8)
    nb.sort(axis=1)
    return [(c,) + tuple(r) for c, r in zip(a.ravel().tolist(), nb.tolist())]


def _feat_rowcol(a: Grid) -> list:
    """Centre colour plus the colour sets of its row and column."""
    rows = [frozenset(r) for r in a.tolist()]
    cols = [frozenset(c) for c in a.T.tolist()]
    h, w = a.shape
    al = a.tolist()
    return [(al[r][c], rows[r], cols[c]) for r in range(h) for c in range(w)]


def _feat_nbset(a: Grid, diag: bool = True) -> list:
    """Centre colour and the set of colours around it (edges ignored)."""
    p = np.pad(a.astype(np.int16), 1, constant_values=-1)
    h, w = a.shape
    offs = [(dy, dx) for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)
            and (diag or dy == 1 or dx == 1)]
    nb = np.stack([p[dy:dy + h, dx:dx + w] for dy, dx in offs], -1).reshape(h * w, len(offs))
    return [(c, frozenset(r) - {-1}) for c, r in zip(a.ravel().tolist(), nb.tolist())]


def _patches(a: Grid, pad: int) -> np.ndarray:
    p = np.pad(a.astype(np.int16), 1, constant_values=pad)
    h, w = a.shape
    return np.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)],
                    -1).reshape(h * w, 3, 3)


def _feat_patch3b(a: Grid) -> list:
    """3x3 patch with the border padded as background."""
    return [tuple(x) for x in _patches(a, dsl.background_color(a)).reshape(-1, 9).tolist()]


def _feat_patch3_sym(a: Grid) -> list:
    """3x3 patch up to the 8 symmetries (for rotation-invariant rules)."""
    P = _patches(a, dsl.background_color(a))
    vs = []
    for k in range(4):
        r = np.rot90(P, k, axes=(1, 2))
        vs.append(r.reshape(-1, 9))
        vs.append(r[:, :, ::-1].reshape(-1, 9))
    allv = np.stack(vs, 1)  # (n, 8, 9)
    return [min(map(tuple, x)) for x in allv.tolist()]


def _feat_same8(a: Grid) -> list:
    """Colour-free: is the cell background, which neighbours equal it."""
    P = _patches(a, -1).reshape(-1, 9)
    c = P[:, 4:5]
    bg = dsl.background_color(a)
    same = (P == c)
    return [(int(x == bg),) + tuple(r) for x, r in zip(c[:, 0].tolist(), same.tolist())]


def _feat_nbsplit(a: Grid) -> list:
    """Centre colour, colours of the 4 orthogonal and of the 4 diagonal cells."""
    P = _patches(a, -1).reshape(-1, 9).tolist()
    return [(r[4], frozenset((r[1], r[3], r[5], r[7])) - {-1},
             frozenset((r[0], r[2], r[6], r[8])) - {-1}) for r in P]


def _feat_rowhead(a: Grid) -> list:
    """Centre colour with the first cell of its row and of its column."""
    h, w = a.shape
    al = a.tolist()
    return [(al[r][c], al[r][0], al[0][c]) for r in range(h) for c in range(w)]


def _feat_parity(a: Grid, m: int, rev: bool) -> list:
    h, w = a.shape
    al = a.tolist()
    if rev:
        return [(al[r][c], (h - 1 - r) % m, (w - 1 - c) % m) for r in range(h) for c in range(w)]
    return [(al[r][c], r % m, c % m) for r in range(h) for c in range(w)]


def _feat_rowcol_n(a: Grid) -> list:
    """Colour-free: how many colours the cell's row and column hold."""
    rows = [len(set(r)) for r in a.tolist()]
    cols = [len(set(c)) for c in a.T.tolist()]
    h, w = a.shape
    return [(rows[r], cols[c]) for r in range(h) for c in range(w)]


CELL_FEATURES: dict[str, Callable[[Grid], list]] = {
    "nbsplit": _feat_nbsplit,
    "patch3_sym": _feat_patch3_sym,
    "patch3b": _feat_patch3b,
    "same8": _feat_same8,
    "rowhead": _feat_rowhead,
    "parity2": lambda a: _feat_parity(a, 2, False),
    "parity2_rev": lambda a: _feat_parity(a, 2, True),
    "mod3": lambda a: _feat_parity(a, 3, False),
    "rowcol_n": _feat_rowcol_n,
    "nbset": _feat_nbset,
    "nbset4": lambda a: _feat_nbset(a, False),
    "patch3": _feat_patch3,
    "cross": _feat_cross,
    "nbcount": _feat_nbcount,
    "rowcol": _feat_rowcol,
}


_FEAT_CACHE: dict[tuple, list] = {}


def _features(name: str, g: Grid) -> list:
    """Cell features of a grid, cached: fits, leave-one-out and runs share them."""
    key = (name, g.shape, g.tobytes())
    hit = _FEAT_CACHE.get(key)
    if hit is None:
        hit = CELL_FEATURES[name](g)
        if len(_FEAT_CACHE) > 512:
            _FEAT_CACHE.clear()
        _FEAT_CACHE[key] = hit
    return hit


def _relative(a: Grid, b: Grid) -> list[int]:
    """Output colours, -1 where the cell keeps its input colour."""
    return np.where(a == b, -1, b).ravel().tolist()


def _fit_cell_rule(name: str) -> Callable[[Pairs], object]:
    def fit(pairs: Pairs) -> object:
        _same_shape(pairs)
        table: dict = {}
        changed = False
        for a, b in pairs:
            for k, val in zip(_features(name, a), _relative(a, b)):
                if table.setdefault(k, val) != val:
                    raise ValueError("conflict")
                changed |= val != -1
        if not changed:
            raise ValueError("identity")
        return table

    return fit


def _loo_cell_rule(name: str) -> Callable[[Pairs], list]:
    """Leave-one-out predictions in one pass.

    Only called when the table fitted on all demos is consistent, so each
    fold's table is the full one restricted to features seen in other demos.
    """
    def loo(pairs: Pairs) -> list:
        feats = [_features(name, a) for a, _ in pairs]
        rels = [_relative(a, b) for a, b in pairs]
        table: dict = {}
        where: dict = {}
        for k, (fs, vs) in enumerate(zip(feats, rels)):
            for f, v in zip(fs, vs):
                table[f] = v
                where.setdefault(f, set()).add(k)
        changed = [any(v != -1 for v in vs) for vs in rels]
        outs: list = []
        for k, (a, _) in enumerate(pairs):
            if not any(c for j, c in enumerate(changed) if j != k):
                outs.append(None)  # the other demos alone show no rule
                continue
            pred = [x if (where[f] == {k} or table[f] == -1) else table[f]
                    for f, x in zip(feats[k], a.ravel().tolist())]
            outs.append(np.array(pred, dtype=dsl.DTYPE).reshape(a.shape))
        return outs

    return loo


def _run_cell_rule(name: str) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, table: object) -> Grid:
        t: dict = table  # type: ignore[assignment]
        vals = [t.get(k, -1) for k in _features(name, g)]
        vals = [x if v == -1 else v for v, x in zip(vals, g.ravel().tolist())]
        return np.array(vals, dtype=dsl.DTYPE).reshape(g.shape)

    return run


# --- object recolouring by a learnt feature ---------------------------------


def _neighbour_colors(o: dsl.Obj, grid: Grid) -> frozenset:
    """Colours 8-adjacent to the object, other than its own cells."""
    h, w = grid.shape
    own = set(o.cells)
    cols = set()
    for r, c in o.cells:
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                y, x = r + dy, c + dx
                if 0 <= y < h and 0 <= x < w and (y, x) not in own:
                    cols.add(int(grid[y, x]))
    return frozenset(cols)


def _obj_feature(name: str, objs: list[dsl.Obj], o: dsl.Obj, grid: Grid) -> object:
    shape = grid.shape
    if name == "size":
        return o.size
    if name == "shape":
        return o.shape_key()
    if name == "size_rank":
        sizes = sorted({x.size for x in objs}, reverse=True)
        return sizes.index(o.size)
    if name == "size_rank_asc":
        sizes = sorted({x.size for x in objs})
        return sizes.index(o.size)
    if name == "is_largest":
        return (o.size == max(x.size for x in objs), o.size == min(x.size for x in objs))
    if name == "border":
        r0, c0, r1, c1 = o.box
        return r0 == 0 or c0 == 0 or r1 == shape[0] - 1 or c1 == shape[1] - 1
    if name == "holes":
        return dsl.has_hole(o)
    if name == "touches":  # colours of the cells around the object
        return _neighbour_colors(o, grid)
    if name == "color_size":
        return (o.color, o.size)
    if name == "height":
        return o.height
    if name == "width":
        return o.width
    raise ValueError(name)


OBJ_FEATURES = ("size", "shape", "size_rank", "size_rank_asc", "is_largest", "border",
                "holes", "color_size", "height", "width", "touches")


def _fit_obj_recolor(feat: str, diag: bool) -> Callable[[Pairs], object]:
    def fit(pairs: Pairs) -> object:
        _same_shape(pairs)
        table: dict = {}
        for a, b in pairs:
            bg = dsl.background_color(a)
            objs = dsl.objects(a, diag, True, bg)
            if not objs or len(objs) > 60:
                raise ValueError("objects")
            covered = np.zeros(a.shape, dtype=bool)
            for o in objs:
                m = o.mask(a.shape)
                covered |= m
                vals = set(b[m].tolist())
                if len(vals) != 1:
                    raise ValueError("object not uniformly recoloured")
                v = vals.pop()
                v = -1 if v == o.color else v  # -1: keeps its colour
                k = _obj_feature(feat, objs, o, a)
                if table.setdefault(k, v) != v:
                    raise ValueError("conflict")
            if (a[~covered] != b[~covered]).any():
                raise ValueError("background changed")
        return table

    return fit


def _run_obj_recolor(feat: str, diag: bool) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, table: object) -> Grid:
        t: dict = table  # type: ignore[assignment]
        bg = dsl.background_color(g)
        objs = dsl.objects(g, diag, True, bg)
        out = g.copy()
        for o in objs:
            k = _obj_feature(feat, objs, o, g)
            if t.get(k, -1) != -1:
                out[o.mask(g.shape)] = t[k]
        return out

    return run


def _holes(g: Grid) -> list[dsl.Obj]:
    """Enclosed background regions (not 4-connected to the border)."""
    bg = dsl.background_color(g)
    m = (dsl.fill_enclosed(g, -1, bg) == -1).astype(dsl.DTYPE)
    return dsl.objects(m, False, True, 0)


def _hole_key(feat: str, o: dsl.Obj) -> object:
    if feat == "size":
        return o.size
    if feat == "shape":
        return o.shape_key()
    if feat == "square":
        return (o.height == o.width, o.size == o.height * o.width)
    raise ValueError(feat)


def _fit_hole_recolor(feat: str) -> Callable[[Pairs], object]:
    def fit(pairs: Pairs) -> object:
        _same_shape(pairs)
        table: dict = {}
        for a, b in pairs:
            holes = _holes(a)
            if not holes or len(holes) > 60:
                raise ValueError("no holes")
            inside = np.zeros(a.shape, dtype=bool)
            for o in holes:
                m = o.mask(a.shape)
                inside |= m
                vals = set(b[m].tolist())
                if len(vals) != 1:
                    raise ValueError("hole not uniformly filled")
                v = vals.pop()
                if table.setdefault(_hole_key(feat, o), v) != v:
                    raise ValueError("conflict")
            if (a[~inside] != b[~inside]).any():
                raise ValueError("outside changed")
        return table

    return fit


def _run_hole_recolor(feat: str) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, table: object) -> Grid:
        t: dict = table  # type: ignore[assignment]
        out = g.copy()
        for o in _holes(g):
            k = _hole_key(feat, o)
            if k in t:
                out[o.mask(g.shape)] = t[k]
        return out

    return run


def _fit_window(pairs: Pairs) -> object:
    """A fixed-size window at a fixed offset from one of the input's corners."""
    shapes = {b.shape for _, b in pairs}
    if len(shapes) != 1:
        raise ValueError("output shape varies")
    H, W = shapes.pop()
    a0 = pairs[0][0]
    for corner in ("tl", "tr", "bl", "br"):
        for dy in range(a0.shape[0] - H + 1):
            for dx in range(a0.shape[1] - W + 1):
                p = (corner, dy, dx, H, W)
                if all(_window_ok(a, b, p) for a, b in pairs):
                    return p
    raise ValueError("no window")


def _window(g: Grid, p: object) -> Grid:
    corner, dy, dx, H, W = cast("tuple[str, int, int, int, int]", p)
    h, w = g.shape
    r = dy if corner[0] == "t" else h - H - dy
    c = dx if corner[1] == "l" else w - W - dx
    if r < 0 or c < 0 or r + H > h or c + W > w:
        raise ValueError("outside")
    return g[r:r + H, c:c + W]


def _window_ok(a: Grid, b: Grid, p: object) -> bool:
    try:
        return bool((_window(a, p) == b).all())
    except ValueError:
        return False


def _fit_self_similar_color(pairs: Pairs) -> object:
    for c in range(10):
        try:
            if all(np.array_equal(dsl.self_similar_color(a, c), b) for a, b in pairs):
                return c
        except ValueError:
            continue
    raise ValueError("no colour")


def _input_key(kind: str, g: Grid) -> object:
    bg = dsl.background_color(g)
    if kind == "mask":
        m = dsl.crop_to_content(g, bg) != bg
        return (m.shape, m.tobytes())
    if kind == "palette":
        return frozenset(dsl.palette(g) - {bg})
    if kind == "sym":
        return (bool((g == g[:, ::-1]).all()), bool((g == g[::-1]).all()),
                g.shape[0] == g.shape[1] and bool((g == g.T).all()))
    if kind == "count_fg":
        return int((g != bg).sum())
    if kind == "nobjects":
        return len(dsl.objects(g, True, True, bg))
    raise ValueError(kind)


def _fit_input_table(kind: str) -> Callable[[Pairs], object]:
    def fit(pairs: Pairs) -> object:
        table: dict = {}
        for a, b in pairs:
            k = _input_key(kind, a)
            if k in table and not (table[k].shape == b.shape and (table[k] == b).all()):
                raise ValueError("conflict")
            table[k] = b
        if len(table) < 2:
            raise ValueError("one key")
        return table

    return fit


def _run_input_table(kind: str) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, table: object) -> Grid:
        return table[_input_key(kind, g)]  # type: ignore[index]

    return run


def _cell_key(kind: str, c: Grid, bg: int) -> object:
    if kind == "count":
        return int((c != bg).sum())
    if kind == "majority_fg":
        fg = c[c != bg]
        return Counter(fg.tolist()).most_common(1)[0][0] if fg.size else -1
    if kind == "palette":
        return frozenset(dsl.palette(c))
    raise ValueError(kind)


def _cell_keys(kind: str, g: Grid) -> list[list[object]]:
    cells = dsl.split_cells(g)
    flat = np.concatenate([c.ravel() for row in cells for c in row])
    bg = dsl.most_common_color(flat.reshape(1, -1))
    return [[_cell_key(kind, c, bg) for c in row] for row in cells]


def _fit_cell_table(kind: str) -> Callable[[Pairs], object]:
    def fit(pairs: Pairs) -> object:
        table: dict = {}
        for a, b in pairs:
            keys = _cell_keys(kind, a)
            if (len(keys), len(keys[0])) != b.shape:
                raise ValueError("shape")
            for i, row in enumerate(keys):
                for j, k in enumerate(row):
                    if table.setdefault(k, int(b[i, j])) != b[i, j]:
                        raise ValueError("conflict")
        return table

    return fit


def _run_cell_table(kind: str) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, table: object) -> Grid:
        t: dict = table  # type: ignore[assignment]
        return np.array([[t[k] for k in row] for row in _cell_keys(kind, g)], dtype=dsl.DTYPE)

    return run


def _fit_rays(pairs: Pairs) -> object:
    """Which directions each colour shoots rays in, read off the demos."""
    _same_shape(pairs)
    table: dict[int, list[str]] = {}
    colors = set().union(*(dsl.palette(a) - {dsl.background_color(a)} for a, _ in pairs))
    for c in sorted(colors):
        dirs = []
        for d in dsl.RAY_DIRS:
            painted = False
            ok = True
            for a, b in pairs:
                r = dsl.extend_rays(a, [d], colors=[c])
                m = r != a
                if m.any():
                    painted = True
                    if (b[m] != c).any():
                        ok = False
                        break
            if ok and painted:
                dirs.append(d)
        if dirs:
            table[c] = dirs
    if not table:
        raise ValueError("no rays")
    return table


def _run_rays(g: Grid, table: object) -> Grid:
    t: dict = table  # type: ignore[assignment]
    bg = dsl.background_color(g)
    out = g.copy()
    for c, dirs in t.items():
        r = dsl.extend_rays(g, dirs, bg, colors=[c])
        m = r != g
        out[m] = r[m]
    return out


def _fit_connect_color(pairs: Pairs) -> object:
    c = _new_color(pairs)
    for h, v in ((True, True), (True, False), (False, True)):
        if all(np.array_equal(dsl.connect_lines(a, h, v, color=c), b) for a, b in pairs):
            return (h, v, c)
    raise ValueError("no connect")


def _fit_fill_bboxes(pairs: Pairs) -> object:
    c = _new_color(pairs)
    for diag in (True, False):
        if all(np.array_equal(dsl.fill_bboxes(a, c, diag), b) for a, b in pairs):
            return (c, diag)
    raise ValueError("no bbox fill")


def _parts(g: Grid, kind: str) -> list[Grid]:
    if kind == "halves_h":
        return list(dsl.split_halves(g, 1))
    if kind == "halves_v":
        return list(dsl.split_halves(g, 0))
    if kind == "quadrants":
        top, bottom = dsl.split_halves(g, 0)
        return list(dsl.split_halves(top, 1)) + list(dsl.split_halves(bottom, 1))
    if kind == "cells":
        return [c for row in dsl.split_cells(g) for c in row]
    if kind == "squares":
        return dsl.split_squares(g)
    raise ValueError(kind)


def _overlay(parts: list[Grid], order: tuple[int, ...], bg: int) -> Grid:
    if len({p.shape for p in parts}) != 1 or len(order) != len(parts):
        raise ValueError("parts differ")
    out = np.full_like(parts[0], bg)
    for i in reversed(order):  # first in ``order`` ends on top
        out = np.where(parts[i] != bg, parts[i], out)
    return out


def _fit_overlay(pairs: Pairs) -> object:
    """Which split and which stacking order of the parts give the output."""
    for kind in ("halves_h", "halves_v", "quadrants", "cells", "squares"):
        try:
            parts = [_parts(a, kind) for a, _ in pairs]
        except ValueError:
            continue
        n = len(parts[0])
        if n > 4 or any(len(p) != n for p in parts):
            continue
        for order in permutations(range(n)):
            for bg in (0, None):
                try:
                    if all(np.array_equal(_overlay(p, order, 0 if bg == 0 else
                                                   dsl.background_color(a)), b)
                           for p, (a, b) in zip(parts, pairs)):
                        return (kind, order, bg)
                except ValueError:
                    break
    raise ValueError("no overlay")


def _run_overlay(g: Grid, p: object) -> Grid:
    kind, order, bg = cast("tuple[str, tuple[int, ...], int]", p)
    return _overlay(_parts(g, kind), order, 0 if bg == 0 else dsl.background_color(g))


def _fit_color_bbox(pairs: Pairs) -> object:
    """Crop to the bounding box of one colour (with or without its frame)."""
    cands = set.intersection(*(dsl.palette(a) for a, _ in pairs))
    for c in sorted(cands):
        for inner in (False, True):
            try:
                if all(np.array_equal(_run_color_bbox(a, (c, inner)), b) for a, b in pairs):
                    return (c, inner)
            except ValueError:
                continue
    raise ValueError("no colour box")


def _run_color_bbox(g: Grid, p: object) -> Grid:
    c, inner = cast("tuple[int, bool]", p)
    r0, c0, r1, c1 = dsl.bbox(g == c)
    if inner:
        r0, c0, r1, c1 = r0 + 1, c0 + 1, r1 - 1, c1 - 1
        if r0 > r1 or c0 > c1:
            raise ValueError("empty")
    return dsl.crop(g, r0, c0, r1, c1)


def _fit_tile_sym(pairs: Pairs) -> object:
    """Output = a ky x kx grid of blocks, each a fixed symmetry of the input."""
    ratios = {(b.shape[0] // a.shape[0], b.shape[1] // a.shape[1]) for a, b in pairs}
    if len(ratios) != 1 or any(b.shape[0] % a.shape[0] or b.shape[1] % a.shape[1]
                               for a, b in pairs):
        raise ValueError("no integer ratio")
    ky, kx = ratios.pop()
    if ky * kx < 2 or ky > 5 or kx > 5:
        raise ValueError("ratio")
    plan = []
    for i in range(ky):
        for j in range(kx):
            for name, f in dsl.SYMMETRIES.items():
                ok = True
                for a, b in pairs:
                    h, w = a.shape
                    t = f(a)
                    if t.shape != (h, w) or not np.array_equal(
                            t, b[i * h:(i + 1) * h, j * w:(j + 1) * w]):
                        ok = False
                        break
                if ok:
                    plan.append(name)
                    break
            else:
                raise ValueError("block not a symmetry")
    if all(p == "identity" for p in plan):
        raise ValueError("plain tile")
    return (ky, kx, tuple(plan))


def _run_tile_sym(g: Grid, p: object) -> Grid:
    ky, kx, plan = cast("tuple[int, int, tuple[str, ...]]", p)
    blocks = [dsl.SYMMETRIES[name](g) for name in plan]
    if any(b.shape != g.shape for b in blocks):
        raise ValueError("non-square block")
    return np.vstack([np.hstack(blocks[i * kx:(i + 1) * kx]) for i in range(ky)])


# The registry: simple parametrised programs first, memorising learners
# (scored leave-one-out) last, so ties favour the simpler explanation.
FITTED: list[Fitted] = [
    Fitted("const_output", _fit_const, lambda g, p: p),  # type: ignore[arg-type,return-value]
    Fitted("crop_window", _fit_window, _window),
    Fitted("crop_color_bbox", _fit_color_bbox, _run_color_bbox),
    Fitted("tile_symmetries", _fit_tile_sym, _run_tile_sym),
    Fitted("tile_self_similar_color", _fit_self_similar_color,
           lambda g, c: dsl.self_similar_color(g, c)),  # type: ignore[arg-type]
    Fitted("overlay_parts", _fit_overlay, _run_overlay),
]
FITTED += [Fitted(f"logic_{op}", _fit_logic(op), _run_logic(op)) for op in dsl.LOGIC_OPS]
FITTED += [
    Fitted("fill_enclosed", _fit_fill_enclosed,
           lambda g, c: dsl.fill_enclosed(g, c, dsl.background_color(g))),  # type: ignore[arg-type]
    Fitted("outline", _fit_outline,
           lambda g, p: dsl.outline_objects(g, p[0], p[1])),  # type: ignore[index]
    Fitted("fill_bboxes", _fit_fill_bboxes,
           lambda g, p: dsl.fill_bboxes(g, p[0], p[1])),  # type: ignore[index]
    Fitted("rays_by_color", _fit_rays, _run_rays),
    Fitted("connect_color", _fit_connect_color,
           lambda g, p: dsl.connect_lines(g, p[0], p[1], color=p[2])),  # type: ignore[index]
    Fitted("symmetry_repair", _mask_color, _repair_run("sym", False)),
    Fitted("symmetry_repair_crop", _mask_color, _repair_run("sym", True)),
    Fitted("periodic_repair", _mask_color, _repair_run("per", False)),
    Fitted("periodic_repair_crop", _mask_color, _repair_run("per", True)),
]
FITTED += [Fitted(f"input_table_{k}", _fit_input_table(k), _run_input_table(k), loo=True)
           for k in ("mask", "palette", "nobjects", "count_fg", "sym")]
FITTED += [Fitted(f"cells_table_{k}", _fit_cell_table(k), _run_cell_table(k), loo=True)
           for k in ("count", "majority_fg", "palette")]
FITTED += [Fitted(f"obj_recolor_{f}{'8' if d else '4'}", _fit_obj_recolor(f, d),
                  _run_obj_recolor(f, d), loo=True)
           for f in OBJ_FEATURES for d in (False, True)]
FITTED += [Fitted(f"hole_recolor_{f}", _fit_hole_recolor(f), _run_hole_recolor(f), loo=True)
           for f in ("size", "shape", "square")]
FITTED += [Fitted(f"cell_rule_{n}", _fit_cell_rule(n), _run_cell_rule(n), loo=True,
                  loo_outs=_loo_cell_rule(n))
           for n in CELL_FEATURES]
