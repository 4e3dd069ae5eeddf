"""The shard split: every task in exactly one shard, deterministic, balanced; no pytest machinery."""

from __future__ import annotations

import argparse

import pytest

from pytest_batt import sharding


def test_parse_spec() -> None:
    assert sharding.parse_spec("2/4") == (2, 4)
    assert sharding.parse_spec(" 1 / 1 ") == (1, 1)
    for bad in ("0/2", "3/2", "1/0", "2", "a/b", "-1/2", "1/2/3"):
        with pytest.raises(argparse.ArgumentTypeError):
            sharding.parse_spec(bad)


def test_every_task_in_exactly_one_shard_in_selection_order() -> None:
    w = {f"t{i:02d}": float((i * 7) % 11 + 1) for i in range(30)}
    for n in (1, 2, 3, 7, 30):
        shards = sharding.split(w, n)
        assert len(shards) == n
        flat = [t for s in shards for t in s]
        assert sorted(flat) == sorted(w) and len(flat) == len(set(flat))
        for s in shards:
            assert s == sorted(s, key=list(w).index)
        assert sharding.split(dict(reversed(list(w.items()))), n) == [sorted(s, key=list(reversed(w)).index) for s in shards]


def test_split_is_balanced_where_round_robin_is_not() -> None:
    w = {"a": 10.0, "b": 9.0, "c": 1.0, "d": 1.0, "e": 1.0, "f": 1.0, "g": 8.0, "h": 1.0}
    shards = sharding.split(w, 2)
    assert shards == [["a", "c", "d", "e", "f", "h"], ["b", "g"]]  # 15 and 17: the best two shards can do
    assert sharding.balance(w, shards) == pytest.approx(17 / 16)
    assert sharding.balance(w, [["a", "c", "e", "g"], ["b", "d", "f", "h"]]) == pytest.approx(20 / 16)  # round robin


def test_weights_use_durations_and_scale_the_estimate_for_unknown_tasks() -> None:
    est = {"a": 2.0, "b": 4.0, "c": 3.0}
    assert sharding.weights(["a", "b", "c"], est) == {"a": 2.0, "b": 4.0, "c": 3.0}
    w = sharding.weights(["a", "b", "c"], est, {"a": 20.0, "b": 40.0, "zzz": 1.0})
    assert w == {"a": 20.0, "b": 40.0, "c": pytest.approx(30.0)}
    assert sharding.durations_from({"tasks": {"a": {"seconds": 1.5}, "b": {"seconds": None}}}) == {"a": 1.5}


def test_size_estimate_grows_with_samples_and_grid_size() -> None:
    small = {"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}
    big = {"train": [{"input": [[1] * 30] * 30}] * 3, "test": [{"input": [[1] * 30] * 30}]}
    assert 1.0 <= sharding.size_estimate(small) < sharding.size_estimate(big)
    assert sharding.size_estimate("not a task") == 1.0


def test_plan_header_and_json() -> None:
    sel = ["x", "y", "z"]
    shard = sharding.plan(sel, (1, 2), {"x": 1.0, "y": 2.0, "z": 1.0})
    assert shard.task_ids == ["y"] and shard.selection == sel and shard.share == pytest.approx(0.5)
    assert shard.header_line() == "batt: shard 1/2: 1 of 3 task(s), expected share 50.0% (split by sample count and grid size)"
    assert shard.to_json() == {"index": 1, "count": 2, "selection": sel, "by": "sample count and grid size"}
    by_time = sharding.plan(sel, (1, 2), {"x": 1.0, "y": 2.0, "z": 1.0}, {"x": 5.0, "y": 1.0, "z": 1.0}, "old.json")
    assert by_time.by == "seconds from old.json" and by_time.task_ids == ["x"]  # the measured seconds win
    with pytest.raises(ValueError, match="only 3 task"):
        sharding.plan(sel, (1, 4), {"x": 1.0, "y": 1.0, "z": 1.0})


def test_sample_seconds_by_node_id_for_the_scheduler():
    from pytest_batt.sharding import sample_durations_from

    res = {"tasks": {"t": {"samples": [{"kind": "demo", "index": 0, "seconds": 1.5},
                                       {"kind": "test", "index": 0, "seconds": None},  # never ran
                                       {"kind": "test", "index": 1, "seconds": 2}]},
                     "bad": "not a task"}}
    assert sample_durations_from(res) == {"batt/t::demo[0]": 1.5, "batt/t::test[1]": 2.0}
