"""Finished tasks on disk: their results-file entries in a spill file, a small part in memory.

A task's entry (its samples, Phase 3 scores, pass@2 and oracle, seconds) is written once, as
the compact JSON text the results file holds, one line per task in an anonymous temporary file
(deleted when closed, or when the process ends however it ends). What stays in memory is the
entry without its scores (``o_score``, ``d_score``, ``s_score``, by far the bulk for a wide
battery: about 1 MB per task at 300 solvers and 300 differ rows), as long as that part is
small (:data:`LIGHT_LIMIT`; else the whole entry stays on disk). :class:`TaskView` reads like
the entry itself: its small keys from memory, the others from disk on first use (the last entry
read is kept, so a reader going task by task reads each once).

So the controller of a long run, and the commands that read results files, hold the small part
of every task and the whole of one task at a time, whatever the run's length and the battery's
width. Writing a results file copies each task's text as it is (``raw_items``).
"""

from __future__ import annotations

import json
import os
import tempfile
import weakref
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

HEAVY = ("o_score", "d_score", "s_score")  # per solver, per solver and differ: on disk only
LIGHT_LIMIT = 32 * 1024  # characters of JSON an entry may keep in memory (samples, flags, times)

_dump = json.JSONEncoder(separators=(",", ":")).encode  # exactly json.dumps(x, separators=(",", ":"))


def dumps(value: Any) -> str:
    """The compact JSON text results files hold (``results.chunks`` writes the same)."""
    return _dump(value)


def _light_part(entry: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """What of ``entry`` stays in memory, as its JSON text reads back, or None when that would be
    too big (all on disk then).

    The samples stay on disk when they carry ``fold`` data (an unfinished task: per-sample
    scores, as big as the task's)."""
    light = {k: v for k, v in entry.items() if k not in HEAVY}
    samples = light.get("samples")
    if isinstance(samples, list) and any(isinstance(s, dict) and "fold" in s for s in samples):
        del light["samples"]
    text = dumps(light)
    if len(text) > LIGHT_LIMIT:
        return None
    light_again: Dict[str, Any] = json.loads(text)  # as the file has it (tuples become lists), sharing nothing with the entry
    return light_again


class TaskStore(Mapping[str, "TaskView"]):
    """Task entries by task id, in the order first put, each written once to a spill file.

    ``directory``: where the spill file lives (a run's scratch folder); the system's temporary
    directory when None. Putting a task id again replaces its entry (its place stays)."""

    def __init__(self, directory: Optional[str] = None) -> None:
        self._file = tempfile.TemporaryFile(prefix="batt-spill-", suffix=".jsonl", dir=directory)
        self._closer = weakref.finalize(self, self._file.close)  # closed, not left to warn, when dropped
        self._end = 0
        self._where: Dict[str, Tuple[int, int]] = {}  # task id -> (offset, length) of its text
        self._keys: Dict[str, Tuple[str, ...]] = {}
        self._light: Dict[str, Optional[Dict[str, Any]]] = {}
        self._cached: Tuple[Optional[str], Optional[Dict[str, Any]]] = (None, None)

    def put(self, task_id: str, entry: Mapping[str, Any]) -> None:
        self.put_text(task_id, dumps(entry), entry)

    def put_text(self, task_id: str, text: str, entry: Optional[Mapping[str, Any]] = None) -> None:
        """``text``: the entry's compact JSON (as :func:`dumps` writes it); ``entry``: the same, parsed, if at hand."""
        if entry is None:
            entry = json.loads(text)
        if not isinstance(entry, Mapping):
            raise TypeError(f"task {task_id}: an entry is an object, not {type(entry).__name__}")
        data = text.encode("utf-8")
        self._file.seek(self._end)
        self._file.write(data + b"\n")
        self._where[task_id] = (self._end, len(data))
        self._end += len(data) + 1
        self._keys[task_id] = tuple(entry)
        self._light[task_id] = _light_part(entry)
        if self._cached[0] == task_id:
            self._cached = (None, None)

    def text(self, task_id: str) -> str:
        """The entry's JSON text, as put."""
        offset, length = self._where[task_id]
        self._file.flush()
        return os.pread(self._file.fileno(), length, offset).decode("utf-8")

    def full(self, task_id: str) -> Dict[str, Any]:
        """The whole entry, read from disk (the last one read is kept). Do not change it."""
        tid, entry = self._cached
        if tid != task_id or entry is None:
            entry = json.loads(self.text(task_id))
            self._cached = (task_id, entry)
        return entry

    def raw_items(self) -> Iterator[Tuple[str, str]]:
        """``(task id, JSON text)`` in order, for writing a results file without parsing anything."""
        for tid in list(self._where):
            yield tid, self.text(tid)

    def __getitem__(self, task_id: str) -> "TaskView":
        if task_id not in self._where:
            raise KeyError(task_id)
        return TaskView(self, task_id)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._where))

    def __len__(self) -> int:
        return len(self._where)

    def close(self) -> None:
        self._closer()
        self._cached = (None, None)

    def __enter__(self) -> "TaskStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class TaskView(Mapping[str, Any]):
    """One stored entry, read like the dict it was: small keys from memory, the rest from disk.

    Equal to the entry key for key; ``dict(view)`` or :meth:`full` gives the whole entry
    (and so holds it in memory: readers that go task by task should not keep it)."""

    __slots__ = ("store", "task_id")

    def __init__(self, store: TaskStore, task_id: str) -> None:
        self.store = store
        self.task_id = task_id

    def __getitem__(self, key: str) -> Any:
        light = self.store._light[self.task_id]
        if light is not None and key in light:
            return light[key]
        if key not in self.store._keys[self.task_id]:
            raise KeyError(key)
        return self.store.full(self.task_id)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.store._keys[self.task_id])

    def __len__(self) -> int:
        return len(self.store._keys[self.task_id])

    def __contains__(self, key: object) -> bool:
        return key in self.store._keys[self.task_id]

    def full(self) -> Dict[str, Any]:
        return self.store.full(self.task_id)

    def text(self) -> str:
        return self.store.text(self.task_id)

    def __repr__(self) -> str:
        return f"<TaskView {self.task_id} of {len(self.store)} stored>"
