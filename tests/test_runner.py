import os
import re
import sys
import time
import textwrap

import numpy as np
import pytest

from pytest_batt import battmodule, contract, judging, runner
from pytest_batt.isolation import capabilities, processes
from pytest_batt.isolation.guard import BattTimeout, Guard
from pytest_batt.tasks import parse_task

TASK = parse_task(
    "t",
    {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]], "output": [[4, 3]]}]},
    "toy",
)


def judged(batt, task, sample, **kw):
    """Run a sample as a worker does, then judge it as the controller does."""
    rec = runner.run_sample(batt, task, sample, **kw)
    return judging.judge(rec, sample.output)


# The frames between a batt call and the batt: cut from the error it raised.
OUR_FRAMES = re.compile(r"pytest_batt/(runner|contract|isolation/\w+)\.py|contextlib")


def flip(I):
    return tuple(row[::-1] for row in I)


def test_candidates_from_lists_arrays_and_junk_are_normalised():
    o = [
        (1, None, "list", [[2, 1]]),
        (2, None, "array", np.array([[2, 1]])),
        (3, None, "junk", "not a grid"),
        (4, None, "ragged", [[1], [1, 2]]),
    ]
    cands = contract.normalise_candidates(o)
    assert [(c.solver_id, c.grid) for c in cands] == [("list", ((2, 1),)), ("array", ((2, 1),)), ("junk", None), ("ragged", None)]
    assert [c.value is v[3] for c, v in zip(cands, o)] == [True] * 4  # kept as returned, for the diff calls
    assert [(c.solver_id, c.grid) for c in contract.normalise_candidates(x for x in o[:1])] == [("list", ((2, 1),))]


@pytest.mark.parametrize(
    "o, why",
    [
        (None, "must be a sequence of 4-tuples"),
        ([(1, 2, 3)], r"o\[0\] must be a 4-tuple"),
        ([(1, None, 7, [[1]])], "solver_id must be a str"),
        ("abc", "must be a sequence"),
    ],
)
def test_malformed_candidates_name_the_rule(o, why):
    with pytest.raises(contract.ContractError, match=why):
        contract.normalise_candidates(o)


def test_rows_keep_size_only_when_value_is_a_tuple_starting_with_an_int():
    s = [(1, "None", "d", (0, "x")), (2, "a", "d", (np.int64(3), "y")), (3, "a", "d", [1]), (4, "a", "d", ("1",)), (5, "a", "d", None)]
    assert contract.normalise_rows(s) == [
        (1, "None", "d", 0), (2, "a", "d", 3), (3, "a", "d", None), (4, "a", "d", None), (5, "a", "d", None)
    ]
    with pytest.raises(contract.ContractError, match=r"s\[0\] must be a 4-tuple"):
        contract.normalise_rows([(1, 2)])


def test_demo_sample_makes_one_solve_and_one_diff_call():
    calls = []

    def batt(task_id, S, I, C, log_path):
        calls.append(C)
        return [(1, 0, "flip", flip(I)), (2, 0, "id", I), (3, 0, "flip2", flip(I))], [(9, "None", "d", (1,))] if C else []

    rec = judged(batt, TASK, TASK.demos[0])
    assert calls == [None, ((2, 1),)]
    assert rec["status"] == "solved" and rec["calls"] == 2
    assert rec["matched"] == ["flip", "flip2"]
    assert rec["o"] == {"flip": 1, "id": 0, "flip2": 1}


def test_test_sample_diffs_each_distinct_candidate_value_once():
    calls = []
    nan = float("nan")
    odd = [[4, 3]]

    def batt(task_id, S, I, C, log_path):
        calls.append(C)
        return [(1, 0, "a", flip(I)), (2, 0, "b", flip(I)), (3, 0, "c", I), (4, 0, "d", None), (5, 0, "e", ()),
                (6, 0, "f", ()), (7, 0, "g", ((nan, 3),)), (8, 0, "h", ((nan, 3),)), (9, 0, "i", odd), (10, 0, "j", odd),
                (11, 0, "k", ((4.0, 3),)), (12, 0, "l", None)], []

    rec = judged(batt, TASK, TASK.tests[0])
    assert calls[0] is None
    # One call per distinct value, in batt order; values not equal to themselves (nan) and
    # unhashable ones (lists) get a call per candidate; 4.0 == 4 but is not the same argument.
    assert calls[1:4] == [((4, 3),), ((3, 4),), None] and calls[4] == ()
    assert [c is odd for c in calls[7:9]] == [True, True] and calls[9] == ((4.0, 3),)
    assert len(calls) == 10 and rec["calls"] == 10
    # Only valid grids can be attempts; 4.0 equals the colour 4, so k's grid is one (and matches).
    assert [r[0] for r in rec["ranked"]] == ["a", "b", "c", "i", "j", "k"]
    assert rec["ranked"][0] == ["a", rec["expected"]] and rec["ranked"][3] == ["i", rec["expected"]]
    assert rec["ranked"][5] == ["k", rec["expected"]] and "k" in rec["matched"]


@pytest.mark.parametrize("a, b, shared", [
    (((1, 2),), ((1, 2),), True),
    ((), (), True),
    (None, None, True),
    (((1, 2),), ((1.0, 2),), False),
    (((1, 2),), ((True, 2),), False),
    ((0, frozenset({(1, 2)})), (0, frozenset({(1, 2)})), False),  # tuples in a frozenset: not trusted
    (frozenset({1, 2}), frozenset({2, 1}), True),
    ([[1]], [[1]], False),
])
def test_diff_keys_share_a_call_only_for_equal_values_of_equal_types(a, b, shared):
    assert (contract.diff_key(a) == contract.diff_key(b)) is shared


def test_diff_key_of_a_value_holding_nan_is_its_own_even_for_the_same_object():
    v = ((float("nan"), 1),)
    assert contract.diff_key(v) != contract.diff_key(v)


def test_unsolved_sample_explains_the_closest_candidate():
    def batt(task_id, S, I, C, log_path):
        return [(1, 0, "id", I), (2, 0, "wide", ((1, 2, 3),))], []

    rec = judged(batt, TASK, TASK.demos[0])
    assert rec["status"] == "unsolved"
    assert "no candidate matched the expected 1x2 output (2 candidates" in rec["message"]
    assert "closest: id: 2 of 2 cells differ, first at row 0 col 0: 1 instead of 2" in rec["message"]


@pytest.mark.parametrize("kind", ["demo", "test"])
def test_an_invalid_grid_says_why_in_the_failure(kind):
    """Demo samples are explained by the worker, test samples by the controller (it alone has the output)."""
    def batt(task_id, S, I, C, log_path):
        return [(1, 0, "half.py::p", [[7.5, 1.0]])], []

    sample = TASK.demos[0] if kind == "demo" else TASK.tests[0]
    rec = judged(batt, TASK, sample)
    assert rec["status"] == "unsolved" and "invalid" not in rec
    assert rec["message"] == ("no candidate matched the expected 1x2 output (1 candidates, 0 valid grids, 0 distinct)\n"
                              "not a grid: half.py::p: cell (0, 0) is 7.5, not a colour 0..9")


def test_whole_float_cells_match_and_a_solved_sample_lists_no_invalid_candidate():
    def batt(task_id, S, I, C, log_path):
        return [(1, 0, "floats", [[2.0, np.float64(1)]]), (2, 0, "nan", [[float("nan"), 1]])], []

    rec = judged(batt, TASK, TASK.demos[0])
    assert rec["status"] == "solved" and rec["matched"] == ["floats"] and rec["message"] is None


def test_the_nearest_few_invalid_candidates_are_explained_each_on_one_bounded_line():
    long_id = "x" * 5000
    def batt(task_id, S, I, C, log_path):
        return [(1, 0, "none", None), (2, 0, "ragged", [[1, 2], [3]]), (3, 0, "none2", None), (4, 0, "evil\nnot a grid: fake", [[9.5, 1]]),
                (5, 0, long_id, [["7" * 5000, 1]]), (6, 0, "id", I), (7, 0, "nan", [[1, float("nan")]])], []

    rec = judged(batt, TASK, TASK.tests[0])
    lines = rec["message"].splitlines()
    assert lines[1].startswith("closest: id: 2 of 2 cells differ")
    reasons = lines[2:]
    # A bad cell first (in batt order), then bad rows, then no rows: three at most, each reason once.
    assert reasons[0] == "not a grid: evil\\x0anot a grid: fake: cell (0, 0) is 9.5, not a colour 0..9"
    assert reasons[1].startswith("not a grid: xxx") and "cell (0, 0) is '777" in reasons[1] and len(reasons[1]) < 250
    assert reasons[2] == "not a grid: nan: cell (0, 1) is nan, not a colour 0..9"
    assert len(reasons) == 3


def test_a_worker_sending_a_malformed_list_of_reasons_gets_no_line_from_it():
    def batt(task_id, S, I, C, log_path):
        return [(1, 0, "id", I)], []

    rec = runner.run_sample(batt, TASK, TASK.tests[0])
    rec["invalid"] = [["only one"], "text", ["a", "b\x1b[2J"]]
    rec = judging.judge(rec, TASK.tests[0].output)
    assert rec["message"].splitlines()[2:] == ["not a grid: a: b\\x1b[2J"]
    rec = runner.run_sample(batt, TASK, TASK.tests[0])
    rec["invalid"] = 5
    assert judging.judge(rec, TASK.tests[0].output)["status"] == "error"


def test_no_grid_reasons_reads_each_problem_once_for_a_value_many_solvers_return():
    bad = [[1, 7.5]]
    cands = contract.normalise_candidates([(i, 0, f"s{i}", bad) for i in range(1000)] + [(0, 0, "n", None)])
    assert sum(c.problem is not None for c in cands) == 1001
    assert contract.no_grid_reasons(cands) == [["s0", "cell (0, 1) is 7.5, not a colour 0..9"],
                                               ["n", "NoneType is not a sequence of rows"]]
    assert contract.no_grid_reasons(cands, 1) == [["s0", "cell (0, 1) is 7.5, not a colour 0..9"]]


def test_exceptions_become_errors_with_the_batt_frames_only():
    def batt(task_id, S, I, C, log_path):
        raise KeyError("boom")

    rec = judged(batt, TASK, TASK.demos[0])
    assert rec["status"] == "error"
    assert rec["error"].startswith("solve call raised KeyError: 'boom'")
    assert "in batt" in rec["error"] and not OUR_FRAMES.search(rec["error"])


def test_an_error_while_reading_the_return_value_shows_the_batt_frames_only():
    def candidates(grid):
        yield (1, 0, "flip", flip(grid))
        raise KeyError("late")

    def batt(task_id, S, I, C, log_path):
        return candidates(I), []

    rec = judged(batt, TASK, TASK.demos[0])
    assert rec["error"].startswith("solve call raised KeyError: 'late'")
    assert "in candidates" in rec["error"] and not OUR_FRAMES.search(rec["error"])


def test_system_exit_is_an_error_not_the_end_of_the_process():
    def batt(task_id, S, I, C, log_path):
        raise SystemExit(3)

    assert judged(batt, TASK, TASK.demos[0])["status"] == "error"


class Refuse(Guard):
    """Times out every call whose label is not ``allowed``."""

    def __init__(self, allowed=None):
        super().__init__()
        self.allowed = allowed
        self.stops = 0

    def start(self, label):
        if label != self.allowed:
            raise BattTimeout(f"{label} timed out after 1 s")

    def stop(self):
        self.stops += 1


def test_a_guard_timeout_is_a_timeout_and_a_failed_diff_call_contributes_nothing():
    def batt(task_id, S, I, C, log_path):
        return [(1, 0, "flip", flip(I))], [(1, "None", "d", (1,))]

    guard = Refuse("solve call")
    rec = judged(batt, TASK, TASK.demos[0], guard=guard)
    assert rec["status"] == "solved" and rec["d"] == {}
    assert "1 diff call(s) failed" in rec["error"] and "timed out" in rec["error"]
    assert guard.stops >= 2  # stopped after every call, the failed one too

    rec = judged(batt, TASK, TASK.demos[0], guard=Refuse())
    assert rec["status"] == "timeout" and rec["error"] == "solve call timed out after 1 s"


class LateTimer(Guard):
    """A timer that fires while the guard stops, as pytest-timeout's can when a call ends."""

    def __init__(self):
        super().__init__()
        self.fired = False

    def stop(self):
        if not self.fired:
            self.fired = True
            raise BattTimeout("late")


def test_a_timeout_firing_as_the_call_ends_never_escapes():
    def batt(task_id, S, I, C, log_path):
        return [(1, 0, "flip", flip(I))], []

    rec = judged(batt, TASK, TASK.demos[0], guard=LateTimer())
    assert rec["status"] == "solved" and rec["error"] is None


@pytest.mark.parametrize("raise_it", [
    lambda: pytest.skip("nope"), lambda: pytest.fail("forged"), lambda: pytest.exit("bye"),
    lambda: pytest.importorskip("no_such_module_here"), lambda: pytest.xfail("x"),
])
def test_pytest_outcomes_raised_by_a_batt_are_its_errors(raise_it):
    def batt(task_id, S, I, C, log_path):
        raise_it()

    rec = judged(batt, TASK, TASK.demos[0])
    assert rec["status"] == "error" and rec["error"].startswith("solve call raised ")


def test_a_batt_that_deletes_its_working_directory_costs_only_its_call(tmp_path, monkeypatch):
    doomed = tmp_path / "doomed"
    doomed.mkdir()
    monkeypatch.chdir(tmp_path)

    def batt(task_id, S, I, C, log_path):
        os.chdir(doomed)
        os.rmdir(doomed)
        return [(1, 0, "flip", flip(I))], []

    assert judged(batt, TASK, TASK.demos[0])["status"] == "solved"
    assert os.getcwd() == str(tmp_path)
    assert judged(lambda *a: ([(1, 0, "f", flip(a[2]))], []), TASK, TASK.demos[0])["status"] == "solved"


def test_closed_standard_fds_and_a_blocked_alarm_are_restored():
    import signal

    def batt(task_id, S, I, C, log_path):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        os.close(2)
        return [(1, 0, "flip", flip(I))], []

    before = os.fstat(2)
    assert judged(batt, TASK, TASK.demos[0])["status"] == "solved"
    assert signal.SIGALRM not in signal.pthread_sigmask(signal.SIG_BLOCK, ())
    assert os.fstat(2).st_ino == before.st_ino


def test_processes_a_batt_leaves_running_are_ended_and_named():
    import subprocess

    kept = []

    def batt(task_id, S, I, C, log_path):
        if C is not None:
            return [], []
        kept.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        if os.fork() == 0:  # a forked child that would outlive the run
            time.sleep(60)
            os._exit(0)
        return [(1, 0, "flip", flip(I))], []

    processes.track_forks()  # as the plugin does: where no process list finds everything, forks are recorded
    listed = capabilities.process_tree().on
    before = processes.descendants()
    try:
        rec = judged(batt, TASK, TASK.demos[0])
    finally:
        if not listed:  # no process list (scripts/as-macos.sh hides /proc): the exec'd process is not found
            kept[0].kill()
    assert rec["status"] == "solved"
    assert f"the batt left {2 if listed else 1} process(es) running; they were ended" in rec["error"]
    assert processes.descendants() == before
    kept[0].wait(5)  # the batt's own handle learns that it ended


def test_malformed_return_is_an_error_naming_the_rule():
    rec = judged(lambda *a: 42, TASK, TASK.demos[0])
    assert rec["status"] == "error"
    assert rec["error"] == "solve call broke the batt contract: batt must return a pair (o, s), got int"


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_load_batt_from_a_path_and_from_a_module_name(tmp_path):
    path = write(tmp_path, "mybatt.py", "def batt(task_id, S, I, C, log_path):\n    return [], []\n")
    mod = battmodule.load_batt(path)
    assert mod.func("t", (), ((0,),), None, "x") == ([], [])
    assert len(mod.sha256()) == 64
    ref = battmodule.load_batt(battmodule.DEFAULT_MODULE)
    assert len(ref.files) > 1  # a package hashes all its files


@pytest.mark.parametrize(
    "body, why",
    [
        ("def batt(:\n", "syntax error in .*line 1"),
        ("import no_such_module_xyz\n", "importing it failed: ModuleNotFoundError"),
        ("raise RuntimeError('bad')\n", "importing it failed: RuntimeError: bad"),
        ("x = 1\n", "has no attribute 'batt'"),
        ("batt = 3\n", "'batt' is an int, not a function"),
        ("def batt(a, b):\n    pass\n", r"does not accept \(task_id, S, I, C, log_path\)"),
    ],
)
def test_unusable_batt_modules_get_one_clear_message(tmp_path, body, why):
    path = write(tmp_path, "broken.py", body)
    with pytest.raises(battmodule.BattLoadError, match=why):
        battmodule.load_batt(path)


def test_missing_batt_module_or_file(tmp_path):
    with pytest.raises(battmodule.BattLoadError, match="module 'no_such_batt_pkg' not found"):
        battmodule.load_batt("no_such_batt_pkg.sub")
    with pytest.raises(battmodule.BattLoadError, match="no such file"):
        battmodule.load_batt(str(tmp_path / "nope.py"))
