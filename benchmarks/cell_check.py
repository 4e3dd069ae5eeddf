"""What reading a batt's candidates costs (the cell check among it), this checkout against another revision.

``contract.normalise_candidates`` runs on every candidate a batt returns, under the call's
time limit: it checks each distinct value's cells (``grids``), keys test samples' diff calls
and keeps why a value is no grid. This script times it for the same workloads under two
revisions of ``pytest_batt``, side by side:

- ``wide``: the solve calls of the wide batt (``make_wide_batt.py``: 300 candidates per call,
  eight grid objects shared among them), test samples (diff keys too);
- ``distinct``: 300 distinct 10x10 int grids per call, as lists (each one checked);
- ``floats``: the same grids with whole-float cells (``7.0``: colours since issue 33);
- ``invalid``: a generated batt's odd values: grids holding ``nan``, ``None``, ``()``;
- ``million``: a million candidates sharing two grids (``tests/test_hostile.py``'s sample).

Each workload of each revision runs in a fresh subprocess (``PYTHONPATH`` = that revision's
package snapshot), in rounds that alternate which revision goes first, and keeps its best of
``--repeat`` timings in the subprocess; the best of the rounds per revision is printed, in
microseconds per candidate, with the ratio after/before. ``--pytest`` also times whole
``pytest --batt <N tasks> --batt-module wide_batt.py -n 0`` runs of each revision, alternating.

    git archive main pytest_batt | tar -x -C /tmp/before      # the revision to compare with
    python benchmarks/cell_check.py --before /tmp/before
    python benchmarks/cell_check.py --before /tmp/before --pytest --tasks 16 --rounds 4

No test asserts on these numbers: this is a script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_wide_batt import generate

WORKLOADS = ("wide", "distinct", "floats", "invalid", "million")
Work = Tuple[List[Any], bool]  # the solve calls' o lists, and whether diff keys are computed (test samples)


def _grids(rnd: random.Random, n: int, side: int = 10) -> List[List[List[int]]]:
    return [[[rnd.randrange(10) for _ in range(side)] for _ in range(side)] for _ in range(n)]


def workload(name: str, calls: int = 20, seed: int = 0) -> Work:
    """The o lists of ``calls`` solve calls of one workload, built before anything is timed."""
    rnd = random.Random(seed)
    if name == "wide":
        space: Dict[str, Any] = {}
        exec(generate(300, 300, 60), space)  # the wide batt itself
        inputs = [tuple(map(tuple, g)) for g in _grids(rnd, calls + 1)]
        S = ((inputs[-1], inputs[-1]),)
        return [space["batt"]("t", S, I, None, os.devnull)[0] for I in inputs[:calls]], True
    if name == "distinct":
        return [[(n, 0, f"s{n}", g) for n, g in enumerate(_grids(rnd, 300))] for _ in range(calls)], True
    if name == "floats":
        return [[(n, 0, f"s{n}", [[float(v) for v in r] for r in g]) for n, g in enumerate(_grids(rnd, 300))]
                for _ in range(calls)], True
    if name == "invalid":
        def odd(n: int, g: List[List[int]]) -> Any:
            return (tuple(tuple(math.nan if v == 0 else v for v in r) for r in g), None, ())[n % 3]
        return [[(n, 0, f"s{n}", odd(n, g)) for n, g in enumerate(_grids(rnd, 300))] for _ in range(calls)], True
    if name == "million":
        shared = (((1,),), ((2,),))
        return [[(i, 0, f"s{i % 1000}", shared[i % 2]) for i in range(10**6)]], False
    raise ValueError(f"unknown workload {name!r}: one of {', '.join(WORKLOADS)}")


def measure(name: str, repeat: int, normalise: Optional[Callable[..., Any]] = None) -> Dict[str, Any]:
    """Best of ``repeat`` timings of every solve call's ``normalise_candidates``, per candidate."""
    if normalise is None:
        from pytest_batt.contract import normalise_candidates as normalise
    calls, keys = workload(name)
    count = sum(len(o) for o in calls)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for o in calls:
            normalise(o, keys)
        best = min(best, time.perf_counter() - t0)
    return {"workload": name, "candidates": count, "us_per_candidate": best / count * 1e6}


def _child(name: str, repeat: int, package: str) -> Dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update(PYTHONPATH=package, PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, __file__, "--child", name, "--repeat", str(repeat)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pytest_run(package: str, module: str, ids: List[str], cwd: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update(PYTHONPATH=package, PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header", "-rN", "--batt", ",".join(ids),
           "--batt-data", "arcagi1-training", "--batt-module", module, "-n", "0"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def snapshot(dest: str) -> str:
    """This checkout's package, copied (edits made while the script runs do not reach it)."""
    from measuring import snapshot_package

    return snapshot_package(dest)


def ratios(before: Dict[str, float], after: Dict[str, float]) -> Dict[str, float]:
    return {k: round(after[k] / before[k], 3) for k in before if k in after and before[k] > 0}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--before", help="a directory holding the other revision's pytest_batt package")
    p.add_argument("--after", help="the same for the revision measured against it (default: a snapshot of this one)")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=5, help="timings per subprocess, its best kept")
    p.add_argument("--pytest", action="store_true", help="also whole pytest runs of the wide batt (-n 0)")
    p.add_argument("--tasks", type=int, default=16, help="ARC-AGI-1 training tasks of each pytest run")
    p.add_argument("--json", help="write the numbers here too")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.repeat)))
        return 0
    if not args.before:
        p.error("--before DIR is required (git archive <rev> pytest_batt | tar -x -C DIR)")
    import tempfile

    tmp = tempfile.mkdtemp(prefix="pytest-batt-cells-")
    sides = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after) if args.after else snapshot(tmp)}
    print(f"before: {sides['before']}\nafter: {sides['after']}\nload: {os.getloadavg()[0]:.1f}", flush=True)
    names = [w for w in args.workloads.split(",") if w]
    best: Dict[str, Dict[str, float]] = {side: {} for side in sides}
    for r in range(args.rounds):
        for name in names:
            for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
                got = _child(name, args.repeat, sides[side])
                best[side][name] = min(best[side].get(name, math.inf), got["us_per_candidate"])
    print(f"\n{'workload':<10} {'before us/cand':>15} {'after us/cand':>15} {'after/before':>13}")
    cell = ratios(best["before"], best["after"])
    for name in names:
        print(f"{name:<10} {best['before'][name]:>15.3f} {best['after'][name]:>15.3f} {cell[name]:>13.3f}")
    out: Dict[str, Any] = {"us_per_candidate": best, "ratio": cell}
    if args.pytest:
        from pytest_batt.tasks import load_taskset

        ids = load_taskset("arcagi1-training").ids()[: args.tasks]
        module = os.path.join(tmp, "wide_batt.py")
        Path(module).write_text(generate(300, 300, 60))
        cwd = os.path.join(tmp, "cwd")
        os.makedirs(cwd, exist_ok=True)
        walls: Dict[str, List[float]] = {side: [] for side in sides}
        for r in range(args.rounds):
            for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
                walls[side].append(_pytest_run(sides[side], module, ids, cwd))
        low = {side: min(w) for side, w in walls.items()}
        print(f"\npytest --batt <{len(ids)} tasks> wide batt -n 0, wall s: before {walls['before']}, after {walls['after']}; "
              f"best after/before {low['after'] / low['before']:.3f}")
        out["pytest_wall_s"] = walls
        out["pytest_ratio"] = round(low["after"] / low["before"], 3)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
