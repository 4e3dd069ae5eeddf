"""pytest-batt performance benchmark: Phase 3, the old thread design (as it was, and making
pytest-batt's calls), pytest-batt (-n 0/2/auto) and a bare loop, side by side in one run, on
the same tasks, batt and per-call timeout.

    python benchmarks/run.py [--quick] [--repeat N] [--only cpu,heavy,hostile,collect,memory,single]
                             [--contenders KEYS] [--tasks N] [--heavy-steps N] [--profile] [--out DIR]

Prints Markdown tables of ratios (speed-up over Phase 3 first; absolute times and batt calls
per second after), the targets and whether they hold. Every contender is a fresh subprocess
started from an empty temporary directory (so no project ``pytest.ini``/``conftest.py``
applies and no batt memo is shared between contenders), with PYTHONHASHSEED=0 and the
BLAS/OpenMP thread variables pytest-batt gives its workers (OMP_NUM_THREADS=1 etc.) set
alike for all; CPU is ``getrusage(RUSAGE_CHILDREN)`` deltas around
each subprocess (user+sys of the whole process tree), peak memory is each process's own
``VmHWM`` (reported at exit by a ``-p`` probe plugin in the pytest processes and by the
benchmark's own scripts, and polled from ``/proc`` every 0.3 s for every process of the tree,
which is all there is for Phase 3). Not ``ru_maxrss``: Linux carries the forking parent's peak
over exec into it, so every child would look at least as big as this script.

Workloads:
  cpu      the reference batt on a fixed list of ARC-AGI-1 training tasks (44; --quick: 8)
  heavy    a generated batt shaped like real ones (benchmarks/make_heavy_batt.py, cached)
  hostile  the cpu tasks (--hostile-tasks of them) through a wrapper batt that hangs in ~10%
           of calls, chosen by hashing (task_id, I, C): pure-Python infinite loops and a
           GIL-holding C call (sum(range(N)), N calibrated to hold the GIL --gil-seconds)
  collect  `pytest --batt all --collect-only -q` over the 800 ARC-AGI-1 tasks
  memory   the controller's peak memory for a -n 2 run over all 800 tasks with a trivial batt
  single   one task (007bbfb7), `-n 0` against the default (no -n: -n auto), three batts: the
           reference batt (light), a batt generated like the real ones (tests/generated_batt.py,
           100 solvers: real-shaped) and make_heavy_batt.py (--heavy-steps, seconds per call: heavy);
           the per-round ratio of the two is printed beside each round's load average

Contenders run in turn, the order rotated by one every round (--repeat): each round another
contender goes first, so a drift of the machine's load does not always hit the same one.

No timed assertion anywhere: this script measures and reports, it never fails on a number.

This file is the command line only. The parts, one module each in benchmarks/: measuring.py
(one measured subprocess, the probe plugin, the environment every contender gets),
contenders.py (each contender's command, running them in turn, score checks), workloads.py
(task sets, batts, the collection and memory measurements) and rendering.py (the tables).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, Optional, Sequence

sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/ by the modules below

import contenders  # noqa: E402  (benchmarks/ is not a package: this script's folder is on sys.path)
import measuring  # noqa: E402
import rendering  # noqa: E402
import workloads  # noqa: E402

CONTENDERS = contenders.CONTENDERS


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="8 CPU tasks, 1 heavy task, 4 hostile tasks (~12 min on 2 cores)")
    p.add_argument("--repeat", type=int, default=1, help="runs per contender (round robin); the median is reported")
    p.add_argument("--only", default="cpu,heavy,hostile,collect,memory,single", help="comma-separated sections to run")
    p.add_argument("--heavy-steps", type=int, default=20000,
                   help="steps of the heavy batt of the single-task case (20000: ~1-3 s per call here; the issue's case is 50000)")
    p.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset of " + ",".join(CONTENDERS))
    p.add_argument("--timeout", type=float, default=10.0, help="per-call timeout for the cpu and heavy workloads")
    p.add_argument("--hostile-timeout", type=float, default=1.0)
    p.add_argument("--hostile-grace", type=float, default=1.0)
    p.add_argument("--tasks", type=int, default=None,
                   help="only the first N tasks of the cpu, heavy and hostile sets (a short check of the script)")
    p.add_argument("--hostile-tasks", type=int, default=None, help="how many of the cpu tasks the hostile mix uses (default 8; --quick 4)")
    p.add_argument("--gil-seconds", type=float, default=4.0, help="how long the hostile GIL-holding call holds the GIL")
    p.add_argument("--budget", type=float, default=None, help="seconds before a contender run is killed and reported DNF")
    p.add_argument("--profile", action="store_true", help="also write cProfile reports (collection, -n 0 on the cpu set)")
    p.add_argument("--out", default=None, help="directory for the JSON report and profiles (default: a temp dir)")
    args = p.parse_args(argv)
    argv_list = list(argv if argv is not None else sys.argv[1:])
    only = set(args.only.split(","))
    chosen = [k for k in CONTENDERS if k in args.contenders.split(",")]
    out_dir = args.out or tempfile.mkdtemp(prefix="pytest-batt-bench-out-")
    os.makedirs(out_dir, exist_ok=True)
    ctx = measuring.make_context(out_dir)
    info = measuring.machine()
    rendering.print_header(info, argv_list, args.quick)
    snap = ctx.env["PYTHONPATH"].split(os.pathsep)[0]
    info["pytest_batt_snapshot_sha256"] = measuring.source_hash(os.path.join(snap, "pytest_batt"))
    print(f"pytest_batt source snapshot (used by every contender): sha256 {info['pytest_batt_snapshot_sha256']}", flush=True)
    info["thread_env"] = {var: ctx.env[var] for var in measuring.BLAS_THREAD_VARIABLES}
    print("every contender: PYTHONHASHSEED=0, " + ", ".join(f"{k}={v}" for k, v in info["thread_env"].items()), flush=True)
    report: Dict[str, Any] = {"machine": info, "argv": argv_list, "workloads": []}
    for wl in workloads.build(args, ctx, chosen):
        w = contenders.run_workload(wl, ctx, args.repeat)
        w["targets"] = rendering.targets(w)
        report["workloads"].append(w)
        rendering.print_workload(w)
        if args.profile and wl.name == "cpu":
            report.setdefault("profiles", {})["n0"] = measuring.cprofile(
                ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--batt", ",".join(wl.tasks), "--batt-data", workloads.DATA, "-n", "0"],
                ctx, "cpu-n0")
    if "collect" in only:
        report["collect"] = workloads.measure_collect(ctx, max(3, args.repeat), args.profile)
    if "memory" in only:
        report["memory"] = workloads.measure_memory(ctx)
    path = os.path.join(out_dir, "benchmark.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nfull report: {path}")
    shutil.rmtree(ctx.tmp, ignore_errors=True)
    return 0

if __name__ == "__main__":
    sys.exit(main())
