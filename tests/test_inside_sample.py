"""Inside a sample: where a batt's time goes (--batt-profile), its peak memory (memory_mb, the
default memory limit, the memory gate) and what a timed-out call had found (--batt-keep-partial)."""

import os
import pstats
import sys

import pytest

from toys import TASKS, TOY_BATT, TimerGuard

from pytest_batt import battrun, compare, gates, options, partial, profiling, records, report, runner
from pytest_batt.isolation import capabilities, memory, peak_memory
from pytest_batt.isolation.guard import BattTimeout
from pytest_batt.tasks import TaskSet

linux = pytest.mark.skipif(not capabilities.sample_peak().on, reason="no per-sample reset of the peak on this system "
                           "(/proc/self/clear_refs: Linux's); memory_mb is the process's peak so far")
MB = 2**20


def flip(I):
    return tuple(row[::-1] for row in I)


def slow_on_test(task_id, S, I, C, log_path):
    """Appends as generated batts do, then never ends on flip0001's test input."""
    o = []
    s = []
    o.append((1, 0, "flip", flip(I)))
    o.append((2, 0, "identity", I))
    if C is not None:
        s.append((3, "None", "same", (int(C == I), "x")))
        s.append((4, "flip", "same", (int(flip(I) != C), "y")))
    if I == ((6, 7),):
        while True:
            pass
    o.append((5, 0, "late", flip(I)))  # never reached on the test input
    return o, s


def toyset():
    return TaskSet("toys", TASKS)


# --- peak memory ---------------------------------------------------------------------------------------

@linux
def test_the_peak_is_reset_per_sample():
    tracker = peak_memory.SampleMemory()
    tracker.start()
    block = b"\x01" * (300 * MB)
    held, scope = tracker.stop()
    del block
    tracker.start()
    after, _ = tracker.stop()
    assert scope == peak_memory.SAMPLE
    assert held - after > 250, (held, after)


@linux
def test_a_sample_that_holds_300_mb_shows_it_and_the_others_do_not():
    def hungry(task_id, S, I, C, log_path):
        if I == ((6, 7),) and C is None:
            block = b"\x01" * (300 * MB)
            return [(1, 0, "flip", flip(I)), (2, 0, "size", (len(block),))], []
        return [(1, 0, "flip", flip(I))], []

    task = toyset().without_test_outputs(["flip0001"]).task("flip0001")
    recs = {s.name: runner.run_sample(hungry, task, s) for s in task.samples}
    assert recs["test[0]"]["memory_mb"] > 300
    for name in ("demo[0]", "demo[1]"):
        assert recs[name]["memory_mb"] < recs["test[0]"]["memory_mb"] - 250, recs[name]["memory_mb"]


def test_the_default_memory_limit_is_a_share_of_physical_memory_per_worker():
    assert memory.default_limit(1, 24000) == 19200
    assert memory.default_limit(4, 24000) == 4800
    assert memory.default_limit(64, 24000) == memory.DEFAULT_FLOOR_MB
    assert memory.default_limit(2, None) is None
    assert options.megabytes_or_off("0") == 0
    with pytest.raises(Exception, match="0 .off. or"):
        options.megabytes_or_off("10")


def test_the_summary_names_the_largest_samples():
    tasks = {"a": {"samples": [{"kind": "demo", "index": 0, "memory_mb": 80.0}, {"kind": "test", "index": 0, "memory_mb": 412.5}]},
             "b": {"samples": [{"kind": "demo", "index": 0, "memory_mb": None}]}}
    assert report.memory_lines(tasks) == [
        "memory: largest peaks a::test[0] 412 MB, a::demo[0] 80 MB (resident, per sample's process; 2 sample(s) measured)"]
    assert report.memory_lines({"b": tasks["b"]}) == []


def _results(peaks):
    samples = [{"kind": "demo", "index": i, "status": "solved", "candidates": 1, "memory_mb": mb} for i, mb in enumerate(peaks)]
    return {"batt": {"module": "b", "sha256": "x"}, "data": {"name": "d", "sha256": "y"}, "config": {"workers": 1, "timeout_s": 10},
            "session": {"complete": True}, "machine": {}, "created": "now",
            "tasks": {"t1": {"samples": samples, "o_score": {}, "solved": {"oracle": True, "at_2": True}, "seconds": 1.0, "sha256": "h"}}}


def test_the_memory_gate_breaches_when_the_peak_grows_by_more_than_its_share():
    gate = gates.parse_gate("memory:25%")
    base = _results([100.0, 200.0])
    assert gates.breaches([gate], compare.compare(base, _results([100.0, 249.0]))) == []
    breached = gates.breaches([gate], compare.compare(base, _results([300.0, 120.0])))
    assert breached and "300 MB (batt/t1::demo[0])" in breached[0][1] and "200 MB (batt/t1::demo[1])" in breached[0][1]
    # a baseline of before memory_mb: nothing to compare with, the gate holds
    assert gates.breaches([gate], compare.compare(_results([None]), _results([900.0]))) == []
    with pytest.raises(gates.GateError, match="memory:25%"):
        gates.parse_gate("memory")


# --- keep partial --------------------------------------------------------------------------------------

def test_the_lists_of_the_batts_frame_are_read_from_the_timeout():
    def batt(task_id, S, I, C, log_path):
        o = [(1, 0, "a", I)]
        s = []

        def step():
            raise BattTimeout("late")
        o.append((2, 0, "b", I))
        step()
        o.append((3, 0, "c", I))
        return o, s

    with pytest.raises(BattTimeout) as info:
        batt("t", (), ((1,),), None, os.devnull)
    code = partial.batt_code(batt)
    assert [c[2] for c in partial.kept(info.value, code, "o")] == ["a", "b"]
    assert partial.kept(info.value, code, "s") == []
    assert partial.kept(info.value, code, "nothing") is None
    assert partial.kept(BattTimeout("no traceback"), code, "o") is None


def test_a_timed_out_sample_keeps_a_prefix_judged_and_scored_and_stays_a_timeout():
    taskset = toyset()
    task = taskset.without_test_outputs(["flip0001"]).task("flip0001")
    guard = TimerGuard(0.2)
    untimed = slow_on_test("flip0001", task.S, ((1, 2),), None, os.devnull)[0]

    def scored(keep):
        run = battrun.BattRun(taskset, ["flip0001"])
        for s in task.samples:
            run.add(f"batt/flip0001::{s.name}", runner.run_sample(slow_on_test, task, s, guard, keep_partial=keep))
        return run, run.task_results()["flip0001"]

    run, entry = scored(True)
    rec = run.records["batt/flip0001::test[0]"]
    assert rec["status"] == "timeout" and rec["kept"] == 2 and rec["candidates"] == 2
    assert rec["matched"] == ["flip"]
    assert "kept 2 candidate(s)" in rec["error"] and "kept candidates matched: flip" in rec["error"]
    assert "kept its first 2 differ row(s)" in rec["error"]
    assert [c[2] for c in untimed[:2]] == ["flip", "identity"]  # the kept ones are the untimed run's first two
    assert entry["o_score"]["flip"] == 3 and entry["solved"]["oracle"] is True
    assert entry["samples"][2]["status"] == "timeout" and entry["samples"][2]["kept"] == 2
    assert entry["d_score"]["flip"]["same"]["iz"] > 0

    run0, entry0 = scored(False)  # Phase 3: a call that timed out contributes nothing
    rec0 = run0.records["batt/flip0001::test[0]"]
    assert rec0["status"] == "timeout" and rec0["candidates"] == 0 and "kept" not in rec0 and rec0["matched"] == []
    assert entry0["o_score"]["flip"] == 2 and entry0["solved"]["oracle"] is False
    assert "kept" not in entry0["samples"][2]


def test_a_batt_without_an_o_list_keeps_nothing_and_says_so():
    def other(task_id, S, I, C, log_path):
        found = [(1, 0, "flip", flip(I))]
        while True:
            pass
        return found, []

    task = toyset().without_test_outputs(["flip0001"]).task("flip0001")
    rec = runner.run_sample(other, task, task.samples[0], TimerGuard(0.1), keep_partial=True)
    assert rec["status"] == "timeout" and "kept nothing: no list named 'o'" in rec["error"] and "kept" not in rec


# --- profiles ------------------------------------------------------------------------------------------

def test_a_sample_profile_names_the_batts_functions_and_combines(tmp_path):
    summaries = {}
    task = toyset().without_test_outputs(["flip0001"]).task("flip0001")
    ns = {}
    exec(TOY_BATT, ns)
    for s in task.samples:
        path = profiling.sample_file(str(tmp_path), "flip0001", s.kind, s.index)
        rec = runner.run_sample(ns["batt"], task, s, profile_path=path)
        summaries[s.name] = rec["profile"]
        assert rec["profile"]["file"] == os.path.basename(path) and os.path.exists(path)
    lines = profiling.report_lines(str(tmp_path), summaries)
    names = {key[2] for key in pstats.Stats(str(tmp_path / profiling.COMBINED)).stats}
    assert {"batt", "flip"} <= names
    assert lines[0].split()[:4] == ["function", "file:line", "share", "hot"]
    flip_row = next(line for line in lines if line.startswith("flip "))
    assert " 3 " in flip_row  # hot in all three samples
    assert "batt time profiled" in lines[-1] and "3 sample(s)" in lines[-1]


def test_profile_file_names_are_safe_for_hostile_task_ids(tmp_path):
    from pytest_batt.state import safe_name

    path = profiling.sample_file(str(tmp_path), safe_name("../../etc/x"), "test", 0)
    assert os.path.dirname(path) == str(tmp_path) and ".." not in os.path.basename(path)


def test_shards_profile_folders_merge_into_one(tmp_path):
    ns = {}
    exec(TOY_BATT, ns)
    taskset = toyset()
    for shard, tid in (("one", "flip0001"), ("two", "same0002")):
        (tmp_path / shard).mkdir()
        task = taskset.without_test_outputs([tid]).task(tid)
        for s in task.samples:
            runner.run_sample(ns["batt"], task, s, profile_path=profiling.sample_file(str(tmp_path / shard), tid, s.kind, s.index))
    lines = profiling.merge_dirs([str(tmp_path / "one"), str(tmp_path / "two")], str(tmp_path / "all"))
    shards = os.listdir(tmp_path / "one") + os.listdir(tmp_path / "two")
    assert sorted(os.listdir(tmp_path / "all")) == sorted(shards + [profiling.COMBINED])
    assert "over 5 sample(s)" in lines[-1]
    assert pstats.Stats(str(tmp_path / "all" / profiling.COMBINED)).total_calls == sum(
        pstats.Stats(str(tmp_path / shard / name)).total_calls for shard in ("one", "two") for name in os.listdir(tmp_path / shard))


# --- end to end ----------------------------------------------------------------------------------------

HUNGRY_BATT = '''
def flip(I):
    return tuple(row[::-1] for row in I)

def batt(task_id, S, I, C, log_path):
    o = []
    s = []
    o.append((1, 0, "flip", flip(I)))
    if I == ((6, 7),) and C is None:
        block = b"\\x01" * (300 * 2**20)
        o.append((2, 0, "size", (len(block),)))
    return o, s
'''

SLOW_BATT = '''
import time

def flip(I):
    return tuple(row[::-1] for row in I)

def batt(task_id, S, I, C, log_path):
    o = []
    s = []
    o.append((1, 0, "flip", flip(I)))
    o.append((2, 0, "identity", I))
    if I == ((6, 7),):
        while True:
            time.sleep(0.01)
    return o, s
'''

SWALLOW_BATT = '''
def flip(I):
    return tuple(row[::-1] for row in I)

def batt(task_id, S, I, C, log_path):
    o = [(1, 0, "flip", flip(I))]
    if I == ((6, 7),):
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    return o, []
'''

MODES = {"n0": ["-n", "0"], "n2": ["-n", "2"]}


@pytest.fixture(params=list(MODES))
def mode(request):
    return MODES[request.param]


@pytest.fixture
def project(toy_project):
    toy_project.args = ["--batt", "flip0001", "--batt-data", "tasks"]
    return toy_project


def _run(project, module, *args):
    return project.runbatt("--batt-module", module, *args)


def test_profile_end_to_end(project, mode):
    project.makepyfile(toybatt=TOY_BATT)
    result = _run(project, "toybatt.py", "--batt-profile", "prof", "--batt-html", "r.html", "--batt-json", "r.json", *mode)
    result.assert_outcomes(passed=3)
    # nothing the profile or the memory measure does looks like a batt patching pytest-batt (items.integrity)
    assert [s["error"] for s in project.results().samples("flip0001")] == [None] * 3
    page = (project.path / "r.html").read_text()
    assert "peak MB</th>" in page and '"prof":[["' in page and "profileTable(s.prof)" in page
    out = result.stdout.str()
    assert "where the batt's time went" in out and "batt time profiled" in out
    folder = project.path / "prof"
    assert sorted(os.listdir(folder)) == ["combined.pstats", "flip0001.demo0.pstats", "flip0001.demo1.pstats", "flip0001.test0.pstats"]
    names = {key[2] for key in pstats.Stats(str(folder / "combined.pstats")).stats}
    assert {"batt", "flip"} <= names


@linux
def test_memory_and_keep_partial_end_to_end(project, mode):
    """The 300 MB sample shows it, the others do not; a test sample whose calls time out keeps, with
    --batt-keep-partial only, the candidates its batt had found: judged, scored, still a timeout."""
    project.makepyfile(hungry=HUNGRY_BATT, slow=SLOW_BATT)
    # 300 MB written byte by byte takes a second or more on a loaded machine: no tight timeout here
    result = _run(project, "hungry.py", "--batt-json", "r.json", "--batt-timeout", "30", *mode)
    samples = {f"{s['kind']}[{s['index']}]": s for s in project.results().samples("flip0001")}
    assert samples["test[0]"]["memory_mb"] > 300
    assert [s["error"] for s in samples.values()] == [None] * 3
    assert all(samples[n]["memory_mb"] < samples["test[0]"]["memory_mb"] - 250 for n in ("demo[0]", "demo[1]"))
    assert "memory: largest peaks flip0001::test[0]" in result.stdout.str()

    kept = _run(project, "slow.py", "--batt-json", "k.json", "--batt-timeout", "0.5", "--batt-keep-partial", *mode)
    kept.assert_outcomes(passed=2, failed=1)
    entry = project.results("k.json")["tasks"]["flip0001"]
    test = entry["samples"][2]
    assert test["status"] == "timeout" and test["kept"] == 2 and test["matched"] == ["flip"]
    assert entry["o_score"]["flip"] == 3 and entry["solved"]["oracle"] is True
    assert "kept candidates matched: flip" in kept.stdout.str()

    plain = _run(project, "slow.py", "--batt-json", "p.json", "--batt-timeout", "0.5", *mode)
    plain.assert_outcomes(passed=2, failed=1)
    entry = project.results("p.json")["tasks"]["flip0001"]
    assert entry["o_score"]["flip"] == 2 and entry["samples"][2]["matched"] == [] and "kept" not in entry["samples"][2]


def test_a_hard_stop_keeps_nothing_and_says_so(project):
    project.makepyfile(swallow=SWALLOW_BATT)
    result = _run(project, "swallow.py", "--batt-json", "r.json", "--batt-timeout", "0.5", "--batt-grace", "0.5",
                  "--batt-keep-partial", "-n", "1")
    result.assert_outcomes(passed=2, failed=1)
    test = project.results().samples("flip0001")[2]
    assert test["status"] == "timeout" and "kept" not in test and test["matched"] == []
    assert "keeps nothing of a hard stop" in test["error"]


@pytest.mark.skipif(not capabilities.address_space().on, reason="no address-space limit on this system: with -n 0 a "
                    "limit asked for is a usage error there (tests/test_as_macos.py)")
def test_max_memory_zero_turns_the_limit_off_and_a_runaway_call_fails_its_own_sample(project):
    runaway = TOY_BATT + '''
_real = batt

def batt(task_id, S, I, C, log_path):
    if I == ((6, 7),) and C is None:
        hog = []
        while True:
            hog.append(b"\\x01" * (64 * 2**20))
    return _real(task_id, S, I, C, log_path)
'''
    project.makepyfile(runaway=runaway)
    result = _run(project, "runaway.py", "--batt-max-memory", "512", "--batt-json", "r.json", "-n", "0")
    result.assert_outcomes(passed=2, failed=1)
    test = project.results().samples("flip0001")[2]
    assert test["status"] == "error" and "memory limit" in test["error"]
    bad = project.runbatt_inprocess("--batt-module", "runaway.py", "--batt-max-memory", "10", "-n", "0")  # a usage error: in this process
    assert bad.ret == 4 and "0 (off) or a finite number of megabytes" in bad.stderr.str()


def test_a_resumed_file_keeps_the_kept_count_and_the_memory():
    from pytest_batt import resume

    entry = {"kind": "test", "index": 0, "status": "timeout", "candidates": 2, "matched": ["flip"], "calls": 3, "seconds": 1.0,
             "cpu_seconds": 1.0, "error": "timeout", "message": None, "memory_mb": 51.5, "kept": 2}
    again = records.sample_entry(resume.record_of("flip0001", entry))
    assert again == {**entry, "gpu": None, "vram_mb": None, "vram_peak_mb": None, "vram_scope": None}  # a file from before VRAM


def test_shards_profiles_merge_with_their_results(toy_project):
    project = toy_project
    project.makepyfile(toybatt=TOY_BATT)
    for k in (1, 2):
        shard = project.runbatt("--batt", "all", "--batt-data", "tasks", "--batt-module", "toybatt.py", "-n", "0",
                                "--batt-shard", f"{k}/2", "--batt-json", f"s{k}.json", "--batt-profile", f"prof{k}")
        assert shard.ret in (0, 1)
    merged = project.run(sys.executable, "-m", "pytest_batt", "merge", "s1.json", "s2.json", "-o", "all.json",
                          "--profile", "prof1", "--profile", "prof2", "--profile-output", "prof")
    assert merged.ret == 0
    assert "where the batt's time went:" in merged.stdout.str() and "over 8 sample(s)" in merged.stdout.str()
    assert len(os.listdir(project.path / "prof")) == 9
    alone = project.run(sys.executable, "-m", "pytest_batt", "merge", "s1.json", "s2.json", "-o", "x.json", "--profile", "prof1")
    assert alone.ret == 4 and "--profile needs --profile-output" in alone.stderr.str()
