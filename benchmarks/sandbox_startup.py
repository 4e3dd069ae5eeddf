"""What ``--batt-sandbox`` costs at start-up: the same starts with and without bubblewrap, side by side.

Two measurements, each alternating the two sides (A B A B ..., the first side rotated every round)
so that the machine's load hits both alike; whole-process wall times (start to exit):

- ``interpreter``: one worker's interpreter start, ``python -c pass``, bare against inside the
  sandbox a run would build here (bwrap with the namespaces, mounts and environment of
  :func:`pytest_batt.controller.sandboxing.layout`): what each worker, and the controller's probe,
  pay on top of a start without the sandbox;
- ``workers``: in a ``pytest --batt ... -n N`` run, the seconds from xdist setting up its nodes
  until the last worker reported ready (started, pytest configured in it, pytest-batt's worker
  side ready), without and with ``--batt-sandbox`` (a ``-p`` probe plugin in the controller);
- ``run``: that whole run of a trivial batt on toy tasks, start to exit (the probe of the
  sandbox, the workers, the samples, the results file): noisy on a loaded machine.

Usage::

    python benchmarks/sandbox_startup.py                     # 30 interpreter rounds, 8 rounds of runs, -n 2
    python benchmarks/sandbox_startup.py --rounds 60 --run-rounds 12 --workers 2 --json sandbox.json

It prints the median wall time of each side, their ratio and difference, and the spread (quartiles).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence

from pytest_batt.controller import sandboxing
from pytest_batt.isolation import sandbox

BATT = "def batt(task_id, S, I, C, log_path):\n    return [(1, 0, 'id', I)], []\n"
# Loaded in the controller with -p: when xdist sets up its nodes, when each reports ready.
PROBE = """
import json, os, time
_t = {}
def pytest_xdist_setupnodes(config, specs):
    _t["setup"] = time.perf_counter()
def pytest_testnodeready(node):
    _t.setdefault("ready", []).append(time.perf_counter() - _t["setup"])
def pytest_sessionfinish(session):
    if "ready" in _t:
        with open(os.environ["BENCH_READY_FILE"], "a") as f:
            f.write(json.dumps(max(_t["ready"])) + "\\n")
"""
TASK = {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[2]], "output": [[2]]}]}


def timed(cmd: Sequence[str], cwd: str, env: Optional[Dict[str, str]] = None) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd[:3])} ...\n{done.stdout.decode(errors='replace')[-2000:]}")
    return seconds


def alternate(sides: Dict[str, List[str]], rounds: int, cwd: str, env: Optional[Dict[str, str]] = None) -> Dict[str, List[float]]:
    names = list(sides)
    out: Dict[str, List[float]] = {name: [] for name in names}
    for name in names:  # warm the page cache and bytecode once, unmeasured
        timed(sides[name], cwd, env)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            out[name].append(timed(sides[name], cwd, env))
    return out


def sandbox_command(project: str, scratch: str) -> List[str]:
    """The bwrap command a run in ``project`` would give its workers (the settings a plain run has)."""
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    opts = SimpleNamespace(programs=None, module="batt.py", programs_map=None, json_path=os.path.join(project, "r.json"),
                           save_path=None, compare_path=None, resume_path=None, durations_path=None, html_path=None,
                           submission_path=None, sandbox_allow=(), profile_dir=None, data="tasks")
    layout = sandboxing.layout(opts, project, scratch, None, [project], [os.path.join(project, "batt.py")])
    return sandbox.argv(bwrap, layout, os.environ, [sys.executable], secrets.token_hex(8), chdir=project)


def summary(name: str, seconds: Dict[str, List[float]], plain: str, boxed: str) -> Dict[str, float]:
    med = {k: statistics.median(v) for k, v in seconds.items()}
    quart = {k: statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3 for k, v in seconds.items()}
    print(f"{name}: median of {len(seconds[plain])} rounds each, alternated")
    for k in (plain, boxed):
        print(f"  {k:30s} {med[k] * 1000:8.1f} ms   (quartiles {quart[k][0] * 1000:.1f} .. {quart[k][2] * 1000:.1f})")
    ratio, extra = med[boxed] / med[plain], med[boxed] - med[plain]
    print(f"  sandbox / plain: {ratio:.2f}x ({extra * 1000:+.1f} ms)")
    return {"plain_s": med[plain], "sandbox_s": med[boxed], "ratio": ratio, "extra_s": extra}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30, help="interpreter starts per side")
    ap.add_argument("--run-rounds", type=int, default=8, help="whole pytest runs per side (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    if sys.platform != "linux" or shutil.which("bwrap") is None:
        raise SystemExit("needs Linux and bubblewrap (bash .ci/install-sandbox)")
    out: Dict[str, object] = {"load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="batt-sandbox-bench-") as project:
        os.makedirs(os.path.join(project, "tasks"))
        for i in range(args.tasks):
            with open(os.path.join(project, "tasks", f"t{i}.json"), "w") as f:
                json.dump(TASK, f)
        with open(os.path.join(project, "batt.py"), "w") as f:
            f.write(BATT)
        scratch = tempfile.mkdtemp(prefix="pytest-batt-")
        try:
            boxed = sandbox_command(project, scratch)
            starts = alternate({"python -c pass": [sys.executable, "-c", "pass"],
                                "bwrap ... python -c pass": [*boxed, "-c", "pass"]}, args.rounds, project)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        out["interpreter"] = summary("interpreter start (one worker's)", starts, "python -c pass", "bwrap ... python -c pass")
        out["mounts"] = sum(1 for word in boxed if word in ("--ro-bind", "--bind", "--tmpfs"))
        print(f"  ({out['mounts']} mounts in the sandbox of this run)")
        if args.run_rounds:
            with open(os.path.join(project, "startprobe.py"), "w") as f:
                f.write(PROBE)
            run = [sys.executable, "-m", "pytest", "--batt", "all", "--batt-data", "tasks", "--batt-module", "batt.py",
                   "-n", str(args.workers), "-p", "no:cacheprovider", "-p", "startprobe", "-q", "--batt-json", "r.json"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
            env["PYTHONPATH"] = os.pathsep.join([project, *filter(None, [env.get("PYTHONPATH")])])
            sides = {"pytest --batt": run, "pytest --batt --batt-sandbox": [*run, "--batt-sandbox"]}
            ready: Dict[str, List[float]] = {name: [] for name in sides}
            runs: Dict[str, List[float]] = {name: [] for name in sides}
            names = list(sides)
            for r in range(args.run_rounds + 1):  # round 0 warms up, unmeasured
                for name in names[r % 2:] + names[: r % 2]:
                    env["BENCH_READY_FILE"] = os.path.join(project, f"ready-{names.index(name)}.txt")
                    seconds = timed(sides[name], project, env)
                    with open(env["BENCH_READY_FILE"]) as f:
                        last = json.loads(f.read().split()[-1])
                    if r:
                        runs[name].append(seconds)
                        ready[name].append(last)
            out["workers"] = summary(f"workers started and ready (-n {args.workers}: the last of them)", ready, "pytest --batt",
                                     "pytest --batt --batt-sandbox")
            out["run"] = summary(f"whole run ({args.tasks} tasks, -n {args.workers}), start to exit", runs, "pytest --batt",
                                 "pytest --batt --batt-sandbox")
    out["load_after"] = os.getloadavg()[0]
    print(f"load average (1 min): {out['load_before']:.2f} before, {out['load_after']:.2f} after")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
