"""The benchmark's parts that decide what is compared: the contenders' calls and scores, their
environment and order, the command line. Nothing here times anything (benchmarks/README.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_batt import battmodule, phase3, runner
from pytest_batt.plugin import BLAS_THREAD_VARIABLES
from pytest_batt.tasks import load_taskset
from sandboxes import needs_sandbox
from toys import TASKS, TOY_BATT

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

# Repeated solver ids and values, values that are not grids (a test sample diffs each as returned:
# None, (), a string, a list), one object returned by two solvers, rows for other solvers, a
# sample without candidates.
MESSY_BATT = TOY_BATT + '''
_toy = batt

def batt(task_id, S, I, C, log_path):
    o, s = _toy(task_id, S, I, C, log_path)
    twice = tuple(tuple(r) for r in I)
    o = list(o) + [(9, 0, "flip", I), (10, 0, "junk", "not a grid"), (11, 0, "nothing", None), (12, 0, "empty", ()),
                   (13, 0, "again", twice), (14, 0, "again2", twice), (15, 0, "listed", [list(r) for r in I])]
    if I == ((1, 1),):  # same0002's demo sample: no candidates, so no diff call either
        o = []
    if C is not None:
        s = [(1, "flip", "late", (0,))] + list(s) + [(8, "ghost", "same", (0,)), (12, "None", "late", (int(C == ()), "x"))]
    return o, s
'''


@pytest.fixture
def bench(monkeypatch):
    """benchmarks/ on sys.path, as when its scripts run (it is not a package)."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ left in benchmarks/
    import balance
    import contenders
    import measuring
    import programs_loop
    import rendering
    import thread_design
    import workloads

    return {"contenders": contenders, "measuring": measuring, "rendering": rendering, "thread_design": thread_design,
            "workloads": workloads, "balance": balance, "programs_loop": programs_loop}


@pytest.fixture
def toy(tmp_path, task_files):
    data = task_files(tmp_path / "tasks", TASKS)
    (tmp_path / "messy.py").write_text(MESSY_BATT)
    return load_taskset(str(data), str(tmp_path)), battmodule.load_batt(str(tmp_path / "messy.py"), str(tmp_path)).func


def test_the_thread_design_gives_phase3s_scores_with_phase3s_or_pytest_batts_calls(bench, toy):
    taskset, func = toy
    td = bench["thread_design"]
    for tid in TASKS:
        task = taskset.task(tid)
        p3 = phase3.score_task(task, func, 10, os.devnull)
        seed = td.score_task(func, task, 10, os.devnull)
        dedup = td.score_task(func, task, 10, os.devnull, dedup=True)
        for got in (seed, dedup):
            assert {k: got[k] for k in ("o_score", "d_score", "s_score", "solved")} == \
                   {k: p3[k] for k in ("o_score", "d_score", "s_score", "solved")}, tid
        assert [s["calls"] for s in seed["samples"]] == [s["calls"] for s in p3["samples"]], tid
        ours = [runner.run_sample(func, task, sample)["calls"] for sample in task.samples]
        assert [s["calls"] for s in dedup["samples"]] == ours, tid
        assert sum(ours) < sum(s["calls"] for s in p3["samples"])  # the messy batt repeats values


def test_every_contender_gets_the_same_environment(bench):
    measuring = bench["measuring"]
    assert measuring.BLAS_THREAD_VARIABLES == BLAS_THREAD_VARIABLES  # the plugin's, for its workers
    user = {"PATH": "/bin", "OMP_NUM_THREADS": "8", "PYTEST_ADDOPTS": "-x", "PYTHONPATH": "/elsewhere", "PYTHONHASHSEED": "7"}
    env = measuring.contender_env(user, ["/snap", "/probe"], "/p.jsonl")
    assert env == {"PATH": "/bin", "PYTHONPATH": os.pathsep.join(["/snap", "/probe"]), "BATT_BENCH_PROBE": "/p.jsonl",
                   "PYTHONHASHSEED": "0", **{var: "1" for var in BLAS_THREAD_VARIABLES}}


def test_each_round_another_contender_goes_first(bench):
    order = bench["contenders"].round_order
    keys = ["phase3", "thread", "thread-dedup", "n0", "n2"]
    rounds = [order(keys, r) for r in range(len(keys))]
    assert all(sorted(r) == sorted(keys) for r in rounds)
    for position in range(len(keys)):  # over len(keys) rounds, each contender once in every position
        assert sorted(r[position] for r in rounds) == sorted(keys)
    assert [order(["n0", "default"], r) for r in range(3)] == [["n0", "default"], ["default", "n0"], ["n0", "default"]]


def test_contender_commands_and_the_calls_per_second_column(bench, capsys):
    contenders, rendering, workloads = bench["contenders"], bench["rendering"], bench["workloads"]
    wl = workloads.Workload("cpu", "t", ["007bbfb7", "017c7c7b"], "pytest_batt.reference", 10.0, 2.0, 60.0, list(contenders.CONTENDERS))
    cmds = {key: contenders.contender_cmd(key, wl, "/r.json") for key in contenders.CONTENDERS}
    assert all(isinstance(c, list) and all(isinstance(x, str) for x in c) for c in cmds.values())
    assert cmds["thread-dedup"] == cmds["thread"] + ["--dedup"]
    row = {"label": "x", "dnf": False, "wall_s": 4.0, "cpu_s": 4.0, "calls": 200, "calls_per_s": 50.0, "equal": "yes",
           "controller_rss_mb": 50.0, "worker_rss_mb": None, "workers_seen": 0, "problems": "none"}
    rendering.print_table({"note": "", "rows": {"n0": row}})
    header, _, line = capsys.readouterr().out.strip().splitlines()
    assert header.split(" | ")[4] == "batt calls/s" and line.split(" | ")[3:5] == ["4.00", "50.0"]


def test_the_command_line_keeps_its_options():
    help_text = subprocess.run([sys.executable, str(BENCH / "run.py"), "--help"], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}).stdout
    for option in ("--quick", "--repeat", "--only", "--contenders", "--tasks", "--heavy-steps", "--profile", "--out"):
        assert option in help_text


def test_the_plain_loop_calls_a_librarys_programs_on_every_sample_and_says_which_solved(bench, tmp_path, capsys, task_files):
    data = task_files(tmp_path / "tasks", TASKS)
    (tmp_path / "progs.py").write_text("def solve(g):\n    return tuple(r[::-1] for r in g)\n")
    out = tmp_path / "v.json"
    bench["programs_loop"].main(["--programs", str(tmp_path / "progs.py"), "--grid-form", "tuple", "--data", str(data),
                                 "--json", str(out)])
    verdicts = json.loads(out.read_text())
    assert verdicts["flip0001"] == [True, True, True] and verdicts["same0002"] == [True, False]  # [[1, 1]] flips to itself
    done = json.loads(capsys.readouterr().out.split("BENCH-DONE ", 1)[1])
    assert done["samples"] == sum(map(len, verdicts.values())) and done["solved"] == sum(map(sum, verdicts.values()))


@pytest.mark.e2e
def test_the_plain_pytest_floor_gives_the_plain_loops_verdicts(tmp_path, task_files, monkeypatch):
    """benchmarks/programs_pytest.py as balance.py runs it: copied into an empty folder, pytest-batt not loaded."""
    data = task_files(tmp_path / "tasks", TASKS)
    (tmp_path / "progs.py").write_text("def solve(g):\n    return tuple(r[::-1] for r in g)\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "programs_pytest.py").write_text((BENCH / "programs_pytest.py").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(BATT_FLOOR_PROGRAMS=str(tmp_path / "progs.py"), BATT_FLOOR_GRID_FORM="tuple", BATT_FLOOR_DATA=str(data))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:batt", "-p", "no:cacheprovider", "-n", "0", "-rA",
                           "programs_pytest.py"], cwd=tmp_path / "run", env=env, capture_output=True, text=True, timeout=120)
    failed = {line.split("[", 1)[1].rsplit("]", 1)[0] for line in proc.stdout.splitlines() if line.startswith("FAILED ")}
    # programs_loop's verdicts: [[1, 1]] and [[1]] flip to themselves, the other samples of same0002 and none0003 do not
    assert failed == {"same0002-test[0]", "none0003-demo[0]", "none0003-test[0]"}, proc.stdout
    assert "3 failed, 5 passed" in proc.stdout


def test_the_balance_benchmark_compares_what_the_issue_names(bench):
    balance = bench["balance"]
    args = SimpleNamespace(arc_dsl="/x/arc-dsl", tokpidjin="/x/t.py", only="arcdsl,tok1,tok3")
    secs = {s.name: s for s in balance.sections(args)}
    assert list(secs) == ["arcdsl", "tok1", "tok3"]
    keys = {name: [c.key for c in s.contenders] for name, s in secs.items()}
    assert keys == {"arcdsl": ["loop", "n0", "n2-first", "n2-again", "pytest-n0", "pytest-n2"],
                    "tok1": ["n0", "default-again"], "tok3": ["n0", "n2-first", "n2-again"]}
    for s in secs.values():
        assert all(a in keys[s.name] and b in keys[s.name] for _, a, b, _ in s.ratios)
        for c in s.contenders:
            assert c.rerun == (c.key == "n0" or c.key.endswith("-again"))  # reruns keep their folder (their cache)
            assert ("-n" in c.args) != (c.key in ("loop", "default-again")), c.key
    assert "/x/arc-dsl/solvers.py" in secs["arcdsl"].contenders[1].args
    floors = [c for c in secs["arcdsl"].contenders if c.key.startswith("pytest-")]
    for c in floors:  # pytest alone: pytest-batt not loaded, the module run from its own folder, no results file
        assert c.args[:2] == ["-m", "pytest"] and "no:batt" in c.args and c.files == [balance.FLOOR] and not c.results
        assert c.env["BATT_FLOOR_PROGRAMS"] == "/x/arc-dsl/solvers.py" and c.env["BATT_FLOOR_GRID_FORM"] == "tuple"
    assert "worksteal" in floors[1].args
    assert balance.header_notes("x\nbatt: plan from the last run's seconds in .pytest_cache: 6 of 6 samples\nbatt: in this process, "
                                "not in workers: why\nbatt: other\n") == [
        "batt: plan from the last run's seconds in .pytest_cache: 6 of 6 samples", "batt: in this process, not in workers: why"]
    res = {"tasks": {"t": {"samples": [{"status": "solved"}, {"status": "unsolved"}], "o_score": {}, "d_score": {},
                           "s_score": {}, "solved": {"oracle": False}}}}
    assert balance.same_verdicts({"t": [True, False]}, res) and not balance.same_verdicts({"t": [True, True]}, res)
    other = json.loads(json.dumps(res))
    assert balance.same_scores(res, other)
    other["tasks"]["t"]["o_score"] = {"p": 1}
    assert not balance.same_scores(res, other)


@needs_sandbox
def test_the_sandbox_benchmark_sandboxes_as_a_run_would_and_alternates_its_sides(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    import sandbox_startup

    (tmp_path / "tasks").mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    cmd = sandbox_startup.sandbox_command(str(tmp_path), str(scratch))
    assert "--unshare-net" in cmd and cmd[-2:] == ["--", sys.executable]
    assert ["--bind", str(scratch), str(scratch)] == cmd[cmd.index("--bind"):cmd.index("--bind") + 3]
    assert str(tmp_path / "tasks") in cmd  # the data, hidden
    out = sandbox_startup.alternate({"a": [sys.executable, "-c", "pass"], "b": [*cmd, "-c", "pass"]}, 2, str(tmp_path))
    assert {k: len(v["wall"]) for k, v in out.items()} == {"a": 2, "b": 2}
    sandbox_startup.summary("t", out, "a", "b", ("wall",))
    assert "wall  sandbox / plain:" in capsys.readouterr().out


def test_the_readings_benchmark_times_every_mechanism_this_system_has():
    """benchmarks/readings.py: each reading's mechanisms, those missing here shown n/a (no timing checked)."""
    out = subprocess.run([sys.executable, str(BENCH / "readings.py"), "--rounds", "1", "--loops", "2"],
                         capture_output=True, text=True, timeout=120, check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    rows = [line.split() for line in out.stdout.splitlines()[2:]]
    mechanisms = {row[-3] if row[-1] != "n/a" else row[-2]: row for row in rows}
    assert {"/proc", "psutil", "forks", "ru_maxrss", "RLIMIT_AS"} <= set(mechanisms), out.stdout
    assert mechanisms["forks"][-1].endswith("x") and mechanisms["ru_maxrss"][-1].endswith("x")  # always there on POSIX


def test_the_cell_check_benchmark_times_what_its_workloads_say(monkeypatch):
    """Nothing timed is asserted: each workload is the shape it names, and the ratio is after over before."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    import cell_check

    from pytest_batt import contract

    for name, valid in (("wide", True), ("distinct", True), ("floats", True), ("invalid", False)):
        calls, keys = cell_check.workload(name, calls=2)
        cands = [c for o in calls for c in contract.normalise_candidates(o, keys)]
        assert len(cands) == 600 and keys
        assert all((c.grid is not None) is valid for c in cands), name
    seen = []
    got = cell_check.measure("floats", 2, normalise=lambda o, keys: seen.append(len(o)))
    assert got["candidates"] == 20 * 300 and seen == [300] * 40 and got["us_per_candidate"] > 0
    assert cell_check.ratios({"a": 2.0, "b": 0.0}, {"a": 3.0, "b": 1.0}) == {"a": 1.5}


def test_the_balance_benchmark_says_whether_each_goal_is_met(bench):
    meets = bench["balance"].meets
    assert meets(1.2, "<= 1.25") == "yes" and meets(1.3, "<= 1.25") == "no"
    assert meets(1.6, ">= 1.5") == "yes" and meets(1.4, ">= 1.7") == "no"
    assert meets(1.3, ">= 1.29 (before issue 32)") == "yes" and meets(None, "<= 1.0") == "-" and meets(1.0, "fast") == "-"
