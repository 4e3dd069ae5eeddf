"""The collector (one per task) and the item (one per demo or test sample), and their limits.

Each batt call is limited through pytest-timeout's own timer hooks, one timer per call. In
an xdist worker a second, hard stage backs it up: faulthandler ends the worker a grace period
after the timeout when the batt swallowed the timeout or held the GIL, and xdist replaces
the worker. ``-n 0`` cannot have that stage: it would end the whole session.
"""

from __future__ import annotations

import faulthandler
import functools
import gc
import hashlib
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

import pytest

from . import battmodule, judging, nodeids, programs, runner, visible
from .isolation import handoff, integrity, processes
from .isolation.backstop import Backstop
from .isolation.guard import BattTimeout, Guard, RealInterrupt, StuckTimeout
from .isolation.process_state import raw_getsignal, raw_signal
from .isolation.slot import Running, Slot, encode_text
from .isolation.watchdog import Watchdog, dump_stacks_on_request
from .programs import offenders
from .programs.limits import ProgramTimeout
from .results import SampleRecord, add_error
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
    baseline: Optional[Dict[str, Any]] = None  # the controller's only: workers need none of it
    baseline_status: Dict[str, str] = field(default_factory=dict)
    shard: Any = None  # sharding.Shard on a controller run with --batt-shard
    _batt: Optional[battmodule.BattModule] = field(default=None, repr=False)
    sample_seconds: Optional[Dict[str, float]] = field(default=None, repr=False)  # --batt-durations, by node id
    full_taskset: Optional[TaskSet] = None  # the controller's, with the test outputs it judges by
    resume: Optional[Dict[str, Any]] = None  # the results file a resumed run starts from (controller)
    skip: Set[str] = field(default_factory=set)  # node ids a resumed run takes from that file
    patch_watch: integrity.Watch = field(default_factory=integrity.Watch, repr=False)  # pytest-batt's own modules, per sample
    _stack_file: Any = field(default=None, repr=False)
    _watchdog: Optional[Watchdog] = field(default=None, repr=False)
    _slot: Optional[Slot] = field(default=None, repr=False)
    _backstop: Optional[Backstop] = field(default=None, repr=False)
    _quarantine: Optional[offenders.Watcher] = field(default=None, repr=False)
    # -n 0: what the backstop calls when a program or call cannot be stopped (the controller's, set by it)
    on_stuck: Optional[Callable[[Running, str], None]] = field(default=None, repr=False)
    protected_pids: List[int] = field(default_factory=list)  # processes of ours a program may not signal
    memory: Any = None  # isolation.memory.Plan, from memory_plan() at start
    gpu_run: bool = False  # --batt-gpus gave the workers devices: the default memory limit is off (memory_in_force)
    _vram: Any = field(default=None, repr=False)  # (meter or None, why not), once opened: vram_meter()
    procs: processes.Tree = field(default_factory=processes.Tree, repr=False)  # descendants from sample to sample

    def skip_samples(self, nodeids: Set[str]) -> None:
        """The samples a resumed run takes from its file: they are deselected, not run."""
        self.skip = set(nodeids)

    def batt(self) -> battmodule.BattModule:
        if self._batt is None:
            self._batt = programs.load(self.settings)
        return self._batt

    def stack_file(self) -> Any:
        if self._stack_file is None:
            self._stack_file = open(handoff.path(self.scratch, self.worker_id, "stack"), "w")
            # A segfault in the batt is then written where the controller can read it.
            faulthandler.enable(file=self._stack_file, all_threads=True)
        return self._stack_file

    def watchdog(self) -> Watchdog:
        """The hard stop of this worker, started on first use (workers only)."""
        if self._watchdog is None:
            dump_stacks_on_request(self.stack_file())
            self._watchdog = Watchdog(handoff.path(self.scratch, self.worker_id, "hardstop"), self.slot().path)
            self.protected_pids.append(self._watchdog.pid)
            plan = self.memory_in_force()
            if plan is not None and plan.kind == "resident":
                self._watchdog.limit(plan.megabytes)
        return self._watchdog

    def slot(self) -> Slot:
        """This process's running slot (which sample, call and program it runs), made on first use."""
        if self._slot is None:
            self._slot = Slot(handoff.path(self.scratch, self.worker_id, "slot"))
        return self._slot

    def runtime(self, func: Any) -> Slot:
        """Before a sample: the slot, the backstop where one is needed, a library attached to both and told
        the quarantine. Started before the sample looks for threads it leaves behind (the backstop is ours)."""
        slot = self.slot()
        self.procs.known = self.protected_pids  # the watchdogs: their own children are not read a sample
        library = func if isinstance(func, programs.Library) else None
        in_process = not self.hard_stop
        if self._backstop is None and (in_process or (library is not None and library.limit)):
            self._backstop = Backstop(slot, ProgramTimeout, StuckTimeout, calls=in_process, on_stuck=self._stuck)
            self._backstop.start()
        if library is not None:
            if self._quarantine is None:
                if self.hard_stop:
                    self.watchdog()  # its pid is one a program may not signal
                library.attach(slot, self.settings.grace, self._backstop, self.protected_pids)
                self._quarantine = offenders.Watcher(self.scratch)
            library.quarantine(self._quarantine.current())
        return slot

    def backstop(self) -> Optional[Backstop]:
        return self._backstop

    def _stuck(self, running: Running, what: str) -> None:
        if self.on_stuck is not None:
            self.on_stuck(running, what)

    def memory_plan(self, workers: int, watchdog: bool) -> Any:
        """The run's memory limit (an ``isolation.memory.Plan``): ``--batt-max-memory``, 0 for none,
        else the default share of this host's memory for one of ``workers`` workers; of the kind
        this system can keep (with ``watchdog``: the workers' watchdogs). Computed once, at start;
        ``memory.LimitUnavailable`` (a usage error) for a limit asked for that cannot be kept."""
        if self.memory is None:
            from .isolation import capabilities, memory
            from .isolation.peak_memory import physical_mb

            chosen = self.settings.max_memory
            address_space = capabilities.address_space() if chosen != 0 else capabilities.Probe(False, "RLIMIT_AS")
            resident = capabilities.resident()
            self.memory = memory.plan(chosen, memory.default_limit(workers, physical_mb()), address_space.on, address_space.why,
                                      resident.on, resident.why, watchdog)
        return self.memory

    def memory_in_force(self) -> Any:
        """The memory plan as it applies: no default limit for a GPU run (``--batt-gpus``, set after
        the plan on the controller): CUDA reserves address space far beyond the memory it uses,
        and fails to start under a cap sized for host memory."""
        if self.memory is not None and self.gpu_run and self.settings.max_memory is None:
            from .isolation.memory import OFF, Plan

            return Plan(OFF)
        return self.memory

    def address_space_limit(self) -> Optional[float]:
        """The address-space cap of each call in MB, where that is the run's memory limit."""
        plan = self.memory_in_force()
        return plan.megabytes if plan is not None and plan.kind == "address_space" else None

    def vram_meter(self) -> Any:
        """This process's GPU memory meter (isolation.peak_vram), opened on first use: None without NVML."""
        if self._vram is None:
            from .gpus import VARIABLE
            from .isolation.peak_vram import open_meter

            self._vram = open_meter(visible_devices=os.environ.get(VARIABLE))
        return self._vram[0]

    def profile_path(self, task_id: str, kind: str, index: int) -> Optional[str]:
        """Where this sample's profile goes with ``--batt-profile``; the task id made file-safe."""
        folder = self.settings.profile_dir
        if not folder:
            return None
        from .profiling import sample_file  # imported before the sample's integrity snapshot (runner uses it then)

        os.makedirs(folder, exist_ok=True)  # a worker on another host: its own folder of that name
        return sample_file(folder, safe_name(task_id), kind, index)

    def log_path(self, task_id: str) -> str:
        """A file per task the batt may write to; the id never becomes a path as given."""
        return os.path.join(self.scratch, "logs", safe_name(task_id) + ".log")


@functools.lru_cache(maxsize=4096)  # a task's log path, asked for before each of its samples
def safe_name(text: str) -> str:
    """A file name for any task id: Kaggle files can hold keys like ``../../x``."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64]
    if clean == text:
        return clean
    return f"{clean}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


STATE = pytest.StashKey[State]()


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
        message = judging.describe(rec)
        handoff.write_ended(state.scratch, state.worker_id, self.nodeid, rec, message)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SolveCallFailed):
            return visible.text(judging.describe(excinfo.value.args[0]))
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
