"""The process-wide state a batt call or a program may change, put back after every call and every program.

Builtins, working directory, environment, ``sys.path``, standard streams (and, after a call,
their fds), signal handlers and mask, recursion limit, trace and profile functions, the sys and
threading hooks, the switch interval, the garbage collector's switch, the warnings filters: a
batt or a program that changes them would otherwise change every later call in its process. Separate
from the guard that uses it because what is saved and how it is restored is a list of its own
that grows with every hostile batt found.

:class:`Interpreter` is the cheap form, for a library's programs: taken once per batt call,
then :meth:`~Interpreter.restore` after each program compares before it writes (a few
microseconds when nothing changed: a dict comparison for the builtins, two system calls for the
working directory and the signal mask) and names what it put back, so that the program that
changed it can be named. :func:`preserved_globals` is the per-call form, which also puts back
closed standard fds.
"""

from __future__ import annotations

import builtins
import gc
import importlib
import operator
import os
import signal
import sys
import threading
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGALRM") if hasattr(signal, name))
_HAS_MASK = hasattr(signal, "pthread_sigmask")
# The C module's own functions: signal.getsignal and signal.pthread_sigmask wrap every result in
# enum lookups, which cost ~25x (a handler) and ~3x (a mask) the call itself, per program, and
# signal.signal turns every old handler into an enum member too (~3 us a call).
try:
    _C_SIGNAL: Any = importlib.import_module("_signal")
except ImportError:  # another Python: the public ones, slower
    _C_SIGNAL = signal
_raw_getsignal = getattr(_C_SIGNAL, "getsignal", signal.getsignal)
_raw_sigmask = getattr(_C_SIGNAL, "pthread_sigmask", getattr(signal, "pthread_sigmask", None)) if _HAS_MASK else None
_raw_signal = getattr(_C_SIGNAL, "signal", signal.signal)
_BUILTINS: Dict[str, Any] = builtins.__dict__
raw_getsignal = _raw_getsignal  # for the other hot paths (a call's SIGINT swap, the program timer)
raw_signal = _raw_signal


class DictVersions:
    """Whether some dicts changed, in ~30 ns each: CPython keeps in every dict a version tag that each
    mutation changes (PEP 509, 3.11 to 3.13), read here through ctypes. Used only where
    :func:`usable` finds it at the expected place and changing with every kind of mutation;
    elsewhere callers compare the dicts themselves."""

    OFFSET = object.__basicsize__ + 8  # after the object header and ma_used (a Py_ssize_t)

    def __init__(self, dicts: List[Dict[Any, Any]]) -> None:
        import ctypes

        self.dicts = dicts  # kept alive: the cells read their memory
        self.cells = [ctypes.c_uint64.from_address(id(d) + self.OFFSET) for d in dicts]

    def read(self) -> Tuple[int, ...]:
        return tuple(map(_VALUE, self.cells))

    @classmethod
    def usable(cls) -> bool:
        if "ok" not in _VERSIONS_OK:
            _VERSIONS_OK["ok"] = cls._probe()
        return _VERSIONS_OK["ok"]

    @classmethod
    def _probe(cls) -> bool:
        if sys.implementation.name != "cpython" or dict.__basicsize__ < cls.OFFSET + 8 or sys.version_info >= (3, 14):
            return False
        try:
            import ctypes

            probe: Dict[Any, Any] = {"a": 1, "b": 2, "c": 3}
            used = ctypes.c_ssize_t.from_address(id(probe) + object.__basicsize__)
            if used.value != 3:
                return False  # not the layout this expects
            versions = cls([probe])
            mutations: List[Callable[[], Any]] = [
                lambda: probe.__setitem__("d", 4), lambda: probe.__setitem__("a", 5), lambda: probe.__delitem__("b"),
                         lambda: probe.pop("c"), lambda: probe.setdefault("e", 6), lambda: probe.update(f=7),
                         lambda: probe.popitem(), lambda: probe.clear()]
            for mutate in mutations:
                before = versions.read()
                len(probe), probe.get("a"), list(probe)  # reading changes nothing
                if versions.read() != before:
                    return False
                mutate()
                if versions.read() == before:
                    return False
            return used.value == 0
        except Exception:
            return False


_VERSIONS_OK: Dict[str, bool] = {}
_VALUE = operator.attrgetter("value")


def _hooks() -> Tuple[Any, ...]:
    """What a program may rebind or switch that no other check covers, compared in one go (~0.3 us)."""
    filters = warnings.filters
    return (sys.gettrace(), sys.getprofile(), sys.excepthook, sys.displayhook, sys.unraisablehook, threading.excepthook,
            sys.getswitchinterval(), gc.isenabled(), filters, len(filters), filters[0] if filters else None)


def _small() -> Tuple[Any, ...]:
    """What no watched dict holds and costs no system call to read: the interpreter's own settings
    and the Python-level signal handlers."""
    return (sys.getrecursionlimit(), sys.gettrace(), sys.getprofile(), sys.getswitchinterval(), gc.isenabled(),
            *[_raw_getsignal(sig) for sig in _SIGNALS])


def _getcwd() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:  # the folder was deleted under us
        return None


def _environ_data() -> Any:
    """The environment's own dict (bytes on POSIX): comparing it costs a fraction of decoding os.environ."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else None


class Interpreter:
    """What a program may change, taken before a call (:meth:`take`), checked and put back after each
    program (:meth:`restore`)."""

    def __init__(self, modules: Optional["Modules"] = None) -> None:
        """``modules``: also watch ``sys.modules`` and these modules' attributes (a library's programs)."""
        self.modules = modules
        self._versions: Optional[DictVersions] = None
        self._tags: Tuple[int, ...] = ()
        self._base = 0  # how many of the watched dicts are the interpreter's (the modules' follow)
        self.main = False
        self.small: Tuple[Any, ...] = ()
        self.path: List[str] = []
        self.hooks: Tuple[Any, ...] = ()
        self.take()

    def take(self) -> None:
        """Before a call. When the watched dicts' version tags, the interpreter's settings, ``sys.path``
        and the hooks are as the last call left them (the common case), only the working directory
        and the signal mask are read again; otherwise the copies of the builtins and the environment
        are kept when their own tags did not change."""
        versions = self._versions
        if (versions is not None and self.main and versions.read() == self._tags and _small() == self.small
                and sys.path == self.path and _hooks() == self.hooks):
            self.cwd = _getcwd()
            self.mask = _raw_sigmask(signal.SIG_BLOCK, ()) if _raw_sigmask is not None else None
            return
        self.main = threading.current_thread() is threading.main_thread()
        data = self.environ_data = _environ_data()
        watched = [_BUILTINS, vars(sys), vars(os), vars(warnings)] + ([data] if data is not None else [])
        self._base = len(watched)
        modules = self.modules
        if modules is not None:
            watched += modules.dicts()
        if versions is None or len(versions.dicts) != len(watched) or any(a is not b for a, b in zip(versions.dicts, watched)):
            self.builtins = dict(_BUILTINS)
            self.environ: Any = dict(data) if data is not None else dict(os.environ)
            versions = self._versions = DictVersions(watched) if DictVersions.usable() else None
            if modules is not None:
                modules.snapshot()
        else:
            tags = versions.read()
            if tags[0] != self._tags[0]:
                self.builtins = dict(_BUILTINS)
            if data is not None and tags[self._base - 1] != self._tags[self._base - 1]:
                self.environ = dict(data)
            if modules is not None and tags[self._base:] != self._tags[self._base:]:
                modules.snapshot()
        self.recursion = sys.getrecursionlimit()
        self.streams = (sys.stdout, sys.stderr, sys.stdin)
        self.path_list = sys.path
        self.path = list(sys.path)
        self.environ_obj = os.environ
        self.cwd = _getcwd()
        self.handlers = tuple([_raw_getsignal(sig) for sig in _SIGNALS])
        self.mask = _raw_sigmask(signal.SIG_BLOCK, ()) if self.main and _raw_sigmask is not None else None
        self.hooks = _hooks()
        self.filters = list(warnings.filters)
        self.small = _small()
        self._tags = versions.read() if versions is not None else ()

    def restore(self, touched: bool = True, lowered: bool = False) -> Optional[List[str]]:
        """Put back what changed since :meth:`take`; None when nothing did, else what was put back.

        Reads nothing from the state it was left in beyond comparing it: the working directory
        may be deleted, the signal mask may block SIGALRM. When the watched dicts' version tags
        are unchanged, what lives in them (builtins, environment, ``sys.stdout``, ``sys.path``
        rebound, the hooks, the warnings filters) is known unchanged. ``touched`` False: the
        caller knows that no call changed what lives elsewhere (the working directory, the signal
        mask and handlers, the interpreter's settings; the rails note such calls), so only the
        tags and ``sys.path``'s items are compared. ``lowered``: the caller already put back a
        recursion limit lowered under this one (it could not wait); it is named here, in its place.
        """
        versions = self._versions
        if versions is not None and versions.read() == self._tags and sys.path == self.path:
            if not touched and not lowered:
                return None
            if (not lowered and _small() == self.small and _getcwd() == self.cwd
                    and (self.mask is None or _raw_sigmask is None or _raw_sigmask(signal.SIG_BLOCK, ()) == self.mask)):
                return None
            return self._restore(True, lowered) or None
        return self._restore(versions is not None and versions.read() == self._tags, lowered) or None

    def _restore(self, same: bool, lowered: bool = False) -> List[str]:
        changed: List[str] = []
        if not same and _BUILTINS != self.builtins:
            changed += self._builtins()
        if lowered:
            changed.append("the recursion limit")
        elif sys.getrecursionlimit() != self.recursion:
            sys.setrecursionlimit(self.recursion)
            changed.append("the recursion limit")
        if (sys.stdout, sys.stderr, sys.stdin) != self.streams:  # identity first: the streams are plain objects
            sys.stdout, sys.stderr, sys.stdin = self.streams
            changed.append("sys.stdout/stderr/stdin")
        if sys.path is not self.path_list or sys.path != self.path:
            sys.path = self.path_list
            sys.path[:] = self.path
            changed.append("sys.path")
        if os.environ is not self.environ_obj or (not same and (self.environ_data if self.environ_data is not None
                                                                 else os.environ) != self.environ):
            changed.append(self._environ())
        cwd = _getcwd()
        if cwd != self.cwd and self.cwd is not None:
            try:
                os.chdir(self.cwd)
            except OSError:
                pass  # the folder it was called in is gone: nothing to go back to
            changed.append("the working directory")
        if self.main:
            handlers = self.handlers
            for i, sig in enumerate(_SIGNALS):
                if _raw_getsignal(sig) is not handlers[i] and handlers[i] is not None:
                    signal.signal(sig, handlers[i])
                    changed.append(f"the {signal.Signals(sig).name} handler")
            if self.mask is not None and _raw_sigmask is not None and _raw_sigmask(signal.SIG_BLOCK, ()) != self.mask:
                signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
                changed.append("the signal mask")
        if _hooks() != self.hooks:
            changed += self._hooks()
        if self.modules is not None and not same:
            changed += self.modules.restore()
        if self._versions is not None:
            self._tags = self._versions.read()
        return changed

    def _hooks(self) -> List[str]:
        names = []
        trace, profile, excepthook, displayhook, unraisablehook, thread_hook, interval, gc_on, filters, _, _ = self.hooks
        if (sys.gettrace(), sys.getprofile()) != (trace, profile):
            sys.settrace(trace)
            sys.setprofile(profile)
            names.append("the trace or profile function")
        if (sys.excepthook, sys.displayhook, sys.unraisablehook, threading.excepthook) != (excepthook, displayhook, unraisablehook,
                                                                                            thread_hook):
            sys.excepthook, sys.displayhook, sys.unraisablehook = excepthook, displayhook, unraisablehook
            threading.excepthook = thread_hook
            names.append("sys/threading hooks")
        if sys.getswitchinterval() != interval:
            sys.setswitchinterval(interval)
            names.append("the switch interval")
        if gc.isenabled() != gc_on:
            (gc.enable if gc_on else gc.disable)()
            names.append("the garbage collector")
        if warnings.filters is not filters or warnings.filters != self.filters:
            warnings.filters = filters
            filters[:] = self.filters
            mutated = getattr(warnings, "_filters_mutated", None)  # the module's own cache of filter lookups
            if mutated is not None:
                mutated()
            names.append("the warnings filters")
        return names

    def _builtins(self) -> List[str]:
        now, saved = _BUILTINS, self.builtins
        names = sorted({k for k in now.keys() | saved.keys() if k not in now or k not in saved or now[k] is not saved[k]})
        for name in names:
            if name in saved:
                now[name] = saved[name]
            else:
                del now[name]
        shown = ", ".join(names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else "")
        return [f"builtins ({shown})"]

    def _environ(self) -> str:
        os.environ = self.environ_obj  # noqa: B003 (the object rebound by the program is put back; its content next)
        data = _environ_data()
        if data is not None:
            # Through os.environ, so that putenv follows: the C-level environment subprocesses inherit.
            now = dict(data)
            decode = getattr(os.environ, "decodekey", None)
            decode_value = getattr(os.environ, "decodevalue", None)
            if decode is not None and decode_value is not None:
                for key in now.keys() - self.environ.keys():
                    os.environ.pop(decode(key), None)
                for key, value in self.environ.items():
                    if now.get(key) != value:
                        os.environ[decode(key)] = decode_value(value)
                return "the environment"
        os.environ.clear()
        os.environ.update(self.environ)
        return "the environment"


_CALLS: Dict[int, Interpreter] = {}  # one per thread that makes batt calls (the main one, mostly)


class _Preserved:
    """:func:`preserved_globals`' context manager (a class: contextlib's generator costs ~5 us a call)."""

    __slots__ = ("state", "saved_fds")

    def __enter__(self) -> None:
        ident = threading.get_ident()
        state = _CALLS.get(ident)
        if state is None:
            state = _CALLS[ident] = Interpreter()
        else:
            state.take()  # the copies of the last call kept while nothing changed
        self.state = state
        saved_fds: List[Tuple[int, int]] = []
        self.saved_fds = saved_fds
        for fd in (0, 1, 2):
            try:
                saved_fds.append((fd, os.dup(fd)))
            except OSError:
                pass

    def __exit__(self, *exc: Any) -> None:
        state = self.state
        if sys.getrecursionlimit() < state.recursion:
            sys.setrecursionlimit(state.recursion)  # first: a limit cut to the caller's depth fails what follows
        for fd, copy in self.saved_fds:
            try:
                os.fstat(fd)
            except OSError:  # the batt closed it: put the original back
                os.dup2(copy, fd)
            os.close(copy)
        self.state.restore()


def preserved_globals() -> _Preserved:
    """Undo what a batt call may change process-wide, so it cannot leak into later calls (``with``).

    Restoring reads nothing from the state the batt left: its working directory may be
    deleted, its signal mask may block SIGALRM, its standard streams' fds may be closed.
    """
    return _Preserved()


class Modules:
    """``sys.modules`` and some modules' attributes (those pytest-batt reports through), as they were when
    taken. Watched by an :class:`Interpreter` (their dicts join its version tags, so a program that
    changes none costs nothing more); :meth:`restore` puts back entries removed or replaced, while
    modules a program imports stay (and are watched from then on)."""

    def __init__(self, names: Tuple[str, ...]) -> None:
        self.names = names
        self.snapshot()

    def snapshot(self) -> None:
        self.saved = dict(sys.modules)
        self.attrs = {name: dict(vars(sys.modules[name])) for name in self.names if name in sys.modules}

    def dicts(self) -> List[Dict[Any, Any]]:
        """The dicts to watch: sys.modules, and each watched module's own."""
        return [sys.modules] + [vars(sys.modules[name]) for name in self.attrs]

    def restore(self) -> List[str]:
        modules, saved = sys.modules, self.saved
        gone = [name for name, mod in saved.items() if modules.get(name) is not mod]
        for name in gone:
            modules[name] = saved[name]
        changed = [f"sys.modules[{name!r}]" for name in gone[:3]] + ([f"(+{len(gone) - 3} modules)"] if len(gone) > 3 else [])
        if len(modules) != len(saved):
            saved.update(modules)  # imported meanwhile: kept, and watched from now on
        for name, attrs in self.attrs.items():
            now = vars(modules[name])
            if now == attrs:
                continue
            for key, value in attrs.items():
                if now.get(key, now) is not value:
                    now[key] = value
                    changed.append(f"{name}.{key}")
        return changed
