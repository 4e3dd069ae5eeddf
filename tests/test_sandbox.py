"""The sandbox's plain parts, without pytest or bubblewrap: the mount plan, the environment passed in,
the --tx specs it composes, the probe's one line, the worker's check. The sandbox running for real:
tests/test_sandbox_e2e.py (and the sandboxed variants of the hostile suites)."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any, List

import pytest

from pytest_batt import workerspecs
from pytest_batt.isolation import sandbox
from pytest_batt.isolation.sandbox import Layout

# A machine: what exists, and which of it are folders.
FILES = {"/home/u/proj/tasks.json", "/home/u/.kaggle/kaggle.json", "/tmp/run/r.json", "/tmp/scratch/tasks.json",
         "/home/u/proj/batt.py", "/usr/lib/python3/site.py"}
DIRS = {"/home/u", "/home/u/venv", "/home/u/proj", "/home/u/proj/lib", "/home/u/proj/data", "/home/u/proj/data/lib",
        "/home/u/.kaggle", "/tmp", "/tmp/run", "/tmp/scratch", "/run", "/usr/lib/python3", "/opt/arckit/data", "/var/tmp"}


def plan(**layout: Any) -> List[List[str]]:
    fields = {"temporary": [], "hidden": [], "needed": [], "writable": [], "secret": [], **layout}
    return sandbox.mounts(Layout(**fields), exists=lambda p: p in FILES or p in DIRS, isdir=lambda p: p in DIRS,
                          resolve=lambda p: p)


def sized(path: str, mb: int) -> List[str]:
    return ["--size", str(mb * 2**20), "--tmpfs", path]


def test_the_home_and_tmp_are_emptied_and_what_the_worker_needs_is_bound_back_read_only() -> None:
    got = plan(temporary=["/tmp"], hidden=["/home/u", "/run"], needed=["/home/u/venv", "/home/u/proj", "/usr/lib/python3"],
               writable=["/tmp/scratch"], secret=["/home/u/proj/data", "/opt/arckit/data"])
    assert got == [
        sized("/tmp", sandbox.TEMPORARY_MB), sized("/run", sandbox.HIDDEN_MB),  # parents first
        sized("/home/u", sandbox.HIDDEN_MB), ["--bind", "/tmp/scratch", "/tmp/scratch"],
        ["--ro-bind", "/home/u/venv", "/home/u/venv"], ["--ro-bind", "/home/u/proj", "/home/u/proj"],
        sized("/opt/arckit/data", sandbox.HIDDEN_MB),  # visible where it is: hidden
        sized("/home/u/proj/data", sandbox.HIDDEN_MB),  # inside a folder bound back: hidden again
    ]
    # /usr/lib/python3 is visible anyway: no mount for it


def test_the_most_specific_rule_wins_and_parents_come_first() -> None:
    # A library inside the data folder still imports; the data around it stays hidden.
    got = plan(hidden=["/home/u"], needed=["/home/u/proj", "/home/u/proj/data/lib"], secret=["/home/u/proj/data"])
    assert got == [sized("/home/u", sandbox.HIDDEN_MB), ["--ro-bind", "/home/u/proj", "/home/u/proj"],
                   sized("/home/u/proj/data", sandbox.HIDDEN_MB), ["--ro-bind", "/home/u/proj/data/lib", "/home/u/proj/data/lib"]]
    assert [m[-1] for m in got] == sorted((m[-1] for m in got), key=lambda p: p.count("/"))


def test_a_needed_folder_that_is_the_home_itself_does_not_show_the_home() -> None:
    # The working folder is the home: the home stays empty (its modules are bound one by one, by the caller).
    assert plan(hidden=["/home/u"], needed=["/home/u"]) == [sized("/home/u", sandbox.HIDDEN_MB)]
    # --batt-sandbox-allow is the user's own choice: it shows even the home (the secrets in it stay hidden).
    assert plan(hidden=["/home/u"], allowed=["/home/u"], secret=["/home/u/.kaggle/kaggle.json"]) == [
        sized("/home/u", sandbox.HIDDEN_MB), ["--ro-bind", "/home/u", "/home/u"],
        ["--ro-bind", "/dev/null", "/home/u/.kaggle/kaggle.json"]]


def test_secrets_already_hidden_or_missing_cost_no_mount_and_files_are_hidden_by_dev_null() -> None:
    assert plan(hidden=["/home/u"], secret=["/home/u/proj/tasks.json", "/nowhere/data"]) == [sized("/home/u", sandbox.HIDDEN_MB)]
    assert plan(secret=["/tmp/run/r.json"]) == [["--ro-bind", "/dev/null", "/tmp/run/r.json"]]
    # The selection file stays read-only inside the writable scratch folder; outside one it needs nothing.
    assert plan(temporary=["/tmp"], writable=["/tmp/scratch"], read_only=["/tmp/scratch/tasks.json"]) == [
        sized("/tmp", sandbox.TEMPORARY_MB), ["--bind", "/tmp/scratch", "/tmp/scratch"],
        ["--ro-bind", "/tmp/scratch/tasks.json", "/tmp/scratch/tasks.json"]]
    assert plan(read_only=["/tmp/scratch/tasks.json"]) == []


def test_without_sizes_for_an_older_bubblewrap() -> None:
    layout = Layout(temporary=["/tmp"], hidden=[], needed=[], writable=[], secret=[])
    assert sandbox.mounts(layout, sized=False, exists=lambda p: True, isdir=lambda p: True) == [["--tmpfs", "/tmp"]]


def test_a_needed_symlink_inside_the_home_is_bound_from_its_target() -> None:
    got = sandbox.mounts(Layout(temporary=[], hidden=["/home/u"], needed=["/home/u/venv"], writable=[], secret=[]),
                         exists=lambda p: True, isdir=lambda p: True, resolve=lambda p: "/data/venv")
    assert got[-1] == ["--ro-bind", "/data/venv", "/home/u/venv"]


def test_only_modules_and_packages_of_a_hidden_folder_are_importable(tmp_path: Path) -> None:
    for name in ("batt.py", "helper.py", "notes.txt", ".env.py", "conftest.py", "fast.cpython-311-x86_64-linux-gnu.so"):
        (tmp_path / name).write_text("")
    for folder in ("pkg", ".kaggle", "data", "__pycache__"):
        (tmp_path / folder).mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    found = sandbox.importable(str(tmp_path), sorted(os.listdir(tmp_path)))
    assert [os.path.basename(p) for p in found] == ["__pycache__", "batt.py", "conftest.py", "fast.cpython-311-x86_64-linux-gnu.so",
                                                     "helper.py", "pkg"]


def test_the_environment_inside_keeps_harmless_variables_only() -> None:
    env = {"PATH": "/usr/bin://bin:", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C", "PYTHONPATH": "/a//b",
           "OMP_NUM_THREADS": "1", "PYTEST_ADDOPTS": "-p no:x", "KAGGLE_KEY": "secret", "AWS_SECRET_ACCESS_KEY": "s",
           "GITHUB_TOKEN": "t", "SSH_AUTH_SOCK": "/run/agent", "LD_PRELOAD": "/x.so", sandbox.MARK: "forged",
           "PYTEST_SOMETHING": "a//b"}
    assert sandbox.environment(env) == {"PATH": "/usr/bin:/bin:", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C",
                                        "PYTHONPATH": "/a/b", "OMP_NUM_THREADS": "1", "PYTEST_ADDOPTS": "-p no:x"}


def test_the_command_is_one_python_part_of_a_spec() -> None:
    layout = Layout(temporary=[], hidden=[], needed=[], writable=[], secret=[])
    cmd = sandbox.argv("/usr/bin/bwrap", layout, {"PATH": "/bin", "KAGGLE_KEY": "k"}, ["/venv/bin/python"], "m4rk", chdir="/p q")
    assert cmd[0] == "/usr/bin/bwrap" and cmd[-2:] == ["--", "/venv/bin/python"]
    for flag in ("--unshare-net", "--unshare-user", "--unshare-pid", "--new-session", "--die-with-parent", "--clearenv"):
        assert flag in cmd
    assert cmd[cmd.index("--cap-drop") + 1] == "ALL" and "KAGGLE_KEY" not in cmd
    assert cmd[cmd.index("--chdir") + 1] == "/p q" and ["--setenv", sandbox.MARK, "m4rk"] == cmd[cmd.index(sandbox.MARK) - 1:][:3]
    spec = workerspecs.add_parts("popen//env:CUDA_VISIBLE_DEVICES=1", [("python", sandbox.spec_value(cmd))])
    python = workerspecs.parts(spec)["python"]
    assert shlex.split(python) == cmd  # as execnet splits it
    execnet = pytest.importorskip("execnet")
    assert execnet.XSpec(spec).python == python and execnet.XSpec(spec).env == {"CUDA_VISIBLE_DEVICES": "1"}


def test_where_it_cannot_run_it_says_what_is_missing() -> None:
    assert sandbox.where_missing("linux", "/usr/bin/bwrap") is None
    mac = sandbox.where_missing("darwin", None)
    assert mac is not None and mac.startswith("--batt-sandbox needs Linux and bubblewrap (bwrap); this system is darwin")
    none = sandbox.where_missing("linux", None)
    assert none is not None and "no 'bwrap' on PATH" in none and "apt-get install bubblewrap" in none


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-bwrap"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_probe_names_why_the_sandbox_does_not_start(tmp_path: Path) -> None:
    assert sandbox.probe([sys.executable]) is None  # what the probe runs: python -c pass
    userns = script(tmp_path, "echo 'bwrap: No permissions to creating new namespace, likely because the kernel does not allow "
                              "non-privileged user namespaces.' >&2; exit 1")
    said = sandbox.probe([userns])
    assert said is not None and said.startswith("--batt-sandbox: bubblewrap cannot create its namespaces here (user namespaces "
                                                "disabled?): bwrap: No permissions to creating new namespace")
    old = script(tmp_path, "echo 'bwrap: Unknown option --size' >&2; exit 1")
    assert sandbox.probe([old]) == "--batt-sandbox: bubblewrap failed: bwrap: Unknown option --size"
    python = script(tmp_path, "echo 'Traceback (most recent call last):' >&2; echo 'ModuleNotFoundError: No module named encodings' >&2; "
                              "exit 1")
    assert sandbox.probe([python]) == ("--batt-sandbox: the worker's Python does not start inside the sandbox: "
                                       "ModuleNotFoundError: No module named encodings")
    hangs = script(tmp_path, "exec sleep 30")
    assert sandbox.probe([hangs], timeout=0.3) == "--batt-sandbox: bwrap did not start a sandbox within 0.3 s"
    assert sandbox.probe([str(tmp_path / "missing")]) == f"--batt-sandbox: cannot run {tmp_path / 'missing'}: No such file or directory"


def test_a_worker_checks_it_runs_in_its_runs_sandbox() -> None:
    assert sandbox.check_inside("m4rk", {sandbox.MARK: "m4rk"}) is None
    for env in ({}, {sandbox.MARK: "other"}):
        said = sandbox.check_inside("m4rk", env)
        assert said is not None and said.startswith("worker is not inside the sandbox that --batt-sandbox asked for")


def test_messages_show_a_sandboxed_spec_in_a_few_words() -> None:
    cmd = sandbox.argv("/usr/bin/bwrap", Layout(temporary=["/tmp"], hidden=[], needed=[], writable=[], secret=[]), {}, ["/py"], "m4rk")
    spec = workerspecs.add_parts("popen//env:A=1", [("python", sandbox.spec_value(cmd))])
    assert sandbox.shown_spec(spec) == "popen//env:A=1//python=(inside --batt-sandbox)"
    assert sandbox.shown_spec("ssh=host//python=python3") == "ssh=host//python=python3"


def test_the_data_hidden_is_what_batt_data_names_the_solutions_beside_it_and_arckits_files(tmp_path: Path) -> None:
    from pytest_batt.controller.sandboxing import data_paths

    for name in ("a_challenges.json", "a_solutions.json", "b_solutions.json", "notes.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "tasks").mkdir()
    found = data_paths("a_challenges.json", str(tmp_path))
    assert [p for p in found if p.startswith(str(tmp_path))] == [str(tmp_path / n) for n in ("a_challenges.json", "a_solutions.json",
                                                                                               "b_solutions.json")]
    assert any(p.endswith(os.path.join("arckit", "data")) for p in found)  # an arckit name or not: its files are hidden
    assert data_paths("tasks", str(tmp_path))[0] == str(tmp_path / "tasks")
    assert not any(p.startswith(str(tmp_path)) for p in data_paths("arcagi1", str(tmp_path)))


def test_gpu_device_nodes_are_bound_in_as_they_are() -> None:
    layout = Layout(temporary=[], hidden=[], needed=[], writable=[], secret=[], devices=["/dev/nvidia0", "/dev/nvidiactl"])
    cmd = sandbox.argv("/usr/bin/bwrap", layout, {}, ["/py"], "m")
    at = cmd.index("--dev-bind")
    assert cmd[at:at + 6] == ["--dev-bind", "/dev/nvidia0", "/dev/nvidia0", "--dev-bind", "/dev/nvidiactl", "/dev/nvidiactl"]
    assert at > cmd.index("--dev")  # after the sandbox's own /dev
    assert "--dev-bind" not in sandbox.argv("/usr/bin/bwrap", Layout([], [], [], [], []), {}, ["/py"], "m")
