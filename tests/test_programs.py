"""A program library as a batt, without pytest machinery: discovery, binding, grid forms, limits."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import pytest

from pytest_batt import options, settings as settings_mod
from pytest_batt.options import DEFAULT_ENTRIES
from pytest_batt.programs import LibraryError, library_of, load_library, summary_lines
from pytest_batt.programs import discovery
from pytest_batt.programs.library import Library, Program
from pytest_batt.programs.limits import ProgramTimeout, Timer
from pytest_batt.programs.summary import faults

I = ((1, 2), (3, 4))
FLIPPED = ((2, 1), (4, 3))


def write(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def ids(library: Library, task_id: str) -> list:
    return [p.sid for p in library.for_task(task_id)]


@pytest.fixture
def clean_modules():
    """Library files are imported under their own names: forget them after each test."""
    before = set(sys.modules)
    path = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
    sys.path[:] = path


# --- discovery ---------------------------------------------------------------------------------

def test_entries_are_names_and_task_prefixes():
    e = options.parse_entries(" transform, solve_* ,p")
    assert e.names == {"transform", "p"} and e.prefixes == ("solve_",)
    assert discovery.entry_task("solve_007bbfb7", e) == (True, "007bbfb7")
    assert discovery.entry_task("solve_", e) == (False, None)
    assert discovery.entry_task("transform", e) == (True, None)
    assert discovery.entry_task("helper", e) == (False, None)
    for bad in ("", "a-b", "x*y*", ","):
        with pytest.raises(ValueError):
            options.parse_entries(bad)


def test_a_folder_is_walked_in_order_without_hidden_and_cache_files(tmp_path):
    write(tmp_path, {"b.py": "", "a/c.py": "", ".hidden/x.py": "", "__pycache__/y.py": "", "a/__init__.py": "", "notes.txt": ""})
    base, files = discovery.library_files(tmp_path)
    assert base == tmp_path and [discovery.relative(f, base) for f in files] == ["a/c.py", "b.py"]
    base, files = discovery.library_files(tmp_path / "b.py")
    assert base == tmp_path and files == [tmp_path / "b.py"]
    with pytest.raises(LibraryError, match="no such file"):
        discovery.library_files(tmp_path / "nothing")
    with pytest.raises(LibraryError, match="not a .py file"):
        discovery.library_files(tmp_path / "notes.txt")


def test_files_and_folders_named_like_arc_ids_bind_the_nearest_name_first():
    assert discovery.file_tasks("007bbfb7.py", {}) == {"007bbfb7"}
    assert discovery.file_tasks("007bbfb7/cand_1.py", {}) == {"007bbfb7"}
    assert discovery.file_tasks("0000aaaa/0000bbbb.py", {}) == {"0000bbbb"}
    assert discovery.file_tasks("0000aaaa/sub/x.py", {}) == {"0000aaaa"}
    # Not the ARC form: the same on every selection and every process, so unbound.
    assert discovery.file_tasks("task001.py", {}) is None
    assert discovery.file_tasks("007BBFB7.py", {}) is None
    assert discovery.file_tasks("007bbfb7.py", {"007bbfb7.py": frozenset({"x"})}) == {"x"}


def test_the_map_binds_files_and_folders_and_names_what_is_wrong(tmp_path):
    known = ["task001.py", "golf/task002.py", "golf/task003.py", "other.py"]
    m = tmp_path / "map.json"
    m.write_text(json.dumps({"00000001": "task001.py", "00000002": ["golf/"], "00000003": "golf/task003.py"}))
    assert discovery.read_map(m, known) == {
        "task001.py": {"00000001"}, "golf/task002.py": {"00000002"}, "golf/task003.py": {"00000002", "00000003"}}
    for content, match in [("[]", "must be a JSON object"), ("{", "not valid JSON"), ('{"a": 3}', "must name a path"),
                           ('{"a": "missing.py"}', "'missing.py' is no .py file")]:
        m.write_text(content)
        with pytest.raises(LibraryError, match=match):
            discovery.read_map(m, known)
    with pytest.raises(LibraryError, match="cannot be read"):
        discovery.read_map(tmp_path / "nope.json", known)


# --- loading -------------------------------------------------------------------------------------

def test_loading_finds_each_files_own_programs_and_reports_broken_files_once(tmp_path, clean_modules):
    write(tmp_path, {
        "helpers_h24a.py": "def transform(g):\n    return g\n",
        "star_h24a.py": "from helpers_h24a import *\ndef p(g):\n    return g\ndef helper(g):\n    return g\n",
        "solvers_h24a.py": "def solve_0000aaaa(I):\n    return I\ndef verify_0000bbbb(I):\n    return I\ndef solve(a, b):\n    return a\n",
        "syntax_h24a.py": "def transform(g)\n    return g\n",
        "missing_h24a.py": "import no_such_module_h24\ndef transform(g):\n    return g\n",
        "prints_h24a.py": "print('hello from a library')\n",
    })
    m = load_library(str(tmp_path), "/", entries=DEFAULT_ENTRIES)
    lib = library_of(m)
    assert lib is not None
    # ``from helpers_h24a import *`` brings transform into star_h24a: not star_h24a's program.
    assert [p.sid for p in lib.programs] == ["helpers_h24a.py::transform", "solvers_h24a.py::solve_0000aaaa",
                                             "solvers_h24a.py::verify_0000bbbb", "star_h24a.py::p"]
    assert ids(lib, "0000aaaa") == ["helpers_h24a.py::transform", "solvers_h24a.py::solve_0000aaaa", "star_h24a.py::p"]
    assert ids(lib, "0000bbbb") == ["helpers_h24a.py::transform", "solvers_h24a.py::verify_0000bbbb", "star_h24a.py::p"]
    assert lib.problems == (
        "missing_h24a.py: not imported: ModuleNotFoundError: No module named 'no_such_module_h24'",
        "solvers_h24a.py::solve: not run: solve(a, b) does not take one argument, the input grid",
        "syntax_h24a.py: not imported: SyntaxError: expected ':' (line 1)",
    )
    assert m.import_output.startswith("hello from a library\n")
    assert "[pytest-batt] syntax_h24a.py: not imported" in m.import_output
    assert m.spec == f"programs:{tmp_path}" and len(m.files) == 6


def test_per_task_folders_of_same_named_files_are_each_their_own_programs(tmp_path, clean_modules):
    """The LLM-pipeline shape: ``<task_id>/candidate_N.py``, the same file names in every folder."""
    write(tmp_path, {
        "0000aaaa/cand_h24e.py": "def transform(g):\n    return [[1]]\n",
        "0000bbbb/cand_h24e.py": "def transform(g):\n    return [[2]]\n",
        "0000bbbb/more/cand_h24e.py": "def transform(g):\n    return [[3]]\n",
    })
    lib = library_of(load_library(str(tmp_path), "/"))
    assert [c[2:] for c in lib("0000aaaa", (), I, None, "")[0]] == [("0000aaaa/cand_h24e.py::transform", ((1,),))]
    assert [c[2:] for c in lib("0000bbbb", (), I, None, "")[0]] == [
        ("0000bbbb/cand_h24e.py::transform", ((2,),)), ("0000bbbb/more/cand_h24e.py::transform", ((3,),))]
    assert lib("0000cccc", (), I, None, "")[0] == ()


def test_a_file_that_loops_at_import_costs_its_import_limit(tmp_path, clean_modules):
    write(tmp_path, {"loops_h24b.py": "while True:\n    pass\n", "fine_h24b.py": "def p(g):\n    return g\n"})
    t0 = time.monotonic()
    lib = library_of(load_library(str(tmp_path), "/", import_timeout=0.2))
    assert time.monotonic() - t0 < 30  # a hang guard only (shared machines are slow); the limit's event is below
    assert [p.sid for p in lib.programs] == ["fine_h24b.py::p"]
    assert lib.problems == ("loops_h24b.py: not imported: its import took longer than 0.2 s (--batt-timeout)",)


def test_a_library_without_programs_is_an_error_that_says_why(tmp_path, clean_modules):
    write(tmp_path, {"a_h24c.py": "def helper(g):\n    return g\n", "b_h24c.py": "def transform(g)\n"})
    why = r"no programs: none of its 2 .py file\(s\) defines a function named transform,solve.*b_h24c.py: not imported"
    with pytest.raises(LibraryError, match=why):
        load_library(str(tmp_path), "/")


def test_the_hash_changes_with_the_grid_form_and_the_entries(tmp_path, clean_modules):
    write(tmp_path, {"x_h24d.py": "def p(g):\n    return g\n"})
    a = load_library(str(tmp_path), "/").sha256()
    assert load_library(str(tmp_path), "/").sha256() == a
    assert load_library(str(tmp_path), "/", grid_form="tuple").sha256() != a
    assert load_library(str(tmp_path), "/", entries="p,q").sha256() != a


# --- calls ---------------------------------------------------------------------------------------

def library(*funcs, form="list", limit=None, tasks=None):
    progs = [Program(i, f"lib.py::{f.__name__}", f, (tasks or {}).get(f.__name__)) for i, f in enumerate(funcs)]
    return Library(progs, form, limit)


def test_a_solve_call_runs_bound_and_unbound_programs_in_order_and_a_diff_call_returns_nothing():
    def flip(g):
        return [r[::-1] for r in g]

    def solve_0000aaaa(g):
        return g

    lib = library(flip, solve_0000aaaa, tasks={"solve_0000aaaa": frozenset({"0000aaaa"})})
    o, s = lib("0000aaaa", (), I, None, "log")
    assert o == ((0, None, "lib.py::flip", FLIPPED), (1, None, "lib.py::solve_0000aaaa", I)) and s == ()
    assert lib("0000bbbb", (), I, None, "log") == (((0, None, "lib.py::flip", FLIPPED),), ())
    assert lib("0000aaaa", (), I, I, "log") == ((), ())
    assert lib.take_note() is None


def test_every_program_gets_a_fresh_copy_in_its_grid_form():
    seen = []

    def mutate(g):
        seen.append(type(g).__name__)
        if isinstance(g, list):
            g[0][0] = 9
            g.append([0, 0])
        return g

    def read(g):
        seen.append(type(g).__name__)
        return g

    lib = library(mutate, read)
    (_, _, _, mutated), (_, _, _, read_back) = lib("t", (), I, None, "")[0]
    assert mutated == ((9, 2), (3, 4), (0, 0)) and read_back == I
    assert seen == ["list", "list"]
    assert lib("t", (), I, None, "")[0][1][3] == I  # and again on the next call
    seen.clear()
    tuple_lib = library(read, form="tuple")
    assert tuple_lib("t", (), I, None, "")[0][0][3] == I and seen == ["tuple"]
    numpy = pytest.importorskip("numpy")
    seen.clear()

    def np_mutate(g):
        assert g.dtype == numpy.int64
        g[0, 0] = 7
        return numpy.fliplr(g)

    lib = library(np_mutate, read, form="numpy")
    (_, _, _, a), (_, _, _, b) = lib("t", (), I, None, "")[0]
    assert a == ((2, 7), (4, 3)) and b == I  # a numpy value comes back as a canonical grid


def test_faults_cost_only_their_program_and_are_noted_by_id():
    def loop(g):
        while True:
            pass

    def boom(g):
        raise ValueError("no\nidea")

    def leaves(g):
        raise SystemExit(3)

    def base(g):
        raise BaseException("odd")

    def not_grid(g):
        return [[1, 2], [3]]

    class Sly(Exception):
        def __str__(self) -> str:
            while time.monotonic() > 0:  # forever
                pass
            return "never"

    def sly(g):
        raise Sly()

    def fine(g):
        return [r[::-1] for r in g]

    lib = library(loop, boom, leaves, base, not_grid, sly, fine, limit=0.2)
    t0 = time.monotonic()
    o, _ = lib("t", (), I, None, "")
    assert 0.4 <= time.monotonic() - t0 < 30  # each of the two slow ones took its limit; the upper bound guards a hang
    assert [(c[2], c[3]) for c in o] == [("lib.py::not_grid", None), ("lib.py::fine", FLIPPED)]
    note = lib.take_note()
    assert note == ("program faults: lib.py::loop timed out after 0.2 s (--batt-program-timeout) | "
                    "lib.py::boom raised ValueError: no idea | lib.py::leaves raised SystemExit: 3 | "
                    "lib.py::base raised BaseException: odd | "
                    "lib.py::not_grid returned no grid (list: ragged rows, of widths [1, 2]) | "
                    "lib.py::sly raised Sly (its message could not be read)")
    assert lib.take_note() is None  # taken once
    rec = {"error": "earlier"}
    lib("t", (), I, None, "")
    lib.annotate(rec)  # type: ignore[arg-type]
    assert rec["error"].startswith("earlier; program faults: lib.py::loop timed out")


def test_a_program_that_swallows_its_timeout_is_interrupted_again():
    def stubborn(g):
        try:
            while True:
                pass
        except ProgramTimeout:
            pass  # swallowed: loops on
        while True:
            pass

    t0 = time.monotonic()
    outcome = Timer(0.1).run(stubborn, I)
    assert outcome.status == "timeout" and time.monotonic() - t0 < 30  # returned at all: interrupted again


def test_the_program_timer_nests_inside_the_outer_timer_and_gives_it_back():
    fired = []

    def outer(signum, frame):
        fired.append(time.monotonic())
        raise TimeoutError("outer")

    def loop(g):
        while True:
            pass

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        t0 = time.monotonic()
        assert Timer(0.1).run(loop, I).status == "timeout"
        assert signal.getsignal(signal.SIGALRM) is outer
        remaining, spent = signal.getitimer(signal.ITIMER_REAL)[0], time.monotonic() - t0
        # What the outer timer had left, not reset and not lost: its second minus the time spent (however long).
        assert remaining <= 0.9 + 1e-3 and abs(remaining - (1.0 - spent)) < 0.05
        # The outer deadline comes first: its own exception ends the program and passes on.
        with pytest.raises(TimeoutError, match="outer"):
            Timer(5).run(loop, I)
        assert 0.95 < fired[0] - t0 < 30 and len(fired) == 1  # not before its time, and once
        # Ours armed but the outer deadline falls inside a swallowing program's repeats: handed over.
        signal.setitimer(signal.ITIMER_REAL, 0.3)

        def swallow_ours(g):
            while True:
                try:
                    while True:
                        pass
                except ProgramTimeout:
                    pass

        with pytest.raises(TimeoutError, match="outer"):
            Timer(0.1).run(swallow_ours, I)
        assert len(fired) == 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_batt_call_of_many_programs_keeps_the_outer_deadline():
    """The library's call takes SIGALRM over once: each program gets its own limit, the outer
    deadline still ends the call, and afterwards the outer timer has what it had left."""
    fired = []

    def outer(signum, frame):
        fired.append(time.monotonic())
        raise TimeoutError("outer")

    def loop(g):
        while True:
            pass

    def fine(g):
        return g

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        lib = library(loop, fine, loop, limit=0.1)
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        t0 = time.monotonic()
        o, _ = lib("t", (), I, None, "")
        remaining, spent = signal.getitimer(signal.ITIMER_REAL)[0], time.monotonic() - t0
        assert [c[2] for c in o] == ["lib.py::fine"] and lib.take_note().count("timed out") == 2
        assert signal.getsignal(signal.SIGALRM) is outer and remaining < 0.8 + 1e-3 and abs(remaining - (1.0 - spent)) < 0.05
        lib = library(fine, loop, loop, loop, loop, limit=0.2)  # 0.8 s of programs, 0.5 s left
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="outer"):
            lib("t", (), I, None, "")
        assert 0.45 < fired[0] - t0 < 30 and len(fired) == 1  # the outer deadline, not the programs' 0.8 s, once
        assert signal.getsignal(signal.SIGALRM) is outer and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_stray_alarm_is_no_programs_timeout_and_its_limit_still_holds():
    import os

    def stray(g):
        os.kill(os.getpid(), signal.SIGALRM)
        return g

    def stray_then_loop(g):
        os.kill(os.getpid(), signal.SIGALRM)
        while True:
            pass

    timer = Timer(0.2)
    with timer.session():
        assert timer.run(stray, I) == (("ok", I, None))
        t0 = time.monotonic()
        assert timer.run(stray_then_loop, I).status == "timeout"
        assert 0.15 < time.monotonic() - t0 < 30  # its own limit, not cut short by the stray alarm
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_without_a_limit_no_timer_is_touched_and_a_real_ctrl_c_passes_on():
    def check(g):
        return signal.getitimer(signal.ITIMER_REAL), signal.getsignal(signal.SIGALRM)

    handler = signal.getsignal(signal.SIGALRM)
    assert Timer(None).run(check, I).value == ((0.0, 0.0), handler)

    def ctrl_c(g):
        raise KeyboardInterrupt

    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)  # a process in the foreground
    try:
        with pytest.raises(KeyboardInterrupt):
            Timer(None).run(ctrl_c, I)
        # A process started in the background ignores SIGINT: no Ctrl-C can come, so it is the program's own.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        outcome = Timer(None).run(ctrl_c, I)
        assert outcome.status == "error" and type(outcome.error) is KeyboardInterrupt
    finally:
        signal.signal(signal.SIGINT, started_with)

    class RealInterrupt(KeyboardInterrupt):
        pass

    def real(signum, frame):
        raise RealInterrupt()

    previous = signal.signal(signal.SIGINT, real)  # as the plugin's guard does during a batt call
    try:
        outcome = Timer(0.5).run(ctrl_c, I)  # the program's own KeyboardInterrupt: its error
        assert outcome.status == "error" and type(outcome.error) is KeyboardInterrupt
        with pytest.raises(RealInterrupt):
            Timer(0.5).run(lambda g: real(2, None), I)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_samples_note_lists_the_first_faults_and_counts_the_rest():
    def boom(g):
        raise ValueError("x")

    lib = Library([Program(i, f"f{i}.py::p", boom, None) for i in range(33)])
    lib("t", (), I, None, "")
    note = lib.take_note()
    assert note.count("raised ValueError: x") == 30 and note.endswith(" | (+3 more)")


def test_a_programs_recursion_limit_does_not_reach_the_next_program():
    limit = sys.getrecursionlimit()

    def lower(g):
        sys.setrecursionlimit(100)
        return g

    assert Timer(None).run(lower, I).status == "ok" and sys.getrecursionlimit() == limit


# --- summary ---------------------------------------------------------------------------------------

def test_the_summary_names_only_real_programs_most_faulty_first():
    sample = lambda error: {"error": error}  # noqa: E731
    results = {"tasks": {"t": {"samples": [
        sample("program faults: a.py::p timed out after 1 s (--batt-program-timeout) | b.py::p raised ValueError: x | "
               "fake.py::p timed out after 1 s"),
        sample("program faults: a.py::p timed out after 1 s | b.py::p raised KeyError: 'b.py::p raised x' | "
               "c.py::p returned no grid (NoneType: ...)"),
        sample(None), sample("the batt left 1 process(es) running"),
    ]}}}
    known = ["a.py::p", "b.py::p", "c.py::p"]
    assert faults(results, known) == {"timed out": {"a.py::p": 2}, "raised": {"b.py::p": 2}, "returned no grid": {"c.py::p": 1}}

    class Batt:
        func = Library([Program(i, sid, len, None) for i, sid in enumerate(known)], "list", 1.0)  # a program limit: no hint

    assert summary_lines(results, Batt()) == ["programs that timed out: 1: a.py::p (2 samples)",
                                              "programs that raised: 1: b.py::p (2 samples)",
                                              "programs that returned no grid: 1: c.py::p (1 sample)"]
    assert summary_lines(results, object()) == []



# --- settings ----------------------------------------------------------------------------------------

def read_settings(cli: dict, ini: dict | None = None):
    ini = ini or {}
    return settings_mod.read(lambda name: cli.get(name), lambda name: ini.get(name, ""), "/base")


def test_settings_take_a_library_and_its_options():
    s = read_settings({"batt_programs": "lib", "batt_grid_form": "tuple", "batt_program_timeout": 0.5})
    assert (s.programs, s.grid_form, s.program_timeout, s.entries) == ("lib", "tuple", 0.5, DEFAULT_ENTRIES)
    assert s.source == "programs:lib"
    s = read_settings({}, {"batt_programs": "lib", "batt_entry": "p, q_*", "batt_program_timeout": "2"})
    assert (s.programs, s.entries, s.program_timeout, s.grid_form) == ("lib", "p,q_*", 2.0, "list")
    sent = settings_mod.for_workers(s, ["a"])
    back = settings_mod.from_controller(sent, "/w")
    assert (back.programs, back.entries, back.program_timeout, back.grid_form, back.base_dir) == ("lib", "p,q_*", 2.0, "list", "/w")
    # The command line beats the ini file: a project's batt_module does not block --batt-programs.
    assert read_settings({"batt_programs": "lib"}, {"batt_module": "batt.py"}).programs == "lib"
    assert read_settings({}, {"batt_module": "batt.py"}).source == "batt.py"


@pytest.mark.parametrize("cli, ini, match", [
    ({"batt_programs": "lib", "batt_module": "b.py"}, {}, "--batt-module and --batt-programs exclude each other"),
    ({}, {"batt_programs": "lib", "batt_module": "b.py"}, "batt_module and batt_programs exclude each other"),
    ({"batt_grid_form": "tuple"}, {}, "--batt-grid-form needs --batt-programs"),
    ({}, {"batt_program_timeout": "1"}, "--batt-program-timeout needs --batt-programs"),
    ({"batt_programs": "lib"}, {"batt_grid_form": "matrix"}, "ini option batt_grid_form: 'matrix': choose one of list, tuple, numpy"),
    ({"batt_programs": "lib"}, {"batt_entry": "a b"}, "ini option batt_entry: 'a b' is not a function name"),
])
def test_settings_refuse_what_cannot_be_meant(cli, ini, match):
    with pytest.raises(ValueError, match=match):
        read_settings(cli, ini)


def test_option_types_are_usage_errors():
    assert options.grid_form("numpy") == "numpy"
    assert options.entry_names(" transform , solve_* ") == "transform,solve_*"
    for convert, bad in ((options.grid_form, "lists"), (options.entry_names, "1abc"), (options.entry_names, "")):
        with pytest.raises(argparse.ArgumentTypeError):
            convert(bad)


@pytest.mark.parametrize("value, why", [
    (None, "NoneType: "),
    ([[1, 2], [3]], "list: ragged rows, of widths [1, 2]"),
    (((1,),) * 31, "tuple: 31 rows, a grid has 1 to 30"),
    ([[]], "list: rows of 0 cells, a grid has 1 to 30"),
    (["12"], "list: its rows are not all lists or tuples"),
    ({"a": 1}, "dict: "),
])
def test_what_is_no_grid_is_said_as_the_program_returns(value, why):
    from pytest_batt.programs.library import grid_of

    grid, said = grid_of(value)
    assert grid is None and said.startswith(why)


def test_a_numpy_value_is_converted_under_the_programs_limit_and_lists_pass_as_they_are():
    from pytest_batt.programs.library import grid_of

    numpy = pytest.importorskip("numpy")
    assert grid_of(numpy.zeros((2, 2, 2), dtype=int)) == (None, "ndarray: array has 3 dimensions, a grid has 2")
    assert grid_of(numpy.ones((1, 2), dtype=numpy.int8)) == (((1, 1),), None)
    # The shape is a grid's; the cells are the runner's to take or refuse (naming the cell), as a batt's candidate's.
    assert grid_of([[1.5, 2]]) == (((1.5, 2),), None)
    assert grid_of(numpy.array([[7.5, 1.0]])) == (((7.5, 1.0),), None)
    assert grid_of(numpy.array([[7.0, 1.0]])) == (((7.0, 1.0),), None)
    assert grid_of(numpy.zeros((31, 2))) == (None, "ndarray: 31 rows, a grid has 1 to 30")


def test_the_overhead_benchmark_calls_the_same_programs_on_both_sides(tmp_path, monkeypatch, clean_modules, task_files):
    """Nothing timed here: both sides make the same number of program calls, and the file says so."""
    flip = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}
    task_files(tmp_path / "tasks", {tid: flip for tid in ("0000aaaa", "0000bbbb")})
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import programs_overhead

    assert programs_overhead.main(["--data", "tasks", "--toy-files", "2", "--rounds", "2", "--json", "out.json"]) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["calls"] == 2 * 2 * 6 and set(out["ratio"]) == {"plain", "adapter", "adapter+limit", "worker", "bare"}
    assert out["ratio"]["plain"] == 1.0


def test_equal_outputs_of_many_programs_are_one_grid_and_a_library_makes_no_diff_call():
    """Lists come back as row tuples: equal outputs are one grid; a library has no differs, so the
    runner makes its solve call only (a diff call would return nothing)."""
    from pytest_batt import runner
    from pytest_batt.tasks import parse_task

    task = parse_task("0000aaaa", {"train": [{"input": [[1, 2]], "output": [[2, 1]]}],
                                   "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}, "here")
    def make_flip(n):
        def flip(g):
            return [r[::-1] for r in g]

        flip.__name__ = f"flip{n}"
        return flip

    flips = [make_flip(n) for n in range(5)]  # five programs, one output

    def same(g):
        return g

    rec = runner.run_sample(library(*flips, same), task, task.samples[-1])
    assert rec["status"] == "ok" and rec["candidates"] == 6 and rec["calls"] == 1
    assert len({fp for _, fp, _ in rec["cands"]}) == 2 and rec["d"] == {}


def _looping(g):
    while True:
        pass


def _flip(g):
    return [r[::-1] for r in g]


def _same(g):
    return g


def _sample_of_flip():
    from pytest_batt.tasks import parse_task

    task = parse_task("0000aaaa", {"train": [{"input": [[1, 2]], "output": [[2, 1]]}],
                                   "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}, "here")
    return task, task.samples[0]


@pytest.mark.parametrize("order", [["_same", "_looping", "_flip"], ["_flip", "_looping"], ["_looping", "_same", "_flip"]])
def test_a_program_that_outlasts_the_call_costs_its_sample_one_timeout_not_the_other_programs(order):
    """No --batt-program-timeout: the call's own timeout ends the looping program; it is named, what
    ran before it is kept and the programs after it run in a new call. The sample is judged as usual."""
    from toys import TimerGuard

    from pytest_batt import runner

    task, sample = _sample_of_flip()
    lib = library(*[globals()[name] for name in order])
    rec = runner.run_sample(lib, task, sample, TimerGuard(0.3))
    lib.annotate(rec)
    assert rec["status"] == "ok" and rec["candidates"] == len(order) - 1 and "kept" not in rec
    assert sorted(sid for sid, _, _ in rec["cands"]) == sorted(f"lib.py::{n}" for n in order if n != "_looping")
    assert rec["calls"] == (1 if order[-1] == "_looping" else 2)
    assert "lib.py::_looping timed out: the call's --batt-timeout ran out while it ran" in rec["error"]
    assert summary_lines({"tasks": {"t": {"samples": [rec]}}}, type("B", (), {"func": lib})()) == [
        "programs that timed out: 1: lib.py::_looping (1 sample) (no --batt-program-timeout: each took its samples' "
        "whole --batt-timeout; set one to stop them sooner)"]
    again = runner.run_sample(lib, task, task.samples[1], TimerGuard(0.3))  # the next sample starts at the first program
    assert (again["status"], again["candidates"], again["calls"]) == ("ok", rec["candidates"], rec["calls"])


def test_a_sample_of_many_stalling_programs_stops_at_the_most_calls_and_keeps_what_returned():
    from toys import TimerGuard

    from pytest_batt import runner

    task, sample = _sample_of_flip()
    loops = []
    for n in range(runner.MAX_LIBRARY_CALLS + 2):
        def loop(g):
            return _looping(g)

        loop.__name__ = f"loop{n}"
        loops.append(loop)
    rec = runner.run_sample(library(_flip, *loops), task, sample, TimerGuard(0.05))
    assert rec["status"] == "timeout" and rec["calls"] == runner.MAX_LIBRARY_CALLS and rec["kept"] == 1
    assert f"{runner.MAX_LIBRARY_CALLS} calls, the most a sample gets" in rec["error"]


def test_a_profiled_library_makes_no_diff_call_either(tmp_path):
    """--batt-profile wraps the library; the wrap must not hide that it has no differs."""
    from pytest_batt import runner
    from pytest_batt.tasks import parse_task

    task = parse_task("0000aaaa", {"train": [{"input": [[1, 2]], "output": [[2, 1]]}],
                                   "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}, "here")

    def flip(g):
        return [r[::-1] for r in g]

    plain = [runner.run_sample(library(flip), task, s) for s in task.samples]
    profiled = [runner.run_sample(library(flip), task, s, profile_path=str(tmp_path / f"{s.kind}{s.index}.pstats"))
                for s in task.samples]
    assert [r["calls"] for r in profiled] == [r["calls"] for r in plain] == [1, 1]
    assert [r["status"] for r in profiled] == ["ok", "ok"] and all(r["profile"]["file"] for r in profiled)
