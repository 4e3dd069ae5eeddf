"""The watchdog's own program, run as the worker runs it, against a stand-in worker process.

The stand-in starts the watchdog itself, as a worker does (the watchdog is its child, watches
its parent, and reads its orders from the stand-in's stdin, which the test writes). The
end-to-end cases (a batt or a program that hangs its worker) are in test_hostile.py,
test_hostile2.py and test_programs_hostile.py.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pytest_batt.isolation.slot import Slot, encode_text
from pytest_batt.isolation.watchdog import PROGRAM

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")

# A stand-in for the worker: starts the watchdog on itself (its stdin is the watchdog's orders),
# says when it is asked for its stacks (SIGUSR1), then waits to be ended.
WORKER = """import os, signal, subprocess, sys, time
signal.signal(signal.SIGUSR1, lambda *a: print('stacks', flush=True))
held = b'\\x01' * (200 * 2**20) if os.environ.get('BATT_TEST_HUNGRY') else b''
program, note, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
dog = subprocess.Popen([sys.executable, '-S', program, str(os.getpid()), note] + extra, stdin=0)
print('ready', dog.pid, flush=True)
time.sleep(60)
"""


def gone(pid, within=5.0):
    """Whether ``pid`` ended (or is a zombie) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        except OSError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.02)
    return False


@pytest.fixture
def start(tmp_path):
    """Start a stand-in worker with its watchdog; returns (worker, watchdog pid); both ended after the test."""
    started = []

    def go(note, *extra, program=PROGRAM, hungry=False):
        env = {**os.environ, "BATT_TEST_HUNGRY": "1"} if hungry else None
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(program), str(note), *map(str, extra)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        word, pid = proc.stdout.readline().split()
        assert word == "ready"
        started.append((proc, int(pid)))
        return proc, int(pid)

    yield go
    for proc, dog in started:
        for pid in (proc.pid, dog):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        with proc:  # closes its pipes and waits
            pass


def order(proc, text):
    proc.stdin.write(text)
    proc.stdin.flush()


def test_past_the_deadline_it_leaves_the_note_asks_for_the_stacks_and_ends_the_worker(start, tmp_path):
    note = tmp_path / "hardstop"
    worker, dog = start(note)
    order(worker, 'arm 60 {"doing":"first"}\narm 0.2 {"nodeid":"t::demo[0]"}\n')  # re-armed: the last order counts
    assert worker.wait(10) == -signal.SIGKILL
    assert worker.stdout.read() == "stacks\n"
    assert note.read_text() == '{"nodeid":"t::demo[0]"}'
    assert gone(dog)


def test_disarmed_it_leaves_the_worker_alone_and_exits_when_the_pipe_closes(start, tmp_path):
    note = tmp_path / "hardstop"
    worker, dog = start(note)
    order(worker, "arm 0.2 {}\noff\n")
    time.sleep(0.5)
    worker.stdin.close()
    assert gone(dog)
    assert worker.poll() is None and not note.exists()


def test_a_pipe_closed_while_armed_keeps_the_deadline(start, tmp_path):
    note = tmp_path / "hardstop"
    worker, dog = start(note)
    order(worker, "arm 0.3\n")  # no note: an empty one is written
    t0 = time.monotonic()
    worker.stdin.close()  # as a batt closing the watchdog's fd would
    assert worker.wait(10) == -signal.SIGKILL
    assert time.monotonic() - t0 >= 0.25
    assert note.read_text() == "{}"
    assert gone(dog)


def test_a_dead_workers_watchdog_exits_at_once_and_signals_nothing(start, tmp_path):
    """Armed for a week when its worker dies: it exits within a tick, writes no note, signals no one."""
    note = tmp_path / "hardstop"
    worker, dog = start(note)
    order(worker, 'arm 604800 {"nodeid":"t::demo[0]"}\n')
    time.sleep(0.2)
    t0 = time.monotonic()
    worker.kill()
    assert worker.wait(10) == -signal.SIGKILL
    assert gone(dog, within=10.0)
    assert time.monotonic() - t0 < 10.0  # not the week it was armed for
    assert not note.exists()


def test_a_watchdog_whose_worker_is_not_its_parent_never_signals_it(tmp_path):
    """Started on a pid that is not its parent (a pid reused by another process): it exits, that process lives."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with subprocess.Popen([sys.executable, "-S", PROGRAM, str(other.pid), str(tmp_path / "hardstop")],
                              stdin=subprocess.PIPE) as dog:
            try:
                dog.stdin.write(b"arm 0.1 {}\n")
                dog.stdin.flush()
            except BrokenPipeError:
                pass  # it had exited already
            assert dog.wait(10) == 0
        time.sleep(0.3)
        assert other.poll() is None and not (tmp_path / "hardstop").exists()
    finally:
        other.kill()
        other.wait()


def test_a_program_past_its_hard_deadline_ends_the_worker_and_is_named(start, tmp_path):
    """The slot says program 7 runs past its hard deadline (its limit plus the grace); the call's own
    deadline is far: the watchdog ends the worker within a tick, naming the program."""
    slot = Slot(str(tmp_path / "gw0.slot"))
    note = tmp_path / "hardstop"
    worker, dog = start(note, slot.path)
    now = time.monotonic()
    slot.program(7, now + 0.1, now + 0.4, encode_text("a.py::p"))
    t0 = time.monotonic()
    order(worker, 'arm 60 {"nodeid":"t::demo[0]","doing":"solve call"}\n')
    assert worker.wait(10) == -signal.SIGKILL
    assert 0.2 < time.monotonic() - t0 < 30  # the program's hard deadline, not the call's (60 s)
    assert note.read_text() == '{"program":7,"limit":"program","nodeid":"t::demo[0]","doing":"solve call"}'
    assert gone(dog)


def test_a_program_that_ends_in_time_is_no_reason_to_end_the_worker(start, tmp_path):
    slot = Slot(str(tmp_path / "gw0.slot"))
    note = tmp_path / "hardstop"
    worker, dog = start(note, slot.path)
    order(worker, 'arm 60 {"nodeid":"t::demo[0]"}\n')
    for i in range(20):  # many programs, each ending well before its hard deadline
        now = time.monotonic()
        slot.program(i, now + 0.05, now + 0.3, encode_text(f"p{i}"))
        time.sleep(0.03)
        slot.no_program()
    time.sleep(0.5)
    assert worker.poll() is None and not note.exists()


def test_it_imports_only_the_standard_library_whatever_its_folder_holds(start, tmp_path):
    program = tmp_path / "watchdog_process.py"
    shutil.copy(PROGRAM, program)
    for name in ("select", "signal", "enum", "struct", "mmap"):  # what it imports, directly or not
        (tmp_path / f"{name}.py").write_text("raise SystemExit('shadowed')\n")
    note = tmp_path / "hardstop"
    worker, dog = start(note, program=program)
    order(worker, "arm 0.2 {}\n")
    assert worker.wait(10) == -signal.SIGKILL
    assert gone(dog)


def test_it_starts_without_site_and_imports_nothing_it_does_not_use(tmp_path):
    """Started once per worker, before its first call: no site, a handful of standard modules."""
    out = subprocess.run([sys.executable, "-S", "-X", "importtime", PROGRAM, str(os.getppid()), str(tmp_path / "hardstop")],
                         input=b"", capture_output=True, timeout=30, check=False)  # its parent is not that pid: it exits
    assert out.returncode == 0
    imported = {line.split("|")[-1].strip() for line in out.stderr.decode().splitlines() if "|" in line}
    assert {"select", "signal", "struct"} <= imported
    assert not imported & {"site", "json", "subprocess", "typing"} and not any(m.startswith("pytest_batt") for m in imported)


# --- the resident-memory limit (where the system enforces no address-space limit) ---------------------

def psutil_folder():
    psutil = pytest.importorskip("psutil")
    from pytest_batt.isolation import capabilities

    if not capabilities.resident().on:
        pytest.skip("psutil cannot read resident memory here (no /proc: scripts/as-macos.sh hides it)")
    return os.path.dirname(os.path.dirname(os.path.abspath(psutil.__file__)))


def test_armed_with_a_limit_it_ends_a_worker_past_it_and_says_how_far(start, tmp_path):
    note = tmp_path / "hardstop"
    worker, dog = start(note, hungry=True)
    order(worker, f'limit 100 {psutil_folder()}\narm 60 {{"doing":"solve call"}}\n')
    t0 = time.monotonic()
    assert worker.wait(10) == -signal.SIGKILL
    assert time.monotonic() - t0 < 5  # read every 50 ms, not at the 60 s deadline
    left = json.loads(note.read_text())
    assert left["doing"] == "solve call" and left["limit_mb"] == 100 and left["memory_mb"] > 200


def test_disarmed_or_under_the_limit_it_leaves_the_worker_alone(start, tmp_path):
    note = tmp_path / "hardstop"
    worker, dog = start(note, hungry=True)
    order(worker, f"limit 100 {psutil_folder()}\narm 0.3 {{}}\noff\n")  # disarmed at once
    other, _ = start(tmp_path / "other", hungry=True)
    order(other, f"limit 4000 {psutil_folder()}\narm 60 {{}}\n")  # armed, under the limit
    time.sleep(0.6)
    assert worker.poll() is None and other.poll() is None and not note.exists() and not (tmp_path / "other").exists()


def test_a_limit_it_cannot_read_is_no_limit(start, tmp_path):
    note = tmp_path / "hardstop"
    worker, dog = start(note, hungry=True)
    # without site, psutil is found only in the folder the order names
    order(worker, f"limit 100 {tmp_path}/no-psutil-here\nlimit x\narm 0.5 {{}}\n")
    t0 = time.monotonic()
    assert worker.wait(10) == -signal.SIGKILL  # the deadline still holds
    assert time.monotonic() - t0 >= 0.5
    assert note.read_text() == "{}"


def test_the_program_deadline_and_the_resident_limit_share_the_tick(start, tmp_path):
    """Both periodic checks run while armed: here the slot's program, under the memory limit, ends it."""
    slot = Slot(str(tmp_path / "gw0.slot"))
    note = tmp_path / "hardstop"
    worker, dog = start(note, slot.path, hungry=True)
    now = time.monotonic()
    slot.program(2, now, now + 0.2, encode_text("a.py::p"))
    order(worker, f'limit 4000 {psutil_folder()}\narm 60 {{"doing":"solve call"}}\n')
    assert worker.wait(10) == -signal.SIGKILL
    assert json.loads(note.read_text()) == {"program": 2, "limit": "program", "doing": "solve call"}
