"""The running slot: which sample, batt call and program this process is running, in a small shared file.

One page, mapped into memory (``mmap``) by the process that runs the samples (a worker, or the
``-n 0`` session) and written in place: a program's start is one ``struct.pack_into`` of its
index and deadlines plus a copy of its pre-encoded solver id, its end one more pack (well under
a microsecond together), no system call. Three readers use it: the watchdog process (a program
past its hard deadline ends the worker), the in-process backstop (:mod:`.backstop`), and the
controller after a worker died or the post-mortem after a ``-n 0`` session died: the slot then
names the program that was running. The file outlives the process that wrote it.

The layout is defined beside its stdlib-only reader, in :mod:`.watchdog_process`.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from typing import Optional

from . import watchdog_process as layout
from .watchdog_process import Running

__all__ = ["Running", "Slot", "encode_text", "read"]


def encode_text(text: str) -> bytes:
    """A text field's bytes as written: its length, then its UTF-8 (cut at a character boundary to
    fit); only these are written, what follows them in the field is never read."""
    raw = text.encode("utf-8", "replace")
    if len(raw) > layout.TEXT:
        raw = raw[: layout.TEXT].decode("utf-8", "ignore").encode()
    return _LENGTH.pack(len(raw)) + raw


_LENGTH = struct.Struct("=I")


class Slot:
    """The writer's side. Every method writes a few bytes in place; none raises once the file is mapped."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, layout.SLOT_SIZE)
            self.map = mmap.mmap(fd, layout.SLOT_SIZE)
        finally:
            os.close(fd)  # the mapping keeps the file
        # Bound once: the per-program writes are the hot path.
        self._pack_program = layout.PROGRAM.pack_into
        self._at_program, self._at_text = layout.AT_PROGRAM, layout.AT_PROGRAM_TEXT
        layout.HEADER.pack_into(self.map, layout.AT_HEADER, layout.SLOT_MAGIC, layout.LAYOUT, os.getpid())
        self.no_program()
        self.no_call()
        self.sample_done()

    def sample(self, nodeid: str, task: str, kind: str, index: int) -> None:
        text = encode_text(json.dumps([nodeid, task, kind, index]))
        self.map[layout.AT_SAMPLE:layout.AT_SAMPLE + len(text)] = text

    def sample_done(self) -> None:
        layout.SAMPLE_TEXT.pack_into(self.map, layout.AT_SAMPLE, 0, b"")

    def call(self, soft: float, hard: float, doing: bytes = b"") -> None:
        """``doing``: what the deadline covers, as :func:`encode_text` made it (read by a worker's watchdog)."""
        if doing:
            self.map[layout.AT_DOING:layout.AT_DOING + len(doing)] = doing
        layout.CALL.pack_into(self.map, layout.AT_CALL, soft, hard)

    def no_call(self) -> None:
        layout.CALL.pack_into(self.map, layout.AT_CALL, 0.0, 0.0)

    def program(self, index: int, soft: float, hard: float, text: bytes) -> None:
        """``text``: the program's solver id as :func:`encode_text` made it (once, at load)."""
        at = self._at_text
        self.map[at:at + len(text)] = text
        self._pack_program(self.map, self._at_program, index, soft, hard)

    def no_program(self) -> None:
        self._pack_program(self.map, self._at_program, -1, 0.0, 0.0)

    def read(self) -> Optional[Running]:
        return layout.read_slot(self.map)


def read(path: str) -> Optional[Running]:
    """What a slot file says (the process that wrote it may be dead); None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return layout.read_slot(f.read(layout.SLOT_SIZE))
    except OSError:
        return None
