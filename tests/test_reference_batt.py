"""Contract tests for the reference batt (shape of o and s, purity, 007bbfb7)."""
from __future__ import annotations

import pytest

from pytest_batt.reference import batt
from pytest_batt.reference.differs import DIFFERS
from pytest_batt.tasks import load_taskset

Grid = tuple[tuple[int, ...], ...]


def T(g: list[list[int]]) -> Grid:
    return tuple(tuple(r) for r in g)


@pytest.fixture(scope="module")
def task_007() -> dict:
    return load_taskset("arcagi1-training").raw["007bbfb7"]


def demo_S(task: dict) -> tuple:
    return tuple((T(p["input"]), T(p["output"])) for p in task["train"])


def is_grid(g: object) -> bool:
    return (type(g) is tuple and 1 <= len(g) <= 30
            and all(type(r) is tuple and len(r) == len(g[0]) for r in g)
            and 1 <= len(g[0]) <= 30
            and all(type(v) is int and 0 <= v <= 9 for r in g for v in r))


SIMPLE_S = ((((1, 2), (3, 4)), ((2, 1), (4, 3))),
            (((5, 0), (0, 5)), ((0, 5), (5, 0))))


def check_o(o: object) -> None:
    assert type(o) is list
    ids = []
    for row in o:
        assert type(row) is tuple and len(row) == 4
        t, evo, sid, grid = row
        assert type(t) is int and type(sid) is str and is_grid(grid)
        assert evo == 0
        ids.append(sid)
    assert len(ids) == len(set(ids)), "one candidate per solver id"


def check_s(s: object, o: list) -> None:
    assert type(s) is list
    sids = {row[2] for row in o}
    own = [r for r in s if r[1] == "None"]
    assert {r[2] for r in own} == set(DIFFERS) and len(own) == len(DIFFERS)
    for row in s:
        assert type(row) is tuple and len(row) == 4
        t, sid, dname, value = row
        assert type(t) is int and type(sid) is str and type(dname) is str
        assert sid == "None" or sid in sids
        assert type(value) is tuple and len(value) == 2 and type(value[0]) is int
        assert value[0] >= 0
        hash(value[1])


def test_solve_call_shape() -> None:
    o, s = batt("t", SIMPLE_S, ((7, 8), (9, 1)), None, "/nonexistent/log")
    check_o(o)
    assert s == []
    assert o[0][2] == "flip_h" and o[0][3] == ((8, 7), (1, 9))


def test_diff_call_shape_and_semantics() -> None:
    I, C = ((7, 8), (9, 1)), ((8, 7), (1, 9))
    o, s = batt("t", SIMPLE_S, I, C, "/nonexistent/log")
    check_o(o)
    check_s(s, o)
    rows = {(r[1], r[2]): r[3] for r in s}
    assert rows[("flip_h", "cells_changed")][0] == 0  # right solver: no difference
    assert rows[("None", "cells_changed")][0] > 0  # the input differs from C
    for r in s:
        if r[1] == "flip_h":
            assert r[3][0] == 0
    t_of = {r[2]: r[0] for r in o}
    assert all(r[0] == t_of[r[1]] for r in s if r[1] != "None")


def test_007bbfb7_all_samples_solved(task_007: dict) -> None:
    S = demo_S(task_007)
    for p in task_007["train"] + task_007["test"]:
        o, _ = batt("007bbfb7", S, T(p["input"]), None, "")
        check_o(o)
        assert o[0][3] == T(p["output"])
        assert o[0][2] == "tile_self_similar"


def test_007bbfb7_diff_rows(task_007: dict) -> None:
    S = demo_S(task_007)
    p = task_007["test"][0]
    o, s = batt("007bbfb7", S, T(p["input"]), T(p["output"]), "")
    check_s(s, o)
    assert all(r[3][0] == 0 for r in s if r[1] == "tile_self_similar")


def test_task_id_is_ignored(task_007: dict) -> None:
    S = demo_S(task_007)
    I = T(task_007["test"][0]["input"])
    assert batt("007bbfb7", S, I, None, "") == batt("something-else", S, I, None, "")


def test_purity_same_call_same_result() -> None:
    I, C = ((3, 0, 3), (0, 3, 0)), ((3, 0, 3), (0, 3, 0))
    first = batt("t", SIMPLE_S, I, C, "")
    assert batt("t", SIMPLE_S, I, C, "") == first
    assert batt("t", SIMPLE_S, I, None, "")[0] == first[0]


def test_accepts_lists_and_does_not_write_log(tmp_path) -> None:
    log = tmp_path / "log.txt"
    S = [([list(r) for r in a], [list(r) for r in b]) for a, b in SIMPLE_S]
    o, _ = batt("t", S, [[1, 2], [3, 4]], None, str(log))
    check_o(o)
    assert not log.exists()


ODD_INPUTS = [
    ((0,),),
    ((9,),),
    tuple(tuple((r * 7 + c * 3) % 10 for c in range(30)) for r in range(30)),
    tuple(tuple(0 for _ in range(30)) for _ in range(30)),
    tuple(tuple(5 for _ in range(1)) for _ in range(30)),
    ((1, 2, 3, 4, 5, 6, 7, 8, 9, 0),),
]


@pytest.mark.parametrize("I", ODD_INPUTS)
def test_never_raises_on_odd_inputs(I: Grid) -> None:
    for S in (SIMPLE_S, ((I, I),), ((I, ((1,),)), (((1,),), I)), ()):
        o, s = batt("odd", S, I, None, "")
        check_o(o)
        o, s = batt("odd", S, I, I, "")
        check_o(o)
        check_s(s, o)
        own = [r for r in s if r[1] == "None"]
        assert all(r[3][0] == 0 for r in own)  # I equals C: no own difference


def test_shape_mismatch_between_candidate_and_c() -> None:
    o, s = batt("t", SIMPLE_S, ((1, 2), (3, 4)), ((1,),), "")
    check_s(s, o)
    shapes = {sid: (len(g), len(g[0])) for _, _, sid, g in o}
    for r in s:
        if r[2] == "shape_change":
            assert (r[3][0] > 0) == (shapes.get(r[1], (2, 2)) != (1, 1))


def test_differs_zero_on_equal_grids() -> None:
    import numpy as np

    g = np.array([[0, 1, 1], [2, 0, 0], [0, 0, 3]], dtype=np.int8)
    for name, f in DIFFERS.items():
        size, detail = f(g, g.copy())
        assert size == 0, name
        hash(detail)


def test_colormap_task_ranks_colormap_first() -> None:
    S = ((((1, 2), (3, 1)), ((5, 2), (3, 5))),
         (((1, 1), (0, 3)), ((5, 5), (0, 3))))
    o, _ = batt("t", S, ((3, 1), (1, 2)), None, "")
    assert o[0][2] == "colormap" and o[0][3] == ((3, 5), (5, 2))


def test_memorising_learners_get_no_credit_on_noise() -> None:
    """Lookup-table learners are scored leave-one-out, so noise fits nothing."""
    import numpy as np

    from pytest_batt.reference import dsl
    from pytest_batt.reference.solvers import fit_candidates

    rs = np.random.RandomState(0)
    pairs = [(dsl.to_array(rs.randint(0, 10, (5, 5))), dsl.to_array(rs.randint(0, 10, (5, 5))))
             for _ in range(3)]
    cands = fit_candidates(pairs)
    assert cands and all(c.score < 3 for c in cands)
    assert all(c.score == 0 for c in cands if c.solver_id.startswith("cell_rule"))


def test_solver_ids_stable_across_inputs(task_007: dict) -> None:
    """Fitted and composed solvers are chosen from S alone, not from I."""
    S = demo_S(task_007)
    per_input = []
    for p in task_007["train"] + task_007["test"]:
        o, _ = batt("007bbfb7", S, T(p["input"]), None, "")
        per_input.append({sid for _, _, sid, _ in o if "+" in sid})
    assert all(ids == per_input[0] for ids in per_input)


def test_big_grids_are_solved() -> None:
    # How fast is a benchmark's question (benchmarks/run.py), not a test's: no timing here.
    big = tuple(tuple((r * c + r) % 10 for c in range(30)) for r in range(30))
    S = ((big, big[::-1]), (big[::-1], big))
    o, _ = batt("t", S, big, None, "")
    assert o and o[0][3] == big[::-1]
