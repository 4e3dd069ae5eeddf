"""Threads a batt starts and leaves running: asked to stop after each sample, and named if they do not.

Separate from the leftover processes (:mod:`.processes`) because a thread cannot be ended,
only asked to stop (an exception raised into it), and one that will not stop costs the worker
itself: the plugin then replaces the worker.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterable, List


def stop_threads(before: Iterable[threading.Thread], wait: float = 0.5) -> List[str]:
    """Ask threads the batt started and left running to stop; return the names of those that did not.

    Python cannot kill a thread: it can only raise SystemExit in it at its next bytecode,
    which stops plain loops but not a thread blocked in C or one that swallows exceptions.
    """
    import ctypes

    known = set(before)
    leaked = [t for t in threading.enumerate() if t not in known and t.is_alive()]
    if not leaked:
        return []
    previous_hook = threading.excepthook

    def quiet(args: Any) -> None:  # our stop request is not an error of the thread
        if args.exc_type is not _ThreadStop:
            previous_hook(args)

    threading.excepthook = quiet
    try:
        for t in leaked:
            if t.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(_ThreadStop))
        deadline = time.monotonic() + wait
        for t in leaked:
            t.join(max(0.0, deadline - time.monotonic()))
    finally:
        threading.excepthook = previous_hook
    return [t.name for t in leaked if t.is_alive()]


class _ThreadStop(SystemExit):
    """Raised into a thread the batt left running, to end it."""
