"""The in-process backstop: a thread that stops what SIGALRM failed to stop.

Every limit in a process starts as a SIGALRM timer (pytest-timeout's for a batt call, the
program timer's for a program). Code can defeat it: ignore or replace the handler, block the
signal, cancel the timer. The backstop thread reads the running slot (:mod:`.slot`) every
:data:`TICK` seconds; when the program (or, where asked, the batt call) is still running
:data:`MARGIN` seconds past its deadline, it acts in the main thread:

- if SIGALRM's Python handler is still the one the limit installed, it simulates the signal
  (``_thread.interrupt_main``: no OS signal, so neither the mask nor a cancelled timer matters),
  and the handler decides, exactly as for a real alarm;
- otherwise it raises the limit's exception in the main thread
  (``PyThreadState_SetAsyncExc``), again every tick while the same thing runs.

Code that swallows every exception still cannot be stopped from inside its process: at its hard
deadline (the limit plus the grace) ``on_stuck`` is called, if given (``-n 0``: write the
results, name what ran, end the process); in a worker the watchdog process ends the worker.
One thread per process, started before the first sample; it reads a few bytes per tick and
costs nothing per program.
"""

from __future__ import annotations

import _thread
import ctypes
import signal
import threading
import time
from typing import Any, Callable, List, Optional, Type

from .slot import Running, Slot

TICK = 0.05
MARGIN = 0.1  # past a deadline, before the backstop acts: a working timer has acted by then


class Backstop:
    """See the module docstring. ``calls``: also back up the batt calls' own limit (``-n 0``)."""

    def __init__(self, slot: Slot, program_exc: Type[BaseException], call_exc: Type[BaseException], *,
                 calls: bool = False, on_stuck: Optional[Callable[[Running, str], None]] = None) -> None:
        self.slot = slot
        self.program_exc = program_exc
        self.call_exc = call_exc
        self.calls = calls
        self.on_stuck = on_stuck
        self.handlers: List[Any] = []  # the program timers' SIGALRM handlers: a simulated signal reaches them
        self.call_handler: Any = None  # the running call's (pytest-timeout's, one per call)
        self.raised = 0  # exceptions raised into the main thread (tests, notes)
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._stuck = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pytest-batt-backstop", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def expect(self, handler: Any) -> None:
        """``handler`` is a program timer's own SIGALRM handler (one per library)."""
        if callable(handler) and not any(handler is h for h in self.handlers):
            self.handlers.append(handler)

    def expect_call(self, handler: Any) -> None:
        """``handler`` is the running batt call's SIGALRM handler (pytest-timeout's: a new one each call)."""
        self.call_handler = handler if callable(handler) else None

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick(time.monotonic())
            except Exception:  # never let the backstop die of a bad read; the next tick tries again
                pass

    def tick(self, now: float) -> Optional[str]:
        """One look at the slot; what it acted on ("program", "call") or None."""
        running = self.slot.read()
        if running is None or self._stuck:
            return None
        if running.index >= 0 and running.program_soft:
            if self.on_stuck is not None and now >= running.program_hard:
                return self._give_up(running, "program")
            if now >= running.program_soft + MARGIN:
                self._interrupt(self.program_exc)
                return "program"
        if self.calls and running.call_soft:
            if self.on_stuck is not None and now >= running.call_hard:
                return self._give_up(running, "call")
            if now >= running.call_soft + MARGIN:
                self._interrupt(self.call_exc)
                return "call"
        return None

    def _interrupt(self, exc: Type[BaseException]) -> None:
        """Simulate SIGALRM if its handler is a limit's (the handler decides, with no risk of landing
        in the wrong code); else raise ``exc`` directly."""
        handler = signal.getsignal(signal.SIGALRM)
        if (handler is not None and handler == self.call_handler) or any(handler == h for h in self.handlers):
            _thread.interrupt_main(signal.SIGALRM)
            return
        if self._main is not None:
            self.raised += 1
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._main), ctypes.py_object(exc))

    def _give_up(self, running: Running, what: str) -> str:
        self._stuck = True
        assert self.on_stuck is not None
        self.on_stuck(running, what)
        return "stuck"
