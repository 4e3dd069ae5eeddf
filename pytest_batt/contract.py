"""What a batt returns, checked against the contract and normalised for the rest of the plugin.

The one reading of a return value, shared by the plugin and the Phase 3 reference scorer
(:mod:`pytest_batt.phase3`), so that the two cannot parse it differently. Pure functions over
the returned objects; they run under the call's time limit because reading those objects runs
the batt's code (generators, ``__hash__``, ``__iter__``).
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import grids
from .scoring import Row


class ContractError(ValueError):
    """A batt returned something the contract does not allow; the message names the rule."""


def _rows_of(value: Any, what: str) -> List[Any]:
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise ContractError(f"{what} must be a sequence of 4-tuples, got {type(value).__name__}")
    try:
        return list(value)
    except TypeError:
        raise ContractError(f"{what} must be a sequence of 4-tuples, got {type(value).__name__}") from None


def split(result: Any) -> Tuple[Any, Any]:
    """``(o, s)`` from what batt returned; :class:`ContractError` when it is not a pair."""
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
    problem: Optional[grids.GridError] = None  # why ``value`` is no valid grid (``grid`` is None)


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
    seen: Dict[int, Tuple[Optional[grids.Grid], Optional[grids.GridError], Any]] = {}
    alive = []  # keeps each seen object alive, so its id cannot be reused by another
    make = tuple.__new__  # Candidate(...) without its Python-level __new__: a million candidates are common
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
            known = seen[id(value)] = (*grids.check(value), key)
            alive.append(value)
        grid, problem, key = known
        if isinstance(key, _Alone):
            key = _Alone()  # the same object twice: still a call per candidate
        out.append(make(Candidate, (sid if type(sid) is str else str(sid), grid, value, key, problem)))
    return out


MAX_REASONS = 3  # invalid candidates a sample's failure explains
MAX_REASON_CHARS = 200  # one explanation, at most (a solver id is the batt's text, of any length)


def no_grid_reasons(cands: Sequence[Candidate], n: int = MAX_REASONS) -> List[List[str]]:
    """Why the candidates nearest a grid are none, as ``[solver_id, why]``: at most ``n`` distinct reasons.

    Nearest first (a grid with one cell that is no colour, then rows of the wrong number or
    length, then values that are no rows at all: ``GridError.near``), in batt order within each;
    each reason once, with its first solver. Bounded: a sample's record carries them.
    """
    firsts: Dict[str, Tuple[int, int, str]] = {}
    seen = set()  # one object returned by many solvers has one problem: read it once
    for i, c in enumerate(cands):
        if c.problem is None or id(c.problem) in seen:
            continue
        seen.add(id(c.problem))
        why = str(c.problem)
        if why not in firsts:
            firsts[why] = (c.problem.near, i, c.solver_id)
    nearest = sorted(firsts.items(), key=lambda kv: kv[1][:2])[:n]
    return [[_bounded(sid, MAX_REASON_CHARS // 2), _bounded(why, MAX_REASON_CHARS // 2)] for why, (_, _, sid) in nearest]


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
