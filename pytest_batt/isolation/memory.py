"""The memory limit of a batt call: an address-space cap, so a runaway batt gets MemoryError.

Its own module because it is process-wide state with a set and a restore that must pair up
(the guard sets it before each call and puts the old limit back after), and because it is
POSIX only: ``resource`` is imported only when a limit is asked for.

Without ``--batt-max-memory`` the limit is :func:`default_limit`: a share of the host's
physical memory per worker, so that one runaway call fails its own sample ("memory limit")
before the machine swaps or the OOM killer picks a process (perhaps the controller).
"""

from __future__ import annotations

from typing import Optional, Tuple

DEFAULT_SHARE = 0.8  # of physical memory, split between the workers of the host
DEFAULT_FLOOR_MB = 1024.0  # the address space of a worker with numpy loaded is already a few hundred MB


def default_limit(workers: int, physical_mb: Optional[float]) -> Optional[float]:
    """The address-space cap of one call when the user set none: 80% of physical memory over
    the workers (at least 1 GB), or None where the physical memory is unknown."""
    if not physical_mb:
        return None
    return round(max(DEFAULT_FLOOR_MB, DEFAULT_SHARE * physical_mb / max(1, workers)))


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
