"""A batt shaped like the real generated ones: it runs as given, from any folder, and scores as Phase 3."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import generated_batt

TASKS = "007bbfb7,017c7c7b,025d127b"


@pytest.fixture
def batt_dir(pytester: pytest.Pytester) -> Path:
    """The batt and its sibling DSL modules in a folder of their own, as in tokpidjin."""
    generated_batt.write(pytester.path / "tok")
    pytester.mkdir("empty")
    return pytester.path / "tok"


@pytest.mark.parametrize("mode", ["0", "2"])
def test_runs_from_an_empty_folder_by_absolute_path(batt_project, batt_dir, monkeypatch, mode):
    monkeypatch.chdir(batt_project.path / "empty")
    result = batt_project.runbatt("--batt", "007bbfb7", "--batt-module", str(batt_dir / "test_gen_batt.py"), "-n", mode, "-rA",
                              "--batt-json", "r.json")
    result.assert_outcomes(passed=6)
    out = result.stdout.str()
    # The rootdir is where pytest was run, not the batt's folder, so the ids are the plain ones.
    assert f"rootdir: {batt_project.path / 'empty'}" in out
    assert "PASSED batt/007bbfb7::test[0]" in out and "../batt" not in out
    # What the DSL prints at import is the batt's, shown once in the header; no sample carries it.
    assert out.count("GenDSL: no accelerator found, using CPU only") == 1
    header = out[: out.index("rootdir:")]  # pytest-batt's header lines come first
    assert "batt: imported in " in header and "| GenDSL: no accelerator found" in header
    assert "Captured" not in out
    res = batt_project.results("empty/r.json")
    assert res["batt"]["import_output"].strip() == "GenDSL: no accelerator found, using CPU only"
    assert res["session"]["process_s"] >= res["session"]["wall_s"] > 0
    assert "time: run " in out and "(whole pytest process)" in out


def test_runs_by_relative_path_and_ids_deselect_as_printed(pytester, batt_dir, monkeypatch):
    monkeypatch.chdir(pytester.path / "empty")
    result = pytester.runpytest_subprocess("--batt", "007bbfb7", "--batt-module", "../tok/test_gen_batt.py", "-n", "2",
                                           "--deselect", "batt/007bbfb7::demo[1]", "-v")
    result.assert_outcomes(passed=5)  # xdist does not count deselected items in its summary
    result.stdout.fnmatch_lines(["*PASSED batt/007bbfb7::test[[]0[]]*"])
    assert "demo[1]" not in result.stdout.str()


def test_project_ini_is_read_when_the_batt_lives_elsewhere(pytester, batt_dir, monkeypatch):
    """pytest takes an option's path value for a test path; the project's ini must still count."""
    project = pytester.mkdir("project")
    (project / "pytest.ini").write_text("[pytest]\nbatt_timeout = 7\n")
    monkeypatch.chdir(project)
    result = pytester.runpytest_subprocess("--batt", "007bbfb7", "--batt-module", str(batt_dir / "test_gen_batt.py"),
                                           "--batt-data", "arcagi1-training", "-n", "0")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*timeout 7s per call*", f"rootdir: {project}", "configfile: pytest.ini"])


def test_runs_by_dotted_name_from_its_folder(pytester, batt_dir, monkeypatch):
    monkeypatch.chdir(batt_dir)
    result = pytester.runpytest_subprocess("--batt", "007bbfb7", "--batt-module", "test_gen_batt", "-n", "2")
    result.assert_outcomes(passed=6)


def test_a_missing_sibling_module_is_named_with_the_folder_searched(batt_project, batt_dir, monkeypatch):
    (batt_dir / "pile.py").unlink()
    monkeypatch.chdir(batt_project.path / "empty")
    result = batt_project.runbatt_inprocess("--batt", "007bbfb7", "--batt-module", str(batt_dir / "test_gen_batt.py"))  # in this process
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str().strip()
    assert err.startswith("ERROR: --batt-module ") and "Traceback" not in err
    assert f"No module named 'pile' (searched {batt_dir} (the batt's folder), then sys.path)" in err


@pytest.mark.parametrize("how", ["path", "dotted"])
def test_a_test_named_batt_is_not_assertion_rewritten(pytester, batt_dir, how):
    """Rewriting an 800 kB batt costs every process 0.1-0.2 s; a batt is no test module.

    Checked inside a pytest process, where the rewriting import hook is installed and
    ``test_*.py`` matches its patterns.
    """
    spec = str(batt_dir / "test_gen_batt.py") if how == "path" else "test_gen_batt"
    pytester.makepyfile(test_check=f"""
        import sys
        from pytest_batt import battmodule

        def test_loader():
            module = sys.modules[battmodule.load_batt({spec!r}, {str(batt_dir)!r}).func.__module__]
            assert module.__name__ == "test_gen_batt"  # its own name: process pools can import it again
            assert type(module.__loader__).__name__ == "SourceFileLoader"
            assert sys.path[0] == {str(batt_dir)!r}
    """)
    pytester.runpytest_subprocess("test_check.py", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_batt_file_is_bytecode_cached_where_python_allows_it(pytester, batt_dir):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = f"from pytest_batt import battmodule; battmodule.load_batt({str(batt_dir / 'test_gen_batt.py')!r})"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    assert any(p.name.startswith("test_gen_batt.") for p in (batt_dir / "__pycache__").iterdir())


def test_phase3_and_plugin_agree_on_a_generated_batt(batt_project, batt_dir, monkeypatch):
    """The real generated batts' candidates are often not grids; every one is diffed, once per value."""
    monkeypatch.chdir(batt_project.path / "empty")
    batt = str(batt_dir / "test_gen_batt.py")
    args = ["--batt", TASKS, "--batt-data", "arcagi1-training", "--batt-module", batt]
    p3 = batt_project.run(sys.executable, "-m", "pytest_batt", "phase3", *args, "--json", "p3.json")
    assert p3.ret == 0, p3.stderr.str()
    assert "phase3: imported in" in p3.stdout.str()
    base = batt_project.results("empty/p3.json")
    # Under xdist, where the records travel to the controller (-n 0 equals -n 2: tests/test_equivalence.py).
    batt_project.runbatt(*args, "-n", "2", "--batt-json", "n2.json")
    cur = batt_project.results("empty/n2.json")
    for tid in TASKS.split(","):
        for key in ("o_score", "d_score", "s_score", "solved"):
            assert base["tasks"][tid][key] == cur["tasks"][tid][key], (tid, key)
        for a, b in zip(base["tasks"][tid]["samples"], cur["tasks"][tid]["samples"]):
            assert (a["status"], a["candidates"]) == (b["status"], b["candidates"])
            if a["kind"] == "test":  # Phase 3: one diff call per candidate, whatever its value
                assert a["calls"] == 1 + a["candidates"] > b["calls"]
    # The shapes that broke the old rule are really there: candidates that are not grids.
    test = base["tasks"]["007bbfb7"]["samples"][-1]
    assert test["candidates"] == 26
    d = base["tasks"]["007bbfb7"]["d_score"]
    assert json.dumps(d).count('"iz"') > 50
