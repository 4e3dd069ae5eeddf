"""Splitting the selected tasks into N shards (``--batt-shard K/N``), for a CI job matrix.

Every selected task lands in exactly one shard, whole (a batt's per-task memo is built once
per task). The split is deterministic (the same selection and weights give the same shards on
every machine) and balanced by greedy longest-processing-time: tasks in decreasing weight,
each to the shard with the least weight so far (ties: the lower task id first, the lower shard
first). A task's weight is its seconds in a previous results file (``--batt-durations``) when
that file has it, else an estimate from its sample count and grid sizes, scaled to seconds by
the tasks the file does have. Pure functions; no pytest.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .nodeids import sample_nodeid

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_spec(value: str) -> Tuple[int, int]:
    """``"K/N"`` with 1 <= K <= N; argparse type for ``--batt-shard`` (a bad value is a usage error)."""
    m = _SPEC.match(str(value))
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r} is not K/N (for example 1/4: the first of four shards)")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{value!r}: K must be between 1 and N, and N at least 1")
    return k, n


def size_estimate(raw_task: Any) -> float:
    """A task's cost without a measurement: per sample, 1 plus its input cells / 100.

    On the reference batt's ARC-AGI-1 runs this correlates with the measured seconds better
    than the sample count alone (0.48 vs 0.10); see docs/ci.md.
    """
    if not isinstance(raw_task, dict):
        return 1.0
    total = 0.0
    for key in ("train", "test"):
        pairs = raw_task.get(key)
        for pair in pairs if isinstance(pairs, list) else []:
            grid = pair.get("input") if isinstance(pair, dict) else None
            cells = len(grid) * len(grid[0]) if isinstance(grid, list) and grid and isinstance(grid[0], list) else 0
            total += 1.0 + cells / 100.0
    return max(total, 1.0)


def durations_from(results: Mapping[str, Any]) -> Dict[str, float]:
    """Each task's seconds in a results file (a run, a shard, a merged file or a baseline)."""
    out = {}
    for tid, task in (results.get("tasks") or {}).items():
        seconds = task.get("seconds") if isinstance(task, Mapping) else None
        if isinstance(seconds, (int, float)) and seconds >= 0:
            out[tid] = float(seconds)
    return out


def sample_durations_from(results: Mapping[str, Any]) -> Dict[str, float]:
    """Each sample's seconds in a results file, by node id: what the scheduler plans with."""
    out = {}
    for tid, task in (results.get("tasks") or {}).items():
        for s in (task.get("samples") or []) if isinstance(task, Mapping) else []:
            seconds = s.get("seconds") if isinstance(s, dict) else None
            if isinstance(seconds, (int, float)) and seconds >= 0 and s.get("kind") in ("demo", "test") \
                    and isinstance(s.get("index"), int):
                out[sample_nodeid(tid, s["kind"], s["index"])] = float(seconds)
    return out


def weights(task_ids: Sequence[str], estimates: Mapping[str, float], durations: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
    """Seconds from ``durations`` where known; elsewhere the estimate, scaled to the known tasks' seconds."""
    if not durations:
        return {tid: float(estimates[tid]) for tid in task_ids}
    known = [tid for tid in task_ids if tid in durations]
    est = sum(estimates[tid] for tid in known)
    scale = sum(durations[tid] for tid in known) / est if known and est > 0 else 1.0
    return {tid: float(durations[tid]) if tid in durations else estimates[tid] * scale for tid in task_ids}


def split(weights: Mapping[str, float], n: int) -> List[List[str]]:
    """N shards of task ids, each in the order the tasks were given (greedy LPT)."""
    order = {tid: i for i, tid in enumerate(weights)}
    loads = [0.0] * n
    shards: List[List[str]] = [[] for _ in range(n)]
    for tid in sorted(weights, key=lambda t: (-weights[t], t)):
        best = min(range(n), key=lambda i: (loads[i], i))
        shards[best].append(tid)
        loads[best] += weights[tid]
    return [sorted(s, key=order.__getitem__) for s in shards]


def balance(weights: Mapping[str, float], shards: Sequence[Sequence[str]]) -> float:
    """Longest shard / mean shard (1.0 is perfect): how long the matrix waits for its slowest job."""
    loads = [sum(weights[t] for t in s) for s in shards]
    mean = sum(loads) / len(loads) if loads else 0.0
    return max(loads) / mean if mean > 0 else 1.0


@dataclass(frozen=True)
class Shard:
    """This run's part of the selection, and what the header and the results file say about it."""

    index: int  # 1-based, as on the command line
    count: int
    task_ids: List[str]  # this shard's tasks, in selection order
    selection: List[str]  # every selected task, all shards together, in selection order
    share: float  # this shard's expected fraction of the total weight
    by: str  # "seconds from PATH" / "sample count and grid size"

    def header_line(self) -> str:
        return (f"batt: shard {self.index}/{self.count}: {len(self.task_ids)} of {len(self.selection)} task(s), "
                f"expected share {self.share:.1%} (split by {self.by})")

    def to_json(self) -> Dict[str, Any]:
        return {"index": self.index, "count": self.count, "selection": list(self.selection), "by": self.by}


def plan(selection: Sequence[str], spec: Tuple[int, int], estimates: Mapping[str, float],
         durations: Optional[Mapping[str, float]] = None, durations_name: str = "") -> Shard:
    """Shard ``spec = (K, N)`` of ``selection``; ValueError when there are fewer tasks than shards."""
    k, n = spec
    if n > len(selection):
        raise ValueError(f"--batt-shard {k}/{n}: only {len(selection)} task(s) selected, so at most {len(selection)} shard(s)")
    w = weights(selection, estimates, durations)
    shards = split(w, n)
    total = sum(w.values())
    mine = shards[k - 1]
    used = durations and any(t in durations for t in selection)
    by = f"seconds from {durations_name}" if used else "sample count and grid size"
    return Shard(k, n, mine, list(selection), sum(w[t] for t in mine) / total if total > 0 else 1.0 / n, by)
