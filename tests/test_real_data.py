"""Real ARC-AGI-1 data through the embedded reference batt, as a new user runs it."""

IDS = ["007bbfb7", "017c7c7b", "0520fde7"]


def test_real_tasks_pass_with_the_defaults_and_score_the_same_with_and_without_workers(batt_project):
    runs = {}
    for mode in ("0", "2"):
        result = batt_project.runbatt("--batt", ",".join(IDS), "--batt-json", f"n{mode}.json", "-n", mode)
        data = batt_project.results(f"n{mode}.json")
        assert data["batt"]["module"] == "pytest_batt.reference"
        assert data["data"]["name"] == "arcagi1"
        assert list(data["tasks"]) == IDS  # in the order given
        task = data["tasks"]["007bbfb7"]
        assert task["solved"] == {"oracle": True, "at_2": True}
        assert [f"{s['kind']}[{s['index']}]" for s in task["samples"]] == [
            "demo[0]", "demo[1]", "demo[2]", "demo[3]", "demo[4]", "test[0]"
        ]
        assert data.statuses("007bbfb7") == ["solved"] * 6
        statuses = data.statuses()
        result.assert_outcomes(passed=statuses.count("solved"), failed=len(statuses) - statuses.count("solved"))
        runs[mode] = data
    for tid in IDS:
        for key in ("o_score", "d_score", "s_score", "solved"):
            assert runs["0"]["tasks"][tid][key] == runs["2"]["tasks"][tid][key], (tid, key)
