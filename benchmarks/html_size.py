"""How big the --batt-html report of all 800 ARC-AGI-1 tasks is, and how fast Chromium opens it.

Records are made the way workers make them (two candidates per sample: the input and its
mirror image), judged and kept by the controller's own code, so every unsolved sample has its
closest candidates and every test sample its two attempts: a report at least as full as a real
run's. Needs chromium (bash .ci/install-browser).

    python benchmarks/html_size.py [--data arcagi1] [--out /tmp/batt-800.html]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from browser import Browser, find_chromium

from pytest_batt import grids, outputs, records, results
from pytest_batt.battrun import BattRun
from pytest_batt.tasks import load_taskset


def record(task_id: str, kind: str, index: int, inp: grids.Grid) -> dict:
    flipped = tuple(row[::-1] for row in inp)
    cands = [("identity", inp), ("mirror", flipped)]
    rec = records.new_record(task_id, kind, index, calls=2, seconds=0.5)
    rec.update(candidates=2, cpu_seconds=0.5, d={}, differ_last_t={}, cands=[[sid, grids.fingerprint(g), 1] for sid, g in cands])
    if kind == "test":
        rec["grids"] = {grids.fingerprint(g): grids.encode(g) for _, g in cands}
    else:  # a worker's closest candidates for an unsolved demo
        rec["show"] = [[sid, grids.encode(g)] for sid, g in cands]
    return rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="arcagi1")
    ap.add_argument("--out", default="/tmp/batt-800.html")
    args = ap.parse_args()
    taskset = load_taskset(args.data)
    ids = taskset.ids()
    run = BattRun(taskset, ids)
    for nodeid, (tid, kind, index) in run.plan.items():
        inp, _ = run.sample_grids(nodeid)
        run.add(nodeid, record(tid, kind, index, inp))
    head = results.header(batt_module="synthetic", batt_sha256="-", data_name=args.data, data_sha256="-", timeout_s=10, workers=2)
    res = run.results(head, interrupted=False)
    t0 = time.perf_counter()
    note = outputs.write_html(args.out, run, res)
    print(f"{len(ids)} tasks, {len(run.plan)} samples: {note}; built in {time.perf_counter() - t0:.2f}s")
    browser = Browser(find_chromium())
    try:
        browser.open("about:blank")
        t0 = time.perf_counter()
        browser.send("Page.navigate", {"url": "file://" + os.path.abspath(args.out)})
        while browser.eval("document.readyState") != "complete" or not browser.eval("typeof DATA === 'object'"):
            time.sleep(0.01)
        print(f"open (navigate to load, data parsed): {time.perf_counter() - t0:.2f}s")
        cells = lambda t: sum(len(p["input"]) * len(p["input"][0]) for p in taskset.raw[t]["train"] + taskset.raw[t]["test"])  # noqa: E731
        big = max(ids, key=cells)
        t0 = time.perf_counter()
        browser.click(f'tbody[data-id="{big}"] tr.row')
        n = browser.eval(f"document.querySelectorAll('tbody[data-id=\"{big}\"] .g i').length")
        print(f"open task {big} ({n} cells drawn): {time.perf_counter() - t0:.2f}s")
        t0 = time.perf_counter()
        browser.click("#hide-solved")
        shown = browser.eval("document.getElementById('shown').textContent")
        print(f"filter: {shown} in {time.perf_counter() - t0:.2f}s")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
