"""The Phase 3 reference scorer: plain, sequential, one process, no pytest.

This module owns a literal, independent implementation of the Phase 3 scoring rules
(``o_score``, ``d_score``, ``s_score``, oracle and pass@2), written to check the plugin's
scoring and to measure the honest "before" time. It deliberately does not use
:mod:`pytest_batt.scoring` or :mod:`pytest_batt.battrun`: where the plugin folds one diff
call per sample, this scorer repeats the diff call for every candidate, exactly as Phase 3
does, and on test samples it diffs every candidate's value as the batt returned it (``()``,
``None``, grids of floats), not only valid grids. It writes the same results file
(schema 1) as the plugin, with ``workers = 0``.

Shared with the plugin, and so not checked by comparing the two: the parsing of a batt's
return value (:func:`pytest_batt.contract.normalise_candidates` and ``normalise_rows``), task
loading (``TaskSet.sample_keys`` included) and the results writer (``records.new_record`` and
``sample_entry``, a sample's record and its file entry). That parsing was checked against
tokpidjin's own scorer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from . import records, results
from .grids import Grid
from .battmodule import BattModule
from .contract import Candidate, ContractError, normalise_candidates, normalise_rows, split
from .isolation.guard import BattTimeout
from .tasks import BattDataError, Sample, Task, TaskSet

OWN = "None"  # s_solver_id of a differ's own row: a string, as the batt contract says

# d_score[solver_id][d_name] = {"last_t": ..., "iz": n, "zo": n}
DScore = Dict[str, Dict[str, Dict[str, Any]]]
Row = Tuple[Any, str, str, Optional[int]]
OnTask = Callable[[str, Dict[str, Any]], None]


# --- the time limit ------------------------------------------------------------------------

class _Alarm(BaseException):
    """Raised into the call by SIGALRM. A BaseException, so a batt's ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def alarm_guard(seconds: float, label: str) -> Iterator[None]:
    """Limit the call to ``seconds`` (SIGALRM); raises :class:`BattTimeout` when its time is up.

    The alarm raises a BaseException into the call (batts catch Exception), which leaves the
    guard as BattTimeout. The previous handler is restored, and so is a timer that was already
    running (for instance pytest-timeout's), less the time spent here. SIGALRM exists only in
    the main thread of a POSIX process; elsewhere the call runs without a limit.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Alarm()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    old_delay, old_interval = 0.0, 0.0
    try:
        old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    except _Alarm:
        raise BattTimeout(f"{label} timed out after {seconds:g} s (--batt-timeout)") from None
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        except _Alarm:  # fired while stopping: the call had finished in time
            signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)  # None: set outside Python
        if old_delay > 0:
            left = old_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), old_interval)


def _call(func: Callable[..., Any], timeout: float, label: str, args: Tuple[Any, ...], parse: Callable[[Any], Any]) -> Tuple[str, Any]:
    """One limited batt call: ``("ok", parsed)``, ``("timeout", message)`` or ``("error", message)``.

    ``parse`` runs under the same limit, because a batt may return generators.
    """
    try:
        with alarm_guard(timeout, label):
            return "ok", parse(func(*args))
    except BattTimeout as e:
        return "timeout", str(e)
    except ContractError as e:
        return "error", f"{label} broke the batt contract: {e}"
    except (Exception, SystemExit) as e:
        return "error", f"{label} raised {type(e).__name__}: {e}"


def _solve_parse(result: Any) -> List[Candidate]:
    return normalise_candidates(split(result)[0])


def _diff_parse(result: Any) -> List[Row]:
    return normalise_rows(split(result)[1])


# --- the Phase 3 rules -----------------------------------------------------------------------

def d_update(d_score: DScore, memory: Dict[str, Any], solver_id: str, row: Row) -> None:
    """Phase 3's ``d_score.update(solver_id, row)``, with ``memory`` the task's remembered last steps."""
    last_t, s_sid, d_name, size = row
    if s_sid == OWN:
        memory[d_name] = last_t
    per = d_score.setdefault(solver_id, {})
    if d_name not in per:
        # Phase 3 raises KeyError when the differ has no own row yet; the contract says None.
        per[d_name] = {"last_t": memory.get(d_name), "iz": 0, "zo": 0}
    if size is None:
        return
    entry = per[d_name]
    if s_sid == OWN:
        entry["iz"] += int(size > 0)
        entry["zo"] += int(size == 0)
    elif s_sid == solver_id:
        entry["iz"] += int(size == 0)
        entry["zo"] += int(size > 0)


def s_snapshot(d_score: DScore) -> Dict[str, Dict[str, Dict[str, int]]]:
    """Phase 3 copies d_score into s_score once, after the demo samples."""
    s_score: Dict[str, Dict[str, Dict[str, int]]] = {}
    for sid, per in d_score.items():
        for d_name, entry in per.items():
            slot = s_score.setdefault(d_name, {"iz": {}, "zo": {}})
            slot["iz"][sid] = entry["iz"]
            slot["zo"][sid] = entry["zo"]
    return s_score


def pass_at_2(cands: Sequence[Tuple[Any, ...]], demo_score: Dict[str, int], expected: Grid) -> bool:
    """ARC's two attempts: the first two distinct grids after a stable sort by demo score, best first."""
    valid = [(c[0], c[1]) for c in cands if c[1] is not None]
    ranked = sorted(valid, key=lambda c: -demo_score.get(c[0], 0))
    picked: List[Grid] = []
    for _, grid in ranked:
        if grid not in picked:
            picked.append(grid)
            if len(picked) == 2:
                break
    return expected in picked


class _TaskScorer:
    """Fresh Phase 3 scores for one task, fed sample by sample in order."""

    def __init__(self, task: Task, func: Callable[..., Any], timeout: float, log_path: str) -> None:
        self.task = task
        self.func = func
        self.timeout = timeout
        self.log_path = log_path
        self.o_score: Dict[str, int] = {}
        self.d_score: DScore = {}
        self.memory: Dict[str, Any] = {}

    def sample(self, sample: Sample) -> Tuple[records.Sample, List[Tuple[str, Optional[Grid], Any, None]]]:
        """Score one sample; returns its entry in the results file and its candidates (for pass@2)."""
        wall0, cpu0 = time.perf_counter(), time.process_time()
        task, S, I, O = self.task, self.task.S, sample.input, sample.output
        rec = records.new_record(task.id, sample.kind, sample.index, calls=1)
        status, value = _call(self.func, self.timeout, "solve call", (task.id, S, I, None, self.log_path), _solve_parse)
        cands: List[Tuple[str, Optional[Grid], Any, None]] = []
        if status != "ok":
            rec["status"], rec["error"] = status, value
        else:
            cands = [(c.solver_id, c.grid, c.value, None) for c in value]
            rec["candidates"] = len(cands)
            matched: Dict[str, None] = {}
            failed: List[str] = []
            for sid, grid, value, _ in cands:
                hit = grid is not None and grid == O
                self.o_score[sid] = self.o_score.get(sid, 0) + int(hit)
                if hit:
                    matched[sid] = None
                if sample.kind == "demo":
                    C: Optional[Grid] = O  # the same call for every candidate, as Phase 3 makes it
                else:
                    C = value  # the diff against this candidate, whatever the batt returned
                rec["calls"] += 1
                dstatus, rows = _call(self.func, self.timeout, "diff call", (task.id, S, I, C, self.log_path), _diff_parse)
                if dstatus != "ok":
                    failed.append(rows)
                    continue
                for row in rows:
                    d_update(self.d_score, self.memory, sid, row)
            rec["matched"] = list(matched)
            rec["status"] = "solved" if matched else "unsolved"
            if failed:
                rec["error"] = f"{len(failed)} diff call(s) failed and contribute nothing; first: {failed[0]}"
        rec["seconds"] = round(time.perf_counter() - wall0, 6)
        rec["cpu_seconds"] = round(time.process_time() - cpu0, 6)
        return records.sample_entry(rec), cands


def score_task(task: Task, func: Callable[..., Any], timeout: float, log_path: str) -> Dict[str, Any]:
    """One task's entry of the results file, computed literally by the Phase 3 algorithm."""
    scorer = _TaskScorer(task, func, timeout, log_path)
    samples: List[records.Sample] = []
    for sample in task.demos:
        samples.append(scorer.sample(sample)[0])
    s_score = s_snapshot(scorer.d_score)
    demo_score = dict(scorer.o_score)
    oracle, at_2 = True, True
    for sample in task.tests:
        rec, cands = scorer.sample(sample)
        samples.append(rec)
        oracle = oracle and rec["status"] == "solved"
        at_2 = at_2 and sample.output is not None and pass_at_2(cands, demo_score, sample.output)
    return {
        "samples": samples,
        "o_score": scorer.o_score,
        "d_score": scorer.d_score,
        "s_score": s_score,
        "solved": {"oracle": bool(oracle and task.tests), "at_2": bool(at_2 and task.tests)},
        "seconds": round(sum(s["seconds"] for s in samples), 6),
    }


def _failed_task(taskset: TaskSet, task_id: str, message: str) -> Dict[str, Any]:
    """A task whose data is invalid costs that task alone: its samples are errors, as in the plugin."""
    samples = [records.sample_entry(records.new_record(task_id, kind, index, status="error", error=message))
               for kind, index in taskset.sample_keys(task_id)]
    return {
        "samples": samples, "o_score": {}, "d_score": {}, "s_score": {},
        "solved": {"oracle": False, "at_2": False}, "seconds": 0.0, "error": message,
    }


def run(
    task_ids: Sequence[str],
    taskset: TaskSet,
    batt_module: BattModule,
    timeout: float,
    log_path: str = os.devnull,
    on_task: Optional[OnTask] = None,
) -> Dict[str, Any]:
    """Score the tasks one after another and return a schema 1 results dict.

    ``on_task(task_id, entry)`` is called after each task (for progress lines). Ctrl-C stops
    the run between calls: the tasks finished so far are returned with ``complete: False``.
    """
    head = results.header(
        batt_module=batt_module.spec, batt_sha256=batt_module.sha256(),
        data_name=taskset.name, data_sha256=taskset.content_hash(task_ids),
        timeout_s=timeout, workers=0,
    )
    started = time.perf_counter()
    tasks: Dict[str, Any] = {}
    complete = True
    try:
        for tid in task_ids:
            try:
                task = taskset.task(tid)
            except BattDataError as e:
                entry = _failed_task(taskset, tid, str(e))
            else:
                entry = score_task(task, batt_module.func, timeout, log_path)
            entry["sha256"] = taskset.task_hash(tid)
            tasks[tid] = entry
            if on_task is not None:
                on_task(tid, entry)
    except KeyboardInterrupt:
        complete = False
    wall = time.perf_counter() - started
    session = {
        "wall_s": round(wall, 6),
        "item_s": round(sum(t["seconds"] for t in tasks.values()), 6),
        "complete": complete,
    }
    return {**head, "session": session, "tasks": tasks}
