"""End to end: pictures under failures, the submission and the HTML report from real runs (-n 0 and -n 2)."""

import json
import re

import pytest

from pytest_batt import submission
from pytest_batt.__main__ import main
from toys import TASKS, TOY_BATT

BASE = ["--batt", "all", "--batt-data", "tasks", "--batt-module", "toybatt.py"]
RED_CELL, MAROON_CELL = "\x1b[48;2;255;65;54m  ", "\x1b[48;2;141;29;44m  "


@pytest.fixture
def project(toy_project):
    toy_project.makepyfile(toybatt=TOY_BATT)
    toy_project.args = BASE
    return toy_project


@pytest.mark.parametrize("mode", [["-n", "0"], ["-n", "2"]], ids=["n0", "n2"])
def test_a_run_draws_failures_and_writes_a_submission_that_scores_as_pass_at_2(project, mode):
    result = project.runbatt(*mode, "--color=yes", "--batt-json", "r.json", "--batt-submission", "s.json", "--batt-html", "r.html")
    out = result.stdout.str()
    # none0003::demo[0]: expected [[9, 9]] (maroon), closest identity [[1, 2]] (blue, red), both cells differ
    assert MAROON_CELL * 2 in out and RED_CELL in out and "diff (2 cells)" in out
    results = project.results()
    sub = json.loads((project.path / "s.json").read_text())
    assert list(sub) == ["flip0001", "none0003", "same0002"] and len(sub["none0003"]) == 2
    solutions = {tid: [t["output"] for t in task["test"]] for tid, task in TASKS.items()}
    score = submission.score(sub, submission.check_solutions(solutions, "solutions"))
    at_2 = {tid for tid, t in results["tasks"].items() if t["solved"]["at_2"]}
    assert {tid for tid, s in score.tasks.items() if s == 1.0} == at_2 == {"flip0001", "same0002"}
    assert score.partial() == {"none0003": 0.5}  # its second test input is right, its first is not
    page = (project.path / "r.html").read_text()
    assert "<script src" not in page and "<link" not in page and "http" not in page.replace("http-equiv", "")


def test_a_sharded_run_merged_makes_the_submission_of_a_single_run(project, capsys):
    """The results files keep the attempts: merge the shards, then one submission from the merged file."""
    project.runbatt("-n", "0", "--batt-submission", "single.json", "--batt-html", "single.html")
    for k, mode in (("1", "0"), ("2", "2")):
        project.runbatt("-n", mode, "--batt-shard", f"{k}/2", "--batt-json", f"shard{k}.json")
    path = lambda name: str(project.path / name)  # noqa: E731
    assert main(["merge", path("shard1.json"), path("shard2.json"), "-o", path("merged.json")]) == 0
    assert main(["submission", path("merged.json"), "-o", path("s.json")]) == 0
    assert capsys.readouterr().out.endswith("(3 tasks, 4 test inputs, 0 with no candidate, 0 without a result: fallback [[0]])\n")
    assert json.loads((project.path / "s.json").read_text()) == json.loads((project.path / "single.json").read_text())
    # The report too, with the grids from the task data: as the single run's, but for the closest
    # candidates of unsolved demos, which results files do not keep.
    assert main(["html", path("merged.json"), "-o", path("merged.html"), "--batt-data", "tasks"]) == 0
    single, merged = project.report_data("single.html"), project.report_data("merged.html")
    assert any(s["k"] == "demo" and s.get("c") for t in single.values() for s in t["samples"])  # there was something to drop
    for t in single.values():
        for s in t["samples"]:
            if s["k"] == "demo":
                s.pop("c", None)
    for t in list(single.values()) + list(merged.values()):
        for s in t["samples"]:
            s.pop("mb")  # each run's own measurement of the sample's peak memory
    assert merged == single
    (project.path / "tasks" / "flip0001.json").write_text(json.dumps({**TASKS["flip0001"], "train": TASKS["flip0001"]["train"][:1]}))
    assert main(["html", path("merged.json"), "-o", path("other.html"), "--batt-data", "tasks"]) == 4
    assert "--batt-data tasks: task flip0001 has other content than when" in capsys.readouterr().err
    # One shard alone lacks the other's tasks: refused unless --partial.
    assert main(["merge", path("shard1.json"), "-o", path("half.json"), "--partial"]) == 0
    capsys.readouterr()
    assert main(["submission", path("half.json"), "-o", path("h.json")]) == 4
    assert "an incomplete run (interrupted, or shards missing)" in capsys.readouterr().err
    assert main(["submission", path("half.json"), "-o", path("h.json"), "--partial"]) == 0
    assert set(json.loads((project.path / "h.json").read_text())) < set(json.loads((project.path / "single.json").read_text()))


def test_without_colour_the_grids_are_digits_and_verbose_adds_the_input(project):
    result = project.runbatt("-n", "0", "--color=no", "-v", "-k", "none0003 and demo")
    out = result.stdout.str()
    assert "\x1b[" not in out
    assert "input   expected   closest: identity   next: flip   diff (2 cells)" in out
    assert "12      99         12                  21           XX" in out


def test_hidden_solutions_run_unscored_and_the_submission_scores_elsewhere(project, tmp_path):
    challenges = {tid: {**t, "test": [{"input": p["input"]} for p in t["test"]]} for tid, t in TASKS.items()}
    (project.path / "k_challenges.json").write_text(json.dumps(challenges))
    project.args = ["--batt", "all", "--batt-data", "k_challenges.json", "--batt-module", "toybatt.py", "-n", "0"]
    refused = project.runbatt_inprocess()  # a usage error: in this process
    assert refused.ret == 4 and "give --batt-submission PATH" in refused.stderr.str()
    result = project.runbatt("--batt-submission", "s.json", "--batt-json", "r.json", "-rs")
    result.assert_outcomes(passed=3, failed=1, skipped=4)  # demos judged as always; the 4 test samples unscored
    out = result.stdout.str()
    assert "   unscored: 4\n" in out and "SKIPPED [1] batt/flip0001::test[0]: unscored: the expected output is hidden" in out
    # No task can be judged: pass@2 is not "0 of 3", and the table says "-" rather than "no".
    assert "tasks: 3   pass@2: 0/0 judged   oracle: 0/0 judged   samples solved: 3/4 judged   unsolved: 1   unscored: 4" in out
    assert re.search(r"^flip0001 +2/2 +- +- +- ", out, re.M), out  # no test sample judged: not 0/1
    assert project.results().statuses("flip0001") == ["solved", "solved", "unscored"]
    (tmp_path / "x_solutions.json").write_text(json.dumps({tid: [p["output"] for p in t["test"]] for tid, t in TASKS.items()}))
    assert main(["score", str(project.path / "s.json"), str(tmp_path / "x_solutions.json")]) == 0


def test_a_folder_holding_a_kaggle_pair_runs_as_that_pair_and_its_submission_names_the_tasks(project):
    challenges = {tid: {**t, "test": [{"input": p["input"]} for p in t["test"]]} for tid, t in TASKS.items()}
    folder = project.mkdir("kag")
    (folder / "arc-agi_test_challenges.json").write_text(json.dumps(challenges))
    project.args = ["--batt-data", "kag", "--batt-module", "toybatt.py", "-n", "0"]
    result = project.runbatt("--batt", "all", "--batt-submission", "s.json")  # hidden solutions, as on Kaggle
    result.assert_outcomes(passed=3, failed=1, skipped=4)
    sub = json.loads((project.path / "s.json").read_text())
    assert sorted(sub) == sorted(TASKS) and [len(v) for v in sub.values()] == [len(TASKS[t]["test"]) for t in sub]
    (folder / "arc-agi_test_solutions.json").write_text(json.dumps({tid: [p["output"] for p in t["test"]] for tid, t in TASKS.items()}))
    project.runbatt("--batt", "flip0001").assert_outcomes(passed=3)
    (folder / "arc-agi_evaluation_challenges.json").write_text(json.dumps(challenges))
    refused = project.runbatt_inprocess("--batt", "flip0001")
    assert refused.ret == 4 and project.error_lines(refused) == [
        f"ERROR: {folder}: holds several Kaggle challenges files (arc-agi_evaluation_challenges.json, arc-agi_test_challenges.json); "
        "give --batt-data the challenges file itself"]
