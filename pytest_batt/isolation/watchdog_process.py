"""The watchdog itself: the separate process that ends a worker whose batt call did not stop.

A program, not a module to import: :class:`~pytest_batt.isolation.watchdog.Watchdog` runs this
file as a script with ``python -S`` (no site), so it starts in little more than a bare
interpreter's time and needs nothing but the standard library, whatever the worker's
environment holds. Kept as a file of its own so that linters and type checkers see it.

Usage: ``python -S watchdog_process.py WORKER_PID NOTE_PATH``, orders on stdin, one a line:
``arm SECONDS NOTE`` (end the worker SECONDS from now, leaving NOTE at NOTE_PATH) or ``off``;
``limit MEGABYTES PATH`` (where the system enforces no address-space limit): while armed, also
end the worker once its resident memory passes MEGABYTES, read every ``TICK_S`` with psutil
imported from PATH (the worker's; the only package this program ever imports, and only then).
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

TYPE_CHECKING = False  # mypy reads it as True; typing itself is not imported at run time (start-up)
if TYPE_CHECKING:
    from typing import Any

TICK_S = 0.05  # how often the resident memory is read against a limit (isolation.memory.TICK_S)


def watch(pid: int, note_path: str, fd: int = 0) -> None:
    """Follow the orders on ``fd`` until the pipe closes while disarmed, or a deadline passes."""
    buf = b""
    deadline: float | None = None
    note = b""
    limit: Any = None  # a ResidentLimit, after a ``limit`` order
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if limit is not None and wait is not None:
            wait = min(wait, TICK_S)
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
                elif line.startswith(b"limit "):
                    limit = ResidentLimit.order(pid, line[6:])
        elif deadline is not None and time.monotonic() >= deadline:
            break
        if limit is not None and deadline is not None:
            over = limit.exceeded(note)
            if over is not None:
                note = over
                break
    hard_stop(pid, note_path, note)


class ResidentLimit:
    """The worker's resident memory against a limit, read with psutil (a ``limit`` order)."""

    def __init__(self, process: Any, megabytes: float) -> None:
        self.process = process  # psutil.Process of the worker, made once: it names that process only
        self.megabytes = megabytes

    @classmethod
    def order(cls, pid: int, args: bytes) -> "ResidentLimit | None":
        """``MEGABYTES PATH``; None (no limit) for 0, a bad order, or a psutil that cannot read it."""
        megabytes, _, path = args.decode(errors="replace").partition(" ")
        try:
            mb = float(megabytes)
            if path and path not in sys.path:
                sys.path.append(path)  # after the standard library's folders: nothing of it is shadowed
            import psutil

            process = psutil.Process(pid)
            process.memory_info()
        except Exception:
            return None
        return cls(process, mb) if mb > 0 else None

    def exceeded(self, note: bytes) -> "bytes | None":
        """The note to leave when the worker is past the limit (the arm order's note, with the
        reading added), else None."""
        try:
            resident = self.process.memory_info().rss / 2**20
        except Exception:  # the worker is gone: nothing to stop
            return None
        if resident <= self.megabytes:
            return None
        import json

        try:
            data = json.loads(note or b"{}")
        except ValueError:
            data = {}
        data.update(memory_mb=round(resident, 1), limit_mb=self.megabytes)
        return json.dumps(data).encode()


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
