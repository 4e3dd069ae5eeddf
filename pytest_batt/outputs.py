"""What the controller makes of a run besides the results file: pictures for failures, the HTML
report and the submission. Glue between the run (battrun.BattRun) and the plain modules that
render them (pictures, html_report, submission); each file is written atomically."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from . import grids, html_report, pictures, submission
from .files import write_atomic
from .records import SampleRecord


def _shown(rec: SampleRecord) -> List[Tuple[str, grids.Grid]]:
    """The closest candidates a record names, checked (a demo record comes from a worker)."""
    out = []
    show = rec.get("show")
    for item in show[:2] if isinstance(show, list) else []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
            g = grids.decode(item[1])
            if g is not None:
                out.append((item[0], g))
    return out


def drawer(run: Any, nodeid: str, rec: SampleRecord, verbose: bool) -> Optional[Callable[[str], Any]]:
    """Turns an unsolved sample's text into a report ``longrepr`` that draws its grids (None: text only)."""
    if rec.get("status") != "unsolved":
        return None
    sample_input, expected = run.sample_grids(nodeid)
    candidates = _shown(rec)
    return lambda text: pictures.Failure(text, expected, candidates, sample_input, verbose)


def write_html(path: str, run: Any, results: Dict[str, Any]) -> str:
    page = html_report.render(results, html_report.collect(run, results))
    write_atomic(path, page.encode("utf-8"))
    return f"HTML report written to {path} ({len(page) / 1e6:.1f} MB)"


def write_submission(path: str, run: Any, results: Dict[str, Any]) -> str:
    sub = submission_of(run)
    write_atomic(path, submission.dumps(sub).encode())
    inputs = sum(len(v) for v in sub.values())
    empty = sum(not a for tid in sub for a in run.attempts(tid))
    return (f"submission written to {path} ({len(sub)} tasks, {inputs} test inputs, {empty} with no candidate: "
            f"fallback {submission.FALLBACK})")


def submission_of(run: Any) -> submission.Submission:
    return submission.build(run.task_ids, run.attempts)
