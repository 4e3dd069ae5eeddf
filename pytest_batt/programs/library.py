"""A library of programs presented as a batt: ``Library(task_id, S, I, C, log_path) -> (o, s)``.

A solve call (``C is None``) runs the programs bound to the task and those bound to none, in
library order, each on its own copy of ``I`` in the grid form they expect and under its own
time limit; every program that returns gives one candidate ``(index, None, solver_id, grid)``.
A diff call returns nothing: a library has no differs. What went wrong with single programs
(timed out, raised, returned no grid) is kept as the sample's note (:meth:`Library.annotate`),
so one broken program costs only itself.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from .. import grids
from ..records import SampleRecord, add_error
from ..battmodule import BattModule, import_file, captured_output
from . import discovery
from ..options import DEFAULT_ENTRIES, DEFAULT_GRID_FORM, GRID_FORMS, parse_entries
from ..isolation.backstop import Backstop
from ..isolation.process_state import Interpreter, Modules
from ..isolation.slot import Slot, encode_text
from .discovery import LibraryError
from .limits import Outcome, ProgramTimeout, Timer
from .rails import FORKED, RAILS, REAL_EXIT, Refused, forked_child

NOTE_PREFIX = "program faults: "
NOTE_SEPARATOR = " | "
# What a note says after a program's id, for each kind of fault (programs.summary reads them back).
TIMED_OUT, RAISED, NO_GRID, CHANGED, REFUSED = "timed out", "raised", "returned no grid", "changed the interpreter", "was refused"
FAULTS = (TIMED_OUT, RAISED, NO_GRID, CHANGED, REFUSED)
MAX_NOTES = 30  # faults listed per sample; the rest are counted
# Modules the process relies on to report a sample (its record travels as JSON): a program that
# patches them is undone after the call (sys.modules too).
WATCHED_MODULES = ("json", "json.encoder", "json.decoder")


@dataclass(frozen=True)
class Program:
    index: int  # its place in the library: the candidate's t_n
    sid: str  # ``relative/path.py::name``
    func: Callable[..., Any]
    tasks: Optional[FrozenSet[str]]  # None: every task


def copier(form: str) -> Callable[[grids.Grid], Any]:
    """A fresh argument per call: programs mutate their input, and the next program must not see it."""
    if form == "tuple":
        return lambda grid: grid  # immutable: the canonical grid itself is a fresh copy's equal
    if form == "list":
        return lambda grid: [list(row) for row in grid]
    if form == "numpy":
        import numpy

        return lambda grid: numpy.array(grid, dtype=numpy.int64)
    raise ValueError(f"grid form {form!r}: choose one of {', '.join(GRID_FORMS)}")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


class Library:
    """The batt of a program library; see the module docstring."""

    differs = False  # a diff call would return nothing: the runner makes none (runner._fold_diffs)

    def __init__(self, programs: Sequence[Program], grid_form: str = DEFAULT_GRID_FORM,
                 limit: Optional[float] = None, problems: Sequence[str] = (), files: int = 0) -> None:
        self.programs = tuple(programs)
        self.grid_form = grid_form
        self.limit = limit
        self.problems = tuple(problems)  # files not imported, functions not run: said once, at load
        self.files = files
        self.quarantined: FrozenSet[str] = frozenset()  # programs not run again (they ended or hung a worker)
        self._arg = copier(grid_form)
        self._timer = Timer(limit, keep_recursion=False)  # the interpreter is put back (and named) per program here
        self._rails = RAILS  # one per process: its replacements are installed once
        self._per_task: Dict[str, Tuple[Program, ...]] = {}
        self._notes: List[str] = []
        # The call's own timeout (--batt-timeout) ended a program: the runner goes on after it (go_on).
        self.returned: List[Any] = []  # what the last call's programs returned before it ended
        self.stalled: Optional[int] = None  # the program in flight then, by place in the task's programs
        self._progs: Tuple[Program, ...] = ()  # the last call's task's programs, and the task
        self._task = ""
        self._from: Tuple[str, int] = ("", 0)  # (task, place): where the next call of that task starts
        self._slot: Optional[Slot] = None
        self._texts: Sequence[bytes] = ()
        self._grace = 0.0
        # What a program may change, with sys.modules and the modules records travel through: taken again
        # before each call (its copies kept while nothing changed), checked after each program.
        self._state = Interpreter(Modules(WATCHED_MODULES))

    def attach(self, slot: Optional[Slot], grace: float = 0.0, backstop: Optional[Backstop] = None,
               protected_pids: Sequence[int] = ()) -> None:
        """Run in a process that keeps a running slot: each program's start and end is written to it
        (with its hard deadline, its limit plus ``grace``), and the backstop knows the program timer."""
        self._slot, self._grace = slot, grace
        self._texts = [encode_text(p.sid) for p in self.programs] if slot is not None else ()
        self._rails.pids = set(protected_pids)
        if backstop is not None:
            backstop.expect(self._timer.handler)

    def quarantine(self, sids: FrozenSet[str]) -> None:
        """These programs are not run again in this process (the controller decided: see ``offenders``)."""
        if sids != self.quarantined:
            self.quarantined = frozenset(sids)
            self._per_task.clear()

    def for_task(self, task_id: str) -> Tuple[Program, ...]:
        progs = self._per_task.get(task_id)
        if progs is None:
            gone = self.quarantined
            progs = self._per_task[task_id] = tuple(p for p in self.programs if (p.tasks is None or task_id in p.tasks)
                                                    and p.sid not in gone)
        return progs

    def __call__(self, task_id: str, S: Any, I: Any, C: Any, log_path: str) -> Tuple[Tuple[Any, ...], Tuple[Any, ...]]:
        if C is not None:
            return (), ()
        (task, start), self._from = self._from, ("", 0)
        start = start if task == task_id else 0
        if not start:  # a call that goes on after a stalled program keeps the earlier call's notes
            self._notes = []
        out: List[Any] = []
        self.returned, self.stalled = out, None
        progs = self._progs = self.for_task(task_id)
        self._task = task_id
        with self._timer.session():
            self._rails.on()
            try:
                self._run(progs, I, out, start)
            finally:
                self._rails.off()
            # What no program was seen to change (a thread it left): the watched dicts. The rest (and
            # everything after the sample's own timeout) the batt call's guard puts back after the call.
            changed = self._state.restore(False)
            if changed:
                shown = ", ".join(changed[:4]) + (f" (+{len(changed) - 4})" if len(changed) > 4 else "")
                self._notes.append(f"a program of this call changed {shown}; put back after the call")
        return tuple(out), ()

    def _run(self, progs: Tuple[Program, ...], I: Any, out: List[Any], start: int = 0) -> None:
        """Each program under its limit, the slot saying which one runs, the interpreter put back after it."""
        run, arg, notes, slot, texts, rails = self._timer.run, self._arg, self._notes, self._slot, self._texts, self._rails
        timer = self._timer
        limit, hard = self.limit or 0.0, (self.limit or 0.0) + self._grace
        clock = time.monotonic
        pid = rails.pid
        forked = FORKED
        state = self._state
        state.take()  # after the timer took SIGALRM over: its handler is the one to keep
        restore = state.restore
        i, n = start, len(progs)
        prog = None
        while i < n:
            try:
                while i < n:
                    prog = progs[i]
                    i += 1
                    forks, threads = rails.forks, rails.threads
                    if slot is not None:
                        now = clock()
                        slot.program(prog.index, now + limit if limit else 0.0, now + hard if limit else 0.0, texts[prog.index])
                    outcome: Outcome = run(prog.func, arg(I))
                    if forked[0] and forked_child(pid):
                        REAL_EXIT(0)  # a program's forked child came back here: it must not run the rest
                    # Before its value is looked at: that uses the builtins. A recursion limit the
                    # program lowered the timer has put back already, first of all.
                    changed = restore(rails.touched, timer.lowered)
                    rails.touched = timer.lowered = False
                    if outcome.status == "ok":
                        value = outcome.value
                        if type(value) is list or type(value) is tuple:
                            grid, why = _rows(value, type(value).__name__)
                        else:  # converting it may run its code: under the program's limit
                            converted = run(_convert, value)
                            changed = restore(rails.touched, timer.lowered) or changed
                            rails.touched = timer.lowered = False
                            grid, why = converted.value if converted.status == "ok" else (None, None)
                            if converted.status != "ok":
                                outcome = converted
                    if slot is not None:
                        slot.no_program()
                    if rails.threads != threads or rails.forks != forks or rails.refused or changed is not None:
                        self._note_changes(prog, changed, threads, forks)
                    if outcome.status == "ok":
                        out.append((prog.index, None, prog.sid, grid))
                        if why is not None:
                            notes.append(f"{prog.sid} {NO_GRID} ({why})")
                    else:
                        self._note_fault(prog, outcome)
            except ProgramTimeout:
                # The backstop's exception, arriving just after its program returned: that program is done.
                if slot is not None:
                    slot.no_program()
                if prog is not None and not (notes and notes[-1].startswith(prog.sid + " ")):
                    self._note_fault(prog, Outcome("timeout"))
                restore()
            except BaseException:  # the call's own timeout (or a real Ctrl-C): the runner may go on after it
                if prog is not None:
                    self.stalled = i - 1
                raise

    def go_on(self) -> Optional[bool]:
        """After a call that its own timeout ended: None if no program was running then. Else that
        program is noted as timed out, and True when programs follow it: the next call of the task
        starts with them, keeping this call's notes (the runner makes it)."""
        at, self.stalled = self.stalled, None
        if at is None:
            return None
        prog = self._progs[at]
        self._notes.append(f"{prog.sid} {TIMED_OUT}: the call's --batt-timeout ran out while it ran "
                           "(--batt-program-timeout stops a program alone); the sample's other programs ran")
        if at + 1 >= len(self._progs):
            return False
        self._from = (self._task, at + 1)
        return True

    def _note_changes(self, prog: Program, changed: Optional[List[str]], threads: int, forks: int) -> None:
        notes, rails = self._notes, self._rails
        if rails.threads > threads:
            notes.append(f"{prog.sid} started {rails.threads - threads} thread(s) (those left running are "
                         "stopped after the sample, or their worker is replaced)")
        if rails.forks > forks:
            notes.append(f"{prog.sid} forked {rails.forks - forks} process(es) (ended after the sample)")
        if changed:
            notes.append(f"{prog.sid} {CHANGED} ({', '.join(changed)}); put back before the next program")
        if rails.refused:
            notes.append(f"{prog.sid} {REFUSED} {', '.join(rails.refused[:3])} (a program may not end, "
                         "signal or cut off the process it runs in)")
            rails.refused = []

    def _note_fault(self, prog: Program, outcome: Outcome) -> None:
        if outcome.status == "timeout":
            self._notes.append(f"{prog.sid} {TIMED_OUT} after {self.limit or 0:g} s (--batt-program-timeout)")
        elif not isinstance(outcome.error, Refused):  # a refusal is said above, by the rails
            # str() of the program's exception runs its code too: under its limit as well.
            said = self._timer.run(_error_text, outcome.error)
            text = said.value if said.status == "ok" else f"{type(outcome.error).__name__} (its message could not be read)"
            self._notes.append(f"{prog.sid} {RAISED} {text}")

    def take_note(self) -> Optional[str]:
        """What went wrong in the last solve call, as one line, and forget it."""
        notes, self._notes = self._notes, []
        if not notes:
            return None
        more = f"{NOTE_SEPARATOR}(+{len(notes) - MAX_NOTES} more)" if len(notes) > MAX_NOTES else ""
        return NOTE_PREFIX + NOTE_SEPARATOR.join(notes[:MAX_NOTES]) + more

    def annotate(self, rec: SampleRecord) -> None:
        """Add the last solve call's program faults to the sample's record (its ``error`` text)."""
        note = self.take_note()
        if note:
            add_error(rec, note)

    def describe(self, path: str) -> str:
        bound = sum(p.tasks is not None for p in self.programs)
        limit = f"{self.limit:g}s per program" if self.limit else "no per-program limit (--batt-program-timeout)"
        broken = f"; {len(self.problems)} problem(s) at load, listed below" if self.problems else ""
        return (f"batt: programs from {path}: {len(self.programs)} program(s) in {self.files} file(s), "
                f"{bound} bound to a task, {len(self.programs) - bound} tried on every task; "
                f"grid form {self.grid_form}; {limit}{broken}")


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {_one_line(str(e))}"


def _rows(value: Any, kind: str) -> Tuple[Any, Optional[str]]:
    """A list or tuple value as ``(grid or None, why it is no grid)`` (``kind``: the value's type, in the why).

    Plain lists and tuples, and 2-D numpy arrays read as lists, become tuples of row tuples
    (so that equal outputs share one diff call, as a batt's hashable candidates do) and the
    runner checks their cells as a batt's candidates are checked, naming a cell that is no
    colour; here only their shape is looked at (a whole check would double the adapter's
    cost). Builtins only, put back before this: no program code runs. Reading an array, or
    converting any other object, is :func:`_convert`'s, under the program's own limit,
    because it may run the object's code.
    """
    why = _shape_problem(value)
    return (tuple(map(tuple, value)), None) if why is None else (None, f"{kind}: {why}")


def grid_of(value: Any) -> Tuple[Any, Optional[str]]:
    """What the library makes of a program's value (no limit here): ``(grid or None, why it is no grid)``."""
    kind = type(value)
    return _rows(value, kind.__name__) if kind is list or kind is tuple else _convert(value)


def _convert(value: Any) -> Tuple[Any, Optional[str]]:
    kind = type(value)
    if getattr(value, "ndim", None) == 2 and hasattr(value, "tolist"):
        rows = value.tolist()  # a numpy array, read here; its cells are checked as a list's (a 7.5 is named)
        if type(rows) is list or type(rows) is tuple:
            return _rows(rows, kind.__name__)
    try:
        return grids.to_grid(value), None
    except (grids.GridError, TypeError, ValueError, OverflowError) as e:
        return None, f"{kind.__name__}: {_one_line(str(e), 120)}"


def _shape_problem(rows: Any) -> Optional[str]:
    """What is wrong with the rows of a list or tuple grid, looking at rows only (cells: the runner)."""
    if not 0 < len(rows) <= grids.MAX_SIDE:
        return f"{len(rows)} rows, a grid has 1 to {grids.MAX_SIDE}"
    if not all(type(r) is list or type(r) is tuple for r in rows):
        return "its rows are not all lists or tuples"
    widths = set(map(len, rows))
    if len(widths) > 1:
        return f"ragged rows, of widths {sorted(widths)[:4]}"
    width = widths.pop()
    if not 0 < width <= grids.MAX_SIDE:
        return f"rows of {width} cells, a grid has 1 to {grids.MAX_SIDE}"
    return None


@dataclass(frozen=True)
class LibraryModule(BattModule):
    """The loaded library as the plugin holds a batt; its hash covers the settings that change results."""

    config: str = ""

    def sha256(self) -> str:
        return hashlib.sha256((super().sha256() + "\n" + self.config).encode()).hexdigest()


def _import_problem(e: BaseException) -> str:
    if isinstance(e, SyntaxError):
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    return f"{type(e).__name__}: {_one_line(str(e))}"


def _takes_a_grid(func: Callable[..., Any]) -> bool:
    try:
        inspect.signature(func).bind(((0,),))
    except TypeError:
        return False
    except ValueError:
        pass  # no signature to read: the call decides
    return True


def load_library(path: str, base_dir: str, *, entries: str = DEFAULT_ENTRIES, map_path: Optional[str] = None,
                 grid_form: str = DEFAULT_GRID_FORM, program_timeout: Optional[float] = None,
                 import_timeout: Optional[float] = None) -> LibraryModule:
    """Import every file of the library, each on its own: a file that does not import is one problem, not the end.

    ``import_timeout`` bounds each file's import (a generated file may loop at import time).
    Raises :class:`LibraryError` when the library cannot be used at all.
    """
    t0 = time.perf_counter()
    root = Path(base_dir, path).expanduser().resolve()
    base, files = discovery.library_files(root)
    rels = [discovery.relative(f, base) for f in files]
    map_file = Path(base_dir, map_path).expanduser().resolve() if map_path else None
    mapped = discovery.read_map(map_file, rels) if map_file else {}
    wanted = parse_entries(entries)
    programs: List[Program] = []
    problems: List[str] = []
    importer = Timer(import_timeout)
    with captured_output() as printed:
        for file, rel in zip(files, rels):
            outcome = importer.run(import_file, file)
            if outcome.status == "timeout":
                problems.append(f"{rel}: not imported: its import took longer than {import_timeout:g} s (--batt-timeout)")
                continue
            if outcome.status == "error":
                assert outcome.error is not None
                problems.append(f"{rel}: not imported: {_import_problem(outcome.error)}")
                continue
            module = outcome.value
            for name, obj in list(vars(module).items()):
                if not inspect.isfunction(obj) or obj.__module__ != module.__name__:
                    continue  # imported from elsewhere (``from dsl import *``): not this file's program
                is_program, task = discovery.entry_task(name, wanted)
                if not is_program:
                    continue
                sid = f"{rel}::{name}"
                if not _takes_a_grid(obj):
                    problems.append(f"{sid}: not run: {name}{inspect.signature(obj)} does not take one argument, the input grid")
                    continue
                tasks = frozenset([task]) if task is not None else discovery.file_tasks(rel, mapped)
                programs.append(Program(len(programs), sid, obj, tasks))
    if not programs:
        why = f"; {'; '.join(problems[:3])}" if problems else ""
        raise LibraryError(f"--batt-programs {root}: no programs: none of its {len(files)} .py file(s) "
                           f"defines a function named {entries}{why}")
    library = Library(programs, grid_form, program_timeout, problems, len(files))
    output = "".join(printed) + "".join(f"[pytest-batt] {p}\n" for p in problems)
    bindings = sorted((k, sorted(v)) for k, v in mapped.items())
    config = f"entries={entries}\ngrid_form={grid_form}\nprogram_timeout={program_timeout}\nmapped={bindings}"
    used = tuple(str(f) for f in files) + ((str(map_file),) if map_file else ())
    return LibraryModule(f"programs:{path}", library, used, round(time.perf_counter() - t0, 6), output, config)


def library_of(batt: Any) -> Optional[Library]:
    """The :class:`Library` behind a loaded batt, or None for an ordinary batt."""
    func = getattr(batt, "func", None)
    return func if isinstance(func, Library) else None
