"""The results file: schema 1, written atomically, read back with one clear error when unusable."""

from __future__ import annotations

import datetime
import functools
import gzip
import json
import os
import platform
from typing import Any, Dict, Iterator, List, Optional, TypedDict

from . import __version__, files

SCHEMA = 1


# --- the file's shape (schema 1), as the README's "Results file" section shows it ------------
# Typing only: the file stays plain JSON. tests/test_results.py checks that a real run's file,
# these types and the README list the same keys.

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


class Config(TypedDict, total=False):
    timeout_s: float
    workers: int
    shard: Shard  # only with --batt-shard K/N


class Session(TypedDict, total=False):
    wall_s: float
    item_s: float
    process_s: float
    complete: bool
    shards: Dict[str, Any]  # only in a merged file


class Sample(TypedDict, total=False):
    kind: str
    index: int
    status: str
    candidates: int
    matched: List[str]
    calls: int
    seconds: float
    cpu_seconds: float
    error: Optional[str]
    fold: Dict[str, Any]  # only in a task not finished: what --batt-resume refolds


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
    one task's text beyond the results it already holds.
    """
    dump = functools.partial(json.dumps, separators=(",", ":"))
    if not results:
        yield "{}\n"
        return
    for i, (key, value) in enumerate(results.items()):
        yield ("{" if i == 0 else ",") + dump(key) + ":"
        if key == "tasks" and isinstance(value, dict) and value:
            for j, (tid, task) in enumerate(value.items()):
                yield ("{" if j == 0 else ",") + dump(tid) + ":" + dump(task)
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


def read(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:  # gzip errors are OSError/EOFError
        raise ResultsError(f"{path}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise ResultsError(f"{path}: JSON nested too deeply to be a results file") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(f"{path}: not a pytest-batt results file of schema {SCHEMA} (schema: {found!r})")
    for key in ("batt", "data", "config", "session", "tasks"):
        if not isinstance(data.get(key), dict):
            raise ResultsError(f"{path}: results file has no {key!r} object")
    return data
