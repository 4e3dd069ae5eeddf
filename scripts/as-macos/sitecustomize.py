"""macOS's refusal of address-space limits, played on Linux (scripts/as-macos.sh puts this folder on PYTHONPATH).

On macOS, Python's ``resource.setrlimit(RLIMIT_AS, ...)`` fails with ``ValueError: current limit
exceeds maximum limit`` (the kernel neither accepts nor enforces the limit). Python imports
``sitecustomize`` at start-up in every process that has this folder on its path: the pytest
process, xdist's workers and their children alike. Nothing else is changed.
"""

import resource

_setrlimit = resource.setrlimit


def _as_on_macos(which, limits):
    if which == resource.RLIMIT_AS:
        raise ValueError("current limit exceeds maximum limit")
    return _setrlimit(which, limits)


resource.setrlimit = _as_on_macos
