"""Reading a results file one task at a time: the file's members parsed incrementally, each value
whole but under the per-task ceiling (:func:`pytest_batt.results.ceiling`).

Apart from :mod:`pytest_batt.results` because it is a parser of its own (an incremental JSON
reader over a maybe gzipped stream), used through :func:`pytest_batt.results.load`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import zlib
from typing import Any, Dict, Iterator, Optional, Tuple

from . import spill
from .results import MAX_TASK_VARIABLE, SCHEMA, ResultsError, ceiling, read

# --- reading a results file task by task -------------------------------------------------------
# ``read`` parses a whole file at once: fine for a few hundred tasks of a narrow battery, not for
# a 1,120-task run of a 300-solver battery (about 1.3 GB of JSON, ten times that as Python
# objects). ``load`` reads the same files one task at a time into a spill.TaskStore: what it
# holds is the small part of each task plus one whole task, and the ceiling is per task.

# The whole file, decompressed: far above real ones (1,120 tasks of a 300-solver battery: about
# 1.3 GB), there only so that a decompression bomb of many small tasks cannot fill the disk the
# tasks are spilled to.
MAX_FILE_CHARS = 16 * 2**30
_READ_CHARS = 4 << 20  # characters read at a time
_WS = " \t\n\r"


class _Incomplete(Exception):
    """The value runs past the text read so far."""


class _Stream:
    """The decoded text of a (maybe gzipped) file, parsed one top-level value at a time."""

    def __init__(self, path: str, limit: int) -> None:
        self.path, self.limit = path, limit
        if not stat.S_ISREG(os.stat(path).st_mode):  # before opening it: opening a FIFO waits for a writer
            raise ResultsError(f"{path}: not a regular file (a device, FIFO or directory)")
        self._raw = open(path, "rb")  # closed by close()
        binary: Any = gzip.GzipFile(fileobj=self._raw, mode="rb") if self._raw.read(2) == b"\x1f\x8b" else self._raw
        self._raw.seek(0)
        self._text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        self.buf, self.pos, self.eof, self.lines, self.total = "", 0, False, 1, 0
        self._decode = json.JSONDecoder().raw_decode

    def close(self) -> None:
        self._text.close()
        self._raw.close()

    def _more(self, at_least: int) -> bool:
        chunk = self._text.read(max(_READ_CHARS, at_least))
        if not chunk:
            self.eof = True
            return False
        self.total += len(chunk)
        if self.total > MAX_FILE_CHARS:
            raise ResultsError(f"{self.path}: more than {MAX_FILE_CHARS / 2**30:g} GiB of JSON (results_stream.MAX_FILE_CHARS), "
                               "far more than any run writes: a decompression bomb, or not a results file")
        self.lines += self.buf.count("\n", 0, self.pos)
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), left unread."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf) or not self._more(0):
                return self.buf[self.pos:self.pos + 1]

    def take(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self.invalid(f"Expecting {what}", self.pos)
        self.pos += 1
        return c

    def invalid(self, msg: str, pos: int) -> ResultsError:
        line = self.lines + self.buf.count("\n", 0, pos)
        return ResultsError(f"{self.path}: not valid JSON ({msg} at line {line})")

    def too_big(self, what: str) -> ResultsError:
        return ResultsError(f"{self.path}: {what} expands past the {self.limit / 2**20:g} MiB a results file may hold at once "
                            f"(one task's entry; a decompression bomb, or not a results file); set {MAX_TASK_VARIABLE} "
                            "to read a larger one")

    def value(self, what: str) -> Any:
        """The next JSON value, read whole; past ``limit`` characters it is refused."""
        self.peek()
        while True:
            try:
                obj, end = self._decode(self.buf, self.pos)
                if end == len(self.buf) and not self.eof:
                    raise _Incomplete  # a number may go on in the next chunk
                if end - self.pos > self.limit:
                    raise self.too_big(what)
                self.pos = end
                return obj
            except (json.JSONDecodeError, _Incomplete) as e:
                cut = not isinstance(e, json.JSONDecodeError) or e.pos >= len(self.buf) - 64 or e.msg.startswith("Unterminated string")
                if self.eof or not cut:
                    if isinstance(e, json.JSONDecodeError):
                        raise self.invalid(e.msg, e.pos) from None
                    raise self.invalid("Unterminated value", len(self.buf)) from None
                if len(self.buf) - self.pos > self.limit:
                    raise self.too_big(what) from None
                self._more(len(self.buf) - self.pos)  # geometric: each value is parsed at most about twice
            except RecursionError:
                raise ResultsError(f"{self.path}: JSON nested too deeply to be a results file") from None


def _members(stream: _Stream, what: str) -> Iterator[str]:
    """The keys of the JSON object at the stream, one at a time; after each, the caller reads its value."""
    stream.take("{", "'{'")
    if stream.peek() == "}":
        stream.take("}", "'}'")
        return
    while True:
        key = stream.value(what)
        if not isinstance(key, str):
            raise stream.invalid("Expecting property name enclosed in double quotes", stream.pos)
        stream.take(":", "':' delimiter")
        yield key
        if stream.take(",}", "',' delimiter") == "}":
            return


def iter_file(path: str, limit: Optional[int] = None) -> Iterator[Tuple[str, str, Any]]:
    """The file's top-level keys in order: ``("key", name, value)``, except for the ``tasks``
    object: ``("tasks", "tasks", None)``, then ``("task", task_id, entry)`` for each of its tasks,
    one at a time. Memory: one value.

    A file whose text is not an object is read whole (``read``), for its one clear error."""
    try:
        stream = _Stream(path, ceiling() if limit is None else limit)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except OSError as e:
        raise ResultsError(f"{path}: cannot be read ({e})") from None
    try:
        if stream.peek() != "{":
            stream.close()
            read(path)  # raises its error: not JSON, not an object
            raise ResultsError(f"{path}: not a pytest-batt results file of schema {SCHEMA}")
        for key in _members(stream, "a key"):
            if key == "tasks" and stream.peek() == "{":
                yield ("tasks", key, None)
                for tid in _members(stream, "a task id"):
                    yield ("task", tid, stream.value(f"task {tid!r}"))
            else:
                yield ("key", key, stream.value(f"the value of {key!r}"))
        if stream.peek():
            raise stream.invalid("Extra data", stream.pos)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:  # gzip errors are OSError/EOFError
        raise ResultsError(f"{path}: cannot be read ({e})") from None
    except MemoryError:
        raise ResultsError(f"{path}: too large for the memory this process may use") from None
    finally:
        stream.close()


def load_tasks(path: str, directory: Optional[str] = None, limit: Optional[int] = None) -> Dict[str, Any]:
    """``read``'s dict, with ``tasks`` a spill.TaskStore (in ``directory``, or the system's
    temporary one): the same keys and values, the scores of each task on disk until asked for.

    The checks and errors are ``read``'s; the ceiling (``limit``) is per task, not per file."""
    data: Dict[str, Any] = {}
    store: Optional[spill.TaskStore] = None
    for kind, key, value in iter_file(path, limit):
        if kind == "tasks":
            _check_head(path, data, before_tasks=True)
            store = data[key] = spill.TaskStore(directory)
        elif kind == "key":
            data[key] = value
        else:
            assert store is not None
            if not isinstance(value, dict):
                raise ResultsError(f"{path}: task {key!r} is not an object")
            store.put(key, value)
    _check_head(path, data)
    return data


def _check_head(path: str, data: Dict[str, Any], before_tasks: bool = False) -> None:
    """``read``'s checks; ``before_tasks``: only those the keys before ``tasks`` can fail (the schema)."""
    if before_tasks:
        if "schema" in data and data["schema"] != SCHEMA:
            raise ResultsError(f"{path}: not a pytest-batt results file of schema {SCHEMA} (schema: {data['schema']!r})")
        return
    if data.get("schema") != SCHEMA:
        raise ResultsError(f"{path}: not a pytest-batt results file of schema {SCHEMA} (schema: {data.get('schema')!r})")
    for key in ("batt", "data", "config", "session", "tasks"):
        if not isinstance(data.get(key), (dict, spill.TaskStore)):
            raise ResultsError(f"{path}: results file has no {key!r} object")
