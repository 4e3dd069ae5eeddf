"""Rails: the calls a program may not make, refused for the duration of a library's batt call.

A program runs in the process that judges the next program (and, with ``-n 0``, the whole
session). A handful of standard-library calls would end that process or cut it off from the
controller: ``os._exit``, ``os.abort``, ``os.execv``, a signal to itself, its parent (the
controller) or its process group, closing the descriptors the process had before the call
(xdist's channel among them), moving it to another session or group, changing its priority or
its resource limits, a fork bomb. While a library's programs run, these names in ``os``,
``signal``, ``sys`` and ``resource`` are replaced by checks that raise :class:`Refused` in the
program instead, so the program costs only itself, in every mode (``os.chdir`` and
``signal.pthread_sigmask`` are only noted, so that the working directory and the signal mask
are compared after the program that called them); ``sys.setrecursionlimit`` is capped at
:data:`MAX_RECURSION` (unwinding a million frames takes longer than the program's limit, and
deep C recursion under a high limit overflows the stack).

Rails are not a sandbox: a program can call the C library through ``ctypes``, or have a child
process send the signal. What gets past them is what the worker boundary is for (the program
is named and the sample run again without it); ``-n 0`` has no such boundary.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading

try:
    import resource
except ImportError:  # not POSIX: no limits to guard
    resource = None  # type: ignore[assignment]
from typing import Any, Dict, FrozenSet, List, Optional, Set

MAX_RECURSION = 20_000
MAX_FORKS = 64  # os.fork calls per batt call (multiprocessing's fork pools need a few)
REFRESH = 64  # batt calls between two full looks at the process's own descriptors and threads
REAL_EXIT = os._exit  # bound at import: a forked child that returns into our loop ends with it


class Refused(PermissionError):
    """Raised in a program that made a call the rails refuse; the message says which and why."""


_DUP, _CLOSE, _FSTAT = os.dup, os.close, os.fstat  # bound at import: the rails replace os.close


def lowest_free_fd() -> int:
    """The number the next descriptor would get (-1 if it cannot be told): it moves whenever a
    descriptor is opened, or one below it closed."""
    try:
        free = _DUP(0)
    except OSError:
        return -1
    _CLOSE(free)
    return free


def open_fds() -> FrozenSet[int]:
    """This process's open descriptors, where the system lists them (``/dev/fd``: Linux, macOS, BSD).

    The listing opens one descriptor of its own, closed by the time it returns: the lowest free
    one, found again and left out."""
    try:
        listed = {int(name) for name in os.listdir("/dev/fd") if name.isdigit()}
    except OSError:
        return frozenset(fd for fd in (0, 1, 2) if _is_open(fd))
    free = lowest_free_fd()
    if free >= 0:
        listed.discard(free)
    else:  # no fd 0 to duplicate: look at each
        listed = {fd for fd in listed if _is_open(fd)}
    return frozenset(listed)


def _is_open(fd: int) -> bool:
    try:
        _FSTAT(fd)
        return True
    except OSError:
        return False


class Rails:
    """On (:meth:`on`) before a batt call's programs, off (:meth:`off`) after them. One per process
    (:data:`RAILS`): the replacements it installs wrap what was there."""

    def __init__(self) -> None:
        self.pids: Set[int] = set()  # other processes a program may not signal (the watchdog)
        self.recursion = MAX_RECURSION
        self.pid = 0
        self.protected: FrozenSet[int] = frozenset()
        self.forks = 0
        self.threads = 0  # threads started by programs (in this process, during calls)
        # A program called os.chdir/fchdir, signal.signal or signal.pthread_sigmask, or changed one of the
        # interpreter's settings (recursion limit, trace, profile, switch interval, gc): the working directory,
        # the signal mask, the handlers and the settings are then compared after it (reads the other programs
        # are spared). Reset by the reader.
        self.touched = False
        self.refused: List[str] = []  # what the program running now was refused (read and cleared per program)
        self._threads: Set[Optional[int]] = set()
        self._plan: List[List[Any]] = []  # [module, name, original, replacement], installed at the first call
        self.active = False  # a library's programs run now (the checks apply)
        self._calls = 0
        self._free = -1

    def on(self) -> None:
        """Before a call's programs. The replacements are installed once per process, at the first call,
        and stay (passing every call through while no program runs): turning them on is a flag."""
        if self.active:
            return
        if not self._plan:
            self._install()
        pid = os.getpid()
        # The descriptors open now are the process's own. Listing them costs ~10 us; pytest opens
        # some between calls (a file it keeps: the lowest free number moves), so they are listed
        # again when that number moved, and every REFRESH calls.
        free = lowest_free_fd()
        if pid != self.pid or self._calls % REFRESH == 0 or free != self._free or free < 0:
            self.protected = open_fds()
            self._free = free
            # Threads of our own (xdist's channel, the backstop): stable over a process's life.
            self.pid = pid
            self._threads = {t.ident for t in threading.enumerate()} - {threading.main_thread().ident}
        self._calls += 1
        self.forks = 0
        self.refused = []
        self.touched = False
        self.recursion = max(MAX_RECURSION, sys.getrecursionlimit())
        self.active = True

    def off(self) -> None:
        self.active = False

    def _install(self) -> None:
        real: Dict[str, Any] = {}
        replacements = self._replacements(real)
        # os only, not posix too (os.X is posix.X): a program that reaches for posix directly is as
        # one that calls the C library; the worker boundary is for those.
        for module in (os, signal, sys, threading.Thread, resource, gc):
            for name, rail in replacements.items():
                if module is not None and hasattr(module, name):
                    original = getattr(module, name)
                    real.setdefault(name, original)
                    self._plan.append([module, name, original, rail])
                    setattr(module, name, rail)

    def uninstall(self) -> None:
        """Put every original back (tests; a process that runs no more programs may keep them)."""
        self.active = False
        for module, name, original, rail in reversed(self._plan):
            if getattr(module, name) is rail:
                setattr(module, name, original)
        self._plan = []

    # --- the checks -------------------------------------------------------------------------

    def _ours(self) -> bool:
        """True when the caller is a program in the process the rails guard (not our threads, not a child)."""
        return self.active and os.getpid() == self.pid and threading.get_ident() not in self._threads

    def _refuse(self, call: str, why: str) -> Refused:
        text = f"{call}: {why} (refused by pytest-batt)"
        self.refused.append(call)
        return Refused(text)

    def _replacements(self, real: Dict[str, Any]) -> Dict[str, Any]:
        rails = self

        def _exit(code: int = 0) -> None:
            if rails._ours():
                raise rails._refuse(f"os._exit({code!r})", "a program may not end the process it runs in")
            real["_exit"](code)

        def abort() -> None:
            if rails._ours():
                raise rails._refuse("os.abort()", "a program may not end the process it runs in")
            real["abort"]()

        def kill(pid: int, sig: int) -> None:
            if sig and rails._ours() and rails._is_ours(pid):
                raise rails._refuse(f"os.kill({rails._whose(pid)}, {sig})", "a program may not signal its own process, "
                                    "its parent or its group")
            real["kill"](pid, sig)

        def killpg(pgid: int, sig: int) -> None:
            if sig and rails._ours() and pgid in (0, _pgid(0), _pgid(os.getppid())):
                raise rails._refuse(f"os.killpg({rails._whose(-pgid) if pgid else 0}, {sig})",
                                    "a program may not signal its own process group")
            real["killpg"](pgid, sig)

        def raise_signal(sig: int) -> None:
            if rails._ours():
                raise rails._refuse(f"signal.raise_signal({sig})", "a program may not signal its own process")
            real["raise_signal"](sig)

        def pthread_kill(thread_id: int, sig: int) -> None:
            if sig and rails._ours():
                raise rails._refuse(f"signal.pthread_kill({thread_id}, {sig})", "a program may not signal its own process")
            real["pthread_kill"](thread_id, sig)

        def close(fd: int) -> None:
            if rails._ours() and fd in rails.protected:
                raise rails._refuse(f"os.close({fd})", "a program may close only the descriptors it opened")
            real["close"](fd)

        def closerange(low: int, high: int) -> None:
            if not rails._ours():
                real["closerange"](low, high)
                return
            for fd in sorted(open_fds() - rails.protected):
                if low <= fd < high:
                    try:
                        real["close"](fd)
                    except OSError:
                        pass
            if any(low <= fd < high for fd in rails.protected):
                rails.refused.append(f"os.closerange({low}, {high})")  # its own were closed, ours kept

        def dup2(fd: int, fd2: int, inheritable: bool = True) -> int:
            if rails._ours() and fd2 in rails.protected:
                raise rails._refuse(f"os.dup2({fd}, {fd2})", "a program may replace only the descriptors it opened")
            return int(real["dup2"](fd, fd2, inheritable))

        def fork() -> int:
            if rails.active and os.getpid() != rails.pid:
                raise rails._refuse("os.fork()", "a program's child process may not fork again")
            if rails._ours():
                rails.forks += 1
                if rails.forks > MAX_FORKS:
                    raise rails._refuse("os.fork()", f"more than {MAX_FORKS} forks in one call")
            return int(real["fork"]())

        def setrecursionlimit(limit: int) -> None:
            rails.touched = rails.touched or rails.active
            if rails._ours() and isinstance(limit, int) and limit > rails.recursion:
                rails.refused.append(f"sys.setrecursionlimit({limit})")
                limit = rails.recursion
            real["setrecursionlimit"](limit)

        def execv(path: Any, args: Any) -> None:
            if rails._ours():
                raise rails._refuse(f"os.execv({path!r}, ...)", "a program may not replace the process it runs in")
            real["execv"](path, args)

        def execve(path: Any, args: Any, env: Any) -> None:
            if rails._ours():
                raise rails._refuse(f"os.execve({path!r}, ...)", "a program may not replace the process it runs in")
            real["execve"](path, args, env)

        start_thread = threading.Thread.start

        def start(thread: threading.Thread) -> None:
            if rails._ours():
                rails.threads += 1  # counted, not refused: the sample's end stops what is left running
            start_thread(thread)

        def setsid() -> None:
            if rails._ours():
                raise rails._refuse("os.setsid()", "a program may not move the process it runs in to another session")
            real["setsid"]()

        def setpgid(pid: int, pgrp: int) -> None:
            if rails._ours() and pid in (0, rails.pid):
                raise rails._refuse(f"os.setpgid({rails._whose(pid) if pid else 0}, {pgrp})",
                                    "a program may not move the process it runs in to another group")
            real["setpgid"](pid, pgrp)

        def setpgrp() -> None:
            if rails._ours():
                raise rails._refuse("os.setpgrp()", "a program may not move the process it runs in to another group")
            real["setpgrp"]()

        def nice(increment: int) -> int:
            if rails._ours() and increment:
                raise rails._refuse(f"os.nice({increment})", "a program may not change the priority of the process it runs in")
            return int(real["nice"](increment))

        def setrlimit(which: int, limits: Any) -> None:
            if rails._ours():
                raise rails._refuse(f"resource.setrlimit({which}, {limits!r})", "a program may not change the limits of "
                                    "the process it runs in")
            real["setrlimit"](which, limits)

        def chdir(path: Any) -> None:
            rails.touched = rails.touched or rails.active
            real["chdir"](path)

        def fchdir(fd: Any) -> None:
            rails.touched = rails.touched or rails.active
            real["fchdir"](fd)

        def pthread_sigmask(how: int, mask: Any) -> Any:
            rails.touched = rails.touched or rails.active
            return real["pthread_sigmask"](how, mask)

        def noted(name: str) -> Any:
            """A call that changes what only a system call or a read of every setting would show: noted."""
            def call(*args: Any, **kwargs: Any) -> Any:
                rails.touched = rails.touched or rails.active
                return real[name](*args, **kwargs)
            call.__name__ = call.__qualname__ = name
            return call

        settings = {name: noted(name) for name in ("signal", "settrace", "setprofile", "setswitchinterval", "disable", "enable",
                                                      "set_int_max_str_digits")}
        return {**settings, "setsid": setsid, "setpgid": setpgid, "setpgrp": setpgrp, "nice": nice, "setrlimit": setrlimit,
                "chdir": chdir, "fchdir": fchdir, "pthread_sigmask": pthread_sigmask, "start": start, "_exit": _exit,
                "abort": abort, "kill": kill, "killpg": killpg, "raise_signal": raise_signal,
                "pthread_kill": pthread_kill, "close": close, "closerange": closerange, "dup2": dup2, "fork": fork,
                "setrecursionlimit": setrecursionlimit, "execv": execv, "execve": execve}

    def _whose(self, pid: int) -> str:
        """A pid as the refusal names it: which of ours it is, not its number (the same in every run)."""
        if pid == self.pid:
            return "its own pid"
        if pid == os.getppid():
            return "its parent's pid"
        if pid in self.pids:
            return "its watchdog's pid"
        if pid < -1:
            return "its process group"
        return str(pid)

    def _is_ours(self, pid: int) -> bool:
        """Whether a signal to ``pid`` (os.kill's meaning) reaches this process, its parent or its group."""
        if pid in (0, -1, self.pid, os.getppid()) or pid in self.pids:
            return True
        return pid < 0 and -pid in (_pgid(0), _pgid(os.getppid()))


RAILS = Rails()


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -2


# Set in every child forked from this process (os.fork, multiprocessing's fork): the per-program
# check below reads a list item, not the process id (a system call), until a fork happened.
FORKED = [False]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: FORKED.__setitem__(0, True))
else:  # pragma: no cover - every POSIX Python has it
    FORKED[0] = True


def forked_child(pid: int) -> bool:
    """A program forked and its child came back into the library's loop: it must end, not run on."""
    return FORKED[0] and os.getpid() != pid


__all__ = ["FORKED", "MAX_FORKS", "RAILS", "MAX_RECURSION", "REAL_EXIT", "Rails", "Refused", "forked_child", "open_fds"]
