"""Writing files: atomically (readers see the old file or the whole new one, never half of it),
and a note rewritten in place many times a second (a worker's record so far); whether a path
given for a file can become one, checked before the work that would write it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import BinaryIO, Dict, Iterator, Tuple


@contextlib.contextmanager
def atomic_open(path: str, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file beside ``path`` that replaces ``path`` only once it is whole (results, reports)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".batt-", suffix=suffix, dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it private; what pytest-batt writes is not
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_atomic(path: str, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


# Files kept open by overwrite(), by path: (fd, device, inode). A dict filled in place.
_OPEN: Dict[str, Tuple[int, int, int]] = {}


def overwrite(path: str, data: bytes) -> None:
    """Put ``data`` at the start of ``path`` and cut the file there, through a descriptor kept open.

    For a note written twice a sample: creating and renaming a file cost 1-3 ms here, a write
    into an open one ~5 us. Not atomic: a process ended between the write and the cut leaves
    the new data followed by the tail of a longer old one, so write one JSON document and read
    the first (``first_json``). A descriptor that no longer leads to the file (a batt closed it,
    or got its number for a file of its own) is not written through: the file is opened again.
    """
    kept = _OPEN.get(path)
    if kept is not None:
        fd, dev, ino = kept
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (dev, ino):
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
                return
        except OSError:
            pass
        _OPEN.pop(path, None)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    st = os.fstat(fd)
    _OPEN[path] = (fd, st.st_dev, st.st_ino)
    os.write(fd, data)


def first_json(text: str) -> object:
    """The first JSON value of ``text`` (what ``overwrite`` left); ValueError when there is none."""
    return json.JSONDecoder().raw_decode(text.lstrip())[0]


def check_writable(path: str, option: str) -> None:
    """Fail before running, not after an hour of work, when the results cannot be written."""
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a directory, give a file path")
    if os.path.exists(path) and not os.path.isfile(path):
        # Replacing it would turn a device or a FIFO into a plain file (as root: /dev/full).
        raise ValueError(f"{option} {path}: not a regular file (a device, FIFO or socket), give a file path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"{option} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {path}: not writable")
