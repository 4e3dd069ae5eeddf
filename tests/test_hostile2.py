"""Hostile batts, round two: the hard stop cannot be switched off, and nothing is lost at the edges.

One run per mode over a Kaggle challenges file whose keys are the faults (some of them odd
ids), so every fault is checked beside every other; each fault costs only its own samples.
"""

import os
import random
import stat
import subprocess

import pytest
from sandboxes import PLAIN, SANDBOXED, needs_sandbox

from pytest_batt.__main__ import main

HOSTILE = r'''
import faulthandler, gc, multiprocessing, os, shutil, signal, subprocess, sys, tempfile, time
import pytest

MARK = 600.25  # how long the processes a batt leaves behind would live: found by it afterwards


def spin_forever():
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass


class Sticky:
    """Returned as a candidate; its finalizer never ends."""

    def __del__(self):
        spin_forever()


def square(x):
    return x * x


def batt(task_id, S, I, C, log_path):
    t = task_id
    o = [(1, 0, "id", I)]
    if t == "nofault":  # switch off faulthandler's process-wide timer, then swallow the timeout
        faulthandler.cancel_dump_traceback_later()
        spin_forever()
    if t == "ownfault":  # set a timer of its own, which replaces any other
        faulthandler.dump_traceback_later(3600)
        spin_forever()
    if t == "sticky" and C is None:
        return o + [(2, 0, "sticky", Sticky())], []
    if t == "skipper":
        pytest.skip("not today")
    if t == "importer":
        pytest.importorskip("no_such_module_anywhere")
    if t == "failer":
        pytest.fail("forged failure")
    if t == "exiter":
        pytest.exit("bye")
    if t == "rmcwd":
        d = tempfile.mkdtemp()
        os.chdir(d)
        shutil.rmtree(d)
    if t == "forker" and C is None:
        if os.fork() == 0:
            time.sleep(MARK)
            os._exit(0)
    if t == "popen" and C is None:
        subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({MARK})"])
    if t == "mpproc" and C is None:
        multiprocessing.get_context("fork").Process(target=time.sleep, args=(MARK,)).start()
    if t in ("spawnpool", "fspool") and C is None:
        ctx = multiprocessing.get_context("spawn" if t == "spawnpool" else "forkserver")
        with ctx.Pool(1) as pool:
            if pool.map(square, [1, 2, 3]) != [1, 4, 9]:
                return [], []
    if t in ("../../esc", "a/b"):
        if os.path.basename(os.path.dirname(log_path)) != "logs" or ".." in os.path.basename(log_path):
            return [], []
        with open(log_path, "a") as f:
            f.write("the log stays in the run's scratch folder\n")
    if t == "peek":  # look for the expected output in this process's memory and in the calling frames
        for obj in gc.get_objects():
            if isinstance(obj, dict) and isinstance(obj.get("test"), list):
                for pair in obj["test"]:
                    if isinstance(pair, dict) and "output" in pair:
                        o.append((3, 0, "peeked", pair["output"]))
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                out = getattr(value, "output", None)
                if out is not None:
                    o.append((4, 0, "framed", out))
            frame = frame.f_back
    if t == "patch":  # forge the verdict by patching pytest-batt in its own process
        import pytest_batt.grids, pytest_batt.judging
        pytest_batt.grids.fingerprint = lambda grid: "forged"
        pytest_batt.judging.judge = lambda rec, expected: {**rec, "status": "solved"}
        o.append((5, 0, "guess", ((9,),)))
    if t == "sigblock":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    if t == "closefds":
        os.close(1)
        os.close(2)
    if t == "loop":
        while True:
            pass
    return o, []
'''

ODD = {"../../esc", "a/b"}
OK = ["ok1", "rmcwd", "forker", "popen", "mpproc", "sigblock", "closefds", "../../esc", "a/b", "ok2"]
POOLS = ["spawnpool", "fspool"]
ERRORS = {"skipper": "raised Skipped: not today", "importer": "raised Skipped: could not import 'no_such_module_anywhere'",
          "failer": "raised Failed: forged failure", "exiter": "raised Exit: bye"}
HANGS = ["nofault", "ownfault", "loop"]
SECRET = [[7]]  # the test output of peek and patch: nothing in the batt's arguments gives it away


@pytest.fixture
def project(batt_project):
    demo = [{"input": [[1]], "output": [[1]]}]
    ids = OK + POOLS + list(ERRORS) + HANGS + ["sticky", "peek", "patch"]
    challenges = {t: {"train": demo, "test": [{"input": [[2]]}]} for t in ids}
    solutions = {t: [SECRET if t in ("peek", "patch") else [[2]]] for t in ids}
    data = batt_project.kaggle(challenges, solutions)
    # The mark its leftover processes carry: its own, so a test running beside it on another worker is not seen.
    batt_project.mark = f"600.{random.randrange(10**5, 10**6)}"
    batt_project.makepyfile(hostile2=HOSTILE.replace("MARK = 600.25", f"MARK = {batt_project.mark}"))
    batt_project.args = ["--batt-data", data, "--batt-module", "hostile2.py", "--batt-grace", "1", "--batt-json", "r.json"]
    return batt_project


def run(project, ids, *args, timeout="1"):
    return project.runbatt("--batt", ",".join(ids), "--batt-timeout", timeout, *args, timeout=300)


def leftovers(project):
    out = subprocess.run(["pgrep", "-f", project.mark.replace(".", "[.]")], capture_output=True, text=True).stdout.split()
    return [p for p in out if int(p) != os.getpid()]


def check_common(project, data, ids):
    assert data["session"]["complete"] is True and list(data["tasks"]) == ids
    for tid in OK:
        if tid in ids:
            assert data.statuses(tid) == ["solved", "solved"], (tid, data["tasks"][tid]["samples"])
    for tid, message in ERRORS.items():  # the batt's own errors: counted by gates, never skips
        assert data.statuses(tid) == ["error", "error"], tid
        assert all(message in s["error"] for s in data["tasks"][tid]["samples"]), data["tasks"][tid]["samples"][0]["error"]
    for tid in ("forker", "popen", "mpproc"):
        assert "process(es) running; they were ended" in data["tasks"][tid]["samples"][0]["error"], tid
    assert leftovers(project) == []


def check_forgery(data):
    """The expected test output never reached the batt, and a patched worker decides nothing."""
    assert data.statuses("peek") == ["solved", "unsolved"]
    assert "peeked" not in data["tasks"]["peek"]["o_score"]  # no test output anywhere in the worker's memory
    assert data.statuses("patch")[1] == "unsolved" and data["tasks"]["patch"]["solved"]["at_2"] is False


@pytest.mark.parametrize("sandbox", [PLAIN, SANDBOXED])
def test_round_two_under_xdist(project, tmp_path, monkeypatch, sandbox):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # to see that the run leaves no scratch folder behind
    ids = OK + list(ERRORS) + HANGS + ["sticky", "peek", "patch"]
    result = run(project, ids, "-n", "2", *sandbox)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    data = project.results()
    check_common(project, data, ids)
    check_forgery(data)
    assert "the worker was replaced so later samples are judged by unpatched code" in data["tasks"]["patch"]["samples"][0]["error"]
    for tid in HANGS:  # whatever the batt did to in-process timers, the watchdog ended it
        assert data.statuses(tid) == ["timeout", "timeout"], (tid, data["tasks"][tid]["samples"])
    for s in data.samples("nofault"):
        assert "solve call ran past the 1 s timeout and did not stop" in s["error"]
    sticky = data["tasks"]["sticky"]["samples"]  # the finalizer hung after the calls: the record is kept
    assert [s["status"] for s in sticky] == ["solved", "solved"]
    assert "did not stop" in sticky[0]["error"]
    # pytest's outcomes raised by a batt are failures, not skips
    assert "skipped" not in out.splitlines()[-1]
    assert [p for p in os.listdir(tmp_path) if p.startswith("pytest-batt-")] == []


def test_round_two_in_process(project):
    """-n 0 cannot stop a batt that swallows the timeout, nor keep the expected outputs from it
    (the controller is the batt's process); everything else holds in one process too."""
    ids = ["sigblock", "loop"] + OK + list(ERRORS)
    ids = list(dict.fromkeys(ids))
    result = run(project, ids, "-n", "0")
    data = project.results()
    check_common(project, data, ids)
    # The alarm the batt blocked is unblocked again: the loop after it still times out.
    assert data.statuses("loop") == ["timeout", "timeout"]
    assert "INTERNALERROR" not in result.stdout.str()


@pytest.mark.parametrize("mode", [["-n", "0"], ["-n", "2"], pytest.param(["-n", "2", "--batt-sandbox"], marks=needs_sandbox)],
                         ids=["0", "2", "2-sandboxed"])
def test_process_pools_used_properly_keep_working(project, mode):
    """spawn and forkserver children import the batt, given as a path, by its own name (in the sandbox too)."""
    run(project, POOLS, *mode, timeout="60").assert_outcomes(passed=4)
    assert leftovers(project) == []


def test_deep_json_and_huge_timeouts_are_usage_errors(batt_project, capsys):
    """In this process: a usage error stops pytest before any batt call (tests/test_plugin.py has one in a process of its own)."""
    deep = "[" * 100_000 + "]" * 100_000
    (batt_project.path / "deep.json").write_text(deep)
    one = {"input": [[1]], "output": [[1]]}
    batt_project.tasks({"t": {"train": [one], "test": [one]}})
    for args, words in [
        (["--batt-data", "deep.json"], "deep.json: JSON nested too deeply"),
        (["--batt-data", "tasks", "--batt-compare", "deep.json"], "deep.json: JSON nested too deeply"),
        (["--batt-data", "tasks", "--batt-timeout", "1e10"], "--batt-timeout: '1e10' must be a positive number of seconds, at most"),
    ]:
        result = batt_project.runbatt_inprocess("--batt", "t", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, (args, result.stderr.str())
        err = result.stderr.str()
        assert words in err and "Traceback" not in err and "INTERNALERROR" not in result.stdout.str()
    capsys.readouterr()
    assert main(["compare", "deep.json", "deep.json"]) == 4
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err


@pytest.mark.parametrize("target", ["fifo", "device"])
def test_results_paths_that_are_not_files_are_refused_up_front(batt_project, target):
    if target == "fifo":
        path = str(batt_project.path / "pipe")
        os.mkfifo(path)
    else:
        path = "/dev/full"
    before = os.stat(path)
    result = batt_project.runbatt_inprocess("--batt", "007bbfb7", "--batt-json", path)  # a usage error: in this process
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "not a regular file (a device, FIFO or socket)" in result.stderr.str()
    assert stat.S_IFMT(os.stat(path).st_mode) == stat.S_IFMT(before.st_mode)


REMOVER = """
import shutil

def batt(task_id, S, I, C, log_path):
    shutil.rmtree("out", ignore_errors=True)  # the results folder goes away during the run
    return [(1, 0, "id", I)], []
"""


def test_a_results_path_that_breaks_during_the_run_costs_one_line(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    (pytester.path / "out").mkdir()
    pytester.makepyfile(remover=REMOVER)
    result = pytester.runpytest_subprocess("--batt", "007bbfb7", "--batt-module", "remover.py", "--batt-json", "out/r.json", "-n", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str()
    assert "--batt-json " in out and "out/r.json: results not written (No such file or directory)" in out
    assert "batt summary" in out and "pass@2" in out and "Traceback" not in out
    assert [p for p in os.listdir(tmp_path) if p.startswith("pytest-batt-")] == []
