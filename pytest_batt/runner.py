"""Calling a batt on one sample: loading it, limiting each call, normalising what it returns.

No pytest here. The caller passes ``guard(label)``, a context manager that limits one call
and raises :class:`BattTimeout` into it; the plugin builds it on pytest-timeout, the Phase 3
scorer on a plain alarm. The result of a sample is a *record*: builtin types only, because
it travels from an xdist worker to the controller on the test report.
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
from typing import Any, Callable, ContextManager, Dict, Iterable, Iterator, List, Optional, Tuple

from . import grids
from .scoring import Row, SampleFold, summarise_rows
from .tasks import Sample, Task

DEFAULT_MODULE = "pytest_batt.reference"
Guard = Callable[[str], ContextManager[None]]


class BattTimeout(Exception):
    """Raised into a batt call by the guard when its time is up."""


class BattLoadError(Exception):
    """The batt module cannot be used; the message names the module and the reason."""


class ContractError(ValueError):
    """A batt returned something the contract does not allow; the message names the rule."""


class BattLimitExceeded(Exception):
    """A batt call went past a resource limit other than time (the memory limit)."""


class RealInterrupt(KeyboardInterrupt):
    """Ctrl-C from the user, as opposed to a batt raising KeyboardInterrupt itself."""


@dataclass(frozen=True)
class BattModule:
    spec: str
    func: Callable[..., Any]
    files: Tuple[str, ...]

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


def load_batt(spec: str, base_dir: Optional[str] = None) -> BattModule:
    """Import ``batt`` from a dotted module name or a ``.py`` path; one clear error if it cannot be used."""
    spec = spec or DEFAULT_MODULE
    where = f"--batt-module {spec}"
    try:
        if spec.endswith(".py") or os.sep in spec:
            path = Path(base_dir or os.getcwd(), spec)
            if not path.is_file():
                raise BattLoadError(f"{where}: no such file {path}")
            name = "_batt_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10] + "_" + path.stem
            module = sys.modules.get(name)
            if module is None:
                mspec = importlib.util.spec_from_file_location(name, path)
                assert mspec is not None and mspec.loader is not None
                module = importlib.util.module_from_spec(mspec)
                sys.modules[name] = module
                try:
                    mspec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
        else:
            if base_dir and base_dir not in sys.path:
                sys.path.insert(0, base_dir)  # like `python -m`: the user's project is importable
            module = importlib.import_module(spec)
    except BattLoadError:
        raise
    except SyntaxError as e:
        raise BattLoadError(f"{where}: syntax error in {e.filename}, line {e.lineno}: {e.msg}") from None
    except ModuleNotFoundError as e:
        if e.name and spec.startswith(e.name):
            raise BattLoadError(f"{where}: module {e.name!r} not found") from None
        raise BattLoadError(f"{where}: importing it failed: {type(e).__name__}: {e}") from None
    except (Exception, SystemExit) as e:
        raise BattLoadError(f"{where}: importing it failed: {type(e).__name__}: {e}") from None
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
    return BattModule(spec, func, _module_files(module))


# --- normalising returns ---------------------------------------------------------------

def _int(value: Any) -> Optional[int]:
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "__index__") and not isinstance(value, float):
        try:
            return int(value.__index__())
        except Exception:
            return None
    return None


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


def normalise_candidates(o: Any) -> List[Tuple[str, Optional[grids.Grid]]]:
    """``o`` as ``(solver_id, grid or None)``; a candidate that is not a valid grid never matches.

    Batts return the same grid object from many solvers; it is validated once per object.
    """
    out = []
    seen: Dict[int, Optional[grids.Grid]] = {}
    alive = []  # keeps each seen object alive, so its id cannot be reused by another
    for i, cand in enumerate(_rows_of(o, "o (the candidates)")):
        try:
            _t_n, _evo, sid, grid = cand
        except (TypeError, ValueError):
            raise ContractError(f"o[{i}] must be a 4-tuple (t_n, evo, solver_id, output_grid), got {cand!r:.80}") from None
        if not isinstance(sid, str):
            raise ContractError(f"o[{i}]: solver_id must be a str, got {type(sid).__name__} {sid!r:.40}")
        key = id(grid)
        if key in seen:
            norm = seen[key]
        else:
            norm = seen[key] = grids.try_grid(grid)
            alive.append(grid)
        out.append((sid if type(sid) is str else str(sid), norm))
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
                size = _int(size)
        else:
            size = None
        append((last_t if type(last_t) is int else _int(last_t), s_sid, d_name, size))
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


def call_batt(func: Callable[..., Any], guard: Guard, label: str, args: tuple, parse: Callable[[Any], Any]) -> Call:
    """One limited call; ``parse`` runs under the same limit because a batt may return a generator."""
    try:
        with guard(label):
            with preserved_globals():
                result = func(*args)
            return Call("ok", parse(result))
    except BattTimeout as e:
        return Call("timeout", message=str(e) or f"{label} timed out")
    except ContractError as e:
        return Call("error", message=f"{label} broke the batt contract: {e}")
    except BattLimitExceeded as e:
        return Call("error", message=f"{label} {e}")
    except RealInterrupt:
        raise
    except (Exception, SystemExit, KeyboardInterrupt) as e:
        return Call("error", message=f"{label} raised {type(e).__name__}: {e}\n{_batt_traceback(e)}")


def no_guard(label: str) -> ContextManager[None]:
    return contextlib.nullcontext()


@contextlib.contextmanager
def memory_limit(megabytes: Optional[float]) -> Iterator[None]:
    """Cap the address space during one call, so a runaway batt gets MemoryError, not the OOM killer."""
    if not megabytes:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(megabytes * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    except MemoryError:
        # By the time it gets here the batt's frames, and what they allocated, are gone, so a
        # MemoryError the batt raised itself cannot be told apart: name the limit that was set.
        raise BattLimitExceeded(f"ran out of memory: MemoryError under the memory limit (--batt-max-memory {megabytes:g} MB)") from None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def preserved_globals() -> Iterator[None]:
    """Undo what a batt may change process-wide, so it cannot leak into later samples."""
    import signal

    recursion = sys.getrecursionlimit()
    cwd = os.getcwd()
    environ = dict(os.environ)
    path = list(sys.path)
    streams = (sys.stdout, sys.stderr, sys.stdin)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    try:
        yield
    finally:
        sys.setrecursionlimit(recursion)
        if os.getcwd() != cwd:
            os.chdir(cwd)
        if os.environ != environ:
            os.environ.clear()
            os.environ.update(environ)
        sys.path[:] = path
        sys.stdout, sys.stderr, sys.stdin = streams
        if threading.current_thread() is threading.main_thread():
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


Checkpoint = Callable[[Dict[str, Any]], None]


def run_sample(func: Callable[..., Any], task: Task, sample: Sample, guard: Guard = no_guard,
               log_path: str = os.devnull, checkpoint: Optional[Checkpoint] = None) -> Dict[str, Any]:
    """Solve one sample and fold its differ rows; returns the sample's record.

    ``checkpoint``, if given, receives the record as it stands after the solve call (its diff
    rows not yet folded), so a process that is ended during a diff call does not lose what
    the solve call found. ``rec["leaked_threads"]`` names threads the batt started that could
    not be stopped.
    """
    threads_before = threading.enumerate()
    rec = _run_sample(func, task, sample, guard, log_path, checkpoint)
    leaked = stop_threads(threads_before)
    if leaked:
        rec["leaked_threads"] = leaked
    return rec


def _run_sample(func: Callable[..., Any], task: Task, sample: Sample, guard: Guard, log_path: str,
                checkpoint: Optional[Checkpoint]) -> Dict[str, Any]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    S, I = task.S, sample.input
    rec: Dict[str, Any] = {
        "task": task.id, "kind": sample.kind, "index": sample.index, "status": "unsolved",
        "error": None, "message": None, "candidates": 0, "matched": [], "calls": 1,
        "o": {}, "d": {}, "last_t": {}, "expected": grids.fingerprint(sample.output),
    }
    solve = call_batt(func, guard, "solve call", (task.id, S, I, None, log_path), lambda r: normalise_candidates(_split(r)[0]))
    if solve.status != "ok":
        rec.update(status=solve.status, error=solve.message)
    else:
        cands: List[Tuple[str, Optional[grids.Grid]]] = solve.value
        rec["candidates"] = len(cands)
        fp_of: Dict[int, Optional[str]] = {}
        fps = []
        for _, g in cands:
            fp = fp_of.get(id(g), "")
            if fp == "":
                fp = fp_of[id(g)] = grids.fingerprint(g) if g is not None else None
            fps.append(fp)
        matched: Dict[str, None] = {}
        for (sid, grid), fp in zip(cands, fps):
            hit = fp == rec["expected"] and grid == sample.output
            rec["o"][sid] = rec["o"].get(sid, 0) + hit
            if hit:
                matched[sid] = None
        rec["matched"] = list(matched)
        rec["status"] = "solved" if matched else "unsolved"
        if sample.kind == "test":
            pairs = dict.fromkeys((sid, fp) for (sid, _), fp in zip(cands, fps) if fp is not None)
            rec["ranked"] = [list(p) for p in pairs]
        if not matched:
            rec["message"] = describe_miss(sample.output, cands)
        if checkpoint is not None:
            checkpoint({**rec, "seconds": round(time.perf_counter() - wall0, 6), "cpu_seconds": round(time.process_time() - cpu0, 6)})
        diff_errors = _fold_diffs(func, guard, task, sample, cands, fps, rec, log_path)
        if diff_errors:
            rec["error"] = diff_errors
    rec["seconds"] = round(time.perf_counter() - wall0, 6)
    rec["cpu_seconds"] = round(time.process_time() - cpu0, 6)
    return rec


def _fold_diffs(func: Callable[..., Any], guard: Guard, task: Task, sample: Sample,
                cands: List[Tuple[str, Optional[grids.Grid]]], fps: List[Optional[str]],
                rec: Dict[str, Any], log_path: str) -> Optional[str]:
    """Demo: one diff call against the expected output. Test: one per distinct candidate grid."""
    problems: List[str] = []

    def diff(label: str, C: grids.Grid) -> Optional[Any]:
        rec["calls"] += 1
        call = call_batt(func, guard, label, (task.id, task.S, sample.input, C, log_path), lambda r: normalise_rows(_split(r)[1]))
        if call.status != "ok":
            problems.append(call.message or call.status)
            return None
        return summarise_rows(call.value)

    fold = SampleFold()
    if sample.kind == "demo":
        summary = diff("diff call", sample.output) if cands else None
        for sid, _ in cands:
            fold.add_pass(sid, summary)
    else:
        grid_of = {fp: g for (_, g), fp in zip(cands, fps) if fp is not None and g is not None}
        summaries = {fp: diff(f"diff call {n}/{len(grid_of)}", g) for n, (fp, g) in enumerate(grid_of.items(), 1)}
        for (sid, _), fp in zip(cands, fps):
            fold.add_pass(sid, summaries.get(fp) if fp is not None else None)
    rec["d"], rec["last_t"] = fold.to_record()
    if not problems:
        return None
    return f"{len(problems)} diff call(s) failed and contribute nothing; first: {problems[0]}"


def describe_miss(expected: grids.Grid, cands: List[Tuple[str, Optional[grids.Grid]]]) -> str:
    """Why no candidate matched: the expected grid beside the closest candidate, in a few lines."""
    eh, ew = grids.shape(expected)
    valid = [(sid, g) for sid, g in cands if g is not None]
    head = f"no candidate matched the expected {eh}x{ew} output ({len(cands)} candidates, {len(valid)} valid grids"
    distinct = {g for _, g in valid}
    head += f", {len(distinct)} distinct)"
    if not valid:
        return head
    same = [(grids.cells_differing(g, expected) or 0, sid, g) for sid, g in valid if grids.shape(g) == (eh, ew)]
    if same:
        cells, _, best = min(same, key=lambda t: t[0])
        sids = list(dict.fromkeys(sid for c, sid, g in same if g == best))
        r, c = grids.first_difference(best, expected) or (0, 0)
        why = f"{cells} of {eh * ew} cells differ, first at row {r} col {c}: {best[r][c]} instead of {expected[r][c]}"
    else:
        sids, best = [valid[0][0]], valid[0][1]
        shapes = sorted({grids.shape(g) for g in distinct})
        why = f"no candidate has shape {eh}x{ew}; shapes given: " + ", ".join(f"{h}x{w}" for h, w in shapes[:6])
    more = f" (+{len(sids) - 1} more)" if len(sids) > 1 else ""
    lines = [head, f"closest: {sids[0]}{more}: {why}"]
    if max(eh, ew, *grids.shape(best)) <= 12:
        lines += grids.side_by_side([("expected", grids.render(expected)), (f"{sids[0]}", grids.render(best))])
    return "\n".join(lines)
