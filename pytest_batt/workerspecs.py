"""xdist's worker specs (``--tx``, or what ``-n N`` makes of it), written out one per worker and given extra parts.

A spec is ``//``-separated ``key=value`` parts (``popen//python=python3.11//env:NAME=VALUE``),
as execnet's ``XSpec`` reads them. A part belongs in the spec, rather than in the worker's
own hooks, when it must hold from the process's start and for a worker xdist starts in place
of a dead one: xdist starts the replacement from the dead worker's spec. ``env:NAME=VALUE``
is set by execnet in the new process before xdist's worker code, pytest or the batt is
imported (``--batt-gpus`` uses it for ``CUDA_VISIBLE_DEVICES``). The one place the plugin
writes specs: each feature contributes parts, :func:`add_parts` composes them.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

Part = Tuple[str, str]  # ("env:CUDA_VISIBLE_DEVICES", "3"), ("python", "/path/to/python")


def expand(tx: Sequence[str]) -> List[str]:
    """One spec per worker: xdist's ``N*SPEC`` written out N times, as xdist itself reads ``--tx``."""
    out: List[str] = []
    for spec in tx:
        count, star, rest = spec.partition("*")
        if star and count.isdigit():
            out += [rest] * int(count)
        else:
            out.append(spec)
    return out


def parts(spec: str) -> Dict[str, str]:
    """The spec's parts, key to value (``""`` for a bare key such as ``popen``), as execnet splits them."""
    out: Dict[str, str] = {}
    for part in spec.split("//"):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def is_local(spec: str) -> bool:
    """Whether the worker starts on this host (``popen``, not through ``via=`` or ``ssh=``)."""
    keys = parts(spec)
    return "popen" in keys and "via" not in keys


def add_parts(spec: str, extra: Sequence[Part]) -> str:
    """``spec`` with each ``key=value`` of ``extra`` appended; a key the spec already has keeps the user's value."""
    have = parts(spec)
    for key, value in extra:
        if "//" in key + value or "=" in key:
            raise ValueError(f"{key}={value}: not one part of an xdist spec")
    added = [f"{key}={value}" for key, value in extra if key not in have]
    return "//".join([spec] + added)


def remote_tx(tx_specs: Sequence[str]) -> List[str]:
    """The ``--tx`` specs whose workers start elsewhere (``ssh=...``, ``//chdir=...``): xdist sends them
    the command line with every word that names a local path rewritten under an rsync root."""
    return [spec for spec in tx_specs if "popen" not in spec.split("//") and not spec.split("*")[-1].startswith("popen")
            or "chdir=" in spec]
