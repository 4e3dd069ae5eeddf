"""The terminal summary of a run, as plain lines built from the results dict."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from . import visible
from .nodeids import sample_nodeid, shown, task_name
from .records import STATUSES

PER_TASK_LIMIT = 40  # past this many tasks, list only the tasks that had problems


def best_solvers(o_score: Dict[str, int], n: int = 2) -> str:
    """The ``n`` solvers with the most hits, as ``id (hits)``: the summary's and the HTML report's column."""
    top = sorted(o_score.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{visible.line(sid)} ({hits})" for sid, hits in top if hits > 0) or "-"


def problems(samples: List[Dict[str, Any]]) -> Dict[str, int]:
    """How many samples timed out, raised, crashed or are missing, by status, in order of first sight."""
    counts: Dict[str, int] = {}
    for s in samples:
        if s["status"] not in ("solved", "unsolved", "unscored"):
            counts[s["status"]] = counts.get(s["status"], 0) + 1
    return counts


def _problems(samples: List[Dict[str, Any]]) -> str:
    return ", ".join(f"{n} {status}" for status, n in problems(samples).items()) or "-"


def task_line(task_id: str, task: Dict[str, Any]) -> List[str]:
    samples = task["samples"]
    demo = [s for s in samples if s["kind"] == "demo"]
    test = [s for s in samples if s["kind"] == "test"]
    solved: Callable[[List[Dict[str, Any]]], int] = lambda xs: sum(s["status"] == "solved" for s in xs)  # noqa: E731
    if not samples:
        return [task_name(task_id), "-", "-", "no", "no", "-", "task error", "-"]
    slow = max(samples, key=lambda s: s["seconds"] or 0.0)
    hidden = _hidden(task)
    judged = [s for s in test if s["status"] != "unscored"]  # a hidden output is neither solved nor missed
    return [
        task_name(task_id),
        f"{solved(demo)}/{len(demo)}",
        f"{solved(judged)}/{len(judged)}" if judged else "-",
        "-" if hidden else "yes" if task["solved"]["at_2"] else "no",
        "-" if hidden else "yes" if task["solved"]["oracle"] else "no",
        f"{slow['kind']}[{slow['index']}] {slow['seconds'] or 0:.2f}s",
        _problems(samples),
        best_solvers(task["o_score"]),
    ]


def table(rows: List[List[str]]) -> List[str]:
    rows = [[visible.line(c) for c in r] for r in rows]  # cells may come from a results file handed back
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def summary_lines(results: Dict[str, Any], verbose: bool = False) -> List[str]:
    tasks = results["tasks"]
    header = ["task", "demo", "test", "pass@2", "oracle", "slowest", "problems", "best solvers (demo+test hits)"]
    rows = [task_line(tid, t) for tid, t in tasks.items()]
    shown = rows if verbose or len(rows) <= PER_TASK_LIMIT else [r for r in rows if r[6] != "-"]
    lines: List[str] = []
    if shown:
        lines += table([header] + shown)
        if len(shown) < len(rows):
            lines.append(f"({len(rows) - len(shown)} tasks without problems not listed; -v lists all)")
        lines.append("")
    lines.append(totals_line(tasks))
    unscored = sum(s["status"] == "unscored" for t in tasks.values() for s in t["samples"])
    if unscored:
        lines.append(f"unscored: {unscored} test samples have hidden outputs (no solutions file): "
                     "pass@2 and oracle count only the tasks that could be judged; score the submission where the solutions are")
    lines += memory_lines(tasks)
    lines += vram_lines(tasks)
    session = results["session"]
    workers = results["config"]["workers"]
    wall, item = session["wall_s"], session["item_s"]
    par = item / wall if wall > 0 else 0.0
    run = f"run {session['process_s']:.2f}s (whole pytest process), " if session.get("process_s") is not None else ""
    lines.append(
        f"time: {run}samples {wall:.2f}s wall, batt {item:.2f}s summed over samples, parallelism {par:.2f}x "
        f"({workers} worker{'s' if workers != 1 else ''})" + ("" if session["complete"] else "   [incomplete run]")
    )
    return lines


def _hidden(task: Mapping[str, Any]) -> bool:
    """Whether a test output of the task is hidden (a Kaggle challenges file without solutions)."""
    return any(s["status"] == "unscored" for s in task["samples"])


def totals_line(tasks: Mapping[str, Any]) -> str:
    """The run in one line (the terminal summary's and phase3's): pass@2, oracle, samples by status.

    pass@2 and the oracle count only the tasks whose test outputs are known: a task with a hidden
    one is neither solved nor missed here (``judged`` says how many were judged)."""
    samples = [s for t in tasks.values() for s in t["samples"]]
    counts = {status: sum(s["status"] == status for s in samples) for status in STATUSES}
    n = len(tasks)
    judged = [t for t in tasks.values() if not _hidden(t)]
    at2 = sum(t["solved"]["at_2"] for t in judged)
    oracle = sum(t["solved"]["oracle"] for t in judged)
    of = f"{len(judged)}" if len(judged) == n else f"{len(judged)} judged"
    scored = len(samples) - counts["unscored"]
    of_samples = f"{scored}" if scored == len(samples) else f"{scored} judged"
    return (f"tasks: {n}   pass@2: {at2}/{of}   oracle: {oracle}/{of}   samples solved: {counts['solved']}/{of_samples}"
            + "".join(f"   {status}: {c}" for status, c in counts.items() if status != "solved" and c))


def gate_lines(gates: Sequence[str], breaches: Sequence[Tuple[str, str]]) -> List[str]:
    """What the gates say (the terminal summary's and ``compare --fail``'s): a blank line and a
    table of the breached ones, else that they hold; nothing without gates."""
    if breaches:
        return [""] + table([["gate", "breached because"]] + [[visible.line(c) for c in b] for b in breaches])
    if gates:
        return [f"gates: {len(gates)} hold ({', '.join(gates)})"]
    return []


def saved_line(path: str, selected: int, planned: int) -> str:
    """--batt-save's line. A baseline of a selection holds its samples only (and is "complete"), so
    the next --batt-compare sees the others as not run: the line says so, where it is written."""
    if selected >= planned:
        return f"baseline saved to {path}"
    return f"baseline saved to {path} ({selected} of {planned} samples: a -k/--deselect/--lf selection)"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} characters cut]"


def import_lines(seconds: float, output: str, max_lines: int = 5) -> List[str]:
    """The batt's import, once per run: how long it took and what it printed."""
    lines = [f"batt: imported in {seconds:.2f}s" + (", printing:" if output.strip() else "")]
    printed = [line for line in output.splitlines() if line.strip()]
    lines += [f"  | {visible.line(clip(line, 200))}" for line in printed[:max_lines]]
    if len(printed) > max_lines:
        lines.append(f"  | ... ({len(printed) - max_lines} more lines)")
    return lines


def memory_lines(tasks: Mapping[str, Any], n: int = 3) -> List[str]:
    """The samples with the largest peak resident memory (``memory_mb``), largest first; none without it."""
    peaks = [(s["memory_mb"], shown(sample_nodeid(tid, s["kind"], s["index"]))) for tid, t in tasks.items() for s in t.get("samples", [])
             if isinstance(s.get("memory_mb"), (int, float))]
    if not peaks:
        return []
    peaks.sort(key=lambda p: -p[0])
    largest = ", ".join(f"{name} {mb:.0f} MB" for mb, name in peaks[:n])
    return [f"memory: largest peaks {largest} (resident, per sample's process; {len(peaks)} sample(s) measured)"]


def vram_lines(tasks: Mapping[str, Any], n: int = 3) -> List[str]:
    """The samples with the largest sampled GPU memory peak (``vram_peak_mb``), largest first, with the
    device each ran with; none where NVML measured nothing."""
    peaks = [(s["vram_peak_mb"], shown(sample_nodeid(tid, s["kind"], s["index"])), s.get("gpu"), s.get("vram_scope"))
             for tid, t in tasks.items() for s in t.get("samples", []) if isinstance(s.get("vram_peak_mb"), (int, float))]
    if not peaks:
        return []
    peaks.sort(key=lambda p: -p[0])
    largest = ", ".join(f"{name} {mb:.0f} MB" + (f" on {visible.line(gpu)}" if gpu else "") for mb, name, gpu, _ in peaks[:n])
    scopes = sorted({str(scope) for *_, scope in peaks if scope})
    what = {"process": "the sample's process", "device": "its device's used memory"}
    read = " and ".join(what.get(scope, visible.line(scope)) for scope in scopes) or "NVML"
    return [f"vram: largest peaks {largest} (GPU memory sampled by NVML, {read}; {len(peaks)} sample(s) measured)"]
