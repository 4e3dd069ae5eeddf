"""Merging the results files of ``--batt-shard K/N`` runs into the one file a single run writes.

Each shard's file records, under ``config.shard``, its index, the shard count and the whole
selection (every shard's tasks, in order), and its ``data.sha256`` is the hash of that whole
selection. So the merge needs no task data: it checks that the shards belong together, puts
the tasks back in selection order, and sums or maxes the session times. Tasks are copied as
they are (samples, scores, pass@2, oracle), so the merged file equals a single run's in all
but times, machine and worker count. Pure functions over the dicts of ``results.read``.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Sequence, Tuple


class MergeError(ValueError):
    """These files cannot be merged; the one-line message names the files and what differs."""


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(_short(v) for v in value)
    text = str(value)
    return text[:12] if len(text) == 64 else text  # a sha256: its start is enough to tell them apart


def _check_same(files: Sequence[Tuple[str, Dict[str, Any]]], what: str, get: Any) -> None:
    first_path, first = files[0]
    for path, res in files[1:]:
        a, b = get(first), get(res)
        if a != b:
            raise MergeError(f"{first_path} and {path} are shards of different {what} ({_short(a)} vs {_short(b)}); "
                             "merge only the shards of one run")


def merge(files: Sequence[Tuple[str, Dict[str, Any]]], partial: bool = False) -> Dict[str, Any]:
    """One results dict from ``(path, results)`` pairs of one run's shards, in any order."""
    if not files:
        raise MergeError("no results files to merge")
    for path, res in files:
        shard = res["config"].get("shard")
        if not isinstance(shard, dict) or not {"index", "count", "selection"} <= set(shard):
            raise MergeError(f"{path} is not a shard's results file (no config.shard): it was not run with --batt-shard K/N")
    _check_same(files, "schema", lambda r: r.get("schema"))
    _check_same(files, "batts", lambda r: (r["batt"].get("module"), r["batt"].get("sha256")))
    _check_same(files, "data", lambda r: (r["data"].get("name"), r["data"].get("sha256")))
    _check_same(files, "timeouts", lambda r: r["config"].get("timeout_s"))
    _check_same(files, "shard counts", lambda r: r["config"]["shard"]["count"])
    _check_same(files, "selections", lambda r: r["config"]["shard"]["selection"])

    count = files[0][1]["config"]["shard"]["count"]
    selection: List[str] = list(files[0][1]["config"]["shard"]["selection"])
    by_index: Dict[int, str] = {}
    owner: Dict[str, str] = {}
    for path, res in files:
        index = res["config"]["shard"]["index"]
        if index in by_index:
            raise MergeError(f"shard {index}/{count} given twice ({by_index[index]} and {path})")
        by_index[index] = path
        for tid in res["tasks"]:
            if tid in owner:
                raise MergeError(f"task {tid} is in two shards ({owner[tid]} and {path}); were they split with the same --batt-durations?")
            owner[tid] = path
    stray = [tid for tid in owner if tid not in set(selection)]
    if stray:
        raise MergeError(f"{owner[stray[0]]} has task {stray[0]}, which is not in the shards' selection")
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing and not partial:
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise MergeError(f"shard(s) {names} missing: give every shard's results file, or --partial to merge what there is")

    ordered = sorted(files, key=lambda f: f[1]["config"]["shard"]["index"])
    first = ordered[0][1]
    tasks: Dict[str, Any] = {}
    for _, res in ordered:
        tasks.update(res["tasks"])
    tasks = {tid: tasks[tid] for tid in selection if tid in tasks}

    sessions = [res["session"] for _, res in ordered]
    each = [{"index": res["config"]["shard"]["index"], "tasks": len(res["tasks"]), "workers": res["config"].get("workers"),
             "created": res.get("created"), "platform": (res.get("machine") or {}).get("platform"),
             **{k: res["session"].get(k) for k in ("wall_s", "item_s", "process_s", "complete")}} for _, res in ordered]

    def times(key: str) -> List[float]:
        return [float(s[key]) for s in sessions if isinstance(s.get(key), (int, float))]

    session: Dict[str, Any] = {
        "wall_s": round(max(times("wall_s"), default=0.0), 6),  # the longest shard: how long the matrix took
        "item_s": round(sum(t.get("seconds") or 0.0 for t in tasks.values()), 6),
        "complete": not missing and all(bool(s.get("complete")) for s in sessions),
    }
    if len(times("process_s")) == len(sessions):
        session["process_s"] = round(max(times("process_s")), 6)
    session["shards"] = {
        "count": count, "merged": [e["index"] for e in each], "missing": missing,
        "wall_s_sum": round(sum(times("wall_s")), 6), "process_s_sum": round(sum(times("process_s")), 6),
        "each": each,
    }
    config = {k: v for k, v in first["config"].items() if k != "shard"}
    config["workers"] = sum(int(r["config"].get("workers") or 0) for _, r in ordered)
    merged = {k: v for k, v in first.items() if k not in ("session", "tasks", "config", "comparison", "created", "quarantined")}
    merged["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    quarantined = [e for _, res in ordered for e in res.get("quarantined") or []]  # each shard's own programs, in shard order
    if quarantined:
        merged["quarantined"] = quarantined
    return {**merged, "config": config, "session": session, "tasks": tasks}


def summary(merged: Dict[str, Any]) -> str:
    shards = merged["session"]["shards"]
    samples = sum(len(t.get("samples", [])) for t in merged["tasks"].values())
    state = "complete" if merged["session"]["complete"] else "incomplete"
    if shards["missing"]:
        n = shards["count"]
        state += " (shard(s) " + ", ".join(f"{i}/{n}" for i in shards["missing"]) + " missing)"
    return (f"merged {len(shards['merged'])} of {shards['count']} shard(s): {len(merged['tasks'])} task(s), {samples} samples, "
            f"{state}; wall {merged['session']['wall_s']:.2f}s (longest shard), {shards['wall_s_sum']:.2f}s summed")
