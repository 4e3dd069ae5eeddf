"""Refresh the committed baselines of the reference batt. Run it after changing the reference
batt, check the comparison it prints, and commit the files with the change.

    python baselines/refresh.py          # the CI gate's set: about a minute on 2 cores
    python baselines/refresh.py --full   # also both halves of ARC-AGI-1 (several minutes each)

The CI gate's set: 52 quick ARC-AGI-1 training tasks, 36 that the reference batt solves
(pass@2) and 16 it does not; `.ci/gate` reads the task ids back from the baseline file.
The files are gzipped JSON (results files of schema 1; `pytest_batt.results.read` reads them).
"""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CI_TASKS = [
    "00d62c1b", "025d127b", "08ed6ac7", "0a938d79", "0d3d703e", "10fcaaa3", "1c786137", "1caeab9d",
    "1cf80156", "1e0a9b12", "1e32b0e9", "23581191", "25d8a9c8", "25ff71a9", "27a28665", "2dc579da",
    "36d67576", "3906de3d", "4258a5f9", "44f52bb0", "4522001f", "46442a0e", "5582e5ca", "67e8384a",
    "6d75e8bb", "6f8cd79b", "7468f01a", "7fe24cdd", "8e5a5113", "91413438", "995c5fa3", "b190f7f5",
    "b94a9452", "bc1d5164", "be94b721", "c1d99e64", "c3f564a4", "c9e6f938", "cce03e0d", "ce22a75a",
    "ce602527", "d0f5fe59", "d364b489", "d406998b", "d631b094", "d90796e8", "dae9d2b5", "dc0a314f",
    "e9614598", "e9afcf9a", "f25fbde4", "fafffa47",
]
RUNS = {
    "ci-reference.json.gz": ["--batt", ",".join(CI_TASKS), "--batt-data", "arcagi1-training", "-n", "2"],
    "reference-arcagi1-training.json.gz": ["--batt", "all", "--batt-data", "arcagi1-training", "-n", "auto"],
    "reference-arcagi1-evaluation.json.gz": ["--batt", "all", "--batt-data", "arcagi1-evaluation", "-n", "auto"],
}


def refresh(name: str) -> None:
    path = os.path.join(HERE, name)
    args = [sys.executable, "-m", "pytest", *RUNS[name], "-q", "-p", "no:cacheprovider", "--batt-save", path]
    if os.path.exists(path):
        args += ["--batt-compare", path]  # print what changed against the old baseline
    print("$", " ".join(args[1:]), flush=True)
    code = subprocess.call(args, cwd=os.path.dirname(HERE))
    if code not in (0, 1):  # 1 only means some samples are unsolved
        sys.exit(f"pytest exited with {code}; {name} was not refreshed")


if __name__ == "__main__":
    names = list(RUNS) if "--full" in sys.argv[1:] else ["ci-reference.json.gz"]
    for name in names:
        refresh(name)
