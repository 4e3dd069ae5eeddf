"""Hooks that exist only when pytest-xdist is loaded (registered apart, so ``-p no:xdist`` keeps working).

They hand each worker what it needs (the scratch folder, the selection file, the resolved
settings), choose pytest-batt's scheduler, stop the run in one line when a worker cannot start,
and turn a worker's death into the sample's record through the crash hand-off.
"""

from __future__ import annotations

import gc
import re
import statistics
import time
from typing import Any, List, Optional, Sequence, Set

import pytest

from .. import assembly, nodeids, records, settings as settings_mod, visible
from ..isolation import handoff, sandbox
from .scheduling import BattScheduling
from .session import Controller

def _spec(node: Any) -> str:
    """How the user wrote the worker's gateway (``popen``, ``ssh=host//python=...``)."""
    spec = str(getattr(node.gateway.spec, "_spec", None) or node.gateway.spec)
    return sandbox.shown_spec(re.sub(r"^execmodel=[^/]*//", "", spec))  # xdist adds it; the user did not write it


class XdistHooks:
    """Hooks that exist only when pytest-xdist is loaded, so -p no:xdist keeps working."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.collected: Set[str] = set()  # gateway ids of the workers that started and collected
        self._blind_sha256: Optional[str] = None
        self._setup_at: Optional[float] = None
        self._starting = 0
        self._ready: List[float] = []  # seconds from setting up the workers to each first worker's collection

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None  # the user chose another mode: leave it to xdist
        # Made while the workers start: reading the last run's seconds costs them nothing.
        seconds, line = self.controller.planned_seconds()
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None and not config.getoption("no_header", False) and config.get_verbosity() >= 0:
            terminal.write_line(line)  # a header line: -q hides it with pytest's header
        scheduling = BattScheduling(config, log, seconds=seconds, split=self.controller.library is not None)
        if self.controller.run_started is None:
            # As an -n 0 run does after its collection: what this process holds now (pytest, xdist, the
            # tasks, the plan) lives until it exits, so the full collections that the reports set off,
            # pytest's own at exit among them, leave it out. Not under pytest.main in another program.
            gc.freeze()
        return scheduling

    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: Sequence[Any]) -> None:
        self._setup_at, self._starting = time.perf_counter(), len(specs)

    def pytest_configure_node(self, node: Any) -> None:
        state = self.controller.state
        node.workerinput["batt_scratch"] = state.scratch
        node.workerinput["batt_skip"] = sorted(state.skip)
        node.workerinput["batt_tasks"] = self.controller.selection_file()
        # Resolved here, sent as builtins: a worker elsewhere has neither our ini file nor our files.
        node.workerinput["batt_settings"] = settings_mod.for_workers(state.settings, state.task_ids)
        # A plain popen worker (-n N: this interpreter, this directory) reads the selection file and checks
        # nothing; one that may not see it (another host, interpreter or directory) checks its own data
        # against this hash: one canonical JSON pass over the tasks, made only for such a worker.
        spec = getattr(node.gateway, "spec", None)
        if not (getattr(spec, "popen", False) and not getattr(spec, "python", None) and not getattr(spec, "chdir", None)):
            if self._blind_sha256 is None:  # once, not again for every replacement worker
                self._blind_sha256 = state.taskset.content_hash(state.task_ids)
            node.workerinput["batt_data_sha256"] = self._blind_sha256
        node.workerinput["batt_gpu_run"] = state.gpu_run  # --batt-gpus gave devices: no default address-space cap
        self.controller.workers = max(self.controller.workers, node.workerinput.get("workercount", 1))

    def pytest_xdist_node_collection_finished(self, node: Any, ids: List[str]) -> None:
        if self._setup_at is not None and len(self._ready) < self._starting and node.gateway.id not in self.collected:
            # The workers' start-up, as the next run weighs it against their gain (lastrun, mode).
            self._ready.append(time.perf_counter() - self._setup_at)
            self.controller.startup_s = statistics.mean(self._ready)
        self.collected.add(node.gateway.id)
        self.controller.run.collected(ids)

    @staticmethod
    def _use_record(report: pytest.TestReport, record: records.SampleRecord, message: str) -> None:
        """The worker died, but left the sample's record: the verdict on it follows in logreport."""
        report.batt_record = record  # type: ignore[attr-defined]
        report.outcome = "failed"
        report.longrepr = message
        report.when = "call"

    @pytest.hookimpl(tryfirst=True)  # before xdist prints the remote traceback
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """A worker that dies before collecting (no batt or data on its side, no pytest-batt in its
        interpreter) stops the run with one line: replacing it would only fail again, many times.

        Only while no worker has collected yet: once one has, the workers can start, and a
        replacement that dies early (xdist may be shutting down as it starts) is xdist's to
        handle; stopping the run there would leave samples unrun."""
        if error is not None and not self.collected:
            raise pytest.UsageError(visible.text(f"worker {node.gateway.id} ({_spec(node)}): {assembly.worker_failure(str(error))}"))

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        node = getattr(report, "node", None)
        worker = node.gateway.id if node is not None else "?"
        report.location = (crashitem.partition("::")[0], None, nodeids.shown(crashitem))
        scratch = self.controller.state.scratch
        opts = self.controller.state.settings
        # A worker opens its stack file before its first batt call; when the controller cannot see
        # it, the worker's scratch directory is its host's own (another machine), not ours.
        left = handoff.read(scratch, worker, crashitem, assume_shared=node is None)
        where = worker if left.shared else f"{worker} ({_spec(node)})"
        offense = self.controller.offense(crashitem, worker, left) if left.shared and left.ended is None else None
        if offense is not None:
            if self.controller.offended(offense) and hasattr(sched, "mark_test_pending"):
                # A program ended or hung the worker: the sample runs again without it, on another worker.
                sched.mark_test_pending(crashitem)
                report.outcome = "rerun"  # type: ignore[assignment]
                self.controller.say(self.controller.rerun_line(offense))
                return
            message = self.controller.gave_up(offense)
            report.batt_crash = (offense.status, message)  # type: ignore[attr-defined]
            report.longrepr = visible.text(f"{offense.status}: {message}")
            return
        outcome = handoff.conclude(left, opts.timeout, opts.grace, where)
        if opts.keep_partial and outcome.status is not None and outcome.status[0] == "timeout":  # no frame left to read
            note = "; --batt-keep-partial keeps nothing of a hard stop (the worker was ended)"
            outcome.status, outcome.message = (outcome.status[0], outcome.status[1] + note), outcome.message + note
        if outcome.record is not None:
            self._use_record(report, outcome.record, visible.text(outcome.message))
            return
        report.batt_crash = outcome.status  # type: ignore[attr-defined]
        report.longrepr = visible.text(outcome.message)
