"""A worker sends its watchdog one order a sample; the re-armings within it (each call, what follows
it) go to the running slot, where they cost no system call: the watchdog reads them there before it
acts, and names what the slot says the worker was doing (issue 32)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pytest_batt.isolation import watchdog_process
from pytest_batt.isolation.slot import Slot, encode_text
from pytest_batt.isolation.watchdog import PROGRAM

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")

# A stand-in for the worker: starts the watchdog on itself (its stdin is the watchdog's orders).
WORKER = """import os, signal, subprocess, sys, time
signal.signal(signal.SIGUSR1, lambda *a: None)
dog = subprocess.Popen([sys.executable, '-S', sys.argv[1], str(os.getpid())] + sys.argv[2:], stdin=0)
print('ready', dog.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def worker(tmp_path):
    slot = Slot(str(tmp_path / "gw0.slot"))
    proc = subprocess.Popen([sys.executable, "-c", WORKER, PROGRAM, str(tmp_path / "hardstop"), slot.path],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    word, dog = proc.stdout.readline().split()
    assert word == "ready"
    yield proc, slot
    for pid in (proc.pid, int(dog)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    with proc:
        pass


def order(proc, text):
    proc.stdin.write(text)
    proc.stdin.flush()


def test_a_deadline_moved_in_the_slot_holds_and_its_words_are_the_note(worker, tmp_path):
    proc, slot = worker
    t0 = time.monotonic()
    order(proc, 'arm 0.6 {"nodeid":"t::demo[0]","doing":"starting the sample"}\n')
    slot.call(t0 + 0.8, t0 + 1.5, encode_text("diff call 1/2"))  # re-armed after the order, as a call does
    assert proc.wait(10) == -signal.SIGKILL
    assert time.monotonic() - t0 >= 1.4  # not at the order's 0.6 s: at the slot's deadline
    assert json.loads((tmp_path / "hardstop").read_text()) == {"nodeid": "t::demo[0]", "doing": "diff call 1/2"}


def test_re_armed_in_the_slot_again_and_again_the_worker_lives_then_off_leaves_it(worker, tmp_path):
    proc, slot = worker
    order(proc, 'arm 0.5 {"nodeid":"t::demo[0]"}\n')
    for _ in range(8):  # calls of 0.15 s, each re-arming 2 s ahead (a loaded machine may stall the test): 1.2 s in all
        now = time.monotonic()
        slot.call(now + 1.0, now + 2.0, encode_text("solve call"))
        time.sleep(0.15)
    order(proc, "off\n")
    slot.no_call()
    time.sleep(0.5)
    assert proc.poll() is None and not (tmp_path / "hardstop").exists()


def test_an_unarmed_slot_leaves_the_orders_deadline_and_note(worker, tmp_path):
    proc, slot = worker
    slot.no_call()
    t0 = time.monotonic()
    order(proc, 'arm 0.3 {"nodeid":"t::demo[0]","doing":"starting the sample"}\n')
    assert proc.wait(10) == -signal.SIGKILL
    assert 0.25 <= time.monotonic() - t0 < 5
    assert json.loads((tmp_path / "hardstop").read_text())["doing"] == "starting the sample"


def test_rearmed_reads_an_armed_call_only(tmp_path):
    slot = Slot(str(tmp_path / "s"))
    assert watchdog_process.rearmed(None) is None
    assert watchdog_process.rearmed(slot.map) is None  # nothing armed
    now = time.monotonic()
    slot.call(now - 2, now - 1, encode_text("solve call"))
    got = watchdog_process.rearmed(slot.map)  # past: the worker is stuck in it, and the note says so
    assert got is not None and got.call_hard == now - 1 and got.doing == "solve call"
    slot.call(now + 1, now + 2, encode_text("after the solve call: normalising what it returned"))
    got = watchdog_process.rearmed(slot.map)
    assert got is not None and got.call_hard == now + 2 and got.doing == "after the solve call: normalising what it returned"
    slot.no_call()
    assert watchdog_process.rearmed(slot.map) is None
    assert watchdog_process.with_doing(b'{"nodeid":"n","doing":"x"}', "y") == b'{"nodeid":"n","doing":"y"}'
    assert watchdog_process.with_doing(b"not json", "y") == b'{"doing":"y"}'


def test_armed_in_the_slot_just_after_the_order_the_note_names_the_call(worker, tmp_path):
    """As a worker does: the order, then at once the call's re-arming (both past when the watchdog wakes)."""
    proc, slot = worker
    now = time.monotonic()
    order(proc, 'arm 0.6 {"nodeid":"t::demo[0]","doing":"starting the sample"}\n')
    slot.call(now + 0.5, now + 0.6001, encode_text("solve call"))
    assert proc.wait(10) == -signal.SIGKILL
    assert json.loads((tmp_path / "hardstop").read_text()) == {"nodeid": "t::demo[0]", "doing": "solve call"}
