"""Candidate programs of the reference batt and the code that fits them.

Three kinds of programs, each with a stable, readable solver id:

* parameter-free *unary* programs (``UNARY``): one DSL call, always emitted;
* *compositions* ``A+B``: a unary program followed by a post-step whose
  parameters (scale factor, symmetry, colour map...) are read off the demo
  shapes/colours; only those matching at least one demo output are kept, so
  the set of ids depends on the demos alone;
* *fitted* programs (``FITTED``, defined in :mod:`.learners`): parameters
  learnt from all demo pairs (logical ops on halves, fill colour, symmetry
  repair, local cell rules, object recolouring...).  Learners that could
  simply memorise the demos are scored leave-one-out so that their demo
  score means something.

Nothing here looks at a task id: every choice comes from the demo pairs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from . import dsl
from .dsl import Grid
from .learners import FITTED, Fitted, Pairs

__all__ = ["UNARY", "FITTED", "Fitted", "Candidate", "fit_candidates"]

# ---------------------------------------------------------------------------
# parameter-free unary programs


def _cell_pick(how: str) -> Callable[[Grid], Grid]:
    """Choose one of the separator-delimited cells (or square blocks of a strip)."""

    def run(g: Grid) -> Grid:
        try:
            cells = [c for row in dsl.split_cells(g) for c in row]
        except ValueError:
            cells = dsl.split_squares(g)
        if len(cells) < 2:
            raise ValueError("one cell")
        if how in ("symmetric", "asymmetric"):
            flags = [dsl.is_symmetric(c) or bool((c == c.T).all()) if c.shape[0] == c.shape[1]
                     else dsl.is_symmetric(c) for c in cells]
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
        score: Callable[[Grid], int] = {
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


_CONN = {"obj": (True, False), "cobj4": (False, True), "cobj8": (True, True)}
"""Object flavours: multicolour 8-connected, one colour 4- or 8-connected."""


def _crop_obj(how: str, diag: bool, uni: bool) -> Callable[[Grid], Grid]:
    return lambda g: dsl.crop_object(g, how, diag, uni)


def _keep_obj(how: str, diag: bool, uni: bool) -> Callable[[Grid], Grid]:
    return lambda g: dsl.keep_object(g, how, diag, uni)


def _obj_color_1x1(how: str) -> Callable[[Grid], Grid]:
    return lambda g: np.array([[dsl.select_object(dsl.objects(g, True, True), how).color]],
                              dtype=dsl.DTYPE)


def _rays(dirs: str) -> Callable[[Grid], Grid]:
    return lambda g: dsl.extend_rays(g, dirs)


def _build_unary() -> dict[str, Callable[[Grid], Grid]]:
    """All parameter-free programs, in the order used to break score ties."""
    u: dict[str, Callable[[Grid], Grid]] = dict(dsl.SYMMETRIES)
    # cropping to content or to one object chosen by a criterion
    u["crop_content"] = lambda g: dsl.crop_to_content(g)
    u["crop_nonzero"] = lambda g: dsl.crop_to_content(g, 0)
    for how in ("largest", "smallest", "odd_color", "odd_shape", "most_colors", "biggest_box",
                "common_shape", "symmetric", "asymmetric", "most_accent", "has_hole"):
        for cn, (d, uni) in _CONN.items():
            if how in ("most_colors", "most_accent") and uni:
                continue  # a one-colour object has no second colour
            u[f"crop_{how}_{cn}"] = _crop_obj(how, d, uni)
    # erasing objects
    for how in ("largest", "smallest"):
        for cn, (d, uni) in _CONN.items():
            u[f"keep_{how}_{cn}"] = _keep_obj(how, d, uni)
    u["remove_noise"] = lambda g: dsl.remove_small_objects(g, 1, False)
    u["remove_noise8"] = lambda g: dsl.remove_small_objects(g, 1, True)
    # separator-delimited cells and halves
    for how in ("odd", "most_fg", "least_fg", "most_colors", "symmetric", "asymmetric"):
        u[f"cell_{how}"] = _cell_pick(how)
    u["overlay_cells"] = lambda g: dsl.overlay_parts(g)
    u["overlay_cells_rev"] = lambda g: dsl.overlay_parts(g, True)
    u["left_half"] = _halves(1, False)
    u["right_half"] = _halves(1, True)
    u["top_half"] = _halves(0, False)
    u["bottom_half"] = _halves(0, True)
    # size: shrinking, growing, tiling
    u["compress"] = dsl.compress
    u["remove_bg_lines"] = lambda g: dsl.remove_uniform_lines(g)
    u["scale_by_ncolors"] = _scale_by_ncolors
    u["tile_self_similar"] = lambda g: dsl.self_similar(g, 0)
    u["tile_self_similar_inv"] = lambda g: dsl.self_similar(g, 0, inverse=True)
    u["tile_self_similar_neg"] = lambda g: dsl.self_similar(g, 0, block=dsl.invert(g, 0))
    u["tile_self_similar_inv_neg"] = lambda g: dsl.self_similar(g, 0, True, dsl.invert(g, 0))
    u["invert"] = lambda g: dsl.invert(g)
    u["tile_by_ncolors"] = lambda g: dsl.tile(g, *(2 * [len(dsl.palette(g))]))
    u["tile_by_size"] = lambda g: dsl.tile(g, *g.shape)
    u["mirror_h"] = dsl.mirror_h
    u["mirror_v"] = dsl.mirror_v
    u["mirror_h_rev"] = lambda g: dsl.mirror_h(g[:, ::-1])
    u["mirror_v_rev"] = lambda g: dsl.mirror_v(g[::-1])
    u["mirror_2x2"] = dsl.mirror_2x2
    u["mirror_2x2_rev"] = lambda g: dsl.mirror_2x2(g[::-1, ::-1])
    u["rot_tile_2x2"] = dsl.rot_tile_2x2
    # movement
    for way in ("down", "up", "left", "right"):
        u[f"gravity_{way}"] = (lambda d_: lambda g: dsl.gravity(g, d_))(way)
    for way in ("down", "up", "left", "right"):
        u[f"obj_gravity_{way}"] = (lambda d_: lambda g: dsl.object_gravity(g, d_))(way)
    # drawing lines
    u["connect_h"] = lambda g: dsl.connect_lines(g, True, False)
    u["connect_v"] = lambda g: dsl.connect_lines(g, False, True)
    u["connect_hv"] = lambda g: dsl.connect_lines(g, True, True)
    u["connect_hv_over"] = lambda g: dsl.connect_lines(g, True, True, overwrite=True)
    for kinds in ("h", "v", "hv", "r"):
        u[f"symmetrize_{kinds}"] = (lambda k: lambda g: dsl.symmetrize(g, k))(kinds)
    # folding, summaries, majority
    u["fold_h"] = lambda g: dsl.fold(g, 1)
    u["fold_h_rev"] = lambda g: dsl.fold(g, 1, True)
    u["fold_v"] = lambda g: dsl.fold(g, 0)
    u["fold_v_rev"] = lambda g: dsl.fold(g, 0, True)
    u["colors_by_x"] = lambda g: dsl.colors_in_order(g, 1)
    u["colors_by_y"] = lambda g: dsl.colors_in_order(g, 0)
    u["colors_by_frequency_tail"] = lambda g: dsl.colors_by_frequency(g)[1:]
    u["rows_majority"] = lambda g: dsl.lines_majority(g, 1)
    u["cols_majority"] = lambda g: dsl.lines_majority(g, 0)
    u["color_bbox_fill"] = lambda g: dsl.color_bbox_fill(g)
    u["rays_diag"] = lambda g: dsl.extend_rays(g, ["ul", "ur", "dl", "dr"])
    u["count_cells_row"] = dsl.count_cells_row
    u["colors_by_frequency"] = dsl.colors_by_frequency
    u["majority_fill"] = lambda g: dsl.fill_all(g, dsl.most_common_color(g))
    # one-cell shifts, cell summaries, frames
    u["shift_down"] = lambda g: dsl.shift(g, 1, 0, dsl.background_color(g))
    u["shift_up"] = lambda g: dsl.shift(g, -1, 0, dsl.background_color(g))
    u["shift_right"] = lambda g: dsl.shift(g, 0, 1, dsl.background_color(g))
    u["shift_left"] = lambda g: dsl.shift(g, 0, -1, dsl.background_color(g))
    u["cells_majority"] = dsl.cells_majority
    u["crop_largest_obj_inner"] = lambda g: _inner(dsl.crop_object(g, "largest", True, False))
    u["crop_largest_cobj4_inner"] = lambda g: _inner(dsl.crop_object(g, "largest", False, True))
    u["tile_self_similar_mostcolor"] = lambda g: dsl.self_similar_color(g, dsl.most_common_color(g))
    u["tile_self_similar_leastcolor"] = lambda g: dsl.self_similar_color(
        g, dsl.least_common_color(g))
    for dirs in ("udlr", "ud", "lr", "u", "d", "l", "r"):
        u[f"rays_{dirs}"] = _rays(dirs)
    # 1x1 colour answers
    for how in ("has_hole", "odd_color", "odd_shape", "largest", "smallest"):
        u[f"color_{how}_obj_1x1"] = _obj_color_1x1(how)
    for how in ("most", "least", "most_fg", "least_fg", "largest_obj"):
        u[f"color_{how}_1x1"] = _fill_1x1(how)
    return u


UNARY: dict[str, Callable[[Grid], Grid]] = _build_unary()

GEOMETRY = [k for k in dsl.SYMMETRIES if k != "identity"]

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


def _given(g: Grid) -> Grid:
    """A prediction made elsewhere, to check through :func:`_safe` like the computed ones."""
    return g


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
            steps.append((f"downscale_fg_{ky}x{kx}", lambda g: dsl.scale_down(g, ky, kx, True)))
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
    outs = [_safe(partial(_run_rankmap, o, table)) for o in c.demo_outs]
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
        outs = [_safe(partial(f, a)) for a in inputs]
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
        grew = any(o.size > a.size for o, (a, _) in zip(c.demo_outs, pairs))
        for sname, step in _post_steps(c.demo_outs, pairs):
            outs = [_safe(partial(step, o)) for o in c.demo_outs]
            base = c.run
            # growing a grid only to shrink it again is a coincidence, not a rule
            detour = grew and sname.startswith(("downscale", "part_", "crop", "compress",
                                                "remove_bg"))
            comp = Candidate(sname if c.solver_id == "identity" else f"{c.solver_id}+{sname}",
                             (lambda b, s: lambda g: s(b(g)))(base, step), outs,
                             _score(outs, pairs), 4 if detour else 2)
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
        if fp.loo and n >= 2 and fp.loo_outs is not None:
            outs = [None if o is None else _safe(partial(_given, o)) for o in fp.loo_outs(pairs)]
        elif fp.loo and n >= 2:
            outs = []
            for k in range(n):
                rest = pairs[:k] + pairs[k + 1:]
                try:
                    pk = fp.fit(rest)
                    outs.append(_safe(lambda: fp.run(inputs[k], pk)))
                except Exception:
                    outs.append(None)
        else:
            outs = [_safe(partial(run, a)) for a in inputs]
        c = Candidate(fp.name, run, outs, _score(outs, pairs), 3 if fp.loo else 1, fp.loo)
        if c.score > 0 or fp.loo:
            cands.append(c)
        if c.score < n and not fp.loo and all(o is not None for o in outs):
            cm = _with_colormap(c, pairs)
            if cm is not None and cm.score > 0:
                cands.append(cm)
    order = {id(c): i for i, c in enumerate(cands)}
    # Among solvers matching no demo, learners fitted on every demo go first:
    # they at least agree with all the demos, unlike a bare primitive.
    cands.sort(key=lambda c: (-c.score, -c.rank if c.score == 0 else c.rank, order[id(c)]))
    seen: set[str] = set()
    unique = []
    for c in cands:  # one candidate per solver id (the best-scoring one)
        if c.solver_id not in seen:
            seen.add(c.solver_id)
            unique.append(c)
    return unique
