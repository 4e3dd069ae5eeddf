"""What a sample costs pytest-batt besides the batt (issue 32): work done once per process or per
task where it was per sample, each still doing its job."""

import subprocess
import sys

import pytest

from pytest_batt import battrun, nodeids, tasks
from pytest_batt.isolation import processes
from pytest_batt.isolation.process_state import preserved_globals


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process list of /proc")
def test_the_tree_reads_the_descendants_once_a_sample_and_ends_what_a_sample_left(monkeypatch):
    reads = []
    real = processes.descendants
    monkeypatch.setattr(processes, "descendants", lambda *a, **k: reads.append(1) or real(*a, **k))
    tree = processes.Tree()
    kept = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # there before the first sample
    try:
        before = tree.before()
        assert kept.pid in before
        assert tree.end_new(before) == [] and kept.poll() is None  # nothing new: nothing ended
        assert len(reads) == 2  # the first "before", and one read after the sample
        for _ in range(3):  # later samples: their "before" is what the last one left
            assert tree.before() is tree.before()
            assert tree.end_new(tree.before()) == []
        assert len(reads) == 5
        before = tree.before()
        left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # a sample leaves one running
        names = tree.end_new(before)
        assert len(names) == 1 and names[0].startswith(str(left.pid))
        assert left.wait(5) is not None and kept.poll() is None
        assert left.pid not in tree.before() and kept.pid in tree.before()
        between = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # started between samples
        assert tree.end_new(tree.before()) and between.wait(5) is not None  # ended after the next sample
    finally:
        kept.kill()
        kept.wait()


def test_preserved_globals_still_puts_back_what_a_call_changed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    limit = sys.getrecursionlimit()
    for _ in range(2):  # the first call takes the state, the next reuses its copies
        with preserved_globals():
            import os

            os.chdir("sub")
            sys.setrecursionlimit(limit + 7)
            sys.path.append("planted")
        assert os.getcwd() == str(tmp_path) and sys.getrecursionlimit() == limit and "planted" not in sys.path


def make_run():
    raw = {f"t{i}": {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[2]], "output": [[2]]}]} for i in range(3)}
    taskset = tasks.TaskSet("mem", raw)
    return battrun.BattRun(taskset, list(raw)), taskset


def test_an_untouched_tasks_entry_is_made_once_and_made_again_once_a_sample_of_it_has_a_record():
    run, _ = make_run()
    run.collected(run.plan)
    first = run.task_results()
    assert run.task_results()["t1"] is first["t1"]  # untouched: the same entry, not made again
    assert [s["status"] for s in first["t1"]["samples"]] == ["missing", "missing"]
    rec = {"task": "t1", "kind": "demo", "index": 0, "status": "error", "error": "x", "message": None, "candidates": 0,
           "matched": [], "calls": 1, "seconds": 0.5, "cpu_seconds": 0.0, "memory_mb": None}
    run.add(nodeids.sample_nodeid("t1", "demo", 0), rec)
    again = run.task_results()
    assert again["t1"] is not first["t1"] and [s["status"] for s in again["t1"]["samples"]] == ["error", "missing"]
    assert again["t0"] is first["t0"]
    run.collected([nodeids.sample_nodeid("t0", "demo", 0)])  # a new selection: made again
    assert run.task_results()["t0"] is not first["t0"]


def test_the_data_hash_keeps_each_tasks_hash_and_both_are_as_before():
    import hashlib
    import json

    _, taskset = make_run()
    whole = taskset.content_hash(["t2", "t0", "t1"])
    h = hashlib.sha256()
    for tid in ["t0", "t1", "t2"]:
        h.update(tid.encode())
        h.update(json.dumps(taskset.raw[tid], sort_keys=True, separators=(",", ":")).encode())
    assert whole == h.hexdigest()
    fresh = tasks.TaskSet("mem", taskset.raw)
    assert all(taskset.task_hash(t) == fresh.task_hash(t) for t in taskset.raw)
    assert taskset == fresh  # the cache is no part of what a task set is


def test_a_sample_of_a_library_makes_no_diff_fold(tmp_path):
    from pytest_batt import runner
    from pytest_batt.programs import load_library

    (tmp_path / "lib.py").write_text("def solve_t0(I):\n    return I\n")
    lib = load_library(str(tmp_path / "lib.py"), str(tmp_path), grid_form="tuple").func
    _, taskset = make_run()
    task = taskset.task("t0")
    rec = runner.run_sample(lib, task, task.samples[0])
    assert rec["d"] == {} and rec["differ_last_t"] == {} and rec["calls"] == 1 and rec["status"] == "ok"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process list of /proc")
def test_the_children_of_a_known_process_are_not_read():
    """The watchdogs start nothing: listed as descendants, their own /proc entries are not read."""
    import time

    there = processes.descendants()
    helper = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while len(processes.descendants() - there) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        new = processes.descendants() - there
        assert helper.pid in new and len(new) == 2  # the helper and its child
        assert processes.descendants(known=[helper.pid]) - there == {helper.pid}
    finally:
        helper.kill()
        helper.wait()
        processes.end_new(there)  # its child
