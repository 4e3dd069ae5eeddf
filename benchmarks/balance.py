"""Balanced without being told: pytest-batt's modes side by side with a plain loop, on a program
library and on a real generated batt, first runs and reruns, ratios per round.

    python benchmarks/balance.py --arc-dsl /tmp/arc-dsl --tokpidjin /tmp/tokpidjin/test_100_tasks.py
    python benchmarks/balance.py --arc-dsl /tmp/arc-dsl --only arcdsl --rounds 5

Sections (``--only``; those whose client is not given are left out):

  arcdsl  arc-dsl's 400 solvers (``--arc-dsl DIR``: a checkout, its ``solvers.py``) over ARC-AGI-1
          training, ``--batt-programs solvers.py --batt-grid-form tuple --batt-timeout 60``:
            loop      benchmarks/programs_loop.py: each solver on each sample, no pytest
            pytest-n0 benchmarks/programs_pytest.py: the same as one plain parametrized pytest test per
                      sample, pytest-batt not loaded (``-p no:batt``): what pytest alone costs
            pytest-n2 the same under ``-n 2 --dist worksteal``: what pytest-xdist alone gains
            n0        pytest -n 0, rerun in its own folder (the cache as a user's)
            n2-first  pytest -n 2 in an empty folder: no cache, the plan guessed
            n2-again  pytest -n 2 rerun in a folder whose cache an earlier -n 2 run filled
  tok1    a real generated batt (``--tokpidjin FILE``: tokpidjin's 100-solver ``test_100_tasks.py``),
          one task (007bbfb7, --batt-data kaggle2025):
            n0             pytest -n 0, rerun
            default-again  pytest with no -n, rerun (its cache filled by the run before)
  tok3    the same batt on three tasks (007bbfb7, 2c608aff, 3bd67248): n0, n2-first, n2-again

Every contender is a fresh process (``measuring.run_measured``: wall start to exit, CPU of the
whole process tree) with the benchmark's environment (``measuring.contender_env``: a snapshot
of pytest_batt first on PYTHONPATH, PYTHONHASHSEED=0, one BLAS thread). A "rerun" contender
keeps one folder for all its runs, filled by one unmeasured run before the first round; a
"first" contender gets an empty folder every time. Contenders take turns, the order rotated
every round, and each ratio is computed per round (the runs next to each other) and its
median printed with the rounds', for wall time and for CPU time (on a shared machine the wall
ratio of ``-n 2`` says how many cores it got; the CPU ratio what it cost). The workers column is
each run's ``config.workers`` (0: it ran in this process). Scores: every pytest-batt run's o_score, d_score, s_score
and solved against the first contender's, and the plain loop's verdict per sample against
pytest-batt's. No timed assertion: the script prints, it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/

import measuring  # noqa: E402  (benchmarks/ is not a package: this script's folder is on sys.path)
from contenders import SCORE_KEYS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOK_TASKS = ["007bbfb7", "2c608aff", "3bd67248"]
FLOOR = os.path.join(HERE, "programs_pytest.py")


@dataclass
class Contender:
    key: str
    args: List[str]  # after the interpreter: a script or -m pytest ...
    rerun: bool  # one folder kept for all runs (primed once) or an empty folder every run
    results: str = ""  # the option that names its results file (--batt-json or --json; none: "")
    files: List[str] = field(default_factory=list)  # copied into its folder before each run
    env: Dict[str, str] = field(default_factory=dict)  # set for its runs, over the benchmark's environment
    runs: List[Any] = field(default_factory=list)
    outputs: List[Optional[Dict[str, Any]]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


@dataclass
class Section:
    name: str
    title: str
    contenders: List[Contender]
    ratios: List[Tuple[str, str, str, str]]  # (label, numerator key, denominator key, goal): wall and CPU of each pair


def pytest_args(common: List[str], workers: Optional[str]) -> List[str]:
    return ["-m", "pytest", "-rN", *common, *(["-n", workers] if workers is not None else [])]


def sections(args: argparse.Namespace) -> List[Section]:
    only = set(args.only.split(","))
    out = []
    if args.arc_dsl and "arcdsl" in only:
        solvers = os.path.join(os.path.abspath(args.arc_dsl), "solvers.py")
        common = ["--batt", "all", "--batt-data", "arcagi1-training", "--batt-programs", solvers, "--batt-grid-form", "tuple",
                  "--batt-timeout", "60"]
        loop = [os.path.join(HERE, "programs_loop.py"), "--programs", solvers, "--grid-form", "tuple", "--data", "arcagi1-training"]
        floor = ["-m", "pytest", "-rN", "-p", "no:batt", "-p", "no:cacheprovider", os.path.basename(FLOOR)]
        floor_env = {"BATT_FLOOR_PROGRAMS": solvers, "BATT_FLOOR_GRID_FORM": "tuple", "BATT_FLOOR_DATA": "arcagi1-training"}
        out.append(Section("arcdsl", "arc-dsl's 400 solvers over ARC-AGI-1 training (a program library)", [
            Contender("loop", loop, rerun=False, results="--json"),
            Contender("n0", pytest_args(common, "0"), rerun=True, results="--batt-json"),
            Contender("n2-first", pytest_args(common, "2"), rerun=False, results="--batt-json"),
            Contender("n2-again", pytest_args(common, "2"), rerun=True, results="--batt-json"),
            # pytest's own floor: the module copied into an empty folder (no project ini or conftest.py there)
            Contender("pytest-n0", floor + ["-n", "0"], rerun=False, files=[FLOOR], env=floor_env),
            Contender("pytest-n2", floor + ["-n", "2", "--dist", "worksteal"], rerun=False, files=[FLOOR], env=floor_env),
        ], [("-n 0 / plain loop", "n0", "loop", "<= 1.25"),
            ("-n 0 / -n 2, first run (empty cache)", "n0", "n2-first", ">= 1.5"),
            ("-n 0 / -n 2, rerun", "n0", "n2-again", ">= 1.7"),
            ("plain pytest -n 0 / plain loop (pytest's floor)", "pytest-n0", "loop", "-"),
            ("plain pytest -n 0 / plain pytest -n 2 (xdist's gain)", "pytest-n0", "pytest-n2", "-"),
            ("plain pytest -n 2 / -n 2, rerun", "pytest-n2", "n2-again", "-")]))
    tok = os.path.abspath(args.tokpidjin) if args.tokpidjin else None
    if tok and "tok1" in only:
        common = ["--batt", TOK_TASKS[0], "--batt-data", "kaggle2025", "--batt-module", tok, "--batt-timeout", "60"]
        out.append(Section("tok1", f"a real generated batt ({os.path.basename(tok)}), one task {TOK_TASKS[0]}", [
            Contender("n0", pytest_args(common, "0"), rerun=True, results="--batt-json"),
            Contender("default-again", pytest_args(common, None), rerun=True, results="--batt-json"),
        ], [("default, rerun / -n 0", "default-again", "n0", "<= 1.0")]))
    if tok and "tok3" in only:
        common = ["--batt", ",".join(TOK_TASKS), "--batt-data", "kaggle2025", "--batt-module", tok, "--batt-timeout", "60"]
        out.append(Section("tok3", f"a real generated batt ({os.path.basename(tok)}), three tasks {', '.join(TOK_TASKS)}", [
            Contender("n0", pytest_args(common, "0"), rerun=True, results="--batt-json"),
            Contender("n2-first", pytest_args(common, "2"), rerun=False, results="--batt-json"),
            Contender("n2-again", pytest_args(common, "2"), rerun=True, results="--batt-json"),
        ], [("-n 0 / -n 2, first run", "n0", "n2-first", ">= 1.29 (before issue 32)"),
            ("-n 0 / -n 2, rerun", "n0", "n2-again", ">= 1.29 (before issue 32)")]))
    return out


def header_notes(output: str) -> List[str]:
    """What the run said about its plan and its mode (the header's batt: lines on these)."""
    return [line for line in output.splitlines() if re.match(r"batt: (plan|in this process, not in workers)", line)]


def run_section(sec: Section, ctx: measuring.Context, rounds: int, budget: float) -> Dict[str, Any]:
    print(f"\n## {sec.title}\n", flush=True)
    folders = {c.key: tempfile.mkdtemp(prefix=f"{sec.name}-{c.key}-", dir=ctx.tmp) for c in sec.contenders if c.rerun}

    def command(c: Contender, path: str) -> List[str]:
        return [measuring.PY, *c.args, *([c.results, path] if c.results else [])]

    for c in sec.contenders:  # a rerun contender's folder gets its cache from one unmeasured run
        if c.rerun:
            m = measuring.run_measured(command(c, os.path.join(ctx.tmp, "prime.json")), folders[c.key], {**ctx.env, **c.env}, budget)
            print(f"  primed {c.key:14s} (wall {m.wall_s:.2f} s, rc {m.rc}, not counted)", flush=True)
    keys = [c.key for c in sec.contenders]
    by_key = {c.key: c for c in sec.contenders}
    for r in range(rounds):
        k = r % len(keys)
        for key in keys[k:] + keys[:k]:
            c = by_key[key]
            cwd = folders[key] if c.rerun else tempfile.mkdtemp(prefix=f"{sec.name}-{key}-", dir=ctx.tmp)
            for src in c.files:
                shutil.copy(src, cwd)
            path = os.path.join(ctx.out_dir, f"{sec.name}-{key}-{r}.json")
            load = os.getloadavg()[0]
            m = measuring.run_measured(command(c, path), cwd, {**ctx.env, **c.env}, budget)
            m.load1 = load
            c.runs.append(m)
            c.outputs.append(measuring.load_json(path))
            c.notes = header_notes(m.output) or c.notes
            with open(os.path.join(ctx.out_dir, f"{sec.name}-{key}-{r}.log"), "w") as f:
                f.write(" ".join(command(c, path)) + "\n" + m.output)
            print(f"  [{r + 1}/{rounds}] {key:14s} wall {m.wall_s:7.2f} s  cpu {m.cpu_s:7.2f} s  rc {m.rc}"
                  f"{'  DNF' if m.dnf else ''}  (load before {load:.2f})", flush=True)
            if not c.rerun:
                shutil.rmtree(cwd, ignore_errors=True)
    return report(sec)


def meets(value: Optional[float], goal: str) -> str:
    """``yes``/``no`` for a ratio against a goal such as ``<= 1.25`` or ``>= 1.5 (before ...)``; ``-`` without one."""
    m = re.match(r"\s*(<=|>=)\s*([0-9.]+)", goal)
    if value is None or m is None:
        return "-"
    bound = float(m.group(2))
    return "yes" if (value <= bound if m.group(1) == "<=" else value >= bound) else "no"


def same_scores(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    return a["tasks"].keys() == b["tasks"].keys() and all(
        a["tasks"][t][k] == b["tasks"][t][k] for t in a["tasks"] for k in SCORE_KEYS)


def same_verdicts(loop: Dict[str, List[bool]], res: Dict[str, Any]) -> bool:
    return loop.keys() == res["tasks"].keys() and all(
        loop[t] == [s["status"] == "solved" for s in res["tasks"][t]["samples"]] for t in loop)


def report(sec: Section) -> Dict[str, Any]:
    rows = {}
    print("\n| contender | wall s per round | median wall s | median CPU s | workers per round | what the run said |\n"
          "|---|---|---|---|---|---|")
    for c in sec.contenders:
        walls = [m.wall_s for m in c.runs]
        workers = [str(o["config"]["workers"]) if o and c.results == "--batt-json" else "-" for o in c.outputs]
        rows[c.key] = {"wall_runs": [round(w, 3) for w in walls], "cpu_runs": [round(m.cpu_s, 3) for m in c.runs],
                       "rc": [m.rc for m in c.runs], "load_before": [m.load1 for m in c.runs], "notes": c.notes,
                       "workers": workers}
        print(f"| {c.key} | {' / '.join(f'{w:.2f}' for w in walls)} | {statistics.median(walls):.2f} | "
              f"{statistics.median(m.cpu_s for m in c.runs):.2f} | {' / '.join(workers)} | {'; '.join(c.notes) or '-'} |")
    ratios = []
    print("\n| ratio (wall) | per round | median | goal | met (wall median) | CPU, per round | CPU, median |\n"
          "|---|---|---|---|---|---|---|")
    by_key = {c.key: c for c in sec.contenders}
    for label, a, b, goal in sec.ratios:
        pairs = list(zip(by_key[a].runs, by_key[b].runs))
        per = [x.wall_s / y.wall_s for x, y in pairs if y.wall_s]
        cpu = [x.cpu_s / y.cpu_s for x, y in pairs if y.cpu_s]
        med, cmed = (statistics.median(per) if per else None), (statistics.median(cpu) if cpu else None)
        ratios.append({"ratio": label, "per_round": [round(x, 3) for x in per], "median": med, "goal": goal,
                       "met": meets(med, goal), "cpu_per_round": [round(x, 3) for x in cpu], "cpu_median": cmed})
        print(f"| {label} | {' / '.join(f'{x:.2f}x' for x in per)} | {'-' if med is None else f'{med:.2f}x'} | {goal} | "
              f"{meets(med, goal)} | {' / '.join(f'{x:.2f}x' for x in cpu)} | {'-' if cmed is None else f'{cmed:.2f}x'} |")
    # Scores: every pytest-batt run against the first one; the plain loop's verdicts against it too.
    results = [(c.key, r, o) for c in sec.contenders for r, o in enumerate(c.outputs) if c.results == "--batt-json"]
    loops = [(c.key, r, o) for c in sec.contenders for r, o in enumerate(c.outputs) if c.results == "--json"]
    missing = [f"{k}#{r + 1}" for k, r, o in results + loops if o is None]
    base = next((o for _, _, o in results if o is not None), None)
    differ = [f"{k}#{r + 1}" for k, r, o in results if o is not None and base is not None and not same_scores(base, o)]
    differ += [f"{k}#{r + 1}" for k, r, o in loops if o is not None and base is not None and not same_verdicts(o, base)]
    scores = "identical in every run" if not differ and not missing else f"DIFFER: {', '.join(differ)}; missing: {', '.join(missing)}"
    print(f"\nscores (o_score, d_score, s_score, solved; the loop: each sample's verdict): {scores}\n", flush=True)
    return {"section": sec.name, "title": sec.title, "rows": rows, "ratios": ratios, "scores": scores}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--arc-dsl", default=None, help="a checkout of michaelhodel/arc-dsl (its solvers.py is the library)")
    p.add_argument("--tokpidjin", default=None, help="tokpidjin's 100-solver batt file (test_100_tasks.py, in its checkout)")
    p.add_argument("--only", default="arcdsl,tok1,tok3")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--budget", type=float, default=600.0, help="seconds before a run is killed (DNF)")
    p.add_argument("--out", default=None, help="folder for the results files, logs and report.json (default: a temp folder)")
    args = p.parse_args(argv)
    if not (args.arc_dsl or args.tokpidjin):
        p.error("give --arc-dsl DIR and/or --tokpidjin FILE")
    out_dir = args.out or tempfile.mkdtemp(prefix="pytest-batt-balance-")
    os.makedirs(out_dir, exist_ok=True)
    ctx = measuring.make_context(out_dir)
    info = measuring.machine()
    print(f"# pytest-batt balance benchmark\n\nmachine: nproc {info['nproc']}, Python {info['python']}; "
          f"load average at start {info['loadavg_at_start']}; {info['date']}")
    print(f"command: python benchmarks/balance.py {' '.join(argv if argv is not None else sys.argv[1:])}", flush=True)
    report_: Dict[str, Any] = {"machine": info, "sections": []}
    try:
        for sec in sections(args):
            report_["sections"].append(run_section(sec, ctx, args.rounds, args.budget))
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    print("\n## Goals (issue 32): the median wall ratio of each section against its goal\n")
    for sec in report_["sections"]:
        for r in sec["ratios"]:
            med = "-" if r["median"] is None else f"{r['median']:.2f}x"
            print(f"- {sec['section']}: {r['ratio']}: {med} (goal {r['goal']}): {r['met']}; scores {sec['scores']}")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (wall ratios of -n 2 need two idle cores)")
    path = os.path.join(out_dir, "report.json")
    with open(path, "w") as f:
        json.dump(report_, f, indent=1)
    print(f"full report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
