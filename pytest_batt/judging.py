"""The verdict on a sample, given by the controller alone.

A worker runs the batt and reports what it returned: each distinct ``(solver, grid
fingerprint)`` with its count and, for test samples, the distinct grids themselves. The
expected test outputs never enter a worker, so neither the batt nor anything it patches
there can decide that a test sample is solved: the controller compares the grids it was sent
with the expected output, and recomputes their fingerprints rather than trusting the ones
that came with them. With ``--batt-keep-partial`` it judges a timed-out sample's kept
candidates too (:func:`judge_kept`; :mod:`pytest_batt.partial` keeps them in the worker).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from . import grids
from .failures import Entry, describe_miss, show
from .grids import Grid
from .records import SampleRecord


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


def judge_kept(rec: SampleRecord, expected: Optional[Grid]) -> SampleRecord:
    """Judge a timed-out sample's kept candidates like any others; the sample stays ``timeout``.

    Its ``matched`` lists the solvers whose kept candidate equals the expected output, its ``o``
    hits count in o_score, a test sample's grids are ranked for pass@2: scored like any others.
    """
    error, message = rec.get("error"), rec.get("message")
    rec["status"] = "ok"
    judged = judge(rec, expected)
    if judged["status"] == "error":  # a malformed record: judging says why
        return judged
    judged["status"], judged["error"], judged["message"] = "timeout", error, message
    judged.pop("show", None)
    if judged["matched"]:
        shown = ", ".join(judged["matched"][:5]) + (f" (+{len(judged['matched']) - 5} more)" if len(judged["matched"]) > 5 else "")
        judged["error"] = f"{error}; kept candidates matched: {shown}"
    return judged
