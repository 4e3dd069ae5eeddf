"""A hostile program library through the real plugin: the correct programs are credited, every
other one is recorded by id and costs only itself, and -n 0 and -n 2 give the same results."""

import json
import re

import pytest

from toys import task

TASKS = {
    "0000f11f": task([([[1, 2]], [[2, 1]]), ([[3, 4, 5]], [[5, 4, 3]])], [([[6, 7]], [[7, 6]])]),  # mirror each row
    "0000bbbb": task([([[1, 2], [3, 4]], [[3, 4], [1, 2]])], [([[5], [6], [7]], [[7], [6], [5]])]),  # upside down
}

LIBRARY = {
    "correct.py": "def transform(grid):\n    return [row[::-1] for row in grid]\n",
    "loop.py": "def transform(grid):\n    while True:\n        pass\n",
    "syntax.py": "def transform(grid)\n    return grid\n",
    # Runs before numpy_out.py: if it were given the same grid, numpy_out would see the damage.
    "mutate.py": ("def transform(grid):\n    for row in grid:\n        row.reverse()\n    grid[0][0] = 9\n"
                  "    grid.append(list(grid[0]))\n    return grid\n"),
    "numpy_out.py": "import numpy as np\n\ndef transform(grid):\n    return np.fliplr(np.array(grid))\n",
    "wrong_shape.py": "def transform(grid):\n    return [row[::-1] + [0] for row in grid]\n",
    "raises.py": "def transform(grid):\n    return grid[99]\n",
    # Bound to one task each: by the map file, and by a solve_<task_id> name.
    "golf/task_b.py": "def p(g):\n    return g[::-1]\n",
    "solvers.py": "def solve_0000bbbb(I):\n    return I[::-1]\n\ndef solve_0000f11f(I):\n    return I\n",
}
LIMIT = 0.5


def write_library(project, files):
    for rel, text in files.items():
        path = project.path / "lib" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def project(batt_project):
    batt_project.tasks(TASKS)
    write_library(batt_project, LIBRARY)
    (batt_project.path / "map.json").write_text(json.dumps({"0000bbbb": "golf/task_b.py"}))
    return batt_project


ARGS = ["--batt", "all", "--batt-data=tasks", "--batt-programs=lib", "--batt-programs-map=map.json",
        f"--batt-program-timeout={LIMIT}", "-p", "no:cacheprovider"]


def comparable(res):
    return res.unmeasured(), res["batt"]["sha256"], res["batt"]["module"]  # measurements are no results


def test_a_hostile_library_costs_each_broken_program_only_itself(project):
    runs = {}
    for n in ("0", "2"):
        out = project.runbatt(*ARGS, "-n", n, f"--batt-json=r{n}.json")
        runs[n] = (out, project.results(f"r{n}.json"))
    out, res = runs["0"]
    assert comparable(res) == comparable(runs["2"][1])
    text = out.stdout.str()
    assert ("batt: programs from lib: 9 program(s) in 9 file(s), 3 bound to a task, 6 tried on every task; "
            "grid form list; 0.5s per program") in text
    assert "[pytest-batt] syntax.py: not imported: SyntaxError: expected ':' (line 1)" in text
    assert res["batt"]["module"] == "programs:lib" and "syntax.py: not imported" in res["batt"]["import_output"]

    flip, upside = res["tasks"]["0000f11f"], res["tasks"]["0000bbbb"]
    for s in flip["samples"]:
        assert s["status"] == "solved" and s["matched"] == ["correct.py::transform", "numpy_out.py::transform"]
    assert flip["o_score"] == {"correct.py::transform": 3, "mutate.py::transform": 0, "numpy_out.py::transform": 3,
                               "solvers.py::solve_0000f11f": 0, "wrong_shape.py::transform": 0}
    assert upside["o_score"]["golf/task_b.py::p"] == 2 and upside["o_score"]["solvers.py::solve_0000bbbb"] == 2
    assert "solvers.py::solve_0000f11f" not in upside["o_score"] and "golf/task_b.py::p" not in flip["o_score"]
    assert flip["solved"] == {"oracle": True, "at_2": True} and upside["solved"] == {"oracle": True, "at_2": True}
    assert flip["d_score"] == {} and flip["s_score"] == {}  # a library has no differs
    samples = flip["samples"] + upside["samples"]
    for s in samples:
        assert s["error"].startswith(f"program faults: loop.py::transform timed out after {LIMIT:g} s (--batt-program-timeout) | "
                                     "raises.py::transform raised IndexError: list index out of range")
        assert s["seconds"] < LIMIT + 1.5  # the looping program cost its limit, not the sample's 10 s
    assert "programs that timed out: 1: loop.py::transform (5 samples)" in text
    assert "programs that raised: 1: raises.py::transform (5 samples)" in text
    assert re.search(r"tasks: 2 +pass@2: 2/2 +oracle: 2/2 +samples solved: 5/5", text)
    assert runs["0"][0].ret == runs["2"][0].ret == 0


def test_a_batt_and_a_library_exclude_each_other(project):
    """In this process: a usage error stops pytest before any batt call."""
    project.makepyfile(toy="def batt(task_id, S, I, C, log_path):\n    return [], []\n")
    out = project.runbatt_inprocess("--batt", "all", "--batt-data=tasks", "--batt-programs=lib", "--batt-module=toy.py", "-n", "0")
    assert out.ret == 4
    out.stderr.fnmatch_lines(["*--batt-module and --batt-programs exclude each other*"])
    out = project.runbatt_inprocess("--batt", "all", "--batt-data=tasks", "--batt-programs=nowhere", "-n", "0")
    assert out.ret == 4
    out.stderr.fnmatch_lines(["*--batt-programs */nowhere: no such file or folder*"])


def test_the_calls_timeout_ends_a_program_and_the_programs_after_it_run_in_a_second_call(project):
    """Three looping programs of 0.3 s each in a call of 1 s: the call's own timeout ends one of
    them while it runs; it is named, and the programs after it run in a second call."""
    for n in (1, 2, 3):
        (project.path / "lib" / f"loop{n}.py").write_text("def transform(grid):\n    while True:\n        pass\n")
    out = project.runbatt("--batt", "0000bbbb", "--batt-data=tasks", "--batt-programs=lib", "--batt-entry=transform",
                          "--batt-program-timeout=0.3", "--batt-timeout=1", "-n", "1", "--batt-json=r.json",
                          "-p", "no:cacheprovider")
    loops = [f"loop{n}.py::transform" for n in ("", 1, 2, 3)]
    for s in project.results().samples("0000bbbb"):
        assert s["status"] == "unsolved" and s["calls"] == 2, s  # judged: no program of this library flips upside down
        stalled = [sid for sid in loops if f"{sid} timed out: the call's --batt-timeout ran out while it ran" in s["error"]]
        assert len(stalled) == 1 and stalled[0] != loops[0], s["error"]
        assert all(f"{sid} timed out after 0.3 s" in s["error"] for sid in loops if sid not in stalled), s["error"]
        assert "raises.py::transform raised IndexError" in s["error"]  # the last program ran, in the second call
    assert out.ret == 1


@pytest.mark.parametrize("n", ["0", "2"])
def test_a_library_without_program_limits_scores_as_with_them(project, n):
    """No --batt-program-timeout: loop.py costs each sample one --batt-timeout, and every other
    program is judged as under a program limit."""
    limited = project.runbatt(*ARGS, "-n", n, "--batt-json=limited.json")
    args = [a for a in ARGS if not a.startswith("--batt-program-timeout")]
    out = project.runbatt(*args, "-n", n, "--batt-timeout=0.5", "--batt-json=unlimited.json")
    assert [t["o_score"] for t in project.results("unlimited.json")["tasks"].values()] == \
        [t["o_score"] for t in project.results("limited.json")["tasks"].values()]
    for s in (s for t in project.results("unlimited.json")["tasks"].values() for s in t["samples"]):
        assert s["status"] in ("solved", "unsolved") and "loop.py::transform timed out: the call's --batt-timeout" in s["error"]
    assert "programs that timed out: 1: loop.py::transform (5 samples) (no --batt-program-timeout: each took its samples' " \
        "whole --batt-timeout; set one to stop them sooner)" in out.stdout.str()
    assert limited.ret == out.ret


def test_the_ini_file_sets_the_library_options(project):
    project.makeini("[pytest]\nbatt_data = tasks\nbatt_programs = lib\nbatt_entry = p, solve_*\n"
                    "batt_programs_map = map.json\nbatt_grid_form = tuple\nbatt_program_timeout = 0.3\n")
    out = project.runbatt("--batt", "0000bbbb", "-n", "0", "--batt-json=r.json", "-p", "no:cacheprovider")
    out.stdout.fnmatch_lines(["batt: programs from lib: 3 program(s) in 9 file(s), 3 bound to a task, 0 tried on every task; "
                              "grid form tuple; 0.3s per program*"])
    task = project.results()["tasks"]["0000bbbb"]
    assert task["o_score"] == {"golf/task_b.py::p": 2, "solvers.py::solve_0000bbbb": 2}
    assert out.ret == 0


def test_help_shows_the_library_options(pytester):
    out = pytester.runpytest_subprocess("--help")
    assert out.ret == 0  # every option's help survives argparse's % formatting
    out.stdout.fnmatch_lines(["*--batt-programs=PATH*", "*--batt-entry=NAMES*", "*--batt-programs-map=FILE*",
                              "*--batt-grid-form=FORM*", "*--batt-program-timeout=SECONDS*"])


# The shapes of a public code-golf set, in programs of our own: whole floats are colours.
FLOATS = {
    "whole.py": "def p(g):\n    return [[r[-1 - i] * 1.0 for i in range(len(r))] for r in g]\n",
    "npfloat.py": "import numpy as np\n\ndef p(g):\n    return np.fliplr(np.array(g, dtype=float))\n",
    "half.py": "def p(g):\n    return [[v + 0.5 for v in r[::-1]] for r in g]\n",
}


@pytest.mark.parametrize("n", ["0", "2"])
def test_whole_float_cells_are_credited_and_a_half_one_says_why(batt_project, n):
    batt_project.tasks({"0000f11f": TASKS["0000f11f"]})
    write_library(batt_project, FLOATS)
    out = batt_project.runbatt("--batt", "all", "--batt-data=tasks", "--batt-programs=lib", "--batt-entry=p",
                               "-p", "no:cacheprovider", "-n", n, "--batt-json=r.json", "--batt-html=r.html",
                               "--batt-submission=sub.json")
    out.assert_outcomes(passed=3)
    res = batt_project.results()
    entry = res["tasks"]["0000f11f"]
    assert entry["o_score"] == {"half.py::p": 0, "npfloat.py::p": 3, "whole.py::p": 3}
    assert entry["solved"] == {"oracle": True, "at_2": True}
    assert entry["samples"][-1]["attempts"][0] == ["npfloat.py::p", [[7, 6]]]  # ints, as every canonical grid
    sub = json.loads((batt_project.path / "sub.json").read_text())
    assert sub["0000f11f"][0]["attempt_1"] == [[7, 6]]


def test_a_grid_with_a_half_cell_fails_with_the_reason_everywhere(batt_project):
    batt_project.tasks({"0000f11f": TASKS["0000f11f"]})
    write_library(batt_project, {"half.py": FLOATS["half.py"]})
    out = batt_project.runbatt("--batt", "all", "--batt-data=tasks", "--batt-programs=lib", "--batt-entry=p",
                               "-p", "no:cacheprovider", "-n", "2", "--batt-json=r.json", "--batt-html=r.html")
    out.assert_outcomes(failed=3)
    why = "not a grid: half.py::p: cell (0, 0) is 2.5, not a colour 0..9"
    assert why in out.stdout.str()
    samples = batt_project.results().samples("0000f11f")
    assert samples[0]["message"].splitlines()[-1] == why
    assert samples[2]["message"].splitlines()[-1] == "not a grid: half.py::p: cell (0, 0) is 7.5, not a colour 0..9"
    assert why in (batt_project.path / "r.html").read_text()
