"""Rendering: the Markdown tables and target lines the benchmark prints (no measuring here)."""

from __future__ import annotations

import statistics
from typing import Any, Dict, List, Optional, Tuple


def fmt(x: Optional[float], spec: str = ".2f", dnf: bool = False) -> str:
    if x is None:
        return "-"
    return (">" if dnf else "") + format(x, spec)


def calls_per_s(row: Dict[str, Any]) -> str:
    """Batt calls per second of wall time; a lower bound ("<") when the run was killed (DNF)."""
    x = row.get("calls_per_s")
    return "-" if x is None else ("<" if row["dnf"] else "") + f"{x:.1f}"


def print_header(info: Dict[str, Any], argv: List[str], quick: bool) -> None:
    print("# pytest-batt benchmark" + (" (--quick)" if quick else ""))
    print(f"\nmachine: nproc {info['nproc']}, Python {info['python']}, {info['uname']}; "
          f"load average at start {info['loadavg_at_start']}; {info['date']}")
    print(f"command: python benchmarks/run.py {' '.join(argv)}", flush=True)


def print_workload(w: Dict[str, Any]) -> None:
    """A workload's table, then its targets (the hostile mix has none)."""
    if w["single"]:
        print_single(w)
    else:
        print_table(w)
    if w["workload"] != "hostile" or w["single"]:
        print("| target | measured | goal | met |\n|---|---|---|---|")
        for name, got, goal, met in w["targets"]:
            print(f"| {name} | {got} | {goal} | {'-' if met is None else 'yes' if met else 'NO'} |")
        print(flush=True)


def table_head(note: str, columns: List[str]) -> None:
    """A blank line, the workload's note, then a Markdown table's header row and rule."""
    print()
    if note:
        print(note + "\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def print_single(w: Dict[str, Any]) -> None:
    """One task: each contender's wall time per round, and the ratios of each round's pair."""
    rows = w["rows"]
    keys = list(rows)
    table_head(w["note"], ["contender", "wall s per round", "median wall s", "batt calls/s", "median CPU s", "batt calls",
                           "same scores as -n 0", "1-min load before each run"])
    for key in keys:
        r = rows[key]
        print(f"| {r['label']} | {' / '.join(f'{x:.2f}' for x in r['wall_runs'])} | {fmt(r['wall_s'], dnf=r['dnf'])} | "
              f"{calls_per_s(r)} | {fmt(r['cpu_s'])} | {r['calls'] if r['calls'] is not None else '-'} | {r['equal'] or '-'} | "
              f"{' / '.join(f'{x:.2f}' for x in r['load_before'])} |")
    pairs = w.get("ratios") or []
    if pairs:
        a, b = (rows[k] for k in keys)
        print(f"\n{b['label']} / {a['label']}, wall, per round: {' / '.join(f'{x:.2f}x' for x in pairs)}"
              f"; median {statistics.median(pairs):.2f}x")
    print(flush=True)


def print_table(w: Dict[str, Any]) -> None:
    rows = w["rows"]
    p3 = rows.get("phase3")
    table_head(w["note"], ["contender", "speed-up vs Phase 3 (wall)", "CPU vs Phase 3", "wall s", "batt calls/s", "CPU s", "batt calls",
                           "same scores as Phase 3", "controller peak MB", "worker peak MB", "timeouts/errors"])
    for key, r in rows.items():
        if p3 and not p3["dnf"] and not r["dnf"]:
            speed = f"{p3['wall_s'] / r['wall_s']:.2f}x"
            cpu = f"{r['cpu_s'] / p3['cpu_s']:.2f}x"
        elif p3 and p3["dnf"] and not r["dnf"]:
            speed, cpu = f">{p3['wall_s'] / r['wall_s']:.2f}x", "-"
        elif p3 and not p3["dnf"] and r["dnf"]:
            speed, cpu = f"<{p3['wall_s'] / r['wall_s']:.2f}x (DNF)", "-"
        elif key == "phase3":
            speed, cpu = "baseline, DNF: " + r.get("progress", ""), "-"
        else:
            speed, cpu = "- (both DNF)" if r["dnf"] else "-", "-"
        cpu_s = fmt(r["cpu_s"], dnf=r["dnf"])
        if r.get("cpu_after_return_s"):
            cpu_s += f" (+{r['cpu_after_return_s']:.2f} after return, {r['abandoned_threads']} threads abandoned)"
        print(f"| {r['label']} | {speed} | {cpu} | {fmt(r['wall_s'], dnf=r['dnf'])} | {calls_per_s(r)} | {cpu_s} | "
              f"{r['calls'] if r['calls'] is not None else '-'} | "
              f"{r['equal'] or '-'} | {fmt(r['controller_rss_mb'], '.0f')} | {fmt(r['worker_rss_mb'], '.0f')}"
              f"{' (' + str(r['workers_seen']) + ' procs)' if r['workers_seen'] > 1 else ''} | {r['problems']} |")
    print(flush=True)


def targets(w: Dict[str, Any]) -> List[Tuple[str, str, str, Optional[bool]]]:
    """(target, measured, goal, met) for the pytest-batt ratios of one workload."""
    r = w["rows"]
    out: List[Tuple[str, str, str, Optional[bool]]] = []
    if w["workload"].startswith("single"):
        ratios = w.get("ratios") or []
        x = statistics.median(ratios) if ratios else None
        runs = " (rounds: " + ", ".join(f"{v:.2f}x" for v in ratios) + ")" if ratios else ""
        if w["workload"] == "single-heavy":
            inv = 1 / x if x else None
            runs = " (rounds: " + ", ".join(f"{1 / v:.2f}x" for v in ratios) + ")" if ratios else ""
            out.append(("one heavy task: -n 0 time / default time", fmt(inv, ".2f") + ("x" if inv else "") + runs,
                        ">= 1.6x", None if inv is None else inv >= 1.6))
        elif w["workload"] == "single-light":
            out.append(("one light task: default time / -n 0 time", fmt(x, ".2f") + ("x" if x else "") + runs, "<= 1.25x",
                        None if x is None else x <= 1.25))
        else:
            out.append(("one real-shaped task: default time / -n 0 time", fmt(x, ".2f") + ("x" if x else "") + runs, "(none)", None))
        return out

    def ratio(a: str, b: str) -> Optional[float]:
        if a in r and b in r and not r[a]["dnf"] and not r[b]["dnf"]:
            return r[a]["wall_s"] / r[b]["wall_s"]
        return None

    x = ratio("n0", "n2")
    out.append(("-n 2 speed-up over -n 0", fmt(x, ".2f") + ("x" if x is not None else ""), ">= 1.85x", None if x is None else x >= 1.85))
    x = ratio("thread", "n2")
    if "thread" in r and r["thread"]["dnf"] and "n2" in r and not r["n2"]["dnf"]:
        out.append(("-n 2 speed-up over the thread design", f">{r['thread']['wall_s'] / r['n2']['wall_s']:.2f}x (thread design DNF)",
                    ">= 1.8x", True))
    else:
        out.append(("-n 2 speed-up over the thread design", fmt(x, ".2f") + ("x" if x is not None else ""), ">= 1.8x",
                    None if x is None else x >= 1.8))
    # The same ratio with the calls taken out: the thread design making pytest-batt's calls.
    for key, label in (("n2", "-n 2"), ("n0", "-n 0")):
        name = f"{label} speed-up over the thread design with pytest-batt's calls"
        goal = "none: what processes and timeouts buy"
        if "thread-dedup" in r and key in r and r["thread-dedup"]["dnf"] and not r[key]["dnf"]:
            out.append((name, f">{r['thread-dedup']['wall_s'] / r[key]['wall_s']:.2f}x (thread design DNF)", goal, None))
        elif ratio("thread-dedup", key) is not None:
            out.append((name, f"{ratio('thread-dedup', key):.2f}x", goal, None))
    x = ratio("bare", "bare2")
    if x is not None:
        out.append(("(ceiling) 2 bare loops in parallel over 1 bare loop", f"{x:.2f}x", "what this machine allows", None))
    x = ratio("n0", "bare")
    out.append(("-n 0 time / bare loop time", fmt(x, ".3f") + ("x" if x is not None else ""), "<= 1.05x", None if x is None else x <= 1.05))
    return out

