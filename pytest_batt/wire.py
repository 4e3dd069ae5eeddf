"""A batt item's test report between an xdist worker and the controller, as one JSON string.

xdist sends each report as the dict pytest's ``pytest_report_to_serializable`` makes (location,
keywords, outcome, sections, times, the record...), through execnet, whose serializer walks every
object of it in pure Python on both sides: ~45 us to write and ~40 us to read a passing phase's
report on this machine, three reports a sample. Packed, the same dict is one string made and read
by the C JSON codec: execnet copies it as bytes. The controller unpacks it before pytest rebuilds
the report (its own ``pytest_report_from_serializable``), so every reader of the report (terminal,
junitxml, ``--lf``, ``-x``, xdist's crash handling) sees the report it would have seen.

Only reports whose every value survives JSON as it is are packed: the keys below whose tuples are
rebuilt, and otherwise strings, numbers, booleans and None (a failure's structured traceback, a
plugin's own property, anything else: sent as xdist sends it). No pytest here.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional

KEY = "batt_wire"  # the packed report's one key (xdist adds its own beside it: item_index, worker_id, ...)
_SCALARS = (str, int, float, bool, type(None))
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=True).encode


def _scalar(value: Any) -> bool:
    return isinstance(value, _SCALARS)


def _pairs(value: Any, second: Any = _scalar) -> bool:
    """A list of 2-tuples of a string and a value ``second`` accepts (sections, user properties)."""
    return isinstance(value, list) and all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and second(p[1]) for p in value)


def _fits(key: str, value: Any) -> bool:
    if key == "location":
        return isinstance(value, tuple) and len(value) == 3 and all(map(_scalar, value))
    if key == "keywords":
        return isinstance(value, dict) and all(isinstance(k, str) and _scalar(v) for k, v in value.items())
    if key == "sections":
        return _pairs(value, lambda text: isinstance(text, str))
    if key == "user_properties":
        return _pairs(value)
    return _scalar(value)  # longrepr included: None or its text; a structured traceback is not packed


def pack(data: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The serialized report as ``{KEY: json}``, or None when some value would not come back as it is."""
    if not all(isinstance(k, str) and _fits(k, v) for k, v in data.items()):
        return None
    try:
        return {KEY: _dumps(data)}
    except (TypeError, ValueError):  # a str subclass that misbehaves, a number JSON refuses
        return None


def unpack(data: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The serialized report ``pack`` took, with the keys sent beside it; None for any other data."""
    text = data.get(KEY) if isinstance(data, Mapping) else None
    if not isinstance(text, str):
        return None
    report: Dict[str, Any] = json.loads(text)
    if isinstance(report.get("location"), list):
        report["location"] = tuple(report["location"])
    for key in ("sections", "user_properties"):
        if isinstance(report.get(key), list):
            report[key] = [tuple(p) for p in report[key]]
    report.update((k, v) for k, v in data.items() if k != KEY)
    return report
