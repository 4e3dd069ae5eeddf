"""The watchdog itself: the separate process that ends a worker whose batt call or program did not stop.

A program, not a module to import: :class:`~pytest_batt.isolation.watchdog.Watchdog` runs this
file as a script with ``python -S`` (no site), so it starts in little more than a bare
interpreter's time and needs nothing but the standard library, whatever the worker's
environment holds. Kept as a file of its own so that linters and type checkers see it; the
layout of the running slot (:mod:`.slot`) is defined here, where the stdlib-only reader is.

Usage: ``python -S watchdog_process.py WORKER_PID NOTE_PATH [SLOT_PATH]``, orders on stdin, one
a line: ``arm SECONDS NOTE`` (end the worker SECONDS from now, leaving NOTE at NOTE_PATH, unless
the slot's call deadline was moved past that since: see :func:`rearmed`) or ``off``; ``limit
MEGABYTES PATH`` (where the system enforces no address-space limit): while armed, also end the
worker once its resident memory passes MEGABYTES, read every tick with psutil imported from PATH
(the worker's; the only package this program ever imports, and only then). While armed it wakes
every :data:`TICK` seconds for its periodic checks: the slot (a program still running past its
own hard deadline, its limit plus the grace, ends the worker too, with the program's index in
the note) and the resident limit. The worker is its parent: when the parent changes (the worker
died) the watchdog exits at once, and it never signals a process that is no longer its parent.

``--session``: the watchdog of a ``-n 0`` session (no orders; the slot alone). When the session
process dies while a sample runs (``os._exit``, a signal, a crash), it names what was running
in the results file the session wrote before that sample, and on stderr.
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
import struct
import time

TYPE_CHECKING = False  # typing is not imported at run time: its import would be most of the start-up
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence

    # A periodic check, run every tick while armed with the time and the armed note: the note (JSON
    # bytes) to end the worker with, or None.
    Check = Callable[[float, bytes], Optional[bytes]]

TICK = 0.05  # how often an armed watchdog runs its periodic checks (the slot, the resident memory)
IDLE_TICK = 1.0  # disarmed, where the worker's death cannot be waited for (no pidfd): how often to look

# --- the running slot: what the worker (or -n 0 session) is running, in a small shared file -------
# Written by the process that runs the samples (isolation/slot.py), read here, by the in-process
# backstop and by the controller after a worker died. Deadlines are time.monotonic() values, the
# same clock in every process of the machine. 0.0 means "none".
SLOT_SIZE = 4096
SLOT_MAGIC = b"BATS"
HEADER = struct.Struct("=4sIq")  # magic, layout version, writer pid
CALL = struct.Struct("=dd")  # the batt call running: soft deadline (its timeout), hard (+ grace)
PROGRAM = struct.Struct("=qdd")  # the program running: library index (-1: none), soft, hard deadline
TEXT = 1020  # bytes of text in the sample's and the program's fields, after a 4-byte length
SAMPLE_TEXT = struct.Struct(f"=I{TEXT}s")  # what the sample is: JSON [nodeid, task, kind, index]
PROGRAM_TEXT = struct.Struct(f"=I{TEXT}s")  # the running program's solver id
DOING_TEXT = struct.Struct(f"=I{TEXT}s")  # what the armed call deadline covers ("solve call", "after the ...")
AT_HEADER, AT_CALL, AT_PROGRAM, AT_SAMPLE, AT_PROGRAM_TEXT, AT_DOING = 0, 16, 32, 64, 64 + 1024, 64 + 2048
LAYOUT = 2


class Running:
    """The slot's fields. ``sample`` is "" between samples; ``program`` is the solver id of the
    program last started (meaningful while ``index >= 0``); ``doing`` what the call deadline covers."""

    __slots__ = ("pid", "call_soft", "call_hard", "index", "program_soft", "program_hard", "sample", "program", "doing")

    def __init__(self, pid: int, call_soft: float, call_hard: float, index: int, program_soft: float,
                 program_hard: float, sample: str, program: str, doing: str = "") -> None:
        self.pid, self.call_soft, self.call_hard = pid, call_soft, call_hard
        self.index, self.program_soft, self.program_hard = index, program_soft, program_hard
        self.sample, self.program, self.doing = sample, program, doing


def read_slot(buf: "Any") -> "Optional[Running]":
    """The slot's fields from its bytes (an mmap or the file's contents), None if it is no slot."""
    if len(buf) < SLOT_SIZE:
        return None
    magic, layout, pid = HEADER.unpack_from(buf, AT_HEADER)
    if magic != SLOT_MAGIC or layout != LAYOUT:
        return None
    call_soft, call_hard = CALL.unpack_from(buf, AT_CALL)
    index, soft, hard = PROGRAM.unpack_from(buf, AT_PROGRAM)
    n, raw = SAMPLE_TEXT.unpack_from(buf, AT_SAMPLE)
    m, prog = PROGRAM_TEXT.unpack_from(buf, AT_PROGRAM_TEXT)
    k, doing = DOING_TEXT.unpack_from(buf, AT_DOING)
    return Running(pid, call_soft, call_hard, index, soft, hard, raw[:min(n, TEXT)].decode("utf-8", "replace"),
                   prog[:min(m, TEXT)].decode("utf-8", "replace"), doing[:min(k, TEXT)].decode("utf-8", "replace"))


def _open_slot(path: "Optional[str]") -> "Any":
    if not path:
        return None
    import mmap

    try:
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), SLOT_SIZE, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


# --- the worker: our parent, watched without ever signalling another process ---------------------

class Parent:
    """The process that started this watchdog. Its death is seen at once where the system gives a
    descriptor for it (Linux's pidfd), else by the parent id changing (checked every tick)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd: "Optional[int]" = None
        if os.getppid() != pid:
            return  # already gone (or never ours): nothing to open
        try:
            self.fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.fd = None
        if os.getppid() != pid and self.fd is not None:  # it died and its pid was reused in between
            os.close(self.fd)
            self.fd = None

    def alive(self) -> bool:
        if os.getppid() != self.pid:
            return False
        if self.fd is not None and select.select([self.fd], [], [], 0)[0]:
            return False
        return True

    def signal(self, sig: int) -> None:
        """``sig`` to the worker, and never to a process that took its pid after it ended."""
        if self.fd is not None:
            try:
                signal.pidfd_send_signal(self.fd, sig)
            except (AttributeError, OSError):
                pass
            else:
                return
        if self.alive():  # our parent still: its pid cannot have been reused
            try:
                os.kill(self.pid, sig)
            except OSError:
                pass


def program_check(slot: "Any") -> "Check":
    """Ends the worker when the program it runs is past its hard deadline (its limit plus the grace).

    A torn read (the worker writing the slot as it is read) could pair one program's index with
    another's deadline: the slot is read again after a moment, and only the same program, still
    past its deadline, counts.
    """
    def check(now: float, note: bytes) -> "Optional[bytes]":
        running = read_slot(slot)
        if running is None or running.index < 0 or not running.program_hard or now < running.program_hard:
            return None
        time.sleep(0.002)
        again = read_slot(slot)
        if again is None or (again.index, again.program_hard) != (running.index, running.program_hard):
            return None
        return _merge(note, b'{"program":%d,"limit":"program"}' % running.index)
    return check


def rearmed(slot: "Any") -> "Optional[Running]":
    """The slot's call deadline and words when the worker armed one there (read twice: a torn read
    could pair one arming's deadline with another's words), else None.

    The worker sends one ``arm`` order a sample, at its start; the re-armings within the sample (each
    batt call, what follows it) are written in the slot, where they cost no system call and wake
    nothing, and the slot's call is cleared after the sample's ``off``. So an armed call there is
    newer than the order: at the order's deadline the watchdog goes by it."""
    if slot is None:
        return None
    for _ in range(3):
        running = read_slot(slot)
        if running is None or not running.call_hard:
            return None
        again = read_slot(slot)
        if again is not None and (again.call_hard, again.doing) == (running.call_hard, running.doing):
            return running
    return None


def _note_dict(note: bytes) -> "Dict[str, Any]":
    """The armed note's keys (a JSON object the worker wrote); {} for none or anything else."""
    import json

    try:
        data = json.loads(note or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def with_doing(note: bytes, doing: str) -> bytes:
    """The armed note with what the slot says the worker was doing (JSON bytes both)."""
    import json

    data = _note_dict(note)
    data["doing"] = doing
    return json.dumps(data, separators=(",", ":")).encode()


def _merge(note: bytes, extra: bytes) -> bytes:
    """``extra``'s keys added to the armed note's (both JSON objects, written by the worker and here)."""
    base = note.strip() or b"{}"
    if not (base.startswith(b"{") and base.endswith(b"}") and extra.startswith(b"{")):
        return extra
    return extra[:-1] + (b"," + base[1:] if base != b"{}" else b"}")


def watch(pid: int, note_path: str, fd: int = 0, slot_path: "Optional[str]" = None,
          checks: "Sequence[Check]" = ()) -> None:
    """Follow the orders on ``fd`` until the worker ends, or it must be ended.

    Armed, it wakes every :data:`TICK` seconds for the periodic ``checks`` (the slot's program
    deadline first; a check of another resource joins this list). A pipe closed while armed (the
    batt closed the fd) keeps the deadline; the worker's death ends the watch at once, whatever
    it was doing.
    """
    parent = Parent(pid)
    slot = _open_slot(slot_path)
    periodic: "List[Check]" = ([program_check(slot)] if slot is not None else []) + list(checks)
    resident: "Optional[ResidentLimit]" = None  # after a ``limit`` order
    buf = b""
    deadline: "Optional[float]" = None
    note = b""
    pipe = True
    while True:
        if not parent.alive():
            return  # the worker is gone: nothing to end, no pid to signal
        now = time.monotonic()
        if deadline is not None:
            if now >= deadline:
                later = rearmed(slot)  # re-armed in the slot since the order: its deadline and its words
                if later is None:
                    break
                if later.doing:
                    note = with_doing(note, later.doing)
                if now >= later.call_hard:
                    break
                deadline = later.call_hard
                continue
            for check in periodic + ([resident.check] if resident is not None else []):
                stop = check(now, note)
                if stop is not None:
                    hard_stop(parent, note_path, stop)
                    return
            wait: "Optional[float]" = min(TICK, deadline - now)
        else:  # disarmed: wait for an order, or the worker's end (a pidfd, else a look now and then)
            wait = None if parent.fd is not None and pipe else IDLE_TICK
        waits = ([fd] if pipe else []) + ([parent.fd] if parent.fd is not None else [])
        if not waits:
            time.sleep(wait or IDLE_TICK)
            continue
        ready = select.select(waits, [], [], wait)[0]
        if parent.fd is not None and parent.fd in ready:
            return  # the worker ended
        if pipe and fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:  # the worker ended, or the batt closed the pipe
                pipe = False
                if deadline is None:
                    return
                continue  # armed: the deadline still holds, the parent is watched
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"arm "):
                    seconds, _, note = line[4:].partition(b" ")
                    deadline = time.monotonic() + float(seconds)
                elif line == b"off":
                    deadline, note = None, b""
                elif line.startswith(b"limit "):
                    resident = ResidentLimit.order(pid, line[6:])
    hard_stop(parent, note_path, note)


class ResidentLimit:
    """The worker's resident memory against a limit, read with psutil (a ``limit`` order)."""

    def __init__(self, process: "Any", megabytes: float) -> None:
        self.process = process  # psutil.Process of the worker, made once: it names that process only
        self.megabytes = megabytes

    @classmethod
    def order(cls, pid: int, args: bytes) -> "Optional[ResidentLimit]":
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

    def check(self, now: float, note: bytes) -> "Optional[bytes]":
        """A periodic check: the note to leave when the worker is past the limit (the arm order's
        note, with the reading added), else None."""
        try:
            resident = self.process.memory_info().rss / 2**20
        except Exception:  # the worker is gone: nothing to stop
            return None
        if resident <= self.megabytes:
            return None
        import json

        data = _note_dict(note)
        data.update(memory_mb=round(resident, 1), limit_mb=self.megabytes)
        return json.dumps(data).encode()


def hard_stop(parent: Parent, note_path: str, note: bytes) -> None:
    """Leave the note where the controller reads it, then end the worker (its stacks first)."""
    if not parent.alive():
        return  # died on its own meanwhile: the controller reads that crash as it is
    with open(note_path + ".tmp", "wb") as f:
        f.write(note or b"{}")
    os.replace(note_path + ".tmp", note_path)
    parent.signal(signal.SIGUSR1)  # faulthandler: where it was
    time.sleep(0.3)
    parent.signal(signal.SIGKILL)


# --- the -n 0 session's watchdog: what was running when the session process died ----------------

MAX_PATCH_BYTES = 256 * 2**20  # a results file larger than this is left as it is (the line on stderr still says it)
EXTRA = 2.0  # the session's own backstop ends a stuck call at its hard deadline; this, only if it cannot (the GIL held)


def watch_session(pid: int, slot_path: str, results_path: str = "") -> None:
    """Until the session process ends: if it ends while a sample runs, say what ran (stderr and the
    results file); if a call runs past its hard deadline by :data:`EXTRA` seconds (its in-process
    backstop could not act: a C call holding the GIL), end it first."""
    parent = Parent(pid)
    slot = _open_slot(slot_path)
    if slot is None:
        return
    killed = False
    while parent.alive():
        running = read_slot(slot)
        hard = _hard_deadline(running)
        if hard and time.monotonic() >= hard + EXTRA:
            killed = True
            parent.signal(signal.SIGKILL)
            break
        waits = [parent.fd] if parent.fd is not None else []
        wait = TICK if hard else IDLE_TICK
        if waits:
            select.select(waits, [], [], wait)
        else:
            time.sleep(wait)
    running = read_slot(slot)
    if running is None or not running.sample:
        return  # between samples (a clean end clears the slot): nothing to say
    post_mortem(running, results_path, killed)


def _hard_deadline(running: "Optional[Running]") -> float:
    """The nearest hard deadline the slot shows (a running program's, the call's), 0.0 for none."""
    if running is None:
        return 0.0
    deadlines = [d for d in (running.call_hard, running.program_hard if running.index >= 0 else 0.0) if d]
    return min(deadlines) if deadlines else 0.0


def sample_fields(running: Running) -> "Any":
    """``(nodeid, task, kind, index)`` of the sample the slot says was running, or None."""
    import json

    try:
        nodeid, task, kind, index = json.loads(running.sample)
        return str(nodeid), str(task), str(kind), int(index)
    except (ValueError, TypeError):
        return None


def post_mortem(running: Running, results_path: str, killed: bool) -> None:
    """Name what was running in the results file written before this sample, and on stderr.

    The sample stays ``missing`` (it never gave a result: ``--batt-resume`` runs it again); a program
    that was running is named in its error and added to the file's ``quarantined`` list, so that the
    resumed run leaves it out.
    """
    sample = sample_fields(running)
    if sample is None:
        return
    nodeid, task, kind, index = sample
    program = running.program if running.index >= 0 and running.program else ""
    if killed:
        what = (f"held the GIL past its hard deadline (its limit plus --batt-grace, and {EXTRA:g} s more) and could not be "
                "stopped in this process")
        status = "timeout"
    else:
        what = "ended the session process (os._exit, a signal, a crash, or it was killed from outside)"
        status = "crash"
    subject = program or ("the batt's call" if running.call_soft else "pytest-batt's own work on this sample")
    error = f"{subject} {what} while running this sample; -n 0 runs everything in one process: use -n 1 or more"
    if program:
        error += "; --batt-resume runs the sample again without that program"
    patched = _patch(results_path, task, kind, index, status, error, program) if results_path else False
    where = f"; the results so far are in {results_path}" if patched else ""
    try:
        sys.stderr.write(f"\npytest-batt: {nodeid}: {error}{where}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _patch(path: str, task: str, kind: str, index: int, status: str, error: str, program: str) -> bool:
    import gzip
    import json

    try:
        if os.path.getsize(path) > MAX_PATCH_BYTES:
            return False
        with open(path, "rb") as f:
            raw = f.read()
        zipped = raw[:2] == b"\x1f\x8b"
        data = json.loads(gzip.decompress(raw) if zipped else raw)
        samples = data["tasks"][task]["samples"]
        entry = next(s for s in samples if s.get("kind") == kind and s.get("index") == index)
    except (OSError, ValueError, KeyError, TypeError, StopIteration, EOFError):
        return False
    if entry.get("status") != "missing":
        return False  # not the file written before this sample (it ran, or another wrote it)
    entry["error"] = error
    if program:
        data.setdefault("quarantined", []).append(
            {"solver_id": program, "status": status, "task": task, "kind": kind, "index": index, "error": error})
    text = (json.dumps(data, separators=(",", ":")) + "\n").encode()
    tmp = path + ".post-mortem.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(gzip.compress(text, mtime=0) if zipped else text)
        os.replace(tmp, path)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    if sys.argv[1] == "--session":
        watch_session(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
    else:
        watch(int(sys.argv[1]), sys.argv[2], slot_path=sys.argv[3] if len(sys.argv) > 3 else None)
