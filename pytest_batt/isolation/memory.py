"""The memory limit of a batt call: an address-space cap, so a runaway batt gets MemoryError,
or, where the system enforces none (macOS), a resident-memory limit kept by the watchdog.

Its own module because it is process-wide state with a set and a restore that must pair up
(the guard sets it before each call and puts the old limit back after), and because it is
POSIX only: ``resource`` is imported only when a limit is asked for. :func:`plan` decides,
once per process, which kind of limit a run gets from what the system offers
(:mod:`.capabilities`).

Without ``--batt-max-memory`` the limit is :func:`default_limit`: a share of the host's
physical memory per worker, so that one runaway call fails its own sample ("memory limit")
before the machine swaps or the OOM killer picks a process (perhaps the controller).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

ADDRESS_SPACE = "address_space"  # RLIMIT_AS, set around each call: the call gets MemoryError
RESIDENT = "resident"  # the watchdog reads the worker's resident memory every TICK_S and ends it past the limit
OFF = "off"
TICK_S = 0.05  # how often the watchdog reads the resident memory (watchdog_process.TICK)

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


@dataclass(frozen=True)
class Plan:
    """The run's memory limit: its ``kind`` (ADDRESS_SPACE, RESIDENT or OFF), ``megabytes``, and
    ``why`` it is of that kind, for the header (empty where nothing needs saying)."""

    kind: str
    megabytes: Optional[float] = None
    why: str = ""


class LimitUnavailable(ValueError):
    """``--batt-max-memory N`` asked for where no limit can be kept: a usage error."""


def plan(chosen: Optional[float], default_mb: Optional[float], address_space: bool, address_space_why: str,
         resident: bool, resident_why: str, watchdog: bool) -> Plan:
    """Which memory limit a run gets. ``chosen``: ``--batt-max-memory`` (None: the default, 0: off).

    The address-space limit where the system enforces it; else the resident-memory limit that
    each worker's watchdog keeps (it needs workers and a resident-memory reading); else off for
    the default (it must never fail a sample), and a usage error for a limit asked for.
    """
    if chosen == 0:
        return Plan(OFF)
    megabytes = chosen if chosen is not None else default_mb
    if megabytes is None:
        return Plan(OFF, None, "off (the physical memory of this host is unknown, so there is no default)")
    if address_space:
        return Plan(ADDRESS_SPACE, megabytes)
    if resident and watchdog:
        return Plan(RESIDENT, megabytes, f"{megabytes:g} MB resident, read every {TICK_S * 1000:g} ms by each worker's "
                                         f"watchdog ({address_space_why})")
    missing = resident_why if not resident else "-n 0 has no watchdog to read the resident memory"
    if chosen is not None:
        fix = "use -n 1 or more, or --batt-max-memory 0" if resident else "use --batt-max-memory 0"
        raise LimitUnavailable(f"--batt-max-memory {chosen:g}: no memory limit can be kept here ({address_space_why}; "
                               f"{missing}): {fix}")
    return Plan(OFF, None, f"off ({address_space_why}; {missing})")
