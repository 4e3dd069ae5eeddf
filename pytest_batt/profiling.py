"""``--batt-profile DIR``: where a batt's time goes, per sample and over the run.

The process that runs a sample profiles its batt calls (only those: not pytest, not the
plugin) with :mod:`cProfile`, writes the sample's own pstats file into ``DIR`` and puts a
small summary on the record (builtin types: it travels to the controller as JSON). The
controller merges the files into ``DIR/combined.pstats`` (``pstats.Stats``, snakeviz and
gprof2dot read it) and prints the functions with the most own time.

cProfile, not a sampling profiler, by measurement: on a real generated batt both cost about
the same at pyinstrument's default 1 ms interval (``benchmarks/profile_overhead.py``), and
cProfile is in the standard library, counts every call exactly and writes pstats itself. With
the option off nothing here is imported or run.
"""

from __future__ import annotations

import cProfile
import os
import pstats
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

COMBINED = "combined.pstats"
TOP = 10  # functions kept per sample in its record (and shown per sample in the HTML report)

Key = Tuple[str, int, str]  # pstats' (file, line, function)


class SampleProfile:
    """One sample's profile: :meth:`wrap` the batt, run the sample's calls, :meth:`finish`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.prof = cProfile.Profile()

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` profiled while it runs (each call; what the plugin does between calls is not)."""
        prof = self.prof

        def profiled(*args: Any) -> Any:
            prof.enable()
            try:
                return func(*args)
            finally:
                prof.disable()

        return profiled

    def finish(self) -> Dict[str, Any]:
        """Write the sample's pstats file; the summary its record carries (``file`` None if not written)."""
        self.prof.create_stats()
        stats: Dict[Key, Any] = getattr(self.prof, "stats", {})
        summary: Dict[str, Any] = {"file": None, "batt_s": round(sum(v[2] for v in stats.values()), 6), "top": top(stats, TOP)}
        if stats:
            try:
                self.prof.dump_stats(self.path)
                summary["file"] = os.path.basename(self.path)
            except OSError as e:
                summary["error"] = f"{self.path}: not written ({e.strerror or e})"
        return summary


def label(key: Sequence[Any]) -> Tuple[str, str]:
    """A pstats key as (function, file:line), shown escaped (they come from the batt's code); built-ins have no file."""
    from .visible import line as shown

    file, line, name = str(key[0]), int(key[1]), str(key[2])
    if file == "~":
        return shown(name), "(built-in)"
    return shown(name), f"{shown(file)}:{line}"


def top(stats: Mapping[Key, Any], n: int) -> List[List[Any]]:
    """The ``n`` functions with most own time: ``[function, file:line, own seconds, calls]``."""
    total = sorted(stats.items(), key=lambda kv: -kv[1][2])[:n]
    return [[*label(key), round(v[2], 6), int(v[1])] for key, v in total if v[2] > 0]


def sample_file(folder: str, safe_task: str, kind: str, index: int) -> str:
    """The per-sample file beside the combined one; ``safe_task`` is the task id made file-safe."""
    return os.path.join(folder, f"{safe_task}.{kind}{index}.pstats")


def combine(folder: str, files: Iterable[str]) -> Tuple[Optional[pstats.Stats], List[str]]:
    """Merge the per-sample files into ``folder/combined.pstats``; the stats and what could not be read."""
    merged: Optional[pstats.Stats] = None
    problems: List[str] = []
    for name in files:
        path = os.path.join(folder, name)
        try:
            if merged is None:
                merged = pstats.Stats(path)
            else:
                merged.add(path)
        except (OSError, EOFError, ValueError, TypeError) as e:
            problems.append(f"{name}: {e}")
    if merged is not None:
        merged.dump_stats(os.path.join(folder, COMBINED))
    return merged, problems


def table(stats: Optional[pstats.Stats], summaries: Mapping[str, Mapping[str, Any]], n: int = 15) -> List[List[str]]:
    """The run's top functions by own time: function, file:line, share of the batt's time, samples
    it was hot in (among that sample's :data:`TOP`), own seconds, calls."""
    if stats is None:
        return []
    raw: Dict[Key, Any] = getattr(stats, "stats", {})
    total = sum(v[2] for v in raw.values())
    hot: Dict[Tuple[str, str], int] = {}
    for summary in summaries.values():
        for entry in summary.get("top") or []:
            hot[(entry[0], entry[1])] = hot.get((entry[0], entry[1]), 0) + 1
    rows = []
    for key, v in sorted(raw.items(), key=lambda kv: -kv[1][2])[:n]:
        name, where = label(key)
        share = v[2] / total if total > 0 else 0.0
        rows.append([name, short(where), f"{share:.1%}", str(hot.get((name, where), 0)), f"{v[2]:.3f}", str(v[1])])
    return rows


def short(where: str, cwd: Optional[str] = None) -> str:
    """``file:line`` relative to the working directory when under it, else from the file's folder on."""
    file, sep, line = where.rpartition(":")
    if not sep or not os.path.isabs(file):
        return where
    rel = os.path.relpath(file, cwd or os.getcwd())
    if rel.startswith(".."):
        rel = os.path.join(os.path.basename(os.path.dirname(file)), os.path.basename(file))
    return f"{rel}:{line}"


def report_lines(folder: str, summaries: Mapping[str, Mapping[str, Any]], n: int = 15,
                 combined: Optional[Tuple[Optional[pstats.Stats], List[str]]] = None) -> List[str]:
    """Combine the run's profiles and describe them: the terminal's "where the batt's time went".

    ``summaries``: each profiled sample's record summary, by node id. ``combined``: what
    :func:`combine` returns, when the caller has merged the files already.
    """
    files = [s["file"] for s in summaries.values() if s.get("file")]
    stats, problems = combined if combined is not None else combine(folder, files)
    lines: List[str] = []
    rows = table(stats, summaries, n)
    if rows:
        from .report import table as text_table

        total = sum(v[2] for v in getattr(stats, "stats", {}).values())
        lines += text_table([["function", "file:line", "share", "hot in", "own s", "calls"]] + rows)
        lines.append(f"batt time profiled: {total:.2f}s over {len(files)} sample(s); "
                     f"{os.path.join(folder, COMBINED)} (pstats: snakeviz, gprof2dot, python -m pstats) and one file per sample beside it")
    else:
        lines.append(f"no batt call was profiled ({len(summaries)} sample(s) reported a profile)")
    unwritten = [s["error"] for s in summaries.values() if s.get("error")]
    for text in (problems + unwritten)[:3]:
        lines.append(f"profile not combined: {text}")
    missing = len(summaries) - len(files) - len(unwritten)
    if missing > 0:
        lines.append(f"{missing} sample(s) made no profiled call")
    return lines


def merge_dirs(folders: Sequence[str], out: str) -> List[str]:
    """For sharded runs: each shard's per-sample ``*.pstats`` files copied into ``out``, and
    ``out/combined.pstats`` made of them all; the lines describing it (as the terminal's)."""
    import shutil

    os.makedirs(out, exist_ok=True)
    summaries: Dict[str, Dict[str, Any]] = {}
    problems: List[str] = []
    merged: Optional[pstats.Stats] = None  # each file read once: for its top functions and into the combined profile
    for folder in folders:
        try:
            found = sorted(n for n in os.listdir(folder) if n.endswith(".pstats") and n != COMBINED)
        except OSError as e:
            problems.append(f"profile folder {folder}: {e.strerror or e}")
            continue
        for name in found:
            if name in summaries:
                problems.append(f"{name}: in two folders (shards of one run never share a task); kept the first")
                continue
            if os.path.abspath(folder) != os.path.abspath(out):
                shutil.copyfile(os.path.join(folder, name), os.path.join(out, name))
            try:
                stats = pstats.Stats(os.path.join(out, name))
            except (OSError, EOFError, ValueError, TypeError) as e:
                problems.append(f"{name}: {e}")
                continue
            summaries[name] = {"file": name, "top": top(getattr(stats, "stats", {}), TOP)}
            if merged is None:
                merged = stats
            else:
                merged.add(stats)
    if merged is not None:
        merged.dump_stats(os.path.join(out, COMBINED))
    return report_lines(out, summaries, combined=(merged, [])) + problems


def prepare(folder: str) -> None:
    """Before the run (controller): the folder exists, and the ``.pstats`` files of an earlier
    run in it are gone, so that what lies beside ``combined.pstats`` is this run's."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"--batt-profile {folder}: not a directory")
    try:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".pstats"):
                os.remove(os.path.join(folder, name))
    except OSError as e:
        raise ValueError(f"--batt-profile {folder}: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--batt-profile {folder}: not writable")
