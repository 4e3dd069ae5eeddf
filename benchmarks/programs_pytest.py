"""The floor for a program library under pytest: one plain parametrized test per sample, no pytest-batt.

What pytest and pytest-xdist cost on their own for the same work as ``programs_loop.py``: the
library found and imported as ``--batt-programs`` does it, each task's programs called on each
sample in the grid form asked for, and the test passes when one output equals the expected
one. No limits, no isolation, no scores, no results file. ``balance.py`` runs it with ``-p no:batt``
(pytest-batt not loaded) under ``-n 0`` and under ``-n 2 --dist worksteal`` (xdist's own answer to
uneven tests), so its rows say how much of pytest-batt's time over the plain loop is pytest's.

Not a test of this project (its name is no ``test_*.py``, and it is outside ``tests/``): pytest
collects it only when given its path::

    BATT_FLOOR_PROGRAMS=/tmp/arc-dsl/solvers.py BATT_FLOOR_GRID_FORM=tuple \
        python -m pytest -p no:batt -p no:cacheprovider benchmarks/programs_pytest.py -n 2 --dist worksteal
"""

from __future__ import annotations

import os
from typing import Any, List

import pytest

from pytest_batt.grids import to_grid
from pytest_batt.programs import load_library
from pytest_batt.programs.library import copier
from pytest_batt.tasks import load_taskset, select

PROGRAMS = os.environ.get("BATT_FLOOR_PROGRAMS", "")
GRID_FORM = os.environ.get("BATT_FLOOR_GRID_FORM", "list")
DATA = os.environ.get("BATT_FLOOR_DATA", "arcagi1-training")


def _cases() -> List[Any]:
    if not PROGRAMS:
        return []
    library = load_library(PROGRAMS, os.getcwd(), grid_form=GRID_FORM).func
    taskset = load_taskset(DATA, os.getcwd())
    cases = []
    for tid in select(taskset, ["all"]):
        progs = library.for_task(tid)
        for sample in taskset.task(tid).samples:
            cases.append(pytest.param(progs, sample, id=f"{tid}-{sample.name}"))
    return cases


ARG = copier(GRID_FORM)


@pytest.mark.parametrize("progs,sample", _cases())
def test_sample(progs: Any, sample: Any) -> None:
    solved = False
    for prog in progs:
        try:
            solved = solved or to_grid(prog.func(ARG(sample.input))) == sample.output
        except Exception:
            pass
    assert solved
