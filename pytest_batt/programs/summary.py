"""The run's program faults in a few terminal lines, read back from the samples' notes in the results.

The notes are the :class:`~pytest_batt.programs.library.Library`'s own text; only ids of the
library's real programs are counted, so nothing a program prints into a message can add a name.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping

from .library import FAULTS, NOTE_PREFIX, NOTE_SEPARATOR, REFUSED, TIMED_OUT

_FAULT = re.compile(r"(.*?) (" + "|".join(map(re.escape, FAULTS)) + r")\b")
HEADINGS = {REFUSED: "were refused a call"}  # the summary line's words, where they are not the note's
SHOWN = 5


def faults(results: Mapping[str, Any], known: Iterable[str]) -> Dict[str, Dict[str, int]]:
    """``{kind: {solver id: samples}}`` over every sample of the results (kinds: the notes' words)."""
    ids = set(known)
    out: Dict[str, Dict[str, int]] = {kind: {} for kind in FAULTS}
    for task in results.get("tasks", {}).values():
        for sample in task.get("samples", []):
            text = sample.get("error") or ""
            at = text.find(NOTE_PREFIX)
            if at < 0:
                continue
            for segment in text[at + len(NOTE_PREFIX):].split(NOTE_SEPARATOR):
                m = _FAULT.match(segment)
                if m and m.group(1) in ids:
                    counts = out[m.group(2)]
                    counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return {kind: counts for kind, counts in out.items() if counts}


def summary_lines(results: Mapping[str, Any], known: Iterable[str], unlimited: bool = False) -> List[str]:
    """One line per kind of fault, naming the programs with the most faulty samples first;
    ``unlimited``: no --batt-program-timeout, so a program that timed out took its call's whole timeout."""
    lines = []
    for kind, counts in faults(results, known).items():
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        named = ", ".join(f"{sid} ({n} sample{'s' if n != 1 else ''})" for sid, n in top[:SHOWN])
        more = f", +{len(top) - SHOWN} more" if len(top) > SHOWN else ""
        hint = " (no --batt-program-timeout: each took its samples' whole --batt-timeout; set one to stop them sooner)" \
            if kind == TIMED_OUT and unlimited else ""
        lines.append(f"programs that {HEADINGS.get(kind, kind)}: {len(top)}: {named}{more}{hint}")
    return lines
