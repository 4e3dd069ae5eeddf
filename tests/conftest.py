"""What the tests share: a user's project in a pytester folder (task files, batt files), the
pytest-batt runs in it, and the results files they write.

The root ``conftest.py`` says how the suite runs (the ``e2e`` mark, the guard on unmarked tests
that start pytest, xdist's work stealing): it stays self-contained, as tests/test_e2e_marking.py
runs a copy of it in a project of its own. This one holds the helpers the test files would
otherwise copy. They are fixtures, so no test module imports a conftest (both are named
``conftest``); constants used at import time (toy tasks and batts, the sandbox's parameters) stay
in ``toys.py`` and ``sandboxes.py``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

import toys
from pytest_batt import results as results_mod

Tasks = Mapping[str, Any]
MEASURED = ("seconds", "cpu_seconds", "memory_mb")  # a sample's measurements: two runs may differ in them only


def write_tasks(folder: Path, tasks: Tasks) -> Path:
    """One ``<task_id>.json`` per task in ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for tid, content in tasks.items():
        (folder / f"{tid}.json").write_text(json.dumps(content))
    return folder


class Results(dict):  # type: ignore[type-arg]
    """A results file as read (pytest_batt.results.read), with the views the tests take of it."""

    def samples(self, tid: str | None = None) -> list[dict[str, Any]]:
        """One task's samples, or every task's in file order."""
        if tid is not None:
            return list(self["tasks"][tid]["samples"])
        return [s for t in self["tasks"].values() for s in t["samples"]]

    def statuses(self, tid: str | None = None) -> list[str]:
        return [s["status"] for s in self.samples(tid)]

    def scores(self, keys: Iterable[str] = ("o_score", "d_score", "s_score", "solved")) -> dict[str, dict[str, Any]]:
        """Each task's scores: what two runs of one batt on one data set must agree on."""
        return {tid: {k: t[k] for k in keys} for tid, t in self["tasks"].items()}

    def unmeasured(self) -> dict[str, Any]:
        """The tasks without their times and peak memory (a copy): everything else is a result."""
        tasks = json.loads(json.dumps(self["tasks"]))
        for t in tasks.values():
            t.pop("seconds")
            for s in t["samples"]:
                for key in MEASURED:
                    s.pop(key)
        return tasks


class BattProject:
    """A pytester folder as a user's project: its task files and batts, pytest-batt runs, results.

    Everything else is the pytester's (``path``, ``makepyfile``, ``makeini``, ``run``...)."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.args: list[str] = []  # what every runbatt() of this project starts with

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pytester, name)

    def tasks(self, tasks: Tasks, folder: str = "tasks") -> Path:
        return write_tasks(self.pytester.path / folder, tasks)

    def kaggle(self, challenges: Tasks, solutions: Tasks, prefix: str = "h") -> str:
        """``<prefix>_challenges.json`` and its ``<prefix>_solutions.json``: the value for --batt-data."""
        (self.pytester.path / f"{prefix}_challenges.json").write_text(json.dumps(challenges))
        (self.pytester.path / f"{prefix}_solutions.json").write_text(json.dumps(solutions))
        return f"{prefix}_challenges.json"

    def toys(self, **batts: str) -> BattProject:
        """``tasks/`` with the three toy tasks (toys.TASKS), and each batt source written to ``<name>.py``."""
        self.tasks(toys.TASKS)
        if batts:
            self.pytester.makepyfile(**batts)
        return self

    def runbatt(self, *args: str, timeout: float | None = None) -> pytest.RunResult:
        """pytest in a process of its own (signals, crashes and exits need one), with ``self.args`` first."""
        return self.pytester.runpytest_subprocess(*self.args, *args, timeout=timeout)

    def runbatt_inprocess(self, *args: str) -> pytest.RunResult:
        """pytest in this process, with ``self.args`` first: for usage errors, which stop it before any batt call.

        pytester takes a snapshot of ``sys.modules`` before the run and puts it back after: the plugin's
        modules imported during one run are dropped from ``sys.modules`` but stay attributes of the
        ``pytest_batt`` package, and the next run would mix old modules (reached as attributes) with
        new ones (imported again), so that ``except battmodule.BattLoadError`` meets another class of
        that name. Imported before the pytester took its own snapshot (the ``batt_project`` fixture
        asks for ``plugin_modules``, a session's fixture, set up first), every module is in the
        snapshots: each run sees the same ones, as every ``pytest.main`` in a long-lived process (a
        notebook) does."""
        return self.pytester.runpytest_inprocess(*self.args, *args)

    def results(self, name: str = "r.json") -> Results:
        return Results(results_mod.read(str(self.pytester.path / name)))

    def report_data(self, name: str = "r.html") -> dict[str, Any]:
        """The per-task data an HTML report embeds (what a click on a task shows)."""
        page = (self.pytester.path / name).read_text()
        return json.loads(re.search(r'id="batt-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]

    @staticmethod
    def error_lines(result: pytest.RunResult) -> list[str]:
        """The lines a run wrote to stderr, blank ones left out (a usage error is one)."""
        return [line for line in result.stderr.lines if line.strip()]


@pytest.fixture(scope="session")
def plugin_modules() -> list[str]:
    """Every module of pytest_batt (the embedded reference batt's too), imported in this process before
    any pytester snapshot of ``sys.modules`` is taken: see :meth:`BattProject.runbatt_inprocess`."""
    import pytest_batt

    names = [info.name for info in pkgutil.walk_packages(pytest_batt.__path__, "pytest_batt.")]
    for name in names:
        importlib.import_module(name)
    return names


@pytest.fixture
def batt_project(plugin_modules: list[str], pytester: pytest.Pytester) -> BattProject:
    """An empty project (the pytester's folder, also the working directory)."""
    return BattProject(pytester)


@pytest.fixture
def toy_project(batt_project: BattProject) -> BattProject:
    """The three toy tasks in ``tasks/`` (toys.TASKS); its batts are the test's to write."""
    return batt_project.toys()


@pytest.fixture
def task_files() -> Callable[[Path, Tasks], Path]:
    """``task_files(folder, tasks)``: one ``<task_id>.json`` per task, for tests without a pytester."""
    return write_tasks
