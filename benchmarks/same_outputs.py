"""Do two runs' outputs say the same? For checking a change against the code before it.

    python benchmarks/same_outputs.py BEFORE_DIR AFTER_DIR

Each directory holds what ``controller_memory.py --outputs --keep DIR`` keeps of a run:
``r.json.gz`` (``--batt-json``), ``r.html`` (``--batt-html``) and ``s.json``
(``--batt-submission``). Compared: every task's scores (``o_score``, ``d_score``, ``s_score``),
``solved``, ``sha256`` and error, every sample but its times, the task order; the submission
byte for byte; the HTML report once times and dates are blotted out. Exit 0 when all agree,
1 with the first differences otherwise.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pytest_batt import results

TIMES = ("seconds", "cpu_seconds")


def _task(entry: Any) -> Dict[str, Any]:
    out = {k: entry[k] for k in entry if k != "seconds"}
    out["samples"] = [{k: v for k, v in s.items() if k not in TIMES} for s in entry.get("samples", [])]
    return out


def _blot(html: str) -> str:
    html = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "T", html)
    return re.sub(r"\d+\.\d+", "N", html)


def _text(path: str) -> Optional[str]:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def differences(before: str, after: str) -> List[str]:
    out: List[str] = []
    a, b = results.load(os.path.join(before, "r.json.gz")), results.load(os.path.join(after, "r.json.gz"))
    if list(a["tasks"]) != list(b["tasks"]):
        out.append("the tasks differ, or their order")
    for tid in a["tasks"]:
        if tid in b["tasks"] and _task(a["tasks"][tid]) != _task(b["tasks"][tid]):
            out.append(f"task {tid} differs")
    for key in ("schema", "batt", "data", "config"):
        x, y = dict(a[key]) if isinstance(a[key], dict) else a[key], dict(b[key]) if isinstance(b[key], dict) else b[key]
        if isinstance(x, dict):
            x.pop("import_s", None), y.pop("import_s", None)
        if x != y:
            out.append(f"{key} differs: {x} / {y}")
    if a["session"].get("complete") != b["session"].get("complete"):
        out.append("session.complete differs")
    for name, blot in (("s.json", None), ("r.html", _blot)):
        p, q = os.path.join(before, name), os.path.join(after, name)
        if os.path.exists(p) or os.path.exists(q):
            x, y = (_text(f) for f in (p, q))
            if (blot(x) if blot and x else x) != (blot(y) if blot and y else y):
                out.append(f"{name} differs")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__)
        return 2
    found = differences(*args)
    for line in found[:20]:
        print(line)
    n = len(results.load(os.path.join(args[0], "r.json.gz"))["tasks"])
    print(f"{n} tasks: " + ("the same scores, statuses, attempts, submission and report" if not found else f"{len(found)} difference(s)"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
