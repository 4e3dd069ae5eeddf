"""Loading the batt: importing it from a module name or a ``.py`` file, and checking it can be called.

Separate from running it because the controller, the offline scorer and the CLI load a batt
without running a sample, and because loading has its own failure mode (:class:`BattLoadError`,
a usage error) and its own trap (what a generated batt prints at import).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

from . import visible
from .options import DEFAULT_MODULE as DEFAULT_MODULE  # defined with the option texts, which must stay light


class BattLoadError(Exception):
    """The batt module cannot be used; the message names the module and the reason."""


@dataclass(frozen=True)
class BattModule:
    spec: str
    func: Callable[..., Any]
    files: Tuple[str, ...]
    import_seconds: float = 0.0
    import_output: str = ""  # what the module printed while it was imported

    def sha256(self) -> str:
        """Hash of the module's source (every .py file of a package), to tell batts apart."""
        h = hashlib.sha256()
        for f in self.files:
            with open(f, "rb") as fh:
                h.update(fh.read())
        return h.hexdigest()


def _module_files(module: Any) -> Tuple[str, ...]:
    file = getattr(module, "__file__", None)
    if not file:
        return ()
    if os.path.basename(file) == "__init__.py":
        root = Path(file).parent
        return tuple(sorted(str(p) for p in root.rglob("*.py")))
    return (file,)


@contextlib.contextmanager
def captured_output() -> Iterator[List[str]]:
    """Collect what is printed (Python or C, stdout or stderr) into the yielded list.

    A generated batt prints at import ("CuPy not available ..."); that is the batt's own
    output, shown once in the header, not the captured output of whichever sample ran first.
    """
    import tempfile

    out: List[str] = []
    saved_streams = (sys.stdout, sys.stderr)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved_fds = []
        for fd in (1, 2):
            try:
                saved_fds.append((fd, os.dup(fd)))
            except OSError:
                continue  # closed: nothing can be printed there
        for fd, _ in saved_fds:
            sys.stdout.flush() if fd == 1 else sys.stderr.flush()
            os.dup2(sink.fileno(), fd)
        text = open(sink.fileno(), "w", closefd=False, errors="replace")
        sys.stdout = sys.stderr = text
        try:
            yield out
        finally:
            text.flush()
            sys.stdout, sys.stderr = saved_streams
            for fd, saved in saved_fds:
                os.dup2(saved, fd)
                os.close(saved)
            sink.seek(0)
            out.append(sink.read().decode("utf-8", "replace"))


def _exec_new(name: str, spec: Any) -> Any:
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_file(path: Path) -> Any:
    """Import a batt file with its folder first on ``sys.path``, as ``python path.py`` would.

    Generated batts import the DSL modules beside them (``from pile import *``). The module
    gets its own stem as name when that is free, so process pools that pickle its functions
    (``spawn``, ``forkserver``) can import it again in their children.
    """
    folder = str(path.parent)
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    name = path.stem
    existing = sys.modules.get(name)
    existing_file = getattr(existing, "__file__", None)
    if existing_file and Path(existing_file).resolve() == path:
        return existing
    if existing is not None or not name.isidentifier():
        name = "_batt_" + hashlib.sha1(str(path).encode()).hexdigest()[:10] + "_" + path.stem
        if name in sys.modules:
            return sys.modules[name]
    mspec = importlib.util.spec_from_file_location(name, path)
    assert mspec is not None and mspec.loader is not None
    # A plain SourceFileLoader: no assertion rewriting for a batt named test_*.py, and
    # bytecode cached in __pycache__ like any import.
    return _exec_new(name, mspec)


def _import_dotted(name: str) -> Any:
    """``importlib.import_module`` without pytest's assertion rewriting: a batt is no test module."""
    import importlib.machinery

    if name in sys.modules:
        return sys.modules[name]
    parent, _, last = name.rpartition(".")
    search = importlib.import_module(parent).__path__ if parent else None
    spec = importlib.machinery.PathFinder.find_spec(name, search)
    if spec is None or spec.loader is None:
        return importlib.import_module(name)  # found by another finder (an editable install, a zip)
    module = _exec_new(name, spec)
    if parent:
        setattr(sys.modules[parent], last, module)
    return module


def is_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def load_batt(spec: str, base_dir: Optional[str] = None) -> BattModule:
    """Import ``batt`` from a dotted module name or a ``.py`` path; one clear error if it cannot be used."""
    spec = spec or DEFAULT_MODULE
    where = f"--batt-module {spec}"
    searched = "sys.path"
    output: List[str] = []
    t0 = time.perf_counter()
    try:
        if is_path(spec):
            path = Path(base_dir or os.getcwd(), spec).expanduser().resolve()
            if not path.is_file():
                raise BattLoadError(f"{where}: no such file {path}")
            searched = f"{path.parent} (the batt's folder), then sys.path"
            with captured_output() as output:
                module = import_file(path)
        else:
            if base_dir and base_dir not in sys.path:
                sys.path.insert(0, base_dir)  # like `python -m`: the user's project is importable
            searched = f"{base_dir} (the invocation folder), then sys.path" if base_dir else "sys.path"
            with captured_output() as output:
                module = _import_dotted(spec)
    except BattLoadError:
        raise
    except SyntaxError as e:
        raise BattLoadError(f"{where}: syntax error in {e.filename}, line {e.lineno}: {e.msg}") from None
    except ModuleNotFoundError as e:
        if e.name and not is_path(spec) and spec.startswith(e.name):
            raise BattLoadError(f"{where}: module {e.name!r} not found (searched {searched})") from None
        raise BattLoadError(f"{where}: importing it failed: {type(e).__name__}: {e} (searched {searched})") from None
    except (Exception, SystemExit) as e:
        raise BattLoadError(f"{where}: importing it failed: {type(e).__name__}: {e}") from None
    seconds = time.perf_counter() - t0
    func = getattr(module, "batt", None)
    if func is None:
        raise BattLoadError(f"{where}: the module has no attribute 'batt'")
    if not callable(func):
        raise BattLoadError(f"{where}: 'batt' is {visible.a_type(func)}, not a function")
    try:
        inspect.signature(func).bind("task", (), ((0,),), None, "log")
    except TypeError:
        raise BattLoadError(f"{where}: batt{inspect.signature(func)} does not accept (task_id, S, I, C, log_path)") from None
    except ValueError:
        pass  # builtins without a signature: let the call decide
    return BattModule(spec, func, _module_files(module), round(seconds, 6), "".join(output))
