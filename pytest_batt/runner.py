"""Calling a batt on one sample: loading it, limiting each call, normalising what it returns.

No pytest here. The caller passes a :class:`Guard` that limits each call; the plugin's is
built on pytest-timeout and a watchdog process, the Phase 3 scorer uses a plain alarm. The
result of a sample is a *record*: builtin types only, because it travels from an xdist worker
to the controller on the test report.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from . import grids, handoff, judging, processes
from .options import DEFAULT_MODULE as DEFAULT_MODULE  # defined with the options; runner.DEFAULT_MODULE as before
from .results import SampleRecord, add_error, new_record
from .scoring import Row, SampleFold, summarise_rows
from .tasks import Sample, Task


class BattTimeout(Exception):
    """Raised into a batt call by the guard when its time is up."""


class BattLoadError(Exception):
    """The batt module cannot be used; the message names the module and the reason."""


class ContractError(ValueError):
    """A batt returned something the contract does not allow; the message names the rule."""


class RealInterrupt(KeyboardInterrupt):
    """Ctrl-C from the user, as opposed to a batt raising KeyboardInterrupt itself."""


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


def _import_file(path: Path) -> Any:
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
                module = _import_file(path)
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
        raise BattLoadError(f"{where}: 'batt' is a {type(func).__name__}, not a function")
    try:
        inspect.signature(func).bind("task", (), ((0,),), None, "log")
    except TypeError:
        raise BattLoadError(f"{where}: batt{inspect.signature(func)} does not accept (task_id, S, I, C, log_path)") from None
    except ValueError:
        pass  # builtins without a signature: let the call decide
    return BattModule(spec, func, _module_files(module), round(seconds, 6), "".join(output))


# --- normalising returns ---------------------------------------------------------------

def _rows_of(value: Any, what: str) -> List[Any]:
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise ContractError(f"{what} must be a sequence of 4-tuples, got {type(value).__name__}")
    try:
        return list(value)
    except TypeError:
        raise ContractError(f"{what} must be a sequence of 4-tuples, got {type(value).__name__}") from None


def _split(result: Any) -> Tuple[Any, Any]:
    if isinstance(result, (str, bytes, dict)) or result is None:
        raise ContractError(f"batt must return a pair (o, s), got {type(result).__name__}")
    try:
        o, s = result
    except (TypeError, ValueError):
        raise ContractError(f"batt must return a pair (o, s), got {type(result).__name__}") from None
    return o, s


class Candidate(NamedTuple):
    solver_id: str
    grid: Optional[grids.Grid]  # the canonical grid, None when the value is not a valid grid
    value: Any  # exactly as the batt returned it: what a test sample's diff call gets as C
    diff_key: Any  # equal keys share one diff call; see diff_key()


class _Alone:
    """A diff key equal only to itself: this candidate gets a diff call of its own."""

    __slots__ = ()


def _types(value: Any) -> Any:
    """The exact types inside a value, or None when its equality cannot stand for identity.

    ``1 == 1.0 == True`` and ``nan != nan``: values that are equal but of other types, or that
    hold a float nan, are never taken for one another.
    """
    t = type(value)
    if t is tuple:
        if all(type(x) is int for x in value):
            return "ints"  # a grid row, the common case
        parts = tuple(_types(x) for x in value)
        return None if None in parts else parts
    if t is float:
        return None if value != value else t
    if t in (int, bool, str, bytes, type(None)):
        return t
    if t is frozenset:
        kinds = frozenset(type(x) for x in value)
        return (t, kinds) if kinds <= {int, str} else None
    return None  # other objects: their own __eq__ is not trusted to mean "the same argument"


def diff_key(value: Any) -> Any:
    """The key under which candidates share one diff call: equal, hashable values of the same types.

    Phase 3 diffs every candidate; for a pure batt, candidates with the same value get the
    same rows, so one call per distinct value folds to the same scores. Unhashable values
    (lists, arrays) and values not equal to themselves (a nan cell) get a call each.
    """
    try:
        sig = _types(value)
        if sig is not None:
            hash(value)
            return (sig, value)
    except Exception:
        pass
    return _Alone()


def normalise_candidates(o: Any, keys: bool = False) -> List[Candidate]:
    """``o`` as :class:`Candidate` rows; a value that is not a valid grid never matches.

    Batts return the same object from many solvers; it is validated once per object. With
    ``keys``, each candidate's :func:`diff_key` is computed too (test samples need it), here,
    under the call's time limit, because hashing a returned object runs the batt's code.
    """
    out = []
    seen: Dict[int, Tuple[Optional[grids.Grid], Any]] = {}
    alive = []  # keeps each seen object alive, so its id cannot be reused by another
    for i, cand in enumerate(_rows_of(o, "o (the candidates)")):
        try:
            _t_n, _evo, sid, value = cand
        except (TypeError, ValueError):
            raise ContractError(f"o[{i}] must be a 4-tuple (t_n, evo, solver_id, output_grid), got {cand!r:.80}") from None
        if not isinstance(sid, str):
            raise ContractError(f"o[{i}]: solver_id must be a str, got {type(sid).__name__} {sid!r:.40}")
        known = seen.get(id(value))
        if known is None:
            key = diff_key(value) if keys else None
            known = seen[id(value)] = (grids.try_grid(value), key)
            alive.append(value)
        grid, key = known
        if isinstance(key, _Alone):
            key = _Alone()  # the same object twice: still a call per candidate
        out.append(Candidate(sid if type(sid) is str else str(sid), grid, value, key))
    return out


def normalise_rows(s: Any) -> List[Row]:
    """``s`` as ``(last_t, s_solver_id, d_name, size or None)``; ``size`` only where ``value`` counts.

    Real batts return hundreds of rows per diff call, so plain tuples of str and int take a
    fast path; anything else goes through the checks that name the broken rule.
    """
    out: List[Row] = []
    append = out.append
    for i, row in enumerate(_rows_of(s, "s (the differ rows)")):
        if type(row) is tuple and len(row) == 4:
            last_t, s_sid, d_name, value = row
        else:
            try:
                last_t, s_sid, d_name, value = row
            except (TypeError, ValueError):
                raise ContractError(f"s[{i}] must be a 4-tuple (last_t, s_solver_id, d_name, value), got {row!r:.80}") from None
        if type(s_sid) is not str or type(d_name) is not str:
            if not isinstance(s_sid, str) or not isinstance(d_name, str):
                raise ContractError(f"s[{i}]: s_solver_id and d_name must be str, got {s_sid!r:.40} and {d_name!r:.40}")
            s_sid, d_name = str(s_sid), str(d_name)
        if type(value) is tuple and value:
            size = value[0]
            if type(size) is not int:
                size = grids.as_int(size)
        else:
            size = None
        append((last_t if type(last_t) is int else grids.as_int(last_t), s_sid, d_name, size))
    return out


# --- calls ---------------------------------------------------------------------------------

@dataclass
class Call:
    status: str  # "ok", "timeout", "error"
    value: Any = None
    message: Optional[str] = None


def _batt_traceback(exc: BaseException) -> str:
    """The exception with our own frames cut off, so the user sees their batt's frames only."""
    tb = exc.__traceback__
    ours = {__file__, contextlib.__file__}
    while tb is not None and tb.tb_frame.f_code.co_filename in ours:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb, limit=-12)
    return "".join(lines).rstrip()


class Guard:
    """Limits one batt call: :meth:`start` before it, :meth:`stop` after it, always.

    This plain guard limits only memory (when asked). The plugin's subclass adds the time
    limit (pytest-timeout) and the hard stop; ``is_timeout`` tells which exception raised
    into a call means its time was up. ``stop`` must be idempotent and must not raise.
    """

    def __init__(self, max_memory: Optional[float] = None) -> None:
        self.max_memory = max_memory
        self._rlimit: Optional[Tuple[int, int]] = None

    def start(self, label: str) -> None:
        if self.max_memory:
            self._rlimit = _set_memory_limit(self.max_memory)

    def stop(self) -> None:
        if self._rlimit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, self._rlimit)
            self._rlimit = None

    def is_timeout(self, exc: BaseException) -> Optional[str]:
        """The timeout message when ``exc`` is this guard's time limit, else None."""
        return str(exc) or "timed out" if isinstance(exc, BattTimeout) else None


no_guard = Guard()


def _stop(guard: Guard) -> Optional[BaseException]:
    """Stop the guard even when its own time limit fires while it stops; return what fired."""
    fired = None
    for _ in range(5):
        try:
            guard.stop()
            return fired
        except BaseException as e:  # a timer that fired as the call ended: stop again
            fired = e
    return fired


def call_batt(func: Callable[..., Any], guard: Guard, label: str, args: Tuple[Any, ...], parse: Callable[[Any], Any]) -> Call:
    """One limited call: it returns, times out, or is an error; nothing it raises escapes.

    ``parse`` runs under the same limit, because a batt may return a generator or objects
    whose methods run its code; the return value is dropped under it too (finalizers).
    Whatever the batt raises (``pytest.skip``, ``SystemExit``, ``KeyboardInterrupt``) is its
    error; only a real Ctrl-C (:class:`RealInterrupt`) goes on.
    """
    try:
        try:
            guard.start(label)
            with preserved_globals():
                result = func(*args)
            value = parse(result)
            del result
        finally:
            late = _stop(guard)
        if isinstance(late, RealInterrupt):
            raise late
        return Call("ok", value)  # a timer that fired while stopping: the call had returned in time
    except RealInterrupt:
        raise
    except BaseException as e:
        _stop(guard)  # raised before the finally above could run it
        why = guard.is_timeout(e)
        if why is not None:
            return Call("timeout", message=why.replace("{label}", label))
        if isinstance(e, ContractError):
            return Call("error", message=f"{label} broke the batt contract: {e}")
        if isinstance(e, MemoryError) and guard.max_memory:
            # The batt's frames, and what they allocated, are gone by now, so a MemoryError the
            # batt raised itself cannot be told apart: name the limit that was set.
            return Call("error", message=f"{label} ran out of memory: MemoryError under the memory limit "
                                         f"(--batt-max-memory {guard.max_memory:g} MB)")
        return Call("error", message=f"{label} raised {type(e).__name__}: {e}\n{_batt_traceback(e)}")


def _set_memory_limit(megabytes: float) -> Tuple[int, int]:
    """Cap the address space, so a runaway batt gets MemoryError, not the OOM killer; returns the old limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(megabytes * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return soft, hard


def _getcwd() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:  # the folder was deleted under us
        return None


@contextlib.contextmanager
def preserved_globals() -> Iterator[None]:
    """Undo what a batt may change process-wide, so it cannot leak into later samples.

    Restoring reads nothing from the state the batt left: its working directory may be
    deleted, its signal mask may block SIGALRM, its standard streams' fds may be closed.
    """
    import signal

    recursion = sys.getrecursionlimit()
    cwd = _getcwd()
    environ = dict(os.environ)
    path = list(sys.path)
    streams = (sys.stdout, sys.stderr, sys.stdin)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    main = threading.current_thread() is threading.main_thread()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ()) if main and hasattr(signal, "pthread_sigmask") else None
    saved_fds = []
    for fd in (0, 1, 2):
        try:
            saved_fds.append((fd, os.dup(fd)))
        except OSError:
            pass
    try:
        yield
    finally:
        sys.setrecursionlimit(recursion)
        for fd, copy in saved_fds:
            try:
                os.fstat(fd)
            except OSError:  # the batt closed it: put the original back
                os.dup2(copy, fd)
            os.close(copy)
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if cwd is not None and _getcwd() != cwd:
            try:
                os.chdir(cwd)
            except OSError:
                pass  # the batt deleted the folder it was called in: nothing to go back to
        if os.environ != environ:
            os.environ.clear()
            os.environ.update(environ)
        sys.path[:] = path
        sys.stdout, sys.stderr, sys.stdin = streams
        if main:
            for sig, handler in handlers.items():
                if handler is not None and signal.getsignal(sig) is not handler:
                    signal.signal(sig, handler)


def stop_threads(before: Iterable[threading.Thread], wait: float = 0.5) -> List[str]:
    """Ask threads the batt started and left running to stop; return the names of those that did not.

    Python cannot kill a thread: it can only raise SystemExit in it at its next bytecode,
    which stops plain loops but not a thread blocked in C or one that swallows exceptions.
    """
    import ctypes

    known = set(before)
    leaked = [t for t in threading.enumerate() if t not in known and t.is_alive()]
    if not leaked:
        return []
    previous_hook = threading.excepthook

    def quiet(args: Any) -> None:  # our stop request is not an error of the thread
        if args.exc_type is not _ThreadStop:
            previous_hook(args)

    threading.excepthook = quiet
    try:
        for t in leaked:
            if t.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(_ThreadStop))
        deadline = time.monotonic() + wait
        for t in leaked:
            t.join(max(0.0, deadline - time.monotonic()))
    finally:
        threading.excepthook = previous_hook
    return [t.name for t in leaked if t.is_alive()]


class _ThreadStop(SystemExit):
    """Raised into a thread the batt left running, to end it."""


Checkpoint = Callable[[SampleRecord, str], None]


def run_sample(func: Callable[..., Any], task: Task, sample: Sample, guard: Guard = no_guard,
               log_path: str = os.devnull, checkpoint: Optional[Checkpoint] = None) -> SampleRecord:
    """Solve one sample and fold its differ rows; returns the sample's record.

    ``checkpoint``, if given, receives the record as it stands after the solve call (its diff
    rows not yet folded), so a process that is ended during a diff call does not lose what
    the solve call found. ``rec["leaked_threads"]`` names threads the batt started that could
    not be stopped.
    """
    threads_before = threading.enumerate()
    procs_before = processes.descendants()
    rec = _run_sample(func, task, sample, guard, log_path, checkpoint)
    leaked = stop_threads(threads_before)
    if leaked:
        rec["leaked_threads"] = leaked
    ended = processes.end_new(procs_before)
    if ended:
        note = f"the batt left {len(ended)} process(es) running; they were ended: {', '.join(ended[:5])}"
        add_error(rec, note)
    return rec


def _run_sample(func: Callable[..., Any], task: Task, sample: Sample, guard: Guard, log_path: str,
                checkpoint: Optional[Checkpoint]) -> SampleRecord:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    S, I = task.S, sample.input
    rec = new_record(task.id, sample.kind, sample.index, calls=1)
    rec["d"], rec["differ_last_t"] = {}, {}
    keys = sample.kind == "test"
    solve = call_batt(func, guard, "solve call", (task.id, S, I, None, log_path), lambda r: normalise_candidates(_split(r)[0], keys))
    if solve.status != "ok":
        rec["status"], rec["error"] = solve.status, solve.message
    else:
        cands: List[Candidate] = solve.value
        rec["candidates"] = len(cands)
        fp_of: Dict[int, Optional[str]] = {}
        counts: Dict[Tuple[str, Optional[str]], int] = {}
        grid_of: Dict[str, grids.Grid] = {}
        for c in cands:
            fp = fp_of.get(id(c.grid), "")
            if fp == "":
                fp = fp_of[id(c.grid)] = grids.fingerprint(c.grid) if c.grid is not None else None
                if fp is not None and c.grid is not None:
                    grid_of[fp] = c.grid
            counts[(c.solver_id, fp)] = counts.get((c.solver_id, fp), 0) + 1
        # What the controller judges from: distinct (solver, grid) pairs in batt order, with counts.
        rec["cands"] = [[sid, fp, n] for (sid, fp), n in counts.items()]
        if sample.kind == "test":  # the grids themselves: the controller judges them (it alone knows the output)
            rec["grids"] = {fp: grids.encode(g) for fp, g in grid_of.items()}
        elif sample.output is not None and grid_of.get(grids.fingerprint(sample.output)) != sample.output:
            entries = [(sid, grid_of.get(fp) if fp else None, n) for (sid, fp), n in counts.items()]
            rec["message"] = judging.describe_miss(sample.output, entries)
            rec["show"] = judging.show(sample.output, entries)
        if checkpoint is not None:
            so_far = rec.copy()
            so_far["seconds"], so_far["cpu_seconds"] = round(time.perf_counter() - wall0, 6), round(time.process_time() - cpu0, 6)
            checkpoint(so_far, handoff.STAGE_SOLVED)
        diff_errors = _fold_diffs(func, guard, task, sample, cands, rec, log_path)
        if diff_errors:
            rec["error"] = diff_errors
    rec["seconds"] = round(time.perf_counter() - wall0, 6)
    rec["cpu_seconds"] = round(time.process_time() - cpu0, 6)
    if checkpoint is not None:
        checkpoint(rec, handoff.STAGE_FINAL)  # before what the batt returned is dropped (finalizers may hang)
    return rec


def _fold_diffs(func: Callable[..., Any], guard: Guard, task: Task, sample: Sample,
                cands: List[Candidate], rec: SampleRecord, log_path: str) -> Optional[str]:
    """Phase 3's diff calls, each made once and folded for every candidate it stands for.

    Demo: Phase 3 diffs against the expected output once per candidate, always the same
    arguments, so one call serves all. Test: Phase 3 diffs against each candidate's own
    value, whatever it is (``()``, a grid of floats, ``None``); one call per distinct value.
    """
    problems: List[str] = []

    def diff(label: str, C: Any) -> Optional[Any]:
        rec["calls"] += 1
        call = call_batt(func, guard, label, (task.id, task.S, sample.input, C, log_path), lambda r: normalise_rows(_split(r)[1]))
        if call.status != "ok":
            problems.append(call.message or call.status)
            return None
        return summarise_rows(call.value)

    fold = SampleFold()
    if sample.kind == "demo":
        summary = diff("diff call", sample.output) if cands else None
        for c in cands:
            fold.add_pass(c.solver_id, summary)
    else:
        first: Dict[Any, Any] = {}  # diff key -> the value of its first candidate, in batt order
        for c in cands:
            first.setdefault(c.diff_key, c.value)
        summaries = {key: diff(f"diff call {n}/{len(first)}", value) for n, (key, value) in enumerate(first.items(), 1)}
        for c in cands:
            fold.add_pass(c.solver_id, summaries[c.diff_key])
    rec["d"], rec["differ_last_t"] = fold.to_record()
    if not problems:
        return None
    return f"{len(problems)} diff call(s) failed and contribute nothing; first: {problems[0]}"


