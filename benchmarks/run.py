"""pytest-batt performance benchmark: Phase 3, the old thread design, pytest-batt (-n 0/2/auto)
and a bare loop, side by side in one run, on the same tasks, batt and per-call timeout.

    python benchmarks/run.py [--quick] [--repeat N] [--only cpu,heavy,hostile,collect,memory,single]
                             [--heavy-steps N] [--profile] [--out DIR]

Prints Markdown tables of ratios (speed-up over Phase 3 first; absolute times after), the
targets and whether they hold. Every contender is a fresh subprocess started from an empty
temporary directory (so no project ``pytest.ini``/``conftest.py`` applies and no batt
memo is shared between contenders); CPU is ``getrusage(RUSAGE_CHILDREN)`` deltas around
each subprocess (user+sys of the whole process tree), peak memory is each process's own
``VmHWM`` (reported at exit by a ``-p`` probe plugin in the pytest processes and by the
benchmark's own scripts, and polled from ``/proc`` every 0.3 s for every process of the tree,
which is all there is for Phase 3). Not ``ru_maxrss``: Linux carries the forking parent's peak
over exec into it, so every child would look at least as big as this script.

Workloads:
  cpu      the reference batt on a fixed list of ARC-AGI-1 training tasks (44; --quick: 8)
  heavy    a generated batt shaped like real ones (benchmarks/make_heavy_batt.py, cached)
  hostile  the cpu tasks (--hostile-tasks of them) through a wrapper batt that hangs in ~10%
           of calls, chosen by hashing (task_id, I, C): pure-Python infinite loops and a
           GIL-holding C call (sum(range(N)), N calibrated to hold the GIL --gil-seconds)
  collect  `pytest --batt all --collect-only -q` over the 800 ARC-AGI-1 tasks
  memory   the controller's peak memory for a -n 2 run over all 800 tasks with a trivial batt
  single   one task (007bbfb7), `-n 0` against the default (no -n: -n auto), three batts: the
           reference batt (light), a batt generated like the real ones (tests/generated_batt.py,
           100 solvers: real-shaped) and make_heavy_batt.py (--heavy-steps, seconds per call: heavy);
           the per-round ratio of the two is printed beside each round's load average

Contenders run in turn, and the order is reversed every other round (--repeat), so a drift of
the machine's load does not always hit the same contender first.

No timed assertion anywhere: this script measures and reports, it never fails on a number.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
PY = sys.executable
DATA = "arcagi1-training"

# ARC-AGI-1 training tasks on which the reference batt is fast (0.4-1.9 s per task for all
# of pytest-batt's calls on this kind of machine): 44 tasks, 2241 calls.
CPU_TASKS = [
    "007bbfb7", "017c7c7b", "025d127b", "0520fde7", "05269061", "05f2a901", "0962bcdd", "0a938d79",
    "0ca9ddb6", "0e206a2e", "10fcaaa3", "11852cab", "1190e5a7", "137eaa0f", "150deff5", "178fcbfb",
    "1a07d186", "1b2d62fb", "1b60fb0c", "1bfc4729", "1caeab9d", "1f0c79e5", "2204b7a8", "22233c11",
    "2281f1f4", "22eb0ac0", "234bbc79", "23581191", "272f95fa", "28bf18c6", "28e73c20", "29c11459",
    "3345333e", "36d67576", "36fdfd69", "3906de3d", "3aa6fb7a", "3ac3eb23", "3bd67248", "3bdb4ada",
    "3befdf3e", "3de23699", "3e980e27", "3eda0437",
]
QUICK_TASKS = ["017c7c7b", "0a938d79", "10fcaaa3", "150deff5", "1bfc4729", "23581191", "28e73c20", "3bd67248"]
HEAVY_TASKS = ["1bfc4729", "3bd67248", "00d62c1b"]
HEAVY_QUICK = ["1bfc4729"]

SCORE_KEYS = ("o_score", "d_score", "s_score", "solved")


# --- measuring one subprocess ----------------------------------------------------------------

def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _ppid_map() -> Dict[int, int]:
    out: Dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            out[int(name)] = int(data[data.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return out


class TreePoller(threading.Thread):
    """Peak VmHWM (kB) of every process in the tree under ``root``, polled from /proc."""

    def __init__(self, root: int, interval: float = 0.3) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak: Dict[int, int] = {}
        self.cmd: Dict[int, str] = {}
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        ppid = _ppid_map()
        tree, frontier = {self.root}, [self.root]
        while frontier:
            p = frontier.pop()
            for c, pp in ppid.items():
                if pp == p and c not in tree:
                    tree.add(c)
                    frontier.append(c)
        for pid in tree:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak[pid] = max(self.peak.get(pid, 0), int(line.split()[1]))
                if pid not in self.cmd:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        self.cmd[pid] = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Measure:
    cmd: List[str]
    rc: Optional[int] = None
    wall_s: float = 0.0  # start to exit, or to the BENCH-DONE line (thread design: it lingers after)
    cpu_s: float = 0.0  # RUSAGE_CHILDREN delta: the whole process tree (reaped descendants)
    dnf: bool = False
    controller_rss_kb: Optional[int] = None
    worker_rss_kb: Optional[int] = None
    workers_seen: int = 0
    done: Dict[str, Any] = field(default_factory=dict)
    linger: Dict[str, Any] = field(default_factory=dict)
    probe: List[Dict[str, Any]] = field(default_factory=list)
    tail: str = ""
    output: str = ""
    load1: Optional[float] = None  # 1-minute load average just before the run (other users of the machine)


def run_measured(cmd: List[str], cwd: str, env: Dict[str, str], budget: float, probe_file: Optional[str] = None) -> Measure:
    m = Measure(cmd)
    if probe_file and os.path.exists(probe_file):
        os.unlink(probe_file)
    lines: List[Tuple[float, str]] = []
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter(), line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    poller = TreePoller(proc.pid)
    poller.start()

    def kill() -> None:
        m.dnf = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass

    timer = threading.Timer(budget, kill)
    timer.start()
    _, status, ru = os.wait4(proc.pid, 0)
    t1 = time.perf_counter()
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    poller.stop()
    if m.dnf:
        try:  # what is left of the tree (xdist workers) goes too
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    reader.join(5)
    m.rc = proc.returncode
    m.cpu_s = _children_cpu() - cpu0
    m.wall_s = t1 - t0
    for ts, line in lines:
        if line.startswith("BENCH-DONE "):
            m.done = json.loads(line[len("BENCH-DONE "):])
            m.wall_s = ts - t0
        elif line.startswith("BENCH-LINGER "):
            m.linger = json.loads(line[len("BENCH-LINGER "):])
    m.tail = "\n".join(line for _, line in lines[-6:])
    m.output = "\n".join(line for _, line in lines)
    # Peak memory: the process's own report first, /proc polling as the fallback.
    m.controller_rss_kb = max(poller.peak.get(proc.pid, 0), m.done.get("maxrss_kb", 0)) or None
    if probe_file and os.path.exists(probe_file):
        with open(probe_file) as f:
            m.probe = [json.loads(x) for x in f if x.strip()]
    for rec in m.probe:
        if rec["role"] == "controller":
            m.controller_rss_kb = max(m.controller_rss_kb or 0, rec["maxrss_kb"])
    others = {pid: kb for pid, kb in poller.peak.items() if pid != proc.pid and "python" in poller.cmd.get(pid, "")}
    worker_kb = list(others.values()) + [r["maxrss_kb"] for r in m.probe if r["role"] != "controller"]
    probed = {r["pid"] for r in m.probe if r["role"] != "controller"}
    m.workers_seen = len(probed) if probed else len(others)
    m.worker_rss_kb = max(worker_kb) if worker_kb else None
    # Not wait4's ru_maxrss: Linux keeps the forking parent's (this script's) peak RSS over exec in
    # it, so every child would report at least this script's size. VmHWM is per address space.
    del ru
    return m


PROBE_PLUGIN = '''
"""pytest plugin loaded with -p by benchmarks/run.py: each pytest process reports its peak memory and CPU."""
import json, os, resource


def pytest_unconfigure(config):
    path = os.environ.get("BATT_BENCH_PROBE")
    if not path:
        return
    wi = getattr(config, "workerinput", None)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak RSS over exec into ru_maxrss.
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    rec = {"pid": os.getpid(), "role": wi["workerid"] if wi else "controller", "maxrss_kb": hwm,
           "cpu_s": ru.ru_utime + ru.ru_stime}
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\\n")
'''

TRIVIAL_BATT = '''
"""A trivial batt for the 800-task memory run: one candidate (the input), one differ row."""


def batt(task_id, S, I, C, log_path):
    if C is None:
        return [(1, 0, "identity", I)], []
    return [(1, 0, "identity", I)], [(1, "None", "d0", (int(I != C), None))]
'''

HOSTILE_BATT = '''
"""Hostile wrapper (generated by benchmarks/run.py): the reference batt, except that ~{rate:.0%} of
calls, chosen by hashing (task_id, I, C), hang: most in a pure-Python infinite loop, some ({gil_share:.0%}
of the hangs) in a GIL-holding C call, sum(range({gil_n})), calibrated to hold the GIL about
{gil_s:g} s (sum(range(10**10)) would hold it ~{full_s:.0f} s here: the single-process contenders
would just wait that much longer per such call).
"""
import hashlib

from pytest_batt.reference import batt as _reference

RATE, GIL_SHARE, GIL_N = {rate!r}, {gil_share!r}, {gil_n!r}


def _fate(task_id, I, C):
    x = int.from_bytes(hashlib.sha256(repr((task_id, I, C)).encode()).digest()[:8], "big") / 2.0 ** 64
    if x < RATE * GIL_SHARE:
        return "gil"
    if x < RATE:
        return "loop"
    return "ok"


def batt(task_id, S, I, C, log_path):
    fate = _fate(task_id, I, C)
    if fate == "loop":
        while True:
            pass
    if fate == "gil":
        sum(range(GIL_N))
    return _reference(task_id, S, I, C, log_path)
'''


# --- contenders and workloads ----------------------------------------------------------------

@dataclass
class Workload:
    name: str
    title: str
    tasks: List[str]
    module: str
    timeout: float
    grace: float
    budget: float
    contenders: List[str]
    note: str = ""
    single: bool = False  # one task: print the per-round ratios of the contenders


CONTENDERS = {
    "phase3": "Phase 3 (python -m pytest_batt phase3)",
    "thread": "thread design (OLD seed design)",
    "n0": "pytest-batt -n 0",
    "n2": "pytest-batt -n 2",
    "nauto": "pytest-batt -n auto",
    "default": "pytest-batt default (no -n: -n auto)",
    "bare": "bare loop (no pytest)",
    "bare2": "2 bare loops in parallel (machine ceiling)",
}


def contender_cmd(key: str, wl: Workload, json_path: str) -> List[str]:
    common = ["--batt", ",".join(wl.tasks), "--batt-data", DATA, "--batt-module", wl.module, "--batt-timeout", f"{wl.timeout:g}"]
    if key == "phase3":
        return [PY, "-m", "pytest_batt", "phase3", *common, "--json", json_path]
    if key == "thread":
        return [PY, str(HERE / "thread_design.py"), *common, "--json", json_path, "--linger", "3"]
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


def load_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def statuses(res: Optional[Dict[str, Any]]) -> str:
    if res is None:
        return "-"
    counts: Dict[str, int] = {}
    for t in res["tasks"].values():
        for s in t["samples"]:
            counts[s["status"]] = counts.get(s["status"], 0) + 1
    bad = {k: v for k, v in counts.items() if k not in ("solved", "unsolved")}
    return ", ".join(f"{v} {k}" for k, v in sorted(bad.items())) or "none"


def run_workload(wl: Workload, ctx: "Context", repeat: int) -> Dict[str, Any]:
    print(f"\n## {wl.title}\n", flush=True)
    print(f"{len(wl.tasks)} tasks, module {wl.module}, timeout {wl.timeout:g} s per call, grace {wl.grace:g} s, "
          f"budget {wl.budget:g} s per contender run", flush=True)
    runs: Dict[str, List[Measure]] = {k: [] for k in wl.contenders}
    res: Dict[str, Optional[Dict[str, Any]]] = {}
    for r in range(repeat):
        # Round robin, reversed every other round, so slow drifts of a noisy machine hit everyone.
        for key in (wl.contenders if r % 2 == 0 else wl.contenders[::-1]):
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
            print(f"  [{r + 1}/{repeat}] {key:6s} wall {m.wall_s:8.2f} s  cpu {m.cpu_s:8.2f} s  {state}  "
                  f"(1-min load average before: {load:.2f})", flush=True)
            with open(os.path.join(ctx.out_dir, f"{wl.name}-{key}-{r}.log"), "w") as f:
                f.write(" ".join(cmd) + "\n" + m.output)
            if m.rc not in (0, 1) and not m.dnf:
                print(textwrap.indent(m.tail, "      | "), flush=True)
    rows = {}
    for key in wl.contenders:
        ms = runs[key]
        ok = [m for m in ms if not m.dnf]
        pick = ok or ms
        rows[key] = {
            "label": CONTENDERS[key],
            "dnf": not ok,
            "wall_s": statistics.median(m.wall_s for m in pick),
            "wall_runs": [round(m.wall_s, 3) for m in ms],
            "load_before": [m.load1 for m in ms],
            "cpu_s": statistics.median(m.cpu_s for m in pick),
            "cpu_after_return_s": statistics.median(m.linger.get("cpu_after_return_s", 0.0) for m in pick) if key == "thread" else None,
            "abandoned_threads": max((m.done.get("abandoned_threads", 0) for m in pick), default=0) if key == "thread" else None,
            "controller_rss_mb": _mb(max((m.controller_rss_kb or 0) for m in pick)),
            "worker_rss_mb": _mb(max((m.worker_rss_kb or 0) for m in pick)),
            "workers_seen": max(m.workers_seen for m in pick),
            # per pytest process (the -p probe): its own CPU seconds and peak RSS, to tell controller from workers
            "probe": [r for m in pick for r in m.probe],
            "run_wall_s": res[key]["session"]["wall_s"] if res.get(key) else None,
            "calls": sum(s["calls"] for t in res[key]["tasks"].values() for s in t["samples"]) if res.get(key) else None,
            "problems": statuses(res.get(key)),
            "batt_sha256": res[key]["batt"]["sha256"] if res.get(key) else None,
            "cmd": " ".join(ms[-1].cmd),
        }
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
        rows[key]["equal"] = ("yes" if same == n else f"no ({n - same}/{n} tasks differ: {', '.join(differ[:4])}{'...' if len(differ) > 4 else ''})") + vs
    if "phase3" in rows and rows["phase3"]["dnf"]:
        done = [line for line in runs["phase3"][-1].output.splitlines() if line[:8].isalnum() and "samples solved" in line]
        rows["phase3"]["progress"] = f"{len(done)}/{len(wl.tasks)} tasks finished before the budget"
    out = {"workload": wl.name, "title": wl.title, "tasks": wl.tasks, "module": wl.module, "timeout_s": wl.timeout,
           "grace_s": wl.grace, "budget_s": wl.budget, "repeat": repeat, "note": wl.note, "rows": rows}
    shas = {r["batt_sha256"] for r in rows.values() if r["batt_sha256"]}
    if len(shas) > 1:
        out["note"] += f" WARNING: the contenders ran different batts (sha256 {', '.join(sorted(x[:12] for x in shas))})."
    if wl.single:
        print_single(out)
    else:
        print_table(out)
    return out


def print_single(w: Dict[str, Any]) -> None:
    """One task: each contender's wall time per round, and the ratios of each round's pair."""
    rows = w["rows"]
    keys = list(rows)
    print()
    if w["note"]:
        print(w["note"] + "\n")
    print("| contender | wall s per round | median wall s | median CPU s | batt calls | same scores as -n 0 | 1-min load before each run |")
    print("|---|---|---|---|---|---|---|")
    for key in keys:
        r = rows[key]
        print(f"| {r['label']} | {' / '.join(f'{x:.2f}' for x in r['wall_runs'])} | {_fmt(r['wall_s'], dnf=r['dnf'])} | "
              f"{_fmt(r['cpu_s'])} | {r['calls'] if r['calls'] is not None else '-'} | {r['equal'] or '-'} | "
              f"{' / '.join(f'{x:.2f}' for x in r['load_before'])} |")
    if len(keys) == 2:
        a, b = (rows[k] for k in keys)
        pairs = [x / y for x, y in zip(b["wall_runs"], a["wall_runs"]) if y]
        w["ratios"] = [round(x, 3) for x in pairs]
        print(f"\n{b['label']} / {a['label']}, wall, per round: {' / '.join(f'{x:.2f}x' for x in pairs)}"
              f"; median {statistics.median(pairs):.2f}x" if pairs else "")
    print(flush=True)


def _mb(kb: int) -> Optional[float]:
    return round(kb / 1024, 1) if kb else None


def _fmt(x: Optional[float], spec: str = ".2f", dnf: bool = False) -> str:
    if x is None:
        return "-"
    return (">" if dnf else "") + format(x, spec)


def print_table(w: Dict[str, Any]) -> None:
    rows = w["rows"]
    p3 = rows.get("phase3")
    print()
    if w["note"]:
        print(w["note"] + "\n")
    print("| contender | speed-up vs Phase 3 (wall) | CPU vs Phase 3 | wall s | CPU s | batt calls | same scores as Phase 3 | "
          "controller peak MB | worker peak MB | timeouts/errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
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
        cpu_s = _fmt(r["cpu_s"], dnf=r["dnf"])
        if r.get("cpu_after_return_s"):
            cpu_s += f" (+{r['cpu_after_return_s']:.2f} after return, {r['abandoned_threads']} threads abandoned)"
        print(f"| {r['label']} | {speed} | {cpu} | {_fmt(r['wall_s'], dnf=r['dnf'])} | {cpu_s} | {r['calls'] if r['calls'] is not None else '-'} | "
              f"{r['equal'] or '-'} | {_fmt(r['controller_rss_mb'], '.0f')} | {_fmt(r['worker_rss_mb'], '.0f')}"
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
            out.append(("one heavy task: -n 0 time / default time", _fmt(inv, ".2f") + ("x" if inv else "") + runs,
                        ">= 1.6x", None if inv is None else inv >= 1.6))
        elif w["workload"] == "single-light":
            out.append(("one light task: default time / -n 0 time", _fmt(x, ".2f") + ("x" if x else "") + runs, "<= 1.25x",
                        None if x is None else x <= 1.25))
        else:
            out.append(("one real-shaped task: default time / -n 0 time", _fmt(x, ".2f") + ("x" if x else "") + runs, "(none)", None))
        return out

    def ratio(a: str, b: str) -> Optional[float]:
        if a in r and b in r and not r[a]["dnf"] and not r[b]["dnf"]:
            return r[a]["wall_s"] / r[b]["wall_s"]
        return None

    x = ratio("n0", "n2")
    out.append(("-n 2 speed-up over -n 0", _fmt(x, ".2f") + ("x" if x is not None else ""), ">= 1.85x", None if x is None else x >= 1.85))
    x = ratio("thread", "n2")
    if "thread" in r and r["thread"]["dnf"] and "n2" in r and not r["n2"]["dnf"]:
        out.append(("-n 2 speed-up over the thread design", f">{r['thread']['wall_s'] / r['n2']['wall_s']:.2f}x (thread design DNF)", ">= 1.8x", True))
    else:
        out.append(("-n 2 speed-up over the thread design", _fmt(x, ".2f") + ("x" if x is not None else ""), ">= 1.8x", None if x is None else x >= 1.8))
    x = ratio("bare", "bare2")
    if x is not None:
        out.append(("(ceiling) 2 bare loops in parallel over 1 bare loop", f"{x:.2f}x", "what this machine allows", None))
    x = ratio("n0", "bare")
    out.append(("-n 0 time / bare loop time", _fmt(x, ".3f") + ("x" if x is not None else ""), "<= 1.05x", None if x is None else x <= 1.05))
    return out


# --- the non-contender measurements ------------------------------------------------------------

def measure_collect(ctx: "Context", repeat: int, profile: bool) -> Dict[str, Any]:
    print("\n## Collection of all 800 ARC-AGI-1 tasks\n", flush=True)
    cmd = [PY, "-m", "pytest", "-p", "no:cacheprovider", "--batt", "all", "--collect-only", "-q"]
    ms = []
    for r in range(repeat):
        m = run_measured(cmd, ctx.cwd, ctx.env, 300)
        ms.append(m)
        print(f"  [{r + 1}/{repeat}] wall {m.wall_s:.2f} s  cpu {m.cpu_s:.2f} s  rc {m.rc}  peak {_fmt(_mb(m.controller_rss_kb or 0), '.0f')} MB", flush=True)
    items = next((line for line in ms[-1].tail.splitlines() if "collected" in line or "tests" in line), ms[-1].tail.splitlines()[-1:] or [""])
    base = run_measured([PY, "-m", "pytest", "-p", "no:cacheprovider", "--version"], ctx.cwd, ctx.env, 60)
    out = {"cmd": " ".join(cmd), "wall_s": statistics.median(m.wall_s for m in ms), "cpu_s": statistics.median(m.cpu_s for m in ms),
           "wall_runs": [round(m.wall_s, 3) for m in ms], "summary": items if isinstance(items, str) else items[0],
           "pytest_version_wall_s": base.wall_s, "peak_mb": _mb(max(m.controller_rss_kb or 0 for m in ms))}
    print(f"\ncollection: median wall {out['wall_s']:.2f} s, CPU {out['cpu_s']:.2f} s (target < 2 s); "
          f"'{out['summary'].strip()}'; bare `pytest --version` start-up: {base.wall_s:.2f} s", flush=True)
    if profile:
        out["profile"] = cprofile(cmd[1:], ctx, "collect")
    return out


def cprofile(args: List[str], ctx: "Context", name: str, top: int = 25) -> str:
    prof = os.path.join(ctx.tmp, f"{name}.prof")
    subprocess.run([PY, "-m", "cProfile", "-o", prof, *args], cwd=ctx.cwd, env=ctx.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = ("import pstats,sys; p=pstats.Stats(sys.argv[1]); p.sort_stats('cumulative').print_stats(int(sys.argv[2])); "
            "p.sort_stats('tottime').print_stats(int(sys.argv[2]))")
    text = subprocess.run([PY, "-c", code, prof, str(top)], capture_output=True, text=True).stdout
    path = os.path.join(ctx.out_dir, f"profile-{name}.txt")
    with open(path, "w") as f:
        f.write(text)
    print(f"cProfile of {name}: {path}", flush=True)
    return path


def measure_memory(ctx: "Context") -> Dict[str, Any]:
    print("\n## Controller memory over all 800 ARC-AGI-1 tasks (trivial batt, -n 2)\n", flush=True)
    module = os.path.join(ctx.tmp, "trivial_batt.py")
    with open(module, "w") as f:
        f.write(TRIVIAL_BATT)
    path = os.path.join(ctx.tmp, "memory-800.json")
    cmd = [PY, "-m", "pytest", "-p", "no:cacheprovider", "-p", "batt_bench_probe", "-q", "--no-header", "-rN",
           "--batt", "all", "--batt-module", module, "--batt-json", path, "-n", "2"]
    m = run_measured(cmd, ctx.cwd, ctx.env, 900, ctx.probe_file)
    res = load_json(path)
    n_samples = sum(len(t["samples"]) for t in res["tasks"].values()) if res else None
    out = {"cmd": " ".join(cmd), "wall_s": m.wall_s, "cpu_s": m.cpu_s, "rc": m.rc, "dnf": m.dnf,
           "controller_peak_mb": _mb(m.controller_rss_kb or 0), "worker_peak_mb": _mb(m.worker_rss_kb or 0),
           "tasks": len(res["tasks"]) if res else None, "samples": n_samples,
           "results_mb": round(os.path.getsize(path) / 2**20, 1) if res else None}
    print(f"800 tasks, {n_samples} samples: wall {m.wall_s:.2f} s, CPU {m.cpu_s:.2f} s; controller peak "
          f"{out['controller_peak_mb']} MB (target < 150 MB), worker peak {out['worker_peak_mb']} MB; "
          f"results file {out['results_mb']} MB", flush=True)
    return out


# --- set-up ------------------------------------------------------------------------------------

@dataclass
class Context:
    tmp: str
    cwd: str
    env: Dict[str, str]
    probe_file: str
    out_dir: str


def make_context(out_dir: str) -> Context:
    tmp = tempfile.mkdtemp(prefix="pytest-batt-bench-")
    cwd = os.path.join(tmp, "cwd")
    os.makedirs(cwd)
    probe_dir = os.path.join(tmp, "probe")
    os.makedirs(probe_dir)
    with open(os.path.join(probe_dir, "batt_bench_probe.py"), "w") as f:
        f.write(PROBE_PLUGIN)
    snapshot = snapshot_package(os.path.join(tmp, "snapshot"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([snapshot, probe_dir])
    env["BATT_BENCH_PROBE"] = os.path.join(tmp, "probe.jsonl")
    env["PYTHONHASHSEED"] = "0"
    return Context(tmp, cwd, env, env["BATT_BENCH_PROBE"], out_dir)


def snapshot_package(dest: str) -> str:
    """Copy pytest_batt (plugin, Phase 3 scorer and reference batt) and put the copy first on PYTHONPATH.

    Every contender then runs the same code even while someone edits the working tree during
    the run (an editable install would otherwise pick up each edit: different contenders would
    run different batts). Returns the directory to put on PYTHONPATH.
    """
    import importlib.util

    spec = importlib.util.find_spec("pytest_batt")
    assert spec is not None and spec.origin is not None
    src = os.path.dirname(spec.origin)
    shutil.copytree(src, os.path.join(dest, "pytest_batt"), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([PY, "-m", "compileall", "-q", dest], check=True)  # no contender pays the compile
    check = subprocess.run([PY, "-c", "import pytest_batt.plugin, pytest_batt.phase3, pytest_batt.reference, pytest_batt.__main__"],
                           env={**os.environ, "PYTHONPATH": dest}, capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"the snapshot of {src} does not import (edited mid-way?):\n{check.stderr[-2000:]}")
    return dest


def source_hash(root: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for path in sorted(Path(root).rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def gil_calibrate(seconds: float) -> Tuple[int, float]:
    """N such that sum(range(N)) holds the GIL about ``seconds`` here; and what 10**10 would take."""
    n = 10**6
    while True:
        t = time.perf_counter()
        sum(range(n))
        dt = time.perf_counter() - t
        if dt > 0.2:
            break
        n *= 4
    per = dt / n
    return int(seconds / per), per * 10**10


def heavy_module(ctx: Context, steps: int = 8000) -> str:
    sys.path.insert(0, str(HERE))
    sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/
    import make_heavy_batt  # noqa: E402  (benchmarks/ is not a package)

    path = make_heavy_batt.default_path(steps, 1)
    make_heavy_batt.main(["-o", path, "--steps", str(steps)])
    # Compile once (writes the .pyc) so every contender pays the same, cached import cost.
    subprocess.run([PY, "-c", "import sys; from pytest_batt.runner import load_batt; load_batt(sys.argv[1])", path],
                   cwd=ctx.cwd, env=ctx.env, check=True)
    return path


def generated_module(ctx: Context) -> str:
    """The test suite's real-shaped generated batt (100 solvers) with its DSL modules, in the run's temp dir."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    sys.dont_write_bytecode = True
    import generated_batt  # noqa: E402  (tests/ is not a package)

    path = str(generated_batt.write(Path(ctx.tmp) / "generated", solvers=100))
    subprocess.run([PY, "-c", "import sys; from pytest_batt.runner import load_batt; load_batt(sys.argv[1])", path],
                   cwd=ctx.cwd, env=ctx.env, check=True, capture_output=True)
    return path


def machine() -> Dict[str, Any]:
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "python": platform.python_version(), "uname": " ".join(platform.uname()),
            "loadavg_at_start": [round(x, 2) for x in load], "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="8 CPU tasks, 1 heavy task, 4 hostile tasks (a few minutes)")
    p.add_argument("--repeat", type=int, default=1, help="runs per contender (round robin); the median is reported")
    p.add_argument("--only", default="cpu,heavy,hostile,collect,memory,single", help="comma-separated sections to run")
    p.add_argument("--heavy-steps", type=int, default=20000,
                   help="steps of the heavy batt of the single-task case (20000: ~1-3 s per call here; the issue's case is 50000)")
    p.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset of " + ",".join(CONTENDERS))
    p.add_argument("--timeout", type=float, default=10.0, help="per-call timeout for the cpu and heavy workloads")
    p.add_argument("--hostile-timeout", type=float, default=1.0)
    p.add_argument("--hostile-grace", type=float, default=1.0)
    p.add_argument("--hostile-tasks", type=int, default=None, help="how many of the cpu tasks the hostile mix uses (default 8; --quick 4)")
    p.add_argument("--gil-seconds", type=float, default=4.0, help="how long the hostile GIL-holding call holds the GIL")
    p.add_argument("--budget", type=float, default=None, help="seconds before a contender run is killed and reported DNF")
    p.add_argument("--profile", action="store_true", help="also write cProfile reports (collection, -n 0 on the cpu set)")
    p.add_argument("--out", default=None, help="directory for the JSON report and profiles (default: a temp dir)")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    chosen = [k for k in CONTENDERS if k in args.contenders.split(",")]
    out_dir = args.out or tempfile.mkdtemp(prefix="pytest-batt-bench-out-")
    os.makedirs(out_dir, exist_ok=True)
    ctx = make_context(out_dir)
    info = machine()
    print("# pytest-batt benchmark" + (" (--quick)" if args.quick else ""))
    print(f"\nmachine: nproc {info['nproc']}, Python {info['python']}, {info['uname']}; load average at start {info['loadavg_at_start']}; {info['date']}")
    print(f"command: python benchmarks/run.py {' '.join(argv if argv is not None else sys.argv[1:])}", flush=True)
    snap = ctx.env["PYTHONPATH"].split(os.pathsep)[0]
    info["pytest_batt_snapshot_sha256"] = source_hash(os.path.join(snap, "pytest_batt"))
    print(f"pytest_batt source snapshot (used by every contender): sha256 {info['pytest_batt_snapshot_sha256']}", flush=True)
    cpu_tasks = QUICK_TASKS if args.quick else CPU_TASKS
    report: Dict[str, Any] = {"machine": info, "argv": list(argv if argv is not None else sys.argv[1:]), "workloads": []}
    budget = args.budget or (300.0 if args.quick else 1200.0)
    workloads: List[Workload] = []
    if "cpu" in only:
        workloads.append(Workload("cpu", "CPU-bound: the reference batt", cpu_tasks, "pytest_batt.reference", args.timeout, 2.0, budget, chosen))
    if "heavy" in only:
        workloads.append(Workload("heavy", "Heavy generated batt (8000 steps, ~33k lines)", HEAVY_QUICK if args.quick else HEAVY_TASKS,
                                  heavy_module(ctx), args.timeout, 2.0, budget, chosen))
    if "hostile" in only:
        gil_n, full_s = gil_calibrate(args.gil_seconds)
        module = os.path.join(out_dir, "hostile_batt.py")
        with open(module, "w") as f:  # kept with the report: the runs can be reproduced by hand
            f.write(HOSTILE_BATT.format(rate=0.10, gil_share=1 / 3, gil_n=gil_n, gil_s=args.gil_seconds, full_s=full_s))
        n = args.hostile_tasks or (4 if args.quick else 8)
        hb = min(budget, 300.0 if args.quick else 600.0)
        workloads.append(Workload(
            "hostile", "Hostile mix: the reference batt hanging in ~10% of calls", cpu_tasks[:n], module,
            args.hostile_timeout, args.hostile_grace, hb, [k for k in chosen if k not in ("bare", "bare2")],
            note=(f"Hangs: ~10% of distinct (task_id, I, C); 2/3 of them `while True: pass`, 1/3 `sum(range({gil_n}))` "
                  f"(holds the GIL ~{args.gil_seconds:g} s here; sum(range(10**10)) would hold it ~{full_s:.0f} s). "
                  "The bare loop has no timeout and is left out. A contender still running after the budget is "
                  "killed: DNF, its times shown as lower bounds.")))
    if "single" in only:
        sb = min(budget, 300.0)
        one = ["007bbfb7"]
        for name, title, module in (
            ("single-light", "One light task: the reference batt on 007bbfb7", "pytest_batt.reference"),
            ("single-real", "One real-shaped task: a batt generated like the real ones (100 solvers) on 007bbfb7", generated_module(ctx)),
            ("single-heavy", f"One heavy task: make_heavy_batt.py --steps {args.heavy_steps} on 007bbfb7", heavy_module(ctx, args.heavy_steps)),
        ):
            workloads.append(Workload(name, title, one, module, args.timeout, 2.0, sb, ["n0", "default"], single=True,
                                      note="Each contender a fresh process; order reversed every other round."))
    for wl in workloads:
        w = run_workload(wl, ctx, args.repeat)
        w["targets"] = targets(w)
        report["workloads"].append(w)
        if wl.name != "hostile" or wl.single:
            print("| target | measured | goal | met |\n|---|---|---|---|")
            for name, got, goal, met in w["targets"]:
                print(f"| {name} | {got} | {goal} | {'-' if met is None else 'yes' if met else 'NO'} |")
            print(flush=True)
        if args.profile and wl.name == "cpu":
            report.setdefault("profiles", {})["n0"] = cprofile(
                ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--batt", ",".join(wl.tasks), "--batt-data", DATA, "-n", "0"], ctx, "cpu-n0")
    if "collect" in only:
        report["collect"] = measure_collect(ctx, max(3, args.repeat), args.profile)
    if "memory" in only:
        report["memory"] = measure_memory(ctx)
    path = os.path.join(out_dir, "benchmark.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nfull report: {path}")
    shutil.rmtree(ctx.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
