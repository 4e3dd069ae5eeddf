"""Real ARC-AGI-1 data through the embedded reference batt, as a new user runs it."""

import json

import pytest


@pytest.mark.parametrize("mode", [["-n", "0"], ["-n", "2"]], ids=["n0", "n2"])
def test_007bbfb7_passes_every_sample_with_the_defaults(pytester, mode):
    result = pytester.runpytest_subprocess("--batt", "007bbfb7", "--batt-json", "r.json", *mode)
    result.assert_outcomes(passed=6)
    data = json.loads((pytester.path / "r.json").read_text())
    task = data["tasks"]["007bbfb7"]
    assert task["solved"] == {"oracle": True, "at_2": True}
    assert [f"{s['kind']}[{s['index']}]" for s in task["samples"]] == [
        "demo[0]", "demo[1]", "demo[2]", "demo[3]", "demo[4]", "test[0]"
    ]
    assert data["batt"]["module"] == "pytest_batt.reference"
    assert data["data"]["name"] == "arcagi1"


def test_real_tasks_score_the_same_with_and_without_workers(pytester):
    ids = "007bbfb7,017c7c7b,0520fde7"
    pytester.runpytest_subprocess("--batt", ids, "--batt-data", "arcagi1-training", "--batt-json", "a.json", "-n", "0")
    pytester.runpytest_subprocess("--batt", ids, "--batt-data", "arcagi1-training", "--batt-json", "b.json", "-n", "2")
    a, b = (json.loads((pytester.path / f).read_text()) for f in ("a.json", "b.json"))
    assert list(a["tasks"]) == ids.split(",")
    for tid in a["tasks"]:
        for key in ("o_score", "d_score", "s_score", "solved"):
            assert a["tasks"][tid][key] == b["tasks"][tid][key], (tid, key)
