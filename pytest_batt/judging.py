"""The verdict on a sample, given by the controller alone.

A worker runs the batt and reports what it returned: each distinct ``(solver, grid
fingerprint)`` with its count and, for test samples, the distinct grids themselves. The
expected test outputs never enter a worker, so neither the batt nor anything it patches
there can decide that a test sample is solved: the controller compares the grids it was sent
with the expected output, and recomputes their fingerprints rather than trusting the ones
that came with them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import grids, visible
from .contract import MAX_REASON_CHARS, MAX_REASONS
from .grids import Grid
from .records import SampleRecord

# (solver_id, grid or None, how many candidates had that pair)
Entry = Tuple[str, Optional[Grid], int]


def judge(rec: SampleRecord, expected: Optional[Grid]) -> SampleRecord:
    """Turn a worker's ``"ok"`` record into ``solved``/``unsolved`` with o_score hits; others pass through.

    ``expected`` is None for a test sample whose output is hidden (a Kaggle challenges file
    without solutions): it becomes ``unscored``, with its candidates ranked all the same.
    A test record keeps ``grids``, its valid candidate grids by their (recomputed)
    fingerprint: the controller later keeps only the two attempts it needs and drops the rest.
    """
    if rec.get("status") != "ok":
        return rec
    try:
        return _judge(rec, expected)
    except (TypeError, ValueError, KeyError, AttributeError):
        rec.pop("cands", None)
        rec.pop("grids", None)
        rec.pop("invalid", None)
        rec["status"], rec["o"], rec["matched"] = "error", {}, []
        rec["error"] = "the worker sent a malformed record (was pytest-batt patched in it?)"
        return rec


def _judge(rec: SampleRecord, expected: Optional[Grid]) -> SampleRecord:
    expected_fp = grids.fingerprint(expected) if expected is not None else None
    test = rec["kind"] == "test"
    sent: Dict[str, Any] = rec.pop("grids", {}) or {}
    invalid = rec.pop("invalid", None) or []
    decoded: Dict[str, Tuple[Optional[Grid], Optional[str]]] = {}
    o: Dict[str, int] = {}
    matched: Dict[str, None] = {}
    ranked: List[List[str]] = []
    entries: List[Entry] = []
    for sid, fp, n in rec.pop("cands"):
        sid, n = str(sid), int(n)
        grid: Optional[Grid] = None
        hit = False
        if fp is not None:
            if test:  # judge the grid itself; the fingerprint it came with is not trusted
                if fp not in decoded:
                    g = grids.decode(sent.get(fp))
                    decoded[fp] = (g, grids.fingerprint(g) if g is not None else None)
                grid, real_fp = decoded[fp]
                hit = expected is not None and grid == expected
                if real_fp is not None:
                    ranked.append([sid, real_fp])
            else:
                hit = fp == expected_fp
        o[sid] = o.get(sid, 0) + (n if hit else 0)
        if hit:
            matched[sid] = None
        entries.append((sid, grid, n))
    rec["o"], rec["matched"], rec["expected"] = o, list(matched), expected_fp
    rec["status"] = "solved" if matched else "unsolved"
    if test:
        rec["ranked"] = ranked
        rec["grids"] = {real_fp: grids.encode(g) for g, real_fp in decoded.values() if g is not None and real_fp is not None}
        if expected is None:
            rec["status"], rec["message"] = "unscored", None
        else:
            rec["message"] = None if matched else describe_miss(expected, entries, invalid)
            rec["show"] = None if matched else show(expected, entries)
    elif matched:
        rec["message"] = None
        rec.pop("show", None)
    return rec


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
