"""Run assembly: from pytest's config to the :class:`~pytest_batt.state.State` of this process.

Everything a run needs is read and checked here, before any sample runs, so that bad input
(an unknown task, a broken batt, a baseline of other data) stops the run with one line. The
controller reads the data, the baseline and the resumed file; a worker takes the controller's
selection file and resolved settings, or, on another host, reads the data on its side and
checks it is the same. A worker's own bad input reaches the controller marked
(:data:`WORKER_FAILED`), for :func:`worker_failure` to give its one line there.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import pytest

from . import battmodule, compare, files, gates, resume, results, rootdir, settings as settings_mod, sharding, verdict, workerspecs
from .state import State, load_batt_or_library
from .tasks import TaskSet, load_taskset, read_selection, select


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


WORKER_FAILED = "pytest-batt worker cannot run: "


def worker_failure(error_text: str) -> str:
    """One line for a worker that could not start, from execnet's remote traceback: pytest-batt's
    own message when it gave one (no batt or data on that side), else the exception's last line."""
    lines = [line.strip() for line in error_text.splitlines() if line.strip()]
    found = [line.split(WORKER_FAILED, 1)[1].strip() for line in lines if WORKER_FAILED in line]
    if found:
        return found[-1]
    return f"it could not start: {lines[-1] if lines else 'no error given'}"


def prepare(config: pytest.Config) -> Tuple[State, Optional[battmodule.BattModule]]:
    """Read and check everything a run needs, so that bad input stops it before any work.

    The batt is imported here on the controller only (to check it); workers import it lazily.
    The memory limit is chosen here too, from what this system can keep (isolation.capabilities).
    """
    state, batt = _prepare(config)
    if is_worker(config):
        workers, watchdog = int(getattr(config, "workerinput", {}).get("workercount", 1)), True
    else:
        watchdog = config.getoption("dist", "no") != "no"  # xdist's workers, each with its watchdog
        workers = max(1, len(config.getoption("tx", None) or [])) if watchdog else 1
    state.memory_plan(workers, watchdog)
    return state, batt


def _prepare(config: pytest.Config) -> Tuple[State, Optional[battmodule.BattModule]]:
    base_dir = str(config.invocation_params.dir)
    opts = _read_settings(config, base_dir)
    for path, option in ((opts.json_path, "--batt-json"), (opts.save_path, "--batt-save"), (opts.html_path, "--batt-html"),
                         (opts.submission_path, "--batt-submission")):
        if path and not is_worker(config):  # only the controller writes them (a sandboxed worker could not)
            files.check_writable(path, option)
    if opts.compare_fail and not opts.compare_path:
        raise ValueError("--batt-compare-fail needs a baseline: give --batt-compare PATH")
    if opts.checkpoint_minutes and not (opts.json_path or opts.resume_path):
        raise ValueError("--batt-checkpoint needs a file to write: give --batt-json PATH (or --batt-resume PATH)")
    if opts.resume_path and not opts.json_path:
        files.check_writable(opts.resume_path, "--batt-resume")
    if opts.profile_dir and not is_worker(config):
        from .profiling import prepare as prepare_profiles

        prepare_profiles(opts.profile_dir)
    for expr in opts.compare_fail:  # ini values have not been through the option's type
        gates.parse_gate(expr)
    workerinput = getattr(config, "workerinput", {})
    if workerinput.get("batt_tasks") and os.path.exists(workerinput["batt_tasks"]):
        # The controller's selection, already without test outputs: no dataset to read, nothing to select.
        blind, task_ids = read_selection(workerinput["batt_tasks"])
        state = State(opts, blind, task_ids, workerinput["batt_scratch"], hard_stop=True, worker_id=workerinput["workerid"],
                      skip=set(workerinput.get("batt_skip", ())), gpu_run=bool(workerinput.get("batt_gpu_run")))
        return state, None
    # A worker that cannot read the controller's selection file runs on another host: it resolves
    # --batt-data on its own side, for the task ids the controller sent (and checks their content).
    taskset, task_ids = _select(opts.data, base_dir, opts.tasks, allow_hidden=bool(opts.submission_path))
    earlier = _results_file(opts.durations_path, "--batt-durations") if opts.durations_path and not is_worker(config) else None
    shard = None if is_worker(config) else _shard(opts, taskset, task_ids, earlier)
    task_ids = shard.task_ids if shard is not None else task_ids
    # Items (and so the batt) see the tasks without their test outputs, in every mode.
    blind = taskset.without_test_outputs(task_ids)
    if is_worker(config):
        state = State(opts, blind, task_ids, workerinput["batt_scratch"], hard_stop=True, worker_id=workerinput["workerid"],
                      skip=set(workerinput.get("batt_skip", ())), gpu_run=bool(workerinput.get("batt_gpu_run")))
        check_worker(workerinput, state)
        # The controller's scratch folder is not on this host: this worker's notes stay here.
        os.makedirs(os.path.join(state.scratch, "logs"), exist_ok=True)
        return state, None
    baseline = _results_file(opts.compare_path, "--batt-compare") if opts.compare_path else None
    if baseline is not None:
        _check_baseline_data(baseline, taskset, task_ids, opts)
    # --collect-only runs nothing: importing the batt (maybe a huge module) would only cost.
    collect_only = config.getoption("collectonly", False)
    batt = None if collect_only else load_batt_or_library(opts)
    previous = _results_file(opts.resume_path, "--batt-resume") if opts.resume_path else None
    if previous is not None:
        resume.check(previous, str(opts.resume_path), batt.sha256() if batt else "", opts.timeout,
                     {tid: taskset.task_hash(tid) for tid in task_ids if tid in previous["tasks"]})
    state = State(
        opts, blind, task_ids, "" if collect_only else tempfile.mkdtemp(prefix="pytest-batt-"), _batt=batt, full_taskset=taskset,
        shard=shard, resume=previous, baseline=baseline,
        baseline_status=verdict.baseline_statuses(baseline) if baseline is not None else {},
        # the scheduler plans with them (whole tasks longest first, then samples)
        sample_seconds=sharding.sample_durations_from(earlier) if earlier is not None else None,
    )
    if state.scratch:
        os.makedirs(os.path.join(state.scratch, "logs"), exist_ok=True)
    return state, batt


def _results_file(path: str, option: str) -> Dict[str, Any]:
    """A results file an option names; its errors start with the option, as every option's do."""
    return results.load(path, where=f"{option} {path}")


def _select(data: str, base_dir: str, wanted: List[str], allow_hidden: bool = False) -> Tuple[TaskSet, List[str]]:
    taskset = load_taskset(data, base_dir, allow_hidden=allow_hidden, wanted=wanted)
    task_ids = select(taskset, wanted)
    return taskset.subset(task_ids), task_ids


def check_tx(config: pytest.Config) -> None:
    """One line instead of xdist's INTERNALERROR when --tx workers elsewhere would get a path value it cannot send."""
    remote = workerspecs.remote_tx(config.getoption("tx", None) or []) if config.getoption("dist", "no") != "no" else []
    if not remote:
        return
    here = config.invocation_params.dir
    for option, value in rootdir.detached_values([str(a) for a in config.invocation_params.args], lambda p: (here / p).exists()):
        raise pytest.UsageError(f"{option} {value}: with --tx {remote[0]} write it as one word, {option}={value} "
                                "(xdist takes a separate value that names a local path for a test path to rsync)")


def _read_settings(config: pytest.Config, base_dir: str) -> settings_mod.Settings:
    """A worker takes the controller's resolved values (its ini file may not be there); a controller reads its own."""
    sent = getattr(config, "workerinput", {}).get("batt_settings")
    if sent is not None:
        return settings_mod.from_controller(sent, base_dir)
    return settings_mod.read(config.getoption, config.getini, base_dir)


def _shard(opts: settings_mod.Settings, taskset: Any, task_ids: List[str],
           earlier: Optional[Dict[str, Any]]) -> Optional[sharding.Shard]:
    """``earlier``: the --batt-durations results file, read."""
    if opts.shard is None:
        return None
    durations, name = None, ""
    if earlier is not None and opts.durations_path:  # (always both: the path is what was read)
        durations = sharding.durations_from(earlier)
        name = os.path.relpath(opts.durations_path, opts.base_dir)
        name = opts.durations_path if name.startswith("..") else name
    estimates = {tid: sharding.size_estimate(taskset.raw[tid]) for tid in task_ids}
    return sharding.plan(task_ids, opts.shard, estimates, durations, name)


def check_worker(workerinput: Dict[str, Any], state: State) -> None:
    """A worker that read the data on its side: the same tasks (as workers see them) as the controller's."""
    expected = workerinput.get("batt_data_sha256")
    if expected and state.taskset.content_hash(state.task_ids) != expected:
        raise ValueError(f"--batt-data {state.settings.data!r} has other content for the selected tasks here than on the controller")


def _check_baseline_data(baseline: Dict[str, Any], taskset: Any, task_ids: List[str], opts: Any) -> None:
    """Refuse a baseline of other task data before running anything, not after."""
    current = {
        "batt": {}, "config": {}, "session": {}, "machine": {},
        "data": {"name": opts.data, "sha256": taskset.content_hash(task_ids)},
        "tasks": {tid: {"sha256": taskset.task_hash(tid)} for tid in task_ids if tid in baseline["tasks"]},
    }
    compare.check_data(baseline, current, opts.compare_any, override="--batt-compare-any")
