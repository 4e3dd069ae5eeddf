"""The sandboxed variants of end-to-end tests: ``--batt-sandbox`` where bubblewrap runs.

Debian's ``bubblewrap`` package (``.ci/install-sandbox``, which ``.ci/run`` calls). In CI (``CI``
set) a missing bwrap fails these tests (the plugin's one-line usage error says why); elsewhere
they are skipped, saying how to install it.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

MISSING = sys.platform != "linux" or shutil.which("bwrap") is None
needs_sandbox = pytest.mark.skipif(MISSING and not os.environ.get("CI"),
                                   reason="bubblewrap is not installed (run: bash .ci/install-sandbox); CI runs this test")
PLAIN = pytest.param([], id="plain")
SANDBOXED = pytest.param(["--batt-sandbox"], id="sandboxed", marks=needs_sandbox)
