"""The Phase 3 reference scorer, rule by rule, on hand-built toy batts and tiny task directories."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from pytest_batt import phase3, results
from pytest_batt.battmodule import BattModule
from pytest_batt.tasks import TaskSet, load_taskset

G = List[List[int]]


def T(g: G) -> tuple:
    return tuple(tuple(r) for r in g)


def make_taskset(tmp_path: Path, tasks: Dict[str, Dict[str, Any]]) -> TaskSet:
    """A directory of <id>.json files in the official layout, loaded the way the plugin does."""
    d = tmp_path / "tasks"
    d.mkdir(exist_ok=True)
    for tid, task in tasks.items():
        (d / f"{tid}.json").write_text(json.dumps(task))
    return load_taskset(str(d))


def pair(i: G, o: G) -> Dict[str, G]:
    return {"input": i, "output": o}


# demo inputs [[1]], [[3]]; test input [[5]]; expected outputs [[2]], [[4]], [[6]]
ONE_DEMO = {"train": [pair([[1]], [[2]])], "test": [pair([[5]], [[6]])]}
TWO_DEMOS = {"train": [pair([[1]], [[2]]), pair([[3]], [[4]])], "test": [pair([[5]], [[6]])]}


class Toy:
    """A batt built from two functions of the input grid; records every call it gets."""

    def __init__(self, solve: Callable[[tuple], Any], diff: Callable[[tuple, tuple], Any] = lambda i, c: []) -> None:
        self.solve = solve
        self.diff = diff
        self.calls: List[Any] = []

    def __call__(self, task_id: str, S: tuple, I: tuple, C: Optional[tuple], log_path: str) -> Any:
        self.calls.append((I, C))
        if C is None:
            return self.solve(I), []
        return [], self.diff(I, C)


def cands(*pairs: Any) -> List[tuple]:
    return [(n, 0, sid, T(g) if isinstance(g, list) else g) for n, (sid, g) in enumerate(pairs, 1)]


def score(tmp_path: Path, raw: Dict[str, Any], batt: Any, timeout: float = 5.0) -> Dict[str, Any]:
    ts = make_taskset(tmp_path, {"t1": raw})
    return phase3.score_task(ts.task("t1"), batt, timeout, "/dev/null")


# --- d_score.update ---------------------------------------------------------------------------

def test_d_update_own_and_solver_rows() -> None:
    d: phase3.DScore = {}
    mem: Dict[str, Any] = {}
    phase3.d_update(d, mem, "A", (7, "None", "d1", 0))  # own row, size 0: zo
    phase3.d_update(d, mem, "A", (7, "None", "d1", 2))  # own row, size > 0: iz
    phase3.d_update(d, mem, "A", (1, "A", "d1", 0))  # the solver's own row, size 0: iz
    phase3.d_update(d, mem, "A", (1, "A", "d1", 5))  # size > 0: zo
    phase3.d_update(d, mem, "A", (1, "B", "d1", 0))  # another solver's row: nothing
    phase3.d_update(d, mem, "A", (1, "A", "d1", None))  # value did not count: nothing
    assert d == {"A": {"d1": {"last_t": 7, "iz": 2, "zo": 2}}}
    assert mem == {"d1": 7}


def test_d_update_other_solver_row_only_creates_entry_with_unknown_last_t() -> None:
    d: phase3.DScore = {}
    mem: Dict[str, Any] = {}
    phase3.d_update(d, mem, "A", (3, "B", "d2", 0))
    assert d == {"A": {"d2": {"last_t": None, "iz": 0, "zo": 0}}}
    assert mem == {}
    phase3.d_update(d, mem, "A", (9, "None", "d2", None))  # own row later: remembered, entry kept
    assert d["A"]["d2"]["last_t"] is None and mem == {"d2": 9}
    phase3.d_update(d, mem, "Z", (1, "Y", "d2", 4))  # a new solver's entry takes the memory
    assert d["Z"] == {"d2": {"last_t": 9, "iz": 0, "zo": 0}}


def test_demo_diff_repeated_for_every_candidate(tmp_path: Path) -> None:
    rows = [
        (7, "None", "d1", (0, "detail")),  # own: zo for every pass
        (1, "A", "d1", (0,)),  # A's row: iz on A's passes
        (2, "B", "d1", (3, ())),  # B's row: zo on B's passes
        (5, "C", "d2", (0,)),  # C never gave a candidate: entries only, last_t unknown
        (8, "None", "d3", "not a tuple"),  # own row whose value does not count
        (8, "None", "d4", (1.5,)),  # first element not an int: does not count
    ]
    toy = Toy(lambda I: cands(("A", [[2]]), ("B", [[9]]), ("A", [[0]])) if I == T([[1]]) else [], lambda I, C: rows)
    entry = score(tmp_path, ONE_DEMO, toy)
    demo = entry["samples"][0]
    assert demo["calls"] == 4  # 1 solve + 1 diff per candidate
    assert [c for _, c in toy.calls[:4]] == [None, T([[2]]), T([[2]]), T([[2]])]
    assert entry["d_score"]["A"] == {
        "d1": {"last_t": 7, "iz": 2, "zo": 2},  # two passes: own zo + A-row iz each
        "d2": {"last_t": None, "iz": 0, "zo": 0},
        "d3": {"last_t": 8, "iz": 0, "zo": 0},
        "d4": {"last_t": 8, "iz": 0, "zo": 0},
    }
    assert entry["d_score"]["B"]["d1"] == {"last_t": 7, "iz": 0, "zo": 2}  # one pass: own zo + B-row zo
    assert list(entry["d_score"]["B"]) == ["d1", "d2", "d3", "d4"]
    assert demo["status"] == "solved" and demo["matched"] == ["A"] and demo["candidates"] == 3


def test_last_t_memory_carries_across_samples_and_none_before_own_row(tmp_path: Path) -> None:
    def diff(I: tuple, C: tuple) -> List[tuple]:
        if I == T([[1]]):  # demo 0: dX seen only through a solver row, dY's own row after it
            return [(4, "Q", "dX", (0,)), (4, "Q", "dY", (0,)), (6, "None", "dY", (0,))]
        if I == T([[3]]):  # demo 1: dX's own row at last
            return [(11, "None", "dX", (0,))]
        return [(20, "Q", "dY", (1,)), (21, "Q", "dX", (1,))]  # test: only solver rows

    def solve(I: tuple) -> List[tuple]:
        return cands(("A", [[9]])) if I != T([[5]]) else cands(("N", [[6]]))

    entry = score(tmp_path, TWO_DEMOS, Toy(solve, diff))
    d = entry["d_score"]
    assert d["A"]["dX"]["last_t"] is None  # created before any own row of dX
    assert d["A"]["dY"]["last_t"] is None  # created by the solver row, before dY's own row in that call
    assert d["A"]["dX"]["zo"] == 1 and d["A"]["dY"]["zo"] == 1
    # N first appears on the test sample: its entries take the remembered last steps
    assert d["N"] == {"dY": {"last_t": 6, "iz": 0, "zo": 0}, "dX": {"last_t": 11, "iz": 0, "zo": 0}}


def test_s_score_is_a_snapshot_after_the_demos(tmp_path: Path) -> None:
    def diff(I: tuple, C: tuple) -> List[tuple]:
        return [(1, "None", "d", (0,) if I != T([[5]]) else (7,)), (1, "A", "d", (0,))]

    toy = Toy(lambda I: cands(("A", [[2]]), ("B", [[4]])), diff)
    entry = score(tmp_path, TWO_DEMOS, toy)
    assert entry["s_score"] == {"d": {"iz": {"A": 2, "B": 0}, "zo": {"A": 2, "B": 2}}}
    assert entry["d_score"]["A"]["d"] == {"last_t": 1, "iz": 4, "zo": 2}  # the test sample still folds
    assert entry["d_score"]["B"]["d"] == {"last_t": 1, "iz": 1, "zo": 2}


def test_test_diff_against_every_candidate_whatever_its_value(tmp_path: Path) -> None:
    seen: List[Any] = []

    def diff(I: tuple, C: tuple) -> List[tuple]:
        seen.append(C)
        return [(1, "None", "d", (0,))]

    def solve(I: tuple) -> List[tuple]:
        if I == T([[5]]):
            return cands(("A", [[6]]), ("B", [[6]]), ("A", "not a grid"), ("C", [[7]]), ("D", [[10]]), ("E", ()))
        return cands(("A", [[2]]))

    entry = score(tmp_path, ONE_DEMO, Toy(solve, diff))
    test = entry["samples"][1]
    assert test["calls"] == 1 + 6  # Phase 3 diffs every candidate, valid grid or not
    assert seen[1:] == [T([[6]]), T([[6]]), "not a grid", T([[7]]), T([[10]]), ()]  # as the batt returned them
    assert test["candidates"] == 6 and test["matched"] == ["A", "B"] and test["status"] == "solved"
    # o_score: every solver that gave a candidate, demo and test, 0 when it never matched
    assert entry["o_score"] == {"A": 2, "B": 1, "C": 0, "D": 0, "E": 0}
    assert entry["d_score"]["A"]["d"]["zo"] == 3  # one demo pass + two test passes (the string included)
    assert entry["d_score"]["D"]["d"]["zo"] == 1 and entry["d_score"]["E"]["d"]["zo"] == 1


# --- failures contribute nothing ------------------------------------------------------------

def _stubborn() -> None:
    """Loops and swallows Exception: the timeout must still stop it."""
    while True:
        try:
            time.sleep(0.005)
        except Exception:
            pass


@pytest.mark.parametrize("outer_timer", [None, 30.0], ids=["no-timer", "running-timer"])
def test_solve_timeout_contributes_nothing_and_restores_handler(tmp_path: Path, outer_timer: Optional[float]) -> None:
    """Both cases run: no timer around the scorer, and one already running (pytest-timeout's under
    --timeout, here our own), which must be left running with its own handler."""
    def solve(I: tuple) -> List[tuple]:
        if I == T([[5]]):
            _stubborn()
        return cands(("A", [[2]]))

    def outer(signum: int, frame: Any) -> None:
        raise AssertionError("the outer timer fired")

    saved_handler = signal.getsignal(signal.SIGALRM)
    saved_timer = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's, if it runs under --timeout
    try:
        if outer_timer is not None:
            signal.signal(signal.SIGALRM, outer)
            signal.setitimer(signal.ITIMER_REAL, outer_timer)
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
        before = signal.getsignal(signal.SIGALRM)
        entry = score(tmp_path, ONE_DEMO, Toy(solve, lambda I, C: [(1, "None", "d", (0,))]), timeout=0.05)
        handler_after, timer_after = signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)[0]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved_handler)
        if saved_timer[0] > 0:
            signal.setitimer(signal.ITIMER_REAL, *saved_timer)
    test = entry["samples"][1]
    assert test["status"] == "timeout" and "timed out after 0.05 s" in test["error"]
    assert test["calls"] == 1 and test["candidates"] == 0
    assert entry["o_score"] == {"A": 1} and entry["d_score"]["A"]["d"]["zo"] == 1
    assert entry["solved"] == {"oracle": False, "at_2": False}
    assert handler_after is before
    if outer_timer is None:
        assert timer_after == 0.0
    else:
        assert outer_timer - 5 < timer_after < outer_timer  # still running, less the time spent


def test_diff_timeout_and_raise_contribute_nothing(tmp_path: Path) -> None:
    n = {"diff": 0}

    def diff(I: tuple, C: tuple) -> List[tuple]:
        n["diff"] += 1
        if n["diff"] == 1:
            _stubborn()
        if n["diff"] == 2:
            raise ValueError("boom")
        return [(1, "None", "d", (0,))]

    toy = Toy(lambda I: cands(("A", [[2]]), ("B", [[2]]), ("C", [[2]])), diff)
    entry = score(tmp_path, ONE_DEMO, toy, timeout=0.05)
    demo = entry["samples"][0]
    assert demo["status"] == "solved" and demo["calls"] == 4
    assert demo["error"].startswith("2 diff call(s) failed and contribute nothing; first: diff call timed out")
    assert entry["s_score"] == {"d": {"iz": {"C": 0}, "zo": {"C": 1}}}  # only C's pass folded on the demo


def test_solve_raise_and_contract_break_are_errors(tmp_path: Path) -> None:
    def solve(I: tuple) -> Any:
        if I == T([[1]]):
            raise RuntimeError("kaput")
        return "junk"

    entry = score(tmp_path, ONE_DEMO, Toy(solve))
    demo, test = entry["samples"]
    assert demo["status"] == "error" and "solve call raised RuntimeError: kaput" in demo["error"]
    assert test["status"] == "error" and "broke the batt contract" in test["error"]
    assert entry["o_score"] == {} and entry["d_score"] == {} and entry["s_score"] == {}


# --- pass@2 -----------------------------------------------------------------------------------

def test_pass_at_2_ranks_by_demo_score_stably_over_distinct_grids() -> None:
    g1, g2, g3 = T([[1]]), T([[2]]), T([[3]])
    # ranked A (2), B (1), C (0): top two distinct are g3 (A's), g2 (B's)
    assert phase3.pass_at_2([("C", g1), ("B", g2), ("A", g3)], {"A": 2, "B": 1, "C": 0}, g2)
    assert not phase3.pass_at_2([("C", g1), ("B", g2), ("A", g3)], {"A": 2, "B": 1, "C": 0}, g1)
    # ties keep batt order: B then A; C's right grid is third
    assert not phase3.pass_at_2([("B", g1), ("A", g2), ("C", g3)], {"A": 1, "B": 1, "C": 1}, g3)
    # duplicates count once; invalid candidates are skipped; unknown solvers score 0
    assert phase3.pass_at_2([("A", g1), ("A", g1), ("X", None), ("B", g2)], {"A": 2}, g2)
    assert phase3.pass_at_2([("new", g1)], {}, g1)
    assert not phase3.pass_at_2([], {}, g1)


def test_pass_at_2_uses_demo_scores_only(tmp_path: Path) -> None:
    def solve(I: tuple) -> List[tuple]:
        if I == T([[5]]):  # right answer from B, ranked third by demo scores; A and C wrong
            return cands(("B", [[6]]), ("C", [[8]]), ("A", [[7]]), ("B", [[6]]))
        return cands(("A", [[2]]), ("C", [[2]]), ("B", [[0]]))

    entry = score(tmp_path, ONE_DEMO, Toy(solve))
    assert entry["solved"] == {"oracle": True, "at_2": False}
    assert entry["o_score"] == {"A": 1, "C": 1, "B": 2}  # B's test hits do not rank it


# --- run(): the results file ---------------------------------------------------------------------

def test_run_writes_a_schema_1_results_file(tmp_path: Path) -> None:
    ts = make_taskset(tmp_path, {"t1": ONE_DEMO, "t2": TWO_DEMOS, "bad": {"train": [], "test": []}})
    toy = Toy(lambda I: cands(("A", [[I[0][0] + 1]])), lambda I, C: [(1, "None", "d", (0,))])
    seen: List[str] = []
    res = phase3.run(["t2", "bad", "t1"], ts, BattModule("toy", toy, ()), 2.0, "/dev/null",
                     on_task=lambda tid, e: seen.append(tid))
    assert seen == ["t2", "bad", "t1"] and list(res["tasks"]) == seen
    assert res["config"] == {"timeout_s": 2.0, "workers": 0}
    assert res["data"] == {"name": ts.name, "sha256": ts.content_hash(["t1", "t2", "bad"])}
    assert res["batt"]["module"] == "toy"
    t2 = res["tasks"]["t2"]
    assert set(t2) == {"samples", "o_score", "d_score", "s_score", "solved", "seconds", "sha256"}
    assert [set(s) for s in t2["samples"]] == [set(phase3_sample_keys())] * 3
    assert t2["solved"] == {"oracle": True, "at_2": True} and t2["o_score"] == {"A": 3}
    assert res["tasks"]["bad"]["error"] and res["tasks"]["bad"]["samples"] == []
    sess = res["session"]
    assert sess["complete"] is True
    assert sess["item_s"] == pytest.approx(sum(t["seconds"] for t in res["tasks"].values()), abs=1e-5)
    path = tmp_path / "r.json"
    results.write(str(path), res)
    assert results.read(str(path))["tasks"]["t1"]["solved"] == {"oracle": True, "at_2": True}


def phase3_sample_keys() -> List[str]:
    return ["kind", "index", "status", "candidates", "matched", "calls", "seconds", "cpu_seconds", "error", "message", "memory_mb",
            "gpu", "vram_mb", "vram_peak_mb", "vram_scope"]


def test_run_interrupted_keeps_finished_tasks(tmp_path: Path) -> None:
    ts = make_taskset(tmp_path, {"t1": ONE_DEMO, "t2": ONE_DEMO})
    n = {"calls": 0}

    def batt(task_id: str, S: Any, I: Any, C: Any, log: str) -> Any:
        n["calls"] += 1
        if task_id == "t2":
            raise KeyboardInterrupt
        return [], []

    res = phase3.run(["t1", "t2"], ts, BattModule("toy", batt, ()), 1.0)
    assert list(res["tasks"]) == ["t1"] and res["session"]["complete"] is False


def test_alarm_guard_restores_a_running_timer() -> None:
    fired: List[int] = []

    def outer(signum: int, frame: Any) -> None:
        fired.append(signum)

    old = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        with phase3.alarm_guard(1.0, "call"):
            pass
        assert signal.getsignal(signal.SIGALRM) is outer
        assert 4.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 5.0
        with pytest.raises(phase3.BattTimeout, match="call timed out after 0.01 s"):
            with phase3.alarm_guard(0.01, "call"):
                _stubborn()
        assert signal.getsignal(signal.SIGALRM) is outer and signal.getitimer(signal.ITIMER_REAL)[0] > 4.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert fired == []
