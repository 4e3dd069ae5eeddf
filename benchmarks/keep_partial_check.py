"""Check ``--batt-keep-partial`` on a real batt: what a cut call keeps is a prefix of the untimed answer.

For each sample of the task: the sample through ``runner.run_sample`` with
``--batt-keep-partial`` under a timer that raises into each call after ``--timeout`` seconds
(the soft stage, as pytest-timeout's signal does it), then its solve call again, untimed (the
whole answer, in order). It prints, per sample, the candidates kept, whether they equal the
untimed answer's first ones (solver and grid, in order), and the solvers among them that match
the expected output (what the controller credits):

    python benchmarks/keep_partial_check.py --batt PATH/test_100_tasks.py --task 007bbfb7 --timeout 0.05

The timed call comes first: generated batts cache DSL results, so a repeated call is faster.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any, List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batt", required=True, help="a batt module file")
    ap.add_argument("--task", default="007bbfb7")
    ap.add_argument("--data", default="arcagi1")
    ap.add_argument("--timeout", type=float, required=True, help="seconds each timed call may take")
    args = ap.parse_args(argv)

    from pytest_batt import battrun, grids, runner
    from pytest_batt.battmodule import load_batt
    from pytest_batt.contract import normalise_candidates, split
    from pytest_batt.isolation.guard import Guard

    class Cut(BaseException):
        """Raised into the call, a BaseException as pytest-timeout's is: DSL code catching Exception cannot swallow it."""
    from pytest_batt.tasks import load_taskset

    class Timer(Guard):
        def __init__(self, seconds: float) -> None:
            super().__init__()
            self.seconds = seconds

        def start(self, label: str) -> None:
            signal.signal(signal.SIGALRM, self.fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

        def fire(self, signum: int, frame: Any) -> None:
            raise Cut()

        def is_timeout(self, exc: BaseException) -> Optional[str]:
            return f"{{label}} timed out after {self.seconds:g} s" if isinstance(exc, Cut) else None

        def stop(self) -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)

    func = load_batt(args.batt).func
    taskset = load_taskset(args.data, wanted=[args.task])
    blind = taskset.without_test_outputs([args.task]).task(args.task)
    full = taskset.task(args.task)
    run = battrun.BattRun(taskset, [args.task])
    print(f"batt {args.batt}, task {args.task} ({args.data}), timeout {args.timeout:g}s per call")
    for sample, known in zip(blind.samples, full.samples):
        rec = runner.run_sample(func, blind, sample, Timer(args.timeout), keep_partial=True)
        judged = run.add(f"batt/{args.task}::{sample.name}", dict(rec))
        t0 = time.perf_counter()
        answer = func(blind.id, blind.S, sample.input, None, os.devnull)
        took = time.perf_counter() - t0
        untimed = normalise_candidates(split(answer)[0], True)
        kept = rec.get("kept")
        if rec["status"] != "timeout" or kept is None:
            print(f"  {sample.name}: not cut ({rec['status']}, {rec['seconds']:.3f}s): {rec['candidates']} candidates, "
                  f"matched {(judged or {}).get('matched')}")
            continue
        # run_sample keeps its candidates as distinct (solver, grid) pairs in batt order: compare the same way
        def pairs(cands: Any) -> List[Any]:
            seen: dict = {}
            for c in cands:
                seen.setdefault((c.solver_id, grids.fingerprint(c.grid) if c.grid is not None else None), None)
            return list(seen)
        prefix = pairs(untimed[:kept])
        same = [tuple(x[:2]) for x in rec["cands"]] == prefix
        expected = known.output
        right = [c.solver_id for c in untimed if c.grid is not None and c.grid == expected]
        print(f"  {sample.name}: cut: kept {kept} of {len(untimed)} candidates (untimed solve {took:.3f}s); "
              f"a prefix of the untimed answer: {same}; matched among the kept: {(judged or {}).get('matched')}; "
              f"matching solvers in the untimed answer: {right[:5]}")
    entry = run.task_results()[args.task]
    print(f"o_score of the matching solvers (demo+test hits, kept candidates credited): "
          f"{ {sid: n for sid, n in entry['o_score'].items() if n} }")
    return 0


if __name__ == "__main__":
    sys.exit(main())
