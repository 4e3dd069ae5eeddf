"""Reference batt: a small generic ARC solver library used as an example batt.

``batt`` follows the pytest-batt contract; ``dsl`` holds grid primitives,
``solvers`` the candidate programs and ``differs`` the difference measures.
"""
from __future__ import annotations

from .batt import batt, candidates

__all__ = ["batt", "candidates"]
