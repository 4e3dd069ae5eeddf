"""The collector (one per task) and the item (one per demo or test sample), and their limits.

Each batt call is limited through pytest-timeout's own timer hooks, one timer per call. In
an xdist worker a second, hard stage backs it up: faulthandler ends the worker a grace period
after the timeout when the batt swallowed the timeout or held the GIL, and xdist replaces
the worker. ``-n 0`` cannot have that stage: it would end the whole session.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

import pytest

from . import runner, session
from .settings import Settings
from .tasks import BattDataError, Sample, Task, TaskSet


@dataclass
class State:
    """What a process (controller or worker) knows about this run; loaded once per process."""

    settings: Settings
    taskset: TaskSet
    task_ids: List[str]
    scratch: str  # per-run directory shared by controller and workers (logs, faulthandler dumps)
    hard_stop: bool = False
    worker_id: str = "main"
    baseline: Optional[Dict[str, Any]] = None
    baseline_status: Dict[str, str] = field(default_factory=dict)
    shard: Any = None  # sharding.Shard on a controller run with --batt-shard
    _batt: Optional[runner.BattModule] = field(default=None, repr=False)
    _stack_file: Any = field(default=None, repr=False)

    def batt(self) -> runner.BattModule:
        if self._batt is None:
            self._batt = runner.load_batt(self.settings.module, self.settings.base_dir)
        return self._batt

    def stack_file(self) -> Any:
        if self._stack_file is None:
            self._stack_file = open(os.path.join(self.scratch, f"{self.worker_id}.stack"), "w")
            # A segfault in the batt is then written where the controller can read it.
            faulthandler.enable(file=self._stack_file, all_threads=True)
        return self._stack_file

    def log_path(self, task_id: str) -> str:
        return os.path.join(self.scratch, "logs", f"{task_id}.log")


STATE = pytest.StashKey[State]()


def _write_json(path: str, data: Any) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def _real_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C during a batt call: a distinct exception, so a batt's own KeyboardInterrupt is not taken for it."""
    raise runner.RealInterrupt()


class SampleNotSolved(Exception):
    """The item's outcome when the batt ran but no candidate matched, or a call failed."""


class BattTask(pytest.Collector):
    """One ARC task; validating its data here makes a bad task a collection error for it alone."""

    def collect(self) -> Iterator[pytest.Item]:
        state = self.config.stash[STATE]
        try:
            task = state.taskset.task(self.name)
        except BattDataError as e:
            # A collection error would stop the whole session; an error per sample costs this task only.
            for name in state.taskset.sample_names(self.name) or ["task"]:
                nodeid = session.sample_nodeid(self.name, name)
                yield BadTaskSample.from_parent(self, name=name, nodeid=nodeid, problem=str(e))
            return
        for sample in task.samples:
            # The nodeid is given as a string so pytest parses "demo[0]" as a name with params,
            # exactly as it parses the ids that --lf and --deselect read back.
            nodeid = session.sample_nodeid(task.id, sample.name)
            item = BattSample.from_parent(self, name=sample.name, nodeid=nodeid, task=task, sample=sample)
            before = state.baseline_status.get(nodeid)
            if before is not None and before != "solved":
                item.add_marker(pytest.mark.xfail(reason=f"unsolved in baseline ({before})", strict=False))
            item.solved_in_baseline = before == "solved"
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, BattDataError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class BadTaskSample(pytest.Item):
    """A sample of a task whose data is invalid: an error at setup that names the fault."""

    def __init__(self, *, problem: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem

    def runtest(self) -> None:
        # Failing in the call phase (not setup) is what makes pytest use repr_failure: one line.
        raise BattDataError(self.problem)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return str(excinfo.value)

    def reportinfo(self) -> Any:
        return self.path, None, self.nodeid[len(session.PREFIX):]


class BattSample(pytest.Item):
    """One demo or test sample: a solve call and its diff calls, each under the timeout."""

    def __init__(self, *, task: Task, sample: Sample, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.sample = sample
        self.record: Optional[Dict[str, Any]] = None
        self.solved_in_baseline = False
        # The per-call timers below replace pytest-timeout's per-item timer for this item.
        self.add_marker(pytest.mark.timeout(0))
        self.add_marker(pytest.mark.batt)
        self.keywords[sample.kind] = True

    def setup(self) -> None:
        try:
            self.config.stash[STATE].batt()  # import once per process, before any timer runs
        except runner.BattLoadError:
            pass  # runtest raises it again, where repr_failure turns it into one line

    def runtest(self) -> None:
        state = self.config.stash[STATE]
        func = state.batt().func
        checkpoint = self._checkpoint if state.hard_stop else None
        rec = runner.run_sample(func, self.task, self.sample, self._guard, state.log_path(self.task.id), checkpoint)
        self.record = rec
        # Shown by --junitxml as <property> elements, for CI dashboards.
        self.user_properties += [("batt_status", rec["status"]), ("batt_candidates", rec["candidates"]), ("batt_calls", rec["calls"])]
        leaked = rec.pop("leaked_threads", None)
        if leaked:
            note = f"the batt left {len(leaked)} thread(s) running that could not be stopped ({', '.join(leaked[:3])})"
            if state.hard_stop:
                self._end_worker(rec, note + "; the worker was replaced so they cannot slow later samples")
            rec["error"] = "; ".join(filter(None, [rec["error"], note + "; they may slow later samples (use -n 1 or more)"]))
        if rec["status"] != "solved":
            raise SampleNotSolved(rec)

    def _checkpoint(self, rec: Dict[str, Any]) -> None:
        """What the solve call found, where the controller finds it if a diff call ends this worker."""
        state = self.config.stash[STATE]
        _write_json(os.path.join(state.scratch, f"{state.worker_id}.partial"), {"nodeid": self.nodeid, "record": rec})

    def _end_worker(self, rec: Dict[str, Any], note: str) -> None:
        """Leave the record where the controller finds it, then end this worker; xdist starts a new one."""
        rec["error"] = "; ".join(filter(None, [rec["error"], note]))
        state = self.config.stash[STATE]
        message = self._describe(rec)
        _write_json(os.path.join(state.scratch, f"{state.worker_id}.record"), {"nodeid": self.nodeid, "record": rec, "message": message})
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    @contextlib.contextmanager
    def _guard(self, label: str) -> Iterator[None]:
        from pytest_timeout import Settings as TimeoutSettings

        state = self.config.stash[STATE]
        timeout = state.settings.timeout
        hook = self.config.pluginmanager.hook
        previous_sigint = signal.signal(signal.SIGINT, _real_interrupt)
        hook.pytest_timeout_set_timer(item=self, settings=TimeoutSettings(timeout, "signal", False, False))
        if state.hard_stop:
            faulthandler.dump_traceback_later(timeout + state.settings.grace, exit=True, file=state.stack_file())
        try:
            with runner.memory_limit(state.settings.max_memory):
                yield
        except pytest.fail.Exception as e:
            if "Timeout" not in str(e):
                raise
            raise runner.BattTimeout(f"{label} timed out after {timeout:g} s (--batt-timeout)") from None
        finally:
            if state.hard_stop:
                faulthandler.cancel_dump_traceback_later()
            hook.pytest_timeout_cancel_timer(item=self)
            signal.signal(signal.SIGINT, previous_sigint)

    @staticmethod
    def _describe(rec: Dict[str, Any]) -> str:
        if rec["status"] == "unsolved":
            text = rec["message"] or "no candidate matched"
            return text + (f"\n{rec['error']}" if rec.get("error") else "")
        return f"{rec['status']}: {rec['error']}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SampleNotSolved):
            text = self._describe(excinfo.value.args[0])
            return f"regressed vs baseline (solved there)\n{text}" if self.solved_in_baseline else text
        if isinstance(excinfo.value, runner.BattLoadError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> Any:
        return self.path, None, f"{self.task.id}::{self.name}"


def make_tasks(parent: pytest.Session, task_ids: List[str]) -> List[BattTask]:
    return [BattTask.from_parent(parent, name=tid, nodeid=session.task_nodeid(tid)) for tid in task_ids]
