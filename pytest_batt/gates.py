"""The gates: ``--batt-compare-fail`` / ``compare --fail`` expressions that turn a comparison into pass or fail.

Each gate is a small check object that says why it breached (as pytest-benchmark's regression
checks do), parsed from ``solved``, ``pass2``, ``oracle``, ``score``, ``candidates:10%``,
``time:25%``, ``memory:25%`` or ``vram:25%``; a bad expression is a :class:`GateError` (a usage error) before anything runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from . import visible
from .compare import Comparison
from .nodeids import task_name


class GateError(ValueError):
    """A ``--fail`` expression is not one of the valid forms; the message lists them."""


GATE_FORMS = ("solved, pass2, oracle, score, candidates:PCT% (e.g. candidates:10%), time:PCT% (e.g. time:25%), "
              "memory:PCT% (e.g. memory:25%), vram:PCT% (e.g. vram:25%)")
_PCT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)%?$")


@dataclass(frozen=True)
class Gate:
    """One ``--fail`` condition; :meth:`check` says why it breached, or None when it holds."""

    expr: str
    kind: str
    percent: Optional[float] = None

    def check(self, comp: Comparison) -> Optional[str]:
        if self.kind == "solved":
            reg = comp.regressed
            if reg:
                shown = ", ".join(c.nodeid for c in reg[:3]) + (f" (+{len(reg) - 3} more)" if len(reg) > 3 else "")
                return f"{len(reg)} sample(s) no longer solved: {shown}"
            return None
        if self.kind in ("pass2", "oracle"):
            attr = "at_2" if self.kind == "pass2" else "oracle"
            before, after = comp.total(attr)
            if after < before:
                lost = [task_name(t.task) for t in comp.tasks if getattr(t, attr) == (True, False)]
                return (f"{'pass@2' if attr == 'at_2' else 'oracle'} dropped {int(before)} -> {int(after)} "
                        f"(lost: {', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''})")
            return None
        if self.kind == "score":
            drops = [(t.task, sid, b, a) for t in comp.tasks for sid, (b, a) in t.o_dropped.items()]
            if drops:
                t, sid, b, a = drops[0]
                more = f" (+{len(drops) - 1} more)" if len(drops) > 1 else ""
                return f"{len(drops)} o_score(s) dropped: {task_name(t)} {visible.line(sid)} {b} -> {a}{more}"
            return None
        assert self.percent is not None
        if self.kind == "candidates":
            before, after = comp.total("candidates")
            if before > 0 and (before - after) / before * 100 > self.percent:
                return f"candidates dropped {(before - after) / before:.1%} ({int(before)} -> {int(after)}), more than {self.percent:g}%"
            return None
        if self.kind == "time":
            ratio = comp.time_ratio
            if ratio is not None and ratio > 1 + self.percent / 100:
                caveat = f" ({', '.join(comp.time_caveats)}: not like for like)" if comp.time_caveats else ""
                return f"time ratio {ratio:.2f}x is above {1 + self.percent / 100:.2f}x (+{self.percent:g}%){caveat}"
            return None
        if self.kind in ("memory", "vram"):  # the largest sample peak (node ids are built escaped)
            before, after = comp.peak_memory(self.kind)
            if before is not None and after is not None and before[0] > 0 and after[0] > before[0] * (1 + self.percent / 100):
                return (f"peak {'memory' if self.kind == 'memory' else 'VRAM'} {after[0]:.0f} MB ({after[1]}) is "
                        f"{after[0] / before[0]:.2f}x the baseline's {before[0]:.0f} MB ({before[1]}), more than +{self.percent:g}%")
            return None
        raise AssertionError(self.kind)


def breaches(gates: List[Gate], comp: Comparison) -> List[Tuple[str, str]]:
    """``(expression, why)`` of each gate that breached, in the order given."""
    return [(g.expr, why) for g in gates for why in [g.check(comp)] if why is not None]


def parse_gate(expr: str) -> Gate:
    """``solved``, ``pass2``, ``oracle``, ``score``, ``candidates:10%``, ``time:25%``, ``memory:25%``, ``vram:25%`` (% optional)."""
    text = str(expr).strip().lower()
    name, sep, arg = text.partition(":")
    name = {"pass@2": "pass2", "at_2": "pass2"}.get(name, name)
    if name in ("solved", "pass2", "oracle", "score"):
        if sep:
            raise GateError(f"gate {expr!r}: {name} takes no value; valid forms: {GATE_FORMS}")
        return Gate(str(expr), name)
    if name in ("candidates", "time", "memory", "vram"):
        m = _PCT.match(arg.strip())
        if not sep or not m:
            raise GateError(f"gate {expr!r}: {name} needs a percentage such as {name}:{'10' if name == 'candidates' else '25'}%; "
                            f"valid forms: {GATE_FORMS}")
        return Gate(str(expr), name, float(m.group(1)))
    raise GateError(f"gate {expr!r} is not known; valid forms: {GATE_FORMS}")
