"""Print ``name==version`` for each of the project's dependencies: the lowest release its bounds allow.

Read from ``[project].dependencies`` in pyproject.toml and resolved from the package index (``pip
index versions``, wheels for the running Python only, no pre-releases, no yanked releases), never
typed by hand, so a floor in pyproject.toml that nothing installs or no test passes on is seen.
Only the direct dependencies are pinned ("lowest-direct"): pip resolves the rest as a user's
install would. Usage: python scripts/floors.py [pyproject.toml] > floors.txt
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from typing import List

from packaging.requirements import Requirement
from packaging.version import Version


def releases(name: str) -> List[Version]:
    """Every final release of ``name`` with a wheel this Python can install."""
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name, "--json", "--only-binary=:all:"],
                         check=True, capture_output=True, text=True).stdout
    return [Version(v) for v in json.loads(out)["versions"]]


def lowest(requirement: Requirement, available: List[Version]) -> Version:
    allowed = [v for v in available if requirement.specifier.contains(v, prereleases=False)]
    if not allowed:
        raise SystemExit(f"no release of {requirement.name} with a wheel for this Python satisfies {requirement}")
    return min(allowed)


def main(path: str = "pyproject.toml") -> None:
    with open(path, "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    for line in dependencies:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not installed on this Python or platform
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        print(f"{requirement.name}{extras}=={lowest(requirement, releases(requirement.name))}")


if __name__ == "__main__":
    main(*sys.argv[1:])
