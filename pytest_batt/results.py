"""The results file (schema 1, written atomically, read back with one clear error when unusable)
and the sample records it is made from."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import platform
import stat
import zlib
from typing import Any, Dict, Iterator, List, Mapping, Optional, TypedDict, cast

from . import __version__, files, grids, spill

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


class SampleCore(TypedDict):
    """What every sample has, in the file and in its record (below); the file keeps exactly these."""

    kind: str  # "demo" or "test"
    index: int
    status: str  # a record's is "ok" until the controller judges it
    candidates: int
    matched: List[str]
    calls: int
    seconds: float
    cpu_seconds: float
    error: Optional[str]
    message: Optional[str]  # why an unsolved sample missed: the first lines of its failure
    memory_mb: Optional[float]  # peak resident memory of its process during its calls (isolation.peak_memory)
    gpu: Optional[str]  # the CUDA_VISIBLE_DEVICES its process ran with (--batt-gpus gives each worker one device)
    vram_mb: Optional[float]  # GPU memory its process held at its end (isolation.peak_vram; None without NVML)
    vram_peak_mb: Optional[float]  # the largest GPU memory sampled while it ran
    vram_scope: Optional[str]  # what those read: "process" (this process's own) or "device" (its device's used memory)


SAMPLE_KEYS = tuple(SampleCore.__annotations__)
STATUSES = ("solved", "unsolved", "unscored", "timeout", "error", "crash", "missing")  # a sample's, in a file


class Sample(SampleCore, total=False):
    # test samples, once their task's demo scores rank them: the two attempts, best first, as
    # [solver_id, grid]; what a resumed run's submission and report take from the file
    attempts: List[List[Any]]
    fold: Dict[str, Any]  # only in a task not finished: what --batt-resume refolds (resume.fold_data)
    kept: int  # --batt-keep-partial: candidates a timed-out solve call had found, judged and scored


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


# --- a sample's record -------------------------------------------------------------------------
# Built by the process that ran the sample (runner.run_sample in a worker, phase3, the thread
# design), judged and kept by the controller (judging, battrun), and written to the file as
# sample_entry(record). Builtin types only: it travels on xdist's test reports as JSON.

class _RecordCore(SampleCore):
    task: str


class SampleRecord(_RecordCore, total=False):
    # the worker's
    cands: List[List[Any]]  # [solver_id, grid fingerprint or None, count]: distinct pairs, batt order
    grids: Dict[str, str]  # test samples: fingerprint -> grids.encode(grid), for the controller to judge
    show: Optional[List[List[str]]]  # a miss's closest candidates, [solver_id, encoded grid]
    invalid: List[List[str]]  # test samples: why the nearest invalid candidates are no grids, [solver_id, why] (judging's)
    d: Dict[str, Dict[str, List[Any]]]  # solver -> differ -> [iz, zo, created]: scoring.SampleFold
    differ_last_t: Dict[str, Any]  # differ -> last_t of its last own row so far; "last_t" in a file's fold
    leaked_threads: List[str]  # threads the batt left running (items.py takes them out)
    kept: int  # --batt-keep-partial: candidates a timed-out solve call had found (partial.py)
    profile: Dict[str, Any]  # --batt-profile: profiling.SampleProfile.finish()
    # the controller's (judging.judge, battrun)
    o: Dict[str, int]  # o_score hits of this sample
    expected: Optional[str]  # the expected output's fingerprint
    ranked: List[List[str]]  # test samples: [solver_id, fingerprint] of valid candidates, batt order
    attempts: List[List[str]]  # test samples: the two attempts, [solver_id, encoded grid]


def new_record(task_id: str, kind: str, index: int, *, status: str = "ok", error: Optional[str] = None,
               calls: int = 0, seconds: float = 0.0) -> SampleRecord:
    """A sample's record as every producer starts it: nothing found, nothing matched yet."""
    return {"task": task_id, "kind": kind, "index": index, "status": status, "error": error, "message": None,
            "candidates": 0, "matched": [], "calls": calls, "seconds": seconds, "cpu_seconds": 0.0, "memory_mb": None,
            "gpu": None, "vram_mb": None, "vram_peak_mb": None, "vram_scope": None}


def add_error(rec: SampleRecord, note: str) -> None:
    """Append ``note`` to the record's error text, after what it already says."""
    rec["error"] = "; ".join(filter(None, [rec["error"], note]))


def sample_entry(rec: Mapping[str, Any], fold: Optional[Dict[str, Any]] = None) -> Sample:
    """A record as the results file keeps the sample; ``fold``: what resuming needs (a task not finished)."""
    entry: Dict[str, Any] = {k: rec.get(k) for k in SAMPLE_KEYS}
    if "kept" in rec:
        entry["kept"] = rec["kept"]
    if "attempts" in rec:
        entry["attempts"] = [[sid, grids.decode(enc)] for sid, enc in rec["attempts"]]
    if fold is not None:
        entry["fold"] = fold
    return cast(Sample, entry)


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


# The most JSON one task's entry may take, decompressed (and so the most a reader holds at once):
# far above real ones (a 300-solver battery writes about 1.2 MB per task), far below what would
# exhaust a CI machine's memory. A results file is input (a CI artifact, another machine's
# baseline): a few MB of gzip can expand to gigabytes. Files are read task by task (``load``), so
# a whole file may be far larger (1,120 tasks of a 300-solver battery: about 1.3 GB).
MAX_TASK_MB = 64
MAX_TASK_VARIABLE = "PYTEST_BATT_MAX_TASK_MB"  # set it to read a file with larger task entries
_CHUNK = 1 << 20


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


def _too_big(path: str, limit: int, what: str) -> ResultsError:
    return ResultsError(f"{path}: {what} past the {limit / (1 << 20):g} MiB a results file may hold at once (a decompression "
                        f"bomb, or not a results file); set {MAX_TASK_VARIABLE} to read a larger one")


def _bounded_bytes(path: str) -> bytes:
    """The file's JSON bytes, gunzipped when it is gzip, refused past :func:`ceiling` without ever
    holding more than it: a gzip file is read a chunk at a time and refused as soon as it passes,
    so a decompression bomb costs at most the ceiling's memory and the seconds to reach it."""
    limit = ceiling()
    if not stat.S_ISREG(os.stat(path).st_mode):  # before opening it: opening a FIFO waits for a writer
        raise ResultsError(f"{path}: not a regular file (a device, FIFO or directory)")
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if f.read(2) != b"\x1f\x8b":
            if st.st_size > limit:
                raise _too_big(path, limit, f"{st.st_size / (1 << 20):.0f} MiB of JSON,")
            f.seek(0)
            raw = f.read(limit + 1)  # bounded even if the file grew since fstat
            if len(raw) > limit:
                raise _too_big(path, limit, "JSON")
            return raw
        f.seek(0)
        chunks, size = [], 0
        with gzip.GzipFile(fileobj=f, mode="rb") as gz:
            while True:
                chunk = gz.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise _too_big(path, limit, "expands")
                chunks.append(chunk)
        return b"".join(chunks)


def read(path: str) -> Dict[str, Any]:
    """A results file (gzip or not), checked to be schema 1; :class:`ResultsError` in one line otherwise."""
    try:
        raw = _bounded_bytes(path)
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:  # gzip errors are OSError/EOFError
        raise ResultsError(f"{path}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise ResultsError(f"{path}: JSON nested too deeply to be a results file") from None
    except MemoryError:
        raise ResultsError(f"{path}: too large for the memory this process may use") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(f"{path}: not a pytest-batt results file of schema {SCHEMA} (schema: {found!r})")
    for key in ("batt", "data", "config", "session", "tasks"):
        if not isinstance(data.get(key), dict):
            raise ResultsError(f"{path}: results file has no {key!r} object")
    return data


def load(path: str, directory: Optional[str] = None, limit: Optional[int] = None) -> Dict[str, Any]:
    """``read``'s dict, read one task at a time (its ``tasks`` a spill.TaskStore in ``directory``):
    what every reader of results files uses; the ceiling is per task. See :mod:`results_stream`."""
    from .results_stream import load_tasks

    return load_tasks(path, directory, limit)
