"""``--batt-gpus`` on the controller: each xdist worker's spec gets its device, and the header says how.

Before xdist reads the worker specs (its sessionstart): ``env:CUDA_VISIBLE_DEVICES`` in a spec is
set before anything is imported in the worker, and a replacement worker keeps it
(:mod:`pytest_batt.workerspecs`). Which worker gets which device is :mod:`pytest_batt.gpus`'.
"""

from __future__ import annotations

import os
from typing import List, Optional

import pytest

from ..state import State


def give_gpus(config: pytest.Config, state: State) -> List[str]:
    """``--batt-gpus`` on the controller: each xdist worker's spec gets its device (``env:CUDA_VISIBLE_DEVICES``,
    set before anything is imported in the worker, and kept by a replacement worker); the header's lines,
    with how VRAM is measured.

    The caller's environment is never changed: with ``-n 0`` the samples run with it as it is."""
    from .. import gpus, workerspecs
    from ..isolation.peak_vram import header_line

    opts = state.settings
    caller = os.environ.get(gpus.VARIABLE)
    in_process = config.getoption("dist", "no") == "no"
    lines: List[str] = []
    assigned: List[Optional[str]] = []
    if opts.gpus != gpus.NONE:
        plan = gpus.plan(opts.gpus, caller)
        if plan.active and not in_process:
            key = "env:" + gpus.VARIABLE
            specs = workerspecs.expand(config.getoption("tx", None) or [])
            devices = gpus.assign(plan, [workerspecs.is_local(spec) for spec in specs])
            specs = [workerspecs.add_parts(spec, [(key, device)] if device else []) for spec, device in zip(specs, devices)]
            config.option.tx = specs
            assigned = [workerspecs.parts(spec).get(key) for spec in specs]  # a device the user's --tx named stays theirs
        state.gpu_run = plan.active
        lines = gpus.header_lines(plan, assigned, in_process, caller)
    # What each process that runs samples sees; inside a container its VRAM is read only where that is one device.
    seen = [device if device is not None else caller for device in assigned] or [caller]
    vram = header_line(asked=opts.gpus != gpus.NONE, one_device=all(len(gpus.visible(v) or []) == 1 for v in seen),
                       host_pids=False if opts.sandbox and not in_process else None)  # sandboxed workers: a PID namespace of their own
    return lines + ([vram] if vram else [])
