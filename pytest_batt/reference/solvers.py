"""Candidate programs of the reference batt and the code that fits them.

Three kinds of programs, each with a stable, readable solver id:

* parameter-free *unary* programs (``UNARY``): one DSL call, always emitted;
* *compositions* ``A+B``: a unary program followed by a post-step whose
  parameters (scale factor, symmetry, colour map...) are read off the demo
  shapes/colours; only those matching at least one demo output are kept, so
  the set of ids depends on the demos alone;
* *fitted* programs (``FITTED``): parameters learnt from all demo pairs
  (logical ops on halves, fill colour, symmetry repair, local cell rules,
  object recolouring...).  Learners that could simply memorise the demos are
  scored leave-one-out so that their demo score means something.

Nothing here looks at a task id: every choice comes from the demo pairs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import dsl
from .dsl import Grid

Pairs = list[tuple[Grid, Grid]]

# ---------------------------------------------------------------------------
# parameter-free unary programs


def _bg0(g: Grid) -> int:
    return 0


def _cell_pick(how: str) -> Callable[[Grid], Grid]:
    """Choose one of the separator-delimited cells."""

    def run(g: Grid) -> Grid:
        try:
            cells = [c for row in dsl.split_cells(g) for c in row]
        except ValueError:
            cells = dsl.split_squares(g)
        if len(cells) < 2:
            raise ValueError("one cell")
        if how in ("symmetric", "asymmetric"):
            flags = [dsl._is_symmetric(c) or bool((c == c.T).all()) if c.shape[0] == c.shape[1]
                     else dsl._is_symmetric(c) for c in cells]
            hits = [c for c, f in zip(cells, flags) if f == (how == "symmetric")]
            if len(hits) != 1:
                raise ValueError("not unique")
            return hits[0]
        bg = dsl.background_color(np.concatenate([c.ravel() for c in cells]).reshape(1, -1))
        if how == "odd":
            keys = [c.tobytes() + bytes(c.shape) for c in cells]
            cnt = Counter(keys)
            odd = [c for c, k in zip(cells, keys) if cnt[k] == 1]
            if len(odd) != 1:
                # odd one out by colour set
                keys2 = [frozenset(dsl.palette(c)) for c in cells]
                cnt2 = Counter(keys2)
                odd = [c for c, k in zip(cells, keys2) if cnt2[k] == 1]
            if len(odd) != 1:
                raise ValueError("no odd cell")
            return odd[0]
        score = {
            "most_fg": lambda c: int((c != bg).sum()),
            "least_fg": lambda c: -int((c != bg).sum()),
            "most_colors": lambda c: len(dsl.palette(c)),
        }[how]
        vals = [score(c) for c in cells]
        best = max(vals)
        if vals.count(best) != 1:
            raise ValueError("tie")
        return cells[vals.index(best)]

    return run


def _fill_1x1(how: str) -> Callable[[Grid], Grid]:
    """A 1x1 grid holding a colour statistic of the input."""

    def run(g: Grid) -> Grid:
        bg = dsl.background_color(g)
        if how == "most":
            c = dsl.most_common_color(g)
        elif how == "least":
            c = dsl.least_common_color(g)
        elif how in ("most_fg", "least_fg"):
            cc = {k: v for k, v in dsl.color_counts(g).items() if k != bg}
            if not cc:
                raise ValueError("empty")
            f = max if how == "most_fg" else min
            c = f(sorted(cc), key=lambda k: cc[k])
        elif how == "largest_obj":
            c = dsl.select_object(dsl.objects(g, True, True, bg), "largest").color
        else:
            raise ValueError(how)
        return np.array([[c]], dtype=dsl.DTYPE)

    return run


def _scale_by_ncolors(g: Grid) -> Grid:
    k = len(dsl.palette(g) - {0})
    if k < 1:
        raise ValueError("no colours")
    return dsl.scale_up(g, k)


def _inner(g: Grid) -> Grid:
    """Drop the one-cell frame of a grid."""
    if g.shape[0] < 3 or g.shape[1] < 3:
        raise ValueError("too small")
    return g[1:-1, 1:-1]


def _halves(axis: int, second: bool) -> Callable[[Grid], Grid]:
    return lambda g: dsl.split_halves(g, axis)[1 if second else 0]


UNARY: dict[str, Callable[[Grid], Grid]] = {}
UNARY.update(dsl.SYMMETRIES)
UNARY.update({
    "crop_content": lambda g: dsl.crop_to_content(g),
    "crop_nonzero": lambda g: dsl.crop_to_content(g, 0),
})
_CONN = {"obj": (True, False), "cobj4": (False, True), "cobj8": (True, True)}
for _how in ("largest", "smallest", "odd_color", "odd_shape", "most_colors", "biggest_box",
             "common_shape", "symmetric", "asymmetric", "most_accent", "has_hole"):
    for _cn, (_d, _u) in _CONN.items():
        if _how in ("most_colors", "most_accent") and _u:
            continue
        UNARY[f"crop_{_how}_{_cn}"] = (lambda h, d, u: lambda g: dsl.crop_object(g, h, d, u))(_how, _d, _u)
for _how in ("largest", "smallest"):
    for _cn, (_d, _u) in _CONN.items():
        UNARY[f"keep_{_how}_{_cn}"] = (lambda h, d, u: lambda g: dsl.keep_object(g, h, d, u))(_how, _d, _u)
UNARY.update({
    "remove_noise": lambda g: dsl.remove_small_objects(g, 1, False),
    "remove_noise8": lambda g: dsl.remove_small_objects(g, 1, True),
    "cell_odd": _cell_pick("odd"),
    "cell_most_fg": _cell_pick("most_fg"),
    "cell_least_fg": _cell_pick("least_fg"),
    "cell_most_colors": _cell_pick("most_colors"),
    "cell_symmetric": _cell_pick("symmetric"),
    "cell_asymmetric": _cell_pick("asymmetric"),
    "overlay_cells": lambda g: dsl.overlay_parts(g),
    "overlay_cells_rev": lambda g: dsl.overlay_parts(g, True),
    "left_half": _halves(1, False),
    "right_half": _halves(1, True),
    "top_half": _halves(0, False),
    "bottom_half": _halves(0, True),
    "compress": dsl.compress,
    "remove_bg_lines": lambda g: dsl.remove_uniform_lines(g),
    "scale_by_ncolors": _scale_by_ncolors,
    "tile_self_similar": lambda g: dsl.self_similar(g, 0),
    "tile_self_similar_inv": lambda g: dsl.self_similar(g, 0, inverse=True),
    "mirror_h": dsl.mirror_h,
    "mirror_v": dsl.mirror_v,
    "mirror_h_rev": lambda g: dsl.mirror_h(g[:, ::-1]),
    "mirror_v_rev": lambda g: dsl.mirror_v(g[::-1]),
    "mirror_2x2": dsl.mirror_2x2,
    "mirror_2x2_rev": lambda g: dsl.mirror_2x2(g[::-1, ::-1]),
    "rot_tile_2x2": dsl.rot_tile_2x2,
    "gravity_down": lambda g: dsl.gravity(g, "down"),
    "gravity_up": lambda g: dsl.gravity(g, "up"),
    "gravity_left": lambda g: dsl.gravity(g, "left"),
    "gravity_right": lambda g: dsl.gravity(g, "right"),
    "connect_h": lambda g: dsl.connect_lines(g, True, False),
    "connect_v": lambda g: dsl.connect_lines(g, False, True),
    "connect_hv": lambda g: dsl.connect_lines(g, True, True),
    "connect_hv_over": lambda g: dsl.connect_lines(g, True, True, overwrite=True),
    "fold_h": lambda g: dsl.fold(g, 1),
    "fold_h_rev": lambda g: dsl.fold(g, 1, True),
    "fold_v": lambda g: dsl.fold(g, 0),
    "fold_v_rev": lambda g: dsl.fold(g, 0, True),
    "colors_by_x": lambda g: dsl.colors_in_order(g, 1),
    "colors_by_y": lambda g: dsl.colors_in_order(g, 0),
    "colors_by_frequency_tail": lambda g: dsl.colors_by_frequency(g)[1:],
    "rows_majority": lambda g: dsl.lines_majority(g, 1),
    "cols_majority": lambda g: dsl.lines_majority(g, 0),
    "color_bbox_fill": lambda g: dsl.color_bbox_fill(g),
    "rays_diag": lambda g: dsl.extend_rays(g, ["ul", "ur", "dl", "dr"]),
    "count_cells_row": dsl.count_cells_row,
    "colors_by_frequency": dsl.colors_by_frequency,
    "majority_fill": lambda g: dsl.fill_all(g, dsl.most_common_color(g)),
})
UNARY.update({
    "shift_down": lambda g: dsl.shift(g, 1, 0, dsl.background_color(g)),
    "shift_up": lambda g: dsl.shift(g, -1, 0, dsl.background_color(g)),
    "shift_right": lambda g: dsl.shift(g, 0, 1, dsl.background_color(g)),
    "shift_left": lambda g: dsl.shift(g, 0, -1, dsl.background_color(g)),
    "cells_majority": dsl.cells_majority,
    "crop_largest_obj_inner": lambda g: _inner(dsl.crop_object(g, "largest", True, False)),
    "crop_largest_cobj4_inner": lambda g: _inner(dsl.crop_object(g, "largest", False, True)),
    "tile_self_similar_mostcolor": lambda g: dsl.self_similar_color(g, dsl.most_common_color(g)),
    "tile_self_similar_leastcolor": lambda g: dsl.self_similar_color(g, dsl.least_common_color(g)),
})
for _dirs in ("udlr", "ud", "lr", "u", "d", "l", "r"):
    UNARY[f"rays_{_dirs}"] = (lambda ds: lambda g: dsl.extend_rays(g, ds))(_dirs)
for _how in ("has_hole", "odd_color", "odd_shape", "largest", "smallest"):
    UNARY[f"color_{_how}_obj_1x1"] = (lambda h: lambda g: np.array(
        [[dsl.select_object(dsl.objects(g, True, True), h).color]], dtype=dsl.DTYPE))(_how)
for _how in ("most", "least", "most_fg", "least_fg", "largest_obj"):
    UNARY[f"color_{_how}_1x1"] = _fill_1x1(_how)

GEOMETRY = [k for k in dsl.SYMMETRIES if k != "identity"]

# ---------------------------------------------------------------------------
# fitted programs: fit(pairs) -> params (raise if inapplicable); run(g, params)


@dataclass(frozen=True)
class Fitted:
    """A fitted program family: learn parameters from demos, then apply."""

    name: str
    fit: Callable[[Pairs], object]
    run: Callable[[Grid, object], Grid]
    loo: bool = False  # score demos leave-one-out (learner could memorise)


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
        axis, fg, bg = p  # type: ignore[misc]
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
        out = f(g, int(c))  # type: ignore[arg-type]
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


def _fit_cell_rule(feat: Callable[[Grid], list]) -> Callable[[Pairs], object]:
    def fit(pairs: Pairs) -> object:
        _same_shape(pairs)
        table: dict = {}
        changed = False
        for a, b in pairs:
            for k, v, x in zip(feat(a), b.ravel().tolist(), a.ravel().tolist()):
                val = -1 if v == x else v  # -1: keep the cell's colour
                if table.setdefault(k, val) != val:
                    raise ValueError("conflict")
                changed |= v != x
        if not changed:
            raise ValueError("identity")
        return table

    return fit


def _run_cell_rule(feat: Callable[[Grid], list]) -> Callable[[Grid, object], Grid]:
    def run(g: Grid, table: object) -> Grid:
        t: dict = table  # type: ignore[assignment]
        vals = [t.get(k, -1) for k in feat(g)]
        vals = [x if v == -1 else v for v, x in zip(vals, g.ravel().tolist())]
        return np.array(vals, dtype=dsl.DTYPE).reshape(g.shape)

    return run


# --- object recolouring by a learnt feature ---------------------------------


def _obj_feature(name: str, objs: list[dsl.Obj], o: dsl.Obj, shape: tuple[int, int]) -> object:
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
        sub = o.subgrid(-1 if False else 0)
        m = (sub != 0).astype(dsl.DTYPE)
        filled = dsl.fill_enclosed(m, 1, 0)
        return int((filled != m).sum()) > 0
    if name == "color_size":
        return (o.color, o.size)
    if name == "height":
        return o.height
    if name == "width":
        return o.width
    raise ValueError(name)


OBJ_FEATURES = ("size", "shape", "size_rank", "size_rank_asc", "is_largest", "border",
                "holes", "color_size", "height", "width")


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
                k = _obj_feature(feat, objs, o, a.shape)
                if table.setdefault(k, vals.pop()) != b[m][0]:
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
            k = _obj_feature(feat, objs, o, g.shape)
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
    a0, b0 = pairs[0]
    for corner in ("tl", "tr", "bl", "br"):
        for dy in range(a0.shape[0] - H + 1):
            for dx in range(a0.shape[1] - W + 1):
                p = (corner, dy, dx, H, W)
                if all(_window_ok(a, b, p) for a, b in pairs):
                    return p
    raise ValueError("no window")


def _window(g: Grid, p: object) -> Grid:
    corner, dy, dx, H, W = p  # type: ignore[misc]
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
    _, _, sep = dsl.separator_lines(g)
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
    from itertools import permutations

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
    kind, order, bg = p  # type: ignore[misc]
    return _overlay(_parts(g, kind), order, 0 if bg == 0 else dsl.background_color(g))


FITTED: list[Fitted] = [
    Fitted("overlay_parts", _fit_overlay, _run_overlay),
    Fitted("rays_by_color", _fit_rays, _run_rays),
    Fitted("connect_color", _fit_connect_color,
           lambda g, p: dsl.connect_lines(g, p[0], p[1], color=p[2])),  # type: ignore[index]
    Fitted("fill_bboxes", _fit_fill_bboxes,
           lambda g, p: dsl.fill_bboxes(g, p[0], p[1])),  # type: ignore[index]
    Fitted("crop_window", _fit_window, _window),
    Fitted("tile_self_similar_color", _fit_self_similar_color,
           lambda g, c: dsl.self_similar_color(g, c)),  # type: ignore[arg-type]
]
FITTED += [Fitted(f"input_table_{k}", _fit_input_table(k), _run_input_table(k), loo=True)
           for k in ("mask", "palette", "nobjects", "count_fg", "sym")]
FITTED += [Fitted(f"cells_table_{k}", _fit_cell_table(k), _run_cell_table(k), loo=True)
           for k in ("count", "majority_fg", "palette")]
FITTED += [
    Fitted("const_output", _fit_const, lambda g, p: p),  # type: ignore[arg-type,return-value]
]
FITTED += [Fitted(f"logic_{op}", _fit_logic(op), _run_logic(op)) for op in dsl.LOGIC_OPS]
FITTED += [
    Fitted("fill_enclosed", _fit_fill_enclosed,
           lambda g, c: dsl.fill_enclosed(g, c, dsl.background_color(g))),  # type: ignore[arg-type]
    Fitted("outline", _fit_outline,
           lambda g, p: dsl.outline_objects(g, p[0], p[1])),  # type: ignore[index]
    Fitted("symmetry_repair", _mask_color, _repair_run("sym", False)),
    Fitted("symmetry_repair_crop", _mask_color, _repair_run("sym", True)),
    Fitted("periodic_repair", _mask_color, _repair_run("per", False)),
    Fitted("periodic_repair_crop", _mask_color, _repair_run("per", True)),
]
FITTED += [Fitted(f"obj_recolor_{f}{'8' if d else '4'}", _fit_obj_recolor(f, d),
                  _run_obj_recolor(f, d), loo=True)
           for f in OBJ_FEATURES for d in (False, True)]
FITTED += [Fitted(f"cell_rule_{n}", _fit_cell_rule(f), _run_cell_rule(f), loo=True)
           for n, f in CELL_FEATURES.items()]


# ---------------------------------------------------------------------------
# fitting everything against the demos


@dataclass
class Candidate:
    """A solver ready to run on any input, with its demo predictions."""

    solver_id: str
    run: Callable[[Grid], Grid]
    demo_outs: list  # prediction per demo (None if it failed)
    score: int = 0
    rank: int = 0  # family order, lower = simpler
    loo: bool = False
    extra: dict = field(default_factory=dict)


def _safe(f: Callable[[], Grid]) -> Grid | None:
    try:
        out = f()
    except Exception:  # a candidate program failing is normal
        return None
    if not dsl.is_valid(out):
        return None
    return np.ascontiguousarray(out, dtype=dsl.DTYPE)


def _score(outs: list, pairs: Pairs) -> int:
    return sum(1 for o, (_, b) in zip(outs, pairs)
               if o is not None and o.shape == b.shape and (o == b).all())


def _post_steps(outs: list[Grid], pairs: Pairs) -> list[tuple[str, Callable[[Grid], Grid]]]:
    """Post-steps worth trying after a program, chosen from output shapes."""
    steps: list[tuple[str, Callable[[Grid], Grid]]] = []
    shapes = [(o.shape, b.shape) for o, (_, b) in zip(outs, pairs)]
    if all(s == t for s, t in shapes):
        steps += [(k, dsl.SYMMETRIES[k]) for k in GEOMETRY if all(s[0] == s[1] for s, _ in shapes)
                  or k in ("rot180", "flip_h", "flip_v")]
        return steps
    if all(s == t[::-1] for s, t in shapes):
        return [(k, dsl.SYMMETRIES[k]) for k in ("rot90", "rot270", "transpose", "antitranspose")]
    ry = {t[0] / s[0] for s, t in shapes}
    rx = {t[1] / s[1] for s, t in shapes}
    if len(ry) == 1 and len(rx) == 1:
        fy, fx = ry.pop(), rx.pop()
        if fy >= 1 and fx >= 1 and fy == int(fy) and fx == int(fx):
            ky, kx = int(fy), int(fx)
            steps.append((f"scale_{ky}x{kx}", lambda g: dsl.scale_up(g, ky, kx)))
            steps.append((f"tile_{ky}x{kx}", lambda g: dsl.tile(g, ky, kx)))
            if (ky, kx) == (1, 2):
                steps += [("mirror_h", dsl.mirror_h), ("mirror_h_rev", UNARY["mirror_h_rev"])]
            if (ky, kx) == (2, 1):
                steps += [("mirror_v", dsl.mirror_v), ("mirror_v_rev", UNARY["mirror_v_rev"])]
            if (ky, kx) == (2, 2):
                steps += [("mirror_2x2", dsl.mirror_2x2), ("rot_tile_2x2", dsl.rot_tile_2x2),
                          ("mirror_2x2_rev", UNARY["mirror_2x2_rev"])]
        elif fy <= 1 and fx <= 1 and (1 / fy) == int(1 / fy) and (1 / fx) == int(1 / fx):
            ky, kx = int(round(1 / fy)), int(round(1 / fx))
            steps.append((f"downscale_{ky}x{kx}", lambda g: dsl.scale_down(g, ky, kx)))
            steps.append((f"part_tl_{ky}x{kx}",
                          lambda g: g[:g.shape[0] // ky, :g.shape[1] // kx]))
            steps.append((f"part_br_{ky}x{kx}",
                          lambda g: g[g.shape[0] - g.shape[0] // ky:, g.shape[1] - g.shape[1] // kx:]))
    if any(s != t for s, t in shapes):
        steps += [(k, UNARY[k]) for k in ("crop_content", "crop_nonzero", "compress",
                                          "remove_bg_lines")]
    out_shapes = {t for _, t in shapes}
    if len(out_shapes) == 1 and all(s == (1, 1) for s, _ in shapes):
        H, W = out_shapes.pop()
        steps.append((f"fill_{H}x{W}", lambda g: np.full((H, W), g[0, 0], dtype=dsl.DTYPE)))
    return steps


def _with_colormap(c: Candidate, pairs: Pairs) -> Candidate | None:
    """Extend a same-shape candidate with a colour map learnt from the demos."""
    if c.score == len(pairs) or any(o is None for o in c.demo_outs):
        return None
    mapping = dsl.fit_colormap(list(zip(c.demo_outs, (b for _, b in pairs))))
    if not mapping or all(k == v for k, v in mapping.items()):
        return None
    run0 = c.run
    outs = [dsl.apply_colormap(o, mapping) for o in c.demo_outs]
    name = "colormap" if c.solver_id == "identity" else c.solver_id + "+colormap"
    return Candidate(name, lambda g: dsl.apply_colormap(run0(g), mapping), outs,
                     _score(outs, pairs), c.rank + 1)


def _rank_colors(g: Grid) -> list[int]:
    cc = dsl.color_counts(g)
    return sorted(cc, key=lambda c: (-cc[c], c))


def _fit_rankmap(pairs: Pairs) -> dict:
    """Colour map by frequency rank: the k-th commonest input colour -> ..."""
    table: dict = {}
    changed = False
    for a, b in pairs:
        mapping = dsl.fit_colormap([(a, b)])
        if mapping is None:
            raise ValueError("no map")
        ranks = _rank_colors(a)
        for c, d in mapping.items():
            val = ("r", ranks.index(d)) if d in ranks else ("c", d)
            changed |= c != d
            if table.setdefault(ranks.index(c), val) != val:
                raise ValueError("conflict")
    if not changed:
        raise ValueError("identity")
    return table


def _run_rankmap(g: Grid, table: dict) -> Grid:
    ranks = _rank_colors(g)
    mapping = {}
    for i, c in enumerate(ranks):
        if i in table:
            kind, v = table[i]
            mapping[c] = ranks[v] if kind == "r" and v < len(ranks) else v
            if kind == "r" and v >= len(ranks):
                raise ValueError("rank missing")
    return dsl.apply_colormap(g, mapping)


def _with_rankmap(c: Candidate, pairs: Pairs) -> Candidate | None:
    """Extend a same-shape candidate with a frequency-rank colour map."""
    try:
        table = _fit_rankmap(list(zip(c.demo_outs, (b for _, b in pairs))))
    except ValueError:
        return None
    run0 = c.run
    outs = [_safe(lambda o=o: _run_rankmap(o, table)) for o in c.demo_outs]
    name = "rankmap" if c.solver_id == "identity" else c.solver_id + "+rankmap"
    return Candidate(name, lambda g: _run_rankmap(run0(g), table), outs,
                     _score(outs, pairs), c.rank + 1)


def fit_candidates(pairs: Pairs) -> list[Candidate]:
    """Fit every program family to the demo pairs; best-scoring first.

    Unary programs are always kept; compositions and fitted programs only
    when they reproduce at least one demo output.
    """
    cands: list[Candidate] = []
    inputs = [a for a, _ in pairs]
    n = len(pairs)
    for name, f in UNARY.items():
        outs = [_safe(lambda a=a: f(a)) for a in inputs]
        cands.append(Candidate(name, f, outs, _score(outs, pairs), 0))
    extra: list[Candidate] = []
    for c in cands:
        if any(o is None for o in c.demo_outs):
            continue
        if c.score < n:
            cm = _with_colormap(c, pairs)
            if cm is not None and cm.score > 0:
                extra.append(cm)
            elif cm is None and all(o.shape == b.shape for o, (_, b) in zip(c.demo_outs, pairs)):
                rm = _with_rankmap(c, pairs)
                if rm is not None and rm.score > 0:
                    extra.append(rm)
        if c.solver_id in GEOMETRY:
            continue
        for sname, step in _post_steps(c.demo_outs, pairs):
            outs = [_safe(lambda o=o: step(o)) for o in c.demo_outs]
            base = c.run
            comp = Candidate(sname if c.solver_id == "identity" else f"{c.solver_id}+{sname}",
                             (lambda b, s: lambda g: s(b(g)))(base, step), outs,
                             _score(outs, pairs), 2)
            if comp.score > 0:
                extra.append(comp)
            elif all(o is not None for o in outs):
                cm = _with_colormap(comp, pairs)
                if cm is not None and cm.score > 0:
                    extra.append(cm)
    cands += extra
    for fp in FITTED:
        try:
            params = fp.fit(pairs)
        except Exception:
            continue
        run = (lambda fp_, p: lambda g: fp_.run(g, p))(fp, params)
        if fp.loo and n >= 2:
            outs = []
            for k in range(n):
                rest = pairs[:k] + pairs[k + 1:]
                try:
                    pk = fp.fit(rest)
                    outs.append(_safe(lambda: fp.run(inputs[k], pk)))
                except Exception:
                    outs.append(None)
        else:
            outs = [_safe(lambda a=a: run(a)) for a in inputs]
        c = Candidate(fp.name, run, outs, _score(outs, pairs), 3 if fp.loo else 1, fp.loo)
        if c.score > 0:
            cands.append(c)
        if c.score < n and not fp.loo and all(o is not None for o in outs):
            cm = _with_colormap(c, pairs)
            if cm is not None and cm.score > 0:
                cands.append(cm)
    order = {id(c): i for i, c in enumerate(cands)}
    cands.sort(key=lambda c: (-c.score, c.rank, order[id(c)]))
    seen: set[str] = set()
    unique = []
    for c in cands:  # one candidate per solver id (the best-scoring one)
        if c.solver_id not in seen:
            seen.add(c.solver_id)
            unique.append(c)
    return unique
