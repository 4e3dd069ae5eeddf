"""Processes a batt starts and leaves running: found after each sample and ended.

A non-daemon ``multiprocessing.Process`` keeps ``-n 0`` from ever exiting, a forked child or
a ``subprocess.Popen`` outlives the run, and a forked child holds copies of the run's pipes
(xdist's channel, the terminal's), so the run waits for it. Python offers no list of a
process's descendants: on Linux this reads ``/proc`` (microseconds; psutil would scan every
process on the host), elsewhere it asks psutil (:mod:`.capabilities` decides once). The
process is made a *child subreaper* where it can (Linux) so that orphaned grandchildren
(double forks) are re-parented to it, not to init, and can still be found. Where there is no
subreaper or no process list (macOS; Linux without ``/proc``), every process forked from this
one also records its pid as it starts (:class:`Forks`): what a batt forks is found there even
when its parent has exited.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Collection, Iterable, List, Optional, Set, Tuple

from . import capabilities


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


def _read(path: str) -> bytes:
    """A small /proc file, read raw (a text file object costs more than the kernel's side, twice a sample)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def _children(pid: int) -> Set[int]:
    kids: Set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            kids.update(map(int, _read(f"/proc/{pid}/task/{tid}/children").split()))
        except (OSError, ValueError):
            pass
    return kids


def _psutil_descendants(root: int) -> Set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process(root).children(recursive=True)}
    except psutil.Error:
        return set()


def descendants(pid: int | None = None, known: Collection[int] = ()) -> Set[int]:
    """Every live descendant of ``pid`` (default: this process) the system lets us find. ``known``:
    processes of pytest-batt's own that start none (the watchdogs): listed, their own children not
    read (with /proc, five system calls each a sample)."""
    root = os.getpid() if pid is None else pid
    found: Set[int] = set()
    how = capabilities.process_tree().how
    if how == "/proc":
        todo = [root]
        while todo:
            for kid in _children(todo.pop()):
                if kid not in found:
                    found.add(kid)
                    if kid not in known:
                        todo.append(kid)
    elif how == "psutil":
        found = _psutil_descendants(root)
    if root == os.getpid():
        found |= FORKS.alive()
    return found


class Forks:
    """The processes forked from this one, each of which records its pid as it starts
    (``os.register_at_fork``): ``os.fork``, multiprocessing's fork, ``subprocess`` with a
    ``preexec_fn``, and their own forks. Started only where the process list or the subreaper
    is missing. The record is a deleted temporary file every fork appends ``PID PPID`` to; a
    parent's ``fork()`` returns once its child's line is there, so nothing forked before the
    end of a sample is missed, even a grandchild whose parent exited at once. Its pids are taken
    as ours while they live in this process's process group (a pid reused by another is not)."""

    WAIT_S = 1.0  # at most, for a child's line (it is written before the child runs any of its own code)

    def __init__(self) -> None:
        # Filled in place, never rebound (isolation.integrity watches this module's bindings):
        # the record's fd; how far this process has read it (``read``) and scanned it for its
        # own children's lines (``scan``).
        self.fd = [-1]
        self.offsets = {"read": 0, "scan": 0}
        self.pids: Set[int] = set()

    def start(self) -> None:
        """Once per process; after it, every fork of it records itself."""
        if self.fd[0] >= 0:
            return
        import tempfile

        handle, path = tempfile.mkstemp(prefix="pytest-batt-forks-")
        try:
            self.fd[0] = os.open(path, os.O_RDWR | os.O_APPEND)
        finally:
            os.close(handle)
            os.unlink(path)
        os.register_at_fork(after_in_child=self._born, after_in_parent=self._forked)

    def _lines(self, offset: int) -> tuple[list[bytes], int]:
        """The whole lines written at or after ``offset``, and the offset after them."""
        data = os.pread(self.fd[0], 1 << 20, offset)
        whole = data[:data.rfind(b"\n") + 1]
        return whole.splitlines(), offset + len(whole)

    def _born(self) -> None:
        try:
            os.write(self.fd[0], b"%d %d\n" % (os.getpid(), os.getppid()))
            self.offsets["scan"] = os.fstat(self.fd[0]).st_size
        except OSError:
            pass

    def _forked(self) -> None:
        """In the parent: wait until the child's line is written."""
        me = b"%d" % os.getpid()
        deadline = time.monotonic() + self.WAIT_S
        try:
            while True:
                lines, end = self._lines(self.offsets["scan"])
                if any(line.split()[1:] == [me] for line in lines):
                    self.offsets["scan"] = end
                    return
                if time.monotonic() > deadline:
                    return
                time.sleep(0.0002)
        except OSError:
            pass

    def alive(self) -> Set[int]:
        if self.fd[0] < 0:
            return set()
        try:
            lines, self.offsets["read"] = self._lines(self.offsets["read"])
        except OSError:
            lines = []
        self.pids.update(int(line.split()[0]) for line in lines if line.split())
        me, group = os.getpid(), os.getpgid(0)
        live = set()
        for pid in self.pids:
            try:
                if pid != me and os.getpgid(pid) == group:
                    live.add(pid)
            except OSError:  # gone
                pass
        self.pids = live
        return set(live)


FORKS = Forks()


def track_forks() -> bool:
    """Record this process's forks where the process list or the subreaper cannot find them all."""
    if capabilities.process_tree().how == "/proc" and capabilities.subreaper().on:
        return False
    FORKS.start()
    return True


def _name(pid: int) -> str:
    if capabilities.process_tree().how == "/proc":
        try:
            with open(f"/proc/{pid}/comm") as f:
                return f"{pid} ({f.read().strip()})"
        except OSError:
            return str(pid)
    try:
        import psutil

        return f"{pid} ({psutil.Process(pid).name()})"
    except Exception:  # no psutil reading here, or the process is gone
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
    return _end_new(before, keep, wait)[0]


def _end_new(before: Iterable[int], keep: Iterable[int], wait: float, known: Collection[int] = ()) -> Tuple[List[str], Set[int]]:
    """:func:`end_new`, and the descendants left after it."""
    _reap()  # children that exited already (a program's forked child that came back) are not left running
    now = descendants(known=known)
    new = now - set(before) - set(keep) - _infrastructure()
    if not new:
        return [], now
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
    return names, descendants(known=known)


class Tree:
    """One process's descendants from sample to sample: those left after a sample are the next one's
    "before", so each sample reads the process tree once, not twice (a sample runs right after the
    last one; nothing of pytest-batt's starts a process in between). A process that appears between
    two samples counts as the next one's, and is ended after it."""

    def __init__(self) -> None:
        self._left: Optional[Set[int]] = None
        self.known: Collection[int] = ()  # the process's watchdogs (descendants' ``known``), set by its owner

    def before(self) -> Set[int]:
        if self._left is None:
            self._left = descendants(known=self.known)
        return self._left

    def end_new(self, before: Iterable[int], wait: float = 0.5) -> List[str]:
        """:func:`end_new`; what is left is the next sample's ``before``."""
        names, self._left = _end_new(before, (), wait, self.known)
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
