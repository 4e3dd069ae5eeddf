"""A sample's pytest outcome from its judged record and its baseline status.

Set on the report on the controller, before the terminal, junitxml, the cache (``--lf``) and
``-x``/``--maxfail`` read it, so that what a worker said about its own sample never decides.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from . import visible
from .failures import describe
from .nodeids import sample_nodeid
from .records import SampleRecord


def apply(report: Any, rec: SampleRecord, baseline_status: Optional[str], draw: Optional[Callable[[str], Any]] = None) -> None:
    """``draw``: turns a failure's text into the report's ``longrepr`` (the controller adds the grids)."""
    solved = rec["status"] == "solved"
    text = "" if solved else visible.text(describe(rec))  # the batt's words, never its control characters
    if hasattr(report, "wasxfail"):  # the worker's view of xfail does not count either
        del report.wasxfail
    if rec["status"] == "unscored":
        # Neither passed nor failed: nothing to judge it by (its output is hidden). A skip says so in every report.
        report.outcome = "skipped"
        report.longrepr = (report.nodeid, None, f"Skipped: {text}")
    elif solved:
        report.outcome, report.longrepr = "passed", None
        if baseline_status is not None and baseline_status != "solved":
            report.wasxfail = f"unsolved in baseline ({visible.line(baseline_status)})"  # an XPASS, not strict
    elif baseline_status is not None and baseline_status != "solved":
        report.outcome, report.longrepr = "skipped", text
        report.wasxfail = f"unsolved in baseline ({visible.line(baseline_status)})"  # an expected failure
    else:
        report.outcome = "failed"
        text = f"regressed vs baseline (solved there)\n{text}" if baseline_status == "solved" else text
        report.longrepr = draw(text) if draw is not None else text
    report.user_properties = merge(getattr(report, "user_properties", []), properties(rec))


def properties(rec: SampleRecord) -> List[Tuple[str, Any]]:
    """Shown by --junitxml as <property> elements, for CI dashboards."""
    return [("batt_status", rec["status"]), ("batt_candidates", rec.get("candidates", 0)), ("batt_calls", rec.get("calls", 0))]


def merge(existing: Any, ours: List[Tuple[str, Any]]) -> List[Tuple[str, Any]]:
    return [(k, v) for k, v in existing or [] if not str(k).startswith("batt_")] + ours


def baseline_statuses(baseline: Dict[str, Any]) -> Dict[str, str]:
    """Each baseline sample's status by node id: what xfail and "regressed" are decided from."""
    out = {}
    for tid, task in baseline.get("tasks", {}).items():
        for s in task.get("samples", []):
            out[sample_nodeid(tid, s["kind"], s["index"])] = s["status"]
    return out
