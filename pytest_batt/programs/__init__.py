"""Any program library as a batt: ``--batt-programs PATH``.

``discovery`` says which functions are programs and which task each runs on, ``limits`` runs
one program under its own time limit inside the batt call's, ``rails`` refuses the calls that
would end or cut off the process, ``library`` presents the library with the batt signature so
everything downstream (items, scores, results, shards) is unchanged, ``offenders`` names and
quarantines programs that ended or hung their process (their sample runs again without them),
and ``summary`` names the faulty programs at the end of a run. Which of a batt or a library a run
loads is :func:`pytest_batt.state.load_batt_or_library`'s choice. Importing this package imports
neither numpy nor the library.
"""

from __future__ import annotations

from typing import Any, List

from .discovery import LibraryError
from .library import Library, LibraryModule, library_of, load_library
from .summary import summary_lines as _summary_lines

__all__ = ["Library", "LibraryError", "LibraryModule", "header_lines", "library_of", "load_library", "summary_lines"]


def header_lines(batt: Any, path: str) -> List[str]:
    library = library_of(batt)
    return [library.describe(path)] if library is not None else []


def summary_lines(results: Any, batt: Any) -> List[str]:
    library = library_of(batt)
    if library is None:
        return []
    return _summary_lines(results, (p.sid for p in library.programs), unlimited=not library.limit)
