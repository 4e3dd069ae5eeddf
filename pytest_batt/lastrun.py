"""The last run's seconds, kept in pytest's cache for the next run to plan with.

The controller writes two values of ``config.cache`` at the end of a run (in
``.pytest_cache/v/pytest-batt/``, where ``--lf`` keeps its failures); ``-p no:cacheprovider``
turns both off.

* ``seconds``: each sample's seconds, by batt (its sha256: the module's source; a library's
  files and settings) and by task (its id, with the sha256 of its content). The scheduler plans
  with the samples whose batt and task content are this run's; any other sample is guessed as
  without a cache. ``--batt-durations FILE`` replaces it for the plan.
* ``runs``: by command (the settings that name the batt, the data and the tasks), what the next
  run of the same command needs before it loads anything (``pytest_cmdline_main``, where the
  default chooses between workers and this process): the size and mtime of the files the batt
  was made of and of the data (unchanged: the same batt and data, as Python's own bytecode cache
  assumes), the selected samples' total and longest seconds, and what the workers cost the last
  time the command ran with workers: their start-up and shut-down, measured.

Anything read back is checked: a value that is not what this module wrote counts as empty. Both
values are bounded (batts, commands, tasks per batt), the least recently used dropped first. No
pytest here: tables in, tables out (the hooks read and write them through ``config.cache``).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .nodeids import sample_nodeid

SECONDS_KEY = "pytest-batt/seconds"
RUNS_KEY = "pytest-batt/runs"
MAX_BATTS = 8
MAX_TASKS = 20000  # per batt: all of ARC-AGI-1 and -2 with room to spare
MAX_RUNS = 32
MAX_FILES = 5000  # a library of more files than this is not fingerprinted: no in-process choice for it
# Workers are used when they save at least this many times what they cost: besides their start-up
# and shut-down, a split task repeats its memo work on each worker, and on a busy machine two
# workers get less than two cores. (tokpidjin's 100-solver batt on one task: the workers saved
# 0.35-0.85 s of samples and cost 0.4-0.9 s; the run took as long in workers as in this process on
# an idle machine, 1.3x as long on a busy one.)
WORTH = 2.0
# A run goes in-process only when its samples took less than this many times what workers cost: a
# long run keeps the workers' protection even when one sample is most of it. (At 4, tokpidjin's
# one task, 1.5-2.1 s of samples against 0.4 s of workers, went either way with the machine's noise.)
SHORT_RUN = 8.0

Sample = Tuple[str, str, int, float]  # task id, kind, index, seconds


def _kinds(entry: Any) -> Optional[Dict[str, List[Optional[float]]]]:
    """A task entry's seconds by kind, when the entry is well formed."""
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        return None
    out = {}
    for kind in ("demo", "test"):
        values = entry.get(kind, [])
        if not isinstance(values, list):
            return None
        out[kind] = [v if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else None for v in values]
    return out


def _batts(table: Any) -> Dict[str, Any]:
    batts = table.get("batts") if isinstance(table, dict) else None
    return {k: v for k, v in batts.items() if isinstance(v, dict) and isinstance(v.get("tasks"), dict)} \
        if isinstance(batts, dict) else {}


def seconds_for(table: Any, batt_sha256: str, task_hashes: Mapping[str, str]) -> Dict[str, float]:
    """Node id -> seconds of every sample whose entry fits: this batt, a task of this content."""
    tasks = _batts(table).get(batt_sha256, {}).get("tasks", {})
    out: Dict[str, float] = {}
    for tid, sha in task_hashes.items():
        entry = tasks.get(tid)
        kinds = _kinds(entry)
        if kinds is None or entry["sha256"] != sha:
            continue
        for kind, values in kinds.items():
            for index, value in enumerate(values):
                if value is not None:
                    out[sample_nodeid(tid, kind, index)] = float(value)
    return out


def _stamp(entries: Iterable[Any]) -> int:
    return max((e.get("stamp", 0) for e in entries if isinstance(e, dict) and isinstance(e.get("stamp"), int)), default=0) + 1


def _newest(entries: Dict[str, Any], keep: int) -> Dict[str, Any]:
    ranked = sorted(entries.items(), key=lambda kv: kv[1].get("stamp", 0) if isinstance(kv[1].get("stamp"), int) else 0)
    return dict(ranked[-keep:])


def with_seconds(table: Any, batt_sha256: str, task_hashes: Mapping[str, str], samples: Iterable[Sample]) -> Dict[str, Any]:
    """The table with this run's samples' seconds; entries of other tasks and batts kept (bounded)."""
    batts = _batts(table)
    old = batts.get(batt_sha256, {}).get("tasks", {})
    tasks: Dict[str, Any] = {}
    for tid, entry in old.items():
        kinds = _kinds(entry)
        if kinds is not None and tid not in task_hashes:
            tasks[tid] = {"sha256": entry["sha256"], **kinds}
    for tid, sha in task_hashes.items():  # this run's tasks last: they stay when the table is cut
        entry = old.get(tid)
        kinds = _kinds(entry) if isinstance(entry, dict) and entry.get("sha256") == sha else None
        tasks[tid] = {"sha256": sha, **(kinds or {"demo": [], "test": []})}
    for tid, kind, index, seconds in samples:
        if tid in task_hashes and kind in ("demo", "test") and index >= 0:
            values = tasks[tid][kind]
            values.extend([None] * (index + 1 - len(values)))
            values[index] = round(float(seconds), 6)
    if len(tasks) > MAX_TASKS:
        tasks = dict(list(tasks.items())[-MAX_TASKS:])
    batts[batt_sha256] = {"stamp": _stamp(batts.values()), "tasks": tasks}
    return {"batts": _newest(batts, MAX_BATTS)}


# --- the command's record: what pytest_cmdline_main decides from ----------------------------------

def command_key(settings: Any) -> str:
    """The settings that make a run of the same command on the same batt and data (not its outputs)."""
    parts = [settings.base_dir, settings.data, list(settings.tasks), settings.source, settings.entries, settings.programs_map,
             settings.grid_form, settings.program_timeout, settings.shard, settings.timeout]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def fingerprint(paths: Sequence[str], folders: bool = False) -> Optional[List[List[Any]]]:
    """Size and mtime of each path, and with ``folders`` of each folder that holds one (a file added to
    a library's folder changes its mtime); None when there are too many to check at every start."""
    every = list(paths) + (sorted({os.path.dirname(p) for p in paths} - set(paths)) if folders else [])
    if len(every) > MAX_FILES:
        return None
    out = []
    for p in every:
        try:
            st = os.stat(p)
        except OSError:
            return None
        out.append([p, st.st_size, st.st_mtime_ns])
    return out


def unchanged(stamps: Any) -> bool:
    """The files are as the fingerprint saw them."""
    if not isinstance(stamps, list) or not stamps:
        return False
    for item in stamps:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
            return False
        try:
            st = os.stat(item[0])
        except OSError:
            return False
        if [st.st_size, st.st_mtime_ns] != item[1:]:
            return False
    return True


def summary(seconds: Mapping[str, float], nodeids: Sequence[str]) -> Optional[Tuple[float, float]]:
    """Total and longest seconds of the samples, when every one of them is known."""
    values = [seconds.get(n) for n in nodeids]
    if not values or any(v is None for v in values):
        return None
    known = [float(v) for v in values if v is not None]
    return round(sum(known), 6), round(max(known), 6)


def with_run(runs: Any, key: str, stamps: Optional[List[List[Any]]], totals: Optional[Tuple[float, float]],
             samples: int, workers_s: Optional[float], faults: int = 0) -> Dict[str, Any]:
    """The runs table with this command's record; ``workers_s`` is what the workers cost this run
    (None without workers: the cost measured before is kept); ``faults``: its samples that crashed or
    timed out, and the programs it quarantined."""
    table = {k: v for k, v in runs.items() if isinstance(v, dict)} if isinstance(runs, dict) else {}
    previous = table.get(key, {})
    if workers_s is None and isinstance(previous.get("workers_s"), (int, float)):
        workers_s = float(previous["workers_s"])
    table[key] = {"stamp": _stamp(table.values()), "files": stamps, "samples": samples,
                  "seconds": totals[0] if totals else None, "longest": totals[1] if totals else None,
                  "workers_s": round(workers_s, 6) if workers_s is not None else None, "faults": faults}
    return _newest(table, MAX_RUNS)


FAULTS = ("crash", "timeout")  # a sample's status that keeps the next run in workers


def faults(statuses: Sequence[str], quarantined: int) -> int:
    """What the next run must be protected from: samples that crashed or timed out (a hard stop is a
    timeout), and programs quarantined (they ended or hung their process)."""
    return sum(1 for s in statuses if s in FAULTS) + quarantined


def record_of(runs: Any, key: str) -> Optional[Dict[str, Any]]:
    record = runs.get(key) if isinstance(runs, dict) else None
    return record if isinstance(record, dict) else None


def in_process(record: Optional[Mapping[str, Any]], workers: int) -> Optional[str]:
    """Why this command should run in this process, or None: the last run says workers would not pay.

    Workers cost their start-up and shut-down, and shorten the samples' time from its total to
    about the larger of the longest sample and the total shared out. In-process when they would
    save less than ``WORTH`` times what they cost and the samples are short (under ``SHORT_RUN``
    times that cost in all: a longer run keeps the workers' protection); the files must be as
    they were. Never after a run with faults (``with_run``): in this process a crash ends the session
    and a stuck call cannot be stopped, where workers end only themselves.
    """
    if record is None or record.get("faults"):
        return None
    total, longest, cost = record.get("seconds"), record.get("longest"), record.get("workers_s")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (total, longest, cost)) or workers < 1:
        return None
    assert isinstance(total, (int, float)) and isinstance(longest, (int, float)) and isinstance(cost, (int, float))
    saved = total - max(longest, total / workers)
    if saved >= WORTH * cost or total >= SHORT_RUN * cost or not unchanged(record.get("files")):
        return None
    return (f"the last run's {record.get('samples')} sample(s) took {total:.2f} s; {workers} worker(s) would save "
            f"{max(saved, 0.0):.2f} s of it and cost {cost:.2f} s to start and stop")


def cached(path: str) -> Any:
    """A value pytest's cache keeps, read from its file (``Cache.set`` writes JSON), or None."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
