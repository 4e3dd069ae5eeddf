"""Hostile programs in a library, through the real plugin, with -n 2 and -n 0: killers, timer defeaters,
interpreter changers and resource hogs, each placed before a correct program. In every case each
sample is solved by the correct program, the offender is named by its solver id in the results file,
the run ends within its bound and nothing is left running.

Runs are subprocesses (pytester): programs end processes here.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from toys import task

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts leftover processes through /proc")

TASKS = {
    "0000f11f": task([([[1, 2]], [[2, 1]]), ([[3, 4, 5]], [[5, 4, 3]])], [([[6, 7]], [[7, 6]])]),  # mirror each row
    "0000bbbb": task([([[1, 2], [3, 4]], [[3, 4], [1, 2]])], [([[5], [6], [7]], [[7], [6], [5]])]),  # upside down
}
GOOD = "z_good.py"  # sorted last: every hostile program runs before it
GOOD_TEXT = "def solve_0000f11f(I):\n    return [row[::-1] for row in I]\n\ndef solve_0000bbbb(I):\n    return I[::-1]\n"

LOOP = "    while True:\n        pass\n"
# Programs the rails, the per-program restore and the backstop keep to themselves, in every mode.
IN_PROCESS = {
    "a_exit.py": "import os\ndef transform(g):\n    os._exit(3)\n",
    "a_kill_self.py": "import os, signal\ndef transform(g):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    "a_kill_parent.py": "import os, signal\ndef transform(g):\n    os.kill(os.getppid(), signal.SIGTERM)\n    return g\n",
    "a_abort.py": "import os\ndef transform(g):\n    os.abort()\n",
    "a_close_fds.py": "import os\ndef transform(g):\n    os.closerange(0, 4096)\n    return g\n",
    "a_exec.py": "import os, sys\ndef transform(g):\n    os.execv(sys.executable, [sys.executable, '-c', 'pass'])\n",
    "a_sys_exit.py": "import sys\ndef transform(g):\n    sys.exit(3)\n",
    "a_fork.py": "import os\ndef transform(g):\n    for _ in range(3):\n        os.fork()\n    return g\n",
    "b_builtins.py": "import builtins\ndef transform(g):\n    builtins.len = lambda x: 0\n    builtins.range = None\n    return g\n",
    "b_json.py": "import json, sys\ndef transform(g):\n    json.dumps = lambda *a, **k: 'garbage'\n    sys.modules['json'] = None\n"
                 "    return g\n",
    "b_state.py": ("import gc, os, sys, warnings\ndef transform(g):\n    sys.stdout = None\n    sys.setrecursionlimit(60)\n"
                   "    os.environ['BATT_HOSTILE'] = '1'\n    os.chdir('/')\n    gc.disable()\n    warnings.simplefilter('ignore')\n"
                   "    sys.path.insert(0, '/nowhere')\n    return g\n"),
    "c_sig_ignore.py": "import signal\ndef transform(g):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n" + LOOP,
    "c_sig_cancel.py": "import signal\ndef transform(g):\n    signal.setitimer(signal.ITIMER_REAL, 0)\n" + LOOP,
    "c_sig_block.py": "import signal\ndef transform(g):\n    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n" + LOOP,
    "d_recursion.py": "import sys\ndef transform(g):\n    sys.setrecursionlimit(10**6)\n    def f(n): return f(n + 1)\n    return f(0)\n",
    "d_memory.py": "def transform(g):\n    hoard = bytearray(40 * 2**30)\n    return g\n",
    "d_thread.py": ("import threading\ndef spin():\n    while True:\n        pass\n"
                    "def transform(g):\n    threading.Thread(target=spin, daemon=True).start()\n    return g\n"),
}
# What each says in a sample's program faults.
SAID = {
    "a_exit.py": "was refused os._exit(3)", "a_kill_self.py": "was refused os.kill(", "a_kill_parent.py": "was refused os.kill(",
    "a_abort.py": "was refused os.abort()", "a_close_fds.py": "was refused os.closerange(0, 4096)",
    "a_exec.py": "was refused os.execv(", "a_sys_exit.py": "raised SystemExit: 3", "a_fork.py": "forked 3 process(es)",
    "b_builtins.py": "changed the interpreter (builtins (len, range))",
    "b_json.py": "changed the interpreter (sys.modules['json'], json.dumps)",
    "b_state.py": "changed the interpreter (the recursion limit, sys.stdout/stderr/stdin, sys.path, the environment, "
                  "the working directory, the garbage collector, the warnings filters)",
    "c_sig_ignore.py": "timed out after 0.3 s", "c_sig_cancel.py": "timed out after 0.3 s", "c_sig_block.py": "timed out after 0.3 s",
    "d_recursion.py": "was refused sys.setrecursionlimit(1000000)", "d_memory.py": "raised MemoryError",
    "d_thread.py": "started 1 thread(s)",
}
# Programs only the worker boundary can survive: the sample is run again without them.
KILLERS = {
    "a_c_exit.py": "import ctypes\ndef transform(g):\n    ctypes.CDLL(None)._exit(3)\n",
    "a_segfault.py": "import ctypes\ndef transform(g):\n    ctypes.string_at(0)\n",
    # Two loops deep: an interrupt that lands between the inner handler and its loop still meets a handler.
    "a_swallow.py": ("def transform(g):\n    while True:\n        try:\n            while True:\n                try:\n"
                     "                    while True:\n                        pass\n                except BaseException:\n"
                     "                    pass\n        except BaseException:\n            pass\n"),
}


@pytest.fixture
def make(batt_project):
    batt_project.tasks(TASKS)

    def library(files):
        lib = batt_project.mkdir(f"lib{len(list(batt_project.path.glob('lib*')))}")
        for rel, text in {**files, GOOD: GOOD_TEXT}.items():
            (lib / rel).write_text(text)
        return lib.name

    return library


def run(project, lib, *args, timeout="0.3"):
    t0 = time.monotonic()
    out = project.runbatt("--batt", "all", "--batt-data=tasks", f"--batt-programs={lib}", "--batt-entry=transform,solve_*",
                          f"--batt-program-timeout={timeout}", "--batt-timeout=20", "--batt-grace=1",
                          "--batt-json=r.json", "-p", "no:cacheprovider", *args)
    return out, time.monotonic() - t0


def samples(project):
    data = project.results()
    return data, data.samples()


def solved_by_good(sample):
    return sample["status"] == "solved" and any(m.startswith(GOOD) for m in sample["matched"])


def leftovers(path, within=5.0):
    """Processes whose working directory is the project folder (a program's forked children, a worker
    or a watchdog would be) still there ``within`` seconds after the run: their command lines."""
    deadline = time.monotonic() + within
    while True:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if int(pid) == os.getpid():
                continue  # pytester runs this test in the project folder too
            try:
                if os.readlink(f"/proc/{pid}/cwd") == str(path):
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        found.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def lingering_watchdogs():
    """Watchdogs whose run is over (its scratch folder is gone): a dead worker's watchdog must not stay."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(a.endswith("watchdog_process.py") for a in argv) and "--session" not in argv:
            note = argv[argv.index(next(a for a in argv if a.endswith("watchdog_process.py"))) + 2]
            if not os.path.isdir(os.path.dirname(note)):
                found.append(pid)
    return found


def test_programs_that_would_end_hang_or_change_their_process_cost_only_themselves(batt_project, make):
    lib = make(IN_PROCESS)
    got = {}
    for mode in ("2", "0"):
        out, seconds = run(batt_project, lib, "-n", mode)
        data, all_samples = samples(batt_project)
        assert out.ret == 0, out.stdout.str()[-3000:]
        assert len(all_samples) == 5 and all(solved_by_good(s) for s in all_samples)
        for sample in all_samples:
            for rel, said in SAID.items():
                assert f"{rel}::transform {said}" in sample["error"], (rel, sample["error"])
        # Three timer defeaters at 0.3 s (plus the backstop's margin) on each of 5 samples, with room for a loaded machine.
        assert seconds < 60
        assert "quarantined" not in data  # nothing here needed a worker's end
        assert leftovers(batt_project.path) == []
        got[mode] = data.unmeasured()
    for tid in got["0"]:
        for a, b in zip(got["0"][tid]["samples"], got["2"][tid]["samples"]):
            assert a == b, (a, b)
    assert got["0"] == got["2"]
    assert os.environ.get("BATT_HOSTILE") is None


def test_a_program_that_ends_or_hangs_its_worker_is_quarantined_and_its_sample_run_again(batt_project, make):
    lib = make(KILLERS)
    out, seconds = run(batt_project, lib, "-n", "2")
    data, all_samples = samples(batt_project)
    assert out.ret == 0, out.stdout.str()[-3000:]
    assert all(solved_by_good(s) for s in all_samples)
    quarantined = {e["solver_id"]: e for e in data["quarantined"]}
    assert {sid: e["status"] for sid, e in quarantined.items()} == {
        "a_c_exit.py::transform": "crash", "a_segfault.py::transform": "crash", "a_swallow.py::transform": "timeout"}
    assert "Segmentation fault" in quarantined["a_segfault.py::transform"]["error"]
    assert "did not stop at its limit (0.3 s" in quarantined["a_swallow.py::transform"]["error"]
    for sid, entry in quarantined.items():  # named where it struck, as run again without it
        struck = data["tasks"][entry["task"]]["samples"]
        hit = next(s for s in struck if s["kind"] == entry["kind"] and s["index"] == entry["index"])
        assert f"{sid} " in hit["error"] and "the sample was run again without it" in hit["error"]
    text = out.stdout.str()
    reruns = re.findall(r"the sample runs again without it \(run (\d+), at most 8\)", text)
    assert 3 <= len(reruns) <= 6  # each offender once, or once per worker that met it before the quarantine reached it
    assert "programs quarantined (they ended or hung their process; not run again): 3:" in text
    assert re.search(r"\d+ passed, \d+ rerun", text)
    # each offender costs one worker (the swallower its limit plus the grace) per worker that met it
    assert seconds < 90
    time.sleep(0.5)
    assert lingering_watchdogs() == [] and leftovers(batt_project.path) == []


def test_in_process_a_crash_leaves_the_results_so_far_and_names_the_program_and_a_resume_finishes(batt_project, make):
    lib = make({"a_c_exit.py": KILLERS["a_c_exit.py"]})
    out, _ = run(batt_project, lib, "-n", "0")
    assert out.ret == 3  # the program's own exit: nothing of the session ran after it
    deadline = time.monotonic() + 10  # the session's watchdog writes its note a moment after the session died
    while "quarantined" not in samples(batt_project)[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    data, all_samples = samples(batt_project)
    assert data["session"]["complete"] is False
    assert [e["solver_id"] for e in data["quarantined"]] == ["a_c_exit.py::transform"]
    first = next(s for s in all_samples if "a_c_exit.py::transform ended the session process" in (s["error"] or ""))
    assert first["status"] == "missing"
    time.sleep(0.2)
    err = (batt_project.path / "stderr").read_text() if (batt_project.path / "stderr").exists() else out.stderr.str()
    assert "a_c_exit.py::transform ended the session process" in err, err
    out, _ = run(batt_project, lib, "-n", "0", "--batt-resume=r.json")
    data, all_samples = samples(batt_project)
    assert out.ret == 0 and data["session"]["complete"] is True and all(solved_by_good(s) for s in all_samples)
    assert [e["solver_id"] for e in data["quarantined"]] == ["a_c_exit.py::transform"]
    assert leftovers(batt_project.path) == []


def test_in_process_a_program_that_swallows_every_exception_is_left_out_and_the_session_goes_on(batt_project, make):
    """-n 0 cannot stop it: at its limit plus the grace the results are written (it quarantined), and
    the same process goes on as a pytest that resumes from them, without it: every sample solved."""
    lib = make({"a_swallow.py": KILLERS["a_swallow.py"]})
    out, seconds = run(batt_project, lib, "-n", "0")
    assert out.ret == 0, out.stdout.str()[-3000:]
    assert seconds < 0.3 + 1 + 30  # its limit plus the grace, then a second pytest start-up
    data, all_samples = samples(batt_project)
    said = [(s["status"], s["error"]) for s in all_samples]
    assert data["session"]["complete"] is True and all(solved_by_good(s) for s in all_samples), said
    assert [(e["solver_id"], e["status"]) for e in data["quarantined"]] == [("a_swallow.py::transform", "timeout")], said
    struck = [s for s in all_samples if "a_swallow.py::transform did not stop at its limit" in (s["error"] or "")]
    assert len(struck) == 1 and "the sample was run again without it" in struck[0]["error"], said
    assert "the session goes on in a new process, resuming from that file without the program" in out.stdout.str()
    assert leftovers(batt_project.path) == []


def test_in_process_without_a_results_file_a_stuck_program_ends_the_session(batt_project, make):
    lib = make({"a_swallow.py": KILLERS["a_swallow.py"]})
    out = batt_project.runbatt("--batt", "all", "--batt-data=tasks", f"--batt-programs={lib}", "--batt-entry=transform,solve_*",
                               "--batt-program-timeout=0.3", "--batt-grace=1", "-n", "0", "-p", "no:cacheprovider")
    assert out.ret == pytest.ExitCode.INTERRUPTED
    assert "a_swallow.py::transform did not stop at its limit" in out.stdout.str() and "goes on" not in out.stdout.str()


def test_in_process_a_program_holding_the_gil_is_ended_by_the_session_watchdog_and_named(batt_project, make):
    """Nothing in the process can run while C code holds the GIL: the session's watchdog ends the
    session 2 s past the program's hard deadline (its limit plus the grace) and names it."""
    lib = make({"a_gil.py": "def transform(g):\n    return sum(range(10**12))\n"})
    out, seconds = run(batt_project, lib, "-n", "0")
    assert out.ret == -9 or out.ret == 137, out.ret
    assert seconds < 0.3 + 1 + 2 + 20
    deadline = time.monotonic() + 10
    while "quarantined" not in samples(batt_project)[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    data, all_samples = samples(batt_project)
    assert [(e["solver_id"], e["status"]) for e in data["quarantined"]] == [("a_gil.py::transform", "timeout")]
    assert any("a_gil.py::transform held the GIL past its hard deadline" in (s["error"] or "") for s in all_samples)


# --- a batt (one function) keeps its unit, the sample; -n 0 never hangs on it either ----------------

STUCK_BATT = '''
class Sticky:
    def __del__(self):
        while True:
            pass

def batt(task_id, S, I, C, log_path):
    if task_id == "0000f11f" and C is None and I == ((6, 7),):  # its test sample, the run's last
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    if C is None:
        return [(1, Sticky(), "upside down", I[::-1])], []
    return [], []
'''


def test_in_process_a_batt_finalizer_that_never_ends_is_stopped_and_one_that_swallows_ends_the_session(batt_project, make):
    batt_project.makepyfile(stuck=STUCK_BATT)
    t0 = time.monotonic()
    out = batt_project.runbatt("--batt", "all", "--batt-data=tasks", "--batt-module=stuck.py", "--batt-timeout=1",
                               "--batt-grace=1", "--batt-json=r.json", "-n", "0", "-p", "no:cacheprovider")
    assert out.ret == pytest.ExitCode.INTERRUPTED and time.monotonic() - t0 < 1 + 1 + 30
    data = batt_project.results()
    # Each candidate's finalizer loops: stopped at the timeout, not waited for (the samples before the stuck one).
    assert [s["status"] for s in data["tasks"]["0000bbbb"]["samples"]] == ["solved", "solved"]
    stuck = data["tasks"]["0000f11f"]["samples"][-1]
    assert stuck["status"] == "missing" and stuck["error"].startswith("the batt call did not stop at the 1 s timeout")
    assert "which ended here" in out.stdout.str()
    assert "quarantined" not in data  # a batt is one unit: nothing to leave out of it
