"""Programs that ended or hung their worker, without pytest machinery: attribution from the slot and the
watchdog's note, the bound on reruns, the quarantine file, the notes, and the -n 0 post-mortem."""

from __future__ import annotations

import json
import os
import time

from pytest_batt.isolation import watchdog_process
from pytest_batt.isolation.slot import Slot, encode_text, read
from pytest_batt.programs import offenders
from pytest_batt.programs.library import Library, Program
from pytest_batt.records import new_record

NODE = "batt/t::demo[0]"


def library(n=3, limit=1.0):
    return Library([Program(i, f"p{i}.py::p", len, None) for i in range(n)], limit=limit)


def running(tmp_path, index, nodeid=NODE):
    slot = Slot(str(tmp_path / "gw0.slot"))
    slot.sample(nodeid, "t", "demo", 0)
    if index >= 0:
        slot.program(index, 1.0, 2.0, encode_text(f"p{index}.py::p"))
    return read(slot.path)


def test_a_crash_while_a_program_runs_names_it_and_the_stack_says_how(tmp_path):
    got = offenders.attribute(library(), NODE, running(tmp_path, 1), None, "Fatal Python error: Segmentation fault\n", 4, 2, "gw0")
    assert (got.sid, got.status, got.why) == ("p1.py::p", "crash", "ended worker gw0 (Segmentation fault)")
    got = offenders.attribute(library(), NODE, running(tmp_path, 2), None, "", 4, 2, "gw1")
    assert got.why == "ended worker gw1 (os._exit, a signal or the OOM killer)"


def test_a_hard_stop_names_the_program_that_did_not_stop():
    lib = library(limit=0.5)
    got = offenders.attribute(lib, NODE, None, {"program": 2, "limit": "program", "nodeid": NODE}, "", 4, 2, "gw0")
    assert (got.sid, got.status) == ("p2.py::p", "timeout") and "did not stop at its limit (0.5 s" in got.why


def test_a_hard_stop_at_the_samples_timeout_names_the_program_running_then(tmp_path):
    got = offenders.attribute(library(), NODE, running(tmp_path, 0), {"nodeid": NODE, "doing": "solve call"}, "", 4, 2, "gw0")
    assert (got.sid, got.status) == ("p0.py::p", "timeout") and "did not stop at the sample's timeout (4 s" in got.why


def test_no_program_running_or_another_samples_slot_names_nobody(tmp_path):
    lib = library()
    assert offenders.attribute(lib, NODE, running(tmp_path, -1), None, "", 4, 2, "gw0") is None
    assert offenders.attribute(lib, NODE, running(tmp_path, 1, "batt/t::demo[1]"), None, "", 4, 2, "gw0") is None
    assert offenders.attribute(lib, NODE, None, None, "", 4, 2, "gw0") is None
    assert offenders.attribute(lib, NODE, None, {"program": 99}, "", 4, 2, "gw0") is None


def offense(sid, nodeid=NODE):
    return offenders.Offense(sid, "crash", "ended worker gw0 (os._exit, a signal or the OOM killer)", nodeid)


def test_n_offenders_cost_at_most_n_plus_one_runs_under_the_cap(tmp_path):
    book = offenders.Offenders(str(tmp_path))
    reruns = [book.offended(offense(f"p{i}.py::p"), "t", "demo", 0) for i in range(offenders.MAX_RUNS + 2)]
    assert reruns == [True] * (offenders.MAX_RUNS - 1) + [False] * 3
    assert book.runs[NODE] == offenders.MAX_RUNS
    assert book.rerun_line(offense("p0.py::p")).endswith(f"the sample runs again without it (run {offenders.MAX_RUNS}, "
                                                          f"at most {offenders.MAX_RUNS})")
    assert "8 runs, the most a sample gets" in book.gave_up(offense("p0.py::p"))
    assert json.loads((tmp_path / offenders.FILE).read_text()) == sorted(f"p{i}.py::p" for i in range(offenders.MAX_RUNS + 2))


def test_the_same_program_again_is_not_rerun_and_each_is_quarantined_once(tmp_path):
    book = offenders.Offenders(str(tmp_path))
    assert book.offended(offense("a.py::p"), "t", "demo", 0) is True
    assert book.offended(offense("a.py::p"), "t", "demo", 0) is False  # the quarantine did not reach that worker
    assert book.offended(offense("a.py::p", "batt/t::demo[1]"), "t", "demo", 1) is True  # another sample: its own run
    assert [e["solver_id"] for e in book.entries] == ["a.py::p"]
    assert "the same program again" in book.gave_up(offense("a.py::p"))


def test_the_rerun_record_names_the_offenders_first_among_its_program_faults(tmp_path):
    book = offenders.Offenders(str(tmp_path))
    book.offended(offense("a.py::p"), "t", "demo", 0)
    rec = new_record("t", "demo", 0, error="program faults: b.py::p raised ValueError: x")
    book.annotate(NODE, rec)
    assert rec["error"] == ("program faults: a.py::p ended worker gw0 (os._exit, a signal or the OOM killer); quarantined, "
                            "the sample was run again without it | b.py::p raised ValueError: x")
    rec = new_record("t", "demo", 0)
    book.annotate(NODE, rec)
    assert rec["error"].startswith("program faults: a.py::p ended worker gw0")
    other = new_record("t", "demo", 1)
    book.annotate("batt/t::demo[1]", other)
    assert other["error"] is None


def test_a_worker_reads_the_quarantine_again_only_when_it_changed(tmp_path):
    watcher = offenders.Watcher(str(tmp_path))
    assert watcher.current() == frozenset()
    book = offenders.Offenders(str(tmp_path))
    book.offended(offense("a.py::p"), "t", "demo", 0)
    assert watcher.current() == {"a.py::p"}
    (tmp_path / offenders.FILE).write_text("not json")
    assert watcher.current() == {"a.py::p"}  # a file being replaced: the last good list holds


def test_a_resumed_file_keeps_its_quarantine_and_the_summary_names_each_once(tmp_path):
    book = offenders.Offenders(str(tmp_path))
    entry = {"solver_id": "a.py::p", "status": "crash", "task": "t", "kind": "demo", "index": 0,
             "error": "a.py::p ended the session process (...)"}
    book.seed([entry, entry])
    assert book.entries == [entry] and "a.py::p" in book.quarantined and book.by_sample[NODE][0].why == "ended the session process (...)"
    lines = offenders.summary_lines({"quarantined": [entry]})
    assert lines == ["programs quarantined (they ended or hung their process; not run again): 1: a.py::p (crash on t demo[0])"]
    assert offenders.summary_lines({}) == []


def test_a_session_goes_on_only_as_the_command_line_started_it_and_not_for_ever():
    args = ["--batt", "all", "--batt-resume", "old.json", "--batt-json=r.json", "-n", "0"]
    argv = ["/bin/pytest", *args]
    assert offenders.run_again(args, argv, "r.json", {}) == ["--batt", "all", "--batt-json=r.json", "-n", "0",
                                                            "--batt-resume=r.json"]
    assert offenders.run_again(["--batt-resume=x.json", "-q"], ["p", "--batt-resume=x.json", "-q"], "x.json", {}) == \
        ["-q", "--batt-resume=x.json"]
    assert offenders.run_again(args, ["ide", "--other"], "r.json", {}) is None  # pytest.main() in another program
    assert offenders.run_again(args, argv, "", {}) is None  # no results file to resume from
    assert offenders.run_again(args, argv, "r.json", {offenders.AGAIN: str(offenders.MAX_RUNS - 1)}) is None


# --- the -n 0 post-mortem ------------------------------------------------------------------------

def results_file(path, status="missing"):
    sample = {"kind": "demo", "index": 0, "status": status, "error": "never ran", "message": None}
    path.write_text(json.dumps({"schema": 1, "tasks": {"t": {"samples": [sample]}}, "session": {"complete": False}}))


def test_the_post_mortem_names_the_program_in_the_file_written_before_the_sample(tmp_path, capfd):
    out = tmp_path / "r.json"
    results_file(out)
    slot = Slot(str(tmp_path / "main.slot"))
    slot.sample(NODE, "t", "demo", 0)
    slot.call(time.monotonic() + 10, time.monotonic() + 12)
    slot.program(4, 0.0, 0.0, encode_text("bad.py::p"))
    watchdog_process.post_mortem(read(slot.path), str(out), killed=False)
    data = json.loads(out.read_text())
    sample = data["tasks"]["t"]["samples"][0]
    assert sample["status"] == "missing"  # --batt-resume runs it again
    assert sample["error"].startswith("bad.py::p ended the session process")
    assert data["quarantined"] == [{"solver_id": "bad.py::p", "status": "crash", "task": "t", "kind": "demo", "index": 0,
                                    "error": sample["error"]}]
    assert f"pytest-batt: {NODE}: bad.py::p ended the session process" in capfd.readouterr().err


def test_the_post_mortem_leaves_a_sample_that_ran_and_names_the_batt_call_otherwise(tmp_path, capfd):
    out = tmp_path / "r.json"
    results_file(out, status="solved")
    slot = Slot(str(tmp_path / "main.slot"))
    slot.sample(NODE, "t", "demo", 0)
    slot.call(1.0, 2.0)
    watchdog_process.post_mortem(read(slot.path), str(out), killed=True)
    assert json.loads(out.read_text())["tasks"]["t"]["samples"][0]["error"] == "never ran"
    assert "the batt's call held the GIL past its hard deadline" in capfd.readouterr().err
    slot.sample_done()
    assert os.path.exists(out)
