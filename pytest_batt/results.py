"""The results file: schema 1, written atomically, read back with one clear error when unusable."""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from typing import Any, Dict

from . import __version__

SCHEMA = 1


class ResultsError(ValueError):
    """A results file cannot be read or is not schema 1; the message names the file."""


def machine_info() -> Dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count() or 1,
    }


def header(*, batt_module: str, batt_sha256: str, data_name: str, data_sha256: str, timeout_s: float, workers: int) -> Dict[str, Any]:
    """Everything but the session and tasks, which are known only at the end of a run."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "pytest-batt", "version": __version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "batt": {"module": batt_module, "sha256": batt_sha256},
        "data": {"name": data_name, "sha256": data_sha256},
        "config": {"timeout_s": timeout_s, "workers": workers},
    }


def write(path: str, results: Dict[str, Any]) -> None:
    """Write to a temporary file beside ``path`` and rename it, so readers never see half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".batt-", suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(f"{path}: not a pytest-batt results file of schema {SCHEMA} (schema: {found!r})")
    for key in ("batt", "data", "config", "session", "tasks"):
        if not isinstance(data.get(key), dict):
            raise ResultsError(f"{path}: results file has no {key!r} object")
    return data
