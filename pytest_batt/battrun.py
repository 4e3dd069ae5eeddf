"""The controller's side of a run: which samples were planned and selected, their records, the results.

Fed with plain values by the plugin's hooks; knows nothing about pytest. Records arrive in
any order from any worker; scores are folded in sample order, so ``-n 0`` and ``-n 2``
give identical results.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple, cast

from . import grids, judging, resume, scoring, spill
from .nodeids import sample_nodeid, task_nodeid
from .grids import Grid
from .records import SAMPLE_KEYS, SampleRecord, new_record, sample_entry
from .tasks import BattDataError, Sample, Task, TaskSet


def attempts_with_solvers(ranked: List[List[str]], demo_score: Dict[str, int]) -> List[Tuple[str, str]]:
    """``scoring.top_two``'s fingerprints, each with the solver that put it there (first in rank order)."""
    picked = scoring.top_two(ranked, demo_score)
    order = sorted(ranked, key=lambda r: -demo_score.get(r[0], 0))
    return [(next(sid for sid, f in order if f == fp), fp) for fp in picked]


# What a finished task's records keep (the report, the HTML report and the submission read them);
# their scores and ranking data are in the task's stored entry by then.
SLIM_KEYS = ("task",) + SAMPLE_KEYS + ("attempts", "show", "profile", "kept")  # what the reports read after folding


def slim(record: Mapping[str, Any]) -> SampleRecord:
    """A record without what only folding its task needed (``o``, ``d``, ``ranked``, ...)."""
    return cast(SampleRecord, {k: record[k] for k in SLIM_KEYS if k in record})


class BattRun:
    """Planned samples, what ran, and the folding of records into per-task scores.

    A task is folded as soon as every selected sample of it has its record: its results-file
    entry goes to a spill.TaskStore (a file in ``spill_dir``; the system's temporary directory
    when None) and its records keep only what the reports read (``slim``), so memory does not
    grow with the run's length or the battery's width. What is still running at the end (an
    interrupted run) is folded then, as before.
    """

    def __init__(self, taskset: TaskSet, task_ids: Iterable[str], spill_dir: Optional[str] = None) -> None:
        self.taskset = taskset
        self.task_ids = list(task_ids)
        self.plan: Dict[str, Tuple[str, str, int]] = {}
        self._demo_nodes: Dict[str, List[str]] = {}
        self._test_nodes: Dict[str, List[str]] = {}
        # a task's node id -> its raw id: node ids escape task ids (nodeids.py), so never cut one apart
        self.task_nodes: Dict[str, str] = {task_nodeid(tid): tid for tid in self.task_ids}
        for tid in self.task_ids:
            for kind, index in taskset.sample_keys(tid):
                nodeid = sample_nodeid(tid, kind, index)
                self.plan[nodeid] = (tid, kind, index)
                (self._demo_nodes if kind == "demo" else self._test_nodes).setdefault(tid, []).append(nodeid)
        self.selected: Optional[Set[str]] = None
        self.records: Dict[str, SampleRecord] = {}
        self._parsed: Dict[str, Task] = {}
        self._last_finished: Optional[Tuple[str, Task]] = None  # one finished task: its samples are drawn one by one
        self.whole: Dict[str, Mapping[str, Any]] = {}  # task entries taken as they stand from a resumed file
        # A resumed file's wall times, so that its samples' batt time is set against the time it took
        self.earlier_s: Dict[str, float] = {"wall_s": 0.0, "process_s": 0.0}
        self.task_errors: Dict[str, str] = {}
        self.started = time.perf_counter()
        self.finished: Optional[float] = None
        self.spill_dir = spill_dir
        self._store: Optional[spill.TaskStore] = None  # made at the first finished task
        # The entries of tasks none of whose samples has a record yet: the same until one has (an -n 0 run
        # writes its results before each sample: most tasks are untouched then)
        self._blank: Dict[str, Dict[str, Any]] = {}

    @property
    def store(self) -> spill.TaskStore:
        """The entries of the tasks folded so far (their samples all recorded)."""
        if self._store is None:
            self._store = spill.TaskStore(self.spill_dir)
        return self._store

    def task_sha256(self, task_id: str) -> str:
        """The task's content hash, made once: the results file, the last run's seconds and the plan use it."""
        return self.taskset.task_hash(task_id)  # the task set keeps it

    def _stored(self, task_id: str) -> bool:
        return self._store is not None and task_id in self._store

    def collected(self, nodeids: Iterable[str]) -> None:
        """Samples that survived -k, --deselect and --lf: only these are expected to run."""
        chosen = {n for n in nodeids if n in self.plan}
        self.selected = chosen if self.selected is None else self.selected | chosen
        self._blank.clear()

    @classmethod
    def from_results(cls, results: Mapping[str, Any], taskset: TaskSet) -> "BattRun":
        """A finished run as a results file keeps it, with the task data it ran on: what a report
        or a submission needs, without running anything (e.g. after merging shards)."""
        run = cls(taskset, list(results["tasks"]))
        for tid, entry in results["tasks"].items():
            for sample in entry.get("samples", []):
                run.records[sample_nodeid(tid, sample["kind"], sample["index"])] = resume.record_of(tid, sample)
        run.whole.update(results["tasks"])
        run.selected = set(run.records)
        return run

    def task_failed(self, task_id: str, message: str) -> None:
        """A task that could not be collected costs that task alone: its samples become errors."""
        self.task_errors[task_id] = message
        for nodeid, (tid, kind, index) in self.plan.items():
            if tid == task_id and nodeid not in self.records:
                self.records[nodeid] = new_record(tid, kind, index, status="error", error=message)
        self._fold_if_finished(task_id)

    def add(self, nodeid: str, record: SampleRecord) -> Optional[SampleRecord]:
        """Judge a worker's record against the expected output (which only this side has) and keep it."""
        if nodeid not in self.plan:
            return None
        tid, kind, index = self.plan[nodeid]
        if record.get("status") == "ok":
            expected = self._expected(tid, kind, index)
            if expected is None and not (kind == "test" and self.taskset.hidden and self.task(tid) is not None):
                record = new_record(tid, kind, index, status="error", error=self._data_error(tid, kind, index),
                                    seconds=record.get("seconds", 0.0))
            else:
                record = judging.judge(record, expected)
        elif record.get("status") == "timeout" and "cands" in record:  # --batt-keep-partial: judged, still a timeout
            record = judging.judge_kept(record, self._expected(tid, kind, index))
        if self._stored(tid):
            # A sample reported again after its task was folded (a rerun plugin): judged for its
            # report, but the task's entry stays the one folded from the records it had then.
            return record
        self.records[nodeid] = record
        if kind == "demo" or "grids" in record:  # the results file keeps each test sample's two attempts
            self._keep_two(tid)
        self._fold_if_finished(tid)
        return record

    def _nodes(self, task_id: str) -> List[str]:
        return self._demo_nodes.get(task_id, []) + self._test_nodes.get(task_id, [])

    def _fold_if_finished(self, task_id: str) -> None:
        """Once every selected sample of the task has its record, store its entry and slim its records."""
        if self._stored(task_id) or task_id in self.whole:
            return
        expected = [n for n in self._nodes(task_id) if self.selected is None or n in self.selected or n in self.records]
        if (expected or task_id in self.task_errors) and all(n in self.records for n in expected):
            self._fold(task_id)

    def _fold(self, task_id: str) -> None:
        entry = self._entry(task_id)
        if entry is None:
            return
        # What attempts() would do at the end of the run (the file's entry is made before it)
        self._keep_two(task_id, self._demo_score(task_id, partial=True))
        self.store.put(task_id, entry)
        for nodeid in self._nodes(task_id):
            if nodeid in self.records:
                self.records[nodeid] = slim(self.records[nodeid])
        self._parsed.pop(task_id, None)

    def _demo_score(self, task_id: str, partial: bool = False) -> Optional[Dict[str, int]]:
        """The task's demo scores once every selected demo sample has its record, else None
        (``partial``: from the demo records there are)."""
        score: Dict[str, int] = {}
        for nodeid in self._demo_nodes.get(task_id, []):
            rec = self.records.get(nodeid)
            if rec is None:
                if not partial and (self.selected is None or nodeid in self.selected):
                    return None
                continue
            for sid, hits in rec.get("o", {}).items():
                score[sid] = score.get(sid, 0) + hits
        return score

    def _keep_two(self, task_id: str, demo_score: Optional[Dict[str, int]] = None) -> None:
        """Drop every test grid but the two attempts, as soon as the demo scores that rank them are known.

        Until then a test record holds all its distinct valid grids; after, at most two per sample.
        """
        demo_score = demo_score if demo_score is not None else self._demo_score(task_id)
        if demo_score is None:
            return
        for nodeid in self._test_nodes.get(task_id, []):
            rec = self.records.get(nodeid)
            if rec is not None and "grids" in rec and "attempts" not in rec:
                kept = rec.pop("grids")
                rec["attempts"] = [[sid, kept[fp]] for sid, fp in attempts_with_solvers(rec.get("ranked", []), demo_score) if fp in kept]

    def attempts(self, task_id: str) -> List[List[Grid]]:
        """Per test input of the task, in order: its attempts (at most two distinct grids, best first)."""
        if not self._stored(task_id):  # a stored task's were kept when it was folded
            self._keep_two(task_id, self._demo_score(task_id, partial=True))
        out: List[List[Grid]] = []
        for nodeid in self._test_nodes.get(task_id, []):
            kept = self.records[nodeid].get("attempts", []) if nodeid in self.records else []
            out.append([g for g in (grids.decode(enc) for _, enc in kept) if g is not None])
        return out

    def sample_grids(self, nodeid: str) -> Tuple[Optional[Grid], Optional[Grid]]:
        """A planned sample's input and expected output (None when unknown or the task is invalid)."""
        sample = self._sample(*self.plan[nodeid])
        return (sample.input, sample.output) if sample is not None else (None, None)

    def task(self, task_id: str) -> Optional[Task]:
        """The parsed task (test outputs included, when known), or None when its data is invalid."""
        task = self._parsed.get(task_id)
        if task is None and self._last_finished is not None and self._last_finished[0] == task_id:
            task = self._last_finished[1]
        if task is None:
            try:
                task = self.taskset.task(task_id)
            except BattDataError:
                return None
            if not self._stored(task_id) and task_id not in self.whole:
                self._parsed[task_id] = task
            else:  # a finished task's grids are needed again only while it is drawn: one kept, memory stays flat
                self._last_finished = (task_id, task)
        return task

    def _sample(self, task_id: str, kind: str, index: int) -> Optional[Sample]:
        task = self.task(task_id)
        if task is None:
            return None
        samples = task.demos if kind == "demo" else task.tests
        return samples[index] if index < len(samples) else None

    def _data_error(self, task_id: str, kind: str, index: int) -> str:
        """Why a sample that ran has nothing to be judged by: the loader's words for its task."""
        try:
            self.taskset.task(task_id)
        except BattDataError as e:
            return str(e)
        return f"the task's data has no {kind}[{index}] output to judge it by"

    def _expected(self, task_id: str, kind: str, index: int) -> Optional[Grid]:
        sample = self._sample(task_id, kind, index)
        return sample.output if sample is not None else None

    def add_failure(self, nodeid: str, status: str, message: str, seconds: float = 0.0) -> None:
        """A sample whose item never produced a record (setup error, crash, internal error)."""
        if nodeid in self.plan and nodeid not in self.records:
            tid, kind, index = self.plan[nodeid]
            self.records[nodeid] = new_record(tid, kind, index, status=status, error=message, seconds=seconds)
            self._fold_if_finished(tid)

    def finish(self) -> None:
        """The run is over: the tasks not folded yet (interrupted, deselected samples) are folded now."""
        self.finished = time.perf_counter()
        for tid in self.task_ids:
            if not self._stored(tid) and tid not in self.whole:
                self._fold(tid)

    def take_resumed(self, records: Mapping[str, SampleRecord], whole: Mapping[str, Mapping[str, Any]],
                     earlier_s: Dict[str, float]) -> None:
        """What a resumed results file already holds: samples' records, whole tasks, and the time they took."""
        self.records.update(records)
        self.whole.update(whole)
        self.earlier_s = earlier_s

    def selected_nodeids(self) -> List[str]:
        """The planned samples this run selected (all, until collection says otherwise), in plan order."""
        if self.selected is None:
            return list(self.plan)
        return [n for n in self.plan if n in self.selected or n in self.records]

    def complete(self) -> bool:
        return all(n in self.records for n in self.selected_nodeids())

    def task_results(self) -> Dict[str, Any]:
        """Per task, in the order given: samples, Phase 3 scores, oracle and pass@2, seconds.

        A folded task's entry is a spill.TaskView (read like the dict; its scores come from disk)."""
        out: Dict[str, Any] = {}
        for tid in self.task_ids:
            if tid in self.whole:
                out[tid] = self.whole[tid]
            elif self._stored(tid):
                out[tid] = self.store[tid]
            else:
                entry = self._entry(tid)
                if entry is not None:
                    out[tid] = entry
        return out

    def _entry(self, tid: str) -> Optional[Dict[str, Any]]:
        """The task's entry from its records so far (a sample without one is "missing"), or None
        when none of its samples is selected and it has no error."""
        nodes = self._nodes(tid)
        blank = tid not in self.task_errors and not any(n in self.records for n in nodes)
        if blank and tid in self._blank:
            return self._blank[tid]
        recs: List[SampleRecord] = []
        for nodeid in nodes:
            if self.selected is None or nodeid in self.selected or nodeid in self.records:
                _, kind, index = self.plan[nodeid]
                recs.append(self.records.get(nodeid) or new_record(tid, kind, index, status="missing",
                                                                   error="never ran (interrupted, deselected by a crash, or -x)"))
        if not recs and tid not in self.task_errors:
            return None
        recs.sort(key=lambda r: (r["kind"] != "demo", r["index"]))
        scores = scoring.score_task(recs)
        tests = [r for r in recs if r["kind"] == "test"]
        unfinished = any(r["status"] == "missing" for r in recs)
        entry: Dict[str, Any] = {
            "samples": [sample_entry(r, resume.fold_data(r) if unfinished else None) for r in recs],
            "o_score": scores["o_score"],
            "d_score": scores["d_score"],
            "s_score": scores["s_score"],
            "solved": scoring.solved(tests, scores["demo_score"], len(self._test_nodes.get(tid, []))),
            "seconds": round(sum(r.get("seconds") or 0.0 for r in recs), 6),
            "sha256": self.task_sha256(tid),
        }
        if tid in self.task_errors:
            entry["error"] = self.task_errors[tid]
        if blank:
            self._blank[tid] = entry  # readers never change an entry (results are written, compared, shown)
        return entry

    def results(self, head: Dict[str, Any], interrupted: bool, process_s: Optional[float] = None) -> Dict[str, Any]:
        """``process_s``: the whole run's wall time (start-up included), beside the items' span."""
        tasks = self.task_results()
        end = self.finished if self.finished is not None else time.perf_counter()
        item_s = sum(t["seconds"] for t in tasks.values())
        wall_s = end - self.started + self.earlier_s["wall_s"]
        session = {"wall_s": round(wall_s, 6), "item_s": round(item_s, 6), "complete": self.complete() and not interrupted}
        if process_s is not None:
            session["process_s"] = round(process_s + self.earlier_s["process_s"], 6)
        return {**head, "session": session, "tasks": tasks}
