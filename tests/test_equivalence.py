"""The plugin (-n 0 and -n 2) and the independent Phase 3 scorer agree on every score."""

import sys

import pytest

from pytest_batt import compare
from toys import TOY_BATT

# A batt with repeated solver ids, invalid grids, whole-float grids (colours: they count), rows for
# other solvers and values that do not count.
MESSY_BATT = TOY_BATT + '''
_batt = batt

def batt(task_id, S, I, C, log_path):
    o, s = _batt(task_id, S, I, C, log_path)
    o = list(o) + [(9, 0, "flip", I), (10, 0, "junk", "not a grid"), (11, 0, "identity", [list(r) for r in I]),
                   (12, 0, "floaty", tuple(tuple(float(v) for v in r) for r in I)), (13, 0, "half", ((0.5,),))]
    if C is not None:
        s = [(1, "flip", "late", (0,)), *s, (8, "ghost", "same", (0,)), (9, "None", "same", "no size"),
             (12, "None", "late", (2, "x"))]
    return o, s
'''


@pytest.fixture
def project(toy_project):
    toy_project.makepyfile(messy=MESSY_BATT)
    return toy_project


def test_phase3_and_plugin_find_no_difference(project):
    """The one test of "-n 0 equals -n 2": both modes equal Phase 3's scores, and each other's every sample."""
    args = ["--batt", "all", "--batt-data", "tasks", "--batt-module", "messy.py"]
    p3 = project.run(sys.executable, "-m", "pytest_batt", "phase3", *args, "--json", "p3.json")
    assert p3.ret == 0, p3.stderr.str()
    for mode in ("0", "2"):
        project.runbatt(*args, "-n", mode, "--batt-json", f"n{mode}.json")
        base, cur = (project.results(f) for f in ("p3.json", f"n{mode}.json"))
        assert cur["config"]["workers"] == int(mode)
        comp = compare.compare(base, cur)
        assert comp.changes == [] and comp.partial == [] and len(comp.tasks) == 3
        for t in comp.tasks:
            assert (t.o_dropped, t.o_raised, t.d_changed, t.s_changed) == ({}, {}, 0, 0)
        assert base["tasks"]["same0002"]["o_score"]["floaty"] == 2  # whole floats equal the output's colours
        for tid in base["tasks"]:
            for key in ("o_score", "d_score", "s_score", "solved"):
                assert base["tasks"][tid][key] == cur["tasks"][tid][key], (mode, tid, key)
        calls = lambda r: sum(s["calls"] for s in r.samples())  # noqa: E731
        assert calls(base) > calls(cur)  # Phase 3 repeats the diff call for every candidate
    # Without and with workers: every sample alike but for its times (statuses, calls, candidates, messages).
    n0, n2 = (project.results(f) for f in ("n0.json", "n2.json"))
    strip = lambda samples: [{k: v for k, v in s.items() if "seconds" not in k and k != "memory_mb"} for s in samples]  # noqa: E731
    assert list(n0["tasks"]) == list(n2["tasks"])
    for tid in n0["tasks"]:
        assert strip(n0["tasks"][tid]["samples"]) == strip(n2["tasks"][tid]["samples"]), tid
