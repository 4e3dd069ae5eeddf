"""What this system offers for isolating batt calls: each OS mechanism probed once per process.

pytest-batt's protections rest on mechanisms that differ between systems: an address-space
limit (``RLIMIT_AS``: enforced by Linux, refused or ignored by macOS), a per-sample reset of
the resident high-water mark (Linux's ``/proc/self/clear_refs``), a list of a process's
descendants (Linux's ``/proc``, psutil elsewhere), a subreaper that adopts orphaned
grandchildren (Linux's ``prctl``) and the process's start time (psutil). Each probe here tries
its mechanism for real, once per process (``functools.cache``; never per call), and says
whether it is on, how, and if not, why: a missing mechanism is then off, reported in one
header line and in the results file, and never blamed on a batt. Plain functions with their
dependencies as arguments, so the tests can fake a missing mechanism.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

# The address-space limit is checked with a mapping that reserves address space only
# (PROT_NONE, private: no memory is committed, overcommit does not count it) just past a
# trial limit. The trial limit is far above what any process maps, so the other threads of
# the process (xdist's) never feel it during the microseconds it is in place.
TRIAL_LIMITS = (2**43, 2**37)  # 8 TiB; 128 GiB where the address space is smaller (39-bit arm64)
PAGE = 2**16


@dataclass(frozen=True)
class Probe:
    """One mechanism: ``on``, ``how`` it works here (or the fallback in use), and ``why`` when off."""

    on: bool
    how: str
    why: str = ""


def _try_map(size: int) -> bool:
    """Whether ``size`` bytes of address space can be reserved now (nothing is committed)."""
    import mmap

    try:
        region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE, prot=0)
    except (OSError, ValueError, OverflowError):
        return False
    region.close()
    return True


def probe_address_space(resource: Any, try_map: Callable[[int], bool] = _try_map) -> Probe:
    """``RLIMIT_AS`` accepted (a finite soft limit set and read back) and enforced (a reservation
    past it refused, one that fits without it allowed). macOS refuses the limit with
    ``ValueError: current limit exceeds maximum limit``; where it is accepted but ignored, the
    reservation past it succeeds."""
    if resource is None or not hasattr(resource, "RLIMIT_AS"):
        return Probe(False, "RLIMIT_AS", "no address-space limit (RLIMIT_AS) on this system")
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError) as e:
        return Probe(False, "RLIMIT_AS", f"the address-space limit cannot be read ({type(e).__name__}: {e})")
    infinity = resource.RLIM_INFINITY
    for trial in TRIAL_LIMITS:
        if hard != infinity and trial > hard:
            trial = hard
        if soft != infinity and soft <= trial:  # a limit already in place: is it enforced?
            return _checked(resource, soft, hard, soft, try_map, already=True)
        if try_map(trial + PAGE):  # fits without a limit: a fair trial
            return _checked(resource, soft, hard, trial, try_map, already=False)
    return Probe(False, "RLIMIT_AS", "the address-space limit could not be checked (too little address space to try)")


def _checked(resource: Any, soft: int, hard: int, trial: int, try_map: Callable[[int], bool], already: bool) -> Probe:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (trial, hard))
    except (OSError, ValueError) as e:
        return Probe(False, "RLIMIT_AS", f"the address-space limit is refused on this system ({type(e).__name__}: {e})")
    try:
        read_back = resource.getrlimit(resource.RLIMIT_AS)[0]
        enforced = not try_map(trial + PAGE)
    finally:
        if not already:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    if read_back != trial:
        return Probe(False, "RLIMIT_AS", "the address-space limit is not kept on this system (set, it reads back otherwise)")
    if not enforced:
        return Probe(False, "RLIMIT_AS", "the address-space limit is not enforced on this system")
    return Probe(True, "RLIMIT_AS")


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:  # a core dependency; a broken install still runs, with these protections off
        return None
    return psutil


def _psutil_why(psutil: Any, what: str, e: Optional[BaseException]) -> str:
    if psutil is None:
        return f"{what}: psutil is not importable"
    return f"{what}: psutil cannot read processes here ({type(e).__name__})"


def probe_resident(psutil: Any) -> Probe:
    """Whether psutil reads a process's resident memory (the portable memory limit's reading)."""
    try:
        if psutil is not None and psutil.Process(os.getpid()).memory_info().rss > 0:
            return Probe(True, "psutil")
        error: Optional[BaseException] = None
    except Exception as e:  # psutil.Error; without /proc on Linux, NoSuchProcess
        error = e
    return Probe(False, "psutil", _psutil_why(psutil, "no resident-memory reading", error))


def probe_sample_peak(proc: str = "/proc", getrusage: Optional[Callable[[], Optional[int]]] = None) -> Probe:
    """On: the resident high-water mark can be reset per sample (``clear_refs`` + ``VmHWM``).
    Off: ``how`` is the fallback, the process's peak so far (``ru_maxrss``), or ``none``."""
    try:
        with open(os.path.join(proc, "self", "status")) as f:
            has_hwm = any(line.startswith("VmHWM:") for line in f)
        if has_hwm:
            with open(os.path.join(proc, "self", "clear_refs"), "w") as f:
                f.write("5")
            return Probe(True, "clear_refs+VmHWM")
        why = "no VmHWM in /proc/self/status"
    except OSError:
        why = f"no {proc}/self/clear_refs"
    read = getrusage if getrusage is not None else _ru_maxrss
    if read() is not None:
        return Probe(False, "ru_maxrss", why + "; memory_mb is the process's peak so far")
    return Probe(False, "none", why + ", no getrusage; memory_mb is null")


def _ru_maxrss() -> Optional[int]:
    try:
        import resource
    except ImportError:
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def probe_process_tree(proc: str = "/proc", psutil: Any = None) -> Probe:
    """How a process's descendants are listed: Linux's ``/proc/PID/task/TID/children`` (read in
    microseconds; psutil scans every process on the host for it, about 1 ms per 100), else psutil."""
    try:
        os.listdir(os.path.join(proc, str(os.getpid()), "task"))
        task = os.path.join(proc, str(os.getpid()), "task", str(_thread_id()), "children")
        with open(task):
            return Probe(True, "/proc")
    except (OSError, ValueError):
        pass
    error: Optional[BaseException] = None
    try:
        if psutil is not None:
            psutil.Process(os.getpid()).children(recursive=True)
            return Probe(True, "psutil")
    except Exception as e:
        error = e
    return Probe(False, "forks", _psutil_why(psutil, "no process list", error))


def _thread_id() -> int:
    import threading

    return threading.get_native_id()


def probe_subreaper(platform: str = sys.platform) -> Probe:
    """Whether this process can adopt orphaned descendants (Linux's ``PR_SET_CHILD_SUBREAPER``):
    asked with ``PR_GET_CHILD_SUBREAPER``, which changes nothing."""
    if not platform.startswith("linux"):
        return Probe(False, "prctl", "no subreaper on this system")
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        value = ctypes.c_int(0)
        if libc.prctl(37, ctypes.byref(value), 0, 0, 0) == 0:  # PR_GET_CHILD_SUBREAPER
            return Probe(True, "prctl")
    except (OSError, AttributeError):
        pass
    return Probe(False, "prctl", "prctl refused PR_GET_CHILD_SUBREAPER")


def proc_age(stat_path: str = "/proc/self/stat") -> Optional[float]:
    """This process's age from the kernel's own clock (Linux), or None.

    psutil's start time adds the boot time, which /proc/stat gives in whole seconds: up to a
    second too old. The start time in clock ticks since boot against CLOCK_BOOTTIME is not."""
    try:
        with open(stat_path, "rb") as f:
            fields = f.read(4096).rsplit(b")", 1)[1].split()  # after the command name, which may hold anything
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc, no CLOCK_BOOTTIME (macOS)
        return None


def probe_start_time(psutil: Any, stat_path: str = "/proc/self/stat") -> Probe:
    """Whether this process's start time can be read (``process_s`` covers the whole process)."""
    if proc_age(stat_path) is not None:
        return Probe(True, "/proc")
    error: Optional[BaseException] = None
    try:
        if psutil is not None and psutil.Process(os.getpid()).create_time() > 0:
            return Probe(True, "psutil")
    except Exception as e:
        error = e
    return Probe(False, "psutil", _psutil_why(psutil, "no process start time", error))


# --- this process's answers, asked once ---------------------------------------------------------------

def _resource_module() -> Any:
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource


@functools.cache
def address_space() -> Probe:
    return probe_address_space(_resource_module())


@functools.cache
def resident() -> Probe:
    return probe_resident(_psutil())


@functools.cache
def sample_peak() -> Probe:
    return probe_sample_peak()


@functools.cache
def process_tree() -> Probe:
    return probe_process_tree(psutil=_psutil())


@functools.cache
def subreaper() -> Probe:
    return probe_subreaper()


@functools.cache
def start_time() -> Probe:
    return probe_start_time(_psutil())


def unsupported_system(os_name: str = os.name) -> Optional[str]:
    """The one line for a system pytest-batt cannot run batts on, else None."""
    if os_name == "nt":
        return ("pytest-batt runs batts on Linux and macOS only: native Windows has none of the POSIX signals "
                "its time limits and hard stop rest on (SIGALRM, SIGKILL); run it under WSL")
    return None


# --- what the run reports: the header line and the results file's record ------------------------------

def protections(memory_limit: str, memory_limit_mb: Optional[float], peak: Probe, tree: Probe, reaper: Probe,
                started: Probe) -> Dict[str, Any]:
    """The results file's ``config.protections``: which protections this run had, and how."""
    return {
        "memory_limit": memory_limit,  # "address_space", "resident" or "off"
        "memory_limit_mb": memory_limit_mb,
        "memory_peak": "sample" if peak.on else ("process" if peak.how == "ru_maxrss" else "off"),
        "leftover_processes": tree.how if tree.on else "forks",  # "/proc", "psutil" or "forks" (Python forks only)
        "subreaper": reaper.on,
        "start_time": started.on,
    }


def header_line(memory_limit: str, memory_why: str, peak: Probe, tree: Probe, reaper: Probe, started: Probe) -> Optional[str]:
    """One line naming what is off or works otherwise on this system; None where all is on."""
    parts = []
    if memory_limit != "address_space" and memory_why:
        parts.append(f"memory limit: {memory_why}")
    if not peak.on:
        parts.append(f"memory peak: per process, not per sample ({peak.why})")
    if not tree.on:
        parts.append(f"leftover processes: Python forks only ({tree.why})")
    if not reaper.on:
        parts.append(f"orphaned grandchildren: Python forks only ({reaper.why})")
    if not started.on:
        parts.append(f"run time: from plugin load ({started.why})")
    return "batt: " + "; ".join(parts) if parts else None


def run_header_line(memory_kind: str, memory_why: str) -> Optional[str]:
    """:func:`header_line` for this process's system."""
    return header_line(memory_kind, memory_why, sample_peak(), process_tree(), subreaper(), start_time())


def run_protections(memory_kind: str, memory_mb: Optional[float]) -> Dict[str, Any]:
    """:func:`protections` for this process's system."""
    return protections(memory_kind, memory_mb, sample_peak(), process_tree(), subreaper(), start_time())
