"""Finished tasks on disk: their results-file entries in a spill file, a small part in memory.

A task's entry (its samples, Phase 3 scores, pass@2 and oracle, seconds) is written once, as
the compact JSON text the results file holds, one line per task in an anonymous temporary file
(deleted when closed, or when the process ends however it ends). What stays in memory is the
entry without its scores (``o_score``, ``d_score``, ``s_score``, by far the bulk for a wide
battery: about 1 MB per task at 300 solvers and 300 differ rows), as long as that part is
small (:data:`LIGHT_LIMIT`; else the whole entry stays on disk). :class:`TaskView` reads like
the entry itself: its small keys from memory, each of the others read alone from disk when asked
for (the best solvers of a summary read a task's ``o_score``, not its ``d_score``).

So the controller of a long run, and the commands that read results files, hold the small part
of every task and the whole of one task at a time, whatever the run's length and the battery's
width. Writing a results file copies each task's text as it is (``TaskView.text``).
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
    """The compact JSON text results files hold (``results.chunks`` writes with it too)."""
    return _dump(value)


def _light_part(entry: Mapping[str, Any], texts: Optional[Dict[str, str]] = None) -> Optional[Dict[str, Any]]:
    """What of ``entry`` stays in memory, as its JSON text reads back, or None when that would be
    too big (all on disk then). ``texts``: each key's value already made JSON (by ``put``).

    The samples stay on disk when they carry ``fold`` data (an unfinished task: per-sample
    scores, as big as the task's)."""
    light = {k: v for k, v in entry.items() if k not in HEAVY}
    samples = light.get("samples")
    if isinstance(samples, list) and any(isinstance(s, dict) and "fold" in s for s in samples):
        del light["samples"]
    if texts is not None and all(k in texts for k in light):
        text = "{" + ",".join(_dump(k) + ":" + texts[k] for k in light) + "}"
    else:
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
        self._parts: Dict[str, Dict[str, Tuple[int, int]]] = {}  # task id -> heavy key -> (offset, length) of its value
        self._keys: Dict[str, Tuple[str, ...]] = {}
        self._light: Dict[str, Optional[Dict[str, Any]]] = {}
        self._cached: Tuple[Optional[str], Optional[Dict[str, Any]]] = (None, None)
        self._cached_part: Tuple[Optional[Tuple[str, str]], Any] = (None, None)

    def put(self, task_id: str, entry: Mapping[str, Any]) -> None:
        """Write the entry's compact JSON (exactly :func:`dumps`'s), noting where each heavy value is in it."""
        if not isinstance(entry, Mapping):
            raise TypeError(f"task {task_id}: an entry is an object, not {type(entry).__name__}")
        parts: Dict[str, Tuple[int, int]] = {}
        texts: Optional[Dict[str, str]] = None
        if all(isinstance(k, str) for k in entry):
            # dumps(entry) is "{" + ",".join(key + ":" + value) + "}": built so, it says where each
            # value is (ASCII only: characters are bytes), and one of them can be read alone
            pieces, at, texts = [], self._end + 1, {}
            for i, (key, value) in enumerate(entry.items()):
                head, body = ("," if i else "") + _dump(key) + ":", _dump(value)
                if key in HEAVY:
                    parts[key] = (at + len(head), len(body))
                texts[key] = body
                pieces += [head, body]
                at += len(head) + len(body)
            text = "{" + "".join(pieces) + "}"
        else:
            text = dumps(entry)
        data = text.encode("utf-8")
        self._file.seek(self._end)
        self._file.write(data + b"\n")
        self._where[task_id] = (self._end, len(data))
        self._parts[task_id] = parts
        self._end += len(data) + 1
        self._keys[task_id] = tuple(entry)
        self._light[task_id] = _light_part(entry, texts)
        if self._cached[0] == task_id:
            self._cached = (None, None)
        if self._cached_part[0] is not None and self._cached_part[0][0] == task_id:
            self._cached_part = (None, None)

    def _read(self, offset: int, length: int) -> str:
        self._file.flush()
        return os.pread(self._file.fileno(), length, offset).decode("utf-8")

    def text(self, task_id: str) -> str:
        """The entry's JSON text, as written."""
        return self._read(*self._where[task_id])

    def full(self, task_id: str) -> Dict[str, Any]:
        """The whole entry, read from disk (the last one read is kept). Do not change it."""
        tid, entry = self._cached
        if tid != task_id or entry is None:
            entry = json.loads(self.text(task_id))
            self._cached = (task_id, entry)
        return entry

    def value(self, task_id: str, key: str) -> Any:
        """One key's value, reading only its text when it is a heavy one (the last one read is kept)."""
        where = self._parts[task_id].get(key)
        if where is None:
            return self.full(task_id)[key]
        if self._cached_part[0] != (task_id, key):
            self._cached_part = ((task_id, key), json.loads(self._read(*where)))
        return self._cached_part[1]

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
        self._cached, self._cached_part = (None, None), (None, None)

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
        return self.store.value(self.task_id, key)

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
