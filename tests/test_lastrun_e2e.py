"""The last run plans the next (pytest's cache), and a run too short for workers goes in-process by
itself; scores are the same whatever the plan or the mode."""

import json

import pytest

from toys import TOY_BATT


@pytest.fixture
def project(toy_project, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")  # -n auto is 2 workers on any machine (xdist counts cores)
    toy_project.makepyfile(toy=TOY_BATT)
    toy_project.args = ["--batt", "all", "--batt-data=tasks", "--batt-module=toy.py"]
    return toy_project


def run(project, *args, out="r.json"):
    result = project.runbatt("--batt-json", out, *args)
    result.assert_outcomes(passed=6, failed=2)
    return result.stdout.str(), project.results(out)


def plan_line(text):
    return next((line for line in text.splitlines() if line.startswith("batt: plan")), None)


def test_the_last_run_plans_the_next_and_says_so(project):
    # The plan is the scheduler's, made for any number of workers: one is the cheapest to start.
    text, first = run(project, "-n", "1")
    assert plan_line(text).startswith("batt: plan guessed: no seconds of this batt on these tasks in .pytest_cache yet")
    cached = json.loads((project.path / ".pytest_cache" / "v" / "pytest-batt" / "seconds").read_text())
    assert list(cached["batts"]) == [first["batt"]["sha256"]]
    text, again = run(project, "-n", "1", out="again.json")
    assert plan_line(text) == "batt: plan from the last run's seconds in .pytest_cache: 8 of 8 samples, the rest guessed"
    assert again.scores() == first.scores()
    # Another task content: that task's seconds do not fit (flip0001: 3 samples), the others' do.
    flip = project.path / "tasks" / "flip0001.json"
    data = json.loads(flip.read_text())
    data["train"][0]["input"] = [[2, 1]]
    flip.write_text(json.dumps(data))
    text, _ = run(project, "-n", "1")
    assert "5 of 8 samples" in plan_line(text)
    # Another batt: nothing fits.
    (project.path / "toy.py").write_text(TOY_BATT + "\n# edited\n")
    text, _ = run(project, "-n", "1")
    assert plan_line(text).startswith("batt: plan guessed: no seconds of this batt")
    # No cache at all, and an earlier results file instead of the cache.
    text, _ = run(project, "-n", "1", "-p", "no:cacheprovider")
    assert plan_line(text).startswith("batt: plan guessed (no cache: -p no:cacheprovider")
    text, _ = run(project, "-n", "1", "--batt-durations=r.json")
    assert plan_line(text) == "batt: plan from --batt-durations r.json: seconds of 8 of 8 samples, the rest guessed"
    text, _ = run(project, "-n", "1", "-q")  # a header line: -q hides it, as it hides pytest's header
    assert plan_line(text) is None


def test_a_run_too_short_for_workers_goes_in_process_by_itself(project):
    text, first = run(project)  # the default, no seconds yet: workers (and their start-up measured)
    assert first["config"]["workers"] == 2 and "not in workers" not in text
    runs = json.loads((project.path / ".pytest_cache" / "v" / "pytest-batt" / "runs").read_text())
    (record,) = runs.values()
    assert record["samples"] == 8 and record["workers_s"] > 0 and record["seconds"] < record["workers_s"]
    text, again = run(project, out="again.json")
    line = next(line for line in text.splitlines() if "not in workers" in line)
    assert line.startswith("batt: in this process, not in workers: the last run's 8 sample(s) took ")
    assert "batt: running in this process: a batt that ignores the timeout" in text
    assert again["config"]["workers"] == 0 and again.scores() == first.scores()
    # The user's choice stands; without the cache there is nothing to decide from.
    for args in (["-n", "2"], ["-p", "no:cacheprovider"], ["--tx", "2*popen"], ["--batt-gpus", "0,1"]):
        text, res = run(project, *args)
        assert res["config"]["workers"] == 2 and "not in workers" not in text, args
    # The batt changed since: workers again, until a run of it has measured its samples.
    (project.path / "toy.py").write_text(TOY_BATT + "\n# edited\n")
    text, res = run(project)
    assert res["config"]["workers"] == 2 and res.scores() == first.scores()
