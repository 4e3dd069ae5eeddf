"""Which files make up a library, which functions in them are programs, and which task each runs on.

Pure functions over paths and names (no imports of the library here), so the rules can be
tested on their own and read in one place:

- a function named ``<prefix><task_id>`` for an entry ``<prefix>*`` (default ``solve_*``,
  ``verify_*``) runs on that task only;
- otherwise the map file (``--batt-programs-map``) binds the files and folders it names;
- otherwise a file ``<task_id>.py`` or a folder ``<task_id>/`` inside the library binds what
  it holds, when the name has the form of an ARC task id (8 hex digits): the rule does not
  depend on which tasks a run selects, so every process and every selection sees the same library;
- every other program runs on every task, as a batt's candidates do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple

from ..options import Entries

ARC_ID = re.compile(r"[0-9a-f]{8}")
MAX_MAP_BYTES = 10 * 2**20


class LibraryError(ValueError):
    """The library cannot be used as asked (no such path, a bad map file); the message says why."""


def entry_task(name: str, entries: Entries) -> Tuple[bool, Optional[str]]:
    """Whether a function of this name is a program, and the task its name binds it to (None: none)."""
    for prefix in entries.prefixes:
        if name.startswith(prefix) and len(name) > len(prefix):
            return True, name[len(prefix):]
    return name in entries.names, None


def library_files(root: Path) -> Tuple[Path, List[Path]]:
    """The library's base folder (what solver ids are relative to) and its ``.py`` files, in a fixed order.

    A folder is walked recursively; hidden folders, ``__pycache__`` and ``__init__.py`` are left out.
    """
    if root.is_file():
        if root.suffix != ".py":
            raise LibraryError(f"--batt-programs {root}: not a .py file or a folder")
        return root.parent, [root]
    if not root.is_dir():
        raise LibraryError(f"--batt-programs {root}: no such file or folder")
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p == "__pycache__" for p in parts) or path.name == "__init__.py":
            continue
        if path.is_file():
            files.append(path)
    return root, files


def relative(path: Path, base: Path) -> str:
    """A file's name in solver ids: relative to the library's base, with ``/`` on every system."""
    return PurePosixPath(*path.relative_to(base).parts).as_posix()


def read_map(path: Path, known: Sequence[str]) -> Dict[str, FrozenSet[str]]:
    """The map file as ``{relative file: tasks}``; every path it names must be a library file or folder.

    Its form: ``{"<task_id>": "relative/path.py", "<task_id>": ["a.py", "folder/"], ...}``; a
    folder binds every file under it; paths are relative to the library's base, as solver ids are.
    """
    where = f"--batt-programs-map {path}"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MAP_BYTES + 1)
    except OSError as e:
        raise LibraryError(f"{where}: cannot be read ({e.strerror or e})") from None
    if len(raw) > MAX_MAP_BYTES:
        raise LibraryError(f"{where}: larger than {MAX_MAP_BYTES // 2**20} MB; a map is a small JSON object")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LibraryError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise LibraryError(f'{where}: must be a JSON object {{"<task_id>": "relative/path.py", ...}}')
    bound: Dict[str, Set[str]] = {}
    for task_id, value in data.items():
        paths = [value] if isinstance(value, str) else value
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise LibraryError(f"{where}: {task_id!r} must name a path or a list of paths")
        for p in paths:
            clean = PurePosixPath(p.replace("\\", "/")).as_posix().rstrip("/")
            hits = [k for k in known if k == clean or k.startswith(clean + "/") or clean == "."]
            if not hits:
                raise LibraryError(f"{where}: {task_id!r}: {p!r} is no .py file or folder of the library")
            for k in hits:
                bound.setdefault(k, set()).add(task_id)
    return {k: frozenset(tasks) for k, tasks in bound.items()}


def file_tasks(rel: str, mapped: Mapping[str, FrozenSet[str]]) -> Optional[FrozenSet[str]]:
    """The tasks a file's programs run on, from the map or the file's and folders' names; None: every task."""
    if rel in mapped:
        return mapped[rel]
    parts = PurePosixPath(rel).parts
    names = [PurePosixPath(parts[-1]).stem] + list(reversed(parts[:-1]))  # the nearest name first
    for name in names:
        if ARC_ID.fullmatch(name):
            return frozenset([name])
    return None
