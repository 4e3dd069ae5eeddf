"""The collector (one per task) and the item (one per demo or test sample), and their limits.

Each batt call is limited through pytest-timeout's own timer hooks, one timer per call. In
an xdist worker a second, hard stage backs it up: faulthandler ends the worker a grace period
after the timeout when the batt swallowed the timeout or held the GIL, and xdist replaces
the worker. ``-n 0`` cannot have that stage: it would end the whole session.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from typing import Any, Iterator, List, Optional

import pytest

from . import battmodule, failures, nodeids, programs, runner, visible
from .isolation import handoff
from .isolation.guard import BattTimeout, Guard, RealInterrupt, StuckTimeout
from .isolation.process_state import raw_getsignal, raw_signal
from .isolation.slot import encode_text
from .records import SampleRecord, add_error
from .state import STATE, State
from .tasks import BattDataError, Sample, Task


def _real_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C during a batt call: a distinct exception, so a batt's own KeyboardInterrupt is not taken for it."""
    raise RealInterrupt()


class SolveCallFailed(Exception):
    """The item's outcome in the process that ran it when the solve call timed out or raised.

    Not "unsolved": a sample that ran is "ok" there, and solved or not only on the controller."""


class BattTask(pytest.Collector):
    """One ARC task; validating its data here makes a bad task a collection error for it alone."""

    def __init__(self, *, task_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_id = task_id  # the raw id; ``name`` is its escaped form (nodeids.task_name), what -k sees

    def collect(self) -> Iterator[pytest.Item]:
        state = self.config.stash[STATE]
        try:
            task = state.taskset.task(self.task_id)
        except BattDataError as e:
            # A collection error would stop the whole session; an error per sample costs this task only.
            for name in [nodeids.sample_name(*key) for key in state.taskset.sample_keys(self.task_id)] or ["task"]:
                nodeid = nodeids.item_nodeid(self.task_id, name)
                yield BadTaskSample.from_parent(self, name=name, nodeid=nodeid, problem=str(e))
            return
        for sample in task.samples:
            # The nodeid is given as a string so pytest parses "demo[0]" as a name with params,
            # exactly as it parses the ids that --lf and --deselect read back.
            nodeid = nodeids.item_nodeid(task.id, sample.name)
            # Passing, failing and xfail against a baseline are decided by the controller.
            yield BattSample.from_parent(self, name=sample.name, nodeid=nodeid, task=task, sample=sample)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, BattDataError):
            return visible.text(excinfo.value)
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
        return visible.text(excinfo.value)

    def reportinfo(self) -> Any:
        return self.path, None, nodeids.shown(self.nodeid)


class BattSample(pytest.Item):
    """One demo or test sample: a solve call and its diff calls, each under the timeout."""

    def __init__(self, *, task: Task, sample: Sample, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.sample = sample
        self.record: Optional[SampleRecord] = None
        # The per-call timers below replace pytest-timeout's per-item timer for this item.
        self.add_marker(pytest.mark.timeout(0))
        self.add_marker(pytest.mark.batt)
        self.keywords[sample.kind] = True

    def setup(self) -> None:
        try:
            self.config.stash[STATE].batt()  # import once per process, before any timer runs
        except battmodule.BattLoadError:
            pass  # runtest raises it again, where repr_failure turns it into one line
        self.config.stash[STATE].vram_meter()  # its thread starts before a sample's threads are counted

    def runtest(self) -> None:
        state = self.config.stash[STATE]
        func = state.batt().func
        checkpoint = self._checkpoint if state.hard_stop else None
        limits = CallLimits(self, state)
        profile_path = state.profile_path(self.task.id, self.sample.kind, self.sample.index)
        slot = state.runtime(func)
        before = state.patch_watch.before()
        limits.housekeeping("starting the sample")
        slot.sample(self.nodeid, self.task.id, self.sample.kind, self.sample.index)
        try:
            rec = runner.run_sample(func, self.task, self.sample, limits, state.log_path(self.task.id), checkpoint,
                                    profile_path=profile_path, keep_partial=state.settings.keep_partial, vram=state.vram_meter(),
                                    tree=state.procs)
            if isinstance(func, programs.Library):
                func.annotate(rec)  # the programs that timed out, raised or returned no grid, by id
            limits.housekeeping("after the calls, dropping what the batt returned (its finalizers)")
            if state.hard_stop:  # -n 0 has no hard stop
                gc.collect()  # finalizers of what the batt returned run now, under the hard stop
                # What survives (the batt's memo, growing task by task) is left out of later
                # collections: a full one per sample over it cost ~30 ms, 2.7 CPU s per worker
                # on 44 tasks. Freed by reference counting as usual; only a cycle among these
                # objects that becomes garbage later is never collected.
                gc.freeze()
            patched = not state.patch_watch.unchanged_since(before)  # still under the hard stop
        finally:
            limits.done()
            slot.sample_done()
        self.record = rec
        if patched:
            note = "the batt patched pytest-batt's own modules"
            if state.hard_stop:
                self._end_worker(rec, note + "; the worker was replaced so later samples are judged by unpatched code")
            add_error(rec, note + "; later samples in this process may be affected (use -n 1 or more)")
        leaked = rec.pop("leaked_threads", None)
        if leaked:
            note = f"the batt left {len(leaked)} thread(s) running that could not be stopped ({', '.join(leaked[:3])})"
            if state.hard_stop:
                self._end_worker(rec, note + "; the worker was replaced so they cannot slow later samples")
            add_error(rec, note + "; they may slow later samples (use -n 1 or more)")
        if rec["status"] != "ok":  # "ok": it ran; whether it solved the sample is the controller's verdict
            raise SolveCallFailed(rec)

    def _checkpoint(self, rec: SampleRecord, stage: str) -> None:
        """The record so far, where the controller finds it if this worker is ended later in the sample."""
        state = self.config.stash[STATE]
        handoff.write_partial(state.scratch, state.worker_id, self.nodeid, rec, stage)

    def _end_worker(self, rec: SampleRecord, note: str) -> None:
        """Leave the record where the controller finds it, then end this worker; xdist starts a new one."""
        add_error(rec, note)
        state = self.config.stash[STATE]
        message = failures.describe(rec)
        handoff.write_ended(state.scratch, state.worker_id, self.nodeid, rec, message)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SolveCallFailed):
            return visible.text(failures.describe(excinfo.value.args[0]))
        if isinstance(excinfo.value, battmodule.BattLoadError):
            return visible.text(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> Any:
        # The failure header's text: the node id's form of the task id, never the raw one
        return self.path, None, nodeids.shown(self.nodeid)


class CallLimits(Guard):
    """Each batt call under pytest-timeout's timer, and, in a worker, under the watchdog.

    The watchdog stays armed between calls too (with the same allowance), so that what
    runs because of a call (normalising its return value, finalizers) cannot hang the worker.
    """

    def __init__(self, item: "BattSample", state: State) -> None:
        super().__init__(state.address_space_limit())
        self.item = item
        self.state = state
        self.timeout = state.settings.timeout
        self.label = ""
        self.started = 0.0
        self._armed = False  # a worker's watchdog has this sample's order
        self._on = False
        self._previous_sigint: Any = None

    def _arm(self, doing: str) -> None:
        if self.state.hard_stop:
            allowed = self.timeout + self.state.settings.grace
            if not self._armed:  # one order a sample (it wakes the watchdog); the re-armings go to the slot
                self.state.watchdog().arm(allowed, {"nodeid": self.item.nodeid, "doing": doing})
                self._armed = True
            else:
                now = time.monotonic()
                self.state.slot().call(now + self.timeout, now + allowed, encode_text(doing))
        elif self.state.backstop() is not None:  # -n 0: the backstop watches what the watchdog would
            now = time.monotonic()
            self.state.slot().call(now + self.timeout, now + self.timeout + self.state.settings.grace)

    def housekeeping(self, doing: str) -> None:
        self._arm(doing)

    def done(self) -> None:
        if self.state.hard_stop:
            self.state.watchdog().disarm()
            self._armed = False
            self.state.slot().no_call()  # after the order: the watchdog never sees the slot unarmed while armed
        elif self.state.backstop() is not None:
            self.state.slot().no_call()

    def start(self, label: str) -> None:
        from pytest_timeout import Settings as TimeoutSettings

        self.label, self.started = label, time.monotonic()
        hard = self.state.hard_stop
        if hard:
            self._arm(label)
        # signal's C functions: the module's wrappers turn every handler into an enum member (~3 us a call)
        self._previous_sigint = raw_signal(signal.SIGINT, _real_interrupt)
        self._on = True
        hook = self.item.config.pluginmanager.hook
        hook.pytest_timeout_set_timer(item=self.item, settings=TimeoutSettings(
            timeout=self.timeout, method="signal", func_only=False, disable_debugger_detection=False))
        backstop = self.state.backstop()
        if not hard and backstop is not None:  # -n 0: the backstop is this call's second stage
            backstop.expect_call(raw_getsignal(signal.SIGALRM))
            self.state.slot().call(self.started + self.timeout, self.started + self.timeout + self.state.settings.grace)
        super().start(label)

    def stop(self) -> None:
        if not self._on:
            return
        super().stop()
        if not self.state.hard_stop:
            self.state.slot().no_call()
        self.item.config.pluginmanager.hook.pytest_timeout_cancel_timer(item=self.item)
        raw_signal(signal.SIGINT, self._previous_sigint)
        self._on = False
        self._arm(f"after the {self.label}: normalising what it returned")

    def is_timeout(self, exc: BaseException) -> Optional[str]:
        if isinstance(exc, StuckTimeout):
            return (f"{self.label} timed out after {self.timeout:g} s (--batt-timeout); it had defeated its timer "
                    "(SIGALRM ignored, replaced, blocked or cancelled) and was stopped by the backstop")
        if isinstance(exc, BattTimeout):
            return str(exc)
        # pytest-timeout's own failure, raised by its timer; a batt raising pytest.fail itself is an error
        if isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout") and \
                time.monotonic() - self.started >= 0.9 * self.timeout:
            return f"{self.label} timed out after {self.timeout:g} s (--batt-timeout)"
        return None


def make_tasks(parent: pytest.Session, task_ids: List[str]) -> List[BattTask]:
    return [BattTask.from_parent(parent, name=nodeids.task_name(tid), nodeid=nodeids.task_nodeid(tid), task_id=tid) for tid in task_ids]
