"""Program calls under their own time limit, nested inside the batt call's limit.

The batt call runs under pytest-timeout's SIGALRM timer (``ITIMER_REAL``). For a run of
programs (:meth:`Timer.session`, one batt call) the timer takes SIGALRM over: it reads the
outer timer's deadline and handler once, then arms ``ITIMER_REAL`` for each program with
``min(program limit, time to the outer deadline)`` and, between programs, for the outer
deadline itself. Whenever the outer deadline is reached the outer handler is put back and
called, so the sample times out as any batt call does; at the end of the session the outer
handler and its remaining time are restored. Two ``setitimer`` calls per program, the
handler swapped once per batt call. No pytest here: the outer timer may be anyone's
(pytest-timeout's, a plain alarm, none).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator, NamedTuple, Optional

# signal's C functions: the module's wrappers make an enum of every handler (~3 us a call)
from ..isolation.process_state import raw_getsignal, raw_signal

# A program that swallows its timeout (``except BaseException: pass`` in a loop) is
# interrupted again this often, until the outer deadline takes over.
REPEAT = 0.05
_EPS = 1e-3


class ProgramTimeout(BaseException):
    """Raised into a program when its own time is up; a BaseException so ``except Exception`` passes it on."""


class Outcome(NamedTuple):
    status: str  # "ok", "timeout", "error"
    value: Any = None
    error: Optional[BaseException] = None


class Timer:
    """Runs programs, each limited to ``limit`` seconds (None: no limit, only protection from raising).

    Signals reach the main thread only: elsewhere the programs run without a limit.
    """

    def __init__(self, limit: Optional[float], keep_recursion: bool = True) -> None:
        """``keep_recursion``: put a program's recursion limit back after it (a caller that puts
        back the whole interpreter, and names what changed, says False). A limit lowered under the
        one the program was called with is put back at once either way (what follows needs the
        stack), and ``lowered`` says so for the caller to name."""
        self.limit = limit
        self.keep_recursion = keep_recursion
        self.lowered = False
        self._session = False
        self._owned = False  # SIGALRM is ours (our handler installed, the outer timer stopped)
        self._live = False  # a program is running
        self._outer_handler: Any = None
        self._outer_deadline: Optional[float] = None
        self._program_deadline = 0.0
        self.handler = self._on_alarm  # bound once: the one object installed, compared by the backstop

    # --- the session: SIGALRM taken over for one batt call's programs ----------------------

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        self._begin()
        try:
            yield
        finally:
            self._end()

    def _begin(self) -> None:
        self._session, self._live, self._outer_deadline = True, False, None
        if threading.current_thread() is not threading.main_thread():
            return
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        self._outer_deadline = time.monotonic() + remaining if remaining else None
        if self.limit is None:
            return  # nothing of ours to arm: the outer timer stays in charge
        self._outer_handler = raw_getsignal(signal.SIGALRM)
        self._owned = True
        raw_signal(signal.SIGALRM, self.handler)
        self._arm_outer()

    def _end(self) -> None:
        """Idempotent: the outer handler and the outer timer's remaining time, as they were."""
        self._session = self._live = False
        if not self._owned:
            return
        self._owned = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        raw_signal(signal.SIGALRM, self._outer_handler if self._outer_handler is not None else signal.SIG_DFL)
        if self._outer_deadline is not None:
            # Already past (a slow program at the very end): fire at once, the outer handler decides.
            signal.setitimer(signal.ITIMER_REAL, max(1e-6, self._outer_deadline - time.monotonic()))

    def _left(self) -> Optional[float]:
        return None if self._outer_deadline is None else max(1e-6, self._outer_deadline - time.monotonic())

    def _arm_outer(self) -> None:
        left = self._left()
        signal.setitimer(signal.ITIMER_REAL, left if left is not None else 0)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if not self._owned:
            return  # delivered late, after the session ended
        now = time.monotonic()
        outer = self._outer_deadline
        if outer is not None and now >= outer - _EPS:
            self._end()  # the sample's own time is up: hand over to its timer's handler
            if callable(self._outer_handler):
                self._outer_handler(signum, frame)
            return
        if not self._live:
            self._arm_outer()  # between programs: only the outer deadline is pending
            return
        if now < self._program_deadline - _EPS:  # a timer a hair early: wait for the next deadline
            next_deadline = self._program_deadline if outer is None else min(outer, self._program_deadline)
            signal.setitimer(signal.ITIMER_REAL, max(1e-4, next_deadline - now))
            return
        # Again soon, in case the program swallows this one; never past the outer deadline.
        signal.setitimer(signal.ITIMER_REAL, REPEAT if outer is None else max(1e-4, min(REPEAT, outer - now)))
        raise ProgramTimeout()

    # --- one program ------------------------------------------------------------------------

    def run(self, func: Callable[..., Any], *args: Any) -> Outcome:
        """``func(*args)``: its value, or that it timed out or raised; the outer limit's exceptions pass.

        What passes on: a real Ctrl-C, and anything raised once the outer deadline is reached
        (the outer timer's own exception, whatever its type). Everything else a program
        raises, ``SystemExit`` and ``BaseException`` included, is the program's error.
        """
        if not self._session:
            with self.session():
                return self.run(func, *args)
        recursion = sys.getrecursionlimit()
        try:
            try:
                if self._owned:
                    assert self.limit is not None
                    left = self._left()
                    self._program_deadline = time.monotonic() + self.limit
                    self._live = True
                    signal.setitimer(signal.ITIMER_REAL, self.limit if left is None else min(self.limit, left))
                return Outcome("ok", func(*args))
            finally:
                if sys.getrecursionlimit() < recursion:
                    sys.setrecursionlimit(recursion)  # first: a limit cut to this depth fails what follows
                    self.lowered = True
                if self._live:
                    self._live = False
                    self._arm_outer()
        except ProgramTimeout:
            self._stop_program()
            return Outcome("timeout")
        except BaseException as e:
            self._stop_program()
            if self._passes_on(e):
                self._end()
                raise
            return Outcome("error", error=e)
        finally:
            if self.keep_recursion and sys.getrecursionlimit() != recursion:
                sys.setrecursionlimit(recursion)  # a program's change must not reach the next program

    def _stop_program(self) -> None:
        """After an exception that may have come before the ``finally`` above could run."""
        if self._live:
            self._live = False
            self._arm_outer()

    def _passes_on(self, exc: BaseException) -> bool:
        if isinstance(exc, KeyboardInterrupt):
            # The plugin turns a real Ctrl-C into its own subclass; without it, any one is real.
            return type(exc) is not KeyboardInterrupt or signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # The outer timer's exception (pytest-timeout's Failed, a guard's own) comes at its deadline.
        return self._outer_deadline is not None and time.monotonic() >= self._outer_deadline - _EPS
