"""What profiling a batt costs: the same batt calls bare, under cProfile and under pyinstrument.

``--batt-profile`` has to pick a profiler. cProfile is deterministic (every call counted) and
in the standard library, but it pays on every Python call, and generated batts are made of
many small DSL calls; a sampling profiler (pyinstrument) pays per sample instead. This script
measures both on the same calls, in one process, interleaved round by round (so a busy
machine slows every mode alike), and prints the ratios side by side:

    python benchmarks/profile_overhead.py                        # benchmarks/make_heavy_batt.py's batt
    python benchmarks/profile_overhead.py --batt PATH/test_batt.py --task 007bbfb7 --rounds 5

Each round runs every sample of the task once: the solve call, then the demo's diff call
against the expected output (what a sample costs in pytest-batt). The batt is imported once,
as pytest-batt does; a batt that memoises by ``S`` is warmed by one untimed round first.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent


def _heavy_batt(steps: int) -> str:
    sys.path.insert(0, str(HERE))
    import make_heavy_batt  # type: ignore[import-not-found]

    path = Path(tempfile.mkdtemp(prefix="profile-overhead-")) / f"heavy_batt_{steps}.py"
    path.write_text(make_heavy_batt.generate(steps, 6, 12, 1))
    return str(path)


def _calls(batt: Callable[..., Any], task: Any) -> Callable[[], None]:
    def run() -> None:
        for sample in task.samples:
            batt(task.id, task.S, sample.input, None, os.devnull)
            if sample.output is not None:
                batt(task.id, task.S, sample.input, sample.output, os.devnull)
    return run


def _bare(run: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def _cprofile(run: Callable[[], None]) -> float:
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    try:
        run()
    finally:
        prof.disable()
    took = time.perf_counter() - t0
    prof.create_stats()  # the per-sample file's content: counted in what a sample costs
    return took


def _pyinstrument(run: Callable[[], None], interval: float) -> float:
    from pyinstrument import Profiler  # type: ignore[import-not-found]

    prof = Profiler(interval=interval)
    t0 = time.perf_counter()
    prof.start()
    try:
        run()
    finally:
        prof.stop()
    return time.perf_counter() - t0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batt", help="a batt module file (default: make_heavy_batt.py's, --steps steps)")
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--task", default="007bbfb7")
    ap.add_argument("--data", default="arcagi1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--interval", type=float, default=0.001, help="pyinstrument's sampling interval (its default: 1 ms)")
    args = ap.parse_args(argv)

    from pytest_batt.battmodule import load_batt
    from pytest_batt.tasks import load_taskset

    path = args.batt or _heavy_batt(args.steps)
    batt = load_batt(path).func
    task = load_taskset(args.data, wanted=[args.task]).task(args.task)
    run = _calls(batt, task)
    modes: Dict[str, Callable[[], float]] = {"bare": lambda: _bare(run), "cProfile": lambda: _cprofile(run)}
    try:
        import pyinstrument  # type: ignore[import-not-found]  # noqa: F401

        modes[f"pyinstrument {args.interval * 1000:g} ms"] = lambda: _pyinstrument(run, args.interval)
    except ImportError:
        print("pyinstrument is not installed: measuring cProfile only (pip install pyinstrument)")
    _bare(run)  # warm: imports, memos keyed by S
    times: Dict[str, List[float]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for name, measure in modes.items():
            times[name].append(measure())
    base = statistics.median(times["bare"])
    calls = sum(1 + (s.output is not None) for s in task.samples)
    print(f"batt {path}, task {args.task}: {calls} calls a round, {args.rounds} rounds, modes interleaved; median per round")
    print(f"{'mode':<22}{'seconds':>10}{'ratio':>8}   (min..max)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<22}{med:>10.3f}{med / base:>7.2f}x   ({min(ts):.3f}..{max(ts):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
