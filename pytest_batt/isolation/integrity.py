"""Whether a batt patched pytest-batt's own modules: which objects their namespaces hold, before
and after each sample.

A batt runs in the process that records its samples (and, with ``-n 0``, judges them); one that
rebinds a name there (``pytest_batt.judging.judge = ...``, a module planted in ``sys.modules``)
would forge every later record. A snapshot is the names of pytest-batt's modules in
``sys.modules``, the module objects and every value of their namespaces, in order; two
snapshots are the same when they hold the very same objects. Identity only: ``==`` would run a
planted object's own ``__eq__``, which can say anything.

Built and compared in C (sorted, bisect, tuples, ``map(operator.is_, ...)``): about 0.07 ms a
snapshot and 0.03 ms a comparison for ~50 modules and ~1,700 names, where the Python loop over the
names this replaces cost ~0.65 ms a call, twice a sample. A
:class:`Watch` takes one per sample: the snapshot after a sample is the next one's "before" while
nothing was imported in between (pytest-batt's code never rebinds its own names; a new module
changes the size of ``sys.modules``).
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from itertools import chain
from operator import is_
from typing import Tuple

PREFIX = "pytest_batt"
_PAST = "pytest_batu"  # sorts after every name that starts with PREFIX
_REFERENCE = "pytest_batt.reference"  # the embedded reference batt: a batt, not pytest-batt's machinery

Snapshot = Tuple[object, ...]
BROKEN: Snapshot = (object(),)  # sys.modules holds what no import puts there: never the same as anything


def snapshot() -> Snapshot:
    """Names, modules and namespace values of pytest-batt's modules (the reference batt's aside)."""
    try:
        names = sorted(sys.modules)
        ours = names[bisect_left(names, PREFIX):bisect_left(names, _PAST)]
        ours = [n for n in ours if not n.startswith(_REFERENCE)]
        modules = tuple(map(sys.modules.__getitem__, ours))
        values = chain.from_iterable(map(dict.values, map(vars, modules)))
        return (*ours, *modules, *values)
    except (TypeError, KeyError):  # a key that is no str, an object without a namespace dict, an entry gone
        return BROKEN


def unchanged(before: Snapshot, after: Snapshot) -> bool:
    """The same objects in the same places: nothing rebound, added or removed."""
    return before is not BROKEN and len(before) == len(after) and all(map(is_, before, after))


class Watch:
    """Before and after each sample of a process; see the module docstring."""

    def __init__(self) -> None:
        self._last: Snapshot = BROKEN
        self._size = -1

    def before(self) -> Snapshot:
        if self._last is not BROKEN and len(sys.modules) == self._size:
            return self._last
        return snapshot()

    def unchanged_since(self, before: Snapshot) -> bool:
        now = snapshot()
        self._last, self._size = now, len(sys.modules)
        return unchanged(before, now)
