"""The controller's peak memory over N and 4N tasks: does it stay flat as the run grows?

Runs ``pytest --batt <the first N ARC-AGI-1 training tasks> -n 2`` with a wide generated batt
(``make_wide_batt.py``: 300 candidates and 300 differ rows per call by default) or the reference
batt, then the same over ``--factor`` times as many tasks, and prints the controller's peak
memory (VmHWM of the pytest process, reported at exit by the ``-p`` probe plugin of
``measuring.py``) for each, and their ratio. With ``--cli`` it then measures the commands that
read such files: ``compare`` of the larger run's file against itself and ``merge`` of it split
into two shard files. Every run is a fresh subprocess from an empty directory, on a snapshot of
the installed ``pytest_batt`` (run this script with another checkout's interpreter to measure
that checkout).

    python benchmarks/controller_memory.py                       # wide batt, 16 and 64 tasks
    python benchmarks/controller_memory.py --tasks 16 --factor 3  # 16 and 48 tasks
    python benchmarks/controller_memory.py --batt reference --tasks 200 --factor 4 --outputs --cli
    python benchmarks/controller_memory.py --batt reference --data arcagi1 --tasks all --outputs --cli  # 800 tasks

No test asserts on these numbers: this is a script.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_wide_batt import write as write_wide
from measuring import PY, Measure, load1, machine, make_context, mb, run_measured

def task_ids(data: str, count: str) -> List[str]:
    from pytest_batt.tasks import load_taskset

    ids = load_taskset(data).ids()
    return ids if count == "all" else ids[: int(count)]


def pytest_cmd(data: str, ids: List[str], every: bool, module: str, out_dir: str, outputs: bool, timeout: float) -> List[str]:
    cmd = [PY, "-m", "pytest", "-p", "no:cacheprovider", "-p", "batt_bench_probe", "-q", "--no-header", "-rN",
           "--batt", "all" if every else ",".join(ids), "--batt-data", data, "--batt-module", module,
           "--batt-timeout", f"{timeout:g}", "-n", "2", "--batt-json", os.path.join(out_dir, "r.json.gz")]
    if outputs:
        cmd += ["--batt-html", os.path.join(out_dir, "r.html"), "--batt-submission", os.path.join(out_dir, "s.json")]
    return cmd


def describe(m: Measure, label: str) -> Dict[str, Any]:
    return {"label": label, "rc": m.rc, "dnf": m.dnf, "wall_s": round(m.wall_s, 1), "cpu_s": round(m.cpu_s, 1),
            "controller_peak_mb": mb(m.controller_rss_kb or 0), "worker_peak_mb": mb(m.worker_rss_kb or 0)}


def split_shards(path: str, out_dir: str) -> List[str]:
    """The results file as the two shard files a ``--batt-shard 1/2`` and ``2/2`` run would leave
    (alternate tasks): what ``merge`` is then measured on. Read task by task where the checkout can."""
    from pytest_batt import results

    data = results.load(path) if hasattr(results, "load") else results.read(path)
    ids = list(data["tasks"])
    paths = []
    for k in (1, 2):
        shard = {key: v for key, v in data.items() if key not in ("tasks", "config")}
        shard["config"] = {**data["config"], "shard": {"index": k, "count": 2, "selection": ids, "by": "benchmark"}}
        shard["tasks"] = {tid: data["tasks"][tid] for tid in ids[k - 1::2]}
        paths.append(os.path.join(out_dir, f"shard{k}.json.gz"))
        results.write(paths[-1], shard)
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--batt", choices=("wide", "reference"), default="wide")
    p.add_argument("--data", default="arcagi1-training", help="the task data (default arcagi1-training; arcagi1: all 800)")
    p.add_argument("--tasks", default="16", help="N: the first N tasks of the data (or all: one run of them all)")
    p.add_argument("--factor", type=int, default=4, help="the second run has N x FACTOR tasks (default 4; 1: one run)")
    p.add_argument("--solvers", type=int, default=300)
    p.add_argument("--rows", type=int, default=300)
    p.add_argument("--differs", type=int, default=60)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--outputs", action="store_true", help="also --batt-html and --batt-submission")
    p.add_argument("--cli", action="store_true", help="then measure compare and merge of the last run's file")
    p.add_argument("--keep", default=None, metavar="DIR", help="copy each run's files here")
    p.add_argument("--budget", type=float, default=7200.0)
    args = p.parse_args(argv)

    ctx = make_context(os.getcwd())
    print(f"machine: {json.dumps(machine())}", flush=True)
    import pytest_batt

    print(f"pytest_batt measured: {os.path.dirname(pytest_batt.__file__)}", flush=True)
    if args.batt == "wide":
        module = write_wide(os.path.join(ctx.tmp, "wide_batt.py"), args.solvers, args.rows, args.differs)
        print(f"wide batt: {args.solvers} candidates, {args.rows} differ rows per call ({args.differs} differs)", flush=True)
    else:
        module = "pytest_batt.reference"
    counts = [args.tasks] if args.tasks == "all" or args.factor == 1 else [args.tasks, str(int(args.tasks) * args.factor)]
    rows = []
    last_dir = ""
    for count in counts:
        ids = task_ids(args.data, count)
        out_dir = os.path.join(ctx.tmp, f"run-{len(ids)}")
        os.makedirs(out_dir)
        cmd = pytest_cmd(args.data, ids, count == "all", module, out_dir, args.outputs, args.timeout)
        print(f"\n{len(ids)} tasks (load {load1():.1f}): {' '.join(cmd[3:9])} ... -n 2", flush=True)
        m = run_measured(cmd, ctx.cwd, ctx.env, args.budget, ctx.probe_file)
        row = describe(m, f"{len(ids)} tasks")
        written = os.path.join(out_dir, "r.json.gz")
        row["results_mb"] = round(os.path.getsize(written) / 2**20, 1) if os.path.exists(written) else None
        if row["results_mb"] is not None:
            with gzip.open(written, "rb") as f:
                row["results_json_mb"] = round(sum(len(b) for b in iter(lambda: f.read(1 << 20), b"")) / 2**20, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if m.rc not in (0, 1):
            print(m.tail, flush=True)
        if args.keep:
            shutil.copytree(out_dir, os.path.join(args.keep, os.path.basename(out_dir)), dirs_exist_ok=True)
        last_dir = out_dir
    print("\n| run | controller peak MB | worker peak MB | wall s | results .json.gz MB (JSON MB) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['controller_peak_mb']} | {r['worker_peak_mb']} | {r['wall_s']} | "
              f"{r.get('results_mb')} ({r.get('results_json_mb')}) |")
    if len(rows) == 2 and rows[0]["controller_peak_mb"] and rows[1]["controller_peak_mb"]:
        ratio = rows[1]["controller_peak_mb"] / rows[0]["controller_peak_mb"]
        print(f"\nratio {rows[1]['label']} / {rows[0]['label']}: {ratio:.2f}x", flush=True)
    if args.cli and last_dir:
        path = os.path.join(last_dir, "r.json.gz")
        copy = os.path.join(last_dir, "r2.json.gz")
        shutil.copyfile(path, copy)
        for label, cmd in (("compare", [PY, "-m", "pytest_batt", "compare", path, copy, "--fail", "solved"]),):
            m = run_measured(cmd, ctx.cwd, ctx.env, args.budget)
            print(f"{label}: peak {mb(m.controller_rss_kb or 0)} MB, wall {m.wall_s:.1f} s, rc {m.rc}", flush=True)
        shards = split_shards(path, last_dir)
        merged = os.path.join(last_dir, "merged.json.gz")
        m = run_measured([PY, "-m", "pytest_batt", "merge", *shards, "-o", merged], ctx.cwd, ctx.env, args.budget)
        print(f"merge: peak {mb(m.controller_rss_kb or 0)} MB, wall {m.wall_s:.1f} s, rc {m.rc}", flush=True)
    shutil.rmtree(ctx.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
