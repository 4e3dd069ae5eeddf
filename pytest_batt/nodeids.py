"""Sample names and pytest node ids, built here only: ``demo[0]``, ``batt/<task>``, ``batt/<task>::test[1]``.

Items get these ids; ``--lf``, ``--deselect``, a baseline's statuses, a resumed file and a
comparison's lists name samples by them, so all of them must spell an id the same way.

A task id comes from the data (a Kaggle file's keys can be anything): inside a node id it is
written as pytest writes its parametrize ids (:func:`visible.ascii_id`: printable ASCII, the rest
escaped), so no id can carry a control character to the terminal or into junit XML. The raw id
stays the task's key everywhere else (the batt's argument, the results file): go back from a
node id to it through the plan that built the id (``battrun.BattRun.plan``, ``.task_nodes``),
never by cutting the id apart.
"""

from __future__ import annotations

from .visible import ascii_id

PREFIX = "batt/"


def sample_name(kind: str, index: int) -> str:
    """``demo[0]``, ``test[1]``: a sample's item name (pytest reads it as a name with parameters)."""
    return f"{kind}[{index}]"


def task_name(task_id: str) -> str:
    """The task's name in node ids and wherever a task is shown (its collector's name, for ``-k``)."""
    return ascii_id(task_id)


def task_nodeid(task_id: str) -> str:
    return PREFIX + task_name(task_id)


def item_nodeid(task_id: str, name: str) -> str:
    """The node id of an item of the task: a sample's (``name`` from :func:`sample_name`), or ``task``
    for a task whose samples cannot even be counted."""
    return f"{task_nodeid(task_id)}::{name}"


def sample_nodeid(task_id: str, kind: str, index: int) -> str:
    return item_nodeid(task_id, sample_name(kind, index))



def shown(nodeid: str) -> str:
    """A node id as failure headers show it (the item's ``reportinfo``): without the ``batt/`` prefix."""
    return nodeid[len(PREFIX):] if nodeid.startswith(PREFIX) else nodeid
