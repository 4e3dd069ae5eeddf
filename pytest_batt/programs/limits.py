"""One program call under its own time limit, nested inside the batt call's limit.

The batt call runs under pytest-timeout's SIGALRM timer (``ITIMER_REAL``); a program inside
it gets a timer of its own that takes the signal over for the program's duration and gives
it back afterwards with the time the outer limit has left. When the outer deadline comes
first, the outer handler is left in place, so the sample times out as any batt call does.
No pytest here: the outer timer may be anyone's (pytest-timeout's, a plain alarm, none).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, Callable, NamedTuple, Optional

# A program that swallows its timeout (``except BaseException: pass`` in a loop) is
# interrupted again this often, until the outer deadline takes over.
REPEAT = 0.05


class ProgramTimeout(BaseException):
    """Raised into a program when its own time is up; a BaseException so ``except Exception`` passes it on."""


class Outcome(NamedTuple):
    status: str  # "ok", "timeout", "error"
    value: Any = None
    error: Optional[BaseException] = None


class Timer:
    """Arms ``ITIMER_REAL`` for one program and restores the outer timer afterwards.

    ``limit`` None (or not on the main thread, where signals cannot be delivered): no timer,
    the program is only protected from raising.
    """

    def __init__(self, limit: Optional[float]) -> None:
        self.limit = limit
        self._live = False
        self._outer_handler: Any = None
        self._outer_deadline: Optional[float] = None

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if not self._live:
            return  # delivered late, after the program ended: nothing to interrupt
        now = time.monotonic()
        outer = self._outer_deadline
        if outer is not None and now >= outer - 1e-3:
            self._restore()  # the sample's own time is up: hand over to its timer's handler
            if callable(self._outer_handler):
                self._outer_handler(signum, frame)
            return
        # Again soon, in case the program swallows this one; never past the outer deadline.
        again = REPEAT if outer is None else max(1e-4, min(REPEAT, outer - now))
        signal.setitimer(signal.ITIMER_REAL, again)
        raise ProgramTimeout()

    def _arm(self) -> None:
        self._outer_deadline = None
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only: no timer of ours, none to read
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        self._outer_deadline = time.monotonic() + remaining if remaining else None
        if self.limit is None or remaining and remaining <= self.limit:
            return  # the outer limit comes first (or alone): it stays in charge
        self._outer_handler = signal.getsignal(signal.SIGALRM)
        self._live = True
        signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.limit)

    def _restore(self) -> None:
        """Idempotent: the outer handler and the outer timer's remaining time, as they were."""
        if not self._live:
            return
        self._live = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._outer_handler if self._outer_handler is not None else signal.SIG_DFL)
        if self._outer_deadline is not None:
            # Already past (a slow restore): fire at once, the outer handler decides.
            signal.setitimer(signal.ITIMER_REAL, max(1e-6, self._outer_deadline - time.monotonic()))

    def run(self, func: Callable[..., Any], *args: Any) -> Outcome:
        """``func(*args)``: its value, or that it timed out or raised; the outer limit's exceptions pass.

        What passes on: a real Ctrl-C, and anything raised once the outer deadline is reached
        (the outer timer's own exception, whatever its type). Everything else a program
        raises, ``SystemExit`` and ``BaseException`` included, is the program's error.
        """
        recursion = sys.getrecursionlimit()
        try:
            try:
                self._arm()
                return Outcome("ok", func(*args))
            finally:
                self._restore()
        except ProgramTimeout:
            self._restore()
            return Outcome("timeout")
        except BaseException as e:
            self._restore()
            if self._passes_on(e):
                raise
            return Outcome("error", error=e)
        finally:
            if sys.getrecursionlimit() != recursion:
                sys.setrecursionlimit(recursion)  # a program's change must not reach the next program

    def _passes_on(self, exc: BaseException) -> bool:
        if isinstance(exc, KeyboardInterrupt):
            # The plugin turns a real Ctrl-C into its own subclass; without it, any one is real.
            return type(exc) is not KeyboardInterrupt or signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # The outer timer's exception (pytest-timeout's Failed, a guard's own) comes at its deadline.
        return self._outer_deadline is not None and time.monotonic() >= self._outer_deadline - 1e-3
