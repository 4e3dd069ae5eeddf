"""The memory limit of a batt call: an address-space cap, so a runaway batt gets MemoryError.

Its own module because it is process-wide state with a set and a restore that must pair up
(the guard sets it before each call and puts the old limit back after), and because it is
POSIX only: ``resource`` is imported only when a limit is asked for.
"""

from __future__ import annotations

from typing import Tuple


def set_limit(megabytes: float) -> Tuple[int, int]:
    """Cap the address space, so a runaway batt gets MemoryError, not the OOM killer; returns the old limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(megabytes * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return soft, hard


def restore(old: Tuple[int, int]) -> None:
    """Put back the limit :func:`set_limit` returned."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, old)
