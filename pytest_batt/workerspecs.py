"""xdist's ``--tx`` worker specs, taken apart and composed from parts.

A spec is ``key=value`` parts joined by ``//`` (``popen//python=/usr/bin/python3//env:X=1``),
optionally led by a count (``3*popen``). Features that change how a worker starts (the sandbox's
``python=``, a GPU's ``env:CUDA_VISIBLE_DEVICES=``) each add their part with :func:`with_parts`
to the specs already there, so that they compose in any order. Plain functions, no pytest.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

# What makes a spec start its worker elsewhere, or in another folder: not this machine's popen.
ELSEWHERE = ("ssh", "socket", "vagrant_ssh", "via", "chdir", "installvia")


def expand(specs: Sequence[str]) -> List[str]:
    """One spec per worker: ``3*popen`` becomes three ``popen``, as xdist itself counts them."""
    out: List[str] = []
    for spec in specs:
        count, star, rest = spec.partition("*")
        if star and count.isdigit():
            out.extend([rest] * int(count))
        else:
            out.append(spec)
    return out


def parts(spec: str) -> Dict[str, str]:
    """``{key: value}`` of one spec, in order; a bare key (``popen``) has the value ``""``."""
    out: Dict[str, str] = {}
    for part in spec.split("//"):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def join(spec_parts: Mapping[str, str]) -> str:
    return "//".join(f"{key}={value}" if value else key for key, value in spec_parts.items())


def with_parts(spec: str, added: Mapping[str, str]) -> str:
    """``spec`` with each of ``added`` set (replacing a part of that key): ``popen`` + ``{"python": "x"}``
    is ``popen//python=x``. A value may not hold ``//`` (xdist splits the spec there)."""
    for key, value in added.items():
        if "//" in key or "//" in value or "=" in key:
            raise ValueError(f"a --tx spec part cannot hold '//' (or a key '='): {key}={value}")
    return join({**parts(spec), **added})


def is_local_popen(spec: str) -> bool:
    """A worker xdist starts on this machine, in this folder, with a ``popen`` gateway."""
    found = parts(spec)
    return "popen" in found and not any(key in found for key in ELSEWHERE)
