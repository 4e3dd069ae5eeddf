"""Why a sample failed, in words: the candidates nearest the expected grid, the text of a miss,
the failure text of a record.

Both sides use it: a worker describes its demo samples' misses (it has their outputs), the
controller its test samples' (it alone has theirs, :mod:`pytest_batt.judging`), and the item's
failure text is :func:`describe` of the record wherever it is shown.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from . import grids, visible
from .contract import MAX_REASON_CHARS, MAX_REASONS
from .grids import Grid
from .records import SampleRecord

# (solver_id, grid or None, how many candidates had that pair)
Entry = Tuple[str, Optional[Grid], int]


def closest(expected: Grid, entries: Sequence[Entry], n: int = 2) -> List[Tuple[str, Grid]]:
    """Up to ``n`` distinct candidate grids nearest ``expected``, each with its first solver.

    Grids of the expected shape come first, fewest differing cells first; then the others in
    batt order (nothing says how near a grid of another shape is).
    """
    firsts: Dict[Grid, Tuple[Tuple[int, int, int], str]] = {}
    for i, (sid, g, _) in enumerate(entries):
        if g is None or g in firsts:
            continue
        cells = grids.cells_differing(g, expected)
        firsts[g] = ((0, cells, i) if cells is not None else (1, 0, i)), sid
    ordered = sorted(firsts.items(), key=lambda kv: kv[1][0])
    return [(sid, g) for g, (_, sid) in ordered[:n]]


def show(expected: Grid, entries: Sequence[Entry]) -> List[List[str]]:
    """What the failure's picture needs, small and JSON-safe: the closest two as ``[solver, encoded grid]``."""
    return [[sid, grids.encode(g)] for sid, g in closest(expected, entries)]


def describe_miss(expected: Grid, entries: Sequence[Entry], invalid: Sequence[Sequence[str]] = ()) -> str:
    """Why no candidate matched: the expected grid beside the closest candidate, in a few lines,
    and why the nearest invalid ones are no grids (``invalid``: contract.no_grid_reasons)."""
    eh, ew = grids.shape(expected)
    total = sum(n for _, _, n in entries)
    valid = [(sid, g, n) for sid, g, n in entries if g is not None]
    distinct = {g for _, g, _ in valid}
    head = (f"no candidate matched the expected {eh}x{ew} output ({total} candidates, "
            f"{sum(n for _, _, n in valid)} valid grids, {len(distinct)} distinct)")
    # One line each, bounded, the batt's text shown as data (a worker's list is not trusted either).
    nogrid = [f"not a grid: {visible.line(str(r[0])[:MAX_REASON_CHARS])}: {visible.line(str(r[1])[:MAX_REASON_CHARS])}"
              for r in list(invalid)[:MAX_REASONS] if isinstance(r, (list, tuple)) and len(r) == 2]
    if not valid:
        return "\n".join([head] + nogrid)
    same = [(grids.cells_differing(g, expected) or 0, sid, g) for sid, g, _ in valid if grids.shape(g) == (eh, ew)]
    if same:
        cells, _, best = min(same, key=lambda t: t[0])
        sids = list(dict.fromkeys(sid for c, sid, g in same if g == best))
        r, c = grids.first_difference(best, expected) or (0, 0)
        why = f"{cells} of {eh * ew} cells differ, first at row {r} col {c}: {best[r][c]} instead of {expected[r][c]}"
    else:
        sids, best = [valid[0][0]], valid[0][1]
        shapes = sorted({grids.shape(g) for g in distinct})
        why = f"no candidate has shape {eh}x{ew}; shapes given: " + ", ".join(f"{h}x{w}" for h, w in shapes[:6])
    more = f" (+{len(sids) - 1} more)" if len(sids) > 1 else ""
    # The grids themselves are drawn by the controller (pictures.py), for its terminal.
    return "\n".join([head, f"closest: {sids[0]}{more}: {why}"] + nogrid)


def describe(rec: SampleRecord) -> str:
    """The failure text of a judged record: why it is not solved, and any error beside."""
    if rec["status"] == "unscored":
        error = f"\n{rec['error']}" if rec.get("error") else ""
        return "unscored: the expected output is hidden; its candidates go to the submission" + error
    if rec["status"] == "unsolved":
        text = rec.get("message") or "no candidate matched"
        return text + (f"\n{rec['error']}" if rec.get("error") else "")
    return f"{rec['status']}: {rec['error']}"
