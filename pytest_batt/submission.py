"""ARC Prize's ``submission.json``: building it from a run, and scoring one against solutions.

The format (Kaggle's ARC Prize competitions)::

    {task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}   # one entry per test input, in order

The attempts are the first two distinct candidate grids when candidates are sorted (stably)
by their solver's demo score: the rule pass@2 counts by (``scoring.top_two``), so a task
that is pass@2-solved scores 1. Where there is no candidate, :data:`FALLBACK` stands in.

The score is ARC Prize's, as arc-agi-benchmarking computes it: a test input counts when
either attempt equals its output; a task scores the fraction of its test inputs that count;
the score is the mean over tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence

from .grids import Grid, GridError, to_grid

FALLBACK: List[List[int]] = [[0]]
Submission = Dict[str, List[Dict[str, List[List[int]]]]]


class SubmissionError(ValueError):
    """A submission or solutions file that cannot be scored; the message says where and why."""


def _plain(grid: Grid) -> List[List[int]]:
    return [list(row) for row in grid]


def build(task_ids: Iterable[str], attempts_of: Callable[[str], Sequence[Sequence[Grid]]]) -> Submission:
    """``attempts_of(task_id)``: per test input, its attempts (best first; may be empty)."""
    out: Submission = {}
    for tid in task_ids:
        entries = []
        for attempts in attempts_of(tid):
            grids = [_plain(g) for g in attempts[:2]]
            grids += [FALLBACK] * (2 - len(grids))
            entries.append({"attempt_1": grids[0], "attempt_2": grids[1]})
        out[tid] = entries
    return out


@dataclass
class FromResults:
    """A submission made from a results file, and what the file lacked for it."""

    submission: Submission
    no_candidate: int = 0  # test inputs whose sample ran and gave no valid grid: FALLBACK
    not_run: List[str] = field(default_factory=list)  # "task::test[i]" the file has no result for: FALLBACK


def from_results(results: Mapping[str, Any], where: str = "results") -> FromResults:
    """The submission of a results file's test samples' ``attempts``: after ``merge``, the one
    submission of a sharded run. Test inputs are numbered by the file's samples, which are the
    selected ones: one it lists as ``missing`` (or not at all, below its last) gets FALLBACK and is
    named in ``not_run``, as is a task with no test sample listed (it gets an empty list: how
    many test inputs it has is not in the file)."""
    out = FromResults({})
    per_task: Dict[str, List[List[Grid]]] = {}
    for tid, entry in results.get("tasks", {}).items():
        tests = {s["index"]: s for s in entry.get("samples", []) if s.get("kind") == "test"}
        if not tests and not entry.get("error"):
            out.not_run.append(f"{tid}::test[*]")  # none selected (-k, --deselect): how many there are is not known here
        per_task[tid] = []
        for i in range(max(tests) + 1 if tests else 0):
            sample = tests.get(i)
            attempts: List[Any] = []
            if sample is None or sample.get("status") == "missing" or ("attempts" not in sample and "fold" in sample):
                out.not_run.append(f"{tid}::test[{i}]")  # never ran, or its task's demos did not finish to rank them
            elif "attempts" not in sample and sample.get("candidates"):
                raise SubmissionError(f"{where}: task {tid} test[{i}] has candidates but no attempts "
                                      "(written before pytest-batt kept them in results files: run it again)")
            else:
                attempts = [a[1] for a in sample.get("attempts") or [] if isinstance(a, list) and len(a) == 2]
                out.no_candidate += not attempts
            try:
                per_task[tid].append([to_grid(g) for g in attempts])
            except GridError as e:
                raise SubmissionError(f"{where}: task {tid} test[{i}]: an attempt is not a grid ({e})") from None
    out.submission = build(per_task, per_task.__getitem__)
    return out


def dumps(submission: Submission) -> str:
    return json.dumps(submission, separators=(",", ":")) + "\n"


@dataclass
class Score:
    tasks: Dict[str, float] = field(default_factory=dict)  # task id -> fraction of its test inputs right
    inputs: Dict[str, int] = field(default_factory=dict)  # task id -> number of test inputs

    @property
    def total(self) -> float:
        return sum(self.tasks.values()) / len(self.tasks) if self.tasks else 0.0

    @property
    def full(self) -> int:
        return sum(s == 1.0 for s in self.tasks.values())

    def partial(self) -> Dict[str, float]:
        """Tasks with several test inputs, some but not all right: the credit pass@2 does not give."""
        return {t: s for t, s in self.tasks.items() if 0.0 < s < 1.0}


def _grid(value: Any, where: str) -> Grid:
    try:
        return to_grid(value)
    except (GridError, TypeError, ValueError) as e:
        raise SubmissionError(f"{where}: not a grid ({e})") from None


def check_solutions(solutions: Any, where: str) -> Dict[str, List[Grid]]:
    if not isinstance(solutions, dict) or not solutions:
        raise SubmissionError(f"{where}: expected an object mapping task ids to lists of test outputs")
    out = {}
    for tid, outs in solutions.items():
        if not isinstance(outs, list) or not outs:
            raise SubmissionError(f"{where}: task {tid}: expected a non-empty list of test outputs")
        out[tid] = [_grid(g, f"{where}: task {tid} output {i}") for i, g in enumerate(outs)]
    return out


def score(submission: Any, solutions: Mapping[str, Sequence[Grid]], where: str = "submission") -> Score:
    """ARC Prize's score; a malformed submission raises :class:`SubmissionError` naming the first fault."""
    if not isinstance(submission, dict):
        raise SubmissionError(f"{where}: expected an object mapping task ids to lists of attempts, got {type(submission).__name__}")
    missing = [t for t in solutions if t not in submission]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SubmissionError(f"{where}: task {missing[0]} is missing{more}")
    extra = [t for t in submission if t not in solutions]
    if extra:
        raise SubmissionError(f"{where}: task {extra[0]} is not in the solutions")
    result = Score()
    for tid, outputs in solutions.items():
        entries = submission[tid]
        if not isinstance(entries, list) or len(entries) != len(outputs):
            n = len(entries) if isinstance(entries, list) else type(entries).__name__
            raise SubmissionError(f"{where}: task {tid} has {n} entries, its test inputs are {len(outputs)}")
        right = 0
        for i, (entry, expected) in enumerate(zip(entries, outputs)):
            if not isinstance(entry, dict) or set(entry) != {"attempt_1", "attempt_2"}:
                raise SubmissionError(f'{where}: task {tid} entry {i}: expected {{"attempt_1": grid, "attempt_2": grid}}')
            attempts = [_grid(entry[k], f"{where}: task {tid} entry {i} {k}") for k in ("attempt_1", "attempt_2")]
            right += expected in attempts
        result.tasks[tid] = right / len(outputs)
        result.inputs[tid] = len(outputs)
    return result


def solutions_of(taskset: Any, task_ids: Iterable[str]) -> Dict[str, List[Grid]]:
    """The test outputs of a task set (tasks.TaskSet), as a solutions file holds them."""
    out = {}
    for tid in task_ids:
        task = taskset.task(tid)
        out[tid] = [s.output for s in task.tests]
    return out
