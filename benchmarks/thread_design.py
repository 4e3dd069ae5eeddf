"""THE OLD DESIGN, kept only as a benchmark contender: the seed's thread-based "Phase 4" runner.

This is NOT part of pytest-batt and must not be used to score anything. It reproduces the
seed's execution model so that ``benchmarks/run.py`` can measure pytest-batt against it:

* one ``ThreadPoolExecutor(max_workers=5)`` over the demo samples of a task;
* every batt call made through its own daemon thread, joined with the per-call timeout;
  a thread that times out is abandoned and keeps running (it cannot be stopped);
* an exception raised by the batt is counted as a timeout;
* the diff call is repeated once per candidate (as Phase 3 does: against the expected output
  on a demo sample, against the candidate's value as the batt returned it on a test sample);
* the test samples run one after another.

``--dedup`` keeps all of that but makes pytest-batt's calls instead of Phase 3's: a demo
sample 1 solve + 1 diff call, a test sample 1 solve + 1 diff call per distinct candidate
value (``pytest_batt.contract.diff_key``). Set beside pytest-batt, it shows what processes and
timeouts buy, apart from the calls saved (``thread-dedup`` in ``run.py``).

Two seed defects are deliberately *not* reproduced, so that its scores can be compared with
Phase 3's and only the execution model differs: the per-call timeout is the one given
(the seed hard-coded 1 s), and each demo differ row is folded under its own candidate's
solver id (the seed used the first candidate's). Scores follow the Phase 3 rules and are
folded in sample order; the results file is schema 1, written by ``pytest_batt.results``.

Usage (what run.py calls)::

    python benchmarks/thread_design.py --batt IDS [--batt-data D] [--batt-module M]
        [--batt-timeout S] --json PATH [--linger SECONDS] [--dedup]

After writing the results it prints ``BENCH-DONE {json}`` (wall time, process CPU), then
stays alive ``--linger`` seconds so the CPU still burnt by abandoned threads can be
measured, prints ``BENCH-LINGER {json}`` and ends with ``os._exit`` (daemon threads die).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pytest_batt import battmodule, records, results
from pytest_batt.phase3 import d_update, pass_at_2, s_snapshot  # the Phase 3 rules: only the execution model differs
from pytest_batt.contract import Candidate, ContractError, normalise_candidates, normalise_rows, split
from pytest_batt.tasks import BattDataError, Sample, Task, TaskSet, load_taskset, select

_abandoned = 0  # calls whose thread was still running when its join timed out
_abandoned_lock = threading.Lock()


def call_in_thread(func: Callable[..., Any], args: tuple, timeout: float) -> Optional[Any]:
    """The seed's run_with_timeout: a daemon thread per call; None on timeout *or* exception."""
    box: List[Any] = []

    def target() -> None:
        try:
            box.append(func(*args))
        except BaseException:  # the seed recorded any exception as a timeout
            pass

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        global _abandoned
        with _abandoned_lock:
            _abandoned += 1
        return None
    return box[0] if box else None


def _cands(result: Any, keys: bool = False) -> Optional[List[Candidate]]:
    if result is None:
        return None
    try:
        return normalise_candidates(split(result)[0], keys)
    except ContractError:
        return None


def _rows(result: Any) -> Optional[list]:
    if result is None:
        return None
    try:
        return normalise_rows(split(result)[1])
    except ContractError:
        return None


def run_sample(func: Callable[..., Any], task: Task, sample: Sample, timeout: float, log_path: str,
               dedup: bool = False) -> Dict[str, Any]:
    """One sample, seed style: the solve call, then the diff calls. Nothing folded here.

    Seed: the diff call once per candidate, as Phase 3 makes it (against the expected output on a
    demo sample, against the candidate's value as returned on a test sample). ``dedup``: the
    calls pytest-batt makes for the same scores: one diff call per demo sample (when it has
    candidates), one per distinct candidate value on a test sample (``contract.diff_key``); the
    rows of a call stand for every candidate it was made for, folded in candidate order.
    """
    wall0 = time.perf_counter()
    S, I, O = task.S, sample.input, sample.output
    rec = records.new_record(task.id, sample.kind, sample.index, status="unsolved", calls=1)
    test = sample.kind == "test"
    cands = _cands(call_in_thread(func, (task.id, S, I, None, log_path), timeout), keys=dedup and test)
    passes: List[Tuple[str, Optional[list]]] = []
    if cands is None:
        rec["status"], rec["error"], cands = "timeout", "solve call timed out or raised (seed: same thing)", []
    else:
        rec["candidates"] = len(cands)
        rec["matched"] = list(dict.fromkeys(c.solver_id for c in cands if c.grid is not None and c.grid == O))
        rec["status"] = "solved" if rec["matched"] else "unsolved"

        def diff(C: Any) -> Optional[list]:
            rec["calls"] += 1
            return _rows(call_in_thread(func, (task.id, S, I, C, log_path), timeout))

        if not dedup:
            passes = [(c.solver_id, diff(c.value if test else O)) for c in cands]
        elif not test:
            rows = diff(O) if cands else None
            passes = [(c.solver_id, rows) for c in cands]
        else:
            first: Dict[Any, Any] = {}  # diff key -> the value of its first candidate, in batt order
            for c in cands:
                first.setdefault(c.diff_key, c.value)
            made = {key: diff(value) for key, value in first.items()}
            passes = [(c.solver_id, made[c.diff_key]) for c in cands]
    rec["seconds"] = round(time.perf_counter() - wall0, 6)
    return {"rec": records.sample_entry(rec), "cands": cands, "passes": passes}


def score_task(func: Callable[..., Any], task: Task, timeout: float, log_path: str, dedup: bool = False) -> Dict[str, Any]:
    o_score: Dict[str, int] = {}
    d_score: Dict[str, Any] = {}
    memory: Dict[str, Any] = {}

    def fold(out: Dict[str, Any], expected: Any) -> None:
        """In sample order, as Phase 3 does, whatever order the threads finished in."""
        for c in out["cands"]:
            o_score[c.solver_id] = o_score.get(c.solver_id, 0) + int(c.grid is not None and c.grid == expected)
        for sid, rows in out["passes"]:
            for row in rows or ():  # None: the diff call timed out or raised: contributes nothing
                d_update(d_score, memory, sid, row)

    with ThreadPoolExecutor(max_workers=5) as pool:  # the demo samples, in threads
        demo_outs = list(pool.map(lambda s: run_sample(func, task, s, timeout, log_path, dedup), task.demos))
    for sample, out in zip(task.demos, demo_outs):
        fold(out, sample.output)
    s_score = s_snapshot(d_score)
    demo_score = dict(o_score)
    oracle, at_2 = bool(task.tests), bool(task.tests)
    test_outs = []
    for sample in task.tests:  # the test samples, one after another
        out = run_sample(func, task, sample, timeout, log_path, dedup)
        fold(out, sample.output)
        test_outs.append(out)
        oracle = oracle and out["rec"]["status"] == "solved"
        at_2 = at_2 and pass_at_2([(c.solver_id, c.grid) for c in out["cands"]], demo_score, sample.output)
    samples = [o["rec"] for o in demo_outs + test_outs]
    return {"samples": samples, "o_score": o_score, "d_score": d_score, "s_score": s_score,
            "solved": {"oracle": bool(oracle), "at_2": bool(at_2)},
            "seconds": round(sum(s["seconds"] for s in samples), 6)}


def vm_hwm_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries the forking parent's peak over exec into it."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="THE OLD thread design (benchmark contender only)")
    p.add_argument("--batt", action="append", required=True)
    p.add_argument("--batt-data", default="arcagi1")
    p.add_argument("--batt-module", default=battmodule.DEFAULT_MODULE)
    p.add_argument("--batt-timeout", type=float, default=10.0)
    p.add_argument("--json", required=True)
    p.add_argument("--linger", type=float, default=3.0)
    p.add_argument("--dedup", action="store_true", help="make pytest-batt's calls (one diff call per distinct value), not Phase 3's")
    args = p.parse_args(argv)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    taskset: TaskSet = load_taskset(args.batt_data, os.getcwd())
    ids = select(taskset, args.batt)
    batt = battmodule.load_batt(args.batt_module, os.getcwd())
    head = results.header(batt_module=batt.spec, batt_sha256=batt.sha256(), data_name=taskset.name,
                          data_sha256=taskset.content_hash(ids), timeout_s=args.batt_timeout, workers=5)
    head["tool"]["name"] = "thread-design (old seed design, benchmark only)" + (", with pytest-batt's calls" if args.dedup else "")
    started = time.perf_counter()
    tasks: Dict[str, Any] = {}
    for tid in ids:
        try:
            task = taskset.task(tid)
        except BattDataError:
            continue
        tasks[tid] = score_task(batt.func, task, args.batt_timeout, os.devnull, args.dedup)
        print(f"{tid} {tasks[tid]['seconds']:.2f}s", flush=True)
    wall = time.perf_counter() - started
    session = {"wall_s": round(wall, 6), "item_s": round(sum(t["seconds"] for t in tasks.values()), 6), "complete": True}
    results.write(args.json, {**head, "session": session, "tasks": tasks})
    done = {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0, "abandoned_threads": _abandoned,
            "alive_threads": threading.active_count() - 1,
            "maxrss_kb": vm_hwm_kb()}
    print("BENCH-DONE " + json.dumps(done), flush=True)
    # Abandoned threads keep running: measure what they burn after the run "returned".
    cpu1 = time.process_time()
    time.sleep(args.linger)
    linger = {"linger_s": args.linger, "cpu_after_return_s": time.process_time() - cpu1,
              "alive_threads": threading.active_count() - 1,
              "maxrss_kb": vm_hwm_kb()}
    print("BENCH-LINGER " + json.dumps(linger), flush=True)
    sys.stdout.flush()
    os._exit(0)  # daemon threads stuck in a batt would otherwise be torn down at interpreter exit


if __name__ == "__main__":
    sys.exit(main())
