"""What ``--batt-sandbox`` costs at start-up: the same starts with and without bubblewrap, side by side.

Two measurements, each alternating the two sides (A B A B ..., the first side rotated every round)
so that the machine's load hits both alike; whole-process wall times (start to exit):

- ``interpreter``: one worker's interpreter start, ``python -c pass``, bare against inside the
  sandbox a run would build here (bwrap with the namespaces, mounts and environment of
  :func:`pytest_batt.controller.sandboxing.layout`): what each worker, and the controller's probe,
  pay on top of a start without the sandbox;
- ``run``: a whole ``pytest --batt ... -n N`` run of a trivial batt on toy tasks, without and with
  ``--batt-sandbox``: ``ready``, the seconds from xdist setting up its nodes until the last worker
  reported ready (a ``-p`` probe plugin in the controller); ``wall``, start to exit (the
  sandbox's probe, the workers, the samples, the results file).

Both sides start in sessions of their own, and so do their workers (a sandboxed worker has one
of its own, ``bwrap --new-session``; the plain side's workers start through ``setsid``, as
``--tx N*popen//python=setsid PYTHON``): where the kernel shares CPU time between sessions
(``kernel.sched_autogroup_enabled``), a worker in a session of its own gets a larger share of a
machine other sessions load than one in its controller's session, and the sandboxed run measured
faster than a plain ``-n N`` run for that reason alone. No CPU times: bubblewrap's processes are
not all waited for, so ``getrusage(RUSAGE_CHILDREN)`` misses most of a sandbox's.

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
        with open(os.environ["BENCH_READY_FILE"], "w") as f:
            f.write(json.dumps(max(_t["ready"])) + "\\n")
"""
TASK = {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[2]], "output": [[2]]}]}


def timed(cmd: Sequence[str], cwd: str, env: Optional[Dict[str, str]] = None) -> float:
    """Wall seconds, start to exit, of ``cmd`` started in a session of its own (see the module's note)."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd[:3])} ...\n{done.stdout.decode(errors='replace')[-2000:]}")
    return seconds


Samples = Dict[str, Dict[str, List[float]]]  # side -> measure ("wall", "ready") -> one value a round


def alternate(sides: Dict[str, List[str]], rounds: int, cwd: str, env: Optional[Dict[str, str]] = None,
              ready_file: Optional[str] = None) -> Samples:
    """Each side once a round, the first side rotated every round, after one unmeasured round (page cache,
    bytecode). ``ready_file``: where the probe plugin appends the workers' readiness (a run's last line)."""
    names = list(sides)
    out: Samples = {name: {"wall": [], "ready": []} for name in names}
    for r in range(rounds + 1):
        for name in names[r % len(names):] + names[: r % len(names)]:
            wall = timed(sides[name], cwd, env)
            if r:
                out[name]["wall"].append(wall)
                if ready_file:
                    with open(ready_file) as f:
                        out[name]["ready"].append(json.loads(f.read().split()[-1]))
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


def summary(title: str, samples: Samples, plain: str, boxed: str, measures: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Medians (and quartiles) of each measure, the sandbox's ratio and difference to the plain side."""
    out = {}
    print(f"{title}: median of {len(samples[plain]['wall'])} rounds each, alternated")
    for measure in measures:
        med = {k: statistics.median(samples[k][measure]) for k in (plain, boxed)}
        for k in (plain, boxed):
            q = statistics.quantiles(samples[k][measure], n=4) if len(samples[k][measure]) > 1 else [med[k]] * 3
            print(f"  {measure:5s} {k:30s} {med[k] * 1000:8.1f} ms   (quartiles {q[0] * 1000:.1f} .. {q[2] * 1000:.1f})")
        ratio, extra = med[boxed] / med[plain], med[boxed] - med[plain]
        print(f"  {measure:5s} sandbox / plain: {ratio:.2f}x ({extra * 1000:+.1f} ms)")
        out[measure] = {"plain_s": med[plain], "sandbox_s": med[boxed], "ratio": ratio, "extra_s": extra}
    return out


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
        out["interpreter"] = summary("interpreter start (one worker's)", starts, "python -c pass", "bwrap ... python -c pass",
                                     ("wall",))
        out["mounts"] = sum(1 for word in boxed if word in ("--ro-bind", "--bind", "--tmpfs"))
        print(f"  ({out['mounts']} mounts in the sandbox of this run)")
        if args.run_rounds:
            with open(os.path.join(project, "startprobe.py"), "w") as f:
                f.write(PROBE)
            run = [sys.executable, "-m", "pytest", "--batt", "all", "--batt-data", "tasks", "--batt-module", "batt.py",
                   "-p", "no:cacheprovider", "-p", "startprobe", "-q", "--batt-json", "r.json"]
            setsid = shutil.which("setsid")
            assert setsid is not None, "setsid (util-linux) starts the plain side's workers in sessions of their own"
            plain = [*run, "--tx", f"{args.workers}*popen//python={setsid} {sys.executable}"]
            boxed_run = [*run, "--tx", f"{args.workers}*popen", "--batt-sandbox"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
            env["PYTHONPATH"] = os.pathsep.join([project, *filter(None, [env.get("PYTHONPATH")])])
            env["BENCH_READY_FILE"] = os.path.join(project, "ready.txt")
            runs = alternate({"pytest --batt": plain, "pytest --batt --batt-sandbox": boxed_run}, args.run_rounds,
                             project, env, env["BENCH_READY_FILE"])
            out["run"] = summary(f"whole run ({args.tasks} tasks, -n {args.workers}): start to exit; ready: the last worker "
                                 "ready after xdist set up its nodes", runs, "pytest --batt", "pytest --batt --batt-sandbox",
                                 ("ready", "wall"))
    out["load_after"] = os.getloadavg()[0]
    print(f"load average (1 min): {out['load_before']:.2f} before, {out['load_after']:.2f} after")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
