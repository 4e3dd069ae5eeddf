"""``--batt-html``: one self-contained HTML file (inline CSS, JS and data; nothing fetched).

The header and one table row per task are plain HTML (they read without JavaScript); the
grids of a task are drawn by the page's script from a JSON blob when its row is opened, so
a report of all 800 ARC-AGI-1 tasks stays a few MB and opens quickly. Built from the results
dict and what the controller kept (:func:`collect`): the task data, each sample's status and
text, the two attempts of each test sample and the closest candidates of an unsolved demo.
"""

from __future__ import annotations

import html
import json
from typing import Any, Callable, Dict, List, Optional

from . import grids, visible
from .nodeids import sample_nodeid, task_name, task_nodeid
from .pictures import PALETTE

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
            }
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


def _best(o_score: Dict[str, int], n: int = 3) -> str:
    top = sorted(o_score.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{visible.line(sid)} ({hits})" for sid, hits in top if hits > 0) or "-"


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
        + (f'<table class="changes"><tr><th>change</th><th>sample</th><th>status</th></tr>{rows}</table>' if rows else "<p>no sample changed status</p>")
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
    rows = []
    for tid, t in tasks.items():
        st = _task_status(t)
        demo = [s for s in t["samples"] if s["kind"] == "demo"]
        test = [s for s in t["samples"] if s["kind"] == "test"]
        ok: Callable[[List[Dict[str, Any]]], int] = lambda xs: sum(s["status"] == "solved" for s in xs)  # noqa: E731
        reg = task_nodeid(tid) in regressed
        name = html.escape(task_name(tid))
        rows.append(
            f'<tbody data-id="{name}" data-status="{st}" data-solved="{int(t["solved"]["at_2"])}" '
            f'data-time="{t["seconds"]:.6f}" data-reg="{int(reg)}"><tr class="row">'
            f'<td class="id">{name}</td><td><span class="st {st}">{st}</span>{" <b>regressed</b>" if reg else ""}</td>'
            f'<td>{ok(demo)}/{len(demo)}</td><td>{ok(test)}/{len(test)}</td>'
            f'<td>{"yes" if t["solved"]["at_2"] else "no"}</td><td>{"yes" if t["solved"]["oracle"] else "no"}</td>'
            f'<td class="num">{t["seconds"]:.2f}</td><td>{html.escape(_best(t["o_score"]))}</td></tr>'
            f'<tr class="detail" hidden><td colspan="8"></td></tr></tbody>'
        )
    data = script_json(details)
    palette = "".join(f".c{i}{{background:{c}}}" for i, c in enumerate(PALETTE))
    statuses = sorted({_task_status(t) for t in tasks.values()})
    options = "".join(f'<option value="{s}">{s}</option>' for s in statuses)
    title = f"pytest-batt: {visible.line(results['data'].get('name', ''))} — pass@2 {at2}/{n}"
    note = f"<p class=\"note\">{unscored} test samples are unscored: their outputs are hidden (a Kaggle challenges file without solutions).</p>" if unscored else ""
    return _PAGE.format(
        title=html.escape(title), palette=palette,
        facts="".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _facts(results)),
        counts="".join(f'<li><span class="k">{_attr(k)}</span> <b data-count="{_attr(k)}">{_attr(v)}</b></li>' for k, v in counts),
        note=note, comparison=_comparison(results.get("comparison")), options=options,
        rows="".join(rows), n=n, data=data,
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fafafa}}
h1{{font-size:1.4em}} h2{{font-size:1.1em}}
table.facts th{{text-align:left;padding-right:1em;font-weight:600}}
ul.counts{{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5em 1.5em}}
ul.counts b{{font-size:1.2em}}
#comparison tr.regressed td{{color:#b00020;font-weight:600}} #comparison tr.improved td{{color:#1a7f37}}
.controls{{margin:1em 0;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}}
table.tasks{{border-collapse:collapse;width:100%}}
table.tasks th{{text-align:left;border-bottom:2px solid #999;cursor:pointer;user-select:none;padding:2px 8px}}
table.tasks th.sorted-asc::after{{content:" \\25B2"}} table.tasks th.sorted-desc::after{{content:" \\25BC"}}
table.tasks td{{padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top}}
tr.row{{cursor:pointer}} tr.row:hover{{background:#eef}}
td.num{{text-align:right}} td.id{{font-family:monospace}}
.st{{padding:0 .4em;border-radius:3px;color:#fff;background:#777}}
.st.solved{{background:#1a7f37}} .st.oracle{{background:#8a6d00}} .st.unsolved{{background:#b00020}}
.st.timeout,.st.crash,.st.error,.st.missing{{background:#6a1b9a}} .st.unscored{{background:#455a64}}
.sample{{margin:.6em 0;padding:.4em;border-left:4px solid #ccc}}
.sample.solved{{border-color:#1a7f37}} .sample.unsolved{{border-color:#b00020}}
.sample.timeout,.sample.error,.sample.crash,.sample.missing{{border-color:#6a1b9a}}
.pair{{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}}
figure{{margin:0}} figcaption{{font-size:.85em;color:#444;max-width:22em;overflow-wrap:anywhere}}
.g{{display:grid;gap:1px;background:#555;border:1px solid #555;width:max-content}}
.g i{{display:block;width:var(--c);height:var(--c)}}
.g i.x{{outline:2px solid #fff;outline-offset:-3px;box-shadow:inset 0 0 0 1px #000}}
pre{{white-space:pre-wrap;background:#f0f0f0;padding:.4em;margin:.3em 0;max-height:20em;overflow:auto}}
{palette}
</style></head>
<body>
<h1>{title}</h1>
<table class="facts">{facts}</table>
<ul class="counts" id="counts">{counts}</ul>
{note}
{comparison}
<div class="controls">
<label><input type="checkbox" id="hide-solved"> hide solved tasks (pass@2)</label>
<label>status <select id="status"><option value="">any</option>{options}</select></label>
<label>min. time (s) <input type="number" id="min-time" min="0" step="0.1" style="width:6em"></label>
<label>task <input type="search" id="task-id" placeholder="id" style="width:8em"></label>
<span id="shown">{n} of {n} tasks shown</span>
</div>
<table class="tasks" id="tasks">
<thead><tr><th data-key="id">task</th><th data-key="status">status</th><th>demo</th><th>test</th>
<th data-key="solved">pass@2</th><th>oracle</th><th data-key="time">seconds</th><th>best solvers (hits)</th></tr></thead>
{rows}
</table>
<p class="note">Open a task (click its row) to see its grids: each test sample's two attempts (its candidates ranked by their solver's demo score, as pass@2 counts them) beside the expected output, with differing cells outlined.</p>
<script type="application/json" id="batt-data">{data}</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("batt-data").textContent);
const table = document.getElementById("tasks");
const bodies = Array.from(table.tBodies);
function decode(enc) {{
  const [hw, cells] = enc.split(":");
  const [h, w] = hw.split("x").map(Number);
  return {{h, w, cells}};
}}
function drawGrid(enc, caption, ref) {{
  const g = decode(enc);
  const r = ref ? decode(ref) : null;
  const same = r && r.h === g.h && r.w === g.w;
  const fig = document.createElement("figure");
  const div = document.createElement("div");
  div.className = "g";
  div.dataset.shape = g.h + "x" + g.w;
  div.style.gridTemplateColumns = "repeat(" + g.w + ", var(--c))";
  div.style.setProperty("--c", Math.max(5, Math.min(18, Math.floor(240 / Math.max(g.h, g.w)))) + "px");
  let html = "", diffs = 0;
  for (let i = 0; i < g.cells.length; i++) {{
    const x = same && r.cells[i] !== g.cells[i];
    diffs += x;
    html += '<i class="c' + g.cells[i] + (x ? ' x' : '') + '"></i>';
  }}
  div.innerHTML = html;
  const cap = document.createElement("figcaption");
  cap.textContent = caption + " " + g.h + "x" + g.w + (same ? (diffs ? ", " + diffs + " cells differ" : ", equal") : (r ? ", other shape" : ""));
  fig.append(div, cap);
  return fig;
}}
function drawTask(body) {{
  const cell = body.querySelector("tr.detail td");
  if (cell.dataset.drawn) return;
  cell.dataset.drawn = "1";
  for (const s of DATA[body.dataset.id].samples) {{
    const box = document.createElement("div");
    box.className = "sample " + s.st;
    box.dataset.sample = s.k + "[" + s.i + "]";
    const head = document.createElement("div");
    head.innerHTML = "<b></b> <span></span>";
    head.firstChild.textContent = s.k + "[" + s.i + "]";
    head.lastChild.className = "st " + s.st;
    head.lastChild.textContent = s.st;
    const pair = document.createElement("div");
    pair.className = "pair";
    if (s.in) pair.append(drawGrid(s.in, "input"));
    if (s.out) pair.append(drawGrid(s.out, "expected"));
    else if (s.k === "test") {{ const p = document.createElement("figure"); p.textContent = "expected output hidden"; pair.append(p); }}
    for (const [label, enc] of (s.c || [])) pair.append(drawGrid(enc, label, s.out));
    if (s.k === "test" && s.st !== "missing" && !(s.c || []).length) {{ const p = document.createElement("figure"); p.textContent = "no valid candidate grid"; pair.append(p); }}
    box.append(head, pair);
    for (const t of [s.msg, s.err]) if (t) {{ const pre = document.createElement("pre"); pre.textContent = t; box.append(pre); }}
    cell.append(box);
  }}
}}
function toggle(body, open) {{
  const d = body.querySelector("tr.detail");
  if (open === undefined) open = d.hidden;
  if (open) drawTask(body);
  d.hidden = !open;
}}
for (const b of bodies) b.querySelector("tr.row").addEventListener("click", () => toggle(b));
const hide = document.getElementById("hide-solved"), status = document.getElementById("status");
const minTime = document.getElementById("min-time"), taskId = document.getElementById("task-id");
function applyFilter() {{
  let shown = 0;
  const t = parseFloat(minTime.value) || 0, q = taskId.value.trim().toLowerCase();
  for (const b of bodies) {{
    const h = (hide.checked && b.dataset.solved === "1") || (status.value && b.dataset.status !== status.value)
      || Number(b.dataset.time) < t || (q && !b.dataset.id.toLowerCase().includes(q));
    b.hidden = h;
    shown += !h;
  }}
  document.getElementById("shown").textContent = shown + " of " + bodies.length + " tasks shown";
}}
for (const el of [hide, status, minTime, taskId]) el.addEventListener("input", applyFilter);
hide.addEventListener("change", applyFilter);
const RANK = {{crash: 0, timeout: 1, error: 2, missing: 3, unsolved: 4, oracle: 5, unscored: 6, solved: 7}};
const KEYS = {{id: b => b.dataset.id, status: b => (b.dataset.reg === "1" ? -1 : RANK[b.dataset.status]),
  solved: b => Number(b.dataset.solved), time: b => Number(b.dataset.time)}};
let sorted = {{key: null, dir: 1}};
for (const th of table.tHead.querySelectorAll("th[data-key]")) th.addEventListener("click", () => {{
  const key = th.dataset.key;
  sorted = {{key, dir: sorted.key === key ? -sorted.dir : 1}};
  const f = KEYS[key];
  bodies.sort((a, b) => {{ const x = f(a), y = f(b); return (x < y ? -1 : x > y ? 1 : 0) * sorted.dir; }});
  for (const b of bodies) table.append(b);
  for (const h of table.tHead.querySelectorAll("th")) h.className = "";
  th.className = sorted.dir > 0 ? "sorted-asc" : "sorted-desc";
}});
if (location.hash.length > 1) {{
  const b = bodies.find(x => x.dataset.id === decodeURIComponent(location.hash.slice(1)));
  if (b) {{ toggle(b, true); b.scrollIntoView(); }}
}}
</script>
</body></html>
"""
