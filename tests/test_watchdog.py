"""The watchdog's own program, run as the worker runs it, against a stand-in worker process.

The end-to-end cases (a batt that hangs its worker) are in test_hostile.py and test_hostile2.py.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pytest_batt.isolation.watchdog import PROGRAM

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")

# A stand-in for the worker: says when it is asked for its stacks (SIGUSR1), then waits to be ended.
WORKER = "import signal, sys, time\n" \
         "signal.signal(signal.SIGUSR1, lambda *a: print('stacks', flush=True))\n" \
         "print('ready', flush=True)\n" \
         "time.sleep(60)\n"


@pytest.fixture
def worker():
    with subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout.readline() == "ready\n"
        yield proc
        proc.kill()


@pytest.fixture
def watchdog():
    """Start the watchdog's program on a worker's pid, as ``Watchdog`` does; ended after the test."""
    started = []

    def start(pid, note, program=PROGRAM):
        started.append(subprocess.Popen([sys.executable, "-S", program, str(pid), str(note)], stdin=subprocess.PIPE))
        return started[-1]

    yield start
    for proc in started:
        with proc:  # closes its pipe and waits
            if proc.poll() is None:
                proc.kill()


def test_past_the_deadline_it_leaves_the_note_asks_for_the_stacks_and_ends_the_worker(worker, watchdog, tmp_path):
    note = tmp_path / "hardstop"
    dog = watchdog(worker.pid, note)
    dog.stdin.write(b'arm 60 {"doing":"first"}\narm 0.2 {"nodeid":"t::demo[0]"}\n')  # re-armed: the last order counts
    dog.stdin.flush()
    assert worker.wait(10) == -signal.SIGKILL
    assert worker.stdout.read() == "stacks\n"
    assert note.read_text() == '{"nodeid":"t::demo[0]"}'
    assert dog.wait(5) == 0


def test_disarmed_it_leaves_the_worker_alone_and_exits_when_the_pipe_closes(worker, watchdog, tmp_path):
    note = tmp_path / "hardstop"
    dog = watchdog(worker.pid, note)
    dog.stdin.write(b"arm 0.2 {}\noff\n")
    dog.stdin.flush()
    time.sleep(0.5)
    dog.stdin.close()
    assert dog.wait(5) == 0
    assert worker.poll() is None and not note.exists()


def test_a_pipe_closed_while_armed_keeps_the_deadline(worker, watchdog, tmp_path):
    note = tmp_path / "hardstop"
    dog = watchdog(worker.pid, note)
    dog.stdin.write(b"arm 0.3\n")  # no note: an empty one is written
    dog.stdin.close()  # as a batt closing the watchdog's fd would
    t0 = time.monotonic()
    assert worker.wait(10) == -signal.SIGKILL
    assert time.monotonic() - t0 >= 0.3
    assert note.read_text() == "{}"
    assert dog.wait(5) == 0


def test_it_imports_only_the_standard_library_whatever_its_folder_holds(worker, watchdog, tmp_path):
    program = tmp_path / "watchdog_process.py"
    shutil.copy(PROGRAM, program)
    for name in ("select", "signal", "enum"):  # what it imports, directly or not
        (tmp_path / f"{name}.py").write_text("raise SystemExit('shadowed')\n")
    note = tmp_path / "hardstop"
    dog = watchdog(worker.pid, note, program)
    dog.stdin.write(b"arm 0.2 {}\n")
    dog.stdin.flush()
    assert worker.wait(10) == -signal.SIGKILL
    assert dog.wait(5) == 0


def test_it_starts_without_site_and_imports_nothing_it_does_not_use(worker, tmp_path):
    """Started once per worker, before its first call: no site, a handful of standard modules."""
    out = subprocess.run([sys.executable, "-S", "-X", "importtime", PROGRAM, str(worker.pid), str(tmp_path / "hardstop")],
                         input=b"", capture_output=True, timeout=30, check=False)  # the pipe closes while disarmed: it exits
    assert out.returncode == 0
    imported = {line.split("|")[-1].strip() for line in out.stderr.decode().splitlines() if "|" in line}
    assert {"select", "signal"} <= imported
    assert not imported & {"site", "json", "subprocess", "typing"} and not any(m.startswith("pytest_batt") for m in imported)


# --- the resident-memory limit (where the system enforces no address-space limit) ---------------------

HUNGRY = "import signal, sys, time\n" \
         "signal.signal(signal.SIGUSR1, lambda *a: print('stacks', flush=True))\n" \
         "held = b'\\x01' * (200 * 2**20)\n" \
         "print('ready', flush=True)\n" \
         "time.sleep(60)\n"


def psutil_folder():
    psutil = pytest.importorskip("psutil")
    from pytest_batt.isolation import capabilities

    if not capabilities.resident().on:
        pytest.skip("psutil cannot read resident memory here (no /proc: scripts/as-macos.sh hides it)")
    return os.path.dirname(os.path.dirname(os.path.abspath(psutil.__file__)))


@pytest.fixture
def hungry():
    with subprocess.Popen([sys.executable, "-c", HUNGRY], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout.readline() == "ready\n"
        yield proc
        proc.kill()


def test_armed_with_a_limit_it_ends_a_worker_past_it_and_says_how_far(hungry, watchdog, tmp_path):
    note = tmp_path / "hardstop"
    dog = watchdog(hungry.pid, note)
    dog.stdin.write(f'limit 100 {psutil_folder()}\narm 60 {{"doing":"solve call"}}\n'.encode())
    dog.stdin.flush()
    t0 = time.monotonic()
    assert hungry.wait(10) == -signal.SIGKILL
    assert time.monotonic() - t0 < 5  # read every 50 ms, not at the 60 s deadline
    left = json.loads(note.read_text())
    assert left["doing"] == "solve call" and left["limit_mb"] == 100 and left["memory_mb"] > 200


def test_disarmed_or_under_the_limit_it_leaves_the_worker_alone(hungry, watchdog, tmp_path):
    note = tmp_path / "hardstop"
    dog = watchdog(hungry.pid, note)
    dog.stdin.write(f"limit 100 {psutil_folder()}\narm 0.3 {{}}\noff\n".encode())  # disarmed at once
    dog.stdin.flush()
    other = watchdog(hungry.pid, tmp_path / "other")
    other.stdin.write(f"limit 4000 {psutil_folder()}\narm 60 {{}}\n".encode())  # armed, under the limit
    other.stdin.flush()
    time.sleep(0.6)
    assert hungry.poll() is None and not note.exists() and not (tmp_path / "other").exists()


def test_a_limit_it_cannot_read_is_no_limit(hungry, watchdog, tmp_path):
    note = tmp_path / "hardstop"
    dog = watchdog(hungry.pid, note)
    # without site, psutil is found only in the folder the order names
    dog.stdin.write(f"limit 100 {tmp_path}/no-psutil-here\nlimit x\narm 0.5 {{}}\n".encode())
    dog.stdin.flush()
    t0 = time.monotonic()
    assert hungry.wait(10) == -signal.SIGKILL  # the deadline still holds
    assert time.monotonic() - t0 >= 0.5
    assert note.read_text() == "{}"
