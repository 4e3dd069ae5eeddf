"""What a process (controller or worker) knows about this run: :class:`State`, kept in pytest's stash under :data:`STATE`.

Apart from the items that run the samples, because both sides use it: the controller's hooks
(``controller/``) and the run assembly read it, a worker's items (``items.py``) run by it.
"""

from __future__ import annotations

import faulthandler
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

import pytest

from . import battmodule, programs
from .isolation import handoff, integrity, processes
from .isolation.backstop import Backstop
from .isolation.guard import StuckTimeout
from .isolation.slot import Running, Slot
from .isolation.watchdog import Watchdog, dump_stacks_on_request
from .programs import offenders
from .programs.limits import ProgramTimeout
from .settings import Settings
from .tasks import TaskSet


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
            self._batt = load_batt_or_library(self.settings)
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


def load_batt_or_library(settings: Any) -> Any:
    """The run's batt: the library of ``--batt-programs`` when given, else ``--batt-module``'s batt.

    A library that cannot be used is a :class:`~pytest_batt.battmodule.BattLoadError`, as a batt is.
    """
    if not getattr(settings, "programs", None):
        return battmodule.load_batt(settings.module, settings.base_dir)
    try:
        return programs.load_library(settings.programs, settings.base_dir, entries=settings.entries, map_path=settings.programs_map,
                                     grid_form=settings.grid_form, program_timeout=settings.program_timeout,
                                     import_timeout=settings.timeout)
    except programs.LibraryError as e:
        raise battmodule.BattLoadError(str(e)) from None
