"""The worker/controller split of the Phase 3 fold must equal the literal Phase 3 loop."""

import random

import pytest

from pytest_batt import battrun, contract, nodeids, runner, scoring
from pytest_batt.tasks import TaskSet


def literal_phase3(batt, task):
    """Phase 3 as written in the contract: the diff call repeated for every candidate."""
    o_score, d_score, memory = {}, {}, {}

    def update(sid, row):
        last_t, s_sid, d_name, size = row
        if s_sid == "None":
            memory[d_name] = last_t
        entry = d_score.setdefault(sid, {}).setdefault(d_name, None)
        if entry is None:
            entry = d_score[sid][d_name] = {"last_t": memory.get(d_name), "iz": 0, "zo": 0}
        if size is None:
            return
        if s_sid == "None":
            entry["iz"] += size > 0
            entry["zo"] += size == 0
        elif s_sid == sid:
            entry["iz"] += size == 0
            entry["zo"] += size > 0

    def call(I, C):
        try:
            o, s = batt(task.id, task.S, I, C, "log")
            return contract.normalise_candidates(o), contract.normalise_rows(s)
        except Exception:
            return None

    for sample in task.demos:
        res = call(sample.input, None)
        for sid, grid, *_ in res[0] if res else []:
            o_score[sid] = o_score.get(sid, 0) + (grid == sample.output)
            diff = call(sample.input, sample.output)
            for row in diff[1] if diff else []:
                update(sid, row)
    s_score = {}
    for sid, per in d_score.items():
        for name, e in per.items():
            s_score.setdefault(name, {"iz": {}, "zo": {}})
            s_score[name]["iz"][sid] = e["iz"]
            s_score[name]["zo"][sid] = e["zo"]
    for sample in task.tests:
        res = call(sample.input, None)
        for sid, grid, value, *_ in res[0] if res else []:
            o_score[sid] = o_score.get(sid, 0) + (grid == sample.output)
            diff = call(sample.input, value)  # every candidate, as the batt returned it
            for row in diff[1] if diff else []:
                update(sid, row)
    return {"o_score": o_score, "d_score": d_score, "s_score": s_score}


def random_batt(seed):
    """A pure toy batt with random but deterministic candidates and differ rows."""
    solvers = [f"s{i}" for i in range(5)]
    differs = ["d0", "d1", "d2"]

    def batt(task_id, S, I, C, log_path):
        rnd = random.Random(hash((seed, I, C)))
        if rnd.random() < 0.1:
            raise ValueError("flaky")
        o = []
        for _ in range(rnd.randint(0, 6)):
            sid = rnd.choice(solvers)
            grid = rnd.choice([I, ((1,),), ((2,),), ((1, 1),), None, [[3]]])
            o.append((rnd.randint(0, 9), None, sid, grid))
        s = []
        for _ in range(rnd.randint(0, 12)):
            s_sid = rnd.choice(["None", "None"] + solvers + ["other"])
            value = rnd.choice([(0, "x"), (1, "y"), (3,), "junk", None, [2]])
            s.append((rnd.randint(0, 99), s_sid, rnd.choice(differs), value))
        return o, s

    return batt


def toy_raw(seed):
    rnd = random.Random(seed)
    grids = [[[1]], [[2]], [[1, 1]], [[3]]]
    pair = lambda: {"input": rnd.choice(grids), "output": rnd.choice(grids)}  # noqa: E731
    return {"train": [pair() for _ in range(rnd.randint(1, 4))], "test": [pair() for _ in range(rnd.randint(1, 3))]}


@pytest.mark.parametrize("seed", range(60))
def test_split_fold_equals_literal_phase3(seed):
    """Workers (blind to test outputs) in any order, the controller judging and folding: Phase 3's scores."""
    tid = f"t{seed}"
    taskset = TaskSet("toy", {tid: toy_raw(seed)})
    task, batt = taskset.task(tid), random_batt(seed)
    worker_task = taskset.without_test_outputs([tid]).task(tid)
    run = battrun.BattRun(taskset, [tid])
    for sample in reversed(worker_task.samples):  # records arrive in any order
        run.add(nodeids.sample_nodeid(tid, sample.kind, sample.index), runner.run_sample(batt, worker_task, sample))
    got = run.task_results()[tid]
    want = literal_phase3(batt, task)
    assert got["o_score"] == want["o_score"]
    assert got["d_score"] == want["d_score"]
    assert got["s_score"] == want["s_score"]


def test_last_t_is_none_until_a_differ_has_its_own_row_and_then_inherited():
    fold = scoring.SampleFold()
    fold.add_pass("a", scoring.summarise_rows([(5, "a", "d", 0), (7, "None", "d", 1)]))
    d, memory = fold.to_record()
    assert d == {"a": {"d": [2, 0, None]}}  # created before the own row: inherits
    assert memory == {"d": 7}
    first = {"kind": "demo", "o": {}, "d": {}, "differ_last_t": {"d": 3}}
    second = {"kind": "demo", "o": {"a": 0}, "d": d, "differ_last_t": memory}
    assert scoring.score_task([second])["d_score"]["a"]["d"]["last_t"] is None
    assert scoring.score_task([first, second])["d_score"]["a"]["d"]["last_t"] == 3


def test_top_two_ranks_by_demo_score_stably_and_skips_repeated_grids():
    ranked = [("a", "g1"), ("b", "g2"), ("c", "g2"), ("d", "g3")]
    assert scoring.top_two(ranked, {"c": 2, "d": 1}) == ["g2", "g3"]
    assert scoring.top_two(ranked, {}) == ["g1", "g2"]
    assert scoring.top_two(ranked, {"a": 1, "b": 1, "d": 1}) == ["g1", "g2"]
    assert scoring.top_two([], {}) == []


def test_oracle_and_pass_at_2_need_every_test_sample():
    rec = lambda status, exp: {"status": status, "expected": exp, "ranked": [["a", "x"], ["b", "y"], ["c", "z"]]}  # noqa: E731
    assert scoring.solved([rec("solved", "y")], {}, 1) == {"oracle": True, "at_2": True}
    assert scoring.solved([rec("solved", "z")], {}, 1) == {"oracle": True, "at_2": False}
    assert scoring.solved([rec("solved", "z")], {"c": 1}, 1) == {"oracle": True, "at_2": True}
    assert scoring.solved([rec("solved", "x")], {}, 2) == {"oracle": False, "at_2": False}
    assert scoring.solved([rec("unsolved", "q")], {}, 1) == {"oracle": False, "at_2": False}
