"""Resuming a long run: a killed run leaves a checkpoint file; resuming it gives the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sandboxes import needs_sandbox

SLOW = """
import os, time

def batt(task_id, S, I, C, log_path):
    time.sleep(float(os.environ.get("BATT_SLEEP", "0")))  # slow only where a run must be caught part-way
    flip = tuple(r[::-1] for r in I)
    o = [(1, 0, "id", I), (2, 0, "flip", flip), (3, 0, "junk", ())]
    s = []
    if C is not None:
        s = [(4, "None", "same", (int(C == I), "x")), (5, "flip", "same", (int(C != flip),)), (6, "id", "late", (0,))]
    return o, s
"""

IDS = [f"t{i}" for i in range(6)]


@pytest.fixture
def project(batt_project):
    batt_project.tasks({tid: {"train": [{"input": [[i, 1]], "output": [[1, i]]}, {"input": [[2]], "output": [[2]]}],
                              "test": [{"input": [[3, i]], "output": [[i, 3]] if i % 2 else [[3, i]]}]}
                        for i, tid in enumerate(IDS)})
    batt_project.makepyfile(slow=SLOW)
    batt_project.args = args()
    return batt_project


def args(*more):
    return ["--batt", "all", "--batt-data", "tasks", "--batt-module", "slow.py", "-p", "no:cacheprovider", *more]


def scores(project, name):
    """Each task's statuses and scores in a results file of the project, and the whole file."""
    data = project.results(name)
    return {tid: (data.statuses(tid), *task.values()) for tid, task in data.scores().items()}, data


# How each mode starts its workers. The sandbox passes only harmless variables into its workers:
# BATT_SLEEP reaches them through xdist's own env: part of the spec.
WORKERS = {"0": ["-n", "0"], "2": ["-n", "2"], "2-sandboxed": ["--tx", "2*popen//env:BATT_SLEEP=0.1", "--batt-sandbox"]}


def kill_part_way(project, mode):
    """Start a run that checkpoints often; SIGKILL it (and its workers) once a file with some samples exists."""
    cmd = [sys.executable, "-m", "pytest", *args(*WORKERS[mode], "--batt-json", "r.json", "--batt-checkpoint", "0.005")]
    env = {**os.environ, "BATT_SLEEP": "0.1"}
    proc = subprocess.Popen(cmd, cwd=project.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            data = json.loads((project.path / "r.json").read_text())
            done = sum(s["status"] != "missing" for t in data["tasks"].values() for s in t["samples"])
        except (OSError, ValueError):
            done = 0
        if done >= 4:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return done


OUTPUTS = ["--batt-submission", "s.json", "--batt-html", "r.html"]


@pytest.fixture(scope="module")
def uninterrupted_files():
    """The files of the uninterrupted run, made by the first test to need them ({name: bytes}): every
    project here has the same tasks and batt, so one run serves the module."""
    return {}


@pytest.fixture
def uninterrupted(project, uninterrupted_files):
    """An uninterrupted -n 0 run's full.json, full-s.json (its submission) and full.html, in this project."""
    if not uninterrupted_files:
        project.runbatt("-n", "0", "--batt-json", "full.json", *OUTPUTS).assert_outcomes(passed=18)
        (project.path / "s.json").rename(project.path / "full-s.json")
        (project.path / "r.html").rename(project.path / "full.html")
        uninterrupted_files.update({name: (project.path / name).read_bytes() for name in ("full.json", "full-s.json", "full.html")})
    else:
        for name, content in uninterrupted_files.items():
            (project.path / name).write_bytes(content)


def page_samples(project, name):
    """Each sample's status and shown grids in an HTML report's embedded data."""
    data = project.report_data(name)
    return {f"{tid}::{s['k']}[{s['i']}]": (s["st"], s.get("c")) for tid, t in data.items() for s in t["samples"]}


@pytest.mark.parametrize("mode", ["0", "2", pytest.param("2-sandboxed", marks=needs_sandbox)])
def test_a_killed_run_resumed_equals_an_uninterrupted_one(project, uninterrupted, mode):
    """Its results, and its submission and report: samples taken from the file keep their attempts."""
    whole, _ = scores(project, "full.json")
    done = kill_part_way(project, mode)
    partial = project.results()
    assert partial["session"]["complete"] is False and 4 <= done < 18
    result = project.runbatt(*WORKERS[mode], "--batt-resume", "r.json", *OUTPUTS)
    result.stdout.fnmatch_lines([f"batt: resuming from *r.json: {done} sample(s) taken from the file, {18 - done} to run now*"])
    resumed, data = scores(project, "r.json")
    assert data["session"]["complete"] is True
    # The killed run's times count too: the file's batt time is set against the time it all took.
    assert data["session"]["wall_s"] > partial["session"]["wall_s"] and data["session"]["process_s"] > partial["session"]["process_s"]
    assert data["session"]["item_s"] <= 2 * data["session"]["wall_s"]
    assert resumed == whole
    assert all("fold" not in s for s in data.samples())  # a finished file is lean
    full = json.loads((project.path / "full-s.json").read_text())
    assert json.loads((project.path / "s.json").read_text()) == full
    assert all(e != {"attempt_1": [[0]], "attempt_2": [[0]]} for entries in full.values() for e in entries)
    assert page_samples(project, "r.html") == page_samples(project, "full.html")

    def attempts(name):
        data = project.results(name)
        return {tid: [s["attempts"] for s in data.samples(tid) if s["kind"] == "test"] for tid in data["tasks"]}

    assert attempts("r.json") == attempts("full.json") and all(a and a[0] for a in attempts("r.json").values())


def test_a_sample_of_an_older_file_keeps_its_message_from_the_fold():
    from pytest_batt import resume

    old = {"kind": "demo", "index": 0, "status": "unsolved", "candidates": 1, "fold": {"message": "no candidate matched", "o": {}}}
    assert resume.record_of("t", old)["message"] == "no candidate matched"
    assert resume.record_of("t", {**old, "message": "its own"})["message"] == "its own"


def test_resuming_a_complete_file_runs_nothing_and_exits_0(project, uninterrupted):
    before, _ = scores(project, "full.json")
    result = project.runbatt("-n", "2", "--batt-resume", "full.json")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*18 sample(s) taken from the file, 0 to run now*"])
    assert scores(project, "full.json")[0] == before


def test_retry_runs_crashed_and_timed_out_samples_again(project, uninterrupted, monkeypatch):
    data = project.results("full.json")
    data["tasks"]["t1"]["samples"][2].update(status="timeout", error="solve call timed out")
    (project.path / "old.json").write_text(json.dumps(data))
    result = project.runbatt("-n", "0", "--batt-resume", "old.json")
    assert scores(project, "old.json")[0]["t1"][0][2] == "timeout"  # kept as it is
    monkeypatch.setenv("BATT_SLEEP", "0.1")  # slow enough for a progress line (0.06 s)
    result = project.runbatt("-n", "0", "--batt-resume", "old.json", "--batt-resume-retry", "--batt-progress", "0.001")
    result.stdout.fnmatch_lines(["*15 sample(s) taken from the file, 3 to run now "
                                 "(1 partial task(s) without per-sample data run again whole)*"])
    result.stdout.fnmatch_lines(["batt: [123]/3 samples done, * left*"])  # progress counts this run's samples
    assert scores(project, "old.json")[0] == scores(project, "full.json")[0]


def test_progress_lines_for_long_runs(project, monkeypatch):
    monkeypatch.setenv("BATT_SLEEP", "0.02")  # 18 samples last 0.36 s, whatever the machine: lines every 0.06 s
    result = project.runbatt("-n", "0", "--batt-progress", "0.001")
    result.stdout.fnmatch_lines(["batt: */18 samples done, * left, about * left at the rate so far"])


REFUSALS = [
    ("batt", "written by another batt"),
    ("task", "task t2 has other content than in that file"),
    ("timeout", "run with --batt-timeout 10.0, this run 5"),
    ("schema", "not a pytest-batt results file of schema 1"),
    ("notresults", "not a pytest-batt results file of schema 1"),
]


def test_resume_refuses_other_runs_in_one_line(project, uninterrupted):
    good = (project.path / "full.json").read_text()
    batt = (project.path / "slow.py").read_text()
    for change, words in REFUSALS:
        extra, path = [], "full.json"
        if change == "batt":
            (project.path / "slow.py").write_text(batt + "\n# changed\n")
        elif change == "task":
            (project.path / "slow.py").write_text(batt)
            nine = {"input": [[9]], "output": [[9]]}
            (project.path / "tasks" / "t2.json").write_text(json.dumps({"train": [nine], "test": [nine]}))
        elif change == "timeout":
            extra = ["--batt-timeout", "5"]
        elif change == "schema":
            (project.path / "full.json").write_text(good.replace('"schema":1', '"schema":2'))
        else:
            path = "tasks/t0.json"
        result = project.runbatt_inprocess("-n", "0", "--batt-resume", path, *extra)  # a usage error: in this process
        assert result.ret == pytest.ExitCode.USAGE_ERROR, change
        err = result.stderr.str().strip()
        assert words in err and len(err.splitlines()) == 1, (change, err)


def test_fold_data_keeps_the_files_names_and_refolds_to_the_same_scores():
    """A record's differ_last_t is "last_t" in a file's fold (schema 1): files written before resume alike."""
    from pytest_batt import records, resume, scoring

    first = records.new_record("t", "demo", 0)
    first.update(status="solved", matched=["a"], o={"a": 1}, d={"a": {"d": [1, 0, [3]]}}, differ_last_t={"d": 3})
    second = records.new_record("t", "demo", 1)
    second.update(status="unsolved", o={"b": 0}, d={"b": {"d": [0, 1, None]}}, differ_last_t={})  # b's entry inherits
    fold = resume.fold_data(first)
    assert fold is not None and fold["last_t"] == {"d": 3} and "differ_last_t" not in fold
    back = resume.record_of("t", json.loads(json.dumps(records.sample_entry(first, fold))))
    assert back == first
    assert scoring.score_task([back, second]) == scoring.score_task([first, second])
    assert scoring.score_task([back, second])["d_score"]["b"]["d"]["last_t"] == 3
