"""A run whose last run had faults (a crash, a timeout or hard stop, a quarantined program) keeps its
workers even when it is short: in this process a crash would end the session and a stuck call could
not be stopped (issue 32)."""

import json

import pytest

from pytest_batt import lastrun, results
from toys import TOY_BATT


def record(tmp_path, faults):
    batt = tmp_path / "batt.py"
    batt.write_text("x = 1\n")
    runs = lastrun.with_run(None, "k", lastrun.fingerprint([str(batt)]), (0.2, 0.05), 6, 1.0, faults)
    return lastrun.record_of(runs, "k")


def test_a_short_run_with_faults_last_time_keeps_its_workers(tmp_path):
    assert lastrun.in_process(record(tmp_path, 0), workers=2)  # short and clean: in this process
    assert lastrun.in_process(record(tmp_path, 1), workers=2) is None
    rec = record(tmp_path, 0)
    del rec["faults"]  # a record written before faults were counted: as before
    assert lastrun.in_process(rec, workers=2)


def test_faults_are_crashes_timeouts_and_quarantined_programs():
    assert lastrun.faults(["solved", "unsolved", "error", "unscored", "missing"], 0) == 0
    assert lastrun.faults(["solved", "crash", "timeout", "timeout"], 0) == 3
    assert lastrun.faults(["solved"], 2) == 2
    runs = lastrun.with_run(None, "k", None, None, 1, None, 4)
    assert lastrun.record_of(runs, "k")["faults"] == 4


SLOW_TEST = TOY_BATT + """
import time

def batt(task_id, S, I, C, log_path, _batt=batt):
    if task_id == "same0002" and I == ((2, 3),) and C is None:
        time.sleep(30)  # past the timeout: the sample times out
    return _batt(task_id, S, I, C, log_path)
"""


@pytest.mark.parametrize("faulty", [False, True])
def test_the_rerun_of_a_short_run_stays_in_workers_after_a_timeout(toy_project, faulty, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")  # -n auto is 2 workers on any machine (xdist counts cores)
    toy_project.makepyfile(toy=SLOW_TEST if faulty else TOY_BATT)
    args = ["--batt", "all", "--batt-data=tasks", "--batt-module=toy.py", "--batt-timeout=1", "--batt-grace=1"]
    first = toy_project.runpytest_subprocess(*args, "--batt-json=first.json")
    assert results.read(str(toy_project.path / "first.json"))["config"]["workers"] == 2
    runs = json.loads((toy_project.path / ".pytest_cache" / "v" / "pytest-batt" / "runs").read_text())
    (rec,) = runs.values()
    assert rec["faults"] == (1 if faulty else 0), first.stdout.str()
    if faulty:  # short enough for this process by the seconds alone: only the fault keeps the workers
        rec["workers_s"] = rec["seconds"]
        (toy_project.path / ".pytest_cache" / "v" / "pytest-batt" / "runs").write_text(json.dumps(runs))
    again = toy_project.runpytest_subprocess(*args, "--batt-json=again.json")
    workers = results.read(str(toy_project.path / "again.json"))["config"]["workers"]
    assert workers == (2 if faulty else 0), again.stdout.str()
    assert ("not in workers" in again.stdout.str()) is not faulty
