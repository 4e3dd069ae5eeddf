"""``pytest-batt`` (and ``python -m pytest_batt``): phase3 writes a readable results file; compare's exit codes 0, 1 and 4."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from pytest_batt import results
from pytest_batt.__main__ import main

GOOD_BATT = '''
def batt(task_id, S, I, C, log_path):
    out = tuple(tuple(v + 1 for v in row) for row in I)
    o = [(1, 0, "plus1", out), (2, 0, "same", I)]
    s = [] if C is None else [(2, "None", "d", (int(C != I),)), (1, "plus1", "d", (int(C != out),))]
    return o, s
'''
WORSE_BATT = '''
def batt(task_id, S, I, C, log_path):
    return [(1, 0, "same", I)], []
'''


def pair(i: int) -> dict:
    return {"input": [[i]], "output": [[i + 1]]}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_files: Any) -> Path:
    """A tiny task directory and two batt files, with the working directory set there."""
    task_files(tmp_path / "tasks", {"aaa": {"train": [pair(1), pair(2)], "test": [pair(3)]},
                                    "bbb": {"train": [pair(4)], "test": [pair(5), pair(6)]}})
    (tmp_path / "good_batt.py").write_text(GOOD_BATT)
    (tmp_path / "worse_batt.py").write_text(WORSE_BATT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def phase3(module: str, out: str, *extra: str) -> int:
    return main(["phase3", "--batt", "all", "--batt-data", "tasks", "--batt-module", module, "--json", out, *extra])


def cli(cwd: Path, *args: str) -> Tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "pytest_batt", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.e2e
def test_phase3_writes_a_results_file(workdir: Path) -> None:
    rc, out, err = cli(workdir, "phase3", "--batt", "bbb,aaa", "--batt-data", "tasks", "--batt-module",
                       "good_batt.py", "--batt-timeout", "2", "--json", "r.json")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[1].startswith("phase3: imported in ")
    lines = lines[1:]
    assert lines[1].startswith("bbb  samples solved 3/3  pass@2 yes  oracle yes  ")
    assert lines[2].startswith("aaa  samples solved 3/3  pass@2 yes  oracle yes  ")
    assert lines[3].startswith("tasks: 2   pass@2: 2/2   oracle: 2/2   samples solved: 6/6")
    assert lines[-1] == "results written to r.json"
    res = results.read(str(workdir / "r.json"))
    assert list(res["tasks"]) == ["bbb", "aaa"]
    assert res["config"] == {"timeout_s": 2.0, "workers": 0} and res["session"]["complete"] is True
    assert res["batt"]["module"] == "good_batt.py" and res["data"]["name"] == "tasks"
    assert res["tasks"]["aaa"]["samples"][0]["calls"] == 3  # solve + one diff per candidate


@pytest.mark.parametrize("args,message", [
    (["--batt", "zzz"], "--batt: unknown task id 'zzz' in tasks"),
    (["--batt", "aaa", "--batt-data", "nowhere/"], "--batt-data 'nowhere/': no such file or directory"),
    (["--batt", "aaa", "--batt-module", "missing.py"], "--batt-module missing.py: no such file"),
    (["--batt", "aaa", "--batt-timeout", "0"], "argument --batt-timeout: '0' must be a positive"),
    (["--batt", "aaa", "--json", "no/such/dir/r.json"], "--json no/such/dir/r.json: directory"),
])
def test_phase3_usage_errors(workdir: Path, capsys: pytest.CaptureFixture[str], args: List[str], message: str) -> None:
    full = ["phase3", "--batt-data", "tasks", "--batt-module", "good_batt.py", "--json", "r.json"] + args
    assert main(full) == 4
    err = one_error_line(capsys.readouterr().err)
    assert message in err
    assert not (workdir / "r.json").exists()


def test_compare_exit_0_when_gates_hold(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert phase3("good_batt.py", "a.json") == 0
    assert phase3("good_batt.py", "b.json") == 0
    capsys.readouterr()
    assert main(["compare", "a.json", "b.json", "--fail", "solved", "--fail", "pass2", "--fail", "time:10000%"]) == 0
    out = capsys.readouterr().out
    assert "tasks: 2 in both (0 new, 0 not run, 0 partial)" in out
    assert "gates: 3 hold (solved, pass2, time:10000%)" in out


def test_compare_exit_1_prints_what_breached(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert phase3("good_batt.py", "good.json") == 0
    assert phase3("worse_batt.py", "worse.json") == 0
    capsys.readouterr()
    assert main(["compare", "good.json", "worse.json", "--fail", "solved", "--fail", "candidates:10%", "--fail", "oracle"]) == 1
    out = capsys.readouterr().out
    assert "regressed:" in out and "  batt/aaa::demo[0]  solved -> unsolved" in out
    assert "note: different batt: good_batt.py" in out
    table = out.split("breached because\n", 1)[1].splitlines()
    assert table[0].startswith("solved          6 sample(s) no longer solved: batt/aaa::demo[0]")
    assert table[1] == "candidates:10%  candidates dropped 50.0% (12 -> 6), more than 10%"
    assert table[2].startswith("oracle          oracle dropped 2 -> 0")
    # the other way round is an improvement: no gate breaches
    assert main(["compare", "worse.json", "good.json", "--fail", "solved", "--fail", "score"]) == 0


def test_compare_usage_errors_exit_4(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert phase3("good_batt.py", "a.json") == 0
    (workdir / "junk.json").write_text("{not json")
    (workdir / "old.json").write_text(json.dumps({"schema": 0}))
    other = results.read(str(workdir / "a.json"))
    other["data"] = {"name": "kaggle2025", "sha256": "0" * 64}
    for entry in other["tasks"].values():
        entry["sha256"] = "0" * 64
    results.write(str(workdir / "other.json"), other)
    capsys.readouterr()
    cases = [
        (["compare", "a.json", "nope.json"], "nope.json: no such results file"),
        (["compare", "a.json", "junk.json"], "junk.json: not valid JSON"),
        (["compare", "old.json", "a.json"], "not a pytest-batt results file of schema 1"),
        (["compare", "a.json", "a.json", "--fail", "speed"], "valid forms: solved, pass2, oracle, score"),
        (["compare", "a.json", "other.json"], "have different content"),
        (["compare", "a.json"], "the following arguments are required: CURRENT"),
        (["compare", "a.json", "a.json", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required"),
    ]
    for argv, message in cases:
        assert main(argv) == 4, argv
        captured = capsys.readouterr()
        assert message in one_error_line(captured.err), (argv, captured.err)
    assert main(["compare", "a.json", "other.json", "--any-data"]) == 0
    note = "note: different task data (tasks vs kaggle2025: 2 common task(s) have different content (aaa, bbb)), compared anyway"
    assert note in capsys.readouterr().out


@pytest.mark.e2e
def test_compare_as_a_process(workdir: Path) -> None:
    assert phase3("good_batt.py", "a.json") == 0
    rc, out, err = cli(workdir, "compare", "a.json", "a.json", "--fail", "solved")
    assert (rc, err) == (0, "") and "gates: 1 hold (solved)" in out
    rc, out, err = cli(workdir, "compare", "a.json", "--fail")
    assert rc == 4 and "argument --fail: expected one argument" in one_error_line(err)
    rc, out, err = cli(workdir, "--help")
    assert rc == 0 and "phase3" in out and "compare" in out
    assert out.startswith("usage: python -m pytest_batt ")  # the name it was called by, not __main__.py


def installed_script() -> str:
    """The ``pytest-batt`` console script of this interpreter's environment (``pip install -e .`` puts it there)."""
    here = Path(sys.executable).parent / ("pytest-batt.exe" if os.name == "nt" else "pytest-batt")
    found = str(here) if here.exists() else shutil.which("pytest-batt")
    assert found, f"no pytest-batt script next to {sys.executable} or on PATH: install the project (pip install -e .)"
    return found


@pytest.mark.e2e
def test_the_installed_command(workdir: Path) -> None:
    """The console script runs the same commands under its own name, in usage and error lines."""
    script = installed_script()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([script, *args], cwd=workdir, capture_output=True, text=True, timeout=60)

    shown = run("--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: pytest-batt "), shown.stderr
    assert "{phase3,compare,merge,submission,html,score}" in shown.stdout
    done = run("phase3", "--batt", "all", "--batt-data", "tasks", "--batt-module", "good_batt.py", "--json", "r.json")
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "results written to r.json", done.stderr
    assert sorted(results.read(str(workdir / "r.json"))["tasks"]) == ["aaa", "bbb"]
    compared = run("compare", "r.json", "r.json", "--fail", "solved")
    assert compared.returncode == 0 and "gates: 1 hold (solved)" in compared.stdout
    refused = run("compare", "r.json", "--fail")
    assert refused.returncode == 4
    assert one_error_line(refused.stderr) == "error: pytest-batt compare: argument --fail: expected one argument"
