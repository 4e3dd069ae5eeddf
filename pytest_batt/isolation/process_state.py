"""The process-wide state a batt call may change, put back after every call.

Working directory, environment, ``sys.path``, standard streams and their fds, signal handlers
and mask, recursion limit: a batt that changes them would otherwise change every later sample
in its process. Separate from the guard that uses it because what is saved and how it is
restored is a list of its own that grows with every hostile batt found.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator, Optional


def _getcwd() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:  # the folder was deleted under us
        return None


@contextlib.contextmanager
def preserved_globals() -> Iterator[None]:
    """Undo what a batt may change process-wide, so it cannot leak into later samples.

    Restoring reads nothing from the state the batt left: its working directory may be
    deleted, its signal mask may block SIGALRM, its standard streams' fds may be closed.
    """
    import signal

    recursion = sys.getrecursionlimit()
    cwd = _getcwd()
    environ = dict(os.environ)
    path = list(sys.path)
    streams = (sys.stdout, sys.stderr, sys.stdin)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    main = threading.current_thread() is threading.main_thread()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ()) if main and hasattr(signal, "pthread_sigmask") else None
    saved_fds = []
    for fd in (0, 1, 2):
        try:
            saved_fds.append((fd, os.dup(fd)))
        except OSError:
            pass
    try:
        yield
    finally:
        sys.setrecursionlimit(recursion)
        for fd, copy in saved_fds:
            try:
                os.fstat(fd)
            except OSError:  # the batt closed it: put the original back
                os.dup2(copy, fd)
            os.close(copy)
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if cwd is not None and _getcwd() != cwd:
            try:
                os.chdir(cwd)
            except OSError:
                pass  # the batt deleted the folder it was called in: nothing to go back to
        if os.environ != environ:
            os.environ.clear()
            os.environ.update(environ)
        sys.path[:] = path
        sys.stdout, sys.stderr, sys.stdin = streams
        if main:
            for sig, handler in handlers.items():
                if handler is not None and signal.getsignal(sig) is not handler:
                    signal.signal(sig, handler)
