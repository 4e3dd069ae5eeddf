"""What each isolation reading costs per sample, every mechanism side by side in one run.

A sample makes these readings (pytest_batt.isolation): the process tree twice (before and
after, to find what the batt left running), the peak memory once (a reset before, a read
after), the address-space limit set and put back around each call (two calls: solve, diff);
the watchdog reads the worker's resident memory every 50 ms while a sample runs (the
portable limit); the start time is read once per run. Each is timed in a loop, the mechanisms
interleaved round by round (A B C A B C ...), the median round kept; printed in microseconds
per sample and as a ratio to the Linux path. Mechanisms this system lacks print "n/a".

Usage: python benchmarks/readings.py [--rounds 7] [--loops 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pytest_batt.isolation import capabilities, peak_memory, processes

Reading = Callable[[], object]


def _psutil() -> Optional[object]:
    try:
        import psutil

        psutil.Process().memory_info()
        return psutil
    except Exception:
        return None


def readings() -> Dict[str, Dict[str, Optional[Reading]]]:
    """For each reading, its mechanisms: a callable doing what one sample does, or None (n/a here)."""
    psutil = _psutil()
    me = os.getpid()
    proc_tree = capabilities.probe_process_tree(psutil=None).how == "/proc"
    forks = processes.Forks()

    def tree(kind: str) -> Optional[Reading]:
        if kind == "/proc" and not proc_tree or kind == "psutil" and psutil is None:
            return None
        if kind == "forks":
            forks.start()  # a Forks of its own: the module's stays off, as on Linux
            return lambda: (forks.alive(), forks.alive())
        probe = capabilities.Probe(True, kind)

        def twice() -> None:  # descendants() as a sample calls it, with this mechanism chosen
            chosen = capabilities.process_tree
            capabilities.process_tree = lambda: probe  # type: ignore[assignment]
            try:
                processes.descendants()
                processes.descendants()
            finally:
                capabilities.process_tree = chosen  # type: ignore[assignment]
        return twice

    peak_on = capabilities.sample_peak().on

    def peak_sample() -> None:
        peak_memory.reset()
        peak_memory.peak_mb()

    def peak_process() -> None:
        import resource

        resource.getrusage(resource.RUSAGE_SELF)  # what peak_mb() reads where the reset is impossible

    limit = None
    if capabilities.address_space().on:
        import resource

        def set_and_restore() -> None:
            for _ in range(2):
                old = resource.getrlimit(resource.RLIMIT_AS)
                resource.setrlimit(resource.RLIMIT_AS, (2**43, old[1]))
                resource.setrlimit(resource.RLIMIT_AS, old)
        limit = set_and_restore

    rss = None
    if psutil is not None:
        worker = psutil.Process(me)  # type: ignore[attr-defined]

        def rss_reading() -> None:
            worker.memory_info()
        rss = rss_reading

    start = None
    if psutil is not None:
        def start_time() -> None:
            psutil.Process(me).create_time()  # type: ignore[attr-defined]
        start = start_time

    return {
        "process tree (2 per sample)": {"/proc": tree("/proc"), "psutil": tree("psutil"), "forks": tree("forks")},
        "peak memory (1 per sample)": {"clear_refs+VmHWM": peak_sample if peak_on else None, "ru_maxrss": peak_process},
        "address-space limit (set+restore, 2 calls)": {"RLIMIT_AS": limit},
        "resident memory (watchdog, 1 per 50 ms)": {"psutil": rss},
        "start time (1 per run)": {"psutil": start},
    }


def measure(table: Dict[str, Dict[str, Optional[Reading]]], rounds: int, loops: int) -> Dict[str, Dict[str, Optional[float]]]:
    """Median microseconds per sample of each mechanism, rounds interleaved."""
    times: Dict[str, Dict[str, List[float]]] = {r: {m: [] for m in ms} for r, ms in table.items()}
    for _ in range(rounds):
        for reading, mechanisms in table.items():
            for name, fn in mechanisms.items():
                if fn is None:
                    continue
                fn()
                t0 = time.perf_counter()
                for _ in range(loops):
                    fn()
                times[reading][name].append((time.perf_counter() - t0) / loops * 1e6)
    return {r: {m: statistics.median(v) if v else None for m, v in ms.items()} for r, ms in times.items()}


def render(result: Dict[str, Dict[str, Optional[float]]]) -> List[str]:
    lines = [f"{'reading':44} {'mechanism':18} {'us/sample':>10} {'ratio':>7}"]
    for reading, mechanisms in result.items():
        first = next((v for v in mechanisms.values() if v), None)
        for name, us in mechanisms.items():
            shown = "n/a" if us is None else f"{us:.1f}"
            ratio = "" if us is None or first is None else f"{us / first:.2f}x"
            lines.append(f"{reading:44} {name:18} {shown:>10} {ratio:>7}")
    return lines


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loops", type=int, default=300)
    args = parser.parse_args(argv)
    print(f"{sys.platform}, Python {sys.version.split()[0]}, {args.rounds} rounds x {args.loops} samples, load "
          f"{os.getloadavg()[0]:.1f}, {len(os.listdir('/proc')) if os.path.isdir('/proc/self') else '?'} /proc entries")
    for line in render(measure(readings(), args.rounds, args.loops)):
        print(line)


if __name__ == "__main__":
    main()
