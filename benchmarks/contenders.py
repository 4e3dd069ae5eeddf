"""The contenders: how each one's command is built, and running them in turn on a workload.

Each contender is one fresh process (``measuring.run_measured``) that writes a schema 1
results file; the rows built here say how long it took, what it cost and whether its scores
equal Phase 3's.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from measuring import PY, Context, Measure, load_json, mb, run_measured
from workloads import DATA, Workload

HERE = Path(__file__).resolve().parent
SCORE_KEYS = ("o_score", "d_score", "s_score", "solved")

CONTENDERS = {
    "phase3": "Phase 3 (python -m pytest_batt phase3)",
    "thread": "thread design (OLD seed design)",
    "thread-dedup": "thread design, pytest-batt's calls (OLD design, --dedup)",
    "n0": "pytest-batt -n 0",
    "n2": "pytest-batt -n 2",
    "nauto": "pytest-batt -n auto",
    "default": "pytest-batt default (no -n: -n auto)",
    "bare": "bare loop (no pytest)",
    "bare2": "2 bare loops in parallel (machine ceiling)",
}


def round_order(keys: List[str], r: int) -> List[str]:
    """Round ``r``'s order: the contenders rotated by ``r``.

    Each round another contender goes first, and over ``len(keys)`` rounds each runs once in
    every position, so a drift of a noisy machine's load does not always hit the same one
    (with two contenders: they take turns going first).
    """
    k = r % len(keys) if keys else 0
    return keys[k:] + keys[:k]


def contender_cmd(key: str, wl: Workload, json_path: str) -> List[str]:
    common = ["--batt", ",".join(wl.tasks), "--batt-data", DATA, "--batt-module", wl.module, "--batt-timeout", f"{wl.timeout:g}"]
    if key == "phase3":
        return [PY, "-m", "pytest_batt", "phase3", *common, "--json", json_path]
    if key in ("thread", "thread-dedup"):
        dedup = ["--dedup"] if key == "thread-dedup" else []
        return [PY, str(HERE / "thread_design.py"), *common, "--json", json_path, "--linger", "3", *dedup]
    if key == "bare":
        return [PY, str(HERE / "bare_loop.py"), *common, "--json", json_path]
    if key == "bare2":  # two processes, alternate tasks each: what 2 cores give this work with no pytest at all
        halves = [wl.tasks[0::2], wl.tasks[1::2]]
        parts = [shlex.join([PY, str(HERE / "bare_loop.py"), "--batt", ",".join(h), *common[2:], "--json", f"{json_path}.{i}"])
                 for i, h in enumerate(halves)]
        return ["/bin/sh", "-c", f"{parts[0]} & {parts[1]} & wait"]
    workers = [] if key == "default" else ["-n", {"n0": "0", "n2": "2", "nauto": "auto"}[key]]
    return [PY, "-m", "pytest", "-p", "no:cacheprovider", "-p", "batt_bench_probe", "-q", "--no-header", "-rN",
            *common, "--batt-grace", f"{wl.grace:g}", "--batt-json", json_path, *workers]


def merge_halves(path: str) -> None:
    """The two bare2 results files as one (tasks of both; the session of the slower half)."""
    parts = [load_json(f"{path}.{i}") for i in (0, 1)]
    if any(p is None for p in parts):
        return
    merged = dict(parts[0])  # type: ignore[arg-type]
    merged["tasks"] = {**parts[0]["tasks"], **parts[1]["tasks"]}  # type: ignore[index]
    merged["session"] = max((p["session"] for p in parts), key=lambda s: s["wall_s"])  # type: ignore[index]
    with open(path, "w") as f:
        json.dump(merged, f)


def scores_equal(base: Dict[str, Any], other: Dict[str, Any]) -> Tuple[int, int, List[str]]:
    """(tasks equal, tasks compared, ids that differ) on o_score, d_score, s_score, solved."""
    same, differ = 0, []
    for tid, entry in base["tasks"].items():
        o = other["tasks"].get(tid)
        if o is not None and all(entry[k] == o[k] for k in SCORE_KEYS):
            same += 1
        else:
            differ.append(tid)
    return same, len(base["tasks"]), differ


def statuses(res: Optional[Dict[str, Any]]) -> str:
    if res is None:
        return "-"
    counts: Dict[str, int] = {}
    for t in res["tasks"].values():
        for s in t["samples"]:
            counts[s["status"]] = counts.get(s["status"], 0) + 1
    bad = {k: v for k, v in counts.items() if k not in ("solved", "unsolved")}
    return ", ".join(f"{v} {k}" for k, v in sorted(bad.items())) or "none"


def run_workload(wl: Workload, ctx: Context, repeat: int) -> Dict[str, Any]:
    print(f"\n## {wl.title}\n", flush=True)
    print(f"{len(wl.tasks)} tasks, module {wl.module}, timeout {wl.timeout:g} s per call, grace {wl.grace:g} s, "
          f"budget {wl.budget:g} s per contender run", flush=True)
    runs: Dict[str, List[Measure]] = {k: [] for k in wl.contenders}
    res: Dict[str, Optional[Dict[str, Any]]] = {}
    for r in range(repeat):
        for key in round_order(wl.contenders, r):
            path = os.path.join(ctx.out_dir, f"{wl.name}-{key}-{r}.json")
            if os.path.exists(path):
                os.unlink(path)
            cmd = contender_cmd(key, wl, path)
            load = os.getloadavg()[0]
            m = run_measured(cmd, ctx.cwd, ctx.env, wl.budget, ctx.probe_file)
            m.load1 = load
            runs[key].append(m)
            if key == "bare2" and not m.dnf:
                merge_halves(path)
            res[key] = load_json(path) if not m.dnf else None
            state = "DNF (killed at budget)" if m.dnf else f"rc {m.rc}"
            print(f"  [{r + 1}/{repeat}] {key:12s} wall {m.wall_s:8.2f} s  cpu {m.cpu_s:8.2f} s  {state}  "
                  f"(1-min load average before: {load:.2f})", flush=True)
            with open(os.path.join(ctx.out_dir, f"{wl.name}-{key}-{r}.log"), "w") as f:
                f.write(" ".join(cmd) + "\n" + m.output)
            if m.rc not in (0, 1) and not m.dnf:
                print(textwrap.indent(m.tail, "      | "), flush=True)
    rows: Dict[str, Dict[str, Any]] = {}
    for key in wl.contenders:
        ms = runs[key]
        ok = [m for m in ms if not m.dnf]
        pick = ok or ms
        got = res.get(key)
        rows[key] = {
            "label": CONTENDERS[key],
            "dnf": not ok,
            "wall_s": statistics.median(m.wall_s for m in pick),
            "wall_runs": [round(m.wall_s, 3) for m in ms],
            "load_before": [m.load1 for m in ms],
            "cpu_s": statistics.median(m.cpu_s for m in pick),
            "cpu_after_return_s": (statistics.median(m.linger.get("cpu_after_return_s", 0.0) for m in pick)
                                   if key.startswith("thread") else None),
            "abandoned_threads": max((m.done.get("abandoned_threads", 0) for m in pick), default=0) if key.startswith("thread") else None,
            "controller_rss_mb": mb(max((m.controller_rss_kb or 0) for m in pick)),
            "worker_rss_mb": mb(max((m.worker_rss_kb or 0) for m in pick)),
            "workers_seen": max(m.workers_seen for m in pick),
            # per pytest process (the -p probe): its own CPU seconds and peak RSS, to tell controller from workers
            "probe": [r for m in pick for r in m.probe],
            "run_wall_s": got["session"]["wall_s"] if got else None,
            "calls": sum(s["calls"] for t in got["tasks"].values() for s in t["samples"]) if got else None,
            "order": [round_order(wl.contenders, r).index(key) + 1 for r in range(repeat)],
            "problems": statuses(got),
            "batt_sha256": got["batt"]["sha256"] if got else None,
            "cmd": " ".join(ms[-1].cmd),
        }
    for row in rows.values():  # batt calls per second of wall time: the work each contender got done
        row["calls_per_s"] = row["calls"] / row["wall_s"] if row["calls"] and row["wall_s"] else None
    # Scores are checked against Phase 3; when Phase 3 did not finish, against pytest-batt -n 0.
    base_key = "phase3" if res.get("phase3") else "n0" if res.get("n0") else None
    base = res.get(base_key) if base_key else None
    for key in wl.contenders:
        if key == base_key:
            rows[key]["equal"] = "(baseline)"
            continue
        if base is None or res.get(key) is None:
            rows[key]["equal"] = None
            continue
        same, n, differ = scores_equal(base, res[key])  # type: ignore[arg-type]
        vs = "" if base_key == "phase3" else " vs -n 0"
        listed = f"{', '.join(differ[:4])}{'...' if len(differ) > 4 else ''}"
        rows[key]["equal"] = ("yes" if same == n else f"no ({n - same}/{n} tasks differ: {listed})") + vs
    if "phase3" in rows and rows["phase3"]["dnf"]:
        done = [line for line in runs["phase3"][-1].output.splitlines() if line[:8].isalnum() and "samples solved" in line]
        rows["phase3"]["progress"] = f"{len(done)}/{len(wl.tasks)} tasks finished before the budget"
    out: Dict[str, Any] = {"workload": wl.name, "title": wl.title, "tasks": wl.tasks, "module": wl.module, "timeout_s": wl.timeout,
           "grace_s": wl.grace, "budget_s": wl.budget, "repeat": repeat, "note": wl.note, "single": wl.single, "rows": rows}
    shas = {r["batt_sha256"] for r in rows.values() if r["batt_sha256"]}
    if len(shas) > 1:
        out["note"] += f" WARNING: the contenders ran different batts (sha256 {', '.join(sorted(x[:12] for x in shas))})."
    if wl.single and len(rows) == 2:  # the second contender over the first, round by round
        a, b = rows.values()
        out["ratios"] = [round(x / y, 3) for x, y in zip(b["wall_runs"], a["wall_runs"]) if y]
    return out


