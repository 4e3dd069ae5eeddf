"""The one rule for outside text (visible.py), node ids of odd task ids, the HTML report's script
data and the results file's ceiling: plain functions, no pytest runs."""

from __future__ import annotations

import gzip
import json
import os
import threading

import pytest

# only to check that node ids follow pytest's own rule for parametrize ids
from _pytest.compat import ascii_escaped

from pytest_batt import html_report, nodeids, report, results, visible
from pytest_batt.compare import compare, render

PAYLOAD = "\x1b]0;PWNED\x07\x1b[2J"
HOSTILE = [PAYLOAD, "a\x00b", "tab\there", "cr\rlf\n", "del\x7f", "c1\x9b31m", "bidi\u202eevil", "ls\u2028ps\u2029",
           "zw\u200bj", "lone\ud800", "é中🙂", "back\\slash", "\\x1b", "a/b::c[0]", ""]


def raw_controls(text: str) -> list:
    """Characters a terminal or an XML parser would take for control: none may be left."""
    return [ch for ch in text if (ord(ch) < 0x20 and ch not in "\n\t") or 0x7F <= ord(ch) < 0xA0
            or ch in "\u202e\u2028\u2029\u200b" or 0xD800 <= ord(ch) < 0xE000]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_shows_every_control_character_as_a_visible_escape(value):
    out = visible.text(value)
    assert raw_controls(out) == []
    assert visible.text(out) == out  # idempotent: shown twice reads the same
    out.encode("utf-8")  # a lone surrogate is escaped, so writing never raises
    line = visible.line(value)
    assert "\n" not in line and "\t" not in line and raw_controls(line) == []


def test_text_keeps_what_is_printable_and_the_line_structure():
    assert visible.text(PAYLOAD) == "\\x1b]0;PWNED\\x07\\x1b[2J"
    assert visible.text("a\nb\tc\rd") == "a\nb\tc\\x0dd"
    assert visible.line("a\nb\tc") == "a\\x0ab\\x09c"
    assert visible.text("é中🙂 <b>&") == "é中🙂 <b>&"  # not markup escaping: that is the HTML writer's
    assert visible.text("bidi\u202e\u2028\ud800\x9b") == "bidi\\u202e\\u2028\\ud800\\x9b"
    assert visible.text(ValueError("x\x07")) == "x\\x07"


@pytest.mark.parametrize("value", HOSTILE)
def test_node_ids_escape_task_ids_as_pytest_escapes_parametrize_ids(value):
    name = nodeids.task_name(value)
    # pytest's escaping, and brackets too: the node id's one bracket is its sample's parameter
    assert name == ascii_escaped(value).replace("[", "\\x5b").replace("]", "\\x5d")
    assert name.isascii() and all(0x20 <= ord(c) < 0x7F for c in name)
    assert visible.from_ascii_id(name) == value  # reversible: two task ids never share a node id
    assert nodeids.sample_nodeid(value, "demo", 0) == f"batt/{name}::demo[0]"


def test_ordinary_ids_are_unchanged():
    for tid in ("007bbfb7", "a/b", "../../esc", "x-y_z.1"):
        assert nodeids.task_nodeid(tid) == "batt/" + tid


def test_from_ascii_id_refuses_what_no_task_id_gives():
    for bad in ("\\", "\\q", "\\x1", "\\u12g4"):
        with pytest.raises(ValueError):
            visible.from_ascii_id(bad)


def test_a_type_takes_an_before_a_vowel():
    assert [visible.a_type(v) for v in (3, object(), [], None, Ellipsis, "s")] == [
        "an int", "an object", "a list", "a NoneType", "an ellipsis", "a str"]
    assert visible.a_type(type("", (), {})()) == "a "  # a nameless class: no letter to go by


@pytest.mark.parametrize("value", HOSTILE + ["</script><!--<script>", "&amp;", "]]>"])
def test_script_json_is_safe_inside_a_script_element_and_reads_back_exact(value):
    data = {value: {"samples": [{"err": value, "msg": value}]}}
    text = html_report.script_json(data)
    assert not set(text) & set("<>&\u2028\u2029")
    assert raw_controls(text) == []
    assert json.loads(text) == data


def hostile_results(tid: str = "t" + PAYLOAD, sid: str = "evil" + PAYLOAD, status: str = "unsolved") -> dict:
    sample = {"kind": "demo", "index": 0, "status": status, "candidates": 1, "matched": [], "calls": 1, "seconds": 0.1,
              "cpu_seconds": 0.1, "error": "raised ValueError: " + PAYLOAD + "<!--<script>", "message": "closest: " + sid}
    task = {"samples": [sample], "o_score": {sid: 1}, "d_score": {}, "s_score": {}, "solved": {"oracle": False, "at_2": False},
            "seconds": 0.1, "sha256": "x"}
    return {"schema": 1, "created": "now" + PAYLOAD, "machine": {"platform": "p" + PAYLOAD, "cpus": 1},
            "batt": {"module": "m" + PAYLOAD, "sha256": "b"}, "data": {"name": "d" + PAYLOAD, "sha256": "h"},
            "config": {"timeout_s": 1.0, "workers": 1}, "session": {"wall_s": 1.0, "item_s": 1.0, "complete": True},
            "tasks": {tid: task}}


def test_summary_and_comparison_lines_show_ids_and_names_as_data():
    before = hostile_results(status="solved")
    after = hostile_results()
    after["tasks"]["t" + PAYLOAD]["o_score"] = {"evil" + PAYLOAD: 0}
    lines = report.summary_lines(after, verbose=True) + render(compare(before, after))
    text = "\n".join(lines)
    assert raw_controls(text) == []
    assert "batt/t\\x1b\\x5d0;PWNED\\x07\\x1b\\x5b2J::demo[0]  solved -> unsolved" in text
    from pytest_batt.gates import breaches, parse_gate
    why = breaches([parse_gate("score"), parse_gate("solved")], compare(before, after))
    assert raw_controls("\n".join(report.gate_lines(["score", "solved"], why))) == []


def test_the_html_page_has_no_control_character_and_no_markup_from_a_results_file():
    res = hostile_results()
    res["comparison"] = {"totals": {"at_2": [0, 0], "oracle": [0, 0], "time_ratio": None}, "flags": ["f" + PAYLOAD + "<em>"],
                         "samples": {"changes": [{"nodeid": "batt/x" + PAYLOAD + "<i>::demo[0]", "category": "regressed",
                                                  "before": "solved" + PAYLOAD, "after": "<u>"}]}}
    details = {nodeids.task_name(t): {"samples": []} for t in res["tasks"]}
    page = html_report.render(res, details)
    assert raw_controls(page) == []
    assert "<em>" not in page and "<i>" not in page and "<u>" not in page
    assert "&lt;em&gt;" in page and "&lt;u&gt;" in page
    assert 'data-id="t\\x1b\\x5d0;PWNED\\x07\\x1b\\x5b2J"' in page  # the key the page's script looks its data up by
    assert '"t\\\\x1b\\\\x5d0;PWNED\\\\x07\\\\x1b\\\\x5b2J":' in page


# --- the results file's ceiling -------------------------------------------------------------

def write_bomb(path, mib: int) -> None:
    """A gzip file of ``mib`` MiB of JSON-looking zeros, written a chunk at a time (the test stays small)."""
    with gzip.open(path, "wb", compresslevel=1) as g:
        g.write(b'{"schema": 1, "pad": "')
        zeros = b"0" * (1 << 20)
        for _ in range(mib):
            g.write(zeros)
        g.write(b'"}')


def test_a_gzip_file_expanding_past_the_ceiling_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(results.MAX_TASK_VARIABLE, "2")
    bomb = tmp_path / "bomb.json.gz"
    write_bomb(bomb, 8)
    expanded = []  # what was decompressed: refused once past the ceiling, not after all 8 MiB
    real_read = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, *a: expanded.append(len(chunk := real_read(self, *a))) or chunk)
    with pytest.raises(results.ResultsError) as e:
        results.read(str(bomb))
    assert 2 << 20 < sum(expanded) <= (2 << 20) + (1 << 20) + 1
    msg = str(e.value)
    assert "\n" not in msg and "expands past the 2 MiB a results file may hold" in msg and results.MAX_TASK_VARIABLE in msg


def test_a_plain_file_is_refused_by_a_value_past_the_ceiling_not_by_its_size(tmp_path, monkeypatch):
    monkeypatch.setenv(results.MAX_TASK_VARIABLE, "0.5")
    head = {"schema": 1, "batt": {}, "data": {}, "config": {}, "session": {}}
    tasks = {f"t{i}": {"pad": "x" * (100 << 10)} for i in range(12)}  # 1.2 MiB in all, 0.1 MiB a task
    big = tmp_path / "big.json"
    big.write_text(json.dumps({**head, "tasks": tasks}))
    assert results.read(str(big))["tasks"] == tasks  # the ceiling is per task: the whole file may pass it
    tasks["t3"]["pad"] = "x" * (1 << 20)
    big.write_text(json.dumps({**head, "tasks": tasks}))
    with pytest.raises(results.ResultsError, match="task 't3' expands past the 0.5 MiB"):
        results.read(str(big))


def test_files_under_the_ceiling_read_as_before(tmp_path, monkeypatch):
    res = hostile_results()
    for name in ("r.json", "r.json.gz"):
        results.write(str(tmp_path / name), res)
        assert results.read(str(tmp_path / name)) == res  # raw strings kept exactly
    monkeypatch.setenv(results.MAX_TASK_VARIABLE, "1")  # a file just under a 1 MiB ceiling
    res["tasks"]["t" + PAYLOAD]["samples"][0]["message"] = "x" * ((1 << 20) - len(json.dumps(res, separators=(",", ":"))) - 10)
    results.write(str(tmp_path / "r.json.gz"), res)
    assert results.read(str(tmp_path / "r.json.gz")) == res


@pytest.mark.parametrize("value", ["0", "-3", "lots", "nan", "inf"])
def test_a_bad_ceiling_is_a_one_line_error(tmp_path, monkeypatch, value):
    monkeypatch.setenv(results.MAX_TASK_VARIABLE, value)
    with pytest.raises(results.ResultsError, match=f"{results.MAX_TASK_VARIABLE}=.*not a positive number of MiB"):
        results.ceiling()


def test_the_default_ceiling(monkeypatch):
    monkeypatch.delenv(results.MAX_TASK_VARIABLE, raising=False)
    assert results.ceiling() == 64 << 20 == results.MAX_TASK_MB << 20


def test_a_fifo_or_a_directory_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(pytest.raises(results.ResultsError, results.read, str(fifo))), daemon=True)
    t.start()
    t.join(5)
    assert done and "not a regular file" in str(done[0].value)
    with pytest.raises(results.ResultsError, match="not a regular file"):
        results.read(str(tmp_path))
