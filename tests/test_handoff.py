"""The notes a dying worker leaves and what the controller concludes from them (no processes:
the end-to-end cases are in test_hostile.py and test_hostile2.py)."""

import json

from pytest_batt.isolation import handoff
from pytest_batt.records import new_record

NODE = "batt/t::test[0]"


def record(**changes):
    rec = new_record("t", "test", 0, calls=3, seconds=1.5)
    rec.update(changes)
    return rec


def write(tmp_path, kind, data):
    (tmp_path / f"gw0.{kind}").write_text(data if isinstance(data, str) else json.dumps(data))


def test_nothing_left_is_a_crash(tmp_path):
    write(tmp_path, "stack", "")
    left = handoff.read(str(tmp_path), "gw0", NODE)
    out = handoff.conclude(left, 10, 2, "gw0")
    assert out.record is None and out.status[0] == "crash"
    assert out.message.startswith("crash: worker gw0 died while running this sample: the process exited")


def test_fatal_error_and_the_batt_frame_name_the_crash(tmp_path):
    write(tmp_path, "stack", 'Fatal Python error: Segmentation fault\n\nCurrent thread 0x01 (most recent call first):\n'
                             '  File "/b/batt.py", line 7 in solve\n  File "/x/pytest_batt/isolation/guard.py", line 9 in call_batt\n')
    out = handoff.conclude(handoff.read(str(tmp_path), "gw0", NODE), 10, 2, "gw0")
    assert out.status == ("crash", "worker gw0 died while running this sample: Segmentation fault; it was replaced; "
                                   "it was in solve (/b/batt.py:7)")


def test_the_watchdogs_note_makes_it_a_timeout_but_only_for_its_own_sample(tmp_path):
    write(tmp_path, "stack", "")
    write(tmp_path, "hardstop", {"nodeid": NODE, "doing": "the solve call"})
    out = handoff.conclude(handoff.read(str(tmp_path), "gw0", NODE), 10, 2, "gw0")
    assert out.status[0] == "timeout" and out.message.startswith("timeout: the solve call ran past the 10 s timeout")
    other = handoff.conclude(handoff.read(str(tmp_path), "gw0", "batt/t::demo[0]"), 10, 2, "gw0")
    assert other.status[0] == "crash"  # a note about another sample of the same worker says nothing here


def test_a_record_the_worker_ended_itself_after_is_used_as_it_is(tmp_path):
    handoff.write_ended(str(tmp_path), "gw0", NODE, record(status="ok"), "left 1 thread")
    out = handoff.conclude(handoff.read(str(tmp_path), "gw0", NODE), 10, 2, "gw0")
    assert out.record["status"] == "ok" and out.message == "left 1 thread" and out.status is None


def test_a_partial_record_keeps_the_solve_call_and_counts_the_lost_time(tmp_path):
    write(tmp_path, "stack", "")
    write(tmp_path, "hardstop", {"nodeid": NODE, "doing": "a diff call"})
    handoff.write_partial(str(tmp_path), "gw0", NODE, record(status="ok", candidates=4), handoff.STAGE_SOLVED)
    out = handoff.conclude(handoff.read(str(tmp_path), "gw0", NODE), 10, 2, "gw0")
    assert out.record["candidates"] == 4 and out.record["seconds"] == 1.5 + 12
    assert out.record["error"].startswith("timeout in a diff call: a diff call ran past")
    assert out.record["error"].endswith("this sample's differ rows are lost")


def test_after_the_last_call_the_record_is_whole_and_the_hang_is_added(tmp_path):
    write(tmp_path, "stack", "")
    handoff.write_partial(str(tmp_path), "gw0", NODE, record(status="ok", error="earlier"), handoff.STAGE_FINAL)
    out = handoff.conclude(handoff.read(str(tmp_path), "gw0", NODE), 10, 2, "gw0")
    assert out.record["seconds"] == 1.5
    assert out.record["error"].startswith("earlier; then crash: worker gw0 died")


def test_a_worker_on_another_host_leaves_nothing_here(tmp_path):
    left = handoff.read(str(tmp_path), "gw3", NODE)  # no stack file: its scratch folder is its host's
    assert not left.shared
    out = handoff.conclude(left, 10, 2, "gw3 (ssh=h)")
    assert out.status[0] == "crash" and "another host" in out.message
    assert handoff.read(str(tmp_path), "gw3", NODE, assume_shared=True).shared


def test_the_partial_note_is_rewritten_in_place_and_read_back_whole(tmp_path):
    long = record(status="ok", candidates=4, error="x" * 500)
    handoff.write_partial(str(tmp_path), "gw0", NODE, long, handoff.STAGE_SOLVED)
    handoff.write_partial(str(tmp_path), "gw0", NODE, record(status="ok", candidates=1), handoff.STAGE_FINAL)
    left = handoff.read(str(tmp_path), "gw0", NODE)
    assert left.partial["stage"] == handoff.STAGE_FINAL and left.partial["record"]["candidates"] == 1
    # Ended between the write and the cut: the new note, then the tail of the longer old one.
    path = tmp_path / "gw0.partial"
    new = json.dumps({"nodeid": NODE, "record": record(candidates=2), "stage": handoff.STAGE_SOLVED}) + "\n"
    old = json.dumps({"nodeid": NODE, "record": long, "stage": handoff.STAGE_SOLVED}) + "\n"
    path.write_text(new + old[len(new):])
    assert handoff.read(str(tmp_path), "gw0", NODE).partial["record"]["candidates"] == 2


def test_a_note_written_through_a_descriptor_the_batt_closed_or_took_over(tmp_path):
    import os
    from pathlib import Path

    from pytest_batt import files

    def kept_fd():  # found by what it is open on, not through /proc (macOS has none, nor the play of it)
        want = os.stat(target)
        for fd in range(3, 4096):
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
                return fd
        raise AssertionError("no descriptor open on the note")

    target = os.path.realpath(tmp_path / "gw0.partial")
    files.overwrite(target, b'{"n": 1}\n')
    fd = kept_fd()
    os.close(fd)  # the batt closed it
    files.overwrite(target, b'{"n": 2}\n')
    assert json.loads(Path(target).read_text()) == {"n": 2}
    fd = kept_fd()
    os.close(fd)
    theirs = tmp_path / "batt-own.txt"
    reused = os.open(str(theirs), os.O_WRONLY | os.O_CREAT)  # the batt's own file, given our old number
    assert reused == fd
    files.overwrite(target, b'{"n": 3}\n')
    os.close(reused)
    assert theirs.read_text() == "" and json.loads(Path(target).read_text()) == {"n": 3}
