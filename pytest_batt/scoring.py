"""Phase 3 scores, the oracle and pass@2, as pure functions over sample records.

Phase 3 folds every differ row into ``d_score`` once per candidate. A worker does that fold
for its own sample (:class:`SampleFold`) and ships only per-solver counts, so records stay
small; the controller then combines the samples of a task in sample order
(:func:`score_task`). The only state Phase 3 carries from one sample to the next is each
differ's remembered ``last_t``; entries created before a sample sees a differ's own row
are marked "inherit" and resolved by the controller, which makes the split exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# A normalised differ row: (last_t, s_solver_id, d_name, size or None when value does not count).
Row = Tuple[Any, str, str, Optional[int]]

OWN = "None"  # s_solver_id of a differ's own row, a string in the batt contract


@dataclass
class RowSummary:
    """What one diff call's rows contribute to any candidate's pass, precomputed once."""

    order: List[str] = field(default_factory=list)  # differ names in order of first sight
    first_own: Dict[str, Any] = field(default_factory=dict)  # d -> last_t when its first row is its own
    last_own: Dict[str, Any] = field(default_factory=dict)  # d -> last_t of its last own row
    own: Dict[str, List[int]] = field(default_factory=dict)  # d -> [iz, zo] from own rows
    by_solver: Dict[str, Dict[str, List[int]]] = field(default_factory=dict)  # sid -> d -> [iz, zo]


def summarise_rows(rows: Iterable[Row]) -> RowSummary:
    summary = RowSummary()
    order, first_own, last_own = summary.order, summary.first_own, summary.last_own
    own_counts, by_solver = summary.own, summary.by_solver
    seen = set()
    for last_t, s_sid, d_name, size in rows:
        own = s_sid == OWN
        if d_name not in seen:
            seen.add(d_name)
            order.append(d_name)
            if own:
                first_own[d_name] = last_t
        if own:
            last_own[d_name] = last_t
            if size is not None:
                counts = own_counts.get(d_name)
                if counts is None:
                    counts = own_counts[d_name] = [0, 0]
                if size > 0:
                    counts[0] += 1
                elif size == 0:
                    counts[1] += 1
        elif size is not None:
            per = by_solver.get(s_sid)
            if per is None:
                per = by_solver[s_sid] = {}
            counts = per.get(d_name)
            if counts is None:
                counts = per[d_name] = [0, 0]
            if size == 0:
                counts[0] += 1
            elif size > 0:
                counts[1] += 1
    return summary


class _Inherit:
    def __repr__(self) -> str:
        return "INHERIT"


INHERIT = _Inherit()


class SampleFold:
    """Phase 3's ``d_score.update`` loop over one sample's candidates, state local to the sample."""

    def __init__(self) -> None:
        self.memory: Dict[str, Any] = {}
        self.entries: Dict[str, Dict[str, List[Any]]] = {}

    def add_pass(self, solver_id: str, summary: Optional[RowSummary]) -> None:
        """Fold one candidate's diff rows (None when its diff call failed: contributes nothing)."""
        if summary is None or not summary.order:
            return
        mine = self.entries.setdefault(solver_id, {})
        self_counts = summary.by_solver.get(solver_id, {})
        for d in summary.order:
            entry = mine.get(d)
            if entry is None:
                created = summary.first_own[d] if d in summary.first_own else self.memory.get(d, INHERIT)
                entry = mine[d] = [0, 0, created]
            for counts in (summary.own.get(d), self_counts.get(d)):
                if counts:
                    entry[0] += counts[0]
                    entry[1] += counts[1]
        self.memory.update(summary.last_own)

    def to_record(self) -> Tuple[Dict[str, Dict[str, List[Any]]], Dict[str, Any]]:
        """The record's ``d`` and ``differ_last_t``: ``created`` is ``[last_t]`` when known here, ``None`` to inherit."""
        d = {
            sid: {name: [iz, zo, None if created is INHERIT else [created]] for name, (iz, zo, created) in per.items()}
            for sid, per in self.entries.items()
        }
        return d, dict(self.memory)


def score_task(records: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """o_score, d_score and s_score of one task from its records, which must be in sample order."""
    o_score: Dict[str, int] = {}
    d_score: Dict[str, Dict[str, Dict[str, Any]]] = {}
    memory: Dict[str, Any] = {}
    demo_done = False
    s_score: Dict[str, Dict[str, Dict[str, int]]] = {}
    demo_score: Dict[str, int] = {}
    for rec in records:
        if rec["kind"] == "test" and not demo_done:
            s_score = _s_score(d_score)
            demo_score = dict(o_score)
            demo_done = True
        for sid, hits in rec.get("o", {}).items():
            o_score[sid] = o_score.get(sid, 0) + hits
        for sid, per in rec.get("d", {}).items():
            mine = d_score.setdefault(sid, {})
            for name, (iz, zo, created) in per.items():
                entry = mine.get(name)
                if entry is None:
                    entry = mine[name] = {"last_t": created[0] if created is not None else memory.get(name), "iz": 0, "zo": 0}
                entry["iz"] += iz
                entry["zo"] += zo
        memory.update(rec.get("differ_last_t", {}))
    if not demo_done:
        s_score = _s_score(d_score)
        demo_score = dict(o_score)
    return {"o_score": o_score, "d_score": d_score, "s_score": s_score, "demo_score": demo_score}


def _s_score(d_score: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Dict[str, Dict[str, Dict[str, int]]]:
    """Phase 3 snapshots d_score into s_score after the demo samples, before any test sample."""
    s_score: Dict[str, Dict[str, Dict[str, int]]] = {}
    for sid, per in d_score.items():
        for name, entry in per.items():
            slot = s_score.setdefault(name, {"iz": {}, "zo": {}})
            slot["iz"][sid] = entry["iz"]
            slot["zo"][sid] = entry["zo"]
    return s_score


def top_two(ranked: Sequence[Sequence[str]], demo_score: Mapping[str, int]) -> List[str]:
    """The two distinct grids a submission would send.

    ``ranked`` is the sample's valid candidates as ``(solver_id, fingerprint)`` in batt order;
    they are sorted by their solver's demo score, stably, and the first two distinct grids win.
    """
    order = sorted(range(len(ranked)), key=lambda i: -demo_score.get(ranked[i][0], 0))
    picked: List[str] = []
    for i in order:
        fp = ranked[i][1]
        if fp not in picked:
            picked.append(fp)
            if len(picked) == 2:
                break
    return picked


def solved(test_records: Sequence[Mapping[str, Any]], demo_score: Mapping[str, int], expected_tests: int) -> Dict[str, bool]:
    """ARC's count: oracle (any candidate right) and pass@2, both over every test sample."""
    complete = len(test_records) == expected_tests and expected_tests > 0
    # A timed-out sample's kept candidates (--batt-keep-partial) count like any others; without it a
    # timeout has matched nothing.
    oracle = complete and all(r["status"] == "solved" or (r["status"] == "timeout" and r.get("matched")) for r in test_records)
    at_2 = complete and all(
        r.get("expected") is not None and r["expected"] in top_two(r.get("ranked", []), demo_score) for r in test_records
    )
    return {"oracle": bool(oracle), "at_2": bool(at_2)}
