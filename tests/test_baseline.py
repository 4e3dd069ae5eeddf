"""Saving a baseline, comparing against it, and gating on the comparison, end to end."""

import json

import pytest

from pytest_batt.__main__ import main
from toys import SAME, TOY_BATT

WORSE_BATT = """
def batt(task_id, S, I, C, log_path):
    return [(1, 0, "identity", I)], ([(5, "None", "same", (int(C == I), "x"))] if C is not None else [])
"""


ARGS = ["--batt", "all", "--batt-data", "tasks", "-n", "0", "--batt-module"]


@pytest.fixture
def project(toy_project):
    toy_project.makepyfile(toybatt=TOY_BATT, worse=WORSE_BATT)
    toy_project.args = ARGS
    return toy_project


def run(project, batt, *args):
    return project.runbatt(batt, *args)


@pytest.fixture(scope="module")
def saved_baselines():
    """Each batt's baseline as the first test to need it saved it ({batt: file bytes}): every project here
    has the same tasks and batts, so one saving run per batt serves the whole module."""
    return {}


@pytest.fixture
def save(project, saved_baselines):
    """``save(batt, name)``: the baseline of a complete ``--batt-save`` run of ``batt``, as ``name`` in this project."""

    def save(batt, name="base.json"):
        if batt not in saved_baselines:
            result = run(project, batt, "--batt-save", name)
            assert f"baseline saved to {project.path / name}" in result.stdout.str()
            saved_baselines[batt] = (project.path / name).read_bytes()
        else:
            (project.path / name).write_bytes(saved_baselines[batt])

    return save


def test_save_then_compare_unchanged_passes_with_unsolved_as_xfail(project, save):
    save("toybatt.py")
    result = run(project, "toybatt.py", "--batt-compare", "base.json", "--batt-compare-fail", "solved", "--batt-json", "r.json",
                 "-rx")
    result.assert_outcomes(passed=6, xfailed=2)
    assert result.ret == 0
    assert "samples: 8 compared, 0 newly solved, 0 regressed" in result.stdout.str()
    assert "gates: 1 hold (solved)" in result.stdout.str()
    assert "unsolved in baseline (unsolved)" in result.stdout.str()
    data = project.results()
    assert data["comparison"]["samples"]["compared"] == 8 and data["comparison"]["samples"]["changes"] == []


def test_regression_fails_the_sample_and_every_gate(project, save):
    save("toybatt.py")
    gates = ["solved", "pass2", "oracle", "score", "candidates:10%"]
    args = [a for g in gates for a in ("--batt-compare-fail", g)]
    result = run(project, "worse.py", "--batt-compare", "base.json", *args)
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "regressed vs baseline (solved there)" in out
    for gate in gates:
        assert f"\n{gate} " in out, gate
    assert "Traceback" not in out
    assert "different batt:" in out  # another batt is reported, not refused


def test_gates_alone_fail_the_exit_status(project, save):
    save("toybatt.py")
    base = project.results("base.json")
    for task in base["tasks"].values():
        task["seconds"] = 1e-6  # the least a results file holds (6 decimals): any run is slower, however fast the machine
    (project.path / "fast.json").write_text(json.dumps(base))
    result = run(project, "toybatt.py", "--batt-compare", "fast.json", "--batt-compare-fail", "time:25%", "--deselect", "batt/none0003")
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "time:25%  time ratio" in result.stdout.str()


def test_improvement_is_an_xpass_not_a_failure(project, save):
    save("worse.py")
    result = run(project, "toybatt.py", "--batt-compare", "base.json", "--batt-compare-fail", "solved")
    result.assert_outcomes(passed=3, xpassed=3, xfailed=2)
    assert result.ret == 0
    assert "3 newly solved" in result.stdout.str()


def test_partial_run_reports_no_false_regressions(project, save):
    save("toybatt.py")
    result = run(project, "toybatt.py", "--batt-compare", "base.json", "--batt-compare-fail", "solved", "--batt-compare-fail", "pass2",
                 "-k", "flip0001")
    assert result.ret == 0
    assert "0 regressed" in result.stdout.str()


def test_incomplete_run_does_not_replace_a_saved_baseline(project, save):
    save("toybatt.py")
    before = (project.path / "base.json").read_text()
    result = run(project, "toybatt.py", "--batt-save", "base.json", "-x")
    assert "not replaced: this run is incomplete" in result.stdout.str()
    assert (project.path / "base.json").read_text() == before


@pytest.mark.parametrize("select, saved", [(["-k", "demo"], 4), (["--deselect", "batt/none0003", "-n", "2"], 5)])
def test_a_baseline_of_a_selection_is_saved_and_says_so(project, select, saved):
    """It holds the selected samples only, "complete" as a run of them is: the next comparison counts
    the others as not run, so the line that says where it went says what it holds."""
    result = run(project, "toybatt.py", "--batt-save", "part.json", *select)
    path = project.path / "part.json"
    assert f"baseline saved to {path} ({saved} of 8 samples: a -k/--deselect/--lf selection)\n" in result.stdout.str()
    data = project.results("part.json")
    assert len(data.samples()) == saved and data["session"]["complete"] is True
    result = run(project, "toybatt.py", "--batt-save", "part.json")
    assert f"baseline saved to {path}\n" in result.stdout.str()  # the whole run: nothing to add


def test_baseline_of_other_task_content_is_refused_unless_allowed(project, save):
    save("toybatt.py")
    (project.path / "tasks" / "same0002.json").write_text(json.dumps({**SAME, "test": [{"input": [[5]], "output": [[5]]}]}))
    result = project.runbatt_inprocess("toybatt.py", "--batt-compare", "base.json")  # a usage error: in this process
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: baseline ran on data 'tasks', current on 'tasks': "
                                 "1 common task(s) have different content (same0002)*--batt-compare-any*"])
    result = run(project, "toybatt.py", "--batt-compare", "base.json", "--batt-compare-any")
    assert "different task data" in result.stdout.str()


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["--batt-compare", "missing.json"], "ERROR: --batt-compare */missing.json: no such results file"),
        ("{oops", ["--batt-compare", "bad.json"], "ERROR: --batt-compare */bad.json: not valid JSON*"),
        ('{"schema": 7}', ["--batt-compare", "bad.json"],
         "ERROR: --batt-compare */bad.json: not a pytest-batt results file of schema 1 (schema: 7)"),
        (None, ["--batt-compare-fail", "solved"], "ERROR: --batt-compare-fail needs a baseline: give --batt-compare PATH"),
        (None, ["--batt-compare-fail", "time:fast"], "*--batt-compare-fail: gate 'time:fast': time needs a percentage*"),
        (None, ["--batt-compare-fail", "speed"], "*--batt-compare-fail: gate 'speed' is not known*"),
    ],
)
def test_bad_baselines_and_gates_are_usage_errors(project, setup, args, message):
    """In this process: a usage error stops pytest before any batt call (tests/test_plugin.py has one in a process of its own)."""
    if setup is not None:
        (project.path / "bad.json").write_text(setup)
    result = project.runbatt_inprocess("toybatt.py", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_compare_command_agrees_with_the_plugin_gate(project, save, capsys):
    save("toybatt.py", "a.json")  # a baseline is a results file
    save("worse.py", "b.json")
    capsys.readouterr()
    assert main(["compare", str(project.path / "a.json"), str(project.path / "a.json"), "--fail", "solved"]) == 0
    assert main(["compare", str(project.path / "a.json"), str(project.path / "b.json"), "--fail", "solved"]) == 1
    assert "solved  3 sample(s) no longer solved" in capsys.readouterr().out
