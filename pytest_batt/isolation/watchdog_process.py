"""The watchdog itself: the separate process that ends a worker whose batt call did not stop.

A program, not a module to import: :class:`~pytest_batt.isolation.watchdog.Watchdog` runs this
file as a script with ``python -S`` (no site), so it starts in little more than a bare
interpreter's time and needs nothing but the standard library, whatever the worker's
environment holds. Kept as a file of its own so that linters and type checkers see it.

Usage: ``python -S watchdog_process.py WORKER_PID NOTE_PATH``, orders on stdin, one a line:
``arm SECONDS NOTE`` (end the worker SECONDS from now, leaving NOTE at NOTE_PATH) or ``off``.
"""

from __future__ import annotations

import sys

# Run as a script, its own folder (the package's) leads sys.path: only the standard library is
# wanted here, whatever that folder holds. (Not there with -P or PYTHONSAFEPATH.)
if __name__ == "__main__" and not getattr(sys.flags, "safe_path", False):
    del sys.path[0]

import os
import select
import signal
import time


def watch(pid: int, note_path: str, fd: int = 0) -> None:
    """Follow the orders on ``fd`` until the pipe closes while disarmed, or a deadline passes."""
    buf = b""
    deadline: float | None = None
    note = b""
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if select.select([fd], [], [], wait)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:  # the worker ended, or the batt closed the pipe
                if deadline is None:
                    return
                while time.monotonic() < deadline:  # armed: the deadline still holds
                    time.sleep(max(0.0, deadline - time.monotonic()))
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"arm "):
                    seconds, _, note = line[4:].partition(b" ")
                    deadline = time.monotonic() + float(seconds)
                elif line == b"off":
                    deadline, note = None, b""
        elif deadline is not None and time.monotonic() >= deadline:
            break
    hard_stop(pid, note_path, note)


def hard_stop(pid: int, note_path: str, note: bytes) -> None:
    """Leave the note where the controller reads it, then end the worker (its stacks first)."""
    with open(note_path + ".tmp", "wb") as f:
        f.write(note or b"{}")
    os.replace(note_path + ".tmp", note_path)
    try:
        os.kill(pid, signal.SIGUSR1)  # faulthandler: where it was
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2])
