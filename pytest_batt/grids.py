"""ARC grids: validation, normalisation to tuples, fingerprints and readable differences.

A batt may return grids as tuples, lists or numpy arrays; everything downstream works on
one canonical form (a tuple of row tuples of Python ints) or knows the value is not a grid.
"""

from __future__ import annotations

import hashlib
import numbers
import reprlib
from itertools import chain
from typing import Any, Callable, List, Optional, Sequence, Tuple, cast

from .visible import a_type

Grid = Tuple[Tuple[int, ...], ...]

MAX_SIDE = 30
_COLOURS = frozenset(range(10))


class GridError(ValueError):
    """A value that should be an ARC grid is not one; the message says which rule it breaks.

    ``near`` says how close the value came (0: a grid's rows and cells, one cell no colour;
    1: rows of the wrong number or length; 2: not rows at all), so that a failure can show
    the invalid candidates nearest a grid first.
    """

    def __init__(self, message: str, near: int = 2) -> None:
        super().__init__(message)
        self.near = near


# Each colour by itself: a dict lookup finds the colour a number *equals* (7.0, numpy.float64(7),
# True are equal to 7, 7, 1 and hash alike, as Python requires), and misses 7.5, nan and '7'.
_COLOUR_OF = {float(k): k for k in range(10)}  # float keys: a float cell's lookup compares floats
_PLAIN = frozenset((int, float, bool))  # builtin numbers: their equality is the language's
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 40


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or getattr(value, "dtype", None) is not None and getattr(value.dtype, "kind", None) == "b"


def as_int(value: Any) -> Optional[int]:
    """``value`` as a Python int when it is one of the contract's ints, else None.

    The rule for a differ value's size and for ``last_t`` (grid cells follow :func:`colour`):
    Python ints and integer types that say so (``__index__``: numpy's) count; ``bool`` never
    does, although it is an int subclass (Phase 3 tests ``type(size) != int``); floats never
    do, even whole ones. Hostile ``__index__`` methods give None.
    """
    if type(value) is int:
        return value
    if _is_bool(value) or isinstance(value, float):
        return None
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "__index__"):
        try:
            return int(value.__index__())
        except Exception:
            return None
    return None


def colour(value: Any) -> Optional[int]:
    """The colour 0..9 a grid cell *equals*, as a Python int; None when it equals none.

    Phase 3 compares grids with ``==`` and the ARC verifiers with numpy's ``array_equal``, so a
    cell counts as the colour it equals: ``7``, ``7.0``, ``numpy.float64(7)``, ``numpy.int8(7)``,
    ``True`` (1). ``7.5``, nan, infinities, ``'7'``, ``10`` and objects that are no numbers
    never count. The canonical grid holds the int.
    """
    if type(value) is int:
        return value if 0 <= value <= 9 else None
    if not isinstance(value, (int, float, numbers.Number)) and not _is_bool(value):
        return None  # a str, a list, an object that only claims to equal a colour
    try:
        return _COLOUR_OF.get(value)
    except Exception:  # unhashable, or a hostile __hash__/__eq__
        return None


def _shown(value: Any) -> str:
    """A cell's value as a failure shows it: its repr, bounded (its repr may be huge, or fail)."""
    try:
        return repr(value) if type(value) is float else _SHOWN.repr(value)  # a float's repr is short and runs no batt code
    except Exception:
        return f"a value of type {type(value).__name__}"


def _plain_colours(cells: Sequence[Any], width: int, first_row: int = 0) -> List[int]:
    """Cells of builtin numbers (int, float, bool), ``width`` a row, as the colours they equal,
    at C speed; :class:`GridError` names the first that equals none."""
    found = list(map(_COLOUR_OF.get, cells))
    if None in found:
        i = found.index(None)
        raise GridError(f"cell ({first_row + i // width}, {i % width}) is {_shown(cells[i])}, not a colour 0..9", near=0)
    return cast(List[int], found)


def _row_cells(row: Any, r: int) -> Tuple[int, ...]:
    """One row's cells as colours; :class:`GridError` names the first cell that is none."""
    cells = tuple(row)
    types = set(map(type, cells))
    if types == {int} and _COLOURS.issuperset(cells):
        return cells  # plain ints: C-speed builtins only
    if types <= _PLAIN:
        return tuple(_plain_colours(cells, len(cells), r))
    out = []
    for c, v in enumerate(cells):  # numpy scalars, Fractions, objects: each cell asked
        k = colour(v)
        if k is None:
            raise GridError(f"cell ({r}, {c}) is {_shown(v)}, not a colour 0..9", near=0)
        out.append(k)
    return tuple(out)


def _fast_grid(value: Any) -> Optional[Grid]:
    """The common case, lists or tuples of plain ints (or whole floats), checked with C-speed
    builtins; None when it is another case, :class:`GridError` when a cell is no colour."""
    if type(value) not in (list, tuple) or not 0 < len(value) <= MAX_SIDE:
        return None
    rows = tuple(map(tuple, value)) if all(type(r) in (list, tuple) for r in value) else None
    if rows is None:
        return None
    width = len(rows[0])
    if not 0 < width <= MAX_SIDE or any(len(r) != width for r in rows):
        return None
    cells = [v for r in rows for v in r]
    types = set(map(type, cells))
    if types == {int} and _COLOURS.issuperset(cells):
        return rows
    if not types <= _PLAIN:
        return None
    return tuple(tuple(_plain_colours(row, width, r)) for r, row in enumerate(rows))  # row by row: stops at the first bad one


def to_grid(value: Any) -> Grid:
    """Return ``value`` as a canonical grid, or raise :class:`GridError` saying why it is not one."""
    fast = _fast_grid(value)
    if fast is not None:
        return fast
    if hasattr(value, "tolist") and hasattr(value, "ndim"):  # numpy array without importing numpy
        if value.ndim != 2:
            raise GridError(f"array has {value.ndim} dimensions, a grid has 2", near=1)
        h, w = value.shape
        if h > MAX_SIDE or w > MAX_SIDE:  # before tolist(): a huge array is not copied to be refused
            raise GridError(f"grid is {h}x{w}, larger than {MAX_SIDE}x{MAX_SIDE}", near=1)
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise GridError(f"{type(value).__name__} is not a sequence of rows")
    if not value:
        raise GridError("grid has no rows", near=1)
    rows = []
    width = 0
    for r, row in enumerate(value):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise GridError(f"row {r} is {a_type(row)}, not a sequence of cells")
        if r == 0:
            width = len(row)
            if width == 0:
                raise GridError("grid has empty rows", near=1)
            if len(value) > MAX_SIDE or width > MAX_SIDE:  # before any cell is read: a huge value costs nothing
                raise GridError(f"grid is {len(value)}x{width}, larger than {MAX_SIDE}x{MAX_SIDE}", near=1)
        elif len(row) != width:
            raise GridError(f"ragged rows: row 0 has {width} cells, row {r} has {len(row)}", near=1)
        rows.append(_row_cells(row, r))
    return tuple(rows)


def check(value: Any) -> Tuple[Optional[Grid], Optional[GridError]]:
    """The canonical grid and None, or None and why ``value`` is not a valid grid (it then never matches)."""
    try:
        return to_grid(value), None
    except GridError as e:
        return None, e.with_traceback(None)  # kept per candidate: not its frames (they hold the value)
    except (TypeError, ValueError, OverflowError) as e:  # a hostile __len__ or __iter__
        return None, GridError(f"{type(value).__name__}: reading it raised {type(e).__name__}")


def try_grid(value: Any) -> Optional[Grid]:
    """The canonical grid, or None when ``value`` is not a valid grid (it then never matches)."""
    try:
        return to_grid(value)
    except (GridError, TypeError, ValueError, OverflowError):
        return None


def shape(grid: Grid) -> Tuple[int, int]:
    return (len(grid), len(grid[0]))


def fingerprint(grid: Grid) -> str:
    """A short, stable id of a grid's content, so records carry identities instead of grids."""
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{len(grid)}x{len(grid[0])}:".encode())
    h.update(bytes(chain.from_iterable(grid)))  # in C: twice a sample, once on the controller
    return h.hexdigest()


def cells_differing(a: Grid, b: Grid) -> Optional[int]:
    """Number of differing cells between two grids of the same shape, None if shapes differ."""
    if shape(a) != shape(b):
        return None
    return sum(x != y for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def first_difference(a: Grid, b: Grid) -> Optional[Tuple[int, int]]:
    for r, (ra, rb) in enumerate(zip(a, b)):
        for c, (x, y) in enumerate(zip(ra, rb)):
            if x != y:
                return (r, c)
    return None


def render(grid: Grid) -> list[str]:
    """One string per row, digits only: compact and exact for failure messages."""
    return ["".join(str(v) for v in row) for row in grid]


def side_by_side(blocks: Sequence[Tuple[str, Sequence[str]]], gap: int = 3,
                 measure: Callable[[str], int] = len) -> list[str]:
    """Lay out titled text blocks next to each other; ``measure`` is a line's visible width
    (lines of coloured cells carry escape codes that take no room)."""
    widths = [max([measure(title)] + [measure(line) for line in lines]) for title, lines in blocks]
    height = max(len(lines) for _, lines in blocks)
    pad: Callable[[str, int], str] = lambda s, w: s + " " * max(0, w - measure(s))  # noqa: E731
    out = ["".join(pad(t, w + gap) for (t, _), w in zip(blocks, widths)).rstrip()]
    for i in range(height):
        parts = [pad(lines[i] if i < len(lines) else "", w + gap) for (_, lines), w in zip(blocks, widths)]
        out.append("".join(parts).rstrip())
    return out


def encode(grid: Grid) -> str:
    """A grid as a short string (``"2x3:012345"``): how a worker sends candidate grids."""
    return f"{len(grid)}x{len(grid[0])}:" + "".join(str(v) for row in grid for v in row)


def decode(text: Any) -> Optional[Grid]:
    """The grid :func:`encode` wrote, or None when ``text`` is not one (a worker is not trusted)."""
    if not isinstance(text, str):
        return None
    head, _, cells = text.partition(":")
    h, _, w = head.partition("x")
    if not (h.isdigit() and w.isdigit()) or not 0 < int(h) <= MAX_SIDE or not 0 < int(w) <= MAX_SIDE:
        return None
    height, width = int(h), int(w)
    if len(cells) != height * width or not cells.isdigit():
        return None
    values = [int(c) for c in cells]
    return tuple(tuple(values[r * width:(r + 1) * width]) for r in range(height))
