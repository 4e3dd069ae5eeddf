"""The suite's two speeds: every test that starts a pytest process is marked ``e2e``.

``pytest -m "not e2e"`` is the contributor's fast loop (plain modules, no pytest started);
``pytest`` runs everything. A test is ``e2e`` when it uses the ``pytester`` fixture, directly
or through a fixture of its own (the mark is set here, at collection), or when it carries
``@pytest.mark.e2e`` itself. A test that is neither and still starts pytest (a process running
``pytest``, ``python -m pytest``, ``pytest-batt`` or ``python -m pytest_batt``, or ``pytest.main``) fails at that
call, so no slow test slips into the fast loop unmarked (tests/test_e2e_marking.py checks both).
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

pytest_plugins = ["pytester"]

E2E_FIXTURES = frozenset({"pytester", "testdir"})
# ``python -m NAME`` that runs pytest or this plugin's command line (not its other modules).
PYTEST_MODULES = frozenset({"pytest", "py.test", "pytest_batt"})
PYTEST_PROGRAMS = frozenset({"pytest", "py.test", "pytest-batt"})


def pytest_configure(config: pytest.Config) -> None:
    """The package compiled once, before the suite's pytest processes start: an editable install is
    not compiled by pip, and where ``PYTHONDONTWRITEBYTECODE`` is set (as on CI machines and in
    containers) every one of the few hundred processes the suite starts would compile it again
    (~0.05-0.1 s each; two e2e files took 10.5-11.3 s without, 8.7-9.7 s with). Only what is stale
    is written; the caches are git-ignored."""
    if hasattr(config, "workerinput") or config.getoption("batt", None):
        return
    import compileall

    compileall.compile_dir(os.path.join(os.path.dirname(__file__), "pytest_batt"), quiet=2)  # silent: a read-only checkout just runs slower


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The suite's own run (``-n auto`` in pyproject.toml) steals work: its tests are uneven (a hostile
    run waits out timeouts for 17 s, most tests take milliseconds), and xdist's ``load`` leaves one
    worker idle at the end. A ``--batt`` run from this folder keeps the plugin's scheduler; an
    explicit ``--dist`` other than ``load`` is xdist's."""
    if config.getoption("batt", None) or config.getoption("dist") != "load":
        return None
    from xdist.scheduler import WorkStealingScheduling

    return WorkStealingScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> Any:
    """The suite's ``-n auto``: half again as many workers as cores (3 on 2). Its end-to-end tests
    spend a good part of their time waiting with the CPU idle (on a sleeping batt's timeout, a
    worker's start-up or restart, a ``time.sleep`` in a check); a worker more fills those waits. A
    ``--batt`` run from this folder, and ``PYTEST_XDIST_AUTO_NUM_WORKERS``, keep xdist's count."""
    if config.getoption("batt", None) or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    from xdist.plugin import pytest_xdist_auto_num_workers as cores

    count = int(cores(config))
    return count + max(1, count // 2)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def starts_pytest(args: str | bytes | os.PathLike | Sequence[Any]) -> bool:
    """Whether a process started with ``args`` (as ``subprocess.Popen`` takes them) runs pytest or ``python -m pytest_batt``."""
    if isinstance(args, (str, bytes, os.PathLike)):
        words = shlex.split(os.fsdecode(args)) if isinstance(args, (str, bytes)) else [os.fspath(args)]
    else:
        words = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in args]
    if not words:
        return False
    if os.path.basename(words[0]) in PYTEST_PROGRAMS:
        return True
    for flag, value in itertools.pairwise(words):
        if flag == "-m" and value in PYTEST_MODULES:
            return True
        if flag == "-c" and "pytest.main(" in value:
            return True
    return any(w.startswith("-m") and w[2:] in PYTEST_MODULES for w in words[1:])


@pytest.fixture(autouse=True)
def _e2e_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A test not marked ``e2e`` may start processes, but not pytest: that belongs to the slow loop."""
    if request.node.get_closest_marker("e2e") is not None:
        yield
        return
    message = (f"{request.node.nodeid} starts pytest but is not marked e2e: use the pytester fixture "
               "(which marks it) or mark it @pytest.mark.e2e, so that `pytest -m 'not e2e'` stays fast")
    popen_init = subprocess.Popen.__init__

    def guarded_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        if starts_pytest(args):
            pytest.fail(f"{message}\n  command: {args!r}", pytrace=False)
        popen_init(self, args, *rest, **kwargs)

    def guarded_main(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"{message}\n  call: pytest.main", pytrace=False)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_init)
    monkeypatch.setattr(pytest, "main", guarded_main)
    yield
