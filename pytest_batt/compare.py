"""Comparing two results files: what changed between a baseline run and this one.

This module owns the ``compare`` semantics: which differences between a baseline run and a
current run are regressions, improvements or merely facts (a different batt, machine or
worker count). The gates that turn a comparison into pass or fail are :mod:`pytest_batt.gates`.
Pure functions over the dicts that :func:`pytest_batt.results.read` returns; no pytest.

Only what both runs measured is compared: tasks only in the current run are *new*, tasks
only in the baseline are *not run*, and samples the current run did not finish are
*missing*; none of them is ever a regression, so a partial run cannot report false ones.
Task-level numbers (oracle, pass@2, scores, candidates, time) are compared only for tasks
that both runs finished completely, since a partial task's scores are partial sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import visible
from .nodeids import sample_nodeid, task_name, task_nodeid

FAILING = ("timeout", "error", "crash")
ABSENT = "missing"


class CompareError(ValueError):
    """The two results cannot be compared meaningfully; the message says why and what to do."""


@dataclass(frozen=True)
class SampleChange:
    """One sample whose status differs between the runs."""

    task: str
    kind: str
    index: int
    before: str
    after: str

    @property
    def nodeid(self) -> str:
        return sample_nodeid(self.task, self.kind, self.index)

    @property
    def category(self) -> str:
        """improved, regressed, newly_<timeout|error|crash>, or changed (e.g. timeout -> unsolved)."""
        if self.after == "solved":
            return "improved"
        if self.before == "solved":
            return "regressed"
        if self.after in FAILING:
            return "newly_" + self.after
        return "changed"


@dataclass
class TaskChange:
    """Task-level numbers of a task both runs finished, before and after."""

    task: str
    oracle: Tuple[bool, bool]
    at_2: Tuple[bool, bool]
    o_dropped: Dict[str, Tuple[int, int]]
    o_raised: Dict[str, Tuple[int, int]]
    candidates: Tuple[int, int]
    d_changed: int
    s_changed: int
    seconds: Tuple[float, float]
    # the largest sample peak (memory_mb) and its sample, before and after; None: not measured
    memory: Tuple[Optional[Tuple[float, str]], Optional[Tuple[float, str]]] = (None, None)
    # the same for the sampled GPU memory peak (vram_peak_mb)
    vram: Tuple[Optional[Tuple[float, str]], Optional[Tuple[float, str]]] = (None, None)

    @property
    def time_ratio(self) -> Optional[float]:
        return self.seconds[1] / self.seconds[0] if self.seconds[0] > 0 else None


@dataclass
class Comparison:
    baseline_summary: Dict[str, Any]  # each run in a few fields (batt, data, machine, workers): _describe
    current_summary: Dict[str, Any]
    common: List[str] = field(default_factory=list)  # tasks in both runs, in current order
    new: List[str] = field(default_factory=list)  # only in the current run
    not_run: List[str] = field(default_factory=list)  # only in the baseline
    partial: List[str] = field(default_factory=list)  # common, but not finished by both runs
    tasks: List[TaskChange] = field(default_factory=list)  # common tasks finished by both
    changes: List[SampleChange] = field(default_factory=list)
    samples_compared: int = 0
    samples_missing: int = 0  # baseline samples the current run did not finish
    flags: List[str] = field(default_factory=list)

    def by_category(self, category: str) -> List[SampleChange]:
        return [c for c in self.changes if c.category == category]

    @property
    def regressed(self) -> List[SampleChange]:
        return self.by_category("regressed")

    @property
    def improved(self) -> List[SampleChange]:
        return self.by_category("improved")

    def total(self, what: str) -> Tuple[Any, Any]:
        """Sum over the finished common tasks: oracle, at_2, candidates (ints) or seconds, before and after."""
        pairs = [getattr(t, what) for t in self.tasks]
        if what == "seconds":
            return round(sum(float(b) for b, _ in pairs), 6), round(sum(float(a) for _, a in pairs), 6)
        return sum(int(b) for b, _ in pairs), sum(int(a) for _, a in pairs)

    @property
    def time_caveats(self) -> List[str]:
        """Why the time ratio is not like for like (another machine or worker count), if it is not."""
        b, c = self.baseline_summary, self.current_summary
        out = []
        if (b["platform"], b["cpus"]) != (c["platform"], c["cpus"]):
            out.append("different machine")
        if b["workers"] != c["workers"]:
            out.append("different workers")
        return out

    @property
    def time_ratio(self) -> Optional[float]:
        before, after = self.total("seconds")
        return after / before if before > 0 else None

    def peak_memory(self, what: str = "memory") -> Tuple[Optional[Tuple[float, str]], Optional[Tuple[float, str]]]:
        """The largest sample peak over the finished common tasks, (MB, node id), before and after;
        ``what``: ``memory`` (resident) or ``vram`` (GPU)."""
        def largest(side: int) -> Optional[Tuple[float, str]]:
            peaks = [getattr(t, what)[side] for t in self.tasks if getattr(t, what)[side] is not None]
            return max(peaks, key=lambda p: p[0]) if peaks else None
        return largest(0), largest(1)


# --- building a comparison -----------------------------------------------------------------

def _describe(res: Dict[str, Any]) -> Dict[str, Any]:
    machine = res.get("machine") or {}
    return {
        "created": res.get("created"),
        "batt_module": res["batt"].get("module"),
        "batt_sha256": res["batt"].get("sha256"),
        "data_name": res["data"].get("name"),
        "data_sha256": res["data"].get("sha256"),
        "platform": machine.get("platform"),
        "cpus": machine.get("cpus"),
        "workers": res["config"].get("workers"),
        "timeout_s": res["config"].get("timeout_s"),
        "complete": bool(res["session"].get("complete", False)),
        "tasks": len(res["tasks"]),
    }


def _samples(task: Dict[str, Any]) -> Dict[Tuple[str, int], str]:
    return {(s["kind"], s["index"]): s["status"] for s in task.get("samples", [])}


def _finished(samples: Dict[Tuple[str, int], str]) -> bool:
    return bool(samples) and ABSENT not in samples.values()


def _leaves(tree: Any, path: Tuple[str, ...] = ()) -> Dict[Tuple[str, ...], Any]:
    if isinstance(tree, dict):
        out: Dict[Tuple[str, ...], Any] = {}
        for k, v in tree.items():
            out.update(_leaves(v, path + (str(k),)))
        return out
    return {path: tree}


def _changed_entries(before: Any, after: Any) -> int:
    """How many leaves (an iz, a zo, a last_t) differ, appear or disappear."""
    b, a = _leaves(before or {}), _leaves(after or {})
    return sum(1 for k in set(b) | set(a) if b.get(k, ABSENT) != a.get(k, ABSENT))


def _peak(tid: str, task: Dict[str, Any], key: str = "memory_mb") -> Optional[Tuple[float, str]]:
    """The task's largest sample peak memory (``key``: memory_mb, vram_peak_mb) and its node id (None: not measured)."""
    peaks = [(float(s[key]), sample_nodeid(tid, s["kind"], s["index"])) for s in task.get("samples", [])
             if isinstance(s.get(key), (int, float))]
    return max(peaks, key=lambda p: p[0]) if peaks else None


def _task_change(tid: str, b: Dict[str, Any], a: Dict[str, Any]) -> TaskChange:
    bo, ao = b.get("o_score") or {}, a.get("o_score") or {}
    dropped, raised = {}, {}
    for sid in dict.fromkeys(list(bo) + list(ao)):
        x, y = int(bo.get(sid, 0)), int(ao.get(sid, 0))
        if y < x:
            dropped[sid] = (x, y)
        elif y > x:
            raised[sid] = (x, y)
    cand: Callable[[Dict[str, Any]], int] = lambda t: sum(int(s.get("candidates") or 0) for s in t.get("samples", []))  # noqa: E731
    return TaskChange(
        task=tid,
        oracle=(bool(b["solved"]["oracle"]), bool(a["solved"]["oracle"])),
        at_2=(bool(b["solved"]["at_2"]), bool(a["solved"]["at_2"])),
        o_dropped=dropped,
        o_raised=raised,
        candidates=(cand(b), cand(a)),
        d_changed=_changed_entries(b.get("d_score"), a.get("d_score")),
        s_changed=_changed_entries(b.get("s_score"), a.get("s_score")),
        seconds=(float(b.get("seconds") or 0.0), float(a.get("seconds") or 0.0)),
        memory=(_peak(tid, b), _peak(tid, a)),
        vram=(_peak(tid, b, "vram_peak_mb"), _peak(tid, a, "vram_peak_mb")),
    )


def check_data(baseline: Dict[str, Any], current: Dict[str, Any], allow_other_data: bool = False,
               flags: Optional[List[str]] = None, override: str = "--any-data") -> None:
    """Refuse to compare runs whose common tasks have different content.

    Each task records its own content hash, so exactly the tasks both runs share are checked;
    files without per-task hashes fall back to the hash of the whole selection.
    """
    flags = [] if flags is None else flags
    bd, cd = _describe(baseline), _describe(current)
    btasks, ctasks = baseline["tasks"], current["tasks"]
    common = [t for t in ctasks if t in btasks]
    hashed = all(isinstance(btasks[t], Mapping) and "sha256" in btasks[t] and "sha256" in ctasks[t] for t in common)
    if hashed:
        differ = [t for t in common if btasks[t]["sha256"] != ctasks[t]["sha256"]]
        named = ", ".join(map(task_name, differ[:5])) + (" ..." if len(differ) > 5 else "")
        why = f"{len(differ)} common task(s) have different content ({named})"
    else:
        differ = [] if bd["data_sha256"] == cd["data_sha256"] else common
        why = "the task data hashes differ"
    if not differ:
        return
    if allow_other_data:
        flags.append(f"different task data ({bd['data_name']} vs {cd['data_name']}: {why}), compared anyway")
        return
    raise CompareError(
        f"baseline ran on data {bd['data_name']!r}, current on {cd['data_name']!r}: {why}, so the results "
        f"are not comparable; use {override} to compare them anyway"
    )


def compare(baseline: Dict[str, Any], current: Dict[str, Any], allow_other_data: bool = False) -> Comparison:
    """Compare ``current`` against ``baseline``; raises :class:`CompareError` for different task data."""
    bd, cd = _describe(baseline), _describe(current)
    comp = Comparison(bd, cd)
    btasks, ctasks = baseline["tasks"], current["tasks"]
    check_data(baseline, current, allow_other_data, comp.flags)
    if bd["batt_sha256"] != cd["batt_sha256"]:
        comp.flags.append(f"different batt: {bd['batt_module']} {str(bd['batt_sha256'])[:12]} -> "
                          f"{cd['batt_module']} {str(cd['batt_sha256'])[:12]}")
    if (bd["platform"], bd["cpus"]) != (cd["platform"], cd["cpus"]):
        comp.flags.append(f"different machine: {bd['platform']} ({bd['cpus']} cpus) -> {cd['platform']} ({cd['cpus']} cpus); "
                          "time ratio not like for like")
    if bd["workers"] != cd["workers"]:
        comp.flags.append(f"different workers: {bd['workers']} -> {cd['workers']}; time ratio not like for like")
    if bd["timeout_s"] != cd["timeout_s"]:
        comp.flags.append(f"different timeout: {bd['timeout_s']} s -> {cd['timeout_s']} s")
    for name, d in (("baseline", bd), ("current", cd)):
        if not d["complete"]:
            comp.flags.append(f"{name} run is incomplete")

    comp.common = [t for t in ctasks if t in btasks]
    comp.new = [t for t in ctasks if t not in btasks]
    comp.not_run = [t for t in btasks if t not in ctasks]
    for tid in comp.common:
        bs, cs = _samples(btasks[tid]), _samples(ctasks[tid])
        for key, before in bs.items():
            after = cs.get(key, ABSENT)
            if after == ABSENT:
                comp.samples_missing += 1
                continue
            if before == ABSENT:
                continue  # the baseline never measured it: nothing to compare against
            comp.samples_compared += 1
            if before != after:
                comp.changes.append(SampleChange(tid, key[0], key[1], before, after))
        if _finished(bs) and _finished(cs) and set(bs) == set(cs):
            comp.tasks.append(_task_change(tid, btasks[tid], ctasks[tid]))
        else:
            comp.partial.append(tid)
    return comp


# --- output ----------------------------------------------------------------------------------

def _yn(pair: Tuple[int, int]) -> str:
    return f"{int(pair[0])} -> {int(pair[1])}"


def render(comp: Comparison, limit: int = 50) -> List[str]:
    """The terminal lines: what was compared, counts, regressed and improved samples, time, flags.

    Each list of samples shows at most ``limit`` node ids, so a 400-task run stays readable.
    """
    b, c = comp.baseline_summary, comp.current_summary
    lines = [
        f"baseline: {b['created']}  {b['batt_module']} {str(b['batt_sha256'])[:12]}  data {b['data_name']}  "
        f"{b['tasks']} tasks  workers {b['workers']}",
        f"current:  {c['created']}  {c['batt_module']} {str(c['batt_sha256'])[:12]}  data {c['data_name']}  "
        f"{c['tasks']} tasks  workers {c['workers']}",
    ]
    extra = [f"{len(comp.new)} new", f"{len(comp.not_run)} not run", f"{len(comp.partial)} partial"]
    lines.append(f"tasks: {len(comp.common)} in both ({', '.join(extra)})")
    lines.append(
        f"samples: {comp.samples_compared} compared, {len(comp.improved)} newly solved, {len(comp.regressed)} regressed"
        + "".join(f", {len(comp.by_category('newly_' + s))} newly {s}" for s in FAILING if comp.by_category("newly_" + s))
        + (f", {len(comp.by_category('changed'))} other status changes" if comp.by_category("changed") else "")
        + (f", {comp.samples_missing} missing in current" if comp.samples_missing else "")
    )
    if comp.tasks:
        dropped = sum(len(t.o_dropped) for t in comp.tasks)
        raised = sum(len(t.o_raised) for t in comp.tasks)
        d_changed = sum(t.d_changed for t in comp.tasks)
        s_changed = sum(t.s_changed for t in comp.tasks)
        lines.append(
            f"pass@2: {_yn(comp.total('at_2'))}   oracle: {_yn(comp.total('oracle'))}   candidates: {_yn(comp.total('candidates'))}   "
            f"o_score: {dropped} dropped, {raised} raised   d_score: {d_changed} changed   s_score: {s_changed} changed"
            f"   (over {len(comp.tasks)} task(s) both finished)"
        )
        before, after = comp.total("seconds")
        ratio = comp.time_ratio
        lines.append(f"time: {before:.2f}s -> {after:.2f}s" + (f", ratio {ratio:.2f}x" if ratio is not None else "")
                     + (f"  [{', '.join(comp.time_caveats)}]" if comp.time_caveats else ""))
        def mb(p: Optional[Tuple[float, str]]) -> str:
            return f"{p[0]:.0f} MB ({p[1]})" if p is not None else "not measured"
        for what, name in (("memory", "peak memory"), ("vram", "peak VRAM")):
            peak_b, peak_a = comp.peak_memory(what)
            if peak_b is not None or peak_a is not None:
                lines.append(f"{name}: {mb(peak_b)} -> {mb(peak_a)}")
        slow = sorted((t for t in comp.tasks if t.time_ratio is not None), key=lambda t: -(t.time_ratio or 0.0))[:3]
        if len(comp.tasks) > 1 and slow:
            lines.append("highest time ratios: " + ", ".join(f"{task_name(t.task)} {t.time_ratio:.2f}x" for t in slow))
    groups = ([("regressed", comp.regressed)] + [(f"newly {s}", comp.by_category("newly_" + s)) for s in FAILING]
              + [("newly solved", comp.improved)])
    for title, changes in groups:
        if changes:
            lines.append(f"{title}:")
            lines += [f"  {ch.nodeid}  {ch.before} -> {ch.after}" for ch in changes[:limit]]
            if len(changes) > limit:
                lines.append(f"  ... and {len(changes) - limit} more")
    tasks_moved = [t for t in comp.tasks if t.at_2[0] != t.at_2[1] or t.oracle[0] != t.oracle[1]]
    if tasks_moved:
        lines.append("tasks changed:")
        for t in tasks_moved[:limit]:
            lines.append(f"  {task_nodeid(t.task)}  pass@2 {'yes' if t.at_2[0] else 'no'} -> {'yes' if t.at_2[1] else 'no'}, "
                         f"oracle {'yes' if t.oracle[0] else 'no'} -> {'yes' if t.oracle[1] else 'no'}")
        if len(tasks_moved) > limit:
            lines.append(f"  ... and {len(tasks_moved) - limit} more")
    lines += [f"note: {f}" for f in comp.flags]
    return [visible.line(line) for line in lines]  # names and ids from the two files, shown as data


def to_json(comp: Comparison) -> Dict[str, Any]:
    """The comparison as builtin types, for recording in a results file."""
    def pair(p: Tuple[Any, Any]) -> List[Any]:
        return [p[0], p[1]]

    return {
        "baseline": dict(comp.baseline_summary),
        "current": dict(comp.current_summary),
        "tasks": {"common": list(comp.common), "new": list(comp.new), "not_run": list(comp.not_run), "partial": list(comp.partial)},
        "samples": {
            "compared": comp.samples_compared,
            "missing": comp.samples_missing,
            "changes": [
                {"nodeid": c.nodeid, "before": c.before, "after": c.after, "category": c.category} for c in comp.changes
            ],
        },
        "totals": {
            "at_2": pair(comp.total("at_2")),
            "oracle": pair(comp.total("oracle")),
            "candidates": pair(comp.total("candidates")),
            "seconds": pair(comp.total("seconds")),
            "time_ratio": comp.time_ratio,
            "memory_mb": [p[0] if p is not None else None for p in comp.peak_memory()],
            "vram_peak_mb": [p[0] if p is not None else None for p in comp.peak_memory("vram")],
        },
        "per_task": {
            t.task: {
                "oracle": pair(t.oracle), "at_2": pair(t.at_2),
                "o_dropped": {k: pair(v) for k, v in t.o_dropped.items()},
                "o_raised": {k: pair(v) for k, v in t.o_raised.items()},
                "candidates": pair(t.candidates), "d_changed": t.d_changed, "s_changed": t.s_changed,
                "seconds": pair(t.seconds), "time_ratio": t.time_ratio,
                "memory_mb": [p[0] if p is not None else None for p in t.memory],
                "vram_peak_mb": [p[0] if p is not None else None for p in t.vram],
            }
            for t in comp.tasks
        },
        "flags": list(comp.flags),
    }
