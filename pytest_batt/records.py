"""A sample's record, and the entry the results file keeps of it.

The record is built by the process that ran the sample (``runner.run_sample`` in a worker,
phase3, the thread design), judged and kept by the controller (``judging``, ``battrun``), and
written to the file as :func:`sample_entry` of it. Apart from the results file
(:mod:`pytest_batt.results`) because every side makes records and only the controller writes
or reads files. Builtin types only: a record travels on xdist's test reports as JSON.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, TypedDict, cast

from . import grids

# --- a sample in the results file (results.TaskEntry's samples) ----------------------------------

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


# --- a sample's record (the module's docstring says who makes it and who keeps it) ---------------

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
