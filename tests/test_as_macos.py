"""Runs as on macOS, played on Linux: RLIMIT_AS refused (scripts/as-macos/sitecustomize.py on
PYTHONPATH, which reaches the workers) and, with scripts/as-macos.sh, no /proc either.

With /proc kept, psutil still reads resident memory, so the memory limit is the watchdog's
(``resident``); without it nothing reads it, and the default limit is off. .ci/run runs the quick
start and the isolation tests under the whole play (scripts/test-as-macos.sh).
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toys import TOY_BATT, make_project

from pytest_batt import results
from pytest_batt.isolation import capabilities

SCRIPTS = Path(__file__).parent.parent / "scripts"

RUNAWAY = TOY_BATT + '''
_real = batt

def batt(task_id, S, I, C, log_path):
    if I == ((6, 7),) and C is None:
        hog = []
        while True:
            hog.append(b"\\x01" * (16 * 2**20))
    return _real(task_id, S, I, C, log_path)
'''

FORKER = TOY_BATT + '''
import os, time
_real = batt

def batt(task_id, S, I, C, log_path):
    if I == ((6, 7),) and C is None and os.fork() == 0:
        time.sleep(60)  # holds copies of the run's pipes: the run would wait for it
        os._exit(0)
    return _real(task_id, S, I, C, log_path)
'''


def _run(project, module, *args):
    return project.runpytest_subprocess("--batt", "flip0001", "--batt-data", "tasks", "--batt-module", module,
                                        "--batt-json", "r.json", *args, timeout=120)


@pytest.fixture
def refused(pytester, monkeypatch):
    """A project whose pytest processes (and their workers) cannot set RLIMIT_AS."""
    if not capabilities.resident().on:
        pytest.skip("psutil cannot read resident memory here (no /proc: scripts/as-macos.sh hides it)")
    monkeypatch.setenv("PYTHONPATH", str(SCRIPTS / "as-macos"))
    return make_project(pytester, runaway=RUNAWAY, toybatt=TOY_BATT)


def test_without_an_address_space_limit_the_watchdog_keeps_a_resident_limit(refused):
    result = _run(refused, "runaway.py", "--batt-max-memory", "300", "-n", "2")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "batt: memory limit: 300 MB resident, read every 50 ms by each worker's watchdog (the address-space limit " \
           "is refused on this system (ValueError: current limit exceeds maximum limit))" in out
    data = results.read(str(refused.path / "r.json"))
    test = data["tasks"]["flip0001"]["samples"][2]
    assert test["status"] == "error" and "went past the memory limit" in test["error"], test
    assert "over --batt-max-memory 300 MB" in test["error"]
    assert data["config"]["protections"]["memory_limit"] == "resident"
    assert data["config"]["protections"]["memory_limit_mb"] == 300


def test_in_one_process_the_default_is_off_and_a_limit_asked_for_is_one_line(refused):
    quick = _run(refused, "toybatt.py", "-n", "0")
    quick.assert_outcomes(passed=3)
    assert "batt: memory limit: off (the address-space limit is refused on this system" in quick.stdout.str()
    assert results.read(str(refused.path / "r.json"))["config"]["protections"]["memory_limit"] == "off"
    quiet = _run(refused, "toybatt.py", "-n", "0", "-q")  # pytest shows no header: what is off is said all the same
    quiet.assert_outcomes(passed=3)
    assert [line for line in quiet.stdout.lines if line.startswith("batt: memory limit: off (")], quiet.stdout.str()
    silent = _run(refused, "toybatt.py", "-n", "0", "-q", "--no-header")
    assert "memory limit" not in silent.stdout.str()
    asked = _run(refused, "toybatt.py", "-n", "0", "--batt-max-memory", "500")
    assert asked.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in asked.stderr.lines if line.strip()]
    assert errors == ["ERROR: --batt-max-memory 500: no memory limit can be kept here (the address-space limit is refused on "
                      "this system (ValueError: current limit exceeds maximum limit); -n 0 has no watchdog to read the "
                      "resident memory): use -n 1 or more, or --batt-max-memory 0"]


@pytest.mark.skipif(not capabilities.address_space().on, reason="no address-space limit on this system")
def test_where_everything_is_there_the_header_says_nothing_and_the_file_says_all_is_on(pytester):
    make_project(pytester, toybatt=TOY_BATT)
    result = _run(pytester, "toybatt.py", "-n", "0")
    result.assert_outcomes(passed=3)
    assert "batt: memory limit" not in result.stdout.str()
    protections = results.read(str(pytester.path / "r.json"))["config"]["protections"]
    assert protections["memory_limit"] == "address_space" and protections["memory_limit_mb"] >= 1024
    if capabilities.sample_peak().on and capabilities.process_tree().on:  # Linux
        assert protections == {**protections, "memory_peak": "sample", "leftover_processes": "/proc", "subreaper": True,
                               "start_time": True, "sandbox": False}


def _can_hide_proc() -> bool:
    try:
        return subprocess.run([str(SCRIPTS / "as-macos.sh"), "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.e2e
def test_without_proc_a_forked_child_is_ended_and_the_run_does_not_wait_for_it(pytester):
    if not _can_hide_proc():
        pytest.skip("cannot mount over /proc here (scripts/as-macos.sh needs root or user namespaces)")
    make_project(pytester, forker=FORKER)
    t0 = time.monotonic()
    run = subprocess.run([str(SCRIPTS / "as-macos.sh"), sys.executable, "-m", "pytest", "--batt", "flip0001", "--batt-data",
                          "tasks", "--batt-module", "forker.py", "--batt-json", "r.json",
                          "-p", "no:cacheprovider", "-n", "2"], cwd=pytester.path, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t0 < 30, run.stdout  # the pipes are read to their end: no process holds them
    assert run.returncode == 0, run.stdout + run.stderr
    assert "batt: memory limit: off (" in run.stdout and "leftover processes: Python forks only" in run.stdout
    data = json.loads((pytester.path / "r.json").read_text())
    assert "the batt left 1 process(es) running; they were ended" in data["tasks"]["flip0001"]["samples"][2]["error"]
    assert data["config"]["protections"]["leftover_processes"] == "forks"
