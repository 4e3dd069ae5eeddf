"""Beyond one machine: shards merged equal a single run (the CI recipe of docs/ci.md, run
locally), and xdist ``--tx`` workers with another interpreter and directory.
"""

import json
import re
import shutil
import subprocess
import sys

import pytest

from pytest_batt import results
from pytest_batt.__main__ import main
from toys import TOY_BATT, make_project

# none0003's second test sample is slow: with the ini's 1 s timeout it times out everywhere.
SLOW_BATT = TOY_BATT + '''
import time
_toy = batt

def batt(task_id, S, I, C, log_path):
    if I == ((1,),) and C is None:
        time.sleep(4)
    return _toy(task_id, S, I, C, log_path)
'''
ARGS = ["--batt", "all", "--batt-data=tasks", "--batt-module=toy.py", "-p", "no:cacheprovider"]


@pytest.fixture
def project(pytester):
    make_project(pytester, toy=SLOW_BATT)
    pytester.makeini("[pytest]\nbatt_timeout = 1\n")
    return pytester


def comparable(res):
    """What a merged file must share with the single run: every task, sample, score and verdict; the header."""
    tasks = json.loads(json.dumps(res["tasks"]))
    for t in tasks.values():
        t.pop("seconds")
        for s in t["samples"]:
            s.pop("seconds"), s.pop("cpu_seconds"), s.pop("memory_mb")  # measurements, not results
    return {"tasks": tasks, "order": list(tasks), "data": res["data"], "batt": res["batt"]["sha256"],
            "timeout": res["config"]["timeout_s"], "complete": res["session"]["complete"]}


@pytest.fixture(scope="module")
def single_files():
    """The single -n 0 run's results file, made by the first test to need it ({name: bytes}): every
    project here has the same tasks, batt and ini, so one run serves the module."""
    return {}


@pytest.fixture
def single(project, single_files):
    """single.json: the results of one -n 0 run over all tasks, in this project."""
    if not single_files:
        run = project.runpytest_subprocess(*ARGS, "-n", "0", "--batt-json", "single.json")
        run.assert_outcomes(passed=5, failed=3)
        single_files["single.json"] = (project.path / "single.json").read_bytes()
    else:
        (project.path / "single.json").write_bytes(single_files["single.json"])


def cli(capsys, *args):
    """``python -m pytest_batt`` in this process: its exit code and stdout lines."""
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out.splitlines()


@pytest.fixture
def elsewhere(project, tmp_path_factory, monkeypatch):
    """Another interpreter (a venv of its own) and another directory holding its own copy of the batt
    and data; where `unshare -m` is allowed, the interpreter also does not see the controller's
    temporary folder (its scratch folder and selection file), as on another host."""
    other = tmp_path_factory.mktemp("host")
    shutil.copytree(project.path / "tasks", other / "tasks")
    shutil.copy(project.path / "toy.py", other / "toy.py")
    venv = tmp_path_factory.mktemp("venv")
    made = project.run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    assert made.ret == 0
    # "Installed" there without pip: this interpreter's packages (pytest, xdist, pytest-batt) as a site dir.
    site = next(p for p in sys.path if p.endswith("site-packages") and sys.prefix in p)
    target = next(venv.glob("lib/python*/site-packages"))
    (target / "elsewhere.pth").write_text(f"import site; site.addsitedir({site!r})\n")
    python = venv / "bin" / "python"
    hidden = tmp_path_factory.mktemp("controller-tmp")
    monkeypatch.setenv("TMPDIR", str(hidden))  # the controller's scratch folder goes there
    unshare = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {hidden}"]
    probe = subprocess.run(unshare, capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        return other, python, False
    wrapper = venv / "bin" / "python-elsewhere"
    wrapper.write_text(f"#!/bin/sh\nexec unshare -m sh -c 'mount -t tmpfs none \"$0\" && exec \"$@\"' {hidden} {python} \"$@\"\n")
    wrapper.chmod(0o755)
    return other, wrapper, True


def test_ci_recipe_shards_merge_compare_gate(project, single, elsewhere, capsys):
    """docs/ci.md's job matrix, locally: shard 2 runs its workers in another interpreter and directory."""
    other, python, hidden = elsewhere
    tx = f"2*popen//python={python}//chdir={other}"
    for k, mode in (("1", ["-n", "2"]), ("2", ["--tx", tx])):
        shard = project.runpytest_subprocess(*ARGS, *mode, "--batt-shard", f"{k}/2", "--batt-durations=single.json",
                                             f"--batt-json=shard{k}.json", "--batt-compare=single.json")
        shard.stdout.fnmatch_lines([f"batt: shard {k}/2: * of 3 task(s), expected share *% (split by seconds from single.json)"])
        assert shard.ret == 0, shard.stdout.str()  # the unsolved samples are xfail: the baseline says so
    code, lines = cli(capsys, "merge", "shard2.json", "shard1.json", "-o", "merged.json.gz")
    assert code == 0 and lines[0].startswith("merged 2 of 2 shard(s): 3 task(s), 8 samples, complete"), lines
    one, both = (results.read(str(project.path / f)) for f in ("single.json", "merged.json.gz"))
    # including the timeout sample: the controller's ini (batt_timeout = 1) reached the workers elsewhere
    assert comparable(both) == comparable(one)
    assert [s["status"] for s in both["tasks"]["none0003"]["samples"]] == ["unsolved", "unsolved", "timeout"]
    code, lines = cli(capsys, "compare", "single.json", "merged.json.gz", "--fail", "solved", "--fail", "pass2")
    assert code == 0 and "gates: 2 hold (solved, pass2)" in lines

    if hidden:  # the worker read tasks/ in its own directory: without it, it cannot start
        shutil.rmtree(other / "tasks")
        problem = "--batt-data 'tasks' is neither a path nor a known dataset"
    else:  # the worker read the controller's selection; the batt it imports in its own directory
        (other / "toy.py").unlink()
        problem = "--batt-module toy.py: no such file"
    missing = project.runpytest_subprocess(*ARGS, "--tx", tx)
    assert missing.ret == 4 and len(errors(missing)) == 1, missing.errlines
    # Both workers fail the same way; whichever's "node down" the controller reads first is named.
    line = errors(missing)[0]
    assert re.match(r"ERROR: worker gw[01] ", line), missing.errlines
    assert line[len("ERROR: worker gw0 "):].startswith(f"(popen//python={python}//chdir={other}): in {other}: {problem}"), line
    assert "node down" not in missing.stdout.str()  # no remote traceback before the line
    apart = project.runpytest("--batt", "all", "--batt-data", "tasks", "--batt-module=toy.py", "--tx", tx)  # in this process
    assert apart.ret == 4 and errors(apart)[0].startswith("ERROR: --batt-data tasks: with --tx 2*popen//python=")


def errors(result):
    return [line for line in result.errlines if line.startswith("ERROR")]


def test_a_worker_refuses_other_task_content_and_gets_the_controllers_settings(tmp_path):
    from types import SimpleNamespace

    from pytest_batt import assembly, settings
    from pytest_batt.tasks import TaskSet

    opts = settings.Settings(tasks=["a"], data="tasks", module="m", timeout=1.0, grace=1.0, json_path=None, base_dir="/there")
    state = SimpleNamespace(taskset=TaskSet("tasks", {"a": {"train": [], "test": []}}), task_ids=["a"], settings=opts)
    workerinput = {"batt_data_sha256": state.taskset.content_hash(["a"])}
    assembly.check_worker(workerinput, state)
    workerinput["batt_data_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="^--batt-data 'tasks' has other content for the selected tasks here than on the controller$"):
        assembly.check_worker(workerinput, state)
    full = settings.Settings(**{**opts.__dict__, "compare_path": "/b.json", "compare_fail": ("solved",), "shard": (1, 2)})
    sent = settings.for_workers(full, ["a", "b"])
    back = settings.from_controller(sent, "/here")
    assert (back.tasks, back.base_dir, back.compare_path, back.compare_fail, back.shard, back.timeout) == \
        (["a,b"], "/here", None, (), None, 1.0)


def test_what_the_controller_says_about_workers_elsewhere():
    from pytest_batt import assembly
    from pytest_batt.isolation import handoff

    remote_tb = ('Traceback (most recent call last):\n  File "x", line 1\n'
                 "pytest.UsageError: pytest-batt worker cannot run: --batt-module toy.py: no such file in /there\n")
    assert assembly.worker_failure(remote_tb) == "--batt-module toy.py: no such file in /there"
    assert assembly.worker_failure("Traceback ...\nModuleNotFoundError: No module named 'pluggy'\n") == \
        "it could not start: ModuleNotFoundError: No module named 'pluggy'"
    status, message = handoff.crash_status(None, "", 10, 2, "gw3 (ssh=h)", shared=False)
    assert status == "crash" and message.startswith("worker gw3 (ssh=h) died while running this sample and was replaced; it does not share")
    assert handoff.crash_status({"doing": "the solve call"}, "", 10, 2, "gw3")[0] == "timeout"


def test_remote_gateways_and_detached_path_values(tmp_path):
    from pytest_batt import rootdir, workerspecs

    specs = ["popen", "2*popen", "popen//python=x", "2*popen//chdir=d", "ssh=h//python=p"]
    assert workerspecs.remote_tx(specs) == ["2*popen//chdir=d", "ssh=h//python=p"]
    (tmp_path / "tasks").mkdir()
    args = ["--batt", "all", "--batt-data", "tasks", "--batt-module=b.py", "--batt-json", "new.json", "tasks"]
    assert rootdir.detached_values(args, lambda p: (tmp_path / p).exists()) == [("--batt-data", "tasks")]


def test_the_workflow_runs_the_gate_commands_ci_run_runs():
    """docs/ci-workflow.yml and .ci/run stay in step with .ci/gate (which the two-shard gate runs)."""
    from pathlib import Path

    root = Path(__file__).parent.parent
    workflow = (root / "docs" / "ci-workflow.yml").read_text()
    assert "shard: [1, 2]" in workflow and "run: .ci/gate shard ${{ matrix.shard }} 2" in workflow
    assert "path: .ci-results/shard-${{ matrix.shard }}.json" in workflow and "run: .ci/gate merge" in workflow
    run = (root / ".ci" / "run").read_text()
    assert ".ci/gate shard 1 2" in run and ".ci/gate shard 2 2" in run and ".ci/gate merge" in run
    gate = (root / ".ci" / "gate").read_text()
    assert '--batt-json="$OUT/shard-$k.json"' in gate and 'merge "$OUT"/shard-*.json -o "$OUT/all.json.gz"' in gate
    assert 'compare "$BASELINE" "$OUT/all.json.gz" --fail solved' in gate


def test_an_earlier_runs_seconds_plan_the_workers_without_shards(project, single):
    """--batt-durations alone (no --batt-shard): the scheduler plans with the earlier run's seconds;
    the results are the same as without."""
    planned = project.runpytest_subprocess(*ARGS, "-n", "2", "--batt-durations=single.json", "--batt-json", "planned.json")
    planned.assert_outcomes(passed=5, failed=3)
    one, two = (results.read(str(project.path / f)) for f in ("single.json", "planned.json"))
    assert comparable(two) == comparable(one)
