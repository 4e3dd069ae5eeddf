"""A small grid DSL on numpy for the reference batt.

Every primitive takes and returns ``numpy`` integer arrays (never tuples) so
that candidate programs can be chained cheaply; conversion to the tuple form of
the batt contract happens once, at the edge (:func:`to_tuple`).  Primitives
raise ``ValueError`` when they do not apply (e.g. no object found); the solver
layer catches that and drops the candidate.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np


# ---------------------------------------------------------------------------
# conversion and validity


Grid = np.ndarray
DTYPE = np.int8  # colours 0..9 fit; keeps copies and comparisons cheap


def to_array(g: Sequence[Sequence[int]] | np.ndarray) -> Grid:
    """Convert a tuple/list grid to a 2-D int array (the DSL's working form)."""
    a = np.array(g, dtype=DTYPE)
    if a.ndim != 2:
        raise ValueError("grid must be 2-D")
    return a


def to_tuple(a: Grid) -> tuple[tuple[int, ...], ...]:
    """Convert an array to the contract's tuple-of-tuples of python ints."""
    return tuple(tuple(int(v) for v in row) for row in a.tolist())


def is_valid(a: object) -> bool:
    """True if ``a`` is an ARC grid: 2-D, 1x1..30x30, values 0..9."""
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        return False
    h, w = a.shape
    if not (1 <= h <= 30 and 1 <= w <= 30):
        return False
    return bool(a.min() >= 0 and a.max() <= 9)


# ---------------------------------------------------------------------------
# geometry


def identity(g: Grid) -> Grid:
    """Return the grid unchanged (the 'do nothing' baseline)."""
    return g


def rot90(g: Grid) -> Grid:
    """Rotate 90 degrees clockwise."""
    return np.rot90(g, -1)


def rot180(g: Grid) -> Grid:
    """Rotate 180 degrees."""
    return np.rot90(g, 2)


def rot270(g: Grid) -> Grid:
    """Rotate 90 degrees counter-clockwise."""
    return np.rot90(g, 1)


def flip_h(g: Grid) -> Grid:
    """Mirror left-right."""
    return g[:, ::-1]


def flip_v(g: Grid) -> Grid:
    """Mirror top-bottom."""
    return g[::-1, :]


def transpose(g: Grid) -> Grid:
    """Mirror along the main diagonal."""
    return g.T


def antitranspose(g: Grid) -> Grid:
    """Mirror along the anti-diagonal."""
    return np.rot90(g, 2).T


SYMMETRIES: dict[str, Callable[[Grid], Grid]] = {
    "identity": identity,
    "rot90": rot90,
    "rot180": rot180,
    "rot270": rot270,
    "flip_h": flip_h,
    "flip_v": flip_v,
    "transpose": transpose,
    "antitranspose": antitranspose,
}


def is_symmetric(g: Grid) -> bool:
    """Mirror-symmetric left-right or top-bottom."""
    return bool((g == g[:, ::-1]).all() or (g == g[::-1]).all())


def shift(g: Grid, dr: int, dc: int, fill: int = 0) -> Grid:
    """Translate the content by (dr, dc); vacated cells get ``fill``."""
    h, w = g.shape
    out = np.full_like(g, fill)
    rs, re = max(0, dr), min(h, h + dr)
    cs, ce = max(0, dc), min(w, w + dc)
    if rs < re and cs < ce:
        out[rs:re, cs:ce] = g[rs - dr:re - dr, cs - dc:ce - dc]
    return out


# ---------------------------------------------------------------------------
# colours


def color_counts(g: Grid) -> dict[int, int]:
    """Map colour -> number of cells."""
    counts = np.bincount(g.ravel().astype(np.intp), minlength=10)
    return {v: int(c) for v, c in enumerate(counts.tolist()) if c}


def palette(g: Grid) -> set[int]:
    """Set of colours present."""
    return set(color_counts(g))


def most_common_color(g: Grid) -> int:
    """Most frequent colour (ties -> lowest colour, for determinism)."""
    cc = color_counts(g)
    return max(sorted(cc), key=lambda c: cc[c])


def least_common_color(g: Grid) -> int:
    """Least frequent colour (ties -> lowest colour)."""
    cc = color_counts(g)
    return min(sorted(cc), key=lambda c: cc[c])


def background_color(g: Grid) -> int:
    """Background guess: black if it is nearly as common as the top colour.

    ARC backgrounds are usually black (0), even when a shape covers more
    cells; otherwise the most common colour.
    """
    cc = color_counts(g)
    top = most_common_color(g)
    if 0 in cc and cc[0] >= 0.5 * cc[top]:
        return 0
    return top


def replace_color(g: Grid, old: int, new: int) -> Grid:
    """Recolour every ``old`` cell to ``new``."""
    out = g.copy()
    out[g == old] = new
    return out


def apply_colormap(g: Grid, mapping: dict[int, int]) -> Grid:
    """Recolour cells through ``mapping``; colours not in it are kept."""
    lut = np.arange(10, dtype=DTYPE)
    for k, v in mapping.items():
        lut[k] = v
    return lut[g]


def fit_colormap(pairs: Iterable[tuple[Grid, Grid]]) -> dict[int, int] | None:
    """Learn a cell-wise colour map consistent with all (input, output) pairs.

    Returns None when shapes differ or one input colour maps to two colours.
    """
    mapping: dict[int, int] = {}
    for a, b in pairs:
        if a.shape != b.shape:
            return None
        for x, y in set(zip(a.ravel().tolist(), b.ravel().tolist())):
            if mapping.setdefault(x, y) != y:
                return None
    return mapping


def fill_all(g: Grid, color: int) -> Grid:
    """A grid of the same shape filled with one colour."""
    return np.full_like(g, color)


def invert(g: Grid, bg: int | None = None) -> Grid:
    """Swap foreground and background in a two-colour grid."""
    cols = sorted(palette(g))
    if len(cols) != 2:
        if len(cols) == 1 and bg is not None and cols[0] != bg:
            return np.full_like(g, bg)
        raise ValueError("not two colours")
    return np.where(g == cols[0], cols[1], cols[0]).astype(DTYPE)


# ---------------------------------------------------------------------------
# size and tiling


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (r0, c0, r1, c1) inclusive of a boolean mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty mask")
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def crop(g: Grid, r0: int, c0: int, r1: int, c1: int) -> Grid:
    """Sub-grid rows r0..r1, cols c0..c1 (inclusive)."""
    return g[r0:r1 + 1, c0:c1 + 1]


def crop_to_content(g: Grid, bg: int | None = None) -> Grid:
    """Crop to the bounding box of non-background cells."""
    if bg is None:
        bg = background_color(g)
    return crop(g, *bbox(g != bg))


def scale_up(g: Grid, ky: int, kx: int | None = None) -> Grid:
    """Blow each cell up into a ky x kx block."""
    kx = ky if kx is None else kx
    return np.repeat(np.repeat(g, ky, axis=0), kx, axis=1)


def scale_down(g: Grid, ky: int, kx: int | None = None, fg: bool = False) -> Grid:
    """Shrink by taking the majority colour of each ky x kx block.

    With ``fg`` a block takes its commonest non-background colour (the
    grid's background), so a single marked cell survives the shrink.
    """
    kx = ky if kx is None else kx
    h, w = g.shape
    if h % ky or w % kx or (ky == 1 and kx == 1):
        raise ValueError("shape not divisible")
    bg = background_color(g) if fg else None
    blocks: Grid = g.reshape(h // ky, ky, w // kx, kx).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(h // ky, w // kx, ky * kx)
    out = np.zeros((h // ky, w // kx), dtype=DTYPE)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            vals = blocks[i, j].tolist()
            if fg:
                vals = [v for v in vals if v != bg] or [bg]
            out[i, j] = Counter(vals).most_common(1)[0][0]
    return out


def tile(g: Grid, ny: int, nx: int) -> Grid:
    """Repeat the grid ny times down and nx times across."""
    return np.tile(g, (ny, nx))


def mirror_h(g: Grid) -> Grid:
    """The grid followed by its left-right mirror."""
    return np.hstack([g, g[:, ::-1]])


def mirror_v(g: Grid) -> Grid:
    """The grid above its top-bottom mirror."""
    return np.vstack([g, g[::-1, :]])


def mirror_2x2(g: Grid) -> Grid:
    """Four mirrored copies (kaleidoscope), original at top-left."""
    return mirror_v(mirror_h(g))


def rot_tile_2x2(g: Grid) -> Grid:
    """Four rotated copies: g, rot90 / rot270, rot180 (pinwheel)."""
    if g.shape[0] != g.shape[1]:
        raise ValueError("needs a square grid")
    return np.vstack([np.hstack([g, rot90(g)]), np.hstack([rot270(g), rot180(g)])])


def self_similar(g: Grid, bg: int = 0, inverse: bool = False,
                 block: Grid | None = None) -> Grid:
    """Tile the grid into the cells of itself (task 007bbfb7).

    Each non-background cell of ``g`` becomes a copy of ``g`` (or of
    ``block``); the others stay background.  ``inverse`` places copies at
    background cells instead.
    """
    h, w = g.shape
    if h * h > 30 or w * w > 30:
        raise ValueError("too large")
    blk = g if block is None else block
    out = np.full((h * h, w * w), bg, dtype=DTYPE)
    for i in range(h):
        for j in range(w):
            if (g[i, j] != bg) != inverse:
                out[i * h:(i + 1) * h, j * w:(j + 1) * w] = blk
    return out


def self_similar_color(g: Grid, color: int, bg: int = 0) -> Grid:
    """Like :func:`self_similar`, copies placed where ``g`` has ``color``."""
    h, w = g.shape
    if h * h > 30 or w * w > 30:
        raise ValueError("too large")
    out = np.full((h * h, w * w), bg, dtype=DTYPE)
    for i in range(h):
        for j in range(w):
            if g[i, j] == color:
                out[i * h:(i + 1) * h, j * w:(j + 1) * w] = g
    return out


def compress(g: Grid) -> Grid:
    """Remove consecutive duplicate rows and columns."""
    keep_r = [0] + [i for i in range(1, g.shape[0]) if not np.array_equal(g[i], g[i - 1])]
    g = g[keep_r]
    keep_c = [0] + [j for j in range(1, g.shape[1]) if not np.array_equal(g[:, j], g[:, j - 1])]
    return g[:, keep_c]


def remove_uniform_lines(g: Grid, color: int | None = None) -> Grid:
    """Drop rows and columns made of a single colour (default: background)."""
    if color is None:
        color = background_color(g)
    rows = ~(g == color).all(axis=1)
    cols = ~(g == color).all(axis=0)
    out = g[rows][:, cols]
    if out.size == 0:
        raise ValueError("nothing left")
    return out


# ---------------------------------------------------------------------------
# objects


@dataclass(frozen=True)
class Obj:
    """A connected component: its cells, colours and bounding box."""

    cells: tuple[tuple[int, int], ...]
    colors: tuple[int, ...]  # colour of each cell, aligned with ``cells``
    box: tuple[int, int, int, int]

    @property
    def size(self) -> int:
        return len(self.cells)

    @cached_property
    def color(self) -> int:
        """Dominant colour."""
        return Counter(self.colors).most_common(1)[0][0]

    @property
    def ncolors(self) -> int:
        return len(set(self.colors))

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0] + 1

    @property
    def width(self) -> int:
        return self.box[3] - self.box[1] + 1

    def shape_key(self) -> tuple:
        """Translation-invariant shape (cells relative to the bbox corner)."""
        return self._shape_key

    @cached_property
    def _shape_key(self) -> tuple:
        r0, c0 = self.box[0], self.box[1]
        return tuple(sorted((r - r0, c - c0) for r, c in self.cells))

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean mask of the object's cells in a grid of ``shape``."""
        m = np.zeros(shape, dtype=bool)
        rr, cc = zip(*self.cells)
        m[list(rr), list(cc)] = True
        return m

    def subgrid(self, bg: int) -> Grid:
        """The object alone, cropped to its bbox, other cells background."""
        r0, c0, r1, c1 = self.box
        out = np.full((r1 - r0 + 1, c1 - c0 + 1), bg, dtype=DTYPE)
        for (r, c), v in zip(self.cells, self.colors):
            out[r - r0, c - c0] = v
        return out


_OBJ_CACHE: dict[tuple, list[Obj]] = {}


def objects(g: Grid, diagonal: bool = False, univalued: bool = True,
            bg: int | None = None) -> list[Obj]:
    """Connected components of non-background cells, in reading order.

    ``univalued`` splits components by colour; ``diagonal`` uses
    8-connectivity instead of 4-connectivity.  Results are cached (bounded)
    because many candidate programs look at the same grid's objects.
    """
    if bg is None:
        bg = background_color(g)
    key = (g.shape, g.tobytes(), diagonal, univalued, bg)
    hit = _OBJ_CACHE.get(key)
    if hit is not None:
        return list(hit)
    res = _objects(g, diagonal, univalued, bg)
    if len(_OBJ_CACHE) > 2048:
        _OBJ_CACHE.clear()
    _OBJ_CACHE[key] = res
    return list(res)


def _objects(g: Grid, diagonal: bool, univalued: bool, bg: int) -> list[Obj]:
    """Uncached flood-fill labelling behind :func:`objects`."""
    h, w = g.shape
    gl = g.tolist()
    seen = [[False] * w for _ in range(h)]
    if diagonal:
        nbrs = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    else:
        nbrs = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    out: list[Obj] = []
    for r in range(h):
        for c in range(w):
            if seen[r][c] or gl[r][c] == bg:
                continue
            col = gl[r][c]
            seen[r][c] = True
            stack = [(r, c)]
            cells = []
            while stack:
                y, x = stack.pop()
                cells.append((y, x))
                for dy, dx in nbrs:
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < h and 0 <= nx < w and not seen[ny][nx]:
                        v = gl[ny][nx]
                        if v != bg and (not univalued or v == col):
                            seen[ny][nx] = True
                            stack.append((ny, nx))
            cells.sort()
            rs = [p[0] for p in cells]
            cs = [p[1] for p in cells]
            out.append(Obj(tuple(cells), tuple(gl[y][x] for y, x in cells),
                           (min(rs), min(cs), max(rs), max(cs))))
    return out


def _unique_by(objs: list[Obj], key: Callable[[Obj], object]) -> Obj:
    """The single object whose ``key`` value no other object shares."""
    counts = Counter(key(o) for o in objs)
    odd = [o for o in objs if counts[key(o)] == 1]
    if len(odd) != 1 or len(objs) < 3 and len(counts) < 2:
        raise ValueError("no odd one out")
    return odd[0]


def select_object(objs: list[Obj], how: str) -> Obj:
    """Pick one object: largest, smallest, odd_color, odd_shape, most_colors...

    Ties are rejected (ValueError) for size-based choices so that an arbitrary
    pick never masquerades as a rule.
    """
    if not objs:
        raise ValueError("no objects")
    if how in ("largest", "smallest", "most_colors", "biggest_box", "densest"):
        key: Callable[[Obj], float] = {
            "largest": lambda o: o.size,
            "smallest": lambda o: -o.size,
            "most_colors": lambda o: o.ncolors,
            "biggest_box": lambda o: o.height * o.width,
            "densest": lambda o: o.size / (o.height * o.width),
        }[how]
        best = max(key(o) for o in objs)
        top = [o for o in objs if key(o) == best]
        if len(top) != 1:
            raise ValueError("tie")
        return top[0]
    if how == "odd_color":
        return _unique_by(objs, lambda o: o.color)
    if how == "odd_shape":
        return _unique_by(objs, lambda o: o.shape_key())
    if how == "odd_size":
        return _unique_by(objs, lambda o: o.size)
    if how == "common_shape":  # the shape that occurs most often (first copy)
        counts = Counter(o.shape_key() for o in objs)
        commonest = counts.most_common(2)
        if len(commonest) < 2 or commonest[0][1] == commonest[1][1]:
            raise ValueError("tie")
        return next(o for o in objs if o.shape_key() == commonest[0][0])
    if how in ("symmetric", "asymmetric", "has_hole") and len(objs) > 50:
        raise ValueError("too many objects to inspect")
    if how in ("symmetric", "asymmetric"):
        flags = [is_symmetric(o.subgrid(-1)) for o in objs]
        want = how == "symmetric"
        hits = [o for o, f in zip(objs, flags) if f == want]
        if len(hits) != 1:
            raise ValueError("not unique")
        return hits[0]
    if how == "most_accent":  # most cells not of the object's main colour
        vals = [o.size - o.colors.count(o.color) for o in objs]
        best = max(vals)
        if best == 0 or vals.count(best) != 1:
            raise ValueError("tie")
        return objs[vals.index(best)]
    if how == "has_hole":
        hits = [o for o in objs if has_hole(o)]
        if len(hits) != 1:
            raise ValueError("not unique")
        return hits[0]
    raise ValueError(how)


def has_hole(o: Obj) -> bool:
    """The object encloses at least one cell that is not its own."""
    if o.size < 4 or o.height < 3 or o.width < 3:
        return False
    m = o.mask((o.box[2] + 1, o.box[3] + 1))[o.box[0]:, o.box[1]:].astype(DTYPE)
    return bool((fill_enclosed(m, 1, 0) != m).any())


def crop_object(g: Grid, how: str, diagonal: bool = True, univalued: bool = False,
                bg: int | None = None) -> Grid:
    """Crop the grid to the bbox of the object chosen by ``how``."""
    if bg is None:
        bg = background_color(g)
    o = select_object(objects(g, diagonal, univalued, bg), how)
    return crop(g, *o.box)


def keep_object(g: Grid, how: str, diagonal: bool = True, univalued: bool = False,
                bg: int | None = None) -> Grid:
    """Erase every object except the one chosen by ``how`` (same shape)."""
    if bg is None:
        bg = background_color(g)
    o = select_object(objects(g, diagonal, univalued, bg), how)
    out = np.full_like(g, bg)
    m = o.mask(g.shape)
    out[m] = g[m]
    return out


def remove_small_objects(g: Grid, max_size: int = 1, diagonal: bool = False,
                         bg: int | None = None) -> Grid:
    """Erase objects of at most ``max_size`` cells (denoising)."""
    if bg is None:
        bg = background_color(g)
    out = g.copy()
    for o in objects(g, diagonal, True, bg):
        if o.size <= max_size:
            out[o.mask(g.shape)] = bg
    return out


def object_gravity(g: Grid, direction: str = "down", bg: int | None = None,
                   diagonal: bool = True) -> Grid:
    """Slide whole objects (rigidly) towards ``direction`` until they rest.

    Objects nearest the wall move first; each stops at the wall or on top of
    an already settled cell.
    """
    if bg is None:
        bg = background_color(g)
    k = {"down": 0, "right": 3, "up": 2, "left": 1}[direction]
    a = np.rot90(g, k)
    h, w = a.shape
    objs = objects(np.ascontiguousarray(a), diagonal, False, bg)
    if len(objs) > 40:
        raise ValueError("too many objects")
    out = np.full_like(a, bg)
    occupied = np.zeros((h, w), dtype=bool)
    for o in sorted(objs, key=lambda o: -o.box[2]):
        rs = np.array([p[0] for p in o.cells])
        cs = np.array([p[1] for p in o.cells])
        d = 0
        while (rs + d + 1 < h).all() and not occupied[rs + d + 1, cs].any():
            d += 1
        occupied[rs + d, cs] = True
        out[rs + d, cs] = np.array(o.colors, dtype=DTYPE)
    return np.rot90(out, -k)


# ---------------------------------------------------------------------------
# separators, cells, halves and their logical combination


def separator_lines(g: Grid) -> tuple[list[int], list[int], int | None]:
    """Rows and columns that are full lines of one colour, and that colour.

    Only lines of a colour that does not occur elsewhere as full lines of other
    colours count; a grid of one colour has no separators.
    """
    h, w = g.shape
    if len(palette(g)) < 2:
        return [], [], None
    cand: Counter = Counter()
    rows = {i: int(g[i, 0]) for i in range(h) if (g[i] == g[i, 0]).all()}
    cols = {j: int(g[0, j]) for j in range(w) if (g[:, j] == g[0, j]).all()}
    cand.update(rows.values())
    cand.update(cols.values())
    if not cand:
        return [], [], None
    bg = background_color(g)
    counts = color_counts(g)

    def exclusive(c: int) -> bool:  # the colour occurs only on its lines
        rs = [i for i, v in rows.items() if v == c]
        cs = [j for j, v in cols.items() if v == c]
        n = len(rs) * w + len(cs) * h - len(rs) * len(cs)
        return counts[c] == n

    # prefer a non-background colour that is used for nothing but lines
    colors = sorted(cand, key=lambda c: (c == bg, not exclusive(c), -cand[c], c))
    color = colors[0]
    return ([i for i, c in rows.items() if c == color],
            [j for j, c in cols.items() if c == color], color)


def split_cells(g: Grid) -> list[list[Grid]]:
    """Split the grid into the cells delimited by separator lines."""
    rows, cols, _ = separator_lines(g)
    h, w = g.shape

    def spans(lines: list[int], n: int) -> list[tuple[int, int]]:
        out, start = [], 0
        for k in sorted(lines) + [n]:
            if k > start:
                out.append((start, k))
            start = k + 1
        return out

    rs, cs = spans(rows, h), spans(cols, w)
    if len(rs) * len(cs) < 2:
        raise ValueError("no separators")
    return [[g[a:b, c:d] for c, d in cs] for a, b in rs]


def split_squares(g: Grid) -> list[Grid]:
    """Split a k*n x n (or n x k*n) grid into k square blocks."""
    h, w = g.shape
    if h > w and h % w == 0:
        return [g[i:i + w] for i in range(0, h, w)]
    if w > h and w % h == 0:
        return [g[:, j:j + h] for j in range(0, w, h)]
    raise ValueError("not a strip of squares")


def split_halves(g: Grid, axis: int | None = None) -> tuple[Grid, Grid]:
    """Split into two equal parts, dropping a middle separator line if any.

    ``axis`` 1 splits left/right, 0 top/bottom, None picks the axis with a
    separator line (else the longer axis).
    """
    h, w = g.shape
    if axis is None:
        rows, cols, _ = separator_lines(g)
        if cols and w % 2 == 1 and (w // 2) in cols:
            axis = 1
        elif rows and h % 2 == 1 and (h // 2) in rows:
            axis = 0
        else:
            axis = 1 if w >= h else 0
    n = g.shape[axis]
    if n % 2 == 1:
        mid = n // 2
        sl = g[:, mid] if axis == 1 else g[mid, :]
        if not (sl == sl[0]).all():
            raise ValueError("odd size without a separator")
        a, b = (g[:, :mid], g[:, mid + 1:]) if axis == 1 else (g[:mid], g[mid + 1:])
    else:
        mid = n // 2
        a, b = (g[:, :mid], g[:, mid:]) if axis == 1 else (g[:mid], g[mid:])
    if a.size == 0:
        raise ValueError("empty half")
    return a, b


LOGIC_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "nor": lambda a, b: ~(a | b),
    "a_not_b": lambda a, b: a & ~b,
    "b_not_a": lambda a, b: b & ~a,
}


def logic_halves(g: Grid, op: str, fg: int, bg: int, axis: int | None = None,
                 part_bg: int = 0) -> Grid:
    """Combine the two halves' non-``part_bg`` masks with a logical operator."""
    a, b = split_halves(g, axis)
    m = LOGIC_OPS[op](a != part_bg, b != part_bg)
    return np.where(m, fg, bg).astype(DTYPE)


def fold(g: Grid, axis: int = 1, reverse: bool = False, bg: int = 0) -> Grid:
    """Fold the grid in half: overlay one half onto the mirrored other half."""
    a, b = split_halves(g, axis)
    b = b[:, ::-1] if axis == 1 else b[::-1]
    if reverse:
        a, b = b, a
    return np.where(a != bg, a, b).astype(DTYPE)


def overlay_parts(g: Grid, order_rev: bool = False, part_bg: int = 0) -> Grid:
    """Stack the separator-delimited cells on top of each other (later wins)."""
    cells = [c for row in split_cells(g) for c in row]
    if len({c.shape for c in cells}) != 1:
        raise ValueError("unequal cells")
    if order_rev:
        cells = cells[::-1]
    out = np.full_like(cells[0], part_bg)
    for c in cells:
        out = np.where(c != part_bg, c, out)
    return out


def cells_majority(g: Grid) -> Grid:
    """One pixel per separator-delimited cell: the cell's most common colour."""
    cells = split_cells(g)
    return np.array([[most_common_color(c) for c in row] for row in cells], dtype=DTYPE)


# ---------------------------------------------------------------------------
# filling, gravity and drawing


def fill_enclosed(g: Grid, color: int, bg: int = 0) -> Grid:
    """Fill background regions not 4-connected to the border with ``color``."""
    h, w = g.shape
    outside = np.zeros((h, w), dtype=bool)
    stack = [(r, c) for r in range(h) for c in (0, w - 1)] + \
            [(r, c) for c in range(w) for r in (0, h - 1)]
    gl = g.tolist()
    while stack:
        r, c = stack.pop()
        if 0 <= r < h and 0 <= c < w and not outside[r, c] and gl[r][c] == bg:
            outside[r, c] = True
            stack.extend([(r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)])
    out = g.copy()
    out[(g == bg) & ~outside] = color
    return out


def gravity(g: Grid, direction: str = "down", bg: int | None = None) -> Grid:
    """Let every non-background cell fall towards ``direction``."""
    if bg is None:
        bg = background_color(g)
    k = {"down": 0, "right": 3, "up": 2, "left": 1}[direction]
    a = np.rot90(g, k)  # make 'down' the direction of fall
    out = np.full_like(a, bg)
    for j in range(a.shape[1]):
        col = a[:, j]
        vals = col[col != bg]
        if vals.size:
            out[-vals.size:, j] = vals
    return np.rot90(out, -k)


def connect_lines(g: Grid, horizontal: bool = True, vertical: bool = True,
                  bg: int | None = None, color: int | None = None,
                  overwrite: bool = False) -> Grid:
    """Draw a line between two same-coloured cells on a row or column.

    The line has their colour (or ``color``); it paints background cells
    only, unless ``overwrite`` lets vertical lines cross horizontal ones.
    """
    if bg is None:
        bg = background_color(g)
    out = g.copy()
    passes = ([(g, out)] if horizontal else []) + ([(g.T, out.T)] if vertical else [])
    for a, o in passes:
        for i in range(a.shape[0]):
            pos: dict[int, list[int]] = {}
            for j, v in enumerate(a[i].tolist()):
                if v != bg:
                    pos.setdefault(v, []).append(j)
            for v, js in pos.items():
                for j0, j1 in zip(js, js[1:]):
                    if j1 == j0 + 1:
                        continue
                    seg = o[i, j0 + 1:j1]
                    paint = a[i, j0 + 1:j1] == bg if overwrite else seg == bg
                    seg[paint] = v if color is None else color
    return out


RAY_DIRS: dict[str, tuple[int, int]] = {
    "u": (-1, 0), "d": (1, 0), "l": (0, -1), "r": (0, 1),
    "ul": (-1, -1), "ur": (-1, 1), "dl": (1, -1), "dr": (1, 1),
}


def extend_rays(g: Grid, directions: str | Sequence[str], bg: int | None = None,
                colors: Iterable[int] | None = None) -> Grid:
    """Shoot a ray of each non-background cell's colour over the background.

    ``directions`` are keys of :data:`RAY_DIRS` ('udlr' means the four
    orthogonal ones); ``colors`` restricts which cells shoot.  Rays stop at
    cells that are not background in the input; where rays of different
    directions cross, the later direction wins.
    """
    if bg is None:
        bg = background_color(g)
    out = g.copy()
    isbg = g == bg
    src = ~isbg if colors is None else np.isin(g, list(colors)) & ~isbg
    h, w = g.shape
    for d in (list(directions) if isinstance(directions, str) else directions):
        dr, dc = RAY_DIRS[d]
        cur = np.where(src, g, -1).astype(np.int16)
        while True:
            moved = np.full_like(cur, -1)
            ys, ye = max(0, dr), h + min(0, dr)
            xs, xe = max(0, dc), w + min(0, dc)
            moved[ys:ye, xs:xe] = cur[ys - dr:ye - dr, xs - dc:xe - dc]
            live = (moved >= 0) & isbg
            if not live.any():
                break
            out[live] = moved[live]
            cur = np.where(live, moved, -1)
    return out


def fill_bboxes(g: Grid, color: int, diagonal: bool = True, bg: int | None = None) -> Grid:
    """Paint background cells inside each object's bounding box."""
    if bg is None:
        bg = background_color(g)
    out = g.copy()
    for o in objects(g, diagonal, False, bg):
        r0, c0, r1, c1 = o.box
        sub = out[r0:r1 + 1, c0:c1 + 1]
        sub[g[r0:r1 + 1, c0:c1 + 1] == bg] = color
    return out


def color_bbox_fill(g: Grid, bg: int | None = None) -> Grid:
    """Fill the bounding box of every non-background colour with that colour."""
    if bg is None:
        bg = background_color(g)
    out = g.copy()
    for c in sorted(palette(g) - {bg}):
        r0, c0, r1, c1 = bbox(g == c)
        out[r0:r1 + 1, c0:c1 + 1] = c
    return out


def outline_objects(g: Grid, color: int, diagonal: bool = True,
                    bg: int | None = None) -> Grid:
    """Paint background cells adjacent to any object with ``color`` (a halo)."""
    if bg is None:
        bg = background_color(g)
    fgm = g != bg
    p = np.pad(fgm, 1)
    h, w = g.shape
    near = np.zeros_like(fgm)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if (dy or dx) and (diagonal or not (dy and dx)):
                near |= p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
    out = g.copy()
    out[near & ~fgm] = color
    return out


def lines_majority(g: Grid, axis: int = 1) -> Grid:
    """Set every row (axis 1) or column (axis 0) to its most common colour."""
    a = g if axis == 1 else g.T
    out = np.array([[most_common_color(r.reshape(1, -1))] * a.shape[1] for r in a], dtype=DTYPE)
    return out if axis == 1 else out.T


# ---------------------------------------------------------------------------
# repairing masked cells by symmetry or periodicity


_SYMMETRY_MEMO: dict = {}


def symmetrize(g: Grid, kinds: str = "h", bg: int | None = None) -> Grid:
    """Overlay the grid with its mirror images so that it becomes symmetric.

    ``kinds`` holds 'h' (left-right), 'v' (top-bottom), 'r' (the three
    rotations, square grids only).  Background cells take the colour of
    their images; existing colours are kept.
    """
    if bg is None:
        bg = background_color(g)
    images = []
    if "h" in kinds:
        images.append(g[:, ::-1])
    if "v" in kinds:
        images.append(g[::-1])
    if "h" in kinds and "v" in kinds:
        images.append(g[::-1, ::-1])
    if "r" in kinds:
        if g.shape[0] != g.shape[1]:
            raise ValueError("rotations need a square grid")
        images += [np.rot90(g, k) for k in (1, 2, 3)]
    out = g.copy()
    for im in images:
        take = (out == bg) & (im != bg)
        out[take] = im[take]
    return out


def _symmetry_maps(h: int, w: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Candidate point maps (name, r2, c2) for mirror symmetries of any offset."""
    rr, cc = np.mgrid[0:h, 0:w]
    for s in sorted(range(2 * w - 1), key=lambda s: abs(s - (w - 1))):
        yield rr, s - cc
    for s in sorted(range(2 * h - 1), key=lambda s: abs(s - (h - 1))):
        yield s - rr, cc
    for d in sorted(range(-(h - 1), w), key=abs):
        yield cc - d, rr + d
    for s in sorted(range(h + w - 1), key=lambda s: abs(s - (h + w - 2) / 2)):
        yield s - cc, s - rr


def symmetry_complete(g: Grid, mask_color: int) -> Grid:
    """Fill ``mask_color`` cells from their mirror images.

    Tries left-right, top-bottom and diagonal mirrors about every plausible
    axis (the pattern may be off-centre); a mirror is used when it agrees on
    all known cells it relates.  Raises if some masked cell stays unknown.
    Memoised: several solvers repair the same grid.
    """
    key = (g.shape, g.tobytes(), mask_color)
    if key not in _SYMMETRY_MEMO:
        if len(_SYMMETRY_MEMO) > 256:
            _SYMMETRY_MEMO.clear()
        res: Grid | ValueError
        try:
            res = _symmetry_complete(g, mask_color)
            res.flags.writeable = False
        except ValueError as e:
            res = e
        _SYMMETRY_MEMO[key] = res
    res = _SYMMETRY_MEMO[key]
    if isinstance(res, ValueError):
        raise ValueError(str(res))
    return res


def _symmetry_complete(g: Grid, mask_color: int) -> Grid:
    """Uncached search behind :func:`symmetry_complete`."""
    h, w = g.shape
    out = g.copy()
    filled = g != mask_color
    if filled.all():
        raise ValueError("nothing to complete")
    for _ in range(2):
        for r2, c2 in _symmetry_maps(h, w):
            ok = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
            if ok.sum() < 0.5 * h * w:
                continue
            r2c, c2c = np.clip(r2, 0, h - 1), np.clip(c2, 0, w - 1)
            other = out[r2c, c2c]
            ofill = filled[r2c, c2c]
            both = ok & filled & ofill
            if both.sum() < 0.25 * h * w or (out[both] != other[both]).any():
                continue
            take = ok & ~filled & ofill
            if take.any():
                out[take] = other[take]
                filled |= take
        if filled.all():
            return out
    raise ValueError("could not complete")


_PERIODIC_MEMO: dict = {}


def periodic_complete(g: Grid, mask_color: int) -> Grid:
    """Fill ``mask_color`` cells from a 2-D periodic tiling of the rest.

    Searches the smallest period (py, px), with rows of tiles possibly shifted
    sideways (diagonal patterns), consistent with all known cells.
    """
    key = (g.shape, g.tobytes(), mask_color)
    if key not in _PERIODIC_MEMO:
        if len(_PERIODIC_MEMO) > 256:
            _PERIODIC_MEMO.clear()
        res: Grid | ValueError
        try:
            res = _periodic_complete(g, mask_color)
            res.flags.writeable = False
        except ValueError as e:
            res = e
        _PERIODIC_MEMO[key] = res
    res = _PERIODIC_MEMO[key]
    if isinstance(res, ValueError):
        raise ValueError(str(res))
    return res


def _periodic_complete(g: Grid, mask_color: int) -> Grid:
    """Uncached search behind :func:`periodic_complete`."""
    h, w = g.shape
    known = g != mask_color
    if known.all() or not known.any():
        raise ValueError("nothing to complete")
    n_known = int(known.sum())
    budget = 1500  # full consistency checks; keeps hopeless searches short
    rr, cc = np.mgrid[0:h, 0:w]
    vals = g[known].astype(np.int16)
    agree_memo: dict[tuple[int, int], bool] = {}

    def agree(dy: int, dx: int) -> bool:
        """Known cells one lattice vector apart have equal colours."""
        if (dy, dx) not in agree_memo:
            if dx >= 0:
                a, b = g[:h - dy, :w - dx], g[dy:, dx:]
                ka, kb = known[:h - dy, :w - dx], known[dy:, dx:]
            else:
                a, b = g[:h - dy, -dx:], g[dy:, :w + dx]
                ka, kb = known[:h - dy, -dx:], known[dy:, :w + dx]
            agree_memo[(dy, dx)] = not ((a != b) & ka & kb).any()
        return agree_memo[(dy, dx)]

    for area in range(1, min(h * w, 401, n_known + 1)):
        for py in range(1, min(h, area) + 1):
            if area % py:
                continue
            px = area // py
            if px > w:
                continue
            if px < w and not agree(0, px):
                continue
            for s in range(px if 2 * py <= h else 1):
                if py < h and not (agree(py, s) and agree(py, s - px)):
                    continue
                budget -= 1
                if budget < 0:
                    raise ValueError("search budget exhausted")
                key = (rr % py) * px + (cc - s * (rr // py)) % px
                k = key[known]
                lo = np.full(area, 99, dtype=np.int16)
                hi = np.full(area, -1, dtype=np.int16)
                np.minimum.at(lo, k, vals)
                np.maximum.at(hi, k, vals)
                if (hi < 0).any() or (lo != hi).any():
                    continue
                return lo[key].astype(DTYPE)
    raise ValueError("no period")


# ---------------------------------------------------------------------------
# summaries (small outputs describing the input)


def count_cells_row(g: Grid, bg: int | None = None) -> Grid:
    """A 1 x n row of the dominant colour, n = number of non-background cells."""
    if bg is None:
        bg = background_color(g)
    n = int((g != bg).sum())
    if n == 0:
        raise ValueError("empty")
    vals = g[g != bg]
    return np.full((1, n), Counter(vals.tolist()).most_common(1)[0][0], dtype=DTYPE)


def colors_by_frequency(g: Grid, bg: int | None = None) -> Grid:
    """An n x 1 column of the non-background colours, most frequent first."""
    if bg is None:
        bg = background_color(g)
    cc = color_counts(g)
    cols = sorted((c for c in cc if c != bg), key=lambda c: (-cc[c], c))
    if not cols:
        raise ValueError("empty")
    return np.array(cols, dtype=DTYPE).reshape(-1, 1)


def colors_in_order(g: Grid, axis: int = 1, bg: int | None = None) -> Grid:
    """Non-background colours ordered by mean column (axis 1) or row (axis 0).

    The result is a row (axis 1) or a column (axis 0): stripe summaries.
    """
    if bg is None:
        bg = background_color(g)
    cols = sorted(palette(g) - {bg})
    if not cols:
        raise ValueError("empty")
    pos = {c: float(np.nonzero(g == c)[axis].mean()) for c in cols}
    order = sorted(cols, key=lambda c: (pos[c], c))
    arr = np.array(order, dtype=DTYPE)
    return arr.reshape(1, -1) if axis == 1 else arr.reshape(-1, 1)
