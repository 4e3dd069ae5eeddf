"""``--batt-keep-partial``: what a batt call had already found when its time ran out.

Generated batts build their answer as they go: ``o = []`` and ``s = []`` at the top, then
``o.append((t, evo, solver_id, tN))`` and ``s.append((t, s_solver_id, differ, tN))`` step by
step, ``return o, s`` at the end. When the timeout is raised inside the call (the soft stage:
pytest-timeout's signal), the batt's frame is still in the exception's traceback, so its lists
hold a real prefix of what the call would have returned. This module reads them, in the process
that ran the sample; the controller judges such a sample's kept candidates while it stays
``timeout`` (:func:`pytest_batt.judging.judge_kept`).

Phase 3 keeps nothing of a call that timed out; without the option neither does the plugin. A
hard stop (the watchdog ended the worker) leaves no frame to read: it keeps nothing.
"""

from __future__ import annotations

from types import CodeType
from typing import Any, List, Optional

CANDIDATES = "o"  # the names generated batts give their two lists
ROWS = "s"


def kept(exc: BaseException, code: CodeType, name: str) -> Optional[List[Any]]:
    """A copy of the list the batt's frame (the one running ``code``) held in local ``name`` when
    ``exc`` was raised through it; None when there is no such frame or no such list."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code is code:
            value = frame.f_locals.get(name)
            return list(value) if isinstance(value, list) else None
        tb = tb.tb_next
    return None


def batt_code(func: Any) -> Optional[CodeType]:
    """The code object of the batt function whose frame to look for (through ``functools.wraps``)."""
    seen = 0
    while func is not None and seen < 10:
        code = getattr(func, "__code__", None)
        if isinstance(code, CodeType):
            return code
        func = getattr(func, "__wrapped__", None)
        seen += 1
    return None
