"""wire: a batt item's report crosses from a worker to the controller as one JSON string, and comes
back as the dict pytest would have sent; what would not come back as it was is sent as it is."""

import json
import re

import pytest
from _pytest.reports import TestReport

from pytest_batt import wire
from toys import TOY_BATT


def report_data(**changes):
    rep = TestReport("batt/flip0001::demo[0]", (".", None, "flip0001::demo[0]"), {"demo[0]": 1, "batt": 1, "demo": 1},
                     "passed", None, "call", sections=[("Captured stdout call", "hi\n")], duration=0.25,
                     start=1.5, stop=1.75, user_properties=[("x", 1)])
    rep.batt_record = json.dumps({"status": "ok"})
    for k, v in changes.items():
        setattr(rep, k, v)
    data = rep._to_json()
    data["$report_type"] = "TestReport"
    return data


def test_a_report_comes_back_as_pytest_serialized_it():
    data = report_data()
    packed = wire.pack(data)
    assert list(packed) == [wire.KEY] and isinstance(packed[wire.KEY], str)
    packed.update(item_index=3, worker_id="gw1", testrun_uid="u")  # what xdist adds beside it
    back = wire.unpack(packed)
    assert back == {**data, "item_index": 3, "worker_id": "gw1", "testrun_uid": "u"}
    assert isinstance(back["location"], tuple) and all(isinstance(p, tuple) for p in back["sections"] + back["user_properties"])
    rebuilt = TestReport._from_json(back)
    assert (rebuilt.nodeid, rebuilt.location, rebuilt.outcome, rebuilt.when, rebuilt.sections, rebuilt.duration) == \
        ("batt/flip0001::demo[0]", (".", None, "flip0001::demo[0]"), "passed", "call", [("Captured stdout call", "hi\n")], 0.25)
    assert rebuilt.batt_record == data["batt_record"] and rebuilt.worker_id == "gw1"


def test_a_failure_text_is_packed_and_what_json_would_change_is_not():
    assert wire.pack(report_data(outcome="failed", longrepr="error: solve call raised"))
    for changes in ({"longrepr": (".", 1, "Skipped: x")},  # a skip's tuple
                    {"user_properties": [("x", (1, 2))]}, {"user_properties": [("x", b"raw")]},
                    {"extra": {1: 2}}, {"sections": [("a", b"bytes")]}):
        assert wire.pack(report_data(**changes)) is None, changes
    assert wire.unpack(report_data()) is None and wire.unpack({wire.KEY: 5}) is None


@pytest.mark.parametrize("args", [["-n", "2"], ["-n", "2", "-p", "no:cacheprovider"]])
def test_reports_from_workers_read_as_before(toy_project, args):
    """junitxml, the terminal (-rA, -v's worker tags), --lf and -x read the unpacked reports."""
    toy_project.makepyfile(toy=TOY_BATT)
    base = ["--batt", "all", "--batt-data=tasks", "--batt-module=toy.py", *args]
    result = toy_project.runpytest_subprocess(*base, "--junitxml=j.xml", "-rA", "-v")
    result.assert_outcomes(passed=6, failed=2)
    text = result.stdout.str()
    assert re.search(r"^\[gw[01]\] \[ *\d+%\] PASSED batt/flip0001::demo\[0\]", text, re.MULTILINE)  # the worker's id came along
    assert "FAILED batt/none0003::test[0]" in text
    xml = (toy_project.path / "j.xml").read_text()
    assert xml.count("<testcase ") == 8 and xml.count("<failure ") == 2 and 'name="batt_status" value="solved"' in xml
    if "no:cacheprovider" not in args:
        again = toy_project.runpytest_subprocess(*base, "--lf")
        again.assert_outcomes(failed=2)
    stop = toy_project.runpytest_subprocess(*base, "-x")
    assert stop.ret == 2 and "stopping after 1 failures" in stop.stdout.str()  # -x read the controller's verdict
