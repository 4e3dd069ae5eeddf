"""Flat memory: finished tasks go to a spill file, results files are read task by task, and every
output is what it was when the controller held the whole run in memory.

``LegacyRun`` below is the controller's run as it was before (every record kept, all tasks
folded at the end; its ``task_results`` and ``attempts`` are that code, unchanged): the runs
here feed the same records to both, in many orders, and compare the outputs byte for byte.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import random
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from toys import TASKS, TOY_BATT, make_project

from pytest_batt import battrun, compare, html_report, merge, outputs, report, results, resume, runner, scoring, spill, submission
from pytest_batt import gates as gates_mod
from pytest_batt.records import SampleRecord, new_record, sample_entry
from pytest_batt.tasks import TaskSet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from make_wide_batt import generate as wide_batt


class LegacyRun(battrun.BattRun):
    """The run before flat memory: nothing is folded before the end, every record is kept whole."""

    def _fold_if_finished(self, task_id: str) -> None:
        pass

    def finish(self) -> None:
        self.finished = self.started + 1.0

    def task(self, task_id):
        task = self._parsed.get(task_id)
        if task is None:
            try:
                task = self._parsed[task_id] = self.taskset.task(task_id)
            except battrun.BattDataError:
                return None
        return task

    def attempts(self, task_id):
        self._keep_two(task_id, self._demo_score(task_id, partial=True))
        out = []
        for nodeid in self._test_nodes.get(task_id, []):
            kept = self.records[nodeid].get("attempts", []) if nodeid in self.records else []
            out.append([g for g in (battrun.grids.decode(enc) for _, enc in kept) if g is not None])
        return out

    def task_results(self) -> Dict[str, Any]:
        expected = self.selected_nodeids()
        by_task: Dict[str, List[SampleRecord]] = {tid: [] for tid in self.task_ids}
        for nodeid in expected:
            tid, kind, index = self.plan[nodeid]
            rec = self.records.get(nodeid) or new_record(tid, kind, index, status="missing",
                                                         error="never ran (interrupted, deselected by a crash, or -x)")
            by_task[tid].append(rec)
        n_tests: Dict[str, int] = {}
        for tid, kind, _ in self.plan.values():
            n_tests[tid] = n_tests.get(tid, 0) + (kind == "test")
        out: Dict[str, Any] = {}
        for tid, recs in by_task.items():
            if tid in self.whole:
                out[tid] = self.whole[tid]
                continue
            if not recs and tid not in self.task_errors:
                continue
            recs.sort(key=lambda r: (r["kind"] != "demo", r["index"]))
            scores = scoring.score_task(recs)
            tests = [r for r in recs if r["kind"] == "test"]
            partial = any(r["status"] == "missing" for r in recs)
            out[tid] = {
                "samples": [sample_entry(r, resume.fold_data(r) if partial else None) for r in recs],
                "o_score": scores["o_score"],
                "d_score": scores["d_score"],
                "s_score": scores["s_score"],
                "solved": scoring.solved(tests, scores["demo_score"], n_tests.get(tid, 0)),
                "seconds": round(sum(r.get("seconds") or 0.0 for r in recs), 6),
                "sha256": self.taskset.task_hash(tid),
            }
            if tid in self.task_errors:
                out[tid]["error"] = self.task_errors[tid]
        return out


# --- records of real batt calls on toy tasks ------------------------------------------------------

MORE = {  # two more tasks: a test output of another shape, three test samples
    "wide0004": {"train": [{"input": [[1, 2], [3, 4]], "output": [[3, 1], [4, 2]]},
                           {"input": [[5, 6], [7, 8]], "output": [[7, 5], [8, 6]]}],
                 "test": [{"input": [[1, 0], [0, 1]], "output": [[0, 1], [1, 0]]},
                          {"input": [[2, 2], [2, 3]], "output": [[2, 2], [3, 2]]}]},
    "many0005": {"train": [{"input": [[4]], "output": [[4]]}],
                 "test": [{"input": [[1]], "output": [[1]]}, {"input": [[2, 3]], "output": [[9]]},
                          {"input": [[5, 6]], "output": [[6, 5]]}]},
}
ALL = {**TASKS, **MORE}
HEAD = {"schema": 1, "tool": {"name": "pytest-batt", "version": "x"}, "created": "2026-01-01T00:00:00+00:00",
        "machine": {"python": "3", "platform": "p", "cpus": 2}, "batt": {"module": "m", "sha256": "b" * 64},
        "data": {"name": "toys", "sha256": "d" * 64}, "config": {"timeout_s": 5.0, "workers": 2}}


def _records(source: str) -> Dict[str, SampleRecord]:
    """Each sample's worker record (as it travels: JSON), from a real batt's calls."""
    ns: Dict[str, Any] = {}
    exec(source, ns)
    taskset = TaskSet("toys", ALL)
    out = {}
    for tid in ALL:
        blind = taskset.without_test_outputs([tid]).task(tid)
        for sample in blind.samples:
            rec = runner.run_sample(ns["batt"], blind, sample)
            out[f"batt/{tid}::{sample.name}"] = json.loads(json.dumps(rec))
    return out


@pytest.fixture(scope="module")
def records():
    return {"toy": _records(TOY_BATT), "wide": _records(wide_batt(24, 40, 5))}


def feed(cls, recs, order, *, drop=(), failed=None, crash=None, selected=None, spill_dir=None):
    run = cls(TaskSet("toys", ALL), list(ALL), spill_dir=spill_dir)
    if selected is not None:
        run.collected(selected)
    if failed:
        run.task_failed(failed, "bad data")
    for nodeid in order:
        if nodeid in drop or (failed and nodeid.startswith(f"batt/{failed}::")):  # a task that failed to collect runs nothing
            continue
        if nodeid == crash:
            run.add_failure(nodeid, "crash", "the worker died", seconds=1.5)
        else:
            run.add(nodeid, copy.deepcopy(recs[nodeid]))
    return run


def outputs_of(run, interrupted=False, baseline=None):
    """Every end-of-run output, as text: results file, summary, comparison and gates, HTML, submission."""
    run.finish()
    run.finished = run.started + 1.0  # the only clock in them
    res = run.results(dict(HEAD), interrupted, process_s=2.0)
    out = {}
    if baseline is not None:
        comp = compare.compare(baseline, res)
        res["comparison"] = compare.to_json(comp)
        gates = [gates_mod.parse_gate(g) for g in ("solved", "pass2", "oracle", "score", "candidates:1%", "time:1%")]
        out["comparison"] = "\n".join(compare.render(comp) + report.gate_lines([g.expr for g in gates], gates_mod.breaches(gates, comp)))
    out["file"] = "".join(results.chunks(res))
    out["summary"] = "\n".join(report.summary_lines(res, verbose=True))
    out["html"] = html_report.render(res, html_report.collect(run, res))
    out["submission"] = submission.dumps(outputs.submission_of(run))
    return out


SCENARIOS = {
    "complete": {},
    "interrupted": {"drop": ("batt/flip0001::demo[1]", "batt/wide0004::test[1]", "batt/many0005::test[0]")},
    "task error and a crash": {"failed": "same0002", "crash": "batt/none0003::demo[0]"},
    "a test sample crashed": {"crash": "batt/wide0004::test[0]"},
    "deselected": {"selected": ["batt/flip0001::demo[0]", "batt/flip0001::test[0]", "batt/wide0004::demo[1]", "batt/wide0004::test[1]",
                                "batt/many0005::demo[0]", "batt/many0005::test[2]", "batt/none0003::test[0]", "batt/none0003::test[1]"]},
}


@pytest.mark.parametrize("batt", ["toy", "wide"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_folding_each_task_when_it_finishes_gives_the_outputs_of_folding_at_the_end(records, batt, scenario, tmp_path):
    recs = records[batt]
    opts = dict(SCENARIOS[scenario])
    if "selected" in opts:
        opts["drop"] = set(recs) - set(opts["selected"])
    baseline_run = feed(LegacyRun, recs, list(recs), drop=("batt/wide0004::demo[0]",))
    baseline_run.finish()
    baseline = json.loads("".join(results.chunks(baseline_run.results(dict(HEAD), False))))
    for seed in range(4):
        order = list(recs)
        random.Random(seed).shuffle(order)
        before = outputs_of(feed(LegacyRun, recs, order, **opts), interrupted="drop" in opts, baseline=baseline)
        flat = feed(battrun.BattRun, recs, order, spill_dir=str(tmp_path), **opts)
        folded_early = len(flat.store) if flat._store is not None else 0
        after = outputs_of(flat, interrupted="drop" in opts, baseline=baseline)
        for name in before:
            assert after[name] == before[name], (scenario, seed, name)
        assert folded_early > 0
        kept = [r for r in flat.records.values() if set(r) - set(battrun.SLIM_KEYS)]
        assert kept == []  # after the run, no record keeps scores: they are in the store


def test_a_task_leaves_memory_when_its_last_selected_sample_is_folded(records, tmp_path):
    recs = records["wide"]
    run = battrun.BattRun(TaskSet("toys", ALL), list(ALL), spill_dir=str(tmp_path))
    flip = [n for n in recs if n.startswith("batt/flip0001::")]
    for nodeid in flip[:-1]:
        run.add(nodeid, copy.deepcopy(recs[nodeid]))
    assert run._store is None and "d" in run.records[flip[0]]
    run.add(flip[-1], copy.deepcopy(recs[flip[-1]]))
    assert list(run.store) == ["flip0001"] and all(set(run.records[n]) <= set(battrun.SLIM_KEYS) for n in flip)
    view = run.task_results()["flip0001"]
    assert isinstance(view, spill.TaskView) and "d_score" not in run.store._light["flip0001"]
    assert view["d_score"] and view == json.loads(view.text())
    # A sample reported again afterwards (a rerun plugin) is judged for its report, the entry stays
    again = run.add(flip[0], copy.deepcopy(recs[flip[0]]))
    assert again is not None and again["status"] in ("solved", "unsolved") and run.store.text("flip0001") == view.text()


# --- the store ------------------------------------------------------------------------------------

def test_a_task_store_keeps_entries_on_disk_and_reads_like_the_dicts_it_was_given(tmp_path):
    store = spill.TaskStore(str(tmp_path))
    small = {"samples": [{"kind": "demo", "index": 0, "status": "solved"}], "o_score": {"a": 1},
             "d_score": {"a": {"d": {"last_t": 1, "iz": 0, "zo": 1}}},
             "s_score": {}, "solved": {"oracle": True, "at_2": True}, "seconds": 0.5, "sha256": "h"}
    big = {"samples": [{"kind": "demo", "index": 0, "message": "x" * (spill.LIGHT_LIMIT + 1)}], "o_score": {}}
    folded = {"samples": [{"kind": "demo", "index": 0, "fold": {"d": {}}}], "seconds": 1.0}
    for tid, entry in (("s", small), ("b", big), ("f", folded)):
        store.put(tid, entry)
    assert list(store) == ["s", "b", "f"] and len(store) == 3 and "s" in store and "x" not in store
    assert store._light["s"] == {k: v for k, v in small.items() if k not in spill.HEAVY}
    assert store._light["b"] is None and "samples" not in store._light["f"]  # too big / fold data: on disk
    assert store["s"]["d_score"] == small["d_score"] and store["s"]["o_score"] == {"a": 1}
    assert store._cached == (None, None)  # each score read alone, not the whole entry
    for tid, entry in (("s", small), ("b", big), ("f", folded)):
        view = store[tid]
        assert dict(view) == entry and list(view) == list(entry) and view.text() == json.dumps(entry, separators=(",", ":"))
        assert view.get("nothing") is None and ("o_score" in view) == ("o_score" in entry)
    store.put("n", {"o_score": {"x": 1}, 7: "not a str key"})  # json's way with it: no parts, the whole text
    assert store["n"]["o_score"] == {"x": 1} and store.text("n") == '{"o_score":{"x":1},"7":"not a str key"}'
    store.put("s", {**small, "seconds": 2.0})  # again: replaced, in its place
    assert list(store) == ["s", "b", "f", "n"] and store["s"]["seconds"] == 2.0 and store.full("s")["seconds"] == 2.0
    with pytest.raises(KeyError):
        store["x"]
    store.close()
    assert list(tmp_path.iterdir()) == []  # an anonymous file: nothing left behind


def test_the_results_writer_copies_stored_tasks_as_their_text(tmp_path):
    store = spill.TaskStore()
    entries = {"t1": {"o_score": {"é": 1}, "x": [1.5, None]}, "t2": {}}
    for tid, e in entries.items():
        store.put(tid, e)
    data = {**HEAD, "session": {"complete": True}, "tasks": store, "comparison": {"n": 1}}
    plain = {**HEAD, "session": {"complete": True}, "tasks": entries, "comparison": {"n": 1}}
    assert "".join(results.chunks(data)) == json.dumps(plain, separators=(",", ":")) + "\n"
    assert "".join(results.chunks({**data, "tasks": dict(store)})) == "".join(results.chunks(plain))  # a dict of views too


# --- reading task by task -------------------------------------------------------------------------

def _file(tmp_path, name, data, **dump):
    path = tmp_path / name
    text = json.dumps(data, **dump)
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return str(path)


def _results(n):
    tasks = {f"t{i:03d}": {"samples": [{"kind": "demo", "index": 0, "status": "solved", "message": "a \"quoted\"\nline é"}],
                           "o_score": {f"s{j}": j for j in range(50)}, "seconds": 0.25 * i, "n": 10 ** 20 + i} for i in range(n)}
    return {**HEAD, "session": {"wall_s": 1.0, "complete": True}, "tasks": tasks, "comparison": {"tasks": {"common": list(tasks)}}}


@pytest.mark.parametrize("name, dump", [("r.json", {"separators": (",", ":")}), ("r.json.gz", {}), ("indented.json", {"indent": 2}),
                                        ("ascii.json", {"ensure_ascii": False})])
def test_load_reads_what_read_reads_one_task_at_a_time(tmp_path, name, dump, monkeypatch):
    data = _results(40)
    path = _file(tmp_path, name, data, **dump)
    monkeypatch.setattr(results, "_READ_CHARS", 97)  # values cut across reads at every place
    loaded = results.load(path, str(tmp_path))
    assert loaded == results.read(path) == data and list(loaded) == list(data)
    assert isinstance(loaded["tasks"], spill.TaskStore) and list(loaded["tasks"]) == list(data["tasks"])
    kinds = [kind for kind, _, _ in results.iter_file(path)]
    assert kinds.count("task") == 40 and kinds.index("tasks") == len(HEAD) + 1  # after the header and the session


def test_the_ceiling_is_per_task_not_per_file(tmp_path, monkeypatch):
    data = _results(60)
    path = _file(tmp_path, "big.json.gz", data)
    one = max(len(json.dumps(t)) for t in data["tasks"].values())
    whole = len(json.dumps(data))
    assert results.load(path, limit=one + 10) == data and whole > 20 * (one + 10)
    monkeypatch.setattr(results, "MAX_FILE_CHARS", whole - 1)  # and the whole file has a far higher one
    with pytest.raises(results.ResultsError, match=r"big.json.gz: more than .* GiB of JSON .* a decompression bomb"):
        results.load(path)
    monkeypatch.undo()
    data["tasks"]["t007"]["o_score"]["huge"] = "x" * (3 * one)
    path = _file(tmp_path, "bomb.json.gz", data)
    with pytest.raises(results.ResultsError, match=r"bomb.json.gz: task 't007' expands past the .* MiB a results file may hold at once"):
        results.load(path, limit=2 * one)


@pytest.mark.parametrize(
    "content, why",
    [("{", "not valid JSON"), ('{"schema": 2, "tasks": {}}', "schema: 2"), ("[]", "not a pytest-batt results file"),
     ('{"schema": 1}', "no 'batt' object"), ('{"schema": 1, "tasks": {"a": 1}}', "task 'a' is not an object"),
     ('{"schema": 1, "tasks": {"a": {}} x', "not valid JSON"), ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
     ('{"schema": 1, "tasks": {"a": {"b": "unterminated', "not valid JSON")],
)
def test_unusable_files_are_refused_as_read_refuses_them(tmp_path, content, why):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(results.ResultsError, match=why):
        results.load(str(path))
    with pytest.raises(results.ResultsError, match="none.json: no such results file"):
        results.load(str(tmp_path / "none.json"))
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(json.dumps(_results(3)).encode())[:60])
    with pytest.raises(results.ResultsError, match="cut.json.gz: cannot be read"):
        results.load(str(tmp_path / "cut.json.gz"))
    os.mkfifo(tmp_path / "pipe")  # refused, not waited on for a writer
    with pytest.raises(results.ResultsError, match="pipe: not a regular file"):
        results.load(str(tmp_path / "pipe"))


def test_the_commands_give_the_same_from_loaded_files_as_from_read_ones(records, tmp_path):
    """compare, merge, submission and html, on files read whole (before) and task by task (now)."""
    recs = records["wide"]
    full, part = (feed(LegacyRun, recs, list(recs), drop=drop) for drop in ((), ("batt/same0002::test[0]", "batt/none0003::demo[0]")))
    for name, run in (("full", full), ("part", part)):
        run.finish()
        results.write(str(tmp_path / f"{name}.json.gz"), run.results(dict(HEAD), name == "part"))
        res = results.read(str(tmp_path / f"{name}.json.gz"))
        for k in (1, 2):  # and the two shards a --batt-shard k/2 run would have left
            mine = list(ALL)[k - 1::2]
            shard = {**res, "config": {**res["config"], "shard": {"index": k, "count": 2, "selection": list(ALL), "by": "t"}},
                     "tasks": {t: e for t, e in res["tasks"].items() if t in mine}}
            results.write(str(tmp_path / f"{name}{k}.json.gz"), shard)
    paths = [str(tmp_path / f) for f in ("full.json.gz", "part.json.gz")]
    read, loaded = [results.read(p) for p in paths], [results.load(p) for p in paths]
    assert compare.to_json(compare.compare(*read)) == compare.to_json(compare.compare(*loaded))
    assert compare.render(compare.compare(*read)) == compare.render(compare.compare(*loaded))
    for name in ("full", "part"):
        shards = [str(tmp_path / f"{name}{k}.json.gz") for k in (2, 1)]
        merged = [merge.merge([(p, reader(p)) for p in shards]) for reader in (results.read, results.load)]
        for m in merged:
            m["created"] = "now"
        assert "".join(results.chunks(merged[0])) == "".join(results.chunks(merged[1]))
        assert merge.summary(merged[0]) == merge.summary(merged[1])
    taskset = TaskSet("toys", ALL)
    for whole, flat in zip(read, loaded):
        assert submission.dumps(submission.from_results(whole).submission) == submission.dumps(submission.from_results(flat).submission)
        pages = [html_report.render(d, html_report.collect(battrun.BattRun.from_results(d, taskset), d)) for d in (whole, flat)]
        assert pages[0] == pages[1]


def test_a_resumed_run_takes_whole_tasks_without_reading_their_scores(records, tmp_path):
    recs = records["wide"]
    first = feed(battrun.BattRun, recs, list(recs), drop=("batt/flip0001::test[0]",))
    first.finish()
    results.write(str(tmp_path / "r.json.gz"), first.results(dict(HEAD), True))
    previous = results.load(str(tmp_path / "r.json.gz"))
    taken = resume.take(previous, first.plan, retry=False)
    assert set(taken.whole) == set(ALL) - {"flip0001"} and all(isinstance(e, spill.TaskView) for e in taken.whole.values())
    assert all("d_score" not in previous["tasks"]._light[t] for t in taken.whole)
    run = battrun.BattRun(TaskSet("toys", ALL), list(ALL), spill_dir=str(tmp_path))
    run.records.update(taken.records)
    run.whole.update(taken.whole)
    run.add("batt/flip0001::test[0]", copy.deepcopy(recs["batt/flip0001::test[0]"]))
    legacy = feed(LegacyRun, recs, list(recs))
    assert outputs_of(run)["file"] == outputs_of(legacy)["file"]


# --- end to end: the plugin and the commands, with and without folding as tasks finish ----------

LEGACY_PLUGIN = '''
"""Loaded with -p: the controller folds every task at the end, keeping all records, as it used to."""
import time

from pytest_batt import battrun


def finish(self):
    self.finished = time.perf_counter()


battrun.BattRun._fold_if_finished = lambda self, task_id: None
battrun.BattRun.finish = finish
'''

# Times and peak memory: measurements, the only things two runs may differ in
_TIMES = re.compile(r'"(created|wall_s|item_s|process_s|seconds|cpu_seconds|import_s|time_ratio|memory_mb)":("[^"]*"|[-0-9.e]+|null)')


def _same_text(text):
    """Times and memory peaks (and what is computed from them) are the only things two runs may differ in."""
    text = _TIMES.sub(r'"\1":0', text)
    text = re.sub(r'<td class="num">\d+</td>', '<td class="num">M</td>', text)  # the HTML report's peak MB column
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "T", text)
    return re.sub(r"\d+\.\d+", "N", text)


REFERENCE = ["--batt", "007bbfb7,0ca9ddb6,3bd67248", "--batt-data", "arcagi1-training"]


@pytest.mark.parametrize("workers, batt", [("0", "wide.py"), ("2", "wide.py"), ("2", "pytest_batt.reference")])
def test_the_plugins_outputs_are_the_same_as_when_it_folded_everything_at_the_end(pytester, monkeypatch, workers, batt):
    make_project(pytester, toy=TOY_BATT, wide=wide_batt(30, 60, 6))
    pytester.makepyfile(legacy_fold=LEGACY_PLUGIN)
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))  # -p legacy_fold, on the workers too
    data = REFERENCE if batt == "pytest_batt.reference" else ["--batt", "all", "--batt-data", "tasks"]
    base = [*data, "-p", "no:cacheprovider", "-n", workers, "-rN"]
    pytester.runpytest_subprocess(*base, "--batt-module", "toy.py", "--batt-json", "base.json")
    got = {}
    for mode in ("legacy", "flat"):
        extra = ["-p", "legacy_fold"] if mode == "legacy" else []
        res = pytester.runpytest_subprocess(*base, *extra, "--batt-module", batt, "--batt-json", f"{mode}.json.gz",
                                            "--batt-html", f"{mode}.html", "--batt-submission", f"{mode}-sub.json",
                                            "--batt-compare", "base.json", "--batt-compare-fail", "solved",
                                            "--batt-save", f"{mode}-save.json")
        text = res.stdout.str()
        summary, comparison = text[text.index("batt summary"):text.index("batt comparison")], text[text.index("batt comparison"):]
        got[mode] = {
            "file": _same_text(gzip.decompress((pytester.path / f"{mode}.json.gz").read_bytes()).decode()),
            "save": _same_text((pytester.path / f"{mode}-save.json").read_text()),
            "html": _same_text((pytester.path / f"{mode}.html").read_text()),
            "submission": (pytester.path / f"{mode}-sub.json").read_text(),
            # (which sample was the slowest is a matter of time too)
            "summary": re.sub(r"(demo|test)\[\d\] Ns", "S", _same_text(re.sub(rf"\S*{mode}\S*|\([0-9.]+ MB\)|memory: .*", "", summary))),
            "comparison": _same_text("\n".join(line for line in comparison.splitlines()
                                                if not line.startswith(("=", "highest time ratios", "peak memory")))),
            "ret": res.ret,
        }
    for key in got["flat"]:
        assert got["flat"][key] == got["legacy"][key], key
    assert '"d_score":{"' in got["flat"]["file"] and "samples: " in got["flat"]["comparison"]
    # ... and the commands read them back the same, task by task
    for args in (["compare", "base.json", "flat.json.gz"], ["submission", "flat.json.gz", "-o", "again.json"],
                 ["html", "flat.json.gz", "-o", "again.html", "--batt-data", data[3]]):
        assert pytester.run(sys.executable, "-m", "pytest_batt", *args).ret in (0, 1), args
    assert (pytester.path / "again.json").read_text() == got["flat"]["submission"]


# --- the benchmark's pieces -----------------------------------------------------------------------

def test_the_wide_batt_has_the_shape_the_benchmark_promises():
    ns: Dict[str, Any] = {}
    exec(wide_batt(300, 300, 60), ns)
    S = (((1, 2), (3, 4)), ((4, 3), (2, 1))),
    o, s = ns["batt"]("t", S, ((1, 2), (3, 4)), ((4, 3), (2, 1)), None)
    assert len(o) == 300 and len({c[2] for c in o}) == 300 and len(s) == 300
    assert {row[2] for row in s} == {f"d{d}" for d in range(60)} and sum(row[1] == "None" for row in s) == 60
    assert ns["batt"]("t", S, ((1, 2), (3, 4)), ((4, 3), (2, 1)), None) == (o, s)  # pure
    assert ns["batt"]("t", S, ((1, 2), (3, 4)), None, None)[1] == []


def test_same_outputs_sees_scores_statuses_and_attempts_not_times(records, tmp_path):
    from same_outputs import differences

    recs = records["toy"]
    for name in ("before", "after"):
        out = outputs_of(feed(battrun.BattRun, recs, list(recs)))
        data = json.loads(out["file"])
        for task in data["tasks"].values():  # the second run took longer
            task["seconds"] += name == "after"
            for sample in task["samples"]:
                sample["seconds"] += name == "after"
        (tmp_path / name).mkdir()
        results.write(str(tmp_path / name / "r.json.gz"), data)
        (tmp_path / name / "s.json").write_text(out["submission"])
        page = out["html"] if name == "before" else out["html"].replace("1.0 s samples", "2.5 s samples")
        (tmp_path / name / "r.html").write_text(page)
    assert differences(str(tmp_path / "before"), str(tmp_path / "after")) == []
    (tmp_path / "after" / "s.json").write_text("{}")
    data = results.read(str(tmp_path / "after" / "r.json.gz"))
    data["tasks"]["flip0001"]["samples"][0]["status"] = "timeout"
    results.write(str(tmp_path / "after" / "r.json.gz"), data)
    assert differences(str(tmp_path / "before"), str(tmp_path / "after")) == ["task flip0001 differs", "s.json differs"]
