"""Measuring one benchmark process: wall and CPU time, peak memory, the machine's load.

Every contender is a fresh subprocess started from an empty temporary directory (so no
project ``pytest.ini``/``conftest.py`` applies and no batt memo is shared between
contenders), with a fixed hash seed and the same BLAS/OpenMP thread variables (``make_context``). CPU is
``getrusage(RUSAGE_CHILDREN)`` deltas around each subprocess (user+sys of the whole process
tree); peak memory is each process's own ``VmHWM`` (reported at exit by a ``-p`` probe plugin
in the pytest processes and by the benchmark's own scripts, and polled from ``/proc`` every
0.3 s for every process of the tree, which is all there is for Phase 3). Not ``ru_maxrss``:
Linux carries the forking parent's peak over exec into it, so every child would look at least
as big as the benchmark script.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from pytest_batt.plugin import BLAS_THREAD_VARIABLES

PY = sys.executable

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


def load_json(path: str) -> Optional[Dict[str, Any]]:
    """A JSON file a measured process wrote (its results file), or None when it wrote none."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def mb(kb: int) -> Optional[float]:
    return round(kb / 1024, 1) if kb else None


def load1() -> float:
    """The 1-minute load average: what the machine's other users are doing right now."""
    return os.getloadavg()[0]


# --- the environment every contender runs in -----------------------------------------------------

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
    env = contender_env(os.environ, [snapshot, probe_dir], os.path.join(tmp, "probe.jsonl"))
    return Context(tmp, cwd, env, env["BATT_BENCH_PROBE"], out_dir)


def contender_env(base: Mapping[str, str], path: List[str], probe_file: str) -> Dict[str, str]:
    """The environment of every contender: ``base`` without PYTEST_* and PYTHON* settings, ``path``
    as PYTHONPATH, a fixed hash seed, and one BLAS/OpenMP thread.

    The thread variables get the value pytest-batt gives its xdist workers, for all contenders
    alike: without them the single-process contenders would get the libraries' default (a
    thread per core) and a value the user happened to set would favour some contenders.
    """
    env = {k: v for k, v in base.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["BATT_BENCH_PROBE"] = probe_file
    env["PYTHONHASHSEED"] = "0"
    for var in BLAS_THREAD_VARIABLES:
        env[var] = "1"
    return env


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


def machine() -> Dict[str, Any]:
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "python": platform.python_version(), "uname": " ".join(platform.uname()),
            "loadavg_at_start": [round(x, 2) for x in load],
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def cprofile(args: List[str], ctx: "Context", name: str, top: int = 25) -> str:
    prof = os.path.join(ctx.tmp, f"{name}.prof")
    subprocess.run([PY, "-m", "cProfile", "-o", prof, *args], cwd=ctx.cwd, env=ctx.env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = ("import pstats,sys; p=pstats.Stats(sys.argv[1]); p.sort_stats('cumulative').print_stats(int(sys.argv[2])); "
            "p.sort_stats('tottime').print_stats(int(sys.argv[2]))")
    text = subprocess.run([PY, "-c", code, prof, str(top)], capture_output=True, text=True).stdout
    path = os.path.join(ctx.out_dir, f"profile-{name}.txt")
    with open(path, "w") as f:
        f.write(text)
    print(f"cProfile of {name}: {path}", flush=True)
    return path

