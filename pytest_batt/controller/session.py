"""The controller's hooks: gather each sample's record, judge it, write the results, print the summary.

Registered only on the controller (the process that runs the session: ``-n 0`` or xdist's
controller), so nothing here runs in a worker. The hooks are thin: folding and scores are
:mod:`pytest_batt.battrun`, files :mod:`pytest_batt.results` and :mod:`pytest_batt.outputs`,
lines of text :mod:`pytest_batt.report` and :mod:`pytest_batt.compare`.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import time
from typing import Any, Dict, Generator, List, Optional, Tuple

import pytest

from .. import battmodule, battrun, compare, gates, lastrun, mode, nodeids, outputs, programs, report, results, resume, verdict
from .. import visible
from ..isolation import capabilities, handoff, slot as slot_mod
from ..state import State
from ..programs import offenders
from ..tasks import write_selection

_IMPORTED = time.monotonic()
# -n 0: the share of the run's time the results written before samples may take. Each write is a few
# ms (the tasks finished so far copied as stored, the others' entries kept while none of their samples
# ran); at 1% one is written at least every few tenths of a second of samples.
BEFORE_SAMPLE_BUDGET = 0.01


def process_age() -> float:
    """Seconds since this process started: the whole run's wall time, start-up included."""
    started = capabilities.start_time()
    if started.on and started.how == "/proc":
        age = capabilities.proc_age()
        if age is not None:
            return round(age, 3)
    if started.on:
        import psutil

        try:
            return round(max(0.0, time.time() - float(psutil.Process().create_time())), 3)
        except psutil.Error:
            pass
    return round(time.monotonic() - _IMPORTED, 3)  # no start time here: from when pytest loaded this plugin


class Controller:
    """Controller-side hooks: gather records, write results, print the summary."""

    def __init__(self, config: pytest.Config, state: State, batt: Optional[battmodule.BattModule]) -> None:
        self.config = config
        self.state = state
        self.batt = batt
        self.run = battrun.BattRun(state.full_taskset or state.taskset, state.task_ids, spill_dir=state.scratch or None)
        self.output_notes: List[str] = []
        self.header_notes: List[str] = []  # lines the plugin adds to the header (--batt-gpus' mapping)
        # When the run began (time.monotonic()), where pytest is not the process's program (pytest.main in a
        # notebook's kernel or a script): the process's age would count all it did before. None: the process's age.
        self.run_started: Optional[float] = None
        self.workers = 0
        self.results: Optional[Dict[str, Any]] = None
        self.comparison: Optional[compare.Comparison] = None
        self.breaches: List[Tuple[str, str]] = []
        self.save_note: Optional[str] = None
        self.write_errors: List[str] = []
        self.profile_lines: List[str] = []  # --batt-profile's section
        self._properties: Dict[str, List[Tuple[str, Any]]] = {}
        self._selection: Optional[str] = None
        self.taken: Optional[resume.Taken] = None
        self._batt_sha256: Optional[str] = None
        self._data_sha256 = ""
        self.startup_s: Optional[float] = None  # the workers' start-up, measured (xdist_hooks)
        self._last_report = 0.0  # when the last report came: the workers' shut-down is measured from it
        self._last_checkpoint = self._last_progress = time.monotonic()
        self.library = programs.library_of(batt) if batt is not None else None
        self.offenders = offenders.Offenders(state.scratch)
        self._before_sample_s = 0.0  # -n 0: seconds spent writing the results before samples (kept under a budget)
        self._written_before_sample = False
        self._in_process: Optional[bool] = None  # -n 0 with a results file: written before each sample
        if state.resume is not None:
            self.offenders.seed(state.resume.get("quarantined") or [])
            self.taken = resume.take(state.resume, self.run.plan, state.settings.resume_retry)
            self.run.take_resumed(self.taken.records, self.taken.whole, resume.earlier_seconds(state.resume))
            state.skip_samples(self.taken.skip)
        if config.getoption("dist", "no") == "no" and state.scratch:
            self._watch_session()
        n = len(self.run.plan)
        if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "maxworkerrestart", "") is None:
            # xdist's default (4 x workers) would leave samples unrun after a few crashing batts;
            # each sample can end at most one worker per run (a crash, a hard stop or a leaked
            # thread), and a library's sample runs at most offenders.MAX_RUNS times.
            config.option.maxworkerrestart = str(n * (offenders.MAX_RUNS if self.library is not None else 1) + 8)

    def _watch_session(self) -> None:
        """-n 0: the backstop's last resort is this controller's (:meth:`stuck`), and a session watchdog
        names what was running if the process dies (it is the one process: nothing else would)."""
        from ..isolation.watchdog import SessionWatchdog

        self.state.on_stuck = self.stuck
        dog = SessionWatchdog(self.state.slot().path, self._results_path() or "")
        self.state.protected_pids.append(dog.pid)
        self._session_watchdog = dog

    def _all_selected(self) -> List[str]:
        """Every selected task; with --batt-shard, all shards' (so the data hash is the same in each)."""
        return self.state.shard.selection if self.state.shard is not None else self.state.task_ids

    def selection_file(self) -> Optional[str]:
        """The selected tasks, written once for the workers: they then read no dataset."""
        if self._selection is None and self.state.scratch:
            self._selection = os.path.join(self.state.scratch, "tasks.json")
            write_selection(self._selection, self.state.taskset, self.state.task_ids)
        return self._selection

    def pytest_report_header(self, config: pytest.Config) -> List[str]:
        opts = self.state.settings
        lines = [f"batt: {len(self.state.task_ids)} task(s), {len(self.run.plan)} samples from {opts.data}; "
                 f"module {opts.source}; timeout {opts.timeout:g}s per call"]
        if self.state.shard is not None:
            lines.append(self.state.shard.header_line())
        if self.batt is not None:
            lines += programs.header_lines(self.batt, str(opts.programs))
            lines += report.import_lines(self.batt.import_seconds, self.batt.import_output)
        if opts.sandbox_token:
            from .sandboxing import HEADER

            lines.append(HEADER)
        if self.taken is not None:
            lines.append(resume.summary(self.taken, len(self.run.plan) - self.taken.samples, str(opts.resume_path)))
        off = self._off_line()
        if off:
            lines.append(off)
        lines += self.header_notes
        if config.getoption("dist", "no") == "no" and not config.getoption("collectonly", False):
            chosen = config.stash.get(mode.IN_PROCESS, None)
            if chosen is not None:
                lines.append(mode.header_line(chosen))
            lines.append(f"batt: running in this process{'' if chosen else ' (-n 0 or no xdist)'}: a batt that ignores the "
                         "timeout or crashes cannot be stopped without ending the session; use -n 1 or more to be protected")
        return lines

    def _off_line(self) -> Optional[str]:
        """The one line naming the protections this system lacks (None: all are on)."""
        plan = self.state.memory_in_force()
        return capabilities.run_header_line(plan.kind, plan.why) if plan is not None else None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """With ``-q`` pytest shows no header; what is off on this system is said all the same,
        because a sample's verdict depends on it (``--no-header`` silences it)."""
        if self.config.getoption("verbose", 0) >= 0 or self.config.getoption("no_header", False):
            return
        off = self._off_line()
        if off:
            self.say(off)

    def batt_sha256(self) -> str:
        if self._batt_sha256 is None:
            self._batt_sha256 = self.batt.sha256() if self.batt else ""
        return self._batt_sha256

    def data_sha256(self) -> str:
        """The results' data hash, made once: its pass over the tasks keeps each task's hash too."""
        if not self._data_sha256:
            self._data_sha256 = self.run.taskset.content_hash(self._all_selected())
        return self._data_sha256

    def _task_hashes(self) -> Dict[str, str]:
        self.data_sha256()  # one pass over the tasks for both (with -n N there is no collection_finish here)
        return {tid: self.run.task_sha256(tid) for tid in self.state.task_ids}

    def planned_seconds(self) -> Tuple[Optional[Dict[str, float]], str]:
        """What the scheduler plans with (--batt-durations' seconds, else the last run's in pytest's
        cache, else nothing: guesses) and the line that says which."""
        opts, total = self.state.settings, len(self.run.plan)
        if self.state.sample_seconds is not None:
            known = sum(1 for n in self.run.plan if n in self.state.sample_seconds)
            name = os.path.relpath(str(opts.durations_path), opts.base_dir)
            name = str(opts.durations_path) if name.startswith("..") else name
            return self.state.sample_seconds, (f"batt: plan from --batt-durations {name}: "
                                               f"seconds of {known} of {total} samples, the rest guessed")
        cache = getattr(self.config, "cache", None)
        if cache is None or self.batt is None:
            return None, "batt: plan guessed (no cache: -p no:cacheprovider; --batt-durations FILE gives seconds)"
        seconds = lastrun.seconds_for(cache.get(lastrun.SECONDS_KEY, None), self.batt_sha256(), self._task_hashes())
        known = sum(1 for n in self.run.plan if n in seconds)
        where = self.config.getini("cache_dir")
        if not known:
            return None, f"batt: plan guessed: no seconds of this batt on these tasks in {where} yet (the next run plans with this one's)"
        return seconds, f"batt: plan from the last run's seconds in {where}: {known} of {total} samples, the rest guessed"

    def _remember(self, workers_s: Optional[float]) -> None:
        """This run's seconds into pytest's cache: the next run plans with them and decides its mode by
        them (``workers_s``: what the workers cost, start-up and shut-down; None without workers)."""
        cache = getattr(self.config, "cache", None)
        if cache is None or self.batt is None:
            return
        sha, hashes, opts = self.batt_sha256(), self._task_hashes(), self.state.settings
        samples = []
        for nodeid, rec in self.run.records.items():
            seconds = rec.get("seconds")
            if nodeid in self.run.plan and isinstance(seconds, (int, float)) and rec.get("status") not in ("missing", "crash"):
                tid, kind, index = self.run.plan[nodeid]
                samples.append((tid, kind, index, float(seconds)))
        table = lastrun.with_seconds(cache.get(lastrun.SECONDS_KEY, None), sha, hashes, samples)
        cache.set(lastrun.SECONDS_KEY, table)
        data = os.path.join(opts.base_dir, opts.data)
        # A library folder or a package: a file added to a folder of it changes it too.
        folders = len(self.batt.files) > 1 or bool(opts.programs and os.path.isdir(os.path.join(opts.base_dir, opts.programs)))
        stamps = lastrun.fingerprint(list(self.batt.files) + ([data] if os.path.exists(data) else []), folders)
        totals = lastrun.summary(lastrun.seconds_for(table, sha, hashes), list(self.run.plan))
        faults = lastrun.faults([str(rec.get("status")) for rec in self.run.records.values()], len(self.offenders.entries))
        runs = lastrun.with_run(cache.get(lastrun.RUNS_KEY, None), lastrun.command_key(opts), stamps, totals,
                                len(self.run.plan), workers_s, faults)
        cache.set(lastrun.RUNS_KEY, runs)

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: Any, nodeid: str) -> None:
        """A warning a batt raised is its text: shown as data in the warnings summary (from any worker)."""
        if nodeid.startswith(nodeids.PREFIX):
            text = visible.text(warning_message.message)
            if text != str(warning_message.message):
                try:
                    warning_message.message = warning_message.category(text)
                except Exception:  # a warning class of the batt's own, built otherwise
                    warning_message.message = UserWarning(text)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and report.nodeid in self.run.task_nodes:
            self.run.task_failed(self.run.task_nodes[report.nodeid], str(report.longrepr))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.run.collected(item.nodeid for item in session.items)
        self.data_sha256()
        if self.run_started is None:
            # pytest is this process's program: what it holds now (pytest, the items, the tasks, the batt's
            # module) lives until it exits, so it is left out of every later collection, as a worker does
            # after its import. The full collections that the samples' garbage sets off then scan what
            # they made, not a heap 10x its size (arc-dsl's library, -n 0: 0.42-0.61 s of them, 0.15-0.19
            # s after). Not under pytest.main in another program (a notebook): its objects outlive the run.
            gc.freeze()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, Any, Any]:
        """The controller's verdict, before every other plugin (terminal, junitxml, --lf, -x) sees the report."""
        self._last_report = time.perf_counter()
        record = getattr(report, "batt_record", None)
        if isinstance(record, str):  # from a worker
            record = self._parse(report, record)
        if record is not None:
            self.offenders.annotate(report.nodeid, record)
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

    def _parse(self, report: pytest.TestReport, text: str) -> Any:
        """A worker's record; one its process could not write (a program broke json there) is the sample's error."""
        try:
            record = json.loads(text)
        except (ValueError, RecursionError):
            record = None
        if isinstance(record, dict) and isinstance(record.get("status"), str) and isinstance(record.get("error", ""), (str, type(None))):
            return record
        report.outcome = "failed"
        report.longrepr = "error: the worker's record of this sample could not be read (its process was damaged)"
        report.batt_record = None  # type: ignore[attr-defined]
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        if str(report.outcome) == "rerun":
            return "rerun", "R", ("RERUN", {"yellow": True})
        return None

    def _no_record(self, report: pytest.TestReport) -> None:
        if str(report.outcome) == "rerun":
            return  # a program ended or hung the worker: the sample runs again (offenders)
        if str(report.when) == "???":  # xdist's report of a crashed item: not a phase pytest's type knows
            status, message = getattr(report, "batt_crash", ("crash", str(report.longrepr)))
            opts = self.state.settings
            self.run.add_failure(report.nodeid, status, message, seconds=opts.timeout + opts.grace if status == "timeout" else 0.0)
        elif report.failed and report.when in ("setup", "call"):
            message = str(report.longrepr).strip().splitlines()[-1][:500]
            task_node, _, name = report.nodeid.rpartition("::")
            if name == "task" and task_node in self.run.task_nodes:
                self.run.task_failed(self.run.task_nodes[task_node], message)
            else:
                self.run.add_failure(report.nodeid, "error", message)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            self._finish(session, exitstatus)
        finally:
            shutil.rmtree(self.state.scratch, ignore_errors=True)

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        # xdist's own sessionfinish has stopped the workers by now: what that took after the last report
        workers_s = None
        if self.startup_s and self._last_report:
            workers_s = self.startup_s + time.perf_counter() - self._last_report
        self.run.finish()
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        opts = self.state.settings
        self.results = self._results(interrupted)
        if self.state.baseline is not None:
            self.comparison = compare.compare(self.state.baseline, self.results, allow_other_data=opts.compare_any)
            self.results["comparison"] = compare.to_json(self.comparison)
            self.breaches = gates.breaches([gates.parse_gate(e) for e in opts.compare_fail], self.comparison)
            if self.breaches and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.taken is not None and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self.results["session"]["complete"]:
            session.exitstatus = pytest.ExitCode.OK  # the file had it all: nothing to run is no failure
        if opts.profile_dir:
            from ..profiling import report_lines

            self.profile_lines = report_lines(opts.profile_dir, {n: r["profile"] for n, r in self.run.records.items()
                                                                 if isinstance(r.get("profile"), dict)})
        out = self._results_path()
        if out:
            self._write(session, "--batt-json" if opts.json_path else "--batt-resume", out)
        self._remember(workers_s)
        if opts.save_path:
            if self.results["session"]["complete"] or not os.path.exists(opts.save_path):
                if self._write(session, "--batt-save", opts.save_path):
                    self.save_note = report.saved_line(opts.save_path, len(self.run.selected_nodeids()), len(self.run.plan))
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
        opts = self.state.settings
        head = results.header(
            batt_module=opts.source, batt_sha256=self.batt_sha256(), data_name=opts.data,
            data_sha256=self.data_sha256(), timeout_s=opts.timeout, workers=self.workers,
        )
        plan = self.state.memory_in_force()
        if plan is not None:
            head["config"]["protections"] = {**capabilities.run_protections(plan.kind, plan.megabytes),
                                             "sandbox": bool(opts.sandbox)}
        if self.state.shard is not None:  # what `pytest-batt merge` checks and rebuilds from
            head["config"]["shard"] = self.state.shard.to_json()
        if self.batt is not None:
            head["batt"].update(import_s=self.batt.import_seconds, import_output=report.clip(self.batt.import_output, 2000))
        return head

    def _results(self, interrupted: bool, head: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        out = self.run.results(head if head is not None else self._header(), interrupted, self._run_seconds())
        if self.offenders.entries:
            out["quarantined"] = list(self.offenders.entries)
        return out

    # --- programs that ended or hung a worker (xdist_hooks calls these) ---------------------------

    def offense(self, nodeid: str, worker: str, left: handoff.Left) -> Optional[offenders.Offense]:
        if self.library is None:
            return None
        opts = self.state.settings
        running = slot_mod.read(handoff.path(self.state.scratch, worker, "slot"))
        return offenders.attribute(self.library, nodeid, running, left.hardstop, left.stack, opts.timeout, opts.grace, worker)

    def offended(self, offense: offenders.Offense) -> bool:
        tid, kind, index = self.run.plan.get(offense.nodeid, ("", "", 0))
        return self.offenders.offended(offense, tid, kind, index)

    def rerun_line(self, offense: offenders.Offense) -> str:
        return self.offenders.rerun_line(offense)

    def gave_up(self, offense: offenders.Offense) -> str:
        return self.offenders.gave_up(offense)

    def say(self, line: str) -> None:
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(visible.text(line))

    # --- -n 0: the results written before each sample, and the end of a session that cannot go on ----

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """-n 0: the results so far are written before each sample (while that costs under
        :data:`BEFORE_SAMPLE_BUDGET` of the run), so that a sample that ends the process loses only itself."""
        if self._in_process is None:  # decided once: the run's mode and file do not change under it
            self._in_process = (not self.state.hard_stop and self.config.getoption("dist", "no") == "no"
                                and bool(self._results_path()))
        if not self._in_process or not nodeid.startswith(nodeids.PREFIX):
            return
        path = self._results_path()
        assert path
        elapsed = time.perf_counter() - self.run.started
        if self._written_before_sample and self._before_sample_s > BEFORE_SAMPLE_BUDGET * elapsed:
            return
        t0 = time.perf_counter()
        try:
            results.write(path, self._results(True))
        except OSError:
            return  # the final write says so, in one line
        self._written_before_sample = True
        self._before_sample_s += time.perf_counter() - t0

    def stuck(self, running: slot_mod.Running, what: str) -> None:
        """-n 0, from the backstop's thread: a program or a call that swallows every exception cannot be
        stopped in this process. Its sample is recorded (naming it), the results are written, and the
        session ends here."""
        nodeid = offenders.sample_of(running) or "?"
        opts = self.state.settings
        program = running.program if what == "program" and running.index >= 0 else ""
        if program:
            limit = self.library.limit if self.library is not None else 0
            why = (f"did not stop at its limit ({limit or 0:g} s, --batt-program-timeout) nor {opts.grace:g} s later "
                   "(it swallows the timeout or defeats its timer)")
        else:
            why = (f"did not stop at the {opts.timeout:g} s timeout nor {opts.grace:g} s later "
                   "(it swallows the timeout or defeats its timer)")
        subject = program or "the batt call"
        message = (f"{subject} {why}; -n 0 cannot end it without ending the session, which ended here: "
                   "use -n 1 or more for code that may do this")
        if program:
            message += "; resuming from the results file runs the sample again without that program"
            self.offended(offenders.Offense(program, "timeout", why, nodeid))
        # Left "missing" (it gave no result): --batt-resume runs it again, without the quarantined program.
        self.run.add_failure(nodeid, "missing", message)
        path = self._results_path()
        written = ""
        if path:
            try:
                results.write(path, self._results(True))
                written = f"; the results so far are in {path}"
            except OSError as e:
                written = f"; the results could not be written ({e.strerror or e})"
        self.state.slot().sample_done()  # said here: the session watchdog has nothing to add
        capman = self.config.pluginmanager.getplugin("capturemanager")
        try:
            if capman is not None:
                capman.suspend_global_capture(in_=True)
        except Exception:
            pass
        again = offenders.run_again(self.config.invocation_params.args, sys.argv, path or "", os.environ) \
            if program and written.startswith("; the results so far") else None
        more = "; the session goes on in a new process, resuming from that file without the program" if again else ""
        self.say(f"\npytest-batt: {nodeid}: {message}{written}{more}")
        from ..isolation import processes

        processes.end_new((), keep=[] if again else self.state.protected_pids)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        if again:
            # The same process (its pid, its terminal) goes on as a new pytest that resumes the run:
            # every other sample gets its result, as with workers.
            shutil.rmtree(self.state.scratch, ignore_errors=True)
            offenders.go_on(again, str(self.config.invocation_params.dir))  # returns only when it cannot: it ends, as below
        os._exit(int(pytest.ExitCode.INTERRUPTED))

    def _run_seconds(self) -> float:
        """The whole run's wall time (``session.process_s``)."""
        if self.run_started is None:
            return process_age()
        return round(time.monotonic() - self.run_started, 3)

    def _results_path(self) -> Optional[str]:
        opts = self.state.settings
        return opts.json_path or opts.resume_path

    def _tick(self) -> None:
        """Long runs: a progress line every few minutes, and a checkpoint file to resume from."""
        opts = self.state.settings
        now = time.monotonic()
        if opts.progress_minutes and now - self._last_progress >= opts.progress_minutes * 60:
            self._last_progress = now
            # This run's samples only: those taken from a resumed file cost no time, and would skew the rate.
            selected = [n for n in self.run.selected_nodeids() if n not in self.state.skip]
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
                results.write(path, self._results(True, head))
            except OSError:
                pass  # the final write says so, in one line

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
        lines = report.summary_lines(self.results, verbose=self.config.get_verbosity() > 0)
        for line in lines + programs.summary_lines(self.results, self.batt):
            terminalreporter.write_line(line)
        for line in offenders.summary_lines(self.results):
            terminalreporter.write_line(visible.text(line))
        if self.state.settings.json_path and not any(e.startswith("--batt-json") for e in self.write_errors):
            terminalreporter.write_line(f"results written to {self.state.settings.json_path}")
        for line in self.output_notes:
            terminalreporter.write_line(line)
        for line in self.write_errors:
            terminalreporter.write_line(line, red=True)
        if self.save_note:
            terminalreporter.write_line(self.save_note)
        if self.profile_lines:
            terminalreporter.section("where the batt's time went")
            for line in self.profile_lines:
                terminalreporter.write_line(line)
        if self.comparison is not None:
            terminalreporter.section("batt comparison")
            for line in compare.render(self.comparison):
                terminalreporter.write_line(line)
            for line in report.gate_lines(self.state.settings.compare_fail, self.breaches):
                terminalreporter.write_line(line, red=bool(self.breaches), green=not self.breaches)
