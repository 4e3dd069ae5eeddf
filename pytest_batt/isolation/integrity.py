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
names this replaces cost ~0.65 ms a call, twice a sample. A :class:`Watch` needs no snapshot at
all while none of these dicts is written: CPython's version tag of ``sys.modules`` and of each
watched namespace (``process_state.DictVersions``: every mutation changes it) says so in a few
microseconds, O(1) in the number of names; once a tag moved (an import, a rebound name) a snapshot
is taken and compared. Where the tags cannot be read, one snapshot a sample. Either way the
snapshot last taken is the next sample's "before" while nothing was imported in between, so a name
rebound between samples is seen too (pytest-batt's code never rebinds its own names; a new module
changes the size of ``sys.modules``).
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from itertools import chain
from operator import is_
from typing import Any, Dict, List, Optional, Tuple

from .process_state import DictVersions

PREFIX = "pytest_batt"
_PAST = "pytest_batu"  # sorts after every name that starts with PREFIX
_REFERENCE = "pytest_batt.reference"  # the embedded reference batt: a batt, not pytest-batt's machinery

Snapshot = Tuple[object, ...]
BROKEN: Snapshot = (object(),)  # sys.modules holds what no import puts there: never the same as anything


def _taken() -> Tuple[Snapshot, List[Dict[str, Any]]]:
    """A snapshot of pytest-batt's modules (the reference batt's aside) and their namespaces (none when BROKEN)."""
    try:
        names = sorted(sys.modules)
        ours = [n for n in names[bisect_left(names, PREFIX):bisect_left(names, _PAST)] if not n.startswith(_REFERENCE)]
        modules = tuple(map(sys.modules.__getitem__, ours))
        namespaces = [vars(m) for m in modules]
        return (*ours, *modules, *chain.from_iterable(map(dict.values, namespaces))), namespaces
    except (TypeError, KeyError):  # a key that is no str, an object without a namespace dict, an entry gone
        return BROKEN, []


def snapshot() -> Snapshot:
    """Names, modules and namespace values of pytest-batt's modules (the reference batt's aside)."""
    return _taken()[0]


def unchanged(before: Snapshot, after: Snapshot) -> bool:
    """The same objects in the same places: nothing rebound, added or removed."""
    return before is not BROKEN and len(before) == len(after) and all(map(is_, before, after))


class Watch:
    """Before and after each sample of a process; see the module docstring."""

    def __init__(self) -> None:
        self._last: Snapshot = BROKEN
        self._size = -1
        self._usable = DictVersions.usable()
        self._tags: Optional[DictVersions] = None  # sys.modules, then the namespaces of _last's modules
        self._read: Tuple[int, ...] = ()

    def _same_dicts(self) -> bool:
        """None of the dicts _last was taken from written since (their version tags)."""
        tags = self._tags
        return tags is not None and tags.dicts[0] is sys.modules and tags.read() == self._read

    def _take(self) -> Snapshot:
        now, namespaces = _taken()
        self._last, self._size, self._tags = now, len(sys.modules), None
        if self._usable and now is not BROKEN:
            self._tags = DictVersions([sys.modules, *namespaces])
            self._read = self._tags.read()
        return now

    def before(self) -> Snapshot:
        if self._last is not BROKEN and len(sys.modules) == self._size:
            return self._last  # a name rebound since is still seen: compared against this one after the sample
        return self._take()

    def unchanged_since(self, before: Snapshot) -> bool:
        if before is self._last and self._same_dicts():
            return True  # not one watched dict written since: the same objects in the same places
        return unchanged(before, self._take())
