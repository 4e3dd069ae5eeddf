"""Merging shard results: what it checks and what it builds (plain dicts), and the CLI's exit codes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List

import pytest

from pytest_batt import merge, results
from pytest_batt.__main__ import main

SELECTION = ["t1", "t2", "t3"]


def task(seconds: float) -> Dict[str, Any]:
    return {"samples": [{"kind": "test", "index": 0, "status": "solved", "seconds": seconds}], "o_score": {"s": 1},
            "d_score": {}, "s_score": {}, "solved": {"oracle": True, "at_2": True}, "seconds": seconds, "sha256": "h"}


def shard(index: int, tids: List[str], count: int = 2, wall: float = 1.0) -> Dict[str, Any]:
    return {
        "schema": 1, "tool": {"name": "pytest-batt", "version": "x"}, "created": "c", "machine": {"platform": "p"},
        "batt": {"module": "b.py", "sha256": "bb"}, "data": {"name": "tasks", "sha256": "dd"},
        "config": {"timeout_s": 10.0, "workers": 2, "shard": {"index": index, "count": count, "selection": SELECTION, "by": "x"}},
        "session": {"wall_s": wall, "item_s": 0.0, "process_s": wall + 1, "complete": True},
        "tasks": {tid: task(float(i + 1)) for i, tid in enumerate(tids)},
    }


def test_merge_restores_selection_order_and_sums_times() -> None:
    m = merge.merge([("b.json", shard(2, ["t2"], wall=3.0)), ("a.json", shard(1, ["t3", "t1"], wall=2.0))])
    assert list(m["tasks"]) == SELECTION
    assert "shard" not in m["config"] and m["config"]["workers"] == 4 and m["config"]["timeout_s"] == 10.0
    s = m["session"]
    assert (s["wall_s"], s["process_s"], s["complete"]) == (3.0, 4.0, True)
    assert s["item_s"] == 4.0  # t1 2 s + t2 1 s + t3 1 s
    assert (s["shards"]["wall_s_sum"], s["shards"]["merged"], s["shards"]["missing"]) == (5.0, [1, 2], [])
    assert m["data"] == {"name": "tasks", "sha256": "dd"} and m["schema"] == 1
    assert merge.summary(m).startswith("merged 2 of 2 shard(s): 3 task(s), 3 samples, complete; wall 3.00s")


def test_merge_lists_every_shards_quarantined_programs() -> None:
    one, two = shard(1, ["t1", "t3"]), shard(2, ["t2"])
    entry = {"solver_id": "a.py::p", "status": "crash", "task": "t2", "kind": "test", "index": 0, "error": "a.py::p ended worker gw0"}
    two["quarantined"] = [entry]
    assert merge.merge([("a", one), ("b", two)])["quarantined"] == [entry]
    assert "quarantined" not in merge.merge([("a", shard(1, ["t1", "t3"])), ("b", shard(2, ["t2"]))])


def test_partial_merge_is_incomplete() -> None:
    with pytest.raises(merge.MergeError, match=r"^shard\(s\) 2/3 missing: give every shard's results file, or --partial"):
        merge.merge([("a", shard(1, ["t1"], 3)), ("c", shard(3, ["t3"], 3))])
    m = merge.merge([("a", shard(1, ["t1"], 3)), ("c", shard(3, ["t3"], 3))], partial=True)
    assert m["session"]["complete"] is False and m["session"]["shards"]["missing"] == [2] and list(m["tasks"]) == ["t1", "t3"]


def alter(res: Dict[str, Any], path: str, value: Any) -> Dict[str, Any]:
    res = copy.deepcopy(res)
    *parents, last = path.split(".")
    target = res
    for p in parents:
        target = target[p]
    target[last] = value
    return res


@pytest.mark.parametrize("path,value,message", [
    ("batt.sha256", "other", "a.json and b.json are shards of different batts (b.py bb vs b.py other)"),
    ("data.sha256", "other", "a.json and b.json are shards of different data"),
    ("data.name", "arcagi2", "a.json and b.json are shards of different data"),
    ("config.timeout_s", 5.0, "a.json and b.json are shards of different timeouts (10.0 vs 5.0)"),
    ("schema", 2, "a.json and b.json are shards of different schema (1 vs 2)"),
    ("config.shard.count", 3, "shards of different shard counts"),
    ("config.shard.index", 1, "shard 1/2 given twice (a.json and b.json)"),
    ("tasks", {"t1": task(1.0)}, "task t1 is in two shards (a.json and b.json)"),
    ("tasks", {"zz": task(1.0)}, "b.json has task zz, which is not in the shards' selection"),
    ("config", {"timeout_s": 10.0, "workers": 1}, "b.json is not a shard's results file (no config.shard)"),
])
def test_merge_refuses_what_does_not_belong_together(path: str, value: Any, message: str) -> None:
    with pytest.raises(merge.MergeError) as e:
        merge.merge([("a.json", shard(1, ["t1", "t3"])), ("b.json", alter(shard(2, ["t2"]), path, value))])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_merge_command_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    results.write("a.json", shard(1, ["t1", "t3"]))
    results.write("b.json.gz", shard(2, ["t2"]))
    results.write("other.json", alter(shard(2, ["t2"]), "batt.sha256", "zz"))
    assert main(["merge", "a.json", "b.json.gz", "-o", "all.json.gz"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("merged 2 of 2 shard(s): 3 task(s)") and out[1] == "results written to all.json.gz"
    assert list(results.read("all.json.gz")["tasks"]) == SELECTION
    for argv, message in [
        (["merge", "a.json", "other.json", "-o", "x.json"], "a.json and other.json are shards of different batts"),
        (["merge", "a.json", "-o", "x.json"], "shard(s) 2/2 missing"),
        (["merge", "a.json", "nope.json", "-o", "x.json"], "nope.json: no such results file"),
        (["merge", "a.json", "b.json.gz", "-o", "no/dir/x.json"], "--output no/dir/x.json: directory"),
        (["merge", "a.json"], "the following arguments are required: -o/--output"),
    ]:
        assert main(argv) == 4, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], (argv, err)
    assert not (tmp_path / "x.json").exists()
    assert main(["merge", "a.json", "-o", "x.json", "--partial"]) == 0
