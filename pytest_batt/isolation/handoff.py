"""What a worker leaves for the controller in case it dies during a sample, and what the
controller makes of it: the one place for these files, their contents and their meaning.

In the run's scratch folder, under its own id, a worker keeps:

* ``stack``: faulthandler's output, opened before the worker's first batt call (where the batt
  was when the worker died; its absence means the worker's scratch folder is not ours: it runs
  on another host);
* ``hardstop``: the watchdog's note, written before it ends a worker whose call did not stop
  (``isolation/watchdog.py``): that the sample timed out, and in which call; or, with
  ``memory_mb``, that it went past the resident-memory limit;
* ``partial``: the sample's record so far, after the solve call (stage ``solve``) and after the
  last call (stage ``final``), so a worker ended during a diff call or a hanging finalizer loses
  only what came after;
* ``record``: the finished record of a sample after which the worker ends itself on purpose
  (threads it could not stop, a patched pytest-batt), with the message to show.

The status comes from these typed notes, never from parsing a traceback: the stack text only
names the batt's frame and faulthandler's "Fatal Python error" line in the message.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, TypedDict, cast

from .. import files
from ..records import SampleRecord, add_error

STAGE_SOLVED = "solve"  # the solve call is done; diff calls follow
STAGE_FINAL = "final"  # every call is done; only the sample's own clean-up follows

# In a stack dump, the thread that was running the batt is the one inside the call guard.
_CALL_GUARD = os.path.join("pytest_batt", "isolation", "guard.py")


class Partial(TypedDict):
    nodeid: str
    record: SampleRecord
    stage: str


class Ended(TypedDict):
    nodeid: str
    record: SampleRecord
    message: str


def path(scratch: str, worker_id: str, kind: str) -> str:
    """``kind``: ``stack``, ``hardstop``, ``partial`` or ``record`` (see the module docstring)."""
    return os.path.join(scratch, f"{worker_id}.{kind}")


def write_partial(scratch: str, worker_id: str, nodeid: str, rec: SampleRecord, stage: str) -> None:
    note: Partial = {"nodeid": nodeid, "record": rec, "stage": stage}
    files.overwrite(path(scratch, worker_id, "partial"), json.dumps(note).encode() + b"\n")  # twice a sample: in place


def write_ended(scratch: str, worker_id: str, nodeid: str, rec: SampleRecord, message: str) -> None:
    note: Ended = {"nodeid": nodeid, "record": rec, "message": message}
    files.write_atomic(path(scratch, worker_id, "record"), json.dumps(note).encode())


@dataclass
class Left:
    """What a dead worker left about the sample it was running."""

    hardstop: Optional[Dict[str, Any]]  # the watchdog's note: it ended the worker on a timeout
    stack: str
    shared: bool  # the worker wrote to this scratch folder (False: another host's)
    ended: Optional[Ended]
    partial: Optional[Partial]


def read(scratch: str, worker_id: str, nodeid: str, assume_shared: bool = False) -> Left:
    """The notes about ``nodeid`` (notes about an earlier sample of the same worker are ignored)."""
    hardstop = _json(path(scratch, worker_id, "hardstop"))
    if hardstop is not None and hardstop.get("nodeid") != nodeid:
        hardstop = None
    stack_path = path(scratch, worker_id, "stack")
    ended = _json(path(scratch, worker_id, "record"))
    partial = _json(path(scratch, worker_id, "partial"))
    return Left(
        hardstop=hardstop,
        stack=_text(stack_path),
        shared=assume_shared or os.path.exists(stack_path),
        ended=cast(Ended, ended) if ended is not None and ended.get("nodeid") == nodeid else None,
        partial=cast(Partial, partial) if partial is not None and partial.get("nodeid") == nodeid else None,
    )


@dataclass
class Outcome:
    """The sample's record to judge (``record``, shown with ``message``), or none: then the sample
    is ``crash`` or ``timeout`` (``status``) with ``message``."""

    record: Optional[SampleRecord]
    message: str
    status: Optional[Tuple[str, str]] = None


def conclude(left: Left, timeout: float, grace: float, worker: str) -> Outcome:
    if left.ended is not None:  # it ended itself after the sample, to take what it could not stop with it
        return Outcome(left.ended["record"], left.ended["message"])
    status, message = crash_status(left.hardstop, left.stack, timeout, grace, worker, left.shared)
    partial = left.partial
    if partial is not None and partial["stage"] == STAGE_FINAL:  # the calls were done; what they left behind hung
        record = partial["record"]
        add_error(record, f"then {status}: {message}")
        return Outcome(record, _shown(record))
    if partial is not None:  # during a diff call: keep what the solve call found
        record = partial["record"]
        record["error"] = f"{status} in a diff call: {message}; this sample's differ rows are lost"
        if status == "timeout":
            record["seconds"] += timeout + grace
        return Outcome(record, _shown(record))
    return Outcome(None, f"{status}: {message}", (status, message))


def _shown(record: SampleRecord) -> str:
    text = record["message"] if record["status"] == "unsolved" else ""
    return f"{text or ''}\n{record['error']}".strip()


def crash_status(hardstop: Optional[Dict[str, Any]], stack_text: str, timeout: float, grace: float, worker: str,
                 shared: bool = True) -> Tuple[str, str]:
    """A hard stop (the watchdog's note) or a crash, and a message naming the worker and the batt's frame."""
    if not shared:
        return "crash", (
            f"worker {worker} died while running this sample and was replaced; it does not share the "
            "controller's scratch directory (another host), so its faulthandler dump and the solve call's "
            "candidates are out of reach: a crash cannot be told from a hard-stopped timeout"
        )
    where = batt_frame(stack_text)
    if hardstop is not None and isinstance(hardstop.get("memory_mb"), (int, float)):  # the resident-memory limit
        doing = hardstop.get("doing") or "a batt call"
        return "error", (
            f"{doing} went past the memory limit: {hardstop['memory_mb']:g} MB resident, over --batt-max-memory "
            f"{hardstop.get('limit_mb', 0):g} MB (read by the watchdog: this system has no address-space limit); "
            f"worker {worker} was ended and replaced{where}"
        )
    if hardstop is not None:
        doing = hardstop.get("doing") or "a batt call"
        return "timeout", (
            f"{doing} ran past the {timeout:g} s timeout and did not stop (it swallowed the timeout, "
            f"held the GIL or blocked); worker {worker} was ended {grace:g} s later and replaced{where}"
        )
    fatal = re.search(r"Fatal Python error: ([^\n]+)", stack_text)
    cause = fatal.group(1).strip() if fatal else "the process exited (os._exit, a signal or the OOM killer)"
    return "crash", f"worker {worker} died while running this sample: {cause}; it was replaced{where}"


def batt_frame(stack_text: str) -> str:
    """The innermost frame of the thread that was running the batt, from a faulthandler dump."""
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", stack_text)
    ours = [b for b in blocks if _CALL_GUARD in b]
    current = [b for b in blocks if b.startswith("Current thread")]
    for block in ours + current:
        frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', block)
        if frames:
            f, line, func = frames[0]
            return f"; it was in {func} ({f}:{line})"
    return ""


def _json(file: str) -> Optional[Dict[str, Any]]:
    try:
        with open(file) as f:
            data = files.first_json(f.read())  # the partial note is rewritten in place: its first document
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _text(file: str) -> str:
    try:
        with open(file) as f:
            return f.read()
    except OSError:
        return ""
