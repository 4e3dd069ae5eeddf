"""``--batt-sandbox``: the xdist workers run inside bubblewrap (``bwrap``), the sandbox Flatpak uses.

Inside: a network namespace of its own (only a loopback of its own: no network), the whole file
system read-only, a private ``/tmp`` (and the temporary folder), the user's home, ``/run`` (its
sockets) and ``/var/tmp`` empty, and the task data and the run's results files hidden, while the
scratch folder (logs, hand-off notes) stays writable and what the worker must import (the
interpreter, the batt, its folder, pytest's rootdir) is bound back read-only where it was hidden.
The worker starts with no capabilities (a user namespace of its own), its own PID namespace and
session (no controlling terminal to type into) and an environment of known-harmless variables.

This module plans all that as bwrap arguments from plain paths (:func:`mounts`, :func:`argv`);
:mod:`pytest_batt.controller.sandboxing` gathers the paths and puts the command into each
worker's ``--tx`` spec, so that xdist starts every worker, replacements included, through it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

# Namespaces of its own. A user namespace even for root: in it --cap-drop ALL empties the bounding
# set too, so that nothing the batt executes gets capabilities back (root's bwrap keeps them all otherwise).
NAMESPACES = ("--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try")
# --new-session: no controlling terminal (TIOCSTI cannot type into the user's shell through stderr);
# --die-with-parent: the sandbox ends with the controller that started it.
PROCESS = ("--cap-drop", "ALL", "--new-session", "--die-with-parent")
# Set in the sandbox with a per-run value: a worker checks it, so that it never runs the batt unsandboxed.
MARK = "PYTEST_BATT_SANDBOX"

# The environment inside: only these names (and names with these prefixes) pass; the rest (API keys,
# tokens, cloud credentials) stays outside. ``--tx popen//env:NAME=VALUE`` sets more in the workers.
ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR",
    "PY_COLORS", "TMPDIR", "VIRTUAL_ENV", "CONDA_PREFIX", "LD_LIBRARY_PATH", "SOURCE_DATE_EPOCH", "CI",
})
ENV_PREFIXES = ("LC_", "PYTHON", "PYTEST_", "OMP_", "OPENBLAS_", "MKL_", "NUMEXPR_", "VECLIB_", "CUDA_")
PATH_LISTS = frozenset({"PATH", "PYTHONPATH", "LD_LIBRARY_PATH"})

PROBE_SECONDS = 15.0

# How a rule shows its path in the sandbox; a later (deeper, or at one path higher) rule wins.
EMPTY, SHOWN, ALLOWED, WRITABLE, SHOWN_IN_WRITABLE, SECRET = "empty", "shown", "allowed", "writable", "shown read-only", "secret"
_PRIORITY = {SHOWN: 0, EMPTY: 1, ALLOWED: 2, WRITABLE: 3, SHOWN_IN_WRITABLE: 4, SECRET: 5}


@dataclass(frozen=True)
class Layout:
    """What the sandbox shows, as absolute, normalised paths (symlinks resolved, except ``needed``'s own)."""

    temporary: Sequence[str]  # private and empty, writable up to TEMPORARY_MB: /tmp, the temporary folder, /var/tmp
    hidden: Sequence[str]  # empty: the home, /run (its sockets)
    needed: Sequence[str]  # bound back read-only inside a hidden folder (not the folder itself): interpreter, imports, cwd, the batt
    writable: Sequence[str]  # bound read-write: the scratch folder, the profile folder
    secret: Sequence[str]  # hidden wherever they are: the task data, results files, baselines
    read_only: Sequence[str] = field(default_factory=tuple)  # files inside a writable folder kept read-only (the selection)
    allowed: Sequence[str] = field(default_factory=tuple)  # --batt-sandbox-allow: bound back read-only, a hidden folder itself too
    devices: Sequence[str] = field(default_factory=tuple)  # device nodes bound in as they are (--batt-gpus: /dev/nvidia*)


# Each in-memory folder of the sandbox holds at most this (bubblewrap 0.7 or later, unprivileged):
# what a batt writes there is memory that --batt-max-memory does not count.
TEMPORARY_MB = 1024
HIDDEN_MB = 64


def _depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


def _under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it."""
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def mounts(layout: Layout, *, sized: bool = True, exists: Callable[[str], bool] = os.path.exists,
           isdir: Callable[[str], bool] = os.path.isdir, resolve: Callable[[str], str] = os.path.realpath) -> List[List[str]]:
    """bwrap's mount arguments for ``layout``, after ``--ro-bind / /``: the most specific rule wins.

    Every rule covers its path and what is under it; at one path the order is shown < empty <
    allowed < writable < read-only-in-writable < secret (so the home stays empty when it is the working
    folder, unless allowed).
    Rules that change nothing (a needed path already shown, a secret already hidden) and paths that
    do not exist are left out; the rest are applied parents first. A hidden folder is an empty tmpfs
    (``sized``: with ``--size``), a hidden file is ``/dev/null``, which cannot even be opened there
    (bubblewrap's mounts have no devices).
    """
    rules: Dict[Tuple[str, str], int] = {}
    for kind, paths, mb in ((EMPTY, layout.temporary, TEMPORARY_MB), (EMPTY, layout.hidden, HIDDEN_MB),
                            (SHOWN, layout.needed, 0), (WRITABLE, layout.writable, 0), (SECRET, layout.secret, HIDDEN_MB),
                            (SHOWN_IN_WRITABLE, layout.read_only, 0), (ALLOWED, layout.allowed, 0)):
        for p in paths:
            if exists(p):
                rules[(p, kind)] = max(mb, rules.get((p, kind), 0))
    ordered = sorted(rules, key=lambda r: (_depth(r[0]), _PRIORITY[r[1]]))
    states: List[str] = []  # what each rule's path shows once the rules up to it are applied
    out: List[List[str]] = []
    for i, (path, kind) in enumerate(ordered):
        above = next((states[j] for j in range(i - 1, -1, -1) if _under(path, ordered[j][0])), SHOWN)  # the read-only root
        hidden_above = above in (EMPTY, SECRET)
        state = above
        if kind in (SHOWN, ALLOWED):
            if hidden_above:
                out.append(["--ro-bind", resolve(path), path])
                state = SHOWN
        elif kind in (EMPTY, SECRET):
            if not hidden_above:
                if isdir(path):
                    out.append((["--size", str(rules[(path, kind)] * 2**20)] if sized else []) + ["--tmpfs", path])
                else:
                    out.append(["--ro-bind", "/dev/null", path])
            state = EMPTY
        elif kind == WRITABLE:
            out.append(["--bind", path, path])
            state = WRITABLE
        elif above == WRITABLE:  # SHOWN_IN_WRITABLE
            out.append(["--ro-bind", path, path])
            state = SHOWN
        states.append(state)
    return out


def importable(folder: str, names: Sequence[str], isdir: Callable[[str], bool] = os.path.isdir,
               exists: Callable[[str], bool] = os.path.exists) -> List[str]:
    """What of ``folder`` (a hidden folder itself: the home as the batt's folder) Python can import
    from: its modules and packages, never its dot-files (``.kaggle``, ``.ssh``) or other files."""
    out = []
    for name in names:
        path = os.path.join(folder, name)
        if name.startswith("."):
            continue
        if name.endswith((".py", ".pyc", ".so", ".pth")) or (isdir(path) and (exists(os.path.join(path, "__init__.py"))
                                                                          or name == "__pycache__")):
            out.append(path)
    return sorted(out)


def environment(env: Mapping[str, str]) -> Dict[str, str]:
    """The variables the sandbox passes on: :data:`ENV_NAMES` and :data:`ENV_PREFIXES`, nothing else.

    A value must fit in a ``--tx`` spec: path lists are written without empty or doubled ``/``;
    a variable whose value still holds ``//`` is left out.
    """
    out = {}
    for name, value in env.items():
        if name == MARK or not (name in ENV_NAMES or name.startswith(ENV_PREFIXES)):
            continue
        if name in PATH_LISTS:
            value = re.sub("/{2,}", "/", value)
        if "//" in name or "//" in value or "\0" in value:
            continue
        out[name] = value
    return out


def argv(bwrap: str, layout: Layout, env: Mapping[str, str], python: Sequence[str], mark: str,
         chdir: Optional[str] = None, sized: bool = True) -> List[str]:
    """The whole command: bwrap, its namespaces and mounts, the environment, then ``python`` (whose
    arguments xdist appends)."""
    args = [bwrap, *NAMESPACES, *PROCESS, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    if sized:  # --dev's /dev/shm is a folder of its /dev tmpfs, which holds up to half the memory
        args += ["--size", str(TEMPORARY_MB * 2**20), "--tmpfs", "/dev/shm"]
    for device in layout.devices:  # the new /dev has none but null, zero, random and the like
        args += ["--dev-bind", device, device]
    for m in mounts(layout, sized=sized):
        args += m
    args.append("--clearenv")
    for name, value in sorted(environment(env).items()):
        args += ["--setenv", name, value]
    args += ["--setenv", MARK, mark]
    if chdir:
        args += ["--chdir", chdir]
    return [*args, "--", *python]


def spec_value(command: Sequence[str]) -> str:
    """``command`` as xdist's ``python=`` part (execnet splits it as a shell would)."""
    return " ".join(shlex.quote(word) for word in command)


def shown_spec(spec: str) -> str:
    """A worker's spec as messages show it: the sandbox's long command as a few words."""
    from ..workerspecs import parts

    python = parts(spec).get("python", "")
    if f"--setenv {MARK} " not in python:
        return spec
    return spec.replace("python=" + python, "python=(inside --batt-sandbox)")


def where_missing(platform: str, bwrap: Optional[str]) -> Optional[str]:
    """Why this machine cannot sandbox at all, before trying (None: try it)."""
    if platform != "linux":
        return f"--batt-sandbox needs Linux and bubblewrap (bwrap); this system is {platform}: run without it, or on Linux"
    if bwrap is None:
        return ("--batt-sandbox needs bubblewrap: no 'bwrap' on PATH "
                "(Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)")
    return None


def probe(command: Sequence[str], timeout: float = PROBE_SECONDS) -> Optional[str]:
    """Start the sandbox once, running ``python -c pass`` in it: None when it works, else one line saying why."""
    try:
        done = subprocess.run([*command, "-c", "pass"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"--batt-sandbox: bwrap did not start a sandbox within {timeout:g} s"
    except OSError as e:
        return f"--batt-sandbox: cannot run {command[0]}: {e.strerror or e}"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    said = lines[0][:300] if lines else f"exit status {done.returncode}"
    if said.startswith("bwrap:"):
        if "namespace" in said or "uid map" in said or "Operation not permitted" in said:
            return f"--batt-sandbox: bubblewrap cannot create its namespaces here (user namespaces disabled?): {said}"
        return f"--batt-sandbox: bubblewrap failed: {said}"
    return f"--batt-sandbox: the worker's Python does not start inside the sandbox: {lines[-1][:300] if lines else said}"


def check_inside(mark: str, env: Mapping[str, str] = os.environ) -> Optional[str]:
    """In a worker: None when it runs in this run's sandbox, else why not (it then runs nothing)."""
    if env.get(MARK) == mark:
        return None
    return f"worker is not inside the sandbox that --batt-sandbox asked for (python: {sys.executable})"
