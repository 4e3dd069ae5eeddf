"""``--batt-gpus``: which GPU each xdist worker sees, as plain functions (no pytest here).

A worker is given one device by setting ``CUDA_VISIBLE_DEVICES`` in its process; CuPy and
torch read that variable once, when CUDA starts, so it must hold before the batt is imported
(the plugin puts it in the worker's xdist spec, :mod:`pytest_batt.workerspecs`). Devices are
*named*, never counted: a LIST holds ids as ``CUDA_VISIBLE_DEVICES`` takes them (an index, a
``GPU-<uuid>``, a ``MIG-<uuid>``), passed through as they are; ``auto`` takes the caller's own
``CUDA_VISIBLE_DEVICES`` list when it is set (so never a device outside it: indexing the
physical devices instead is the classic bug, triton-lang/triton#11831), else the devices the
driver reports, by UUID (NVML and ``nvidia-smi`` number devices in PCI bus order, CUDA by
default fastest first: an index found by one can name another device in the other; a UUID
names the same one in both), else nothing, and the option is then off without an error.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

VARIABLE = "CUDA_VISIBLE_DEVICES"
AUTO, NONE = "auto", "none"
SMI_TIMEOUT = 10.0  # seconds nvidia-smi may take: a wedged driver can make it hang

# What CUDA takes as one entry: an index, a GPU UUID (or a prefix of one), a MIG instance's id
# (``MIG-<uuid>``, or the older ``MIG-GPU-<uuid>/<gi>/<ci>``). Never ``//`` (xdist's spec separator)
# nor ``,`` (the list separator); bounded, since it travels in a process's environment.
_DEVICE = re.compile(r"^(?:\d{1,4}|GPU-[0-9A-Fa-f-]{1,80}|MIG-[0-9A-Za-z-]{1,80}(?:/\d{1,4}/\d{1,4})?)$")
DEVICE_FORMS = "an index such as 0, a GPU-<uuid> or a MIG-<uuid>"


def is_device(entry: str) -> bool:
    return bool(_DEVICE.match(entry))


def parse_choice(value: str) -> str:
    """``auto``, ``none`` or a comma-separated LIST of device ids, given back tidied; ValueError in one line otherwise."""
    text = str(value).strip()
    if text.lower() in (AUTO, NONE):
        return text.lower()
    entries = [e.strip() for e in text.split(",")]
    if not text or any(not e for e in entries):
        raise ValueError(f"{value!r}: give auto, none or a comma-separated list of device ids ({DEVICE_FORMS})")
    for e in entries:
        if not is_device(e):
            raise ValueError(f"{value!r}: {e!r} is not a device id ({DEVICE_FORMS}); give auto, none or a list such as 0,1,2,3")
    return ",".join(entries)


def listed(choice: str) -> List[str]:
    """The devices of a LIST choice (none for ``auto`` and ``none``)."""
    return [] if choice in (AUTO, NONE) else choice.split(",")


def visible(value: Optional[str]) -> Optional[List[str]]:
    """The devices a ``CUDA_VISIBLE_DEVICES`` value leaves visible, as CUDA reads it: the entries
    before the first one that is not a device id (so ``""``, ``-1`` and ``NoDevFiles`` hide every
    device), without repeats; None when the variable is not set."""
    if value is None:
        return None
    out: List[str] = []
    for entry in value.split(","):
        entry = entry.strip()
        if not is_device(entry):
            break
        if entry not in out:
            out.append(entry)
    return out


@dataclass(frozen=True)
class Device:
    """One device the driver reports: what CUDA_VISIBLE_DEVICES gets (its UUID) and what the header shows."""

    id: str
    label: str = ""


@dataclass
class Found:
    """What a look for devices found, and how (``by``), or why it found nothing (``why``)."""

    devices: List[Device] = field(default_factory=list)
    by: str = ""
    why: str = ""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def nvml_devices(nvml: Any) -> List[Device]:
    """The devices NVML reports, by UUID; on a GPU in MIG mode its MIG instances, which are what CUDA can use there."""
    out: List[Device] = []
    for i in range(int(nvml.nvmlDeviceGetCount())):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        name = _text(nvml.nvmlDeviceGetName(handle))
        migs: List[Device] = []
        try:
            if nvml.nvmlDeviceGetMigMode(handle)[0] == getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1):
                for j in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
                    try:
                        mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)
                    except Exception:  # an empty slot: NVMLError_NotFound
                        continue
                    migs.append(Device(_text(nvml.nvmlDeviceGetUUID(mig)), f"GPU {i} MIG {j}, {name}"))
        except Exception:  # no MIG support on this GPU or in this NVML: the GPU itself
            migs = []
        out += migs or [Device(_text(nvml.nvmlDeviceGetUUID(handle)), f"GPU {i}, {name}")]
    return [d for d in out if is_device(d.id)]


def find_with_nvml(import_nvml: Callable[[], Any]) -> Found:
    """NVML's devices (nvidia-ml-py's ``pynvml``); nothing, and why, when it is not there or cannot start."""
    try:
        nvml = import_nvml()
    except ImportError:
        return Found(why="nvidia-ml-py is not installed")
    try:
        nvml.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return Found(why=f"NVML did not start ({_text(e) or type(e).__name__})")
    try:
        return Found(nvml_devices(nvml), by="NVML")
    except Exception as e:
        return Found(why=f"NVML failed listing devices ({_text(e) or type(e).__name__})")
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


_SMI_GPU = re.compile(r"^GPU (\d+): (.*?) \(UUID: (GPU-[0-9A-Fa-f-]+)\)\s*$")
_SMI_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[0-9A-Za-z/-]+)\)\s*$")


def parse_smi(text: str) -> List[Device]:
    """``nvidia-smi -L``'s devices by UUID; a GPU listed with MIG instances is replaced by them."""
    gpus: List[Tuple[Device, List[Device]]] = []
    for line in text.splitlines():
        gpu = _SMI_GPU.match(line)
        if gpu:
            gpus.append((Device(gpu.group(3), f"GPU {gpu.group(1)}, {gpu.group(2)}"), []))
            continue
        mig = _SMI_MIG.match(line)
        if mig and gpus:
            parent = gpus[-1][0].label.split(",")[0]
            gpus[-1][1].append(Device(mig.group(3), f"{parent} MIG {mig.group(2)}, {mig.group(1)}"))
    return [d for gpu, migs in gpus for d in (migs or [gpu]) if is_device(d.id)]


def find_with_smi(run: Callable[..., Any] = subprocess.run, timeout: float = SMI_TIMEOUT) -> Found:
    """``nvidia-smi -L``'s devices, bounded by ``timeout``; nothing, and why, when it is missing, fails or hangs."""
    try:
        done = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return Found(why="no nvidia-smi")
    except subprocess.TimeoutExpired:
        return Found(why=f"nvidia-smi -L did not answer within {timeout:g} s")
    except OSError as e:
        return Found(why=f"nvidia-smi -L could not start ({e.strerror or e})")
    if done.returncode != 0:
        return Found(why=f"nvidia-smi -L failed (exit {done.returncode})")
    devices = parse_smi(done.stdout or "")
    return Found(devices, by="nvidia-smi -L") if devices else Found(why="nvidia-smi -L listed no GPU")


def _import_pynvml() -> Any:
    import pynvml

    return pynvml


def find(import_nvml: Callable[[], Any] = _import_pynvml, run: Callable[..., Any] = subprocess.run) -> Found:
    """The devices of this host: NVML where it is importable and starts, else ``nvidia-smi -L``."""
    nvml = find_with_nvml(import_nvml)
    if nvml.devices:
        return nvml
    smi = find_with_smi(run)
    if smi.devices:
        return smi
    return Found(why=f"{nvml.why}; {smi.why}")


@dataclass
class Plan:
    """Which device each worker sees: ``devices`` round-robin over the workers (empty: the variable is left alone)."""

    choice: str
    devices: List[str]
    source: str  # where the devices came from, for the header
    labels: Dict[str, str] = field(default_factory=dict)  # device id -> what the driver calls it

    def device(self, worker: int) -> Optional[str]:
        """The device of the ``worker``-th worker spec (0-based), None when the plan gives none."""
        return self.devices[worker % len(self.devices)] if self.devices else None

    @property
    def active(self) -> bool:
        return bool(self.devices)


def plan(choice: str, caller: Optional[str], finder: Callable[[], Found] = find) -> Plan:
    """The devices ``choice`` gives the workers; ``caller``: the caller's ``CUDA_VISIBLE_DEVICES`` (None when unset).

    ``finder`` is asked only for ``auto`` when the caller did not set the variable."""
    if choice == NONE:
        return Plan(choice, [], "--batt-gpus none")
    if choice != AUTO:
        return Plan(choice, listed(choice), f"--batt-gpus {choice}")
    mine = visible(caller)
    if mine is not None:
        if not mine:
            return Plan(choice, [], f"--batt-gpus auto: the caller's {VARIABLE}={caller!r} hides every device; left as it is")
        return Plan(choice, mine, f"--batt-gpus auto: the caller's {VARIABLE}={caller}")
    found = finder()
    if not found.devices:
        return Plan(choice, [], f"--batt-gpus auto: no GPU found ({found.why}); off")
    return Plan(choice, [d.id for d in found.devices], f"--batt-gpus auto: {len(found.devices)} found by {found.by}",
                {d.id: d.label for d in found.devices})


def assign(p: Plan, local: Sequence[bool]) -> List[Optional[str]]:
    """The device of each worker spec, in order (``local``: whether each starts on this host).

    ``auto`` found its devices on this host, so it gives none to a worker elsewhere (``ssh=``):
    that host's devices are its own. A LIST names devices for every worker, as the user wrote it."""
    return [p.device(i) if (p.choice != AUTO or here) else None for i, here in enumerate(local)]


def header_lines(p: Plan, assigned: Sequence[Optional[str]], in_process: bool, caller: Optional[str]) -> List[str]:
    """What the header says of ``p``; ``assigned``: what each worker (``gw0``... in spec order) sees."""
    if p.choice == NONE:
        return []
    if in_process:
        now = f"{VARIABLE}={caller}" if caller is not None else f"{VARIABLE} unset"
        return [f"batt: GPUs: {p.source}; the samples run in this process (-n 0 or no xdist), which keeps {now}"]
    if not p.active:
        return [f"batt: GPUs: {p.source}"]
    lines = [f"batt: GPUs: {p.source}; each worker sees one device ({VARIABLE}, set before the batt is imported; "
             "a replaced worker sees its predecessor's)"]
    by_device: Dict[str, List[str]] = {}
    for i, device in enumerate(assigned):
        by_device.setdefault(device or "", []).append(f"gw{i}")
    for device, names in by_device.items():
        label = f" ({p.labels[device]})" if p.labels.get(device) else ""
        lines.append(f"batt:   {device}{label}: {', '.join(names)}" if device else
                     f"batt:   {VARIABLE} left as it is (a worker on another host): {', '.join(names)}")
    return lines
