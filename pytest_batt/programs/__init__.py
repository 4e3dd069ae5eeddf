"""Any program library as a batt: ``--batt-programs PATH``.

``discovery`` says which functions are programs and which task each runs on, ``limits`` runs
one program under its own time limit inside the batt call's, ``rails`` refuses the calls that
would end or cut off the process, ``library`` presents the library with the batt signature so
everything downstream (items, scores, results, shards) is unchanged, ``offenders`` names and
quarantines programs that ended or hung their process (their sample runs again without them),
and ``summary`` names the faulty programs at the end of a run. Importing this package imports
neither numpy nor the library.
"""

from __future__ import annotations

from typing import Any, List

from ..options import DEFAULT_ENTRIES, DEFAULT_GRID_FORM, GRID_FORMS
from .discovery import LibraryError, parse_entries
from .library import Library, LibraryModule, library_of, load_library
from .summary import summary_lines as _summary_lines

__all__ = ["DEFAULT_ENTRIES", "DEFAULT_GRID_FORM", "GRID_FORMS", "Library", "LibraryError", "LibraryModule",
           "header_lines", "library_of", "load", "load_library", "parse_entries", "summary_lines"]


def load(settings: Any) -> Any:
    """The run's batt: the library of ``--batt-programs`` when given, else ``--batt-module``'s batt.

    A library that cannot be used is a :class:`~pytest_batt.battmodule.BattLoadError`, as a batt is.
    """
    from ..battmodule import BattLoadError, load_batt

    if not getattr(settings, "programs", None):
        return load_batt(settings.module, settings.base_dir)
    try:
        return load_library(settings.programs, settings.base_dir, entries=settings.entries, map_path=settings.programs_map,
                            grid_form=settings.grid_form, program_timeout=settings.program_timeout,
                            import_timeout=settings.timeout)
    except LibraryError as e:
        raise BattLoadError(str(e)) from None


def header_lines(batt: Any, path: str) -> List[str]:
    library = library_of(batt)
    return [library.describe(path)] if library is not None else []


def summary_lines(results: Any, batt: Any) -> List[str]:
    library = library_of(batt)
    if library is None:
        return []
    return _summary_lines(results, (p.sid for p in library.programs))
