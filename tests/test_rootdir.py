"""The project's ini file counts when ``--batt-module PATH`` (or ``--batt-data DIR``) names a path elsewhere.

pytest picks its rootdir and ini file from the arguments before plugins load, so the space form's
value looks like a test path; ``pytest_batt.rootdir`` chooses again. Run on the floor releases and
the newest (scripts/test-floors.sh, scripts/test-newest.sh): the private pytest API it uses changes.
"""

import inspect
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import generated_batt
import toys
from pytest_batt import rootdir

ADDOPTS = "-p no:cacheprovider -ra -v"  # -v: the ids show that the ini's addopts apply
INI_FORMS = {
    "pytest.ini": ("[pytest]", lambda k, v: f"{k} = {v}"),
    "tox.ini": ("[pytest]", lambda k, v: f"{k} = {v}"),
    "setup.cfg": ("[tool:pytest]", lambda k, v: f"{k} = {v}"),
    "pyproject.toml": ("[tool.pytest.ini_options]", lambda k, v: f"{k} = {json.dumps(v)}"),
}


def write_ini(folder: Path, form: str, values: dict) -> None:
    section, line = INI_FORMS[form]
    (folder / form).write_text("\n".join([section, *(line(k, v) for k, v in values.items())]) + "\n")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch) -> Path:
    """A project folder (the working directory) beside a folder with a batt that imports its siblings."""
    generated_batt.write(pytester.path / "tok")
    folder = pytester.mkdir("project")
    monkeypatch.chdir(folder)
    return folder


def test_the_private_pytest_api_is_there(pytester):
    """Fails loudly when a pytest release changes what ``pytest_batt.rootdir`` relies on."""
    from _pytest.config.findpaths import determine_setup

    params = set(inspect.signature(determine_setup).parameters)
    assert {"inifile", "args", "rootdir_cmd_arg", "invocation_dir"} <= params <= {"inifile", "args", "rootdir_cmd_arg", "invocation_dir",
                                                                                 "override_ini"}, params
    config = pytester.parseconfig()
    attributes = vars(config)
    assert {"_rootpath", "_inipath", "_inicache"} <= set(attributes), sorted(attributes)
    assert any(name in attributes for name in rootdir.INI_ATTRIBUTES), sorted(attributes)
    assert callable(config.pluginmanager.consider_preparse) and isinstance(config._parser.extra_info, dict)


def test_determine_setup_is_called_as_this_pytest_takes_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nbatt_timeout = 7\n")
    (tmp_path / "sub").mkdir()
    from _pytest.config import get_config

    config = get_config([])
    config.invocation_params = pytest.Config.InvocationParams(args=(), plugins=None, dir=tmp_path)
    rootpath, inipath, inicfg, ignored = rootdir.determine_setup(config, [str(tmp_path / "sub")], ["batt_grace=2"])
    assert (rootpath, inipath) == (tmp_path, tmp_path / "pytest.ini")
    assert "batt_timeout" in inicfg


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--batt", "007bbfb7", *args, "-n", "0")


# Every combination in pytest.ini; the other ini forms once each (each case is a pytest process).
CASES = [("pytest.ini", keys, where) for keys in ("addopts", "batt", "both") for where in ("absolute", "relative")] + [
    (form, "both", "absolute") for form in ("pyproject.toml", "tox.ini", "setup.cfg")]


@pytest.mark.parametrize("form, keys, where", CASES)
def test_the_space_form_reads_the_projects_ini(pytester, project, form, keys, where):
    values = {**({"addopts": ADDOPTS} if keys != "batt" else {}), **({"batt_timeout": "7"} if keys != "addopts" else {})}
    write_ini(project, form, values)
    batt = str(pytester.path / "tok" / "test_gen_batt.py") if where == "absolute" else "../tok/test_gen_batt.py"
    result = run(pytester, "--batt-module", batt, *(["-rA"] if keys == "batt" else []))
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([f"*timeout {7 if keys != 'addopts' else 10}s per call*", f"rootdir: {project}", f"configfile: {form}"])
    # -v from addopts prints each id; with -rA (no addopts) the summary does
    result.stdout.fnmatch_lines(["*batt/007bbfb7::demo[[]0[]] PASSED*" if keys != "batt" else "PASSED batt/007bbfb7::demo[[]0[]]"])
    assert "../" not in result.stdout.str().replace(batt, "")
    assert (project / ".pytest_cache").exists() is (keys == "batt")  # -p no:cacheprovider applied


def test_a_data_folder_elsewhere_in_the_space_form(batt_project, monkeypatch):
    data = batt_project.tasks(toys.TASKS, "data/tasks")
    (batt_project.mkdir("batts") / "toy.py").write_text(toys.TOY_BATT)
    project = batt_project.mkdir("project")
    write_ini(project, "pytest.ini", {"addopts": ADDOPTS, "batt_timeout": "7"})
    monkeypatch.chdir(project)
    result = batt_project.runbatt("--batt", "flip0001", "--batt-data", str(data), "--batt-module", "../batts/toy.py", "-n", "2")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*timeout 7s per call*", f"rootdir: {project}", "configfile: pytest.ini",
                                 "*PASSED batt/flip0001::demo[[]0[]]*"])


def test_the_batts_own_ini_with_plugin_options_is_refused_with_the_command_that_works(pytester, project):
    """pytest read the batt folder's ini and its ``-p`` options before any plugin: that cannot be undone."""
    write_ini(project, "pytest.ini", {"batt_timeout": "7"})
    write_ini(pytester.path / "tok", "tox.ini", {"addopts": "-p no:cacheprovider"})
    result = run(pytester, "--batt-module", "../tok/test_gen_batt.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "whose addopts loaded or blocked plugins with -p" in result.stderr.str()
    assert "write the --batt-* options as one word: pytest --basetemp=" in result.stderr.str()
    assert result.stderr.str().rstrip().endswith(" --batt 007bbfb7 --batt-module=../tok/test_gen_batt.py -n 0")
    write_ini(pytester.path / "tok", "tox.ini", {"addopts": "-x"})  # other options of the batt folder's ini are dropped
    result = run(pytester, "--batt-module", "../tok/test_gen_batt.py")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*timeout 7s per call*", f"rootdir: {project}", "configfile: pytest.ini"])


def test_the_equals_form_and_an_explicit_rootdir_are_left_as_given(pytester, project):
    write_ini(project, "pytest.ini", {"addopts": ADDOPTS, "batt_timeout": "7"})
    result = run(pytester, f"--batt-module={pytester.path / 'tok' / 'test_gen_batt.py'}")
    result.stdout.fnmatch_lines(["*timeout 7s per call*", f"rootdir: {project}", "*batt/007bbfb7::demo[[]0[]] PASSED*"])
    result = run(pytester, "--batt-module", "../tok/test_gen_batt.py", "--rootdir", str(pytester.path / "tok"))
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path / 'tok'}"])


def test_a_pytest_whose_determine_setup_differs_is_named(monkeypatch, pytester):
    import _pytest.config.findpaths

    monkeypatch.setattr(_pytest.config.findpaths, "determine_setup", lambda *, inifile, args, rootdir_cmd_arg, invocation_dir, strict: None)
    with pytest.raises(rootdir.Unsupported, match=r"determine_setup takes \(inifile, args, rootdir_cmd_arg, invocation_dir, strict\)"):
        rootdir.determine_setup(pytester.parseconfig(), [], None)


def test_the_corrected_command_writes_each_path_value_as_one_word(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "b.py").write_text("")
    args = ("--batt", "all", "--batt-data", "tasks", "--batt-module", "b.py", "--batt-json", "new.json", "-n", "2", "-k", "a b")
    config = SimpleNamespace(invocation_params=SimpleNamespace(args=args, dir=tmp_path))
    assert rootdir.corrected_command(config) == "pytest --batt all --batt-data=tasks --batt-module=b.py --batt-json new.json -n 2 -k 'a b'"
