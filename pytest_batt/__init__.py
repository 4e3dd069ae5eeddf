"""pytest-batt: run ARC "batt" solver batteries as pytest items, in parallel, with Phase 3 scores.

Importing this package loads no pytest machinery; the plugin lives in
:mod:`pytest_batt.plugin` and is registered through the ``pytest11`` entry point.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
