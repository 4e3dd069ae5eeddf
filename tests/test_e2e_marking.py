"""The fast loop stays fast: conftest.py marks every test that starts pytest ``e2e``, and fails one
that starts pytest without the mark (so ``pytest -m "not e2e"`` cannot grow a slow test unseen)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

CONFTEST = Path(__file__).parent.parent / "conftest.py"


def load_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("suite_conftest", CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args", [
    ["pytest", "-q"],
    ["/venv/bin/py.test"],
    ["/venv/bin/pytest-batt", "compare", "a.json", "b.json"],
    [sys.executable, "-m", "pytest", "--batt", "all"],
    [sys.executable, "-mpytest"],
    [sys.executable, "-m", "pytest_batt", "phase3"],
    [Path(sys.executable), b"-m", Path("pytest_batt")],
    [sys.executable, "-c", "import pytest; pytest.main(['-q'])"],
    f"{sys.executable} -m pytest -n 2",
    "pytest",
])
def test_commands_that_start_pytest(args: object) -> None:
    assert load_conftest().starts_pytest(args)


@pytest.mark.parametrize("args", [
    [sys.executable, "-c", "import time; time.sleep(1)"],
    [sys.executable, "-S", "-c", "import pytest_batt"],
    [sys.executable, "-m", "pytest_batt.watchdog", "123"],
    [sys.executable, "-m", "venv", "/tmp/pytest-of-root/v"],
    [sys.executable, "/tmp/pytest-0/benchmarks/run.py", "--help"],
    ["pgrep", "-f", "pytest"],
    [],
    "",
    Path("/usr/bin/true"),
])
def test_other_commands_do_not(args: object) -> None:
    assert not load_conftest().starts_pytest(args)


SUITE = """
import subprocess, sys
import pytest

def test_unmarked_starts_pytest():
    subprocess.run([sys.executable, "-m", "pytest", "--version"], capture_output=True)

def test_unmarked_starts_the_cli():
    try:
        subprocess.check_output([sys.executable, "-m", "pytest_batt", "--help"])
    except Exception:  # the guard's failure is no Exception: a test cannot swallow it
        pass

def test_unmarked_calls_pytest_main():
    pytest.main(["--version"])

def test_unmarked_starts_another_process():
    assert subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True).returncode == 0

@pytest.mark.e2e
def test_marked_by_hand(request):
    assert subprocess.run([sys.executable, "-m", "pytest", "--version"], capture_output=True).returncode == 0

@pytest.fixture
def project(pytester):
    return pytester

def test_marked_through_a_fixture_using_pytester(project, request):
    assert request.node.get_closest_marker("e2e") is not None
    assert project.runpytest_subprocess("--version").ret == 0
"""


def test_unmarked_tests_that_start_pytest_fail_and_pytester_marks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    e2e: starts pytest\n")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rf", "-n", "0")
    result.assert_outcomes(passed=3, failed=3)
    for name, what in (("test_unmarked_starts_pytest", "-m', 'pytest'"), ("test_unmarked_starts_the_cli", "-m', 'pytest_batt'"),
                       ("test_unmarked_calls_pytest_main", "call: pytest.main")):
        result.stdout.fnmatch_lines([f"*test_suite.py::{name} starts pytest but is not marked e2e: use the pytester fixture*",
                                     f"*{what}*"])
    deselect = pytester.runpytest("-p", "no:cacheprovider", "-m", "not e2e", "--collect-only", "-q")
    deselect.stdout.fnmatch_lines(["4/6 tests collected (2 deselected)*"])
