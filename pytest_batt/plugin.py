"""The pytest11 entry point: options, configuration and thin hooks that call into plain modules.

Without ``--batt`` every hook here returns at once: a run that does not ask for the plugin
is not changed by it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from typing import Any, Dict, Generator, List, Optional, Tuple

import pytest

from . import compare, processes, report, results, runner, session, settings as settings_mod
from . import outputs, verdict, watchdog
from .items import STATE, BattSample, State, handoff_path, make_tasks
from .tasks import load_taskset, select

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

# pytest-timeout prints every other thread's stack on a timeout; in a worker those are
# execnet's threads, noise beside the record's own message.
_TIMEOUT_DUMP = re.compile(r"~+ Stack of [^\n]* ~+\n(?:  [^\n]*\n?)*")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batt", "ARC batt runs (pytest-batt)")
    h = settings_mod.HELP
    group.addoption("--batt", action="append", metavar="ID[,ID...]", dest="batt", default=None, help=h["batt"])
    group.addoption("--batt-data", metavar="NAME_OR_PATH", dest="batt_data", default=None, help=h["batt_data"])
    group.addoption("--batt-module", metavar="MODULE_OR_PATH", dest="batt_module", default=None, help=h["batt_module"])
    group.addoption("--batt-timeout", metavar="SECONDS", dest="batt_timeout", default=None, type=settings_mod.positive_seconds, help=h["batt_timeout"])
    group.addoption("--batt-grace", metavar="SECONDS", dest="batt_grace", default=None, type=settings_mod.nonnegative_seconds, help=h["batt_grace"])
    group.addoption("--batt-json", metavar="PATH", dest="batt_json", default=None, help=h["batt_json"])
    group.addoption("--batt-max-memory", metavar="MB", dest="batt_max_memory", default=None, type=settings_mod.positive_megabytes, help=h["batt_max_memory"])
    group.addoption("--batt-save", metavar="PATH", dest="batt_save", default=None, help=h["batt_save"])
    group.addoption("--batt-compare", metavar="PATH", dest="batt_compare", default=None, help=h["batt_compare"])
    group.addoption("--batt-compare-fail", metavar="EXPR", dest="batt_compare_fail", action="append", default=None, type=_gate_type, help=h["batt_compare_fail"])
    group.addoption("--batt-compare-any", dest="batt_compare_any", action="store_true", default=None, help=h["batt_compare_any"])
    group.addoption("--batt-html", metavar="PATH", dest="batt_html", default=None, help=h["batt_html"])
    group.addoption("--batt-submission", metavar="PATH", dest="batt_submission", default=None, help=h["batt_submission"])
    for name in ("batt_data", "batt_module", "batt_timeout", "batt_grace", "batt_json", "batt_max_memory", "batt_save", "batt_compare",
                 "batt_html", "batt_submission"):
        parser.addini(name, h[name])
    parser.addini("batt_compare_fail", h["batt_compare_fail"], type="linelist")
    parser.addini("batt_compare_any", h["batt_compare_any"], type="bool", default=False)


def _gate_type(value: str) -> str:
    """argparse type: a bad gate expression is a usage error before anything runs."""
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
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg  # type: ignore[attr-defined]
    config._ignored_config_files = ignored  # type: ignore[attr-defined]
    config._inicache.clear()  # type: ignore[attr-defined]
    config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))  # type: ignore[attr-defined]
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
        config.option.numprocesses = "auto"
        config.option.dist = "load"
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("batt", None):
        return
    config.addinivalue_line("markers", "batt: an ARC sample run by pytest-batt")
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("--batt needs pytest-timeout, which is disabled (-p no:timeout)")
    try:
        state, batt = _prepare(config)
    except (ValueError, runner.BattLoadError) as e:  # BattDataError, ResultsError, GateError, CompareError too
        raise pytest.UsageError(str(e)) from None
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = []  # --batt without paths: collect the batt items only
    config.stash[STATE] = state
    config.pluginmanager.register(Collection(), "batt-collection")
    if _is_worker(config) or config.getoption("dist", "no") == "no":
        processes.make_subreaper()  # so that what a batt leaves running can be found and ended
    if _is_worker(config):
        try:  # now, not at the first sample: the import is the batt's own, not a sample's
            state.batt()
        except runner.BattLoadError:
            pass  # each sample reports it in one line
    if not _is_worker(config) and not config.getoption("collectonly", False):
        if config.getoption("dist", "no") != "no":
            # One worker per core already: BLAS threads inside each would oversubscribe the cores.
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
                os.environ.setdefault(var, "1")
        controller = Controller(config, state, batt)
        config.pluginmanager.register(controller, "batt-controller")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistHooks(controller), "batt-xdist")


def _prepare(config: pytest.Config) -> Tuple[State, Optional[runner.BattModule]]:
    """Read and check everything a run needs, so that bad input stops it before any work.

    The batt is imported here on the controller only (to check it); workers import it lazily.
    """
    base_dir = str(config.invocation_params.dir)
    opts = settings_mod.read(config.getoption, config.getini, base_dir)
    for path, option in ((opts.json_path, "--batt-json"), (opts.save_path, "--batt-save"), (opts.html_path, "--batt-html"),
                         (opts.submission_path, "--batt-submission")):
        if path:
            settings_mod.check_writable(path, option)
    if opts.compare_fail and not opts.compare_path:
        raise ValueError("--batt-compare-fail needs a baseline: give --batt-compare PATH")
    for expr in opts.compare_fail:  # ini values have not been through the option's type
        compare.parse_gate(expr)
    taskset = load_taskset(opts.data, base_dir, allow_hidden=bool(opts.submission_path))
    task_ids = select(taskset, opts.tasks)
    # Items (and so the batt) see the tasks without their test outputs, in every mode.
    blind = taskset.without_test_outputs(task_ids)
    if _is_worker(config):
        load_taskset.cache_clear()  # drop the full data (test outputs included) from the worker's memory
        del taskset
        workerinput = config.workerinput  # type: ignore[attr-defined]
        state = State(opts, blind, task_ids, workerinput["batt_scratch"], hard_stop=True, worker_id=workerinput["workerid"])
        return state, None
    baseline = results.read(opts.compare_path) if opts.compare_path else None
    if baseline is not None:
        _check_baseline_data(baseline, taskset, task_ids, opts)
    # --collect-only runs nothing: importing the batt (maybe a huge module) would only cost.
    collect_only = config.getoption("collectonly", False)
    batt = None if collect_only else runner.load_batt(opts.module, base_dir)
    state = State(opts, blind, task_ids, "" if collect_only else tempfile.mkdtemp(prefix="pytest-batt-"), _batt=batt, full_taskset=taskset)
    if baseline is not None:
        state.baseline = baseline
        state.baseline_status = session.baseline_statuses(baseline)
    if state.scratch:
        os.makedirs(os.path.join(state.scratch, "logs"), exist_ok=True)
    return state, batt


def _check_baseline_data(baseline: Dict[str, Any], taskset: Any, task_ids: List[str], opts: Any) -> None:
    """Refuse a baseline of other task data before running anything, not after."""
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
        rep = yield
        if isinstance(collector, pytest.Session) and rep.passed:
            state = collector.config.stash[STATE]
            rep.result = list(rep.result) + make_tasks(collector, state.task_ids)
        return rep

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        rep = yield
        if isinstance(item, BattSample) and rep.when == "call" and item.record is not None:
            rep.batt_record = item.record  # builtin types only: xdist sends report.__dict__
            if item.record["status"] == "timeout":
                rep.sections = [(title, _TIMEOUT_DUMP.sub("", text)) for title, text in rep.sections]
                rep.sections = [(title, text) for title, text in rep.sections if text.strip()]
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

    def __init__(self, config: pytest.Config, state: State, batt: Optional[runner.BattModule]) -> None:
        self.config = config
        self.state = state
        self.batt = batt
        opts = state.settings
        self.run = session.BattRun(state.full_taskset or state.taskset, state.task_ids, keep_attempts=bool(opts.html_path or opts.submission_path))
        self.output_notes: List[str] = []
        self.workers = 0
        self.results: Optional[Dict[str, Any]] = None
        self.comparison: Optional[compare.Comparison] = None
        self.breaches: List[Tuple[str, str]] = []
        self.save_note: Optional[str] = None
        self.write_errors: List[str] = []
        self._properties: Dict[str, List[Tuple[str, Any]]] = {}
        n = len(self.run.plan)
        if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "maxworkerrestart", "") is None:
            # xdist's default (4 x workers) would leave samples unrun after a few crashing batts;
            # each sample can end at most one worker (a crash, a hard stop or a leaked thread).
            config.option.maxworkerrestart = str(n + 8)

    def pytest_report_header(self, config: pytest.Config) -> List[str]:
        opts = self.state.settings
        lines = [f"batt: {len(self.state.task_ids)} task(s), {len(self.run.plan)} samples from {opts.data}; "
                 f"module {opts.module}; timeout {opts.timeout:g}s per call"]
        if self.batt is not None:
            lines += report.import_lines(self.batt.import_seconds, self.batt.import_output)
        if config.getoption("dist", "no") == "no" and not config.getoption("collectonly", False):
            lines.append("batt: running in this process (-n 0 or no xdist): a batt that ignores the timeout "
                         "or crashes cannot be stopped without ending the session; use -n 1 or more to be protected")
        return lines

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and report.nodeid.startswith(session.PREFIX) and "::" not in report.nodeid:
            self.run.task_failed(report.nodeid[len(session.PREFIX):], str(report.longrepr))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.run.collected(item.nodeid for item in session.items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, Any, Any]:
        """The controller's verdict, before every other plugin (terminal, junitxml, --lf, -x) sees the report."""
        record = getattr(report, "batt_record", None)
        if record is not None:
            judged = self.run.add(report.nodeid, record)
            if judged is not None:
                report.batt_record = judged  # type: ignore[attr-defined]
                draw = outputs.drawer(self.run, report.nodeid, judged, self.config.get_verbosity() > 0)
                verdict.apply(report, judged, self.state.baseline_status.get(report.nodeid), draw)
                self._properties[report.nodeid] = verdict.properties(judged)
        else:
            self._no_record(report)
            if report.when == "teardown" and report.nodeid in self._properties:
                # junitxml writes <property> elements from the teardown report
                report.user_properties = verdict.merge(report.user_properties, self._properties.pop(report.nodeid))
        return (yield)

    def _no_record(self, report: pytest.TestReport) -> None:
        if report.when == "???":
            status, message = getattr(report, "batt_crash", ("crash", str(report.longrepr)))
            opts = self.state.settings
            self.run.add_failure(report.nodeid, status, message, seconds=opts.timeout + opts.grace if status == "timeout" else 0.0)
        elif report.failed and report.when in ("setup", "call"):
            message = str(report.longrepr).strip().splitlines()[-1][:500]
            if report.nodeid.endswith("::task"):
                self.run.task_failed(report.nodeid[len(session.PREFIX):].split("::")[0], message)
            else:
                self.run.add_failure(report.nodeid, "error", message)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            self._finish(session, exitstatus)
        finally:
            shutil.rmtree(self.state.scratch, ignore_errors=True)

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        self.run.finish()
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        opts = self.state.settings
        head = results.header(
            batt_module=opts.module, batt_sha256=self.batt.sha256() if self.batt else "",
            data_name=opts.data, data_sha256=self.run.taskset.content_hash(self.state.task_ids),
            timeout_s=opts.timeout, workers=self.workers,
        )
        if self.batt is not None:
            head["batt"].update(import_s=self.batt.import_seconds, import_output=report.clip(self.batt.import_output, 2000))
        self.results = self.run.results(head, interrupted, process_age())
        if self.state.baseline is not None:
            self.comparison = compare.compare(self.state.baseline, self.results, allow_other_data=opts.compare_any)
            self.results["comparison"] = compare.to_json(self.comparison)
            self.breaches = [(g.expr, why) for g in map(compare.parse_gate, opts.compare_fail) for why in [g.check(self.comparison)] if why]
            if self.breaches and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if opts.json_path:
            self._write(session, "--batt-json", opts.json_path)
        if opts.save_path:
            if self.results["session"]["complete"] or not os.path.exists(opts.save_path):
                if self._write(session, "--batt-save", opts.save_path):
                    self.save_note = f"baseline saved to {opts.save_path}"
            else:
                self.save_note = f"baseline {opts.save_path} not replaced: this run is incomplete"
        for option, path, make in (("--batt-html", opts.html_path, outputs.write_html), ("--batt-submission", opts.submission_path, outputs.write_submission)):
            if path:
                try:
                    self.output_notes.append(make(path, self.run, self.results))
                except OSError as e:
                    self.write_errors.append(f"{option} {path}: not written ({e.strerror or e})")
                    session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def _write(self, session: pytest.Session, option: str, path: str) -> bool:
        """A results file that cannot be written costs that file, not the summary: one line, exit 4."""
        assert self.results is not None
        try:
            results.write(path, self.results)
            return True
        except OSError as e:
            self.write_errors.append(f"{option} {path}: results not written ({e.strerror or e})")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return False

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
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
            gates = self.state.settings.compare_fail
            if self.breaches:
                terminalreporter.write_line("")
                for line in report.table([["gate", "breached because"]] + [list(b) for b in self.breaches]):
                    terminalreporter.write_line(line, red=True)
            elif gates:
                terminalreporter.write_line(f"gates hold: {', '.join(gates)}", green=True)


def _load(path: str, nodeid: str) -> Optional[Dict[str, Any]]:
    """A worker's JSON note about ``nodeid``, or None (absent, or about another sample)."""
    text = _read(path)
    data = json.loads(text) if text else None
    return data if isinstance(data, dict) and data.get("nodeid") == nodeid else None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class XdistHooks:
    """Hooks that exist only when pytest-xdist is loaded, so -p no:xdist keeps working."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None  # the user chose another mode: leave it to xdist
        from .scheduling import CrashTolerantLoadScheduling

        return CrashTolerantLoadScheduling(config, log)

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["batt_scratch"] = self.controller.state.scratch
        self.controller.workers = max(self.controller.workers, node.workerinput.get("workercount", 1))

    def pytest_xdist_node_collection_finished(self, node: Any, ids: List[str]) -> None:
        self.controller.run.collected(ids)

    @staticmethod
    def _use_record(report: pytest.TestReport, record: Dict[str, Any], message: str) -> None:
        """The worker died, but left the sample's record: the verdict on it follows in logreport."""
        report.batt_record = record  # type: ignore[attr-defined]
        report.outcome = "failed"
        report.longrepr = message
        report.when = "call"

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        worker = report.node.gateway.id if getattr(report, "node", None) is not None else "?"
        fspath, _, domain = crashitem.partition("::")
        report.location = (fspath, None, f"{fspath[len(session.PREFIX):]}::{domain}")
        scratch = self.controller.state.scratch
        opts = self.controller.state.settings
        note = watchdog.read_note(handoff_path(scratch, worker, "hardstop"))
        if note is not None and note.get("nodeid") != crashitem:
            note = None
        status, message = session.crash_status(note, _read(handoff_path(scratch, worker, "stack")), opts.timeout, opts.grace, worker)
        ended_itself = _load(handoff_path(scratch, worker, "record"), crashitem)
        partial = _load(handoff_path(scratch, worker, "partial"), crashitem)
        if ended_itself:  # after the sample, to take threads it could not stop with it
            self._use_record(report, ended_itself["record"], ended_itself["message"])
            return
        if partial and partial.get("stage") == "final":  # the calls were done; what they left behind hung
            record = partial["record"]
            record["error"] = "; ".join(filter(None, [record["error"], f"then {status}: {message}"]))
            text = record["message"] if record["status"] == "unsolved" else ""
            self._use_record(report, record, f"{text}\n{record['error']}".strip())
            return
        if partial:  # during a diff call: keep what the solve call found
            record = partial["record"]
            record["error"] = f"{status} in a diff call: {message}; this sample's differ rows are lost"
            if status == "timeout":
                record["seconds"] += opts.timeout + opts.grace
            text = record["message"] if record["status"] == "unsolved" else ""
            self._use_record(report, record, f"{text}\n{record['error']}".strip())
            return
        report.batt_crash = (status, message)  # type: ignore[attr-defined]
        report.longrepr = f"{status}: {message}"
