"""Running one sample: the solve call, the diff calls it needs, and the sample's record.

No pytest here. Each call goes through the caller's :class:`~pytest_batt.isolation.guard.Guard`
(the plugin's is built on pytest-timeout and a watchdog process; the plain one limits only
memory). The result of a sample is a *record*: builtin types only, because it travels from
an xdist worker to the controller on the test report. Loading the batt is
:mod:`pytest_batt.battmodule`, reading what it returns :mod:`pytest_batt.contract`, and what
keeps one call from harming the next :mod:`pytest_batt.isolation`.
"""

from __future__ import annotations

import os
import threading
import time
from types import CodeType
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import failures, gpus, grids, partial
from .contract import Candidate, ContractError, no_grid_reasons, normalise_candidates, normalise_rows, split
from .isolation import handoff, processes
from .isolation.guard import Call, Guard, call_batt, no_guard
from .isolation.peak_memory import SampleMemory
from .isolation.peak_vram import VramMeter
from .isolation.threads import stop_threads
from .records import SampleRecord, add_error, new_record
from .scoring import SampleFold, summarise_rows
from .tasks import Sample, Task

Checkpoint = Callable[[SampleRecord, str], None]
MAX_LIBRARY_CALLS = 8  # solve calls of one sample of a program library: the first and one after each stalled program


def run_sample(func: Callable[..., Any], task: Task, sample: Sample, guard: Guard = no_guard,
               log_path: str = os.devnull, checkpoint: Optional[Checkpoint] = None, *,
               profile_path: Optional[str] = None, keep_partial: bool = False, vram: Optional[VramMeter] = None,
               tree: Optional[processes.Tree] = None) -> SampleRecord:
    """Solve one sample and fold its differ rows; returns the sample's record.

    ``checkpoint``, if given, receives the record as it stands after the solve call (its diff
    rows not yet folded), so a process that is ended during a diff call does not lose what
    the solve call found. ``rec["leaked_threads"]`` names threads the batt started that could
    not be stopped. ``profile_path``: profile the batt calls into this pstats file
    (``--batt-profile``; ``rec["profile"]`` sums it up). ``keep_partial``: a call that times out
    keeps what the batt's frame held (``--batt-keep-partial``, :mod:`pytest_batt.partial`).
    ``vram``: this process's GPU memory meter, where NVML is there (:mod:`.isolation.peak_vram`).
    ``tree``: the process's descendants kept from sample to sample (one read of them a sample).
    """
    threads_before = threading.enumerate()
    tree = tree if tree is not None else processes.Tree()
    procs_before = tree.before()
    code = partial.batt_code(func) if keep_partial else None
    rowless = getattr(func, "differs", True) is False  # a program library: no differ rows to ask for, no diff call
    library = func if rowless and hasattr(func, "go_on") else None  # read before a profiler wraps it
    profile = None
    if profile_path is not None:
        from .profiling import SampleProfile  # only with --batt-profile (the caller imported it before the integrity snapshot)

        profile = SampleProfile(profile_path)
        func = profile.wrap(func)
    rec = _run_sample(func, task, sample, guard, log_path, checkpoint, code, vram, rowless, library)
    if profile is not None:
        rec["profile"] = profile.finish()
    leaked = stop_threads(threads_before)
    if leaked:
        rec["leaked_threads"] = leaked
    ended = tree.end_new(procs_before)
    if ended:
        note = f"the batt left {len(ended)} process(es) running; they were ended: {', '.join(ended[:5])}"
        add_error(rec, note)
    return rec


def _keeper(code: Optional[CodeType], name: str) -> Optional[Callable[[BaseException], Any]]:
    return None if code is None else (lambda e: partial.kept(e, code, name))


def _go_on_after_stalls(library: Any, func: Callable[..., Any], guard: Guard, args: Tuple[Any, ...], parse: Callable[[Any], Any],
                        solve: Call) -> Tuple[Call, Optional[List[Candidate]], int]:
    """A program library whose call its own timeout ended while a program ran: that program is
    noted as timed out, what the programs before it returned is kept, and the programs after it
    run in a new call, so one program without a limit of its own costs its sample one
    ``--batt-timeout``, not the other programs' results. Returns the outcome, the candidates kept
    if it still timed out (:data:`MAX_LIBRARY_CALLS` reached), and the number of calls added."""
    found: List[Candidate] = []
    calls = 1
    while solve.status == "timeout":
        more = library.go_on()
        if more is None:  # no program was running: the sample times out as any batt call does
            return solve, (found or None), calls - 1
        found += parse((tuple(library.returned), ()))
        if not more:  # the stalled program was the last: every other one has run
            return Call("ok", found), None, calls - 1
        if calls >= MAX_LIBRARY_CALLS:
            return Call("timeout", message=f"{solve.message}; {calls} calls, the most a sample gets"), found, calls - 1
        calls += 1
        solve = call_batt(func, guard, "solve call (the programs after a stalled one)", args, parse)
    if solve.status == "ok":
        return Call("ok", found + solve.value), None, calls - 1
    return solve, (found or None), calls - 1


def _kept_candidates(kept: Any, keys: bool) -> Tuple[Optional[List[Candidate]], str]:
    """The candidates a timed-out solve call had appended, normalised, and the note saying so."""
    if kept is None:
        return None, f"kept nothing: no list named {partial.CANDIDATES!r} in the batt's frame (--batt-keep-partial)"
    try:
        cands = normalise_candidates(kept, keys)
    except ContractError as e:
        return None, f"kept nothing: what the batt had appended breaks the contract: {e} (--batt-keep-partial)"
    return cands, f"kept {len(cands)} candidate(s) the batt had found before the timeout (--batt-keep-partial)"


def _run_sample(func: Callable[..., Any], task: Task, sample: Sample, guard: Guard, log_path: str,
                checkpoint: Optional[Checkpoint], code: Optional[CodeType] = None, vram: Optional[VramMeter] = None,
                rowless: bool = False, library: Any = None) -> SampleRecord:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    memory = SampleMemory()
    memory.start()
    if vram is not None:
        vram.start()
    S, I = task.S, sample.input
    rec = new_record(task.id, sample.kind, sample.index, calls=1)
    rec["gpu"] = os.environ.get(gpus.VARIABLE)  # as the batt saw it (--batt-gpus set it in the worker)
    rec["d"], rec["differ_last_t"] = {}, {}
    keys = sample.kind == "test"
    parse = lambda r: normalise_candidates(split(r)[0], keys)  # noqa: E731
    solve = call_batt(func, guard, "solve call", (task.id, S, I, None, log_path), parse, keep=_keeper(code, partial.CANDIDATES))
    kept_by_library: Optional[List[Candidate]] = None
    if solve.status == "timeout" and library is not None:
        solve, kept_by_library, more = _go_on_after_stalls(library, func, guard, (task.id, S, I, None, log_path), parse, solve)
        rec["calls"] += more
    found: Optional[List[Candidate]] = solve.value if solve.status == "ok" else None
    if solve.status != "ok":
        rec["status"], rec["error"] = solve.status, solve.message
        if solve.status == "timeout" and code is not None:
            found, note = _kept_candidates(solve.value, keys)
            add_error(rec, note)
            if found is not None:
                rec["kept"] = len(found)
        elif kept_by_library:
            found = kept_by_library
            rec["kept"] = len(found)
    if found is not None:
        cands: List[Candidate] = found
        rec["candidates"] = len(cands)
        fp_of: Dict[int, Optional[str]] = {}
        counts: Dict[Tuple[str, Optional[str]], int] = {}
        grid_of: Dict[str, grids.Grid] = {}
        for c in cands:
            fp = fp_of.get(id(c.grid), "")
            if fp == "":
                fp = fp_of[id(c.grid)] = grids.fingerprint(c.grid) if c.grid is not None else None
                if fp is not None and c.grid is not None:
                    grid_of[fp] = c.grid
            counts[(c.solver_id, fp)] = counts.get((c.solver_id, fp), 0) + 1
        # What the controller judges from: distinct (solver, grid) pairs in batt order, with counts.
        rec["cands"] = [[sid, fp, n] for (sid, fp), n in counts.items()]
        invalid = no_grid_reasons(cands) if any(fp is None for _, fp in counts) else []
        if sample.kind == "test":  # the grids themselves: the controller judges them (it alone knows the output)
            rec["grids"] = {fp: grids.encode(g) for fp, g in grid_of.items()}
            if invalid:
                rec["invalid"] = invalid
        elif sample.output is not None and grid_of.get(grids.fingerprint(sample.output)) != sample.output:
            entries = [(sid, grid_of.get(fp) if fp else None, n) for (sid, fp), n in counts.items()]
            rec["message"] = failures.describe_miss(sample.output, entries, invalid)
            rec["show"] = failures.show(sample.output, entries)
        if checkpoint is not None and not rowless:  # no diff call follows: the final one will do
            so_far = rec.copy()
            so_far["seconds"], so_far["cpu_seconds"] = round(time.perf_counter() - wall0, 6), round(time.process_time() - cpu0, 6)
            so_far["memory_mb"] = memory.stop()[0]
            checkpoint(so_far, handoff.STAGE_SOLVED)
        diff_errors = None if rowless else _fold_diffs(func, guard, task, sample, cands, rec, log_path, code)
        if diff_errors and rec["status"] == "timeout":  # kept candidates: the solve call's timeout comes first
            add_error(rec, diff_errors)
        elif diff_errors:
            rec["error"] = diff_errors
    rec["seconds"] = round(time.perf_counter() - wall0, 6)
    rec["cpu_seconds"] = round(time.process_time() - cpu0, 6)
    rec["memory_mb"] = memory.stop()[0]
    if vram is not None:
        rec["vram_mb"], rec["vram_peak_mb"], rec["vram_scope"] = vram.stop()
    if checkpoint is not None:
        checkpoint(rec, handoff.STAGE_FINAL)  # before what the batt returned is dropped (finalizers may hang)
    return rec


def _fold_diffs(func: Callable[..., Any], guard: Guard, task: Task, sample: Sample,
                cands: List[Candidate], rec: SampleRecord, log_path: str, code: Optional[CodeType] = None) -> Optional[str]:
    """Phase 3's diff calls, each made once and folded for every candidate it stands for.

    Demo: Phase 3 diffs against the expected output once per candidate, always the same
    arguments, so one call serves all. Test: Phase 3 diffs against each candidate's own
    value, whatever it is (``()``, a grid of floats, ``None``); one call per distinct value.
    """
    problems: List[str] = []
    kept_rows: List[int] = []  # --batt-keep-partial: diff calls that timed out but kept rows

    def diff(label: str, C: Any) -> Optional[Any]:
        rec["calls"] += 1
        call = call_batt(func, guard, label, (task.id, task.S, sample.input, C, log_path), lambda r: normalise_rows(split(r)[1]),
                         keep=_keeper(code, partial.ROWS))
        if call.status != "ok":
            problems.append(call.message or call.status)
            if call.status == "timeout" and call.value is not None:  # --batt-keep-partial: the rows found so far
                try:
                    rows = normalise_rows(call.value)
                except ContractError:
                    return None
                problems[-1] += f" (kept its first {len(rows)} differ row(s))"
                kept_rows.append(len(rows))
                return summarise_rows(rows)
            return None
        return summarise_rows(call.value)

    fold = SampleFold()
    if sample.kind == "demo":
        summary = diff("diff call", sample.output) if cands else None
        for c in cands:
            fold.add_pass(c.solver_id, summary)
    else:
        first: Dict[Any, Any] = {}  # diff key -> the value of its first candidate, in batt order
        for c in cands:
            first.setdefault(c.diff_key, c.value)
        summaries = {key: diff(f"diff call {n}/{len(first)}", value) for n, (key, value) in enumerate(first.items(), 1)}
        for c in cands:
            fold.add_pass(c.solver_id, summaries[c.diff_key])
    rec["d"], rec["differ_last_t"] = fold.to_record()
    if not problems:
        return None
    if kept_rows:
        return f"{len(problems)} diff call(s) failed, {len(kept_rows)} of them kept differ rows; first: {problems[0]}"
    return f"{len(problems)} diff call(s) failed and contribute nothing; first: {problems[0]}"
