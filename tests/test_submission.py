"""submission.json: attempts by demo score as pass@2 ranks them, kept by the controller; ARC Prize's score."""

import json

import pytest

from pytest_batt import battrun, failures, grids, records, results, resume, submission
from pytest_batt.__main__ import main
from pytest_batt.tasks import TaskSet

A, B, C = ((1, 2),), ((2, 1),), ((3, 3),)
TASK = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[5, 6]], "output": [[2, 1]]}]}


def worker_record(kind, index, cands, sent):
    """What a worker sends: distinct (solver, fingerprint, count) and, for a test sample, the grids."""
    rec = records.new_record("t", kind, index, calls=1, seconds=0.1)
    rec.update(candidates=3, d={}, differ_last_t={}, cands=[[sid, grids.fingerprint(g), 1] for sid, g in cands])
    if kind == "test":
        rec["grids"] = {grids.fingerprint(g): grids.encode(g) for g in sent}
    return rec


def test_the_controller_keeps_only_the_two_attempts_once_demo_scores_are_known():
    run = battrun.BattRun(TaskSet("x", {"t": TASK}), ["t"])
    # The test sample arrives first: its grids wait for the demo scores that rank them.
    run.add("batt/t::test[0]", worker_record("test", 0, [("a", A), ("b", B), ("c", C)], [A, B, C]))
    assert len(run.records["batt/t::test[0]"]["grids"]) == 3
    run.add("batt/t::demo[0]", worker_record("demo", 0, [("a", A), ("c", B), ("b", B)], []))
    rec = run.records["batt/t::test[0]"]
    assert "grids" not in rec and rec["attempts"] == [["b", grids.encode(B)], ["c", grids.encode(C)]]
    assert run.attempts("t") == [[B, C]]
    sub = submission.build(["t"], run.attempts)
    assert sub == {"t": [{"attempt_1": [[2, 1]], "attempt_2": [[3, 3]]}]}
    results = run.results({}, interrupted=False)
    assert results["tasks"]["t"]["solved"]["at_2"] is True
    assert submission.score(sub, {"t": [B]}).total == 1.0


def test_the_results_file_keeps_the_attempts_and_a_resumed_run_ranks_them_when_its_demos_end():
    TWO = {"train": TASK["train"] * 2, "test": TASK["test"]}
    run = battrun.BattRun(TaskSet("x", {"t": TWO}), ["t"])
    run.add("batt/t::demo[0]", worker_record("demo", 0, [("a", A), ("c", B), ("b", B)], []))
    run.add("batt/t::test[0]", worker_record("test", 0, [("a", A), ("b", B), ("c", C)], [A, B, C]))
    # Killed here: demo[1] never ran, so the test sample's grids wait, in its fold, for the ranking.
    checkpoint = json.loads("".join(results.chunks(run.results({}, interrupted=True))))  # the file's text
    test = checkpoint["tasks"]["t"]["samples"][2]
    assert "attempts" not in test and len(test["fold"]["grids"]) == 3
    taken = resume.take(checkpoint, run.plan, retry=False)
    assert set(taken.records) == {"batt/t::demo[0]", "batt/t::test[0]"} and not taken.whole
    resumed = battrun.BattRun(TaskSet("x", {"t": TWO}), ["t"])
    resumed.records.update(taken.records)
    resumed.add("batt/t::demo[1]", worker_record("demo", 1, [("c", B)], []))
    assert resumed.attempts("t") == [[C, B]]  # c's grid (2 demo hits), then b's (1); a's (0) is third
    finished = json.loads("".join(results.chunks(resumed.results({}, interrupted=False))))
    assert finished["tasks"]["t"]["samples"][2]["attempts"] == [["c", [[3, 3]]], ["b", [[2, 1]]]]
    # A whole task taken from that file keeps its attempts for the submission and the report.
    again = resume.take(finished, resumed.plan, retry=False)
    assert set(again.whole) == {"t"} and again.records["batt/t::test[0]"]["attempts"] == [["c", grids.encode(C)], ["b", grids.encode(B)]]


def test_hidden_outputs_make_test_samples_unscored_with_their_attempts():
    hidden = {"t": {"train": TASK["train"], "test": [{"input": [[5, 6]]}]}}
    run = battrun.BattRun(TaskSet("x", hidden, hidden=True), ["t"])
    run.add("batt/t::demo[0]", worker_record("demo", 0, [("a", B)], []))
    rec = run.add("batt/t::test[0]", worker_record("test", 0, [("z", C), ("a", A)], [C, A]))
    assert rec["status"] == "unscored" and not any(rec["o"].values()) and "unscored" in failures.describe(rec)
    assert run.attempts("t") == [[A, C]]  # a's demo hit ranks its grid first
    assert run.results({}, False)["tasks"]["t"]["samples"][1]["status"] == "unscored"


def test_a_results_files_attempts_make_the_submission():
    def test(index, status="unsolved", **more):
        return {"kind": "test", "index": index, "status": status, "candidates": 2, **more}

    demo = {"kind": "demo", "index": 0, "status": "solved", "candidates": 1}
    made = submission.from_results({"tasks": {
        "a": {"samples": [demo, test(0, attempts=[["s", [[1, 2]]], ["r", [[2, 1]]]]), test(1, "timeout", candidates=0)]},
        "b": {"samples": [demo, test(1, attempts=[["s", [[3, 3]]]])]},  # test[0] not listed
        "c": {"samples": [demo, test(0, "missing", candidates=0)]},
        "d": {"samples": [demo, test(0, fold={"grids": {}})]},  # its task's demos never finished: not ranked
        "e": {"samples": [demo]},  # no test sample selected
    }})
    assert made.submission == {
        "a": [{"attempt_1": [[1, 2]], "attempt_2": [[2, 1]]}, {"attempt_1": [[0]], "attempt_2": [[0]]}],
        "b": [{"attempt_1": [[0]], "attempt_2": [[0]]}, {"attempt_1": [[3, 3]], "attempt_2": [[0]]}],
        "c": [{"attempt_1": [[0]], "attempt_2": [[0]]}], "d": [{"attempt_1": [[0]], "attempt_2": [[0]]}], "e": []}
    assert made.no_candidate == 1 and made.not_run == ["b::test[0]", "c::test[0]", "d::test[0]", "e::test[*]"]
    with pytest.raises(submission.SubmissionError, match="r.json: task a test.0. has candidates but no attempts"):
        submission.from_results({"tasks": {"a": {"samples": [test(0)]}}}, where="r.json")  # an older file
    with pytest.raises(submission.SubmissionError, match="task a test.0.: an attempt is not a grid"):
        submission.from_results({"tasks": {"a": {"samples": [test(0, attempts=[["s", [[11]]]])]}}})


def test_the_submission_command_refuses_unusable_files_in_one_line(tmp_path, capsys):
    assert main(["submission", str(tmp_path / "none.json"), "-o", str(tmp_path / "s.json")]) == 4
    head = results.header(batt_module="b.py", batt_sha256="b", data_name="d", data_sha256="d", timeout_s=1.0, workers=1)
    (tmp_path / "old.json").write_text(json.dumps({**head, "session": {"complete": True}, "tasks": {  # no attempts kept
        "a": {"samples": [{"kind": "test", "index": 0, "status": "solved", "candidates": 3}]}}}))
    assert main(["submission", str(tmp_path / "old.json"), "-o", str(tmp_path / "s.json")]) == 4
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err) and "has candidates but no attempts" in err[1]
    assert not (tmp_path / "s.json").exists()


def test_no_candidate_means_the_fallback_grid():
    assert submission.build(["t"], lambda tid: [[], [A]]) == {"t": [
        {"attempt_1": [[0]], "attempt_2": [[0]]}, {"attempt_1": [[1, 2]], "attempt_2": [[0]]}]}


def test_score_is_the_mean_of_task_fractions_with_either_attempt_counting():
    solutions = {"one": [A], "two": [A, B], "none": [C]}
    sub = {"one": [{"attempt_1": [[0]], "attempt_2": [[1, 2]]}],
           "two": [{"attempt_1": [[1, 2]], "attempt_2": [[0]]}, {"attempt_1": [[0]], "attempt_2": [[0]]}],
           "none": [{"attempt_1": [[1, 2]], "attempt_2": [[2, 1]]}]}
    result = submission.score(sub, solutions)
    assert result.tasks == {"one": 1.0, "two": 0.5, "none": 0.0}
    assert result.total == pytest.approx(0.5) and result.full == 1 and result.partial() == {"two": 0.5}


@pytest.mark.parametrize("sub, why", [
    ({}, "task one is missing"),
    ({"one": [{"attempt_1": [[1]], "attempt_2": [[1]]}] * 2}, "task one has 2 entries, its test inputs are 1"),
    ({"one": [{"attempt_1": [[1]], "attempt_2": "12"}]}, "task one entry 0 attempt_2: not a grid"),
    ({"one": [{"attempt_1": [[1]]}]}, "task one entry 0: expected"),
    ({"one": [{"attempt_1": [[1]], "attempt_2": [[1]]}], "zzz": []}, "task zzz is not in the solutions"),
])
def test_a_malformed_submission_is_one_line(tmp_path, capsys, sub, why):
    (tmp_path / "s.json").write_text(json.dumps(sub))
    (tmp_path / "x_solutions.json").write_text(json.dumps({"one": [[[1]]]}))
    assert main(["score", str(tmp_path / "s.json"), str(tmp_path / "x_solutions.json")]) == 4
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1


def test_score_command_prints_the_score_and_partial_credit(tmp_path, capsys):
    attempts = [{"attempt_1": [[1]], "attempt_2": [[0]]}, {"attempt_1": [[0]], "attempt_2": [[0]]}]
    (tmp_path / "s.json").write_text(json.dumps({"one": attempts}))
    (tmp_path / "x_solutions.json").write_text(json.dumps({"one": [[[1]], [[2]]]}))
    assert main(["score", str(tmp_path / "s.json"), str(tmp_path / "x_solutions.json")]) == 0
    out = capsys.readouterr().out
    assert "score: 0.5000  (0.5 of 1 tasks; 0 fully solved)" in out and "one 1/2" in out
