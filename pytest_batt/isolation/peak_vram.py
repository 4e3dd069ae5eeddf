"""A sample's GPU memory through NVML: what its process holds at the sample's end, and a peak sampled while it runs.

Only where nvidia-ml-py (``pynvml``, the extra ``pytest-batt[gpu]``) imports and NVML starts;
elsewhere the fields are ``null`` and nothing else changes. GPU memory has no high-water mark
to reset (unlike the resident set, :mod:`.peak_memory`), so a daemon thread, started once per
process, reads it every :data:`INTERVAL` seconds while a sample runs and waits on an event
between samples (it costs nothing then); a spike shorter than the interval can be missed.

What is read (the record's ``vram_scope``):

- ``process``: the memory NVML lists for this process's id, summed over every device (so no
  device numbering has to agree with CUDA's). Exact, also when several workers share a
  device; 0 while the process has no CUDA context. Used where NVML's process ids are this
  process's own: in the host's PID namespace.
- ``device``: the used memory of the worker's one device (its ``CUDA_VISIBLE_DEVICES``), which
  includes the driver's reservation and any other process on that device. Used inside a
  container (Kaggle's notebooks are one), where NVML lists the host's process ids, which
  cannot be matched to this process; exact only for a worker alone on its device, which is
  what ``--batt-gpus`` gives when there are as many devices as workers. With no single device
  to read, nothing is recorded.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

PROCESS, DEVICE = "process", "device"
INTERVAL = 0.05  # seconds between two readings while a sample runs
_INIT_PID_NS_INODE = 0xEFFFFFFC  # Linux's PROC_PID_INIT_INO: the inode of the host's (initial) PID namespace


def host_pid_namespace() -> bool:
    """Whether this process is in the host's PID namespace (not a container's): NVML's process ids are then ours."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino == _INIT_PID_NS_INODE
    except OSError:
        return False


def _mb(n_bytes: Any) -> float:
    return round(int(n_bytes) / 2**20, 1)


def device_handle(nvml: Any, entry: str) -> Any:
    """NVML's handle of one ``CUDA_VISIBLE_DEVICES`` entry: a UUID by UUID; an index by NVML's index (PCI
    bus order, CUDA's own order unless CUDA_DEVICE_ORDER=PCI_BUS_ID or the devices are alike)."""
    if entry.isdigit():
        return nvml.nvmlDeviceGetHandleByIndex(int(entry))
    try:
        return nvml.nvmlDeviceGetHandleByUUID(entry)
    except TypeError:  # older bindings take bytes
        return nvml.nvmlDeviceGetHandleByUUID(entry.encode())


class Reader:
    """One reading of this process's GPU memory in MB (None: nothing could be read), in its ``scope``."""

    def __init__(self, nvml: Any, scope: str, handles: List[Any], pid: int) -> None:
        self.nvml, self.scope, self.handles, self.pid = nvml, scope, handles, pid

    def __call__(self) -> Optional[float]:
        if self.scope == DEVICE:
            return _mb(self.nvml.nvmlDeviceGetMemoryInfo(self.handles[0]).used)
        total = 0
        for handle in self.handles:
            for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                used = getattr(proc, "usedGpuMemory", None)  # None: not available (some drivers, MIG)
                if proc.pid == self.pid and used is not None:
                    total += int(used)
        return _mb(total)


def open_reader(nvml: Any, visible_devices: Optional[str], host_pids: bool, pid: int) -> Tuple[Optional[Reader], str]:
    """The reading this process can make (NVML started), or None and why not."""
    from ..gpus import visible

    if host_pids:
        return Reader(nvml, PROCESS, [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(int(nvml.nvmlDeviceGetCount()))], pid), ""
    mine = visible(visible_devices)
    if not mine or len(mine) != 1:
        seen = "unset" if visible_devices is None else repr(visible_devices)
        return None, (f"in a container NVML lists the host's process ids, so a worker's memory is read as its one device's, "
                      f"and CUDA_VISIBLE_DEVICES is {seen} (--batt-gpus gives each worker one)")
    return Reader(nvml, DEVICE, [device_handle(nvml, mine[0])], pid), ""


class VramMeter:
    """Around one sample, like :class:`.peak_memory.SampleMemory`: ``start()`` before its first call, ``stop()`` after its last.

    The polling thread is started here, once per process: before any sample, so it is not taken
    for a thread the batt left running."""

    def __init__(self, read: Callable[[], Optional[float]], scope: str, interval: float = INTERVAL) -> None:
        self.scope = scope
        self._read = read
        self._interval = interval
        self._lock = threading.Lock()
        self._on = threading.Event()
        self._generation = 0
        self._peak: Optional[float] = None
        threading.Thread(target=self._loop, name="pytest-batt-vram", daemon=True).start()

    def _reading(self) -> Optional[float]:
        try:
            return self._read()
        except Exception:  # NVMLError, MemoryError under the call's address-space cap: this reading is lost, not the sample
            return None

    def _note(self, mb: Optional[float], generation: int) -> None:
        with self._lock:
            if mb is not None and generation == self._generation and self._on.is_set():
                self._peak = mb if self._peak is None else max(self._peak, mb)

    def _loop(self) -> None:
        while True:
            self._on.wait()
            generation = self._generation
            self._note(self._reading(), generation)
            time.sleep(self._interval)

    def start(self) -> None:
        with self._lock:
            self._generation += 1
            self._peak = None
            self._on.set()
        self._note(self._reading(), self._generation)

    def stop(self) -> Tuple[Optional[float], Optional[float], Optional[str]]:
        """What the process holds now, the peak seen since :meth:`start` (both MB, None when unread), and the
        scope (None when nothing could be read)."""
        held = self._reading()
        self._note(held, self._generation)
        with self._lock:
            self._on.clear()
            self._generation += 1
            peak = self._peak
        return held, peak, (self.scope if held is not None or peak is not None else None)


def _import_pynvml() -> Any:
    import pynvml

    return pynvml


def open_meter(import_nvml: Callable[[], Any] = _import_pynvml, visible_devices: Optional[str] = None,
               host_pids: Optional[bool] = None, interval: float = INTERVAL) -> Tuple[Optional[VramMeter], str]:
    """This process's meter, or None and why not (no nvidia-ml-py, NVML does not start, no device to read)."""
    try:
        nvml = import_nvml()
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install 'pytest-batt[gpu]')"
    try:
        nvml.nvmlInit()  # for the process's life: NVML counts its inits, and this one is never undone
        reader, why = open_reader(nvml, visible_devices, host_pid_namespace() if host_pids is None else host_pids, os.getpid())
    except Exception as e:  # NVMLError_LibraryNotFound / _DriverNotLoaded where there is no GPU driver
        return None, f"NVML did not start ({str(e) or type(e).__name__})"
    if reader is None:
        return None, why
    return VramMeter(reader, reader.scope, interval), ""


def header_line(asked: bool, one_device: bool, import_nvml: Callable[[], Any] = _import_pynvml,
                host_pids: Optional[bool] = None) -> Optional[str]:
    """What the run's header says of VRAM: how it is read where NVML starts (``one_device``: whether each process
    that runs samples sees exactly one device); why not where it does not and the run uses GPUs (``asked``:
    --batt-gpus is not none); nothing for a run that has neither."""
    import importlib.util

    if import_nvml is _import_pynvml and importlib.util.find_spec("pynvml") is None:
        return "batt: VRAM per sample: not measured (nvidia-ml-py is not installed: pip install 'pytest-batt[gpu]')" if asked else None
    try:
        nvml = import_nvml()
        nvml.nvmlInit()
        nvml.nvmlShutdown()
    except Exception as e:
        why = "nvidia-ml-py is not installed" if isinstance(e, ImportError) else f"NVML did not start: {str(e) or type(e).__name__}"
        return f"batt: VRAM per sample: not measured ({why})" if asked else None
    if host_pid_namespace() if host_pids is None else host_pids:
        return f"batt: VRAM per sample: NVML, the memory of each sample's process (sampled every {INTERVAL:g} s)"
    if not one_device:
        return ("batt: VRAM per sample: not measured (in a container NVML lists the host's process ids, so a worker's VRAM "
                "is read as its device's used memory, and a worker here sees more than one device: --batt-gpus gives each one)")
    return (f"batt: VRAM per sample: NVML, the used memory of each worker's one device (sampled every {INTERVAL:g} s; "
            "in a container NVML lists the host's process ids, not this one's)")
