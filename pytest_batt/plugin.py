"""The pytest11 entry point: options, configuration and thin hooks that call into plain modules.

Without ``--batt`` every hook here returns at once: a run that does not ask for the plugin
is not changed by it, and does not pay for it either: every test run of an environment that
has pytest-batt installed imports this module, so it imports only the light ``options`` and
``nodeids`` at the top. The modules that run a batt (tasks, runner, results, and numpy
behind them) are imported where they are used, which is only with ``--batt``
(``tests/test_plugin.py`` checks what an idle import loads).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Any, Dict, Generator, List, Optional, Set, Tuple

import pytest

from . import nodeids, options

if TYPE_CHECKING:
    from . import battmodule, compare, resume, results, settings as settings_mod, sharding
    from .items import State
    from .tasks import TaskSet

_IMPORTED = time.monotonic()


def process_age() -> float:
    """Seconds since this process started: the whole run's wall time, start-up included."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 3)
    except (OSError, ValueError, IndexError, AttributeError):
        return round(time.monotonic() - _IMPORTED, 3)  # not Linux: from when pytest loaded this plugin

# Set to 1 for xdist workers (unless the user set them): one worker per core already, so BLAS
# or OpenMP threads inside each would oversubscribe the cores. benchmarks/ sets the same.
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")

# pytest-timeout prints every other thread's stack on a timeout, between two "Timeout" banners;
# in a worker those are execnet's threads, noise beside the record's own message.
# Compiled at its first use (re caches it), not in every pytest run that imports the plugin.
_TIMEOUT_DUMP = r"^\++ Timeout \++$\n?|^~+ Stack of [^\n]* ~+\n(?:  [^\n]*\n?)*"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batt", "ARC batt runs (pytest-batt)")
    h = options.HELP
    group.addoption("--batt", action="append", metavar="ID[,ID...]", dest="batt", default=None, help=h["batt"])
    group.addoption("--batt-data", metavar="NAME_OR_PATH", dest="batt_data", default=None, help=h["batt_data"])
    group.addoption("--batt-module", metavar="MODULE_OR_PATH", dest="batt_module", default=None, help=h["batt_module"])
    group.addoption("--batt-timeout", metavar="SECONDS", dest="batt_timeout", default=None, type=options.positive_seconds,
                    help=h["batt_timeout"])
    group.addoption("--batt-grace", metavar="SECONDS", dest="batt_grace", default=None, type=options.nonnegative_seconds,
                    help=h["batt_grace"])
    group.addoption("--batt-json", metavar="PATH", dest="batt_json", default=None, help=h["batt_json"])
    group.addoption("--batt-max-memory", metavar="MB", dest="batt_max_memory", default=None, type=options.positive_megabytes,
                    help=h["batt_max_memory"])
    group.addoption("--batt-save", metavar="PATH", dest="batt_save", default=None, help=h["batt_save"])
    group.addoption("--batt-compare", metavar="PATH", dest="batt_compare", default=None, help=h["batt_compare"])
    group.addoption("--batt-compare-fail", metavar="EXPR", dest="batt_compare_fail", action="append", default=None, type=_gate_type,
                    help=h["batt_compare_fail"])
    group.addoption("--batt-compare-any", dest="batt_compare_any", action="store_true", default=None, help=h["batt_compare_any"])
    group.addoption("--batt-resume", metavar="PATH", dest="batt_resume", default=None, help=h["batt_resume"])
    group.addoption("--batt-resume-retry", dest="batt_resume_retry", action="store_true", default=None, help=h["batt_resume_retry"])
    group.addoption("--batt-checkpoint", metavar="MINUTES", dest="batt_checkpoint", default=None, type=options.positive_minutes,
                    help=h["batt_checkpoint"])
    group.addoption("--batt-progress", metavar="MINUTES", dest="batt_progress", default=None, type=options.nonnegative_minutes,
                    help=h["batt_progress"])
    group.addoption("--batt-shard", metavar="K/N", dest="batt_shard", default=None, type=options.shard_spec, help=h["batt_shard"])
    group.addoption("--batt-durations", metavar="PATH", dest="batt_durations", default=None, help=h["batt_durations"])
    group.addoption("--batt-html", metavar="PATH", dest="batt_html", default=None, help=h["batt_html"])
    group.addoption("--batt-submission", metavar="PATH", dest="batt_submission", default=None, help=h["batt_submission"])
    for name in ("batt_data", "batt_module", "batt_timeout", "batt_grace", "batt_json", "batt_max_memory", "batt_save", "batt_compare",
                 "batt_resume", "batt_checkpoint", "batt_progress", "batt_shard", "batt_durations", "batt_html", "batt_submission"):
        parser.addini(name, h[name])
    parser.addini("batt_compare_fail", h["batt_compare_fail"], type="linelist")
    parser.addini("batt_compare_any", h["batt_compare_any"], type="bool", default=False)
    parser.addini("batt_resume_retry", h["batt_resume_retry"], type="bool", default=False)


def _gate_type(value: str) -> str:
    """argparse type: a bad gate expression is a usage error before anything runs."""
    from . import compare

    try:
        compare.parse_gate(value)
    except compare.GateError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: List[str]) -> None:
    if getattr(early_config.known_args_namespace, "batt", None):
        _reroot(early_config)


def _reroot(config: pytest.Config) -> None:
    """Undo pytest taking ``--batt-module PATH``'s value for a test path.

    pytest picks the rootdir and the ini file before it loads plugins, so the value of
    ``--batt-module /elsewhere/batt.py`` (or ``--batt-data DIR``) counts as a path to test:
    the rootdir moves there, node ids print as ``../batt/...`` and the project's own ini
    file is not read. Here the choice is made again with the real test paths. pytest offers
    no public way to do that, so this touches its private attributes, in this one place
    (``tests/test_plugin.py`` fails loudly when pytest changes them).
    """
    ns = config.known_args_namespace
    if ns.rootdir or ns.inifilename:
        return  # the user chose
    try:
        from _pytest.config.findpaths import determine_setup

        rootpath, inipath, inicfg, ignored = determine_setup(
            inifile=None, override_ini=ns.override_ini, args=ns.file_or_dir,
            rootdir_cmd_arg=None, invocation_dir=config.invocation_params.dir,
        )
    except (ImportError, TypeError, AttributeError):
        return  # another pytest: keep its choice (the test of this function says so loudly)
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    if inipath != config.inipath and inicfg.get("addopts") is not None:
        raise pytest.UsageError(
            f"pytest read an option's value as a test path and so did not read {inipath} (it has addopts); "
            "write the --batt-* options as --batt-module=PATH"
        )
    old_cut = str(config.inipath.parent if config.inipath else config.rootpath)
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
    config._ignored_config_files = ignored
    config._inicache.clear()
    config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    if ns.confcutdir == old_cut:
        ns.confcutdir = str(inipath.parent if inipath else rootpath)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, Any, Any]:
    """With --batt and no -n, distribute: a crash or hard stop then ends a worker, not the session."""
    if (
        config.getoption("batt", None)
        and not _is_worker(config)
        and config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses", None) is None
        and not config.getoption("collectonly", False)
        and not config.getoption("usepdb", False)
    ):
        if not config.getoption("tx", None):  # with --tx the user chose the workers (-n would replace them)
            config.option.numprocesses = "auto"
        if config.getoption("dist", "no") == "no":
            config.option.dist = "load"
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("batt", None):
        return
    config.addinivalue_line("markers", "batt: an ARC sample run by pytest-batt")
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("--batt needs pytest-timeout, which is disabled (-p no:timeout)")
    from . import battmodule, battrun
    from .isolation import processes
    from .items import STATE

    try:
        state, batt = _prepare(config)
    except (ValueError, battmodule.BattLoadError) as e:  # BattDataError, ResultsError, GateError, CompareError, ResumeError too
        # A worker's error reaches the controller as a remote traceback; the mark lets it say one line.
        where = f"{battrun.WORKER_FAILED}in {config.invocation_params.dir}: " if _is_worker(config) else ""
        raise pytest.UsageError(where + str(e)) from None
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = []  # --batt without paths: collect the batt items only
    config.stash[STATE] = state
    config.pluginmanager.register(Collection(), "batt-collection")
    if _is_worker(config) or config.getoption("dist", "no") == "no":
        processes.make_subreaper()  # so that what a batt leaves running can be found and ended
    if _is_worker(config):
        try:  # now, not at the first sample: the import is the batt's own, not a sample's
            state.batt()
        except battmodule.BattLoadError as e:
            # The controller imported it: this worker's side (another directory or host) differs.
            raise pytest.UsageError(f"{battrun.WORKER_FAILED}in {config.invocation_params.dir}: {e}") from None
        # What a worker holds now (pytest, xdist, the batt module and what it imported) lives until
        # the worker exits: leave it out of every later collection, pytest's own at exit included
        # (measured: ~0.15 CPU s less per worker on a one-task run).
        gc.freeze()
    if not _is_worker(config) and not config.getoption("collectonly", False):
        _check_tx(config)
        if config.getoption("dist", "no") != "no":
            # One worker per core already: BLAS threads inside each would oversubscribe the cores.
            for var in BLAS_THREAD_VARIABLES:
                os.environ.setdefault(var, "1")
        controller = Controller(config, state, batt)
        config.pluginmanager.register(controller, "batt-controller")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistHooks(controller), "batt-xdist")


def _prepare(config: pytest.Config) -> Tuple[State, Optional[battmodule.BattModule]]:
    """Read and check everything a run needs, so that bad input stops it before any work.

    The batt is imported here on the controller only (to check it); workers import it lazily.
    """
    from . import battmodule, battrun, compare, resume, results, settings as settings_mod, sharding
    from .items import State
    from .tasks import read_selection

    base_dir = str(config.invocation_params.dir)
    opts = _read_settings(config, base_dir)
    for path, option in ((opts.json_path, "--batt-json"), (opts.save_path, "--batt-save"), (opts.html_path, "--batt-html"),
                         (opts.submission_path, "--batt-submission")):
        if path:
            settings_mod.check_writable(path, option)
    if opts.compare_fail and not opts.compare_path:
        raise ValueError("--batt-compare-fail needs a baseline: give --batt-compare PATH")
    if opts.checkpoint_minutes and not (opts.json_path or opts.resume_path):
        raise ValueError("--batt-checkpoint needs a file to write: give --batt-json PATH (or --batt-resume PATH)")
    if opts.resume_path and not opts.json_path:
        settings_mod.check_writable(opts.resume_path, "--batt-resume")
    for expr in opts.compare_fail:  # ini values have not been through the option's type
        compare.parse_gate(expr)
    workerinput = getattr(config, "workerinput", {})
    if workerinput.get("batt_tasks") and os.path.exists(workerinput["batt_tasks"]):
        # The controller's selection, already without test outputs: no dataset to read, nothing to select.
        blind, task_ids = read_selection(workerinput["batt_tasks"])
        state = State(opts, blind, task_ids, workerinput["batt_scratch"], hard_stop=True, worker_id=workerinput["workerid"],
                      skip=set(workerinput.get("batt_skip", ())))
        return state, None
    # A worker that cannot read the controller's selection file runs on another host: it resolves
    # --batt-data on its own side, for the task ids the controller sent (and checks their content).
    taskset, task_ids = _select(opts.data, base_dir, opts.tasks, allow_hidden=bool(opts.submission_path))
    earlier = results.load(opts.durations_path) if opts.durations_path and not _is_worker(config) else None
    shard = None if _is_worker(config) else _shard(opts, taskset, task_ids, earlier)
    task_ids = shard.task_ids if shard is not None else task_ids
    # Items (and so the batt) see the tasks without their test outputs, in every mode.
    blind = taskset.without_test_outputs(task_ids)
    if _is_worker(config):
        state = State(opts, blind, task_ids, workerinput["batt_scratch"], hard_stop=True, worker_id=workerinput["workerid"],
                      skip=set(workerinput.get("batt_skip", ())))
        _check_worker(workerinput, state)
        # The controller's scratch folder is not on this host: this worker's notes stay here.
        os.makedirs(os.path.join(state.scratch, "logs"), exist_ok=True)
        return state, None
    baseline = results.load(opts.compare_path) if opts.compare_path else None
    if baseline is not None:
        _check_baseline_data(baseline, taskset, task_ids, opts)
    # --collect-only runs nothing: importing the batt (maybe a huge module) would only cost.
    collect_only = config.getoption("collectonly", False)
    batt = None if collect_only else battmodule.load_batt(opts.module, base_dir)
    state = State(opts, blind, task_ids, "" if collect_only else tempfile.mkdtemp(prefix="pytest-batt-"), _batt=batt, full_taskset=taskset)
    state.shard = shard
    if earlier is not None:  # the scheduler plans with them (whole tasks longest first, then samples)
        state.sample_seconds = sharding.sample_durations_from(earlier)
    if opts.resume_path:
        state.resume = results.load(opts.resume_path)
        resume.check(state.resume, opts.resume_path, batt.sha256() if batt else "", opts.timeout,
                     {tid: taskset.task_hash(tid) for tid in task_ids if tid in state.resume["tasks"]})
    if baseline is not None:
        state.baseline = baseline
        state.baseline_status = battrun.baseline_statuses(baseline)
    if state.scratch:
        os.makedirs(os.path.join(state.scratch, "logs"), exist_ok=True)
    return state, batt


def _select(data: str, base_dir: str, wanted: List[str], allow_hidden: bool = False) -> Tuple[TaskSet, List[str]]:
    from .tasks import load_taskset, select

    taskset = load_taskset(data, base_dir, allow_hidden=allow_hidden, wanted=wanted)
    task_ids = select(taskset, wanted)
    return taskset.subset(task_ids), task_ids


def _check_tx(config: pytest.Config) -> None:
    """One line instead of xdist's INTERNALERROR when --tx workers elsewhere would get a path value it cannot send."""
    from . import settings as settings_mod

    remote = settings_mod.remote_tx(config.getoption("tx", None) or []) if config.getoption("dist", "no") != "no" else []
    if not remote:
        return
    here = config.invocation_params.dir
    for option, value in settings_mod.detached_values([str(a) for a in config.invocation_params.args], lambda p: (here / p).exists()):
        raise pytest.UsageError(f"{option} {value}: with --tx {remote[0]} write it as one word, {option}={value} "
                                "(xdist takes a separate value that names a local path for a test path to rsync)")


def _read_settings(config: pytest.Config, base_dir: str) -> settings_mod.Settings:
    """A worker takes the controller's resolved values (its ini file may not be there); a controller reads its own."""
    from . import settings as settings_mod

    sent = getattr(config, "workerinput", {}).get("batt_settings")
    if sent is not None:
        return settings_mod.from_controller(sent, base_dir)
    return settings_mod.read(config.getoption, config.getini, base_dir)


def _shard(opts: settings_mod.Settings, taskset: Any, task_ids: List[str],
           earlier: Optional[Dict[str, Any]]) -> Optional[sharding.Shard]:
    """``earlier``: the --batt-durations results file, read."""
    from . import sharding

    if opts.shard is None:
        return None
    durations, name = None, ""
    if earlier is not None and opts.durations_path:  # (always both: the path is what was read)
        durations = sharding.durations_from(earlier)
        name = os.path.relpath(opts.durations_path, opts.base_dir)
        name = opts.durations_path if name.startswith("..") else name
    estimates = {tid: sharding.size_estimate(taskset.raw[tid]) for tid in task_ids}
    return sharding.plan(task_ids, opts.shard, estimates, durations, name)


def _check_worker(workerinput: Dict[str, Any], state: State) -> None:
    """A worker that read the data on its side: the same tasks (as workers see them) as the controller's."""
    expected = workerinput.get("batt_data_sha256")
    if expected and state.taskset.content_hash(state.task_ids) != expected:
        raise ValueError(f"--batt-data {state.settings.data!r} has other content for the selected tasks here than on the controller")


def _check_baseline_data(baseline: Dict[str, Any], taskset: Any, task_ids: List[str], opts: Any) -> None:
    """Refuse a baseline of other task data before running anything, not after."""
    from . import compare

    current = {
        "batt": {}, "config": {}, "session": {}, "machine": {},
        "data": {"name": opts.data, "sha256": taskset.content_hash(task_ids)},
        "tasks": {tid: {"sha256": taskset.task_hash(tid)} for tid in task_ids if tid in baseline["tasks"]},
    }
    compare.check_data(baseline, current, opts.compare_any, override="--batt-compare-any")


class Collection:
    """Adds one collector per selected task to what the session collects (both sides)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        from .items import STATE, make_tasks

        rep = yield
        if isinstance(collector, pytest.Session) and rep.passed:
            state = collector.config.stash[STATE]
            rep.result = list(rep.result) + make_tasks(collector, state.task_ids)
        return rep

    def pytest_collection_modifyitems(self, config: pytest.Config, items: List[pytest.Item]) -> None:
        """With --batt-resume: the samples the file already records do not run again."""
        from .items import STATE

        skip = config.stash[STATE].skip
        if skip:
            taken = [item for item in items if item.nodeid in skip]
            if taken:
                config.hook.pytest_deselected(items=taken)
                items[:] = [item for item in items if item.nodeid not in skip]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        from .items import BattSample

        rep = yield
        if isinstance(item, BattSample) and rep.when == "call" and item.record is not None:
            # xdist sends report.__dict__ through execnet, whose serializer walks every object of
            # the record in Python (~1.5 CPU s per worker on 44 tasks); one JSON string it copies.
            rep.batt_record = json.dumps(item.record, separators=(",", ":")) if _is_worker(item.config) else item.record
            if item.record["status"] == "timeout":
                rep.sections = [(title, re.sub(_TIMEOUT_DUMP, "", text, flags=re.MULTILINE)) for title, text in rep.sections]
                rep.sections = [(title, text) for title, text in rep.sections if text.strip()]
            item.record = None  # the report carries it on; items live as long as the session
        if isinstance(item, BattSample):
            rep.sections = [(title, _tail(text)) for title, text in rep.sections]
        return rep


MAX_SECTION = 20_000


def _tail(text: str) -> str:
    """A batt that prints megabytes must not make every report (and the controller) that big."""
    if len(text) <= MAX_SECTION:
        return text
    return f"[{len(text) - MAX_SECTION} characters cut]\n" + text[-MAX_SECTION:]


class Controller:
    """Controller-side hooks: gather records, write results, print the summary."""

    def __init__(self, config: pytest.Config, state: State, batt: Optional[battmodule.BattModule]) -> None:
        from . import battrun, resume

        self.config = config
        self.state = state
        self.batt = batt
        self.run = battrun.BattRun(state.full_taskset or state.taskset, state.task_ids, spill_dir=state.scratch or None)
        self.output_notes: List[str] = []
        self.workers = 0
        self.results: Optional[Dict[str, Any]] = None
        self.comparison: Optional[compare.Comparison] = None
        self.breaches: List[Tuple[str, str]] = []
        self.save_note: Optional[str] = None
        self.write_errors: List[str] = []
        self._properties: Dict[str, List[Tuple[str, Any]]] = {}
        self._selection: Optional[str] = None
        self.taken: Optional[resume.Taken] = None
        self._batt_sha256: Optional[str] = None
        self._data_sha256 = ""
        self._last_checkpoint = self._last_progress = time.monotonic()
        if state.resume is not None:
            self.taken = resume.take(state.resume, self.run.plan, state.settings.resume_retry)
            self.run.records.update(self.taken.records)
            self.run.whole.update(self.taken.whole)
            self.run.earlier_s = resume.earlier_seconds(state.resume)
            state.skip = self.taken.skip
        n = len(self.run.plan)
        if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "maxworkerrestart", "") is None:
            # xdist's default (4 x workers) would leave samples unrun after a few crashing batts;
            # each sample can end at most one worker (a crash, a hard stop or a leaked thread).
            config.option.maxworkerrestart = str(n + 8)

    def _all_selected(self) -> List[str]:
        """Every selected task; with --batt-shard, all shards' (so the data hash is the same in each)."""
        return self.state.shard.selection if self.state.shard is not None else self.state.task_ids

    def selection_file(self) -> Optional[str]:
        """The selected tasks, written once for the workers: they then read no dataset."""
        if self._selection is None and self.state.scratch:
            from .tasks import write_selection

            self._selection = os.path.join(self.state.scratch, "tasks.json")
            write_selection(self._selection, self.state.taskset, self.state.task_ids)
        return self._selection

    def pytest_report_header(self, config: pytest.Config) -> List[str]:
        from . import report, resume

        opts = self.state.settings
        lines = [f"batt: {len(self.state.task_ids)} task(s), {len(self.run.plan)} samples from {opts.data}; "
                 f"module {opts.module}; timeout {opts.timeout:g}s per call"]
        if self.state.shard is not None:
            lines.append(self.state.shard.header_line())
        if self.batt is not None:
            lines += report.import_lines(self.batt.import_seconds, self.batt.import_output)
        if self.taken is not None:
            lines.append(resume.summary(self.taken, len(self.run.plan) - self.taken.samples, str(opts.resume_path)))
        if config.getoption("dist", "no") == "no" and not config.getoption("collectonly", False):
            lines.append("batt: running in this process (-n 0 or no xdist): a batt that ignores the timeout "
                         "or crashes cannot be stopped without ending the session; use -n 1 or more to be protected")
        return lines

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and report.nodeid.startswith(nodeids.PREFIX) and "::" not in report.nodeid:
            self.run.task_failed(report.nodeid[len(nodeids.PREFIX):], str(report.longrepr))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.run.collected(item.nodeid for item in session.items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, Any, Any]:
        """The controller's verdict, before every other plugin (terminal, junitxml, --lf, -x) sees the report."""
        from . import battrun, outputs, verdict

        record = getattr(report, "batt_record", None)
        if isinstance(record, str):  # from a worker
            record = json.loads(record)
        if record is not None:
            judged = self.run.add(report.nodeid, record)
            if judged is not None:
                report.batt_record = judged  # type: ignore[attr-defined]
                draw = outputs.drawer(self.run, report.nodeid, judged, self.config.get_verbosity() > 0)
                verdict.apply(report, judged, self.state.baseline_status.get(report.nodeid), draw)
                self._properties[report.nodeid] = verdict.properties(judged)
                self._tick()
        else:
            self._no_record(report)
            if report.when == "teardown" and report.nodeid in self._properties:
                # junitxml writes <property> elements from the teardown report
                report.user_properties = verdict.merge(report.user_properties, self._properties.pop(report.nodeid))
        try:
            return (yield)
        finally:
            kept = getattr(report, "batt_record", None)
            if isinstance(kept, dict):  # the terminal keeps every report: not with its record's scores
                report.batt_record = battrun.slim(kept)  # type: ignore[attr-defined]

    def _no_record(self, report: pytest.TestReport) -> None:
        if str(report.when) == "???":  # xdist's report of a crashed item: not a phase pytest's type knows
            status, message = getattr(report, "batt_crash", ("crash", str(report.longrepr)))
            opts = self.state.settings
            self.run.add_failure(report.nodeid, status, message, seconds=opts.timeout + opts.grace if status == "timeout" else 0.0)
        elif report.failed and report.when in ("setup", "call"):
            message = str(report.longrepr).strip().splitlines()[-1][:500]
            if report.nodeid.endswith("::task"):
                self.run.task_failed(report.nodeid[len(nodeids.PREFIX):].split("::")[0], message)
            else:
                self.run.add_failure(report.nodeid, "error", message)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            self._finish(session, exitstatus)
        finally:
            shutil.rmtree(self.state.scratch, ignore_errors=True)

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        from . import compare, outputs

        self.run.finish()
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        opts = self.state.settings
        self.results = self.run.results(self._header(), interrupted, process_age())
        if self.state.baseline is not None:
            self.comparison = compare.compare(self.state.baseline, self.results, allow_other_data=opts.compare_any)
            self.results["comparison"] = compare.to_json(self.comparison)
            self.breaches = compare.breaches([compare.parse_gate(e) for e in opts.compare_fail], self.comparison)
            if self.breaches and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.taken is not None and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self.results["session"]["complete"]:
            session.exitstatus = pytest.ExitCode.OK  # the file had it all: nothing to run is no failure
        out = self._results_path()
        if out:
            self._write(session, "--batt-json" if opts.json_path else "--batt-resume", out)
        if opts.save_path:
            if self.results["session"]["complete"] or not os.path.exists(opts.save_path):
                if self._write(session, "--batt-save", opts.save_path):
                    self.save_note = f"baseline saved to {opts.save_path}"
            else:
                self.save_note = f"baseline {opts.save_path} not replaced: this run is incomplete"
        for option, path, make in (("--batt-html", opts.html_path, outputs.write_html),
                                   ("--batt-submission", opts.submission_path, outputs.write_submission)):
            if path:
                try:
                    self.output_notes.append(make(path, self.run, self.results))
                except OSError as e:
                    self.write_errors.append(f"{option} {path}: not written ({e.strerror or e})")
                    session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def _header(self) -> Dict[str, Any]:
        from . import report, results

        opts = self.state.settings
        if self._batt_sha256 is None:
            self._batt_sha256 = self.batt.sha256() if self.batt else ""
            self._data_sha256 = self.run.taskset.content_hash(self._all_selected())
        head = results.header(
            batt_module=opts.module, batt_sha256=self._batt_sha256, data_name=opts.data,
            data_sha256=self._data_sha256, timeout_s=opts.timeout, workers=self.workers,
        )
        if self.state.shard is not None:  # what `pytest-batt merge` checks and rebuilds from
            head["config"]["shard"] = self.state.shard.to_json()
        if self.batt is not None:
            head["batt"].update(import_s=self.batt.import_seconds, import_output=report.clip(self.batt.import_output, 2000))
        return head

    def _results_path(self) -> Optional[str]:
        opts = self.state.settings
        return opts.json_path or opts.resume_path

    def _tick(self) -> None:
        """Long runs: a progress line every few minutes, and a checkpoint file to resume from."""
        from . import resume, results

        opts = self.state.settings
        now = time.monotonic()
        if opts.progress_minutes and now - self._last_progress >= opts.progress_minutes * 60:
            self._last_progress = now
            # This run's samples only: those taken from a resumed file cost no time, and would skew the rate.
            selected = [n for n in self.run._selected() if n not in self.state.skip]
            done = sum(1 for n in selected if n in self.run.records)
            total = len(selected)
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                tr.write_line(resume.progress(done, total, now - self.run.started))
        path = self._results_path()
        if opts.checkpoint_minutes and path and now - self._last_checkpoint >= opts.checkpoint_minutes * 60:
            self._last_checkpoint = now
            head = self._header()
            try:
                results.write(path, self.run.results(head, interrupted=True, process_s=process_age()))
            except OSError:
                pass  # the final write says so, in one line

    def _write(self, session: pytest.Session, option: str, path: str) -> bool:
        """A results file that cannot be written costs that file, not the summary: one line, exit 4."""
        from . import results

        assert self.results is not None
        try:
            results.write(path, self.results)
            return True
        except OSError as e:
            self.write_errors.append(f"{option} {path}: results not written ({e.strerror or e})")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return False

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from . import compare, report

        if self.results is None:
            return
        terminalreporter.section("batt summary")
        for line in report.summary_lines(self.results, verbose=self.config.get_verbosity() > 0):
            terminalreporter.write_line(line)
        if self.state.settings.json_path and not any(e.startswith("--batt-json") for e in self.write_errors):
            terminalreporter.write_line(f"results written to {self.state.settings.json_path}")
        for line in self.output_notes:
            terminalreporter.write_line(line)
        for line in self.write_errors:
            terminalreporter.write_line(line, red=True)
        if self.save_note:
            terminalreporter.write_line(self.save_note)
        if self.comparison is not None:
            terminalreporter.section("batt comparison")
            for line in compare.render(self.comparison):
                terminalreporter.write_line(line)
            for line in report.gate_lines(self.state.settings.compare_fail, self.breaches):
                terminalreporter.write_line(line, red=bool(self.breaches), green=not self.breaches)


def _spec(node: Any) -> str:
    """How the user wrote the worker's gateway (``popen``, ``ssh=host//python=...``)."""
    spec = str(getattr(node.gateway.spec, "_spec", None) or node.gateway.spec)
    return re.sub(r"^execmodel=[^/]*//", "", spec)  # xdist adds it; the user did not write it


class XdistHooks:
    """Hooks that exist only when pytest-xdist is loaded, so -p no:xdist keeps working."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.collected: Set[str] = set()  # gateway ids of the workers that started and collected
        self._blind_sha256: Optional[str] = None

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None  # the user chose another mode: leave it to xdist
        from .scheduling import BattScheduling

        return BattScheduling(config, log, seconds=self.controller.state.sample_seconds)

    def pytest_configure_node(self, node: Any) -> None:
        from . import settings as settings_mod

        state = self.controller.state
        node.workerinput["batt_scratch"] = state.scratch
        node.workerinput["batt_skip"] = sorted(state.skip)
        node.workerinput["batt_tasks"] = self.controller.selection_file()
        # Resolved here, sent as builtins: a worker elsewhere has neither our ini file nor our files.
        node.workerinput["batt_settings"] = settings_mod.for_workers(state.settings, state.task_ids)
        if self._blind_sha256 is None:  # once, not again for every replacement worker
            self._blind_sha256 = state.taskset.content_hash(state.task_ids)
        node.workerinput["batt_data_sha256"] = self._blind_sha256
        self.controller.workers = max(self.controller.workers, node.workerinput.get("workercount", 1))

    def pytest_xdist_node_collection_finished(self, node: Any, ids: List[str]) -> None:
        self.collected.add(node.gateway.id)
        self.controller.run.collected(ids)

    @staticmethod
    def _use_record(report: pytest.TestReport, record: results.SampleRecord, message: str) -> None:
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
        from . import battrun

        if error is not None and not self.collected:
            raise pytest.UsageError(f"worker {node.gateway.id} ({_spec(node)}): {battrun.worker_failure(str(error))}")

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        from .isolation import handoff

        node = getattr(report, "node", None)
        worker = node.gateway.id if node is not None else "?"
        fspath, _, domain = crashitem.partition("::")
        report.location = (fspath, None, f"{fspath[len(nodeids.PREFIX):]}::{domain}")
        scratch = self.controller.state.scratch
        opts = self.controller.state.settings
        # A worker opens its stack file before its first batt call; when the controller cannot see
        # it, the worker's scratch directory is its host's own (another machine), not ours.
        left = handoff.read(scratch, worker, crashitem, assume_shared=node is None)
        where = worker if left.shared else f"{worker} ({_spec(node)})"
        outcome = handoff.conclude(left, opts.timeout, opts.grace, where)
        if outcome.record is not None:
            self._use_record(report, outcome.record, outcome.message)
            return
        report.batt_crash = outcome.status  # type: ignore[attr-defined]
        report.longrepr = outcome.message
