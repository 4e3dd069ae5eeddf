"""The results file (schema 1, written atomically, read back with one clear error when unusable).

Its samples are :mod:`pytest_batt.records`' entries of the samples' records."""

from __future__ import annotations

import codecs
import datetime
import gzip
import json
import os
import platform
import stat
import zlib
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, TypedDict

from . import __version__, files, spill
from .records import Sample

SCHEMA = 1


# --- the file's shape (schema 1), as docs/results-schema.md shows it ---------------------------
# Typing only: the file stays plain JSON. tests/test_results.py checks that a real run's file,
# these types and docs/results-schema.md list the same keys.

class Tool(TypedDict):
    name: str
    version: str


class Machine(TypedDict):
    python: str
    platform: str
    cpus: int


class Batt(TypedDict, total=False):
    module: str
    sha256: str
    import_s: float  # the controller's import of the batt
    import_output: str


class Data(TypedDict):
    name: str
    sha256: str


class Shard(TypedDict):
    index: int
    count: int
    selection: List[str]
    by: str


class Protections(TypedDict):
    """Which protections the run had on its system (isolation.capabilities)."""

    memory_limit: str  # "address_space", "resident" or "off"
    memory_limit_mb: Optional[float]
    memory_peak: str  # "sample", "process" (the process's peak so far) or "off"
    leftover_processes: str  # found by "/proc", "psutil", or "forks" (Python forks only)
    subreaper: bool
    start_time: bool
    sandbox: bool  # the workers ran in bubblewrap (--batt-sandbox)


class Config(TypedDict, total=False):
    timeout_s: float
    workers: int
    shard: Shard  # only with --batt-shard K/N
    protections: Protections


class Session(TypedDict, total=False):
    wall_s: float
    item_s: float
    process_s: float
    complete: bool
    shards: Dict[str, Any]  # only in a merged file


class DEntry(TypedDict):
    last_t: Optional[int]
    iz: int
    zo: int


class SEntry(TypedDict):
    iz: Dict[str, int]
    zo: Dict[str, int]


class Solved(TypedDict):
    oracle: bool
    at_2: bool


class TaskEntry(TypedDict, total=False):
    samples: List[Sample]
    o_score: Dict[str, int]  # solver id -> hits
    d_score: Dict[str, Dict[str, DEntry]]  # solver id -> differ -> entry
    s_score: Dict[str, SEntry]  # differ -> iz/zo -> solver id -> count
    solved: Solved
    seconds: float
    sha256: str  # the task's content hash
    error: str  # only for a task whose data is invalid


class Quarantined(TypedDict):
    """A program that ended or hung its process (``programs/offenders.py``): where, and how."""

    solver_id: str
    status: str  # "crash" or "timeout"
    task: str
    kind: str
    index: int
    error: str


class ResultsFile(TypedDict, total=False):
    schema: int
    tool: Tool
    created: str
    machine: Machine
    batt: Batt
    data: Data
    config: Config
    session: Session
    tasks: Dict[str, TaskEntry]  # task id -> entry
    quarantined: List[Quarantined]  # only for a library with programs that ended or hung their process
    comparison: Dict[str, Any]  # only with --batt-compare


class ResultsError(ValueError):
    """A results file cannot be read or is not schema 1; the message names the file."""


def machine_info() -> Dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count() or 1,
    }


def header(*, batt_module: str, batt_sha256: str, data_name: str, data_sha256: str, timeout_s: float, workers: int) -> Dict[str, Any]:
    """Everything but the session and tasks, which are known only at the end of a run."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "pytest-batt", "version": __version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "batt": {"module": batt_module, "sha256": batt_sha256},
        "data": {"name": data_name, "sha256": data_sha256},
        "config": {"timeout_s": timeout_s, "workers": workers},
    }


def chunks(results: Dict[str, Any]) -> Iterator[str]:
    """The compact JSON text of ``results`` plus a newline, one task at a time.

    Exactly ``json.dumps(results, separators=(",", ":")) + "\\n"``, but the whole text (63 MB
    for the 800 ARC-AGI-1 tasks) is never one string: the controller writing it needs only
    one task's text beyond the results it already holds. ``tasks`` may be any mapping; a
    spill.TaskView in it (a task kept on disk) is copied as stored text, never parsed.
    """
    dump = spill.dumps  # the one compact encoder: a task's stored text and the rest are written alike
    if not results:
        yield "{}\n"
        return
    for i, (key, value) in enumerate(results.items()):
        yield ("{" if i == 0 else ",") + dump(key) + ":"
        if key == "tasks" and isinstance(value, Mapping) and value:
            for j, (tid, task) in enumerate(value.items()):  # a stored task: its text as stored, not parsed
                yield ("{" if j == 0 else ",") + dump(tid) + ":" + (task.text() if isinstance(task, spill.TaskView) else dump(task))
            yield "}"
        else:
            yield dump(value)
    yield "}\n"


def write(path: str, results: Dict[str, Any]) -> None:
    """Write to a temporary file beside ``path`` and rename it, so readers never see half a file.

    The JSON is compact (a full ARC-AGI-1 half is tens of MB of d_score) and written a task at a
    time; a path ending in ``.gz`` is gzip-compressed, about twenty times smaller.
    """
    with files.atomic_open(path, ".json.tmp") as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if path.endswith(".gz") else raw
        with out:
            for chunk in chunks(results):
                out.write(chunk.encode())


# --- reading: one reader, a task at a time ----------------------------------------------------
# A results file is input (a CI artifact, another machine's baseline): a few MB of gzip can expand
# to gigabytes. Every reader reads it one top-level value at a time, and one task at a time inside
# ``tasks``, each value whole but under the ceiling below: ``load`` keeps each task on disk
# (a spill.TaskStore: the small part of each task plus one whole task in memory), ``read`` keeps
# them all in memory for callers that want the whole file. The same checks and the same errors
# either way; the ceiling is per task, never per file.

# The most JSON one task's entry (or any other top-level value) may take, decompressed, and so the
# most a reader holds at once: far above real ones (a 300-solver battery writes about 1.2 MB per
# task), far below what would exhaust a CI machine's memory. A whole file may be far larger (1,120
# tasks of a 300-solver battery: about 1.3 GB).
MAX_TASK_MB = 64
MAX_TASK_VARIABLE = "PYTEST_BATT_MAX_TASK_MB"  # set it to read a file with larger task entries
# The whole file, decompressed: far above real ones, there only so that a decompression bomb of
# many small tasks cannot fill the disk the tasks are spilled to.
MAX_FILE_CHARS = 16 * 2**30
_READ_CHARS = 4 << 20  # bytes read at a time (while under the ceiling)
_WS = " \t\n\r"


def ceiling() -> int:
    """How many bytes of JSON one task's entry may take (``PYTEST_BATT_MAX_TASK_MB``, else 64 MiB):
    what any reader of results files holds at once.

    The one place the ceiling is decided, for every reader of results files."""
    text = os.environ.get(MAX_TASK_VARIABLE, "").strip()
    if not text:
        return MAX_TASK_MB << 20
    try:
        mb = float(text)
    except ValueError:
        mb = -1.0
    if not 0 < mb < float(1 << 40):
        raise ResultsError(f"{MAX_TASK_VARIABLE}={text!r}: not a positive number of MiB")
    return int(mb * (1 << 20))


class _Incomplete(Exception):
    """The value runs past the text read so far."""


class _Stream:
    """The decoded text of a (maybe gzipped) file, parsed one top-level value at a time.

    It never holds more than the ceiling past the value it parses (plus what one read adds), so a
    decompression bomb costs at most the ceiling's memory and the seconds to reach it."""

    def __init__(self, path: str, limit: int, name: str) -> None:
        self.name, self.limit = name, limit  # name: how messages call the file (iter_file's ``where``)
        if not stat.S_ISREG(os.stat(path).st_mode):  # before opening it: opening a FIFO waits for a writer
            raise ResultsError(f"{name}: not a regular file (a device, FIFO or directory)")
        self._raw = open(path, "rb")  # closed by close()
        self._binary: Any = gzip.GzipFile(fileobj=self._raw, mode="rb") if self._raw.read(2) == b"\x1f\x8b" else self._raw
        self._raw.seek(0)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof, self.lines, self.total = "", 0, False, 1, 0
        self._decode = json.JSONDecoder().raw_decode

    def close(self) -> None:
        if self._binary is not self._raw:
            self._binary.close()
        self._raw.close()

    def _more(self, at_least: int) -> bool:
        held = len(self.buf) - self.pos
        size = max(_READ_CHARS, at_least)
        if held + size > self.limit:  # enough to tell that the value passes the ceiling, and no more
            size = max(self.limit + 1 - held, 1)
        data = self._binary.read(size)
        chunk = self._utf8.decode(data, final=not data)
        if not data:
            self.eof = True
            if not chunk:
                return False
        self.total += len(chunk)
        if self.total > MAX_FILE_CHARS:
            raise ResultsError(f"{self.name}: more than {MAX_FILE_CHARS / 2**30:g} GiB of JSON (results.MAX_FILE_CHARS), "
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
            if self.pos < len(self.buf) or self.eof or not self._more(0):
                return self.buf[self.pos:self.pos + 1]

    def take(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self.invalid(f"Expecting {what}", self.pos)
        self.pos += 1
        return c

    def invalid(self, msg: str, pos: int) -> ResultsError:
        line = self.lines + self.buf.count("\n", 0, pos)
        return ResultsError(f"{self.name}: not valid JSON ({msg} at line {line})")

    def too_big(self, what: str) -> ResultsError:
        return ResultsError(f"{self.name}: {what} expands past the {self.limit / 2**20:g} MiB a results file may hold at once "
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
                raise ResultsError(f"{self.name}: JSON nested too deeply to be a results file") from None


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


def _not_results(name: str, found: Any) -> ResultsError:
    return ResultsError(f"{name}: not a pytest-batt results file of schema {SCHEMA} (schema: {found!r})")


def iter_file(path: str, limit: Optional[int] = None, where: Optional[str] = None) -> Iterator[Tuple[str, str, Any]]:
    """The file's top-level keys in order: ``("key", name, value)``, except for the ``tasks``
    object: ``("tasks", "tasks", None)``, then ``("task", task_id, entry)`` for each of its tasks,
    one at a time. Memory: one value, at most ``limit`` (:func:`ceiling`) characters of JSON.

    ``where``: how each message starts, the path by default; the plugin gives ``--batt-compare PATH``,
    so that the error names the option, as every option's error does."""
    name = path if where is None else where
    try:
        stream = _Stream(path, ceiling() if limit is None else limit, name)
    except FileNotFoundError:
        raise ResultsError(f"{name}: no such results file") from None
    except OSError as e:
        raise ResultsError(f"{name}: cannot be read ({e})") from None
    try:
        if stream.peek() != "{":  # not an object: not JSON, or JSON of another kind
            other = stream.value("the file")
            if stream.peek():
                raise stream.invalid("Extra data", stream.pos)
            raise _not_results(name, type(other).__name__)
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
        raise ResultsError(f"{name}: cannot be read ({e})") from None
    except MemoryError:
        raise ResultsError(f"{name}: too large for the memory this process may use") from None
    finally:
        stream.close()


def read(path: str, where: Optional[str] = None) -> Dict[str, Any]:
    """A results file (gzip or not), whole in memory, checked to be schema 1; :class:`ResultsError`
    in one line otherwise. Read by the one reader (:func:`iter_file`), as :func:`load` reads it."""
    return _gather(path, dict, None, where)


def load(path: str, directory: Optional[str] = None, limit: Optional[int] = None, where: Optional[str] = None) -> Dict[str, Any]:
    """``read``'s dict, with ``tasks`` a spill.TaskStore (in ``directory``, or the system's
    temporary one): the same keys and values, the scores of each task on disk until asked for.
    What the plugin and the commands read files with."""
    return _gather(path, lambda: spill.TaskStore(directory), limit, where)


def _gather(path: str, new_tasks: Callable[[], Any], limit: Optional[int], where: Optional[str]) -> Dict[str, Any]:
    """The file's keys in order; its tasks in ``new_tasks()`` (a dict, or a spill.TaskStore)."""
    data: Dict[str, Any] = {}
    tasks: Any = None
    name = path if where is None else where
    for kind, key, value in iter_file(path, limit, where):
        if kind == "tasks":
            _check_head(name, data, before_tasks=True)
            tasks = data[key] = new_tasks()
        elif kind == "key":
            data[key] = value
        else:
            if not isinstance(value, dict):
                raise ResultsError(f"{name}: task {key!r} is not an object")
            if isinstance(tasks, spill.TaskStore):
                tasks.put(key, value)
            else:
                tasks[key] = value
    _check_head(name, data)
    return data


def _check_head(name: str, data: Dict[str, Any], before_tasks: bool = False) -> None:
    """The file's checks; ``before_tasks``: only those the keys before ``tasks`` can fail (the schema)."""
    if before_tasks:
        if "schema" in data and data["schema"] != SCHEMA:
            raise _not_results(name, data["schema"])
        return
    if data.get("schema") != SCHEMA:
        raise _not_results(name, data.get("schema"))
    for key in ("batt", "data", "config", "session", "tasks"):
        if not isinstance(data.get(key), (dict, spill.TaskStore)):
            raise ResultsError(f"{name}: results file has no {key!r} object")
