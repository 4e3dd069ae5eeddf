"""The hard stop: a small separate process that ends an xdist worker whose batt overran.

The first stage (pytest-timeout's signal) raises into the batt; a batt that swallows it, holds
the GIL in one C call, blocks in a finalizer, or switches off any in-process timer (such as
faulthandler's single, process-wide ``dump_traceback_later``) would hang its worker. Nothing
inside the worker can be trusted to end it, so the watchdog lives outside: the worker arms it
before each call with a deadline and a note of what it is doing; past the deadline the
watchdog writes that note to a file the controller reads, asks faulthandler for the stacks
(SIGUSR1), and kills the worker (SIGKILL). xdist then replaces the worker.

Where the system enforces no address-space limit (macOS), the watchdog also keeps the memory
limit: told ``limit``, it reads the worker's resident memory every 50 ms while armed and ends
the worker past it, its note saying so.

The watchdog reads its orders from a pipe, one per batt call, and, while armed, the worker's
running slot (:mod:`.slot`) on the same 50 ms tick: a program past its own hard deadline (its
limit plus the grace) ends the worker too, so a program that defeats its timer costs its limit,
not the sample's. It is the worker's child: when the worker dies (its pid file descriptor
signals it, or its parent id changes) the watchdog exits at once, and it signals its worker
through that descriptor, never a process that took the pid since. When the pipe closes while
armed (the batt closed the fd), the deadline still holds. The watchdog's own program is
:mod:`.watchdog_process`; with ``-n 0`` a session watchdog (:class:`SessionWatchdog`) only
names what was running if the session process dies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any, Dict

# Run as a script, without site: see that module.
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "watchdog_process.py")


class Watchdog:
    """The worker's side: start the watchdog once, then arm and disarm it around the batt's work."""

    def __init__(self, note_path: str, slot_path: str = "") -> None:
        self.note_path = note_path
        self.proc = subprocess.Popen(
            [sys.executable, "-S", PROGRAM, str(os.getpid()), note_path] + ([slot_path] if slot_path else []),
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

    def limit(self, megabytes: float) -> None:
        """While armed, also end this process once its resident memory passes ``megabytes``
        (where the system enforces no address-space limit); the watchdog reads it with the
        psutil this process imports."""
        import psutil

        where = os.path.dirname(os.path.dirname(os.path.abspath(psutil.__file__)))
        self._send(f"limit {megabytes:g} {where}\n".encode())


def dump_stacks_on_request(stack_file: Any) -> None:
    """Let the watchdog's SIGUSR1 write every thread's stack before the kill (best effort)."""
    import faulthandler

    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=stack_file, all_threads=True, chain=False)


class SessionWatchdog:
    """``-n 0``: a watchdog that names what was running when the session process dies (on stderr, and in
    the results file written before that sample), and ends a call whose C code holds the GIL past its
    hard deadline. It takes no orders: it reads the session's running slot."""

    def __init__(self, slot_path: str, results_path: str = "") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-S", PROGRAM, "--session", str(os.getpid()), slot_path] + ([results_path] if results_path else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid
