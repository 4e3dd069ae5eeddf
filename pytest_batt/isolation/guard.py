"""The call guard: one batt call under its limits, and nothing it raises escaping.

A :class:`Guard` is started before each call and stopped after it, always; what it limits is
the caller's choice: this plain one only memory, the plugin's (``items.CallLimits``) the time
through pytest-timeout and the watchdog too. :func:`call_batt` turns whatever the call does
into a :class:`Call` (returned, timed out, error) and undoes what it changed process-wide.
Separate from running a sample, which decides which calls to make and folds their results.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

from ..contract import ContractError
from . import memory
from .process_state import preserved_globals


class BattTimeout(Exception):
    """Raised into a batt call by the guard when its time is up."""


class StuckTimeout(BattTimeout):
    """Raised into a batt call by the backstop (:mod:`.backstop`) when its timer did not act."""


class RealInterrupt(KeyboardInterrupt):
    """Ctrl-C from the user, as opposed to a batt raising KeyboardInterrupt itself."""


# The modules whose frames stand between a call and the batt's, cut from its traceback: this
# one, the runner's parse of what the call returned, the contract's checks of it, and the
# restoring of process-wide state (with contextlib's frames around it).
_OURS = frozenset({__name__, "pytest_batt.runner", "pytest_batt.contract", "pytest_batt.isolation.process_state",
                   "contextlib", "pytest_batt.profiling"})


@dataclass
class Call:
    status: str  # "ok", "timeout", "error"
    value: Any = None
    message: Optional[str] = None


def _batt_traceback(exc: BaseException) -> str:
    """The exception with our own frames cut off, so the user sees their batt's frames only."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__") in _OURS:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb, limit=-12)
    return "".join(lines).rstrip()


class Guard:
    """Limits one batt call: :meth:`start` before it, :meth:`stop` after it, always.

    This plain guard limits only memory (when asked). The plugin's subclass adds the time
    limit (pytest-timeout) and the hard stop; ``is_timeout`` tells which exception raised
    into a call means its time was up. ``stop`` must be idempotent and must not raise.
    """

    def __init__(self, max_memory: Optional[float] = None) -> None:
        self.max_memory = max_memory
        self._rlimit: Optional[Tuple[int, int]] = None

    def start(self, label: str) -> None:
        if self.max_memory:
            self._rlimit = memory.set_limit(self.max_memory)

    def stop(self) -> None:
        if self._rlimit is not None:
            memory.restore(self._rlimit)
            self._rlimit = None

    def is_timeout(self, exc: BaseException) -> Optional[str]:
        """The timeout message when ``exc`` is this guard's time limit, else None."""
        return str(exc) or "timed out" if isinstance(exc, BattTimeout) else None


no_guard = Guard()


def _stop(guard: Guard) -> Optional[BaseException]:
    """Stop the guard even when its own time limit fires while it stops; return what fired."""
    fired = None
    for _ in range(5):
        try:
            guard.stop()
            return fired
        except BaseException as e:  # a timer that fired as the call ended: stop again
            fired = e
    return fired


def call_batt(func: Callable[..., Any], guard: Guard, label: str, args: Tuple[Any, ...], parse: Callable[[Any], Any],
              keep: Optional[Callable[[BaseException], Any]] = None) -> Call:
    """One limited call: it returns, times out, or is an error; nothing it raises escapes.

    ``parse`` runs under the same limit, because a batt may return a generator or objects
    whose methods run its code; the return value is dropped under it too (finalizers).
    Whatever the batt raises (``pytest.skip``, ``SystemExit``, ``KeyboardInterrupt``) is its
    error; only a real Ctrl-C (:class:`RealInterrupt`) goes on. ``keep``, if given, reads what
    a timed-out call had found from the timeout exception (``--batt-keep-partial``): the
    timeout's ``value``.
    """
    try:
        try:
            guard.start(label)
            with preserved_globals():  # its exit puts a lowered recursion limit back before anything else
                result = func(*args)
            value = parse(result)
            del result
        finally:
            late = _stop(guard)
        if isinstance(late, RealInterrupt):
            raise late
        return Call("ok", value)  # a timer that fired while stopping: the call had returned in time
    except RealInterrupt:
        raise
    except BaseException as e:
        _stop(guard)  # raised before the finally above could run it
        why = guard.is_timeout(e)
        if why is not None:
            return Call("timeout", value=keep(e) if keep is not None else None, message=why.replace("{label}", label))
        if isinstance(e, ContractError):
            return Call("error", message=f"{label} broke the batt contract: {e}")
        if isinstance(e, MemoryError) and guard.max_memory:
            # The batt's frames, and what they allocated, are gone by now, so a MemoryError the
            # batt raised itself cannot be told apart: name the limit that was set.
            return Call("error", message=f"{label} ran out of memory: MemoryError under the memory limit "
                                         f"(--batt-max-memory {guard.max_memory:g} MB)")
        return Call("error", message=f"{label} raised {type(e).__name__}: {e}\n{_batt_traceback(e)}")
