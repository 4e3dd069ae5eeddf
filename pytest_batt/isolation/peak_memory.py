"""The peak resident memory of one sample: reset the process's high-water mark before, read it after.

Linux keeps a process's peak resident set (``VmHWM`` in ``/proc/self/status``) and resets it
to the current resident set when ``5`` is written to ``/proc/self/clear_refs`` (kernel 4.0+).
So a sample's ``memory_mb`` is the largest the process was *during that sample*: the
interpreter, pytest and the batt's module are in it (a floor of some tens of MB), what a
previous sample allocated and freed is not. Where the reset is impossible (not Linux, no
``/proc``, a kernel without it) the value is the process's peak *so far* (``ru_maxrss``),
which only grows from sample to sample: :meth:`SampleMemory.stop` says which it is. psutil has
no peak on Linux or macOS, so ``getrusage`` stays the fallback. Own module because
it is process-wide state and Linux-specific, like the address-space cap beside it.
"""

from __future__ import annotations

import sys
from typing import Optional, Tuple

from . import capabilities

SAMPLE = "sample"  # the peak during the sample alone
PROCESS = "process"  # the process's peak so far: the reset is not possible here


def reset() -> bool:
    """Make the current resident set the new high-water mark; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _vm_hwm_kb() -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ru_maxrss_kb() -> Optional[int]:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def peak_mb() -> Optional[float]:
    """The process's resident high-water mark in MB (since the last :func:`reset`, where it worked)."""
    kb = _vm_hwm_kb() if capabilities.sample_peak().on else None
    if kb is None:
        kb = _ru_maxrss_kb()
    return None if kb is None else round(kb / 1024, 1)


class SampleMemory:
    """Around one sample: ``start()`` before its first call, ``stop()`` after its last."""

    def __init__(self) -> None:
        self.scope = PROCESS

    def start(self) -> None:
        # whether the reset works here is asked once per process (capabilities), never per sample
        self.scope = SAMPLE if capabilities.sample_peak().on and reset() else PROCESS

    def stop(self) -> Tuple[Optional[float], str]:
        """The peak in MB (None where nothing can be read) and what it covers (SAMPLE or PROCESS)."""
        return peak_mb(), self.scope


def physical_mb() -> Optional[float]:
    """This host's physical memory in MB (None where it cannot be read)."""
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return None
