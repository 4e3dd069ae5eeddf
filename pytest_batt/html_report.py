"""``--batt-html``: one self-contained HTML file (inline CSS, JS and data; nothing fetched).

The header and one table row per task are plain HTML (they read without JavaScript); the
grids of a task are drawn by the page's script from a JSON blob when its row is opened, so
a report of all 800 ARC-AGI-1 tasks stays a few MB and opens quickly. Built from the results
dict and what the controller kept (:func:`collect`): the task data, each sample's status and
text, the two attempts of each test sample and the closest candidates of an unsolved demo.
"""

from __future__ import annotations

import functools
import html
import importlib.resources
import json
import string
from typing import Any, Callable, Dict, List, Optional

from . import grids, visible
from .nodeids import sample_nodeid, task_name, task_nodeid
from .pictures import PALETTE
from .report import best_solvers

ORDER = {"regressed": 0, "newly_crash": 1, "newly_timeout": 2, "newly_error": 3, "changed": 4, "improved": 5}


def collect(run: Any, results: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Per task (by its shown name, :func:`nodeids.task_name`), what its opened row shows: grids
    (``grids.encode`` strings) and texts, shown as data (:mod:`visible`).

    The samples are those of the results file (the selected ones, after ``-k`` and the like).
    """
    out: Dict[str, Dict[str, Any]] = {}
    for tid, result in results["tasks"].items():
        task = run.task(tid)
        run.attempts(tid)  # ranks and trims the test grids to the two attempts
        samples = []
        for kind, index in ((s["kind"], s["index"]) for s in result["samples"]):
            nodeid = sample_nodeid(tid, kind, index)
            rec = run.records.get(nodeid)
            inp, exp = run.sample_grids(nodeid) if task is not None else (None, None)
            entry: Dict[str, Any] = {
                "k": kind, "i": index, "st": rec["status"] if rec else "missing",
                "in": grids.encode(inp) if inp else None, "out": grids.encode(exp) if exp else None,
                "err": visible.text((rec or {}).get("error") or ""), "msg": visible.text((rec or {}).get("message") or ""),
                "mb": (rec or {}).get("memory_mb"),
            }
            if rec and isinstance(rec.get("vram_peak_mb"), (int, float)):  # NVML measured it: peak, held at the end, what was read
                entry["vram"] = [rec["vram_peak_mb"], rec.get("vram_mb"), visible.line(rec.get("vram_scope") or "")]
            if rec and rec.get("gpu"):
                entry["gpu"] = visible.line(rec["gpu"])
            profile = (rec or {}).get("profile")
            if isinstance(profile, dict) and profile.get("top"):  # --batt-profile: the sample's top functions
                entry["prof"] = [[str(f), str(w), float(own), int(n)] for f, w, own, n in profile["top"]]  # escaped by profiling.label
            if rec and kind == "test":
                entry["c"] = [[f"attempt {i + 1}: {visible.line(sid)}", enc] for i, (sid, enc) in enumerate(rec.get("attempts", []))]
            elif rec and rec.get("show"):
                near = rec["show"] if isinstance(rec["show"], list) else []
                entry["c"] = [[f"{'closest' if i == 0 else 'next closest'}: {visible.line(s[0])}", s[1]] for i, s in enumerate(near[:2])
                              if isinstance(s, list) and len(s) == 2 and grids.decode(s[1])]
            samples.append(entry)
        out[task_name(tid)] = {"samples": samples}
    return out


def _task_status(task: Dict[str, Any]) -> str:
    statuses = [s["status"] for s in task["samples"]]
    for bad in ("crash", "timeout", "error", "missing"):
        if bad in statuses:
            return bad
    if not statuses:
        return "error"
    if task["solved"]["at_2"]:
        return "solved"
    if "unscored" in statuses:
        return "unscored"
    return "oracle" if task["solved"]["oracle"] else "unsolved"


def _facts(results: Dict[str, Any]) -> List[List[str]]:
    s, c, b, d = results["session"], results["config"], results["batt"], results["data"]
    wall = s.get("wall_s") or 0.0
    par = (s.get("item_s") or 0.0) / wall if wall > 0 else 0.0
    facts = [
        ["batt", f"{b.get('module', '')} (sha256 {str(b.get('sha256', ''))[:12]})"],
        ["data", f"{d.get('name', '')} (sha256 {str(d.get('sha256', ''))[:12]})"],
        ["timeout", f"{c.get('timeout_s', 0):g} s per call"],
        ["workers", str(c.get("workers", 0))],
        ["wall time", (f"{s['process_s']:.1f} s whole run, " if s.get("process_s") is not None else "") + f"{wall:.1f} s samples"],
        ["parallelism", f"{par:.2f}x (batt time {s.get('item_s', 0):.1f} s)"],
        ["created", str(results.get("created", ""))],
    ]
    if not s.get("complete", True):
        facts.append(["run", "incomplete (interrupted, -x or a selection)"])
    return [[k, visible.line(v)] for k, v in facts]  # names from a results file, which anyone may have written


def _comparison(comp: Optional[Dict[str, Any]]) -> str:
    if not comp:
        return ""
    t = comp["totals"]
    changes = sorted(comp["samples"]["changes"], key=lambda ch: (ORDER.get(ch["category"], 9), ch["nodeid"]))
    regressed = sum(ch["category"] == "regressed" for ch in changes)
    rows = "".join(
        f'<tr class="{_attr(ch["category"])}"><td>{_attr(ch["category"])}</td><td>{_attr(ch["nodeid"])}</td>'
        f'<td>{_attr(ch["before"])} &rarr; {_attr(ch["after"])}</td></tr>'
        for ch in changes
    )
    ratio = f"{t['time_ratio']:.2f}" if t.get("time_ratio") is not None else "-"
    return (
        f'<section id="comparison"><h2>Against the baseline</h2>'
        f'<p><b id="regressions">{regressed}</b> regressed samples; pass@2 {t["at_2"][0]} &rarr; {t["at_2"][1]}, '
        f'oracle {t["oracle"][0]} &rarr; {t["oracle"][1]}, time ratio {ratio}'
        + (f'; {_attr(", ".join(comp.get("flags", [])))}' if comp.get("flags") else "") + "</p>"
        + (f'<table class="changes"><tr><th>change</th><th>sample</th><th>status</th></tr>{rows}</table>'
           if rows else "<p>no sample changed status</p>")
        + "</section>"
    )


def _attr(value: Any) -> str:
    """Text from a results file as HTML text or an attribute value: markup and control characters shown as data."""
    return html.escape(visible.line(value))


def script_json(value: Any) -> str:
    """JSON that is safe as the content of a ``<script>`` element whatever its strings hold: no
    ``<``, ``>`` or ``&`` (so nothing can end the element, open a comment or a ``<script`` that
    keeps the parser in its escaped states), and no raw U+2028/U+2029 or control character
    (ensure_ascii writes them as ``\\uXXXX``)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(results: Dict[str, Any], details: Dict[str, Dict[str, Any]]) -> str:
    """The whole page as one string."""
    tasks = results["tasks"]
    samples = [s for t in tasks.values() for s in t["samples"]]
    by_status: Dict[str, int] = {}
    for s in samples:
        by_status[s["status"]] = by_status.get(s["status"], 0) + 1
    n = len(tasks)
    at2 = sum(t["solved"]["at_2"] for t in tasks.values())
    oracle = sum(t["solved"]["oracle"] for t in tasks.values())
    unscored = by_status.get("unscored", 0)
    regressed = {ch["nodeid"].rpartition("::")[0] for ch in (results.get("comparison") or {}).get("samples", {}).get("changes", [])
                 if ch["category"] == "regressed"}  # task node ids
    counts = [("tasks", str(n)), ("pass@2", f"{at2}/{n}"), ("oracle", f"{oracle}/{n}")]
    counts += [(f"samples {st}", str(c)) for st, c in sorted(by_status.items(), key=lambda kv: -kv[1])]
    # The GPU memory column only where NVML measured some sample: a run without GPUs keeps its page as it was.
    vram = any(isinstance(x.get("vram_peak_mb"), (int, float)) for x in samples)
    rows = []
    for tid, t in tasks.items():
        st = _task_status(t)
        demo = [s for s in t["samples"] if s["kind"] == "demo"]
        test = [s for s in t["samples"] if s["kind"] == "test"]
        ok: Callable[[List[Dict[str, Any]]], int] = lambda xs: sum(s["status"] == "solved" for s in xs)  # noqa: E731
        reg = task_nodeid(tid) in regressed
        name = html.escape(task_name(tid))
        peaks = [x["memory_mb"] for x in t["samples"] if isinstance(x.get("memory_mb"), (int, float))]
        peak = f"{max(peaks):.0f}" if peaks else "-"
        vpeaks = [x["vram_peak_mb"] for x in t["samples"] if isinstance(x.get("vram_peak_mb"), (int, float))]
        vcell = f'<td class="num">{max(vpeaks):.0f}</td>' if vpeaks else '<td class="num">-</td>'
        rows.append(
            f'<tbody data-id="{name}" data-status="{st}" data-solved="{int(t["solved"]["at_2"])}" '
            f'data-time="{t["seconds"]:.6f}" data-reg="{int(reg)}"><tr class="row">'
            f'<td class="id">{name}</td><td><span class="st {st}">{st}</span>{" <b>regressed</b>" if reg else ""}</td>'
            f'<td>{ok(demo)}/{len(demo)}</td><td>{ok(test)}/{len(test)}</td>'
            f'<td>{"yes" if t["solved"]["at_2"] else "no"}</td><td>{"yes" if t["solved"]["oracle"] else "no"}</td>'
            f'<td class="num">{t["seconds"]:.2f}</td><td class="num">{peak}</td>{vcell if vram else ""}'
            f'<td>{html.escape(best_solvers(t["o_score"], 3))}</td></tr>'
            f'<tr class="detail" hidden><td colspan="{10 if vram else 9}"></td></tr></tbody>'
        )
    data = script_json(details)
    palette = "".join(f".c{i}{{background:{c}}}" for i, c in enumerate(PALETTE))
    statuses = sorted({_task_status(t) for t in tasks.values()})
    options = "".join(f'<option value="{s}">{s}</option>' for s in statuses)
    title = f"pytest-batt: {visible.line(results['data'].get('name', ''))} — pass@2 {at2}/{n}"
    note = (f'<p class="note">{unscored} test samples are unscored: their outputs are hidden '
            "(a Kaggle challenges file without solutions).</p>") if unscored else ""
    return _page().substitute(
        title=html.escape(title), palette=palette,
        facts="".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _facts(results)),
        counts="".join(f'<li><span class="k">{_attr(k)}</span> <b data-count="{_attr(k)}">{_attr(v)}</b></li>' for k, v in counts),
        note=note, comparison=_comparison(results.get("comparison")), options=options,
        rows="".join(rows), n=n, data=data,
        vram_head='<th title="largest GPU memory sampled during a sample (MB, NVML)">peak VRAM MB</th>' if vram else "",
    )


@functools.lru_cache(maxsize=1)
def _page() -> string.Template:
    """The page (its CSS and script inline), a package file: edited as HTML, filled by ``string.Template``."""
    return string.Template(importlib.resources.files("pytest_batt").joinpath("report_page.html").read_text(encoding="utf-8"))
