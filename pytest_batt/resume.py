"""Resuming a run from the results file it left: what to take from the file, what to run again.

Scores are per task, folded in sample order. A task the file records whole is taken as it
stands. A task it records in part is folded again from the per-sample records the file keeps
for such tasks (``fold``, written only for incomplete tasks); one without them runs again in
full. Nothing here knows pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple, cast

from . import grids
from .nodeids import sample_nodeid
from .records import SAMPLE_KEYS, SampleRecord, new_record

# A record's keys -> their names in a sample's ``fold``. The file keeps schema 1's "last_t" for
# what the record calls ``differ_last_t`` (each differ's last own step), so older files resume.
# A test sample's "grids" (all its distinct valid grids) wait there for the demo scores that pick
# its two attempts.
FOLD_KEYS = {"o": "o", "d": "d", "differ_last_t": "last_t", "ranked": "ranked", "expected": "expected", "grids": "grids"}
RETRYABLE = ("crash", "timeout")


class ResumeError(ValueError):
    """The file cannot be resumed from; the message names the file and the difference."""


def check(previous: Mapping[str, Any], path: str, batt_sha256: str, timeout_s: float,
          task_hashes: Mapping[str, str]) -> None:
    """Refuse a file of another batt, another timeout or other task content (per task)."""
    if previous["batt"].get("sha256") != batt_sha256:
        raise ResumeError(f"--batt-resume {path}: written by another batt (module hash "
                          f"{str(previous['batt'].get('sha256'))[:12]}, this one {batt_sha256[:12]})")
    if previous["config"].get("timeout_s") != timeout_s:
        raise ResumeError(f"--batt-resume {path}: run with --batt-timeout {previous['config'].get('timeout_s')}, "
                          f"this run {timeout_s:g}")
    for tid, entry in previous["tasks"].items():
        if tid in task_hashes and entry.get("sha256") not in (None, task_hashes[tid]):
            raise ResumeError(f"--batt-resume {path}: task {tid} has other content than in that file")


@dataclass
class Taken:
    """What a resumed run takes from the file instead of running it."""

    whole: Dict[str, Mapping[str, Any]] = field(default_factory=dict)  # task id -> its entry, as it stands
    # node id -> sample record: with fold data (a partial task, folded again), or as the file shows
    # it (a whole task: for the report and the submission, which need its attempts)
    records: Dict[str, SampleRecord] = field(default_factory=dict)
    skip: Set[str] = field(default_factory=set)  # node ids not to run
    rerun_whole: List[str] = field(default_factory=list)  # partial tasks without fold data: run again

    @property
    def samples(self) -> int:
        return len(self.skip)


def take(previous: Mapping[str, Any], plan: Mapping[str, Tuple[str, str, int]], retry: bool) -> Taken:
    """Decide, per task of ``plan`` (node id -> (task, kind, index)), what the file gives."""
    by_task: Dict[str, List[str]] = {}
    for n, (tid, _, _) in plan.items():
        by_task.setdefault(tid, []).append(n)
    taken = Taken()
    for tid, nodeids in by_task.items():
        entry = previous["tasks"].get(tid)
        if not isinstance(entry, Mapping) or entry.get("error"):
            continue
        usable: Dict[str, Dict[str, Any]] = {}
        for s in entry.get("samples", []):
            if s.get("status") in (None, "missing") or (retry and s.get("status") in RETRYABLE):
                continue
            usable[sample_nodeid(tid, s["kind"], s["index"])] = s
        if not usable:
            continue
        if set(nodeids) <= set(usable):
            taken.whole[tid] = entry  # as it stands (a spill.TaskView of a loaded file: its scores stay on disk)
            taken.skip.update(nodeids)
            taken.records.update((n, record_of(tid, usable[n])) for n in nodeids)
        elif all("fold" in s for s in usable.values()):
            for n, s in usable.items():
                taken.records[n] = record_of(tid, s)
                taken.skip.add(n)
        else:
            taken.rerun_whole.append(tid)
    return taken


def earlier_seconds(previous: Mapping[str, Any]) -> Dict[str, float]:
    """The file's wall times: a resumed run adds its own, so the file reads as one run's."""
    session = previous.get("session") or {}
    return {key: float(session.get(key) or 0.0) for key in ("wall_s", "process_s")}


def record_of(task_id: str, sample: Mapping[str, Any]) -> SampleRecord:
    """A results file's sample (with its ``fold`` data, if any) as the controller's record."""
    rec = new_record(task_id, sample["kind"], sample["index"])
    data = cast(Dict[str, Any], rec)
    data.update((k, v) for k, v in sample.items() if k in SAMPLE_KEYS)
    if isinstance(sample.get("kept"), int):  # --batt-keep-partial's count, written again as it was
        data["kept"] = sample["kept"]
    if isinstance(sample.get("attempts"), list):  # the file's grids, as records carry them
        data["attempts"] = [[a[0], grids.encode(g)] for a in sample["attempts"]
                            if isinstance(a, list) and len(a) == 2 and (g := grids.try_grid(a[1])) is not None]
    fold = sample.get("fold") or {}
    data.update((key, fold[name]) for key, name in FOLD_KEYS.items() if name in fold)
    if data.get("message") is None and "message" in fold:  # a file of before the message was the sample's own
        data["message"] = fold["message"]
    return rec


def fold_data(record: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """What a sample record must keep in the file so a resumed run can fold it again."""
    if record.get("status") == "missing":
        return None
    return {name: record[key] for key, name in FOLD_KEYS.items() if key in record}


def summary(taken: Taken, to_run: int, path: str) -> str:
    line = f"batt: resuming from {path}: {taken.samples} sample(s) taken from the file, {to_run} to run now"
    if taken.rerun_whole:
        line += f" ({len(taken.rerun_whole)} partial task(s) without per-sample data run again whole)"
    return line


def progress(done: int, total: int, elapsed_s: float) -> str:
    """One line for long runs: samples done and left, and the time left at the rate so far."""
    left = total - done
    if done == 0:
        return f"batt: 0/{total} samples done, {left} left"
    eta = elapsed_s / done * left
    return f"batt: {done}/{total} samples done, {left} left, about {_duration(eta)} left at the rate so far"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
