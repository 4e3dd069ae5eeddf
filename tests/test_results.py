import collections
import os
import re
import typing
from pathlib import Path

import pytest

from pytest_batt import records, results
from toys import TOY_BATT, make_project


def header():
    return results.header(batt_module="m", batt_sha256="a" * 64, data_name="d", data_sha256="b" * 64, timeout_s=1.0, workers=2)


def test_header_has_the_schema_fields():
    h = header()
    assert h["schema"] == 1
    assert h["tool"]["name"] == "pytest-batt"
    assert set(h["machine"]) == {"python", "platform", "cpus"}
    assert h["config"] == {"timeout_s": 1.0, "workers": 2}


def test_write_is_atomic_and_reads_back(tmp_path):
    path = tmp_path / "r.json"
    data = {**header(), "session": {"wall_s": 1.0, "item_s": 1.0, "complete": True}, "tasks": {}}
    results.write(str(path), data)
    assert results.read(str(path)) == data
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def test_gz_paths_are_compressed_and_read_back(tmp_path):
    data = {**header(), "session": {"wall_s": 1.0, "item_s": 1.0, "complete": True}, "tasks": {"t": {"o_score": {"a": 1}}}}
    results.write(str(tmp_path / "r.json.gz"), data)
    assert (tmp_path / "r.json.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert results.read(str(tmp_path / "r.json.gz")) == data
    (tmp_path / "cut.json.gz").write_bytes((tmp_path / "r.json.gz").read_bytes()[:20])
    with pytest.raises(results.ResultsError, match="cut.json.gz: cannot be read"):
        results.read(str(tmp_path / "cut.json.gz"))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_results_files_get_the_mode_a_plain_open_would(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        results.write(str(tmp_path / "r.json"), {"schema": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == mode


def test_a_failed_write_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        results.write(str(path), {"bad": object()})
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.json"]


@pytest.mark.parametrize(
    "content, why",
    [("{", "not valid JSON"), ('{"schema": 2}', "schema: 2"), ("[]", "not a pytest-batt results file"),
     ('{"schema": 1}', "no 'batt' object")],
)
def test_unusable_results_files_name_the_file(tmp_path, content, why):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(results.ResultsError, match=why):
        results.read(str(path))
    with pytest.raises(results.ResultsError, match="no such results file"):
        results.read(str(tmp_path / "none.json"))


def test_written_text_is_the_compact_dump_and_gz_is_reproducible(tmp_path):
    import gzip
    import json

    data = {**header(), "session": {"wall_s": 1.0, "complete": True},
            "tasks": {"b": {"o_score": {"x": 1}, "d": [None, 1.5, "é"]}, "a": {}}, "comparison": {"n": 0}}
    for case in (data, {**data, "tasks": {}}, {}):
        results.write(str(tmp_path / "r.json"), case)
        assert (tmp_path / "r.json").read_text() == json.dumps(case, separators=(",", ":")) + "\n"
    results.write(str(tmp_path / "a.json.gz"), data)
    results.write(str(tmp_path / "b.json.gz"), data)
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()  # mtime 0
    assert gzip.decompress((tmp_path / "a.json.gz").read_bytes()).decode() == json.dumps(data, separators=(",", ":")) + "\n"


# --- the schema: a real file, the TypedDicts in results.py and docs/results-schema.md agree ------------------

def schema_paths(td=results.ResultsFile, path=""):
    """Every key path the TypedDicts allow: ``*`` for a map's dynamic keys, ``[]`` for list items."""
    out = set()

    def walk(tp, path):
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__annotations__"):
            for key, sub in typing.get_type_hints(tp).items():
                out.add(f"{path}{key}")
                walk(sub, f"{path}{key}.")
        elif origin is dict:
            out.add(f"{path}*")
            walk(typing.get_args(tp)[1], f"{path}*.")
        elif origin is list:
            walk(typing.get_args(tp)[0], f"{path}[].")

    walk(td, path)
    return out


def file_paths(data, path=""):
    """The key paths of a results file, the same way (dynamic maps: tasks, scores)."""
    dynamic = ("tasks", "o_score", "d_score", "s_score", "iz", "zo")
    out = set()
    if isinstance(data, dict):
        for key, value in data.items():
            out.add(f"{path}{key}")
            if key in dynamic and isinstance(value, dict):
                for sub in value.values():
                    if key == "d_score":  # solver -> differ -> entry
                        for entry in sub.values():
                            out |= file_paths(entry, f"{path}{key}.*.*.")
                    elif isinstance(sub, dict):
                        out |= file_paths(sub, f"{path}{key}.*.")
                    else:
                        out.add(f"{path}{key}.*")
            elif key in ("comparison", "shards", "fold"):
                continue  # opaque in the schema (documented in prose)
            else:
                out |= file_paths(value, f"{path}{key}.")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, (dict, list)):
                out |= file_paths(item, f"{path}[].")
    return {p.rstrip(".") for p in out}


def test_a_real_results_file_has_only_the_schemas_keys(pytester):
    make_project(pytester, toybatt=TOY_BATT)
    pytester.runpytest_subprocess("--batt", "all", "--batt-data", "tasks", "--batt-module", "toybatt.py", "-n", "0",
                                  "--batt-json", "r.json")
    got = file_paths(results.read(str(pytester.path / "r.json")))
    allowed = schema_paths() | {p.rsplit(".", 1)[0] for p in schema_paths()}
    assert got - allowed == set()
    assert {"tasks.*.sha256", "session.process_s", "batt.import_s", "tasks.*.d_score.*.*.last_t"} <= got


def test_the_documented_schema_lists_exactly_the_schemas_keys():
    doc = (Path(__file__).parent.parent / "docs" / "results-schema.md").read_text()
    block = doc.split("```", 2)[1]
    # Each key name as often as the schema has it (sha256: batt, data and each task).
    documented = collections.Counter(re.findall(r'"([a-z_0-9]+)":', block))
    keys = collections.Counter(p.rsplit(".", 1)[-1] for p in schema_paths())
    del keys["*"]
    assert documented == keys


def test_every_producer_makes_records_of_the_declared_keys_only(tmp_path):
    """records.SampleRecord is the one definition: a worker's record, the controller's judged and
    failure records, a resumed one and a checkpoint all have its required keys and no others."""
    from toys import TASKS

    from pytest_batt import battrun, resume, runner
    from pytest_batt.tasks import TaskSet

    declared = set(typing.get_type_hints(records.SampleRecord))
    required = set(records.SampleRecord.__required_keys__)
    assert set(records.SAMPLE_KEYS) < required and {"task", "message"} < required

    ns = {}
    exec(TOY_BATT, ns)
    taskset = TaskSet("toys", TASKS)
    run = battrun.BattRun(taskset, list(TASKS))
    blind = taskset.without_test_outputs(["none0003"]).task("none0003")
    checkpoints = []
    made = []
    for sample in blind.samples:  # an unsolved demo, a test with an output of another shape, a solved test
        rec = runner.run_sample(ns["batt"], blind, sample, checkpoint=lambda r, stage: checkpoints.append(r))
        made.append(dict(rec))
        made.append(run.add(f"batt/none0003::{sample.name}", rec))
    run.add_failure("batt/flip0001::demo[0]", "crash", "it died")
    run.task_failed("same0002", "bad data")
    made += checkpoints + [run.records["batt/flip0001::demo[0]"], run.records["batt/same0002::test[0]"]]
    entry = records.sample_entry(made[1], resume.fold_data(made[1]))
    made.append(resume.record_of("none0003", entry))
    assert len(made) == 15 and {r["status"] for r in made} == {"ok", "unsolved", "solved", "crash", "error"}
    for rec in made:
        assert required <= set(rec) <= declared, rec
