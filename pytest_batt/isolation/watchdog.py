"""The hard stop: a small separate process that ends an xdist worker whose batt overran.

The first stage (pytest-timeout's signal) raises into the batt; a batt that swallows it, holds
the GIL in one C call, blocks in a finalizer, or switches off any in-process timer (such as
faulthandler's single, process-wide ``dump_traceback_later``) would hang its worker. Nothing
inside the worker can be trusted to end it, so the watchdog lives outside: the worker arms it
before each call with a deadline and a note of what it is doing; past the deadline the
watchdog writes that note to a file the controller reads, asks faulthandler for the stacks
(SIGUSR1), and kills the worker (SIGKILL). xdist then replaces the worker.

The watchdog reads its orders from a pipe. When the worker ends, the pipe closes and the
watchdog exits; when the pipe closes while armed (the batt closed the fd), the deadline still
holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any, Dict

# Runs with ``python -S -c``: no site, no imports beyond the standard library, ~15 ms to start.
_PROGRAM = r"""
import json, os, select, signal, sys, time
pid, note_path = int(sys.argv[1]), sys.argv[2]
fd, buf, deadline, note = 0, b"", None, None
while True:
    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
    ready = select.select([fd], [], [], wait)[0] if fd is not None else time.sleep(wait) or []
    if ready:
        chunk = os.read(fd, 65536)
        if not chunk:
            if deadline is None:
                sys.exit(0)
            fd = None
            continue
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b"arm "):
                seconds, _, text = line[4:].partition(b" ")
                deadline, note = time.monotonic() + float(seconds), text
            elif line == b"off":
                deadline, note = None, None
    elif deadline is not None and time.monotonic() >= deadline:
        with open(note_path + ".tmp", "wb") as f:
            f.write(note or b"{}")
        os.replace(note_path + ".tmp", note_path)
        try:
            os.kill(pid, signal.SIGUSR1)  # faulthandler: where it was
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        sys.exit(0)
"""


class Watchdog:
    """The worker's side: start the watchdog once, then arm and disarm it around the batt's work."""

    def __init__(self, note_path: str) -> None:
        self.note_path = note_path
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _PROGRAM, str(os.getpid()), note_path],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True,  # a Ctrl-C in the terminal is not for it
        )
        assert self.proc.stdin is not None
        self._fd = self.proc.stdin.fileno()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _send(self, line: bytes) -> None:
        try:
            os.write(self._fd, line)
        except OSError:
            pass  # the batt closed our pipe: the watchdog keeps the last deadline it was given

    def arm(self, seconds: float, note: Dict[str, Any]) -> None:
        """Kill this process ``seconds`` from now unless re-armed or disarmed; ``note`` says why."""
        text = json.dumps(note, separators=(",", ":")).replace("\n", " ")
        self._send(f"arm {seconds:.3f} {text}\n".encode())

    def disarm(self) -> None:
        self._send(b"off\n")


def dump_stacks_on_request(stack_file: Any) -> None:
    """Let the watchdog's SIGUSR1 write every thread's stack before the kill (best effort)."""
    import faulthandler

    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=stack_file, all_threads=True, chain=False)
