"""The options' value types (options.py) and settings without pytest: reading command line over
ini over default, and the writable check. The end-to-end usage errors (tests/test_plugin.py)
only show that these reach the user as one line."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_batt import files, options, settings
from pytest_batt.options import MAX_SECONDS


@pytest.mark.parametrize("convert, good, bad", [
    (options.positive_seconds, ["0.001", "1", "1e2", str(MAX_SECONDS)],
     {"0": "'0' must be a positive number of seconds, at most 604800", "-1": "must be a positive",
      "1e10": "'1e10' must be a positive number of seconds, at most 604800"}),
    (options.nonnegative_seconds, ["0", "2.5", str(MAX_SECONDS)],
     {"-0.5": "'-0.5' must be a number of seconds from 0 to 604800", "604801": "from 0 to 604800"}),
    (options.positive_minutes, ["0.001", "10", str(MAX_SECONDS / 60)],
     {"0": "'0' must be a positive number of minutes", "1e9": "must be a positive number of minutes"}),
    (options.nonnegative_minutes, ["0", "3"], {"-1": "'-1' must be a number of minutes >= 0"}),
    (options.megabytes_or_off, ["0", "64", "2000", "1e6"], {"10": "'10' must be 0 .off. or a finite number of megabytes, at least 64"}),
])
def test_number_types_take_their_range_and_name_the_rule(convert: Any, good: Any, bad: dict[str, str]) -> None:
    for value in good:
        assert convert(value) == float(value)
    for value, words in bad.items():
        with pytest.raises(argparse.ArgumentTypeError, match=words.replace("(", r"\(")):
            convert(value)


@pytest.mark.parametrize("convert, unit", [
    (options.positive_seconds, "seconds"), (options.nonnegative_seconds, "seconds"),
    (options.positive_minutes, "minutes"), (options.nonnegative_minutes, "minutes"),
    (options.megabytes_or_off, "megabytes"),
])
def test_number_types_refuse_words_nan_and_infinity(convert: Any, unit: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"^'soon' is not a number of {unit}$"):
        convert("soon")
    with pytest.raises(argparse.ArgumentTypeError, match="^'' is not a number"):
        convert("")
    for value in ("nan", "inf", "-inf", "Infinity"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"^'{value}' must be "):
            convert(value)


class Sources:
    """A command line and an ini file as pytest's ``getoption``/``getini`` give them (unset: None / "" / [])."""

    LISTS = frozenset({"batt_compare_fail", "batt_sandbox_allow"})
    BOOLS = frozenset({"batt_compare_any", "batt_resume_retry", "batt_sandbox"})

    def __init__(self, options: dict[str, Any] | None = None, ini: dict[str, Any] | None = None) -> None:
        self.options, self.ini = options or {}, ini or {}

    def getoption(self, name: str) -> Any:
        return self.options.get(name)

    def getini(self, name: str) -> Any:
        default: Any = [] if name in self.LISTS else False if name in self.BOOLS else ""
        return self.ini.get(name, default)


def read(options: dict[str, Any] | None = None, ini: dict[str, Any] | None = None, base_dir: str = "/base") -> settings.Settings:
    src = Sources(options, ini)
    return settings.read(src.getoption, src.getini, base_dir)


def test_defaults_without_options_or_ini() -> None:
    s = read({"batt": ["a,b", "c"]})
    assert s.tasks == ["a,b", "c"] and s.active
    assert (s.data, s.module, s.timeout, s.grace, s.progress_minutes) == ("arcagi1", "pytest_batt.reference", 10.0, 2.0, 3.0)
    assert (s.json_path, s.save_path, s.compare_path, s.resume_path, s.html_path, s.submission_path, s.durations_path) == (None,) * 7
    assert (s.max_memory, s.checkpoint_minutes, s.shard) == (None, None, None)
    assert (s.compare_fail, s.compare_any, s.resume_retry) == ((), False, False)
    assert s.base_dir == "/base"
    assert not read().active  # without --batt the plugin does nothing


def test_the_command_line_wins_over_the_ini_which_wins_over_the_default() -> None:
    ini = {"batt_data": "arcagi2", "batt_module": "ini_batt.py", "batt_timeout": "5", "batt_grace": "0", "batt_progress": "0",
           "batt_max_memory": "512", "batt_checkpoint": "10", "batt_shard": "2/3", "batt_compare_fail": ["solved", "pass2"],
           "batt_compare_any": True, "batt_resume_retry": True}
    from_ini = read({"batt": ["all"]}, ini)
    assert (from_ini.data, from_ini.module) == ("arcagi2", "ini_batt.py")
    assert (from_ini.timeout, from_ini.grace, from_ini.progress_minutes) == (5.0, 0.0, 0.0)
    assert (from_ini.max_memory, from_ini.checkpoint_minutes, from_ini.shard) == (512.0, 10.0, (2, 3))
    assert from_ini.compare_fail == ("solved", "pass2") and from_ini.compare_any and from_ini.resume_retry
    options = {"batt": ["all"], "batt_data": "tasks", "batt_module": "cli_batt.py", "batt_timeout": 1.5, "batt_grace": 3.0,
               "batt_progress": 1.0, "batt_max_memory": 100.0, "batt_checkpoint": 2.0, "batt_shard": (1, 3),
               "batt_compare_fail": ["oracle"]}
    both = read(options, ini)
    assert (both.data, both.module, both.timeout, both.grace, both.progress_minutes) == ("tasks", "cli_batt.py", 1.5, 3.0, 1.0)
    assert (both.max_memory, both.checkpoint_minutes, both.shard, both.compare_fail) == (100.0, 2.0, (1, 3), ("oracle",))
    # A flag given on either side is on: the command line cannot switch an ini's flag off.
    assert read({"batt": ["all"], "batt_compare_any": True, "batt_resume_retry": True}).compare_any is True


def test_file_paths_are_taken_relative_to_the_base_dir() -> None:
    options = {"batt": ["all"], "batt_json": "r.json", "batt_save": "out/base.json", "batt_html": "/abs/r.html"}
    ini = {"batt_compare": "b.json", "batt_resume": "old.json", "batt_durations": "d.json", "batt_submission": "s.json"}
    s = read(options, ini, base_dir="/proj")
    assert (s.json_path, s.save_path, s.html_path) == ("/proj/r.json", "/proj/out/base.json", "/abs/r.html")
    assert (s.compare_path, s.resume_path) == ("/proj/b.json", "/proj/old.json")
    assert (s.durations_path, s.submission_path) == ("/proj/d.json", "/proj/s.json")
    # --batt-data and --batt-module stay as written: each is resolved by what loads it (a name or a path).
    kept = read({"batt": ["a"], "batt_data": "tasks", "batt_module": "b.py"}, base_dir="/proj")
    assert (kept.data, kept.module) == ("tasks", "b.py")


@pytest.mark.parametrize("key, field, value, words, given", [
    ("batt_timeout", "timeout", "0", "'0' must be a positive number of seconds, at most 604800", 1.0),
    ("batt_timeout", "timeout", "soon", "'soon' is not a number of seconds", 1.0),
    ("batt_grace", "grace", "-1", "'-1' must be a number of seconds from 0", 1.0),
    ("batt_max_memory", "max_memory", "10", "'10' must be 0 .off. or a finite number of megabytes, at least 64", 100.0),
    ("batt_checkpoint", "checkpoint_minutes", "0", "'0' must be a positive number of minutes", 1.0),
    ("batt_progress", "progress_minutes", "-2", "'-2' must be a number of minutes >= 0", 1.0),
    ("batt_shard", "shard", "3/2", "'3/2': K must be between 1 and N", (1, 2)),
])
def test_a_bad_ini_value_is_a_value_error_naming_the_key(key: str, field: str, value: str, words: str, given: Any) -> None:
    with pytest.raises(ValueError, match=f"^ini option {key}: {words}"):
        read({"batt": ["all"]}, {key: value})
    # A value on the command line has passed the option's type already, and the ini's is not read.
    assert getattr(read({"batt": ["all"], key: given}, {key: value}), field) == given


def test_workers_get_the_controllers_values_but_not_its_files() -> None:
    s = read({"batt": ["x"], "batt_json": "r.json", "batt_timeout": 4.0, "batt_max_memory": 900.0, "batt_compare": "b.json",
              "batt_compare_fail": ["solved"], "batt_shard": (1, 2), "batt_checkpoint": 1.0, "batt_resume": "old.json"},
             {"batt_grace": "0.5", "batt_resume_retry": True}, base_dir="/controller")
    sent = settings.for_workers(s, ["t1", "t2"])
    assert sent["tasks"] == ["t1,t2"] and sent["compare_fail"] == []
    back = settings.from_controller(sent, "/worker")
    assert (back.timeout, back.grace, back.max_memory, back.base_dir, back.tasks) == (4.0, 0.5, 900.0, "/worker", ["t1,t2"])
    assert (back.json_path, back.compare_path, back.shard, back.checkpoint_minutes, back.resume_path) == (None,) * 5
    assert back.resume_retry is False
    assert back.compare_fail == ()


def test_check_writable_accepts_new_and_existing_files(tmp_path: Path) -> None:
    files.check_writable(str(tmp_path / "new.json"), "--batt-json")
    (tmp_path / "old.json").write_text("{}")
    files.check_writable(str(tmp_path / "old.json"), "--batt-json")


def test_check_writable_refuses_what_cannot_become_the_file(tmp_path: Path) -> None:
    def refused(path: str, option: str = "--batt-json") -> str:
        with pytest.raises(ValueError) as e:
            files.check_writable(path, option)
        return str(e.value)

    assert refused(str(tmp_path), "--batt-save") == f"--batt-save {tmp_path}: is a directory, give a file path"
    missing = tmp_path / "no" / "such" / "dir"
    assert refused(str(missing / "r.json")) == f"--batt-json {missing / 'r.json'}: directory {missing} does not exist"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert refused(str(fifo), "--batt-html") == f"--batt-html {fifo}: not a regular file (a device, FIFO or socket), give a file path"
    assert refused("/dev/full").endswith("not a regular file (a device, FIFO or socket), give a file path")
    assert fifo.is_fifo()  # left as it was


def test_check_writable_refuses_a_folder_or_file_it_may_not_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through os.access, so that it holds for root too (who may write anywhere, and is faked here)."""
    (tmp_path / "ro.json").write_text("{}")
    denied = {str(tmp_path), str(tmp_path / "ro.json")}
    monkeypatch.setattr(settings.os, "access", lambda path, mode: str(path) not in denied)
    for name in ("new.json", "ro.json"):
        with pytest.raises(ValueError, match=f"^--batt-submission {tmp_path / name}: not writable$"):
            files.check_writable(str(tmp_path / name), "--batt-submission")
    denied.remove(str(tmp_path))  # the folder is writable, the file is not
    with pytest.raises(ValueError, match="not writable"):
        files.check_writable(str(tmp_path / "ro.json"), "--batt-submission")
    files.check_writable(str(tmp_path / "new.json"), "--batt-submission")


def test_sandbox_paths_are_resolved_checked_and_need_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    assert read({"batt": ["a"]}).sandbox is False and read({"batt": ["a"]}).sandbox_allow == ()
    on = read({"batt": ["a"], "batt_sandbox": True, "batt_sandbox_allow": ["models", str(tmp_path)]}, base_dir=str(tmp_path))
    assert on.sandbox and on.sandbox_allow == (str(tmp_path / "models"), str(tmp_path))
    from_ini = read({"batt": ["a"]}, {"batt_sandbox": True, "batt_sandbox_allow": ["models"]}, base_dir=str(tmp_path))
    assert from_ini.sandbox and from_ini.sandbox_allow == (str(tmp_path / "models"),)
    with pytest.raises(ValueError, match="^--batt-sandbox-allow nowhere: no such file or directory$"):
        read({"batt": ["a"], "batt_sandbox": True, "batt_sandbox_allow": ["nowhere"]}, base_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"^--batt-sandbox-allow needs --batt-sandbox \(it says what the sandbox shows\)$"):
        read({"batt": ["a"], "batt_sandbox_allow": ["models"]}, base_dir=str(tmp_path))
    # Workers get the switch and the mark the controller sets once the sandbox is in their specs.
    sent = settings.for_workers(replace(on, sandbox_token="abc"), ["a"])
    back = settings.from_controller(sent, "/worker")
    assert back.sandbox and back.sandbox_token == "abc"
