"""Sample names and pytest node ids, built here only: ``demo[0]``, ``batt/<task>``, ``batt/<task>::test[1]``.

Items get these ids; ``--lf``, ``--deselect``, a baseline's statuses, a resumed file and a
comparison's lists name samples by them, so all of them must spell an id the same way.
"""

from __future__ import annotations

PREFIX = "batt/"


def sample_name(kind: str, index: int) -> str:
    """``demo[0]``, ``test[1]``: a sample's item name (pytest reads it as a name with parameters)."""
    return f"{kind}[{index}]"


def task_nodeid(task_id: str) -> str:
    return PREFIX + task_id


def item_nodeid(task_id: str, name: str) -> str:
    """The node id of an item of the task: a sample's (``name`` from :func:`sample_name`), or ``task``
    for a task whose samples cannot even be counted."""
    return f"{task_nodeid(task_id)}::{name}"


def sample_nodeid(task_id: str, kind: str, index: int) -> str:
    return item_nodeid(task_id, sample_name(kind, index))
