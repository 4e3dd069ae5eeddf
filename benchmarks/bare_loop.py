"""The floor for pytest-batt's overhead: the same batt calls in a plain Python loop, no pytest.

It makes exactly pytest-batt's calls (a demo sample: 1 solve + 1 diff; a test sample:
1 solve + 1 diff per distinct valid candidate grid) through
``pytest_batt.runner.run_sample`` with its default no-op guard (so: no timeout at all; do
not point it at a batt that hangs), folds the records with ``pytest_batt.battrun.BattRun``
and writes a schema 1 results file, so its scores can be checked against Phase 3's.

Usage (what run.py calls)::

    python benchmarks/bare_loop.py --batt IDS [--batt-data D] [--batt-module M] --json PATH

It prints ``BENCH-DONE {json}`` (wall, process CPU, peak RSS) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence

from pytest_batt import battmodule, battrun, nodeids, results, runner
from pytest_batt.tasks import BattDataError, load_taskset, select


def vm_hwm_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries the forking parent's peak over exec into it."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="bare loop: pytest-batt's batt calls without pytest (benchmark floor)")
    p.add_argument("--batt", action="append", required=True)
    p.add_argument("--batt-data", default="arcagi1")
    p.add_argument("--batt-module", default=battmodule.DEFAULT_MODULE)
    p.add_argument("--batt-timeout", type=float, default=10.0, help="recorded in the results only: the bare loop has no timeout")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    taskset = load_taskset(args.batt_data, os.getcwd())
    ids = select(taskset, args.batt)
    batt = battmodule.load_batt(args.batt_module, os.getcwd())
    head = results.header(batt_module=batt.spec, batt_sha256=batt.sha256(), data_name=taskset.name,
                          data_sha256=taskset.content_hash(ids), timeout_s=args.batt_timeout, workers=0)
    head["tool"]["name"] = "bare-loop (benchmark floor)"
    run = battrun.BattRun(taskset, ids)
    for tid in ids:
        try:
            task = taskset.task(tid)
        except BattDataError as e:
            run.task_failed(tid, str(e))
            continue
        for sample in task.samples:
            run.add(nodeids.sample_nodeid(tid, sample.kind, sample.index), runner.run_sample(batt.func, task, sample))
    run.finish()
    results.write(args.json, run.results(head, interrupted=False))
    done = {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
            "maxrss_kb": vm_hwm_kb()}
    print("BENCH-DONE " + json.dumps(done), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
