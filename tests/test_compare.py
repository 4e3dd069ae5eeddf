"""Comparing two results dicts, scenario by scenario, and the gate expressions."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Optional

import pytest

from pytest_batt.compare import CompareError, Comparison, compare, render, to_json
from pytest_batt.gates import GateError, parse_gate


def task(demo: List[str], test: List[str], *, o: Optional[Dict[str, int]] = None, at_2: Optional[bool] = None,
         cands: int = 10, seconds: float = 1.0, d: Any = None, s: Any = None) -> Dict[str, Any]:
    """One task entry of a results file; oracle follows the test statuses unless a test is missing."""
    samples = [
        {"kind": kind, "index": i, "status": st, "candidates": cands, "matched": ["A"] if st == "solved" else [],
         "calls": 2, "seconds": seconds / (len(demo) + len(test)), "cpu_seconds": 0.0, "error": None}
        for kind, sts in (("demo", demo), ("test", test)) for i, st in enumerate(sts)
    ]
    oracle = all(st == "solved" for st in test)
    return {
        "samples": samples,
        "o_score": o if o is not None else {"A": sum(st == "solved" for st in demo + test)},
        "d_score": d if d is not None else {"A": {"d1": {"last_t": 3, "iz": 1, "zo": 0}}},
        "s_score": s if s is not None else {"d1": {"iz": {"A": 1}, "zo": {"A": 0}}},
        "solved": {"oracle": oracle, "at_2": oracle if at_2 is None else at_2},
        "seconds": seconds,
    }


def run(tasks: Dict[str, Any], *, data: str = "D1", name: str = "arcagi1", batt: str = "B1", platform: str = "Linux",
        cpus: int = 8, workers: int = 0, complete: bool = True) -> Dict[str, Any]:
    return {
        "schema": 1, "tool": {"name": "pytest-batt", "version": "0.1.0"}, "created": "2026-01-01T00:00:00+00:00",
        "machine": {"python": "3.11", "platform": platform, "cpus": cpus},
        "batt": {"module": "pytest_batt.reference", "sha256": batt},
        "data": {"name": name, "sha256": data},
        "config": {"timeout_s": 10.0, "workers": workers},
        "session": {"wall_s": 3.0, "item_s": 3.0, "complete": complete},
        "tasks": tasks,
    }


S, U = "solved", "unsolved"
GATES = ["solved", "pass2", "oracle", "score", "candidates:10%", "time:25%"]


def base() -> Dict[str, Any]:
    return run({
        "t1": task([S, S], [S]),
        "t2": task([S, U], [U]),
        "t3": task([S], [S, S]),
    })


def breaches(comp: Comparison, exprs: List[str] = GATES) -> Dict[str, str]:
    out = {}
    for e in exprs:
        why = parse_gate(e).check(comp)
        if why is not None:
            out[e] = why
    return out


def test_identical_runs_have_no_changes() -> None:
    comp = compare(base(), base())
    assert comp.common == ["t1", "t2", "t3"] and not comp.new and not comp.not_run and not comp.partial
    assert comp.changes == [] and comp.samples_compared == 9 and comp.samples_missing == 0
    assert comp.time_ratio == pytest.approx(1.0) and comp.flags == []
    assert breaches(comp) == {}
    lines = render(comp)
    assert "samples: 9 compared, 0 newly solved, 0 regressed" in lines
    assert any(line.startswith("time: 3.00s -> 3.00s, ratio 1.00x") for line in lines)


def test_improvement() -> None:
    cur = base()
    cur["tasks"]["t2"] = task([S, S], [S], o={"A": 3})
    comp = compare(base(), cur)
    assert [c.nodeid for c in comp.improved] == ["batt/t2::demo[1]", "batt/t2::test[0]"]
    assert comp.regressed == []
    assert breaches(comp) == {}
    t2 = next(t for t in comp.tasks if t.task == "t2")
    assert t2.oracle == (False, True) and t2.at_2 == (False, True) and t2.o_raised == {"A": (1, 3)}
    lines = render(comp)
    assert "newly solved:" in lines and "  batt/t2::test[0]  unsolved -> solved" in lines
    assert "  batt/t2  pass@2 no -> yes, oracle no -> yes" in lines


def test_regression_and_newly_failing() -> None:
    cur = base()
    cur["tasks"]["t1"] = task([S, "timeout"], [U], o={"A": 1})
    cur["tasks"]["t2"] = task([S, "error"], [U])
    comp = compare(base(), cur)
    assert {c.nodeid: c.category for c in comp.changes} == {
        "batt/t1::demo[1]": "regressed", "batt/t1::test[0]": "regressed", "batt/t2::demo[1]": "newly_error",
    }
    got = breaches(comp)
    assert set(got) == {"solved", "pass2", "oracle", "score"}
    assert got["solved"] == "2 sample(s) no longer solved: batt/t1::demo[1], batt/t1::test[0]"
    assert got["pass2"].startswith("pass@2 dropped 2 -> 1 (lost: t1")
    assert got["oracle"].startswith("oracle dropped 2 -> 1")
    assert got["score"] == "1 o_score(s) dropped: t1 A 3 -> 1"
    lines = render(comp)
    assert "regressed:" in lines and "  batt/t1::demo[1]  solved -> timeout" in lines
    assert "newly error:" in lines and "  batt/t2::demo[1]  unsolved -> error" in lines
    assert "samples: 9 compared, 0 newly solved, 2 regressed, 1 newly error" in lines


def test_partial_run_reports_no_false_regressions() -> None:
    cur = base()
    del cur["tasks"]["t3"]  # not run at all
    t1 = task([S, S], [S])
    t1["samples"][2]["status"] = "missing"  # interrupted before its test sample
    t1["solved"] = {"oracle": False, "at_2": False}
    t1["o_score"] = {"A": 2}
    t1["samples"] = t1["samples"][1:]  # and demo[0] deselected (-k): absent
    cur["tasks"]["t1"] = t1
    cur["session"]["complete"] = False
    comp = compare(base(), cur)
    assert comp.not_run == ["t3"] and comp.partial == ["t1"] and comp.samples_missing == 2
    assert comp.changes == [] and [t.task for t in comp.tasks] == ["t2"]
    assert breaches(comp) == {}
    assert "current run is incomplete" in comp.flags
    assert "tasks: 2 in both (0 new, 1 not run, 1 partial)" in render(comp)


def test_new_task_is_never_a_regression() -> None:
    cur = base()
    cur["tasks"]["t9"] = task([U], [U], o={"A": 0})
    comp = compare(base(), cur)
    assert comp.new == ["t9"] and comp.changes == [] and breaches(comp) == {}


def test_other_dataset_refused_naming_both() -> None:
    with pytest.raises(CompareError, match=r"'arcagi1'.*'kaggle2025'.*--any-data"):
        compare(base(), run(base()["tasks"], data="D2", name="kaggle2025"))
    with pytest.raises(CompareError, match="the task data hashes differ"):
        compare(base(), run(base()["tasks"], data="D2"))


def hashed(res: Dict[str, Any], **sha: str) -> Dict[str, Any]:
    """Give each task its own content hash, as the plugin and phase3 record them."""
    for tid, t in res["tasks"].items():
        t["sha256"] = sha.get(tid, "h-" + tid)
    return res


def test_other_dataset_allowed_and_per_task_hashes_check_only_common_tasks() -> None:
    comp = compare(base(), run(base()["tasks"], data="D2", name="kaggle2025"), allow_other_data=True)
    assert any("different task data" in f for f in comp.flags)
    sub = hashed(run({"t1": task([S, S], [S])}, data="D-sub"))  # fewer tasks: another selection hash
    comp = compare(hashed(base()), sub)
    assert comp.not_run == ["t2", "t3"] and comp.flags == []
    with pytest.raises(CompareError, match=r"1 common task\(s\) have different content \(t1\)"):
        compare(hashed(base()), hashed(run({"t1": task([S, S], [S])}, data="D-sub"), t1="changed"))


def test_other_batt_is_reported_not_refused() -> None:
    comp = compare(base(), run(base()["tasks"], batt="B2"))
    assert comp.flags == ["different batt: pytest_batt.reference B1 -> pytest_batt.reference B2"]
    assert "note: different batt: pytest_batt.reference B1 -> pytest_batt.reference B2" in render(comp)


def test_time_ratio_and_machine_flags() -> None:
    cur = run({tid: dict(t, seconds=t["seconds"] * 1.5) for tid, t in base()["tasks"].items()}, cpus=2, workers=4)
    comp = compare(base(), cur)
    assert comp.time_ratio == pytest.approx(1.5)
    assert [t.time_ratio for t in comp.tasks] == [pytest.approx(1.5)] * 3
    assert comp.time_caveats == ["different machine", "different workers"]
    assert any(f.startswith("different machine") for f in comp.flags) and any(f.startswith("different workers") for f in comp.flags)
    assert breaches(comp, ["time:25%"]) == {
        "time:25%": "time ratio 1.50x is above 1.25x (+25%) (different machine, different workers: not like for like)"
    }
    assert breaches(comp, ["time:60", "time:50%"]) == {}
    assert any("ratio 1.50x  [different machine, different workers]" in line for line in render(comp))


def test_candidates_gate() -> None:
    cur = run({tid: dict(t, samples=[dict(s, candidates=8) for s in t["samples"]]) for tid, t in base()["tasks"].items()})
    comp = compare(base(), cur)  # 90 -> 72 candidates: -20%
    assert comp.total("candidates") == (90, 72)
    assert breaches(comp, ["candidates:10%", "candidates:10"]) == {
        "candidates:10%": "candidates dropped 20.0% (90 -> 72), more than 10%",
        "candidates:10": "candidates dropped 20.0% (90 -> 72), more than 10%",
    }
    assert breaches(comp, ["candidates:20%", "candidates:25"]) == {}
    assert breaches(compare(cur, base()), ["candidates:0"]) == {}  # more candidates never breach


def test_d_and_s_score_changes_are_counted() -> None:
    cur = copy.deepcopy(base())
    cur["tasks"]["t1"]["d_score"] = {"A": {"d1": {"last_t": 4, "iz": 2, "zo": 0}}, "B": {"d1": {"last_t": 3, "iz": 0, "zo": 0}}}
    cur["tasks"]["t1"]["s_score"] = {"d1": {"iz": {"A": 2}, "zo": {"A": 0}}}
    comp = compare(base(), cur)
    t1 = next(t for t in comp.tasks if t.task == "t1")
    assert (t1.d_changed, t1.s_changed) == (5, 1)  # last_t, iz, and B's three new leaves; one s_score leaf
    assert "d_score: 5 changed   s_score: 1 changed" in " ".join(render(comp))


def test_to_json_is_builtin_and_complete() -> None:
    cur = base()
    cur["tasks"]["t1"] = task([S, U], [S])
    data = to_json(compare(base(), cur))
    assert json.loads(json.dumps(data)) == data
    assert data["samples"]["changes"] == [{"nodeid": "batt/t1::demo[1]", "before": "solved", "after": "unsolved", "category": "regressed"}]
    assert data["totals"]["at_2"] == [2, 2] and data["totals"]["time_ratio"] == pytest.approx(1.0)
    assert data["per_task"]["t1"]["o_dropped"] == {"A": [3, 2]}


@pytest.mark.parametrize("expr,kind,percent", [
    ("solved", "solved", None), ("pass2", "pass2", None), ("pass@2", "pass2", None), ("oracle", "oracle", None),
    ("score", "score", None), ("candidates:10%", "candidates", 10.0), ("candidates:10", "candidates", 10.0),
    (" time:25% ", "time", 25.0), ("time:2.5", "time", 2.5), ("TIME:0%", "time", 0.0),
])
def test_parse_gate(expr: str, kind: str, percent: Optional[float]) -> None:
    gate = parse_gate(expr)
    assert (gate.kind, gate.percent, gate.expr) == (kind, percent, expr)


@pytest.mark.parametrize("expr", ["", "speed", "candidates", "candidates:", "candidates:ten", "time:-5%", "time:25%%", "solved:1",
                                  "score:3"])
def test_bad_gate_lists_valid_forms(expr: str) -> None:
    with pytest.raises(GateError) as info:
        parse_gate(expr)
    assert isinstance(info.value, ValueError)
    assert "valid forms: solved, pass2, oracle, score, candidates:PCT%" in str(info.value)


def test_render_caps_long_lists_and_counts_other_changes() -> None:
    many = run({f"t{i:02d}": task([S], [S]) for i in range(6)})
    cur = run({f"t{i:02d}": task([U], ["timeout" if i == 0 else S]) for i in range(6)})
    cur["tasks"]["t05"] = task([S], [S], seconds=3.0)
    cur["tasks"]["t00"]["samples"][1]["status"] = "timeout"
    lines = render(compare(many, cur), limit=2)
    assert "regressed:" in lines and "  ... and 4 more" in lines
    assert "highest time ratios: t05 3.00x, t00 1.00x, t01 1.00x" in lines
    timeouts = run({"t": task([U], ["timeout"])})
    assert "1 other status changes" in render(compare(timeouts, run({"t": task([U], [U])})))[3]


def test_gate_lines_and_totals_are_one_text_for_the_cli_and_the_terminal_summary():
    """report.gate_lines / totals_line print what `compare --fail` and the plugin's summary print alike."""
    from pytest_batt import gates as gates_mod, report

    before = run({"a": task([S, S], [S]), "b": task([S], [U])})
    after = run({"a": task([U, S], ["timeout"]), "b": task([S], [U])})
    comp = compare(before, after)
    gates = [parse_gate(e) for e in ("solved", "pass2", "time:10000%")]
    breached = gates_mod.breaches(gates, comp)
    assert [expr for expr, _ in breached] == ["solved", "pass2"]
    assert report.gate_lines([g.expr for g in gates], breached) == [
        "",
        "gate    breached because",
        f"solved  {breached[0][1]}",
        f"pass2   {breached[1][1]}",
    ]
    assert report.gate_lines(["solved", "score"], []) == ["gates: 2 hold (solved, score)"]
    assert report.gate_lines([], []) == []
    assert report.totals_line(after["tasks"]) == \
        "tasks: 2   pass@2: 0/2   oracle: 0/2   samples solved: 2/5   unsolved: 2   timeout: 1"
