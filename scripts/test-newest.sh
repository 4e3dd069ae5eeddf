#!/usr/bin/env bash
# Install the newest releases of pytest, pytest-xdist and pytest-timeout (past the project's
# upper bounds) into a throw-away venv and run the test suite, so that a break in a new
# release is seen here before users see it. Usage: scripts/test-newest.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${NEWEST_VENV:-.newest-venv}"
python3 -m venv --clear "$venv"
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e .
python -m pip install --quiet --upgrade --no-deps pytest pytest-xdist pytest-timeout execnet pluggy
python -m pip list 2>/dev/null | grep -Ei '^(pytest|pytest-xdist|pytest-timeout|execnet|pluggy) '
pytest "$@"
