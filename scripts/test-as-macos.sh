#!/usr/bin/env bash
# pytest-batt as on macOS, played on this Linux machine (scripts/as-macos.sh: RLIMIT_AS refused and
# no /proc): the quick start passes with -n 2 and -n 0 and its header says the memory limit is off;
# --batt-max-memory 500 is one usage line there, and a clean run under the watchdog's resident limit
# where psutil can read memory (RLIMIT_AS refused, /proc kept); a batt that forks a child sleeping
# 60 s ends in seconds; the isolation tests pass or skip, each skip saying why.
# Usage: scripts/test-as-macos.sh   (in the venv the project is installed in; root or user namespaces)
set -euo pipefail
cd "$(dirname "$0")/.."
play=scripts/as-macos.sh
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "as macOS: $*"; exit 1; }

for n in 2 0; do
  echo "-- quick start, -n $n: pytest --batt 007bbfb7"
  $play pytest --batt 007bbfb7 -n "$n" -p no:cacheprovider > "$tmp/quick.log" 2>&1 || { cat "$tmp/quick.log"; fail "quick start -n $n failed"; }
  grep "^batt: memory limit" "$tmp/quick.log"
  tail -n 1 "$tmp/quick.log"
  grep -q "^batt: memory limit: off (" "$tmp/quick.log" || fail "the header does not say the memory limit is off"
  tail -n 1 "$tmp/quick.log" | grep -q " 6 passed" || fail "not 6 passed"
done
echo "-- quick start with -q (pytest shows no header): the line saying what is off is still there"
$play pytest --batt 007bbfb7 -q -p no:cacheprovider > "$tmp/quick.log" 2>&1 || { cat "$tmp/quick.log"; fail "quick start -q failed"; }
grep -q "^batt: memory limit: off (" "$tmp/quick.log" || fail "with -q the memory limit's state is not said"

echo "-- --batt-max-memory 500: one usage line where nothing can keep it"
status=0
$play pytest --batt 007bbfb7 -n 2 --batt-max-memory 500 -p no:cacheprovider > "$tmp/limit.log" 2>&1 || status=$?
cat "$tmp/limit.log"
[ "$status" -eq 4 ] && [ "$(grep -c . "$tmp/limit.log")" -eq 1 ] || fail "expected one usage line and exit 4, got exit $status"
echo "-- --batt-max-memory 500 with /proc kept: the watchdog keeps a resident limit"
$play --keep-proc pytest --batt 007bbfb7 -n 2 --batt-max-memory 500 -p no:cacheprovider > "$tmp/limit.log" 2>&1 || { cat "$tmp/limit.log"; fail "the resident limit run failed"; }
grep "^batt: memory limit" "$tmp/limit.log"
tail -n 1 "$tmp/limit.log"
grep -q "^batt: memory limit: 500 MB resident" "$tmp/limit.log" || fail "the header does not name the resident limit"

echo "-- a batt that forks a child sleeping 60 s, -n 2 and -n 0 (its output through a pipe, as here)"
mkdir -p "$tmp/tasks"
echo '{"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[6, 7]], "output": [[7, 6]]}]}' > "$tmp/tasks/flip0001.json"
cat > "$tmp/forker.py" <<'PY'
import os, time

def batt(task_id, S, I, C, log_path):
    if C is None and I == ((6, 7),) and os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    return [(1, 0, "flip", tuple(row[::-1] for row in I))], []
PY
for n in 2 0; do
  start=$SECONDS
  out="$($play pytest --batt flip0001 --batt-data "$tmp/tasks" --batt-module "$tmp/forker.py" -n "$n" -p no:cacheprovider \
         --batt-json "$tmp/forker.json" 2>&1 | cat)"
  took=$((SECONDS - start))
  echo "$out" | tail -n 1
  echo "   -n $n took ${took}s"
  [ "$took" -lt 20 ] || fail "the forked child held the run for ${took}s"
  echo "$out" | tail -n 1 | grep -q " 2 passed" || fail "the forker run did not pass"
  grep -o "the batt left 1 process(es) running; they were ended" "$tmp/forker.json" || fail "the forked child was not ended"
done

echo "-- isolation tests (test_hostile*.py stay out: their memory faults need RLIMIT_AS, and a process started"
echo "   by exec cannot be found without a process list, which the play hides from psutil as macOS does not)"
$play pytest -n 2 -p no:cacheprovider -rs tests/test_capabilities.py tests/test_as_macos.py tests/test_watchdog.py \
  tests/test_runner.py tests/test_handoff.py tests/test_inside_sample.py
