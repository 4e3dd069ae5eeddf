"""Programs that ended or hung their worker: named, quarantined, and their sample run again without them.

A worker that dies while a program runs (``os._exit``, a signal, a segfault), or that the
watchdog ends because a program did not stop at its limit, leaves its running slot behind
(:mod:`pytest_batt.isolation.slot`): it names the program. The controller then

- records the program's fault for that sample (``crash`` or ``timeout``, in the sample's
  program faults and in the results file's ``quarantined`` list);
- quarantines it for the rest of the run: it writes the quarantine file in the scratch
  folder, which every worker reads before each sample (:class:`Watcher`), so no later sample
  runs it;
- runs the sample again, on another worker, without it; every other program of the sample is
  judged and scored as usual, so the sample's scores are those of the library without it.

A sample with N such programs costs at most N + 1 runs, and never more than
:data:`MAX_RUNS`; a crash that names no program (between programs, in pytest-batt's own work,
another host's worker) is the sample's ``crash`` as before. Plain logic: the xdist hook and the
``-n 0`` backstop call it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence

from .. import files
from ..nodeids import sample_nodeid
from ..isolation.slot import Running
from ..isolation.watchdog_process import sample_fields
from ..records import SampleRecord, add_error
from .library import NOTE_PREFIX, NOTE_SEPARATOR, Library

MAX_RUNS = 8  # runs of one sample at most: the first and up to 7 without one more program each
_EXECVE = os.execve  # bound at import: while a library runs, the rails stand in os.execve's place
FILE = "quarantine.json"  # in the run's scratch folder: the solver ids not to run
AGAIN = "PYTEST_BATT_RUN_AGAIN"  # -n 0: how many times this session went on in a new process image


@dataclass
class Offense:
    sid: str
    status: str  # "crash" or "timeout"
    why: str  # what it did, after the solver id: "ended the worker (...)", "did not stop at its limit (...)"
    nodeid: str


def sample_of(running: Optional[Running]) -> Optional[str]:
    """The node id of the sample the slot says was running, or None."""
    fields = sample_fields(running) if running is not None else None
    return fields[0] if fields else None


def attribute(library: Library, nodeid: str, running: Optional[Running], hardstop: Optional[Mapping[str, Any]],
              stack: str, timeout: float, grace: float, worker: str) -> Optional[Offense]:
    """The program that ended or hung the worker while it ran ``nodeid``, from its slot and the
    watchdog's note; None when no program was running then (or the slot is not this sample's)."""
    index = -1
    if hardstop is not None and isinstance(hardstop.get("program"), int):
        index = hardstop["program"]
    elif running is not None and running.index >= 0 and sample_of(running) == nodeid:
        index = running.index
    if not 0 <= index < len(library.programs):
        return None
    sid = library.programs[index].sid
    if hardstop is not None and hardstop.get("limit") == "program":
        limit = library.limit or 0.0
        return Offense(sid, "timeout", f"did not stop at its limit ({limit:g} s, --batt-program-timeout): it defeated "
                                       f"its timer or swallowed the timeout; worker {worker} was ended {grace:g} s later", nodeid)
    if hardstop is not None:
        return Offense(sid, "timeout", f"did not stop at the sample's timeout ({timeout:g} s, --batt-timeout): it defeated "
                                       f"the timer, swallowed the timeout or held the GIL; worker {worker} was ended "
                                       f"{grace:g} s later", nodeid)
    fatal = re.search(r"Fatal Python error: ([^\n]+)", stack)
    cause = fatal.group(1).strip() if fatal else "os._exit, a signal or the OOM killer"
    return Offense(sid, "crash", f"ended worker {worker} ({cause})", nodeid)


class Offenders:
    """The controller's record of offending programs over a run (see the module docstring)."""

    def __init__(self, scratch: str = "") -> None:
        self.path = os.path.join(scratch, FILE) if scratch else ""
        self.entries: List[Dict[str, Any]] = []  # the results file's "quarantined", in order
        self.quarantined: Dict[str, Offense] = {}
        self.by_sample: Dict[str, List[Offense]] = {}
        self.runs: Dict[str, int] = {}

    def seed(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """A resumed run's file: its quarantined programs stay quarantined (and a sample it left
        ``missing`` because of one, run again now, names it)."""
        for entry in entries:
            sid = entry.get("solver_id")
            if not isinstance(sid, str) or sid in self.quarantined:
                continue
            self.entries.append(dict(entry))
            task, kind, index = entry.get("task"), entry.get("kind"), entry.get("index")
            nodeid = sample_nodeid(task, kind, index) if isinstance(task, str) and kind in ("demo", "test") \
                and isinstance(index, int) else ""
            why = str(entry.get("error") or "")
            why = why[len(sid) + 1:] if why.startswith(sid + " ") else why
            offense = self.quarantined[sid] = Offense(sid, str(entry.get("status")), why, nodeid)
            if nodeid:
                self.by_sample.setdefault(nodeid, []).append(offense)
        self._write()

    def offended(self, offense: Offense, task: str, kind: str, index: int) -> bool:
        """Record ``offense``; True when its sample is to run again without the program (then said by :meth:`rerun_line`)."""
        earlier = self.by_sample.setdefault(offense.nodeid, [])
        again = all(o.sid != offense.sid for o in earlier)  # the same program again: the quarantine did not reach that worker
        earlier.append(offense)
        if offense.sid not in self.quarantined:
            self.quarantined[offense.sid] = offense
            self.entries.append({"solver_id": offense.sid, "status": offense.status, "task": task, "kind": kind, "index": index,
                                 "error": f"{offense.sid} {offense.why}"})
            self._write()
        runs = self.runs.get(offense.nodeid, 1)
        if again and runs < MAX_RUNS:
            self.runs[offense.nodeid] = runs + 1
            return True
        return False

    def rerun_line(self, offense: Offense) -> str:
        runs = self.runs.get(offense.nodeid, 1)
        return (f"{offense.nodeid}: {offense.sid} {offense.why}; quarantined for the rest of the run, "
                f"the sample runs again without it (run {runs}, at most {MAX_RUNS})")

    def gave_up(self, offense: Offense) -> str:
        """The sample's crash or timeout message when it is not run again."""
        runs = self.runs.get(offense.nodeid, 1)
        why = "the same program again (the quarantine did not reach that worker)" if runs < MAX_RUNS \
            else f"{runs} runs, the most a sample gets"
        return f"{offense.sid} {offense.why}; quarantined; the sample is not run again ({why})"

    def annotate(self, nodeid: str, rec: SampleRecord) -> None:
        """The rerun's record gets the programs that ended or hung the earlier runs, first among its program faults."""
        offenses = self.by_sample.get(nodeid)
        if not offenses:
            return
        said = NOTE_SEPARATOR.join(f"{o.sid} {o.why}; quarantined, the sample was run again without it" for o in offenses)
        text = rec.get("error") or ""
        if NOTE_PREFIX in text:
            rec["error"] = text.replace(NOTE_PREFIX, NOTE_PREFIX + said + NOTE_SEPARATOR, 1)
        else:
            add_error(rec, NOTE_PREFIX + said)

    def _write(self) -> None:
        if self.path:
            files.write_atomic(self.path, json.dumps(sorted(self.quarantined)).encode())


class Watcher:
    """A worker's view of the quarantine file: read again only when it changed (one ``stat`` per sample)."""

    def __init__(self, scratch: str) -> None:
        self.path = os.path.join(scratch, FILE)
        self._seen: Any = None
        self.sids: FrozenSet[str] = frozenset()

    def current(self) -> FrozenSet[str]:
        try:
            st = os.stat(self.path)
        except OSError:
            return self.sids
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key != self._seen:
            try:
                with open(self.path, "rb") as f:
                    data = json.loads(f.read(16 * 2**20))
                if isinstance(data, list):
                    self.sids = frozenset(s for s in data if isinstance(s, str))
                self._seen = key
            except (OSError, ValueError):
                pass
        return self.sids


def summary_lines(results: Mapping[str, Any]) -> List[str]:
    """One line naming the quarantined programs (once each), from the results file's list."""
    entries = [e for e in results.get("quarantined") or [] if isinstance(e, dict)]
    if not entries:
        return []
    shown = ", ".join(f"{e.get('solver_id')} ({e.get('status')} on {e.get('task')} {e.get('kind')}[{e.get('index')}])"
                      for e in entries[:5])
    more = f", +{len(entries) - 5} more" if len(entries) > 5 else ""
    return [f"programs quarantined (they ended or hung their process; not run again): {len(entries)}: {shown}{more}"]


def run_again(args: Sequence[str], argv: Sequence[str], results_path: str, environ: Mapping[str, str]) -> Optional[List[str]]:
    """-n 0, a program that cannot be stopped in its process: the command that goes on without it
    (this pytest's own arguments, resuming from the results just written), or None when it
    cannot: pytest was not run from the command line with these arguments (``pytest.main`` in
    another program), no results file, or the session already went on :data:`MAX_RUNS` times.
    """
    if not results_path or list(argv[1:]) != list(args) or int(environ.get(AGAIN, "0") or 0) >= MAX_RUNS - 1:
        return None
    kept: List[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--batt-resume":
            skip = True
        elif not arg.startswith("--batt-resume="):
            kept.append(arg)
    return kept + [f"--batt-resume={results_path}"]


def go_on(again: Sequence[str], directory: str) -> None:
    """-n 0: this process goes on as a new pytest (``python -m pytest`` with ``again``, from
    :func:`run_again`) in ``directory``, keeping its pid and its terminal; it returns only when
    that cannot be done."""
    env = {**os.environ, AGAIN: str(int(os.environ.get(AGAIN, "0") or 0) + 1)}
    try:
        # What a new process image keeps of this one: the interval timer (a pending alarm would
        # end it) and this thread's signal mask.
        signal.setitimer(signal.ITIMER_REAL, 0)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.chdir(directory)
        _EXECVE(sys.executable, [sys.executable, "-m", "pytest", *again], env)
    except OSError:
        pass
