"""A fake ``pynvml`` (nvidia-ml-py's module) for machines without a GPU, and the batts that use it.

:func:`install` writes ``pynvml.py`` into a folder that goes first on ``sys.path`` / ``PYTHONPATH``.
Its devices come from ``$FAKE_NVML/devices.json``; the GPU memory a process holds is what the
batt wrote to ``$FAKE_NVML/procs/<pid>`` (``"<device> <bytes>"``, the device as the process's
``CUDA_VISIBLE_DEVICES`` names it), so a test batt "allocates" VRAM by writing a number. Each
call is counted in ``$FAKE_NVML/calls/<pid>`` lines, so a test can see which process asked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

MB = 2**20

FAKE_PYNVML = r'''
import json, os

NVML_DEVICE_MIG_ENABLE = 1
_ROOT = os.environ.get("FAKE_NVML", "")


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


def _config():
    with open(os.path.join(_ROOT, "devices.json")) as f:
        return json.load(f)


def _note(name):
    if not _ROOT:
        return
    os.makedirs(os.path.join(_ROOT, "calls"), exist_ok=True)
    with open(os.path.join(_ROOT, "calls", str(os.getpid())), "a") as f:
        f.write(name + "\n")


def nvmlInit():
    _note("nvmlInit")
    if not _ROOT or _config().get("broken"):
        raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")


def nvmlShutdown():
    _note("nvmlShutdown")


def nvmlDeviceGetCount():
    return len(_config()["devices"])


def nvmlDeviceGetHandleByIndex(i):
    if not 0 <= i < nvmlDeviceGetCount():
        raise NVMLError("Invalid Argument")
    return ("gpu", i)


def nvmlDeviceGetHandleByUUID(uuid):
    for i, d in enumerate(_config()["devices"]):
        if d["uuid"] == uuid:
            return ("gpu", i)
    raise NVMLError("Not Found")


def _device(handle):
    return _config()["devices"][handle[1]]


def nvmlDeviceGetName(handle):
    return _device(handle).get("name", "Fake GPU")


def nvmlDeviceGetUUID(handle):
    if handle[0] == "mig":
        return _device(handle)["migs"][handle[2]]
    return _device(handle)["uuid"]


def nvmlDeviceGetMigMode(handle):
    return [1 if _device(handle).get("migs") else 0, 0]


def nvmlDeviceGetMaxMigDeviceCount(handle):
    return len(_device(handle).get("migs", [])) + 1  # one empty slot


def nvmlDeviceGetMigDeviceHandleByIndex(handle, j):
    if j >= len(_device(handle).get("migs", [])):
        raise NVMLError("Not Found")
    return ("mig", handle[1], j)


class _Proc:
    def __init__(self, pid, used):
        self.pid, self.usedGpuMemory = pid, used


def _held(handle):
    """(pid, bytes) of the processes holding memory on this device."""
    d = _device(handle)
    names = {str(handle[1]), d["uuid"]}
    out = []
    folder = os.path.join(_ROOT, "procs")
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        try:
            with open(os.path.join(folder, name)) as f:
                device, used = f.read().split()
        except (OSError, ValueError):
            continue
        if device in names:
            out.append((int(name), int(used)))
    return out


def nvmlDeviceGetComputeRunningProcesses(handle):
    _note("procs")
    return [_Proc(pid, used) for pid, used in _held(handle)]


class _Memory:
    def __init__(self, total, used):
        self.total, self.used, self.free = total, used, total - used


def nvmlDeviceGetMemoryInfo(handle):
    _note("memory")
    d = _device(handle)
    return _Memory(d.get("total", 24 << 30), d.get("base", 0) + sum(used for _, used in _held(handle)))
'''

# A batt that reports CUDA_VISIBLE_DEVICES at import and at each call ($GPU_REPORT/<pid>.import and
# <pid>.call, one line each). Where the fake NVML is in use it holds VRAM ($FAKE_NVML/procs/<pid>)
# while its solve call runs: PEAK MB for a moment, then HELD MB until the next sample. With
# GPU_CRASH_ON=<device>, the first worker that sees that device ends itself at its first solve call
# (once: a marker file), so that xdist replaces it.
GPU_BATT = r'''
import os, time
REPORT = os.environ["GPU_REPORT"]
with open(os.path.join(REPORT, f"{os.getpid()}.import"), "w") as f:
    f.write(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>") + "\n" + repr(time.time()))


def _hold(mb):
    root = os.environ["FAKE_NVML"]
    os.makedirs(os.path.join(root, "procs"), exist_ok=True)
    device = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
    with open(os.path.join(root, "procs", str(os.getpid())), "w") as f:
        f.write(f"{device} {int(mb * 2**20)}")


def batt(task_id, S, I, C, log_path):
    seen = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
    with open(os.path.join(REPORT, f"{os.getpid()}.call"), "a") as f:
        f.write(seen + "\n")
    import resource
    with open(os.path.join(REPORT, f"{os.getpid()}.limit"), "w") as f:
        f.write(str(resource.getrlimit(resource.RLIMIT_AS)[0]))  # the address-space cap of the call
    crash = os.environ.get("GPU_CRASH_ON")
    if C is None and crash == seen and not os.path.exists(os.path.join(REPORT, "crashed")):
        with open(os.path.join(REPORT, "crashed"), "w") as f:
            f.write(str(os.getpid()))
        os._exit(3)
    if C is None and os.environ.get("FAKE_NVML"):
        _hold(PEAK)
        time.sleep(0.25)  # the sampler (every 0.05 s) sees the peak
        _hold(HELD)
    return [(1, 0, "identity", I)], []
'''


def gpu_batt(peak_mb: int = 300, held_mb: int = 100) -> str:
    return GPU_BATT.replace("PEAK)", f"{peak_mb})").replace("HELD)", f"{held_mb})")


def install(folder: Path, devices: List[Dict[str, Any]], broken: bool = False) -> Path:
    """The fake module in ``folder/nvml`` and its state in ``folder/state``; returns the module's folder."""
    (folder / "nvml").mkdir(parents=True, exist_ok=True)
    (folder / "nvml" / "pynvml.py").write_text(FAKE_PYNVML)
    (folder / "state").mkdir(exist_ok=True)
    (folder / "state" / "devices.json").write_text(json.dumps({"devices": devices, "broken": broken}))
    return folder / "nvml"


def calls(state: Path) -> Dict[int, List[str]]:
    """The NVML functions each process called, by pid."""
    folder = state / "calls"
    return {int(p.name): p.read_text().split() for p in folder.iterdir()} if folder.is_dir() else {}


def env(folder: Path) -> Dict[str, str]:
    """The environment that makes a process import the fake (FAKE_NVML and PYTHONPATH)."""
    path = [str(folder / "nvml")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"FAKE_NVML": str(folder / "state"), "PYTHONPATH": os.pathsep.join(path)}


def reports(folder: Path, callers_only: bool = True) -> Dict[int, Dict[str, Any]]:
    """What each process of the GPU batt saw, by pid: ``import`` (its CUDA_VISIBLE_DEVICES), ``at`` (when), ``calls``,
    ``limit`` (the address-space cap of its last call, -1 for none);
    only the processes that called it, unless ``callers_only`` is false (the controller imports it too, to check it)."""
    out: Dict[int, Dict[str, Any]] = {}
    for p in folder.glob("*.import"):
        seen, at = p.read_text().split("\n")
        calls_file = folder / f"{p.stem}.call"
        limit_file = folder / f"{p.stem}.limit"
        out[int(p.stem)] = {"import": seen, "at": float(at),
                            "calls": calls_file.read_text().split() if calls_file.exists() else [],
                            "limit": int(limit_file.read_text()) if limit_file.exists() else None}
    return {pid: seen for pid, seen in out.items() if seen["calls"] or not callers_only}
