"""Give a ``--batt`` run the rootdir and ini file of its real test paths.

pytest picks the rootdir and the ini file from the command line before it loads plugins, so the
value of ``--batt-module /elsewhere/batt.py`` (or ``--batt-data DIR``) counts as a path to test:
the rootdir moves there, node ids print as ``../batt/...`` and the project's ini file (its
``addopts``, its ``batt_*`` keys) is not read. :func:`reroot` makes that choice again, from the
paths left once the options are parsed, in ``pytest_load_initial_conftests``: that hook gets the
very argument list pytest parses completely afterwards, so the right ini file's ``addopts`` can
take the place of the wrong one's there, as pytest itself puts them in front.

pytest offers no public way to do this. Every private name of pytest this project touches is in
this module; ``tests/test_rootdir.py`` fails loudly when a pytest release changes one of them, and
a pytest this module does not know gets a usage error that gives the command line that works
(each ``--batt-* VALUE`` written as one word, ``--batt-module=PATH``), never a silent wrong ini.
Those two-word values are :func:`detached_values`' to find (``--tx`` workers elsewhere refuse
them too: ``assembly.check_tx``).
"""

from __future__ import annotations

import copy
import inspect
import shlex
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

import pytest

# The attributes of pytest.Config that hold what determine_setup found (``inicfg`` up to pytest 8, ``_inicfg`` from 9).
ROOT_ATTRIBUTES = ("_rootpath", "_inipath")
INI_ATTRIBUTES = ("_inicfg", "inicfg")

# What determine_setup finds: rootpath, inipath, the ini values, the ini files it ignored (pytest 9).
Setup = Tuple[Path, Optional[Path], Any, Any]


class Unsupported(Exception):
    """pytest's choice cannot be undone: this pytest does not work the way :func:`reroot` relies on, or the wrong ini loaded plugins."""


def reroot(config: pytest.Config, parser: pytest.Parser, args: List[str]) -> None:
    """Choose the rootdir and ini file again from the real test paths, and apply that ini's ``addopts`` to ``args``."""
    ns = config.known_args_namespace
    if ns.rootdir or ns.inifilename:
        return  # the user chose
    try:
        _reroot(config, parser, args)
    except Unsupported as e:
        raise pytest.UsageError(
            f"pytest took the value of a --batt-* option for a test path, and pytest-batt cannot undo that here "
            f"({e}); write the --batt-* options as one word: {corrected_command(config)}"
        ) from None


def _reroot(config: pytest.Config, parser: pytest.Parser, args: List[str]) -> None:
    old_addopts = [str(a) for a in config.getini("addopts")]
    in_front = args[: len(old_addopts)] == old_addopts
    user_args = args[len(old_addopts):] if in_front else args  # the command line (and PYTEST_ADDOPTS), as pytest read them for the rootdir
    user_ns = parser.parse_known_args(user_args, namespace=copy.copy(config.option))
    found = determine_setup(config, user_ns.file_or_dir, user_ns.override_ini)
    if found[:2] == (config.rootpath, config.inipath):
        return
    if not in_front:
        raise Unsupported(f"pytest {pytest.__version__} did not put the ini file's addopts in front of the arguments")
    if any(a == "-p" or a.startswith("-p") and not a.startswith("--") for a in old_addopts):
        # The wrong ini file's plugins are loaded or blocked already: that cannot be undone.
        raise Unsupported(f"it read {config.inipath}, whose addopts loaded or blocked plugins with -p")
    install(config, parser, found)
    new_addopts = [str(a) for a in config.getini("addopts")]
    args[:] = new_addopts + user_args
    config.pluginmanager.consider_preparse(new_addopts, exclude_only=False)  # their -p options, as pytest's own
    config.known_args_namespace = ns = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if "override_ini" in _parameters() and ns.override_ini != user_ns.override_ini:
        install(config, parser, determine_setup(config, user_ns.file_or_dir, ns.override_ini))  # -o in the new addopts
    if ns.confcutdir is None:  # not given: pytest's default, from the new ini file
        ns.confcutdir = str(config.inipath.parent if config.inipath else config.rootpath)


def _parameters() -> Sequence[str]:
    try:
        from _pytest.config.findpaths import determine_setup as found
    except ImportError:
        raise Unsupported(f"pytest {pytest.__version__} has no _pytest.config.findpaths.determine_setup") from None
    return list(inspect.signature(found).parameters)


def determine_setup(config: pytest.Config, paths: Sequence[str], override_ini: Optional[Sequence[str]]) -> Setup:
    """pytest's own choice of (rootpath, inipath, ini values, ignored ini files) for ``paths``.

    pytest 8 takes no ``override_ini`` (it applies ``-o`` when an ini value is read) and returns
    three values; pytest 9 takes it (``-o`` goes into the values) and returns four.
    """
    from _pytest.config.findpaths import determine_setup as found

    params = _parameters()
    known = {"inifile", "args", "rootdir_cmd_arg", "invocation_dir", "override_ini"}
    if not {"inifile", "args", "rootdir_cmd_arg", "invocation_dir"} <= set(params) or not set(params) <= known:
        raise Unsupported(f"pytest {pytest.__version__}'s determine_setup takes ({', '.join(params)})")
    kwargs: dict[str, Any] = dict(inifile=None, args=list(paths), rootdir_cmd_arg=None, invocation_dir=config.invocation_params.dir)
    if "override_ini" in params:
        kwargs["override_ini"] = override_ini
    result: Sequence[Any] = found(**kwargs)  # typed as this pytest's: the other's may differ
    if len(result) in (3, 4):
        return result[0], result[1], result[2], result[3] if len(result) == 4 else None
    raise Unsupported(f"pytest {pytest.__version__}'s determine_setup returned {len(result)} values")


def install(config: pytest.Config, parser: pytest.Parser, found: Setup) -> None:
    """Make ``found`` the config's rootdir, ini file and ini values, as pytest's own start-up sets them."""
    rootpath, inipath, inicfg, ignored = found
    attributes = vars(config)
    ini_attributes = [name for name in INI_ATTRIBUTES if name in attributes]
    missing = [name for name in (*ROOT_ATTRIBUTES, "_inicache") if name not in attributes]
    if not ini_attributes or missing:
        raise Unsupported(f"pytest {pytest.__version__}'s Config has no {', '.join(missing or INI_ATTRIBUTES)}")
    config._rootpath, config._inipath = rootpath, inipath
    for name in ini_attributes:
        setattr(config, name, inicfg)
    if ignored is not None and "_ignored_config_files" in attributes:
        config._ignored_config_files = ignored
    config._inicache.clear()
    parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))


def corrected_command(config: pytest.Config) -> str:
    """The command line as given, with each ``--batt-* VALUE`` that names a path written as one word."""
    here = config.invocation_params.dir
    args = [str(a) for a in config.invocation_params.args]
    detached = detached_values(args, lambda p: (here / p).exists())
    out: List[str] = []
    i = 0
    while i < len(args):
        if i + 1 < len(args) and (args[i], args[i + 1]) in detached:
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return "pytest " + shlex.join(out)


def detached_values(args: Sequence[str], exists: Callable[[str], bool]) -> List[Tuple[str, str]]:
    """``--batt-* VALUE`` pairs written as two words whose value is a local path.

    xdist takes such a value for a test path and refuses it ("not relative to an rsync root") when
    workers run elsewhere; as one word (``--batt-data=tasks``) it reaches them as it is.
    """
    out = []
    for option, value in zip(args, args[1:]):
        if option.startswith("--batt") and "=" not in option and not value.startswith("-") and exists(value.split("::")[0]):
            out.append((option, value))
    return out
