"""What the library adapter (``--batt-programs``) costs per program call, against a plain Python loop.

Both sides call the same programs on the same inputs, in the same process, in alternating
rounds (plain, adapter without a limit, adapter with ``--batt-program-timeout``, then the
next round in rotated order), so the machine's load hits all of them alike:

- ``plain``: ``for f in programs: f(copy(I))``, the loop a library's own evaluation script
  runs, with the same fresh copy per call in the same grid form;
- ``adapter``: the library's batt call ``library(task_id, S, I, None, log)``: the same calls
  plus what the adapter adds (the per-call guard, converting each value to a canonical grid,
  the candidate tuple);
- ``adapter+limit``: the same with a per-program time limit (two timer re-arms per call);
- ``worker``: ``adapter+limit`` as a worker runs it: the library attached to a running slot
  (each program's start and end written to it) and the backstop thread started;
- ``bare``: ``adapter+limit`` with the per-program bookkeeping switched off (no running slot,
  no interpreter put back after each program, no rails, no module watch): what the adapter
  cost before that bookkeeping. ``worker - bare`` is the bookkeeping's cost per program call.

Run the script of another checkout (``PYTHONPATH``) alternately with this one to compare the
two adapters' ratios.

Usage::

    python benchmarks/programs_overhead.py                      # a built-in toy library, ARC-AGI-1 training
    python benchmarks/programs_overhead.py --programs /tmp/arc-dsl/solvers.py --grid-form tuple --tasks 100

It prints one line per side (CPU microseconds per program call) and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pytest_batt.programs import library_of, load_library
from pytest_batt.programs.library import Library, copier
from pytest_batt.tasks import load_taskset

try:  # the running slot and the backstop (absent from checkouts older than them)
    from pytest_batt.isolation.backstop import Backstop
    from pytest_batt.isolation.slot import Slot
    from pytest_batt.programs import library as library_module
    from pytest_batt.programs.limits import ProgramTimeout
except ImportError:
    Slot = None  # type: ignore[assignment,misc]


class Off:
    """The per-program bookkeeping switched off (the ``bare`` side): what the library's own
    ``Interpreter``, ``Modules`` and ``RAILS`` are replaced by while that side runs."""

    pid = forks = threads = 0
    touched = False
    refused: List[str] = []

    def __init__(self, *args: Any) -> None:
        pass

    def take(self) -> None:
        pass

    def restore(self, *args: Any) -> None:
        return None


    def on(self) -> None:
        pass

    def off(self) -> None:
        pass


class switched_off:
    """While a ``bare`` side runs: the library module's bookkeeping classes are :class:`Off`."""

    NAMES = ("Interpreter", "Modules", "RAILS")

    def __enter__(self) -> None:
        self.saved = {name: getattr(library_module, name) for name in self.NAMES}
        for name in self.NAMES:
            setattr(library_module, name, Off() if name == "RAILS" else Off)

    def __exit__(self, *exc: Any) -> None:
        for name, value in self.saved.items():
            setattr(library_module, name, value)

# A library of the usual shape: small unbound programs, tried on every task.
TOY = '''
def transform(grid):
    return [row[::-1] for row in grid]

def solve(grid):
    return grid[::-1]

def p(g):
    return [list(r) for r in zip(*g)]
'''


def toy_library(folder: str, files: int) -> str:
    for n in range(files):
        with open(os.path.join(folder, f"toy_{n:03d}.py"), "w") as f:
            f.write(TOY)
    return folder


Work = List[Tuple[str, Any, Any]]  # (task_id, S, I) of every sample


def plain(library: Library, work: Work) -> int:
    """The loop a library's own script runs: each program, on a fresh copy, its value kept."""
    arg = copier(library.grid_form)
    calls = 0
    for task_id, _S, I in work:
        for prog in library.for_task(task_id):
            try:
                prog.func(arg(I))
            except Exception:
                pass
            calls += 1
    return calls


def adapter(library: Library, work: Work) -> int:
    calls = 0
    for task_id, S, I in work:
        library(task_id, S, I, None, os.devnull)
        library.take_note()
        calls += len(library.for_task(task_id))
    return calls


def measure(side: Callable[[Library, Work], int], library: Library, work: Work) -> Tuple[float, int]:
    """CPU seconds of this process (its threads too): on a machine shared with other jobs, wall
    time mostly measures their load; the sides run alternately either way."""
    t0 = time.process_time()
    calls = side(library, work)
    return time.process_time() - t0, calls


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", help="a library (file or folder); default: a built-in toy library")
    ap.add_argument("--toy-files", type=int, default=20, help="files of the toy library (3 programs each)")
    ap.add_argument("--data", default="arcagi1-training")
    ap.add_argument("--tasks", type=int, default=40, help="the first N tasks of the data")
    ap.add_argument("--grid-form", default="list", choices=("list", "tuple", "numpy"))
    ap.add_argument("--limit", type=float, default=5.0, help="the per-program limit of the adapter+limit side")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)

    taskset = load_taskset(args.data, os.getcwd())
    ids = taskset.ids()[: args.tasks]
    work: Work = [(tid, taskset.task(tid).S, s.input) for tid in ids for s in taskset.task(tid).samples]
    with tempfile.TemporaryDirectory() as tmp:
        path = args.programs or toy_library(tmp, args.toy_files)
        loaded = load_library(path, os.getcwd(), grid_form=args.grid_form)
        unlimited = library_of(loaded)
        assert unlimited is not None
        limited = Library(unlimited.programs, args.grid_form, args.limit)
        sides: Dict[str, Tuple[Callable[[Library, Work], int], Library]] = {
            "plain": (plain, unlimited), "adapter": (adapter, unlimited), "adapter+limit": (adapter, limited)}
        backstop = None
        if Slot is not None:
            worker = Library(unlimited.programs, args.grid_form, args.limit)
            slot = Slot(os.path.join(tmp, "bench.slot"))
            backstop = Backstop(slot, ProgramTimeout, ProgramTimeout)
            backstop.start()
            worker.attach(slot, 2.0, backstop)
            sides["worker"] = (adapter, worker)
            with switched_off():
                bare = Library(unlimited.programs, args.grid_form, args.limit)
            sides["bare"] = (adapter, bare)
        seconds: Dict[str, List[float]] = {name: [] for name in sides}
        calls: Dict[str, int] = {}
        for name, (side, lib) in sides.items():
            with switched_off() if name == "bare" else contextlib.nullcontext():
                side(lib, work[:5])  # warm: imports, caches
        order = list(sides)
        for r in range(args.rounds):
            for name in order[r % len(order):] + order[: r % len(order)]:
                side, lib = sides[name]
                with switched_off() if name == "bare" else contextlib.nullcontext():
                    s, n = measure(side, lib, work)
                seconds[name].append(s)
                calls[name] = n
        if backstop is not None:
            backstop.stop()
    per_call = {name: statistics.median(v) / max(1, calls[name]) * 1e6 for name, v in seconds.items()}
    print(f"programs_overhead: {len(unlimited.programs)} program(s) from {args.programs or 'the toy library'}, "
          f"{len(ids)} task(s), {len(work)} samples, {calls['plain']} program calls per round, grid form {args.grid_form}, "
          f"median of {args.rounds} rounds")
    for name, us in per_call.items():
        print(f"  {name:14s} {us:9.2f} us per program call")
    base = per_call["plain"]
    out = {"per_call_us": per_call, "calls": calls["plain"], "rounds": args.rounds, "grid_form": args.grid_form,
           "ratio": {name: us / base for name, us in per_call.items()}, "overhead_us": {name: us - base for name, us in per_call.items()}}
    for name in [n for n in ("adapter", "adapter+limit", "worker", "bare") if n in per_call]:
        print(f"  {name} / plain: {out['ratio'][name]:.2f}x ({out['overhead_us'][name]:+.2f} us per call)")
    if "bare" in per_call:
        out["bookkeeping_us"] = per_call["worker"] - per_call["bare"]
        print(f"  bookkeeping (worker - bare): {out['bookkeeping_us']:+.2f} us per program call, "
              f"worker / bare: {per_call['worker'] / per_call['bare']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
