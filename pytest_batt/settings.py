"""The ``--batt-*`` options and their ini twins, read once into a plain, validated object.

Their help texts, defaults and value checks live in the light :mod:`pytest_batt.options`; this
module is imported only by runs that use ``--batt`` (and the ``pytest-batt`` command).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .options import DEFAULT_DATA, DEFAULT_ENTRIES, DEFAULT_GRACE, DEFAULT_GRID_FORM, DEFAULT_MODULE, DEFAULT_TIMEOUT
from .options import entry_names, grid_form, megabytes_or_off, nonnegative_minutes, nonnegative_seconds, positive_minutes
from .options import gpus_choice, positive_seconds, shard_spec


@dataclass(frozen=True)
class Settings:
    tasks: List[str]
    data: str
    module: str
    timeout: float
    grace: float
    json_path: Optional[str]
    base_dir: str
    max_memory: Optional[float] = None
    save_path: Optional[str] = None
    compare_path: Optional[str] = None
    compare_fail: Tuple[str, ...] = ()
    compare_any: bool = False
    resume_path: Optional[str] = None
    resume_retry: bool = False
    checkpoint_minutes: Optional[float] = None
    progress_minutes: float = 3.0
    shard: Optional[Tuple[int, int]] = None
    durations_path: Optional[str] = None
    html_path: Optional[str] = None
    submission_path: Optional[str] = None
    programs: Optional[str] = None  # --batt-programs: a library instead of a batt module
    entries: str = DEFAULT_ENTRIES
    programs_map: Optional[str] = None
    grid_form: str = DEFAULT_GRID_FORM
    program_timeout: Optional[float] = None
    profile_dir: Optional[str] = None  # absolute: workers on this host write there too
    keep_partial: bool = False
    sandbox: bool = False  # --batt-sandbox: the workers run inside bubblewrap
    sandbox_allow: Tuple[str, ...] = ()  # absolute paths bound back into it
    sandbox_token: str = ""  # set by the controller once the sandbox is in the workers' specs: they check it
    gpus: str = "none"  # --batt-gpus: auto, none or a comma-separated list of device ids (gpus.parse_choice)

    @property
    def active(self) -> bool:
        return bool(self.tasks)

    @property
    def source(self) -> str:
        """What the run's candidates come from, as the header and the results file name it."""
        return f"programs:{self.programs}" if self.programs else self.module


def read(getoption: Any, getini: Any, base_dir: str) -> Settings:
    """Command line first, then the ini file, then the default; ini values are validated here."""

    def pick(name: str, default: Any, conv: Any = None) -> Any:
        value = getoption(name)
        if value is not None:
            return value
        raw = getini(name)
        if raw in (None, "", []):
            return default
        if conv is None:
            return raw
        try:
            return conv(str(raw))
        except argparse.ArgumentTypeError as e:
            raise ValueError(f"ini option {name}: {e}") from None

    module, programs = _module_or_programs(getoption, getini)
    json_path = pick("batt_json", None)
    save_path = pick("batt_save", None)
    compare_path = pick("batt_compare", None)
    durations_path = pick("batt_durations", None)
    here: Callable[[Optional[str]], Optional[str]] = lambda p: os.path.join(base_dir, p) if p else None  # noqa: E731
    return Settings(
        tasks=list(getoption("batt") or []),
        data=pick("batt_data", DEFAULT_DATA),
        module=module or DEFAULT_MODULE,
        timeout=pick("batt_timeout", DEFAULT_TIMEOUT, positive_seconds),
        grace=pick("batt_grace", DEFAULT_GRACE, nonnegative_seconds),
        json_path=here(json_path),
        base_dir=base_dir,
        max_memory=pick("batt_max_memory", None, megabytes_or_off),  # None: the default (isolation.memory), 0: off
        save_path=here(save_path),
        compare_path=here(compare_path),
        compare_fail=tuple(pick("batt_compare_fail", [])),
        compare_any=bool(getoption("batt_compare_any") or getini("batt_compare_any")),
        resume_path=here(pick("batt_resume", None)),
        resume_retry=bool(getoption("batt_resume_retry") or getini("batt_resume_retry")),
        checkpoint_minutes=pick("batt_checkpoint", None, positive_minutes),
        progress_minutes=pick("batt_progress", 3.0, nonnegative_minutes),
        shard=pick("batt_shard", None, shard_spec),
        durations_path=here(durations_path),
        html_path=here(pick("batt_html", None)),
        submission_path=here(pick("batt_submission", None)),
        programs=programs,
        **_library_options(pick, programs),
        profile_dir=here(pick("batt_profile", None)),
        keep_partial=bool(getoption("batt_keep_partial") or getini("batt_keep_partial")),
        **_sandbox_options(getoption, getini, pick, base_dir),
        gpus=pick("batt_gpus", "none", gpus_choice),
    )


def _sandbox_options(getoption: Any, getini: Any, pick: Callable[..., Any], base_dir: str) -> Dict[str, Any]:
    """--batt-sandbox and the paths it binds back (which must exist); the paths without it are a usage error."""
    on = bool(getoption("batt_sandbox") or getini("batt_sandbox"))
    allow = []
    for value in pick("batt_sandbox_allow", []):
        path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
        if not os.path.exists(path):
            raise ValueError(f"--batt-sandbox-allow {value}: no such file or directory")
        allow.append(path)
    if allow and not on:
        raise ValueError("--batt-sandbox-allow needs --batt-sandbox (it says what the sandbox shows)")
    return {"sandbox": on, "sandbox_allow": tuple(allow)}


def _module_or_programs(getoption: Any, getini: Any) -> Tuple[Optional[str], Optional[str]]:
    """--batt-module or --batt-programs, never both: the command line beats the ini file, as for every option."""
    cli = getoption("batt_module"), getoption("batt_programs")
    if all(cli):
        raise ValueError("--batt-module and --batt-programs exclude each other: a run has a batt or a library of programs")
    if any(cli):
        return cli
    ini = getini("batt_module") or None, getini("batt_programs") or None
    if all(ini):
        raise ValueError("ini options batt_module and batt_programs exclude each other: keep one")
    return ini


def _library_options(pick: Callable[..., Any], programs: Optional[str]) -> Dict[str, Any]:
    """The --batt-programs companions; given without it they are a usage error, not silently unused."""
    values = {
        "entries": pick("batt_entry", None, entry_names),
        "programs_map": pick("batt_programs_map", None),
        "grid_form": pick("batt_grid_form", None, grid_form),
        "program_timeout": pick("batt_program_timeout", None, positive_seconds),
    }
    if not programs:
        given = [name for name, value in values.items() if value is not None]
        if given:
            option = {"entries": "--batt-entry", "programs_map": "--batt-programs-map", "grid_form": "--batt-grid-form",
                      "program_timeout": "--batt-program-timeout"}[given[0]]
            raise ValueError(f"{option} needs --batt-programs PATH (it says how to run a library of programs)")
        return {}
    return {
        "entries": values["entries"] or DEFAULT_ENTRIES,
        "programs_map": values["programs_map"],
        "grid_form": values["grid_form"] or DEFAULT_GRID_FORM,
        "program_timeout": values["program_timeout"],
    }


def for_workers(settings: Settings, task_ids: Sequence[str]) -> Dict[str, Any]:
    """What the controller resolved (its command line *and* its ini file), for ``workerinput``.

    A worker with another working directory (``--tx ...//chdir=DIR``, another host) does not
    read the controller's ini file, and must not choose its own shard: it gets the values and
    the task ids from here. Paths to data and module stay as given, resolved on the worker's side.
    """
    sent = asdict(replace(settings, tasks=[",".join(task_ids)], json_path=None, save_path=None,
                          compare_path=None, compare_fail=(), durations_path=None, shard=None,
                          resume_path=None, resume_retry=False, checkpoint_minutes=None))
    sent["compare_fail"] = []
    return sent


def from_controller(sent: Dict[str, Any], base_dir: str) -> Settings:
    """The worker's side of :func:`for_workers`: the controller's values, this worker's directory."""
    return Settings(**{**sent, "base_dir": base_dir, "compare_fail": tuple(sent.get("compare_fail") or ())})
