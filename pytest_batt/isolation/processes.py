"""Processes a batt starts and leaves running: found after each sample and ended.

A non-daemon ``multiprocessing.Process`` keeps ``-n 0`` from ever exiting, a forked child or
a ``subprocess.Popen`` outlives the run. Python offers no list of a process's descendants,
so this reads Linux's ``/proc``; the process is made a *child subreaper* so that orphaned
grandchildren (double forks) are re-parented to it, not to init, and can still be found.
Elsewhere nothing is tracked.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Iterable, List, Set


def make_subreaper() -> bool:
    """Become the reaper of orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> Set[int]:
    kids: Set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.update(int(p) for p in f.read().split())
        except (OSError, ValueError):
            pass
    return kids


def descendants(pid: int | None = None) -> Set[int]:
    """Every live descendant of ``pid`` (default: this process)."""
    root = os.getpid() if pid is None else pid
    found: Set[int] = set()
    todo = [root]
    while todo:
        for kid in _children(todo.pop()):
            if kid not in found:
                found.add(kid)
                todo.append(kid)
    return found


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f"{pid} ({f.read().strip()})"
    except OSError:
        return str(pid)


def _infrastructure() -> Set[int]:
    """multiprocessing's own long-lived helpers: started once per process on purpose."""
    pids: Set[int] = set()
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    forkserver = sys.modules.get("multiprocessing.forkserver")
    for owner, attr in ((getattr(tracker, "_resource_tracker", None), "_pid"),
                        (getattr(forkserver, "_forkserver", None), "_forkserver_pid")):
        pid = getattr(owner, attr, None)
        if isinstance(pid, int):
            pids.add(pid)
    return pids


def end_new(before: Iterable[int], keep: Iterable[int] = (), wait: float = 0.5) -> List[str]:
    """End the descendants that were not there ``before`` (SIGTERM, then SIGKILL); name them."""
    _reap()  # children that exited already (a program's forked child that came back) are not left running
    new = descendants() - set(before) - set(keep) - _infrastructure()
    if not new:
        return []
    names = [_name(p) for p in sorted(new)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in new:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and new & descendants():
            _reap()
            time.sleep(0.02)
        new &= descendants()
        if not new:
            break
    _reap()
    return names


def _reap() -> None:
    """Collect ended children, so they do not stay as zombies (multiprocessing's own first)."""
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        try:
            mp.active_children()
        except Exception:
            pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        except OSError:
            return
        if pid == 0:
            return
