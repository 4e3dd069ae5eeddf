"""The floor for a program library: each program called on each sample in a plain loop, no pytest.

What a library's own evaluation script does (arc-dsl's ``main.py`` runs ``solve_<id>(I)`` on
every pair): the library is found and imported as ``--batt-programs`` does it
(``programs.load_library``, so the same programs run on the same tasks), then each task's
programs run on each of its samples, demos then tests, on the input in the grid form asked
for, and an output equal to the expected one solves the sample. No limits, no isolation, no
diff calls (a library makes none), no results file: the least a run of these programs costs.

Usage (what ``balance.py`` runs)::

    python benchmarks/programs_loop.py --programs /tmp/arc-dsl/solvers.py --grid-form tuple \
        --data arcagi1-training --tasks all --json out.json

``--json`` writes ``{task_id: [solved, ...]}`` (one bool per sample, in sample order) so the
verdicts can be checked against a pytest-batt run's. It prints ``BENCH-DONE {json}`` (wall and
process CPU) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

from pytest_batt.grids import to_grid
from pytest_batt.programs import load_library
from pytest_batt.programs.library import copier
from pytest_batt.tasks import load_taskset, select


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="a library's programs on every sample in a plain loop (benchmark floor)")
    p.add_argument("--programs", required=True)
    p.add_argument("--grid-form", default="list")
    p.add_argument("--data", default="arcagi1-training")
    p.add_argument("--tasks", action="append", default=None, help="task ids or all (default: all)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    library = load_library(args.programs, os.getcwd(), grid_form=args.grid_form).func
    taskset = load_taskset(args.data, os.getcwd())
    arg = copier(args.grid_form)
    verdicts: Dict[str, List[bool]] = {}
    for tid in select(taskset, args.tasks or ["all"]):
        task = taskset.task(tid)
        progs = library.for_task(tid)
        out = verdicts[tid] = []
        for sample in task.samples:
            solved = False
            for prog in progs:
                try:
                    value = prog.func(arg(sample.input))
                    solved = solved or to_grid(value) == sample.output
                except Exception:
                    pass
            out.append(solved)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(verdicts, f)
    done = {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
            "samples": sum(map(len, verdicts.values())), "solved": sum(map(sum, verdicts.values()))}
    print("BENCH-DONE " + json.dumps(done), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
