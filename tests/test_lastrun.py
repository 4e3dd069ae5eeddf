"""lastrun: the last run's seconds in pytest's cache (plain tables), and mode's reading of them."""

import os
import types

import pytest

from pytest_batt import lastrun, mode
from pytest_batt.settings import Settings

A, B = "a" * 64, "b" * 64


def samples(tid, demos, tests):
    return [(tid, "demo", i, s) for i, s in enumerate(demos)] + [(tid, "test", i, s) for i, s in enumerate(tests)]


def test_seconds_fit_only_the_same_batt_and_task_content():
    table = lastrun.with_seconds(None, A, {"t1": "h1", "t2": "h2"}, samples("t1", [0.5, 0.25], [2.0]) + samples("t2", [1.0], []))
    assert lastrun.seconds_for(table, A, {"t1": "h1", "t2": "h2"}) == {
        "batt/t1::demo[0]": 0.5, "batt/t1::demo[1]": 0.25, "batt/t1::test[0]": 2.0, "batt/t2::demo[0]": 1.0}
    assert lastrun.seconds_for(table, B, {"t1": "h1"}) == {}  # another batt
    assert lastrun.seconds_for(table, A, {"t1": "changed", "t2": "h2"}) == {"batt/t2::demo[0]": 1.0}  # other data for t1
    assert lastrun.seconds_for(table, A, {"t3": "h3"}) == {}


def test_a_run_keeps_other_tasks_and_replaces_a_changed_task():
    table = lastrun.with_seconds(None, A, {"t1": "h1", "t2": "h2"}, samples("t1", [1.0], [1.0]) + samples("t2", [2.0], []))
    table = lastrun.with_seconds(table, A, {"t1": "h1"}, samples("t1", [3.0], []))  # -k: only t1's demo ran
    assert lastrun.seconds_for(table, A, {"t1": "h1", "t2": "h2"}) == {
        "batt/t1::demo[0]": 3.0, "batt/t1::test[0]": 1.0, "batt/t2::demo[0]": 2.0}
    table = lastrun.with_seconds(table, A, {"t1": "new"}, samples("t1", [5.0], []))
    assert lastrun.seconds_for(table, A, {"t1": "new"}) == {"batt/t1::demo[0]": 5.0}  # the old content's seconds are gone


def test_the_table_keeps_the_most_recently_used_batts():
    table = None
    for n in range(lastrun.MAX_BATTS + 2):
        table = lastrun.with_seconds(table, f"{n:064d}", {"t": "h"}, samples("t", [float(n)], []))
    kept = set(table["batts"])
    assert len(kept) == lastrun.MAX_BATTS and f"{0:064d}" not in kept and f"{lastrun.MAX_BATTS + 1:064d}" in kept
    again = lastrun.with_seconds(table, f"{2:064d}", {"t": "h"}, samples("t", [9.0], []))  # used again: stays
    again = lastrun.with_seconds(again, "x" * 64, {"t": "h"}, [])
    assert f"{2:064d}" in again["batts"] and f"{3:064d}" not in again["batts"]


def test_what_was_not_written_here_counts_as_empty():
    for junk in (None, [], "x", {"batts": []}, {"batts": {A: {"tasks": "no"}}}, {"batts": {A: {"tasks": {"t": {"sha256": 3}}}}}):
        assert lastrun.seconds_for(junk, A, {"t": "h"}) == {}
        assert lastrun.with_seconds(junk, A, {"t": "h"}, samples("t", [1.0], []))["batts"][A]["tasks"]["t"]["demo"] == [1.0]
    odd = {"batts": {A: {"tasks": {"t": {"sha256": "h", "demo": [1.0, -1, True, "2", None, 0.5], "test": "x"}}}}}
    assert lastrun.seconds_for(odd, A, {"t": "h"}) == {}  # "test" is no list: the entry is not ours
    odd["batts"][A]["tasks"]["t"]["test"] = []
    assert lastrun.seconds_for(odd, A, {"t": "h"}) == {"batt/t::demo[0]": 1.0, "batt/t::demo[5]": 0.5}


def settings(**changes):
    base = dict(tasks=["007bbfb7"], data="arcagi1", module="pytest_batt.reference.batt", timeout=10.0, grace=5.0,
                json_path=None, base_dir="/p")
    base.update(changes)
    return Settings(**base)


def test_the_command_key_names_batt_data_and_tasks_not_outputs():
    key = lastrun.command_key(settings())
    assert key == lastrun.command_key(settings(json_path="/p/r.json", html_path="/p/r.html"))
    for other in (settings(tasks=["all"]), settings(data="arcagi2"), settings(module="m.py"), settings(programs="lib/"),
                  settings(base_dir="/q"), settings(timeout=60.0), settings(shard=(1, 2))):
        assert lastrun.command_key(other) != key


def test_a_fingerprint_sees_an_edit_a_new_file_and_a_missing_one(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    one = lib / "a.py"
    one.write_text("def p(g):\n    return g\n")
    stamps = lastrun.fingerprint([str(one)], folders=True)
    assert lastrun.unchanged(stamps)
    (lib / "b.py").write_text("")  # a new program file in the library's folder
    assert not lastrun.unchanged(stamps)
    stamps = lastrun.fingerprint([str(one)], folders=True)
    one.write_text("def p(g):\n    return None\n")
    os.utime(one, ns=(1, 1))
    assert not lastrun.unchanged(stamps)
    stamps = lastrun.fingerprint([str(one)])
    one.unlink()
    assert not lastrun.unchanged(stamps)
    assert lastrun.fingerprint([str(one)]) is None and not lastrun.unchanged(None) and not lastrun.unchanged([])
    assert lastrun.fingerprint([str(tmp_path)] * (lastrun.MAX_FILES + 1)) is None


def record(tmp_path, seconds, longest, cost):
    batt = tmp_path / "batt.py"
    batt.write_text("x = 1\n")
    runs = lastrun.with_run(None, "k", lastrun.fingerprint([str(batt)]), (seconds, longest), 6, cost)
    return lastrun.record_of(runs, "k")


def test_in_process_when_workers_would_save_less_than_they_cost(tmp_path):
    # tokpidjin's 100-solver batt on one task: test sample 1.1 s of 1.4 s; workers cost ~1 s.
    why = lastrun.in_process(record(tmp_path, 1.41, 1.07, 1.0), workers=2)
    assert why == "the last run's 6 sample(s) took 1.41 s; 2 worker(s) would save 0.34 s of it and cost 1.00 s to start and stop"
    assert lastrun.in_process(record(tmp_path, 0.2, 0.05, 1.0), workers=8)  # shorter than the start-up
    assert lastrun.in_process(record(tmp_path, 2.8, 0.9, 0.75), workers=2)  # they would save 1.4 s: less than twice 0.75
    assert lastrun.in_process(record(tmp_path, 3.0, 0.5, 0.7), workers=2) is None  # they would save 1.5 s: more than 1.4
    assert lastrun.in_process(record(tmp_path, 30.0, 29.0, 1.0), workers=2) is None  # long: the workers' protection stays
    # tokpidjin's one task on a noisy machine: 2.06 s of samples, workers 0.40 s; at 8 times the cost a run is long
    assert lastrun.in_process(record(tmp_path, 2.06, 1.63, 0.40), workers=2)
    assert lastrun.in_process(record(tmp_path, 3.3, 3.2, 0.40), workers=2) is None
    assert lastrun.in_process(record(tmp_path, 1.41, 1.07, None), workers=2) is None  # never measured
    assert lastrun.in_process(None, workers=2) is None
    rec = record(tmp_path, 1.41, 1.07, 1.0)
    (tmp_path / "batt.py").write_text("x = 2  # edited\n")
    assert lastrun.in_process(rec, workers=2) is None


def test_a_run_without_workers_keeps_their_cost_measured_before_and_totals_need_every_sample(tmp_path):
    runs = lastrun.with_run(None, "k", [], (1.0, 0.5), 2, 0.9)
    runs = lastrun.with_run(runs, "k", [], (2.0, 1.0), 2, None)
    assert lastrun.record_of(runs, "k")["workers_s"] == 0.9 and lastrun.record_of(runs, "k")["seconds"] == 2.0
    assert lastrun.summary({"x": 1.0, "y": 0.25}, ["x", "y"]) == (1.25, 1.0)
    assert lastrun.summary({"x": 1.0}, ["x", "y"]) is None and lastrun.summary({}, []) is None
    many = None
    for n in range(lastrun.MAX_RUNS + 3):
        many = lastrun.with_run(many, str(n), [], None, 1, None)
    assert len(many) == lastrun.MAX_RUNS and "0" not in many


def test_mode_reads_the_record_where_pytest_s_cache_keeps_it(pytestconfig):
    """mode.cache_file works out, before config.cache exists, where config.cache.set writes a value:
    if pytest moves it, this fails (and runs would only keep their workers)."""
    if not hasattr(pytestconfig, "cache"):
        pytest.skip("needs pytest's cache provider, which -p no:cacheprovider turns off")
    key = f"pytest-batt/selftest-{os.getpid()}"
    pytestconfig.cache.set(key, {"x": [1, 2]})
    try:
        assert lastrun.cached(str(mode.cache_file(pytestconfig, key))) == {"x": [1, 2]}
    finally:
        os.unlink(mode.cache_file(pytestconfig, key))


def test_mode_counts_the_workers_auto_would_start():
    hook = types.SimpleNamespace(pytest_xdist_auto_num_workers=lambda config: 6)
    config = types.SimpleNamespace(hook=hook, getoption=lambda name, default=None: {"maxprocesses": 4}.get(name, default))
    assert mode.auto_workers(config) == 4
    config.getoption = lambda name, default=None: default
    assert mode.auto_workers(config) == 6
