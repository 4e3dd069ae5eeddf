"""Which mode a ``--batt`` run without ``-n`` takes: workers (``-n auto``), or this process when the
last run of the same command says workers would not pay for their start-up and shut-down.

Decided in ``pytest_cmdline_main``, before xdist turns ``-n`` into workers and before
``pytest_configure``, so before pytest's cache plugin has made ``config.cache``. The record is read
from the file where ``config.cache.set`` put it: ``<cache_dir>/v/<key>``, ``cache_dir`` resolved as
pytest documents its ini option (relative to the rootdir, ``~`` and environment variables
expanded). ``tests/test_mode.py`` checks that this is where ``config.cache`` keeps it: if pytest
moved it, the record would not be found and runs would keep their workers, nothing worse.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest

IN_PROCESS = pytest.StashKey[str]()  # why the run went in-process by itself (the header says it)


def cache_file(config: pytest.Config, key: str) -> Path:
    """Where ``config.cache.set(key, ...)`` writes, worked out before ``config.cache`` exists."""
    folder = os.path.expandvars(os.path.expanduser(str(config.getini("cache_dir"))))
    return Path(config.rootpath, folder, "v", *key.split("/"))


def auto_workers(config: pytest.Config) -> int:
    """How many workers ``-n auto`` would start (xdist's own hook, then ``--maxprocesses``)."""
    try:
        count = int(config.hook.pytest_xdist_auto_num_workers(config=config))
    except Exception:  # another plugin's implementation that fails: count as xdist's fallback does
        count = os.cpu_count() or 1
    most = config.getoption("maxprocesses", None)
    return min(count, most) if most else count


def choose(config: pytest.Config) -> Optional[str]:
    """Why this run should go in-process (None: use workers). Never raises: a run with unreadable
    settings or cache keeps its workers, and its configuration reports what is wrong."""
    if not config.pluginmanager.hasplugin("cacheprovider") or config.getoption("cacheclear", False):
        return None
    try:
        from . import lastrun, settings

        opts = settings.read(config.getoption, config.getini, str(config.invocation_params.dir))
        if opts.sandbox or opts.gpus != "none":  # workers asked for: the sandbox runs them, a GPU each
            return None
        runs = lastrun.cached(str(cache_file(config, lastrun.RUNS_KEY)))
        record = lastrun.record_of(runs, lastrun.command_key(opts))
        return lastrun.in_process(record, auto_workers(config))
    except Exception:  # anything here only means: no shortcut
        return None


def header_line(reason: str) -> str:
    return f"batt: in this process, not in workers: {reason} (-n auto uses workers anyway)"
