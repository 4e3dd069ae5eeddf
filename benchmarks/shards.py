"""Shards on all 800 ARC-AGI-1 tasks, from the committed baselines (no batt is run):

    python benchmarks/shards.py            # prints the tables of docs/ci.md

1. Balance of ``--batt-shard``'s split (longest shard / mean shard) for N = 2..32, measured with
   the reference batt's per-task seconds: split by those seconds (``--batt-durations``), by the
   sample-count-and-grid-size estimate (no durations), and a naive contiguous split for scale.
2. Results-file size and merge time: the two baselines are cut into the shard files that
   ``pytest --batt all --batt-data arcagi1 --batt-shard K/N --batt-json ...`` writes (same
   tasks, scores and header fields), merged with ``python -m pytest_batt merge``, timed as a
   process, and checked equal to the single file (all 800 tasks).
3. Memory while writing it: a process holding the 800 tasks' results, as the controller does at
   the end of a run, writes the file; its RSS before and its peak while writing (Linux).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pytest_batt import results, sharding  # noqa: E402
from pytest_batt.tasks import load_taskset  # noqa: E402

BASELINES = [os.path.join(HERE, "..", "baselines", f"reference-arcagi1-{half}.json.gz") for half in ("training", "evaluation")]


def whole() -> Dict[str, Any]:
    """The single-run results file of all 800 tasks (``--batt all --batt-data arcagi1``), from the two halves."""
    halves = [results.read(p) for p in BASELINES]
    taskset = load_taskset("arcagi1")
    selection = taskset.ids()
    tasks = {**halves[0]["tasks"], **halves[1]["tasks"]}
    out = copy.deepcopy({k: v for k, v in halves[0].items() if k != "tasks"})
    out["data"] = {"name": "arcagi1", "sha256": taskset.content_hash(selection)}
    out["tasks"] = {tid: tasks[tid] for tid in selection}
    out["session"] = {k: round(halves[0]["session"][k] + halves[1]["session"][k], 6) for k in ("wall_s", "item_s")}
    out["session"]["complete"] = True
    return out


def balance_table(res: Dict[str, Any]) -> List[str]:
    taskset = load_taskset("arcagi1")
    ids = list(res["tasks"])
    seconds = sharding.durations_from(res)
    estimates = {t: sharding.size_estimate(taskset.raw[t]) for t in ids}
    rows = ["| shards N | by seconds (`--batt-durations`) | by sample count and grid size | contiguous (for scale) | mean shard |",
            "|---|---|---|---|---|"]
    for n in (2, 4, 8, 16, 32):
        by_time = sharding.split(sharding.weights(ids, estimates, seconds), n)
        by_size = sharding.split(sharding.weights(ids, estimates), n)
        size = -(-len(ids) // n)
        contiguous = [ids[i:i + size] for i in range(0, len(ids), size)]
        b = [sharding.balance(seconds, s) for s in (by_time, by_size, contiguous)]
        rows.append(f"| {n} | {b[0]:.3f} | {b[1]:.3f} | {b[2]:.3f} | {sum(seconds.values()) / n:.0f} s |")
    return rows


def shard_files(res: Dict[str, Any], n: int, directory: str) -> List[str]:
    taskset = load_taskset("arcagi1")
    ids = list(res["tasks"])
    estimates = {t: sharding.size_estimate(taskset.raw[t]) for t in ids}
    paths = []
    for k in range(1, n + 1):
        shard = sharding.plan(ids, (k, n), estimates, sharding.durations_from(res), "baselines")
        part = copy.deepcopy({key: v for key, v in res.items() if key != "tasks"})
        part["config"]["shard"] = shard.to_json()
        part["tasks"] = {t: res["tasks"][t] for t in shard.task_ids}
        part["session"] = {"wall_s": 1.0, "item_s": 1.0, "process_s": 1.0, "complete": True}
        path = os.path.join(directory, f"shard-{k}.json")
        results.write(path, part)
        paths.append(path)
    return paths


# `python -m pytest_batt merge ...` that also reports its own peak RSS (kB) on stderr.
MERGE = ("import resource, sys; from pytest_batt.__main__ import main; rc = main(sys.argv[1:]); "
         "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")


def merge_table(res: Dict[str, Any]) -> List[str]:
    rows = ["| shards | output | merged file | `merge` wall | `merge` peak RSS |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        single = os.path.join(d, "single.json")
        results.write(single, res)
        results.write(single + ".gz", res)
        for n in (2, 8):
            paths = shard_files(res, n, d)
            for out in ("all.json", "all.json.gz"):
                target = os.path.join(d, out)
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-c", MERGE, "merge", *paths, "-o", target],
                                      check=True, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                rss = int(proc.stderr.split("maxrss ")[1])
                merged = results.read(target)
                strip = lambda r: {k: r[k] for k in ("tasks", "data", "batt")}  # noqa: E731
                assert strip(merged) == strip(res) and list(merged["tasks"]) == list(res["tasks"]), "merged differs from the single file"
                rows.append(f"| {n} | `{out}` | {os.path.getsize(target) / 1e6:.1f} MB | {wall:.1f} s | {rss / 1024:.0f} MB |")
        rows.append(f"| (single run) | `single.json` / `.gz` | {os.path.getsize(single) / 1e6:.1f} MB / "
                    f"{os.path.getsize(single + '.gz') / 1e6:.1f} MB | | |")
    return rows


# Hold the results as a controller does, then write them: RSS before, and the peak while writing
# (the high-water mark is reset first, through /proc/self/clear_refs).
WRITE = """
import json, gzip, sys, time
from pytest_batt import results
res = results.read(sys.argv[1])
def kb(field):
    return int(next(l for l in open('/proc/self/status') if l.startswith(field)).split()[1])
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')
held = kb('VmRSS:')
t0 = time.perf_counter()
if sys.argv[3] == 'one-shot':  # what results.write did before: the whole text as one string, then bytes
    text = json.dumps(res, separators=(',', ':')) + '\\n'
    data = gzip.compress(text.encode(), 6, mtime=0) if sys.argv[2].endswith('.gz') else text.encode()
    open(sys.argv[2], 'wb').write(data)
else:
    results.write(sys.argv[2], res)
print(held, kb('VmHWM:'), time.perf_counter() - t0)
"""


def write_table(res: Dict[str, Any]) -> List[str]:
    rows = ["| writer | file | results held (RSS) | peak while writing | extra | write time |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        single = os.path.join(d, "single.json.gz")
        results.write(single, res)
        for how in ("one-shot", "results.write"):
            for out in ("out.json", "out.json.gz"):
                proc = subprocess.run([sys.executable, "-c", WRITE, single, os.path.join(d, out), how],
                                      check=True, capture_output=True, text=True)
                held, peak, secs = proc.stdout.split()
                rows.append(f"| {how} | `{out}` | {int(held) / 1024:.0f} MB | {int(peak) / 1024:.0f} MB | "
                            f"{(int(peak) - int(held)) / 1024:.0f} MB | {float(secs):.1f} s |")
    return rows


if __name__ == "__main__":
    res = whole()
    print(f"{len(res['tasks'])} tasks, {sum(sharding.durations_from(res).values()):.0f} s of batt time summed\n")
    print("\n".join(balance_table(res)))
    print()
    print("\n".join(merge_table(res)))
    print()
    print("\n".join(write_table(res)))
