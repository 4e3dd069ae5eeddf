"""What the system offers, probed once per process: each probe with its mechanism faked missing,
the memory limit chosen from them, and what the run says about it (header line, results file)."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_batt.isolation import capabilities, handoff, memory, processes
from pytest_batt.isolation.capabilities import Probe

PLAY = Path(__file__).parent.parent / "scripts" / "as-macos"  # sitecustomize refusing RLIMIT_AS, as macOS does
INF = -1


class FakeResource:
    """``resource``'s RLIMIT_AS: ``refuse`` raises as macOS does, ``keep`` False forgets what was set."""

    RLIMIT_AS = 9
    RLIM_INFINITY = INF

    def __init__(self, soft=INF, hard=INF, refuse=False, keep=True):
        self.limits = (soft, hard)
        self.refuse, self.keep = refuse, keep
        self.calls = []

    def getrlimit(self, which):
        return self.limits

    def setrlimit(self, which, limits):
        self.calls.append(limits)
        if self.refuse:
            raise ValueError("current limit exceeds maximum limit")
        if self.keep:
            self.limits = limits


def enforcing(res):
    """A reservation that fits under the fake's soft limit (as Linux counts it)."""
    return lambda size: res.limits[0] == INF or size <= res.limits[0]


def test_the_address_space_limit_is_on_where_it_is_accepted_and_enforced():
    res = FakeResource()
    assert capabilities.probe_address_space(res, enforcing(res)) == Probe(True, "RLIMIT_AS")
    assert res.limits == (INF, INF) and res.calls == [(2**43, INF), (INF, INF)]  # the trial, then put back


def test_refused_as_on_macos_it_is_off_and_says_why():
    probe = capabilities.probe_address_space(FakeResource(refuse=True), lambda size: True)
    assert not probe.on and probe.why == ("the address-space limit is refused on this system "
                                          "(ValueError: current limit exceeds maximum limit)")


def test_accepted_but_not_enforced_or_not_kept_it_is_off():
    assert capabilities.probe_address_space(FakeResource(), lambda size: True).why == \
        "the address-space limit is not enforced on this system"
    res = FakeResource(keep=False)
    assert "not kept" in capabilities.probe_address_space(res, enforcing(res)).why
    assert capabilities.probe_address_space(None).why == "no address-space limit (RLIMIT_AS) on this system"


def test_a_limit_already_in_place_is_checked_and_left_as_it_is():
    res = FakeResource(soft=2**33, hard=2**34)
    assert capabilities.probe_address_space(res, enforcing(res)).on
    assert res.limits == (2**33, 2**34)


def test_where_the_address_space_is_too_small_to_try_it_is_off():
    probe = capabilities.probe_address_space(FakeResource(), lambda size: False)
    assert not probe.on and "could not be checked" in probe.why


def test_this_systems_probes_agree_with_what_it_has():
    import resource

    probe = capabilities.probe_address_space(resource)
    played = not isinstance(resource.setrlimit, type(len))  # scripts/as-macos replaced the builtin
    if sys.platform.startswith("linux") and not played:
        assert probe.on, probe.why
    play = subprocess.run([sys.executable, "-c", "from pytest_batt.isolation import capabilities as c; print(c.address_space())"],
                          env={**os.environ, "PYTHONPATH": str(PLAY)}, capture_output=True, text=True, check=True)
    assert "on=False" in play.stdout and "refused" in play.stdout


class NoProcesses:
    """psutil where it cannot see processes (Linux without /proc)."""

    class NoSuchProcess(Exception):
        pass

    def Process(self, pid):  # psutil's name
        raise self.NoSuchProcess(pid)


def test_the_process_age_comes_from_the_kernels_clock_to_the_tick(tmp_path):
    """psutil's start time rests on a boot time in whole seconds: up to a second too old."""
    if capabilities.proc_age() is None:
        pytest.skip("no /proc/self/stat or CLOCK_BOOTTIME here (scripts/as-macos.sh)")
    code = "import time; time.sleep(0.3); from pytest_batt.isolation.capabilities import proc_age; print(proc_age())"
    t0 = time.monotonic()
    age = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    wall = time.monotonic() - t0
    assert 0.3 <= age <= wall + 0.011, (age, wall)  # one clock tick
    assert capabilities.probe_start_time(None) == Probe(True, "/proc")
    (tmp_path / "stat").write_text("1 (a) b) c) R " + " ".join(["0"] * 30))  # a command name with ") " in it
    assert capabilities.proc_age(str(tmp_path / "stat")) is not None
    assert capabilities.proc_age(str(tmp_path / "nothing")) is None


def test_psutil_missing_or_blind_turns_its_readings_off(tmp_path):
    for psutil, why in ((None, "psutil is not importable"), (NoProcesses(), "psutil cannot read processes here (NoSuchProcess)")):
        assert capabilities.probe_resident(psutil) == Probe(False, "psutil", f"no resident-memory reading: {why}")
        assert capabilities.probe_start_time(psutil, str(tmp_path / "no-stat")) == Probe(False, "psutil", f"no process start time: {why}")
        assert capabilities.probe_process_tree(str(tmp_path), psutil) == Probe(False, "forks", f"no process list: {why}")


def test_without_proc_the_tree_comes_from_psutil_and_the_peak_is_the_process_peak(tmp_path):
    psutil = pytest.importorskip("psutil")
    if not capabilities.resident().on:
        pytest.skip("psutil cannot read processes here (no /proc: scripts/as-macos.sh)")
    assert capabilities.probe_process_tree(str(tmp_path), psutil) == Probe(True, "psutil")
    assert capabilities.probe_resident(psutil).on and capabilities.probe_start_time(psutil, str(tmp_path / "no-stat")).on
    peak = capabilities.probe_sample_peak(str(tmp_path))
    assert peak == Probe(False, "ru_maxrss", f"no {tmp_path}/self/clear_refs; memory_mb is the process's peak so far")
    assert capabilities.probe_sample_peak(str(tmp_path), getrusage=lambda: None).how == "none"


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="no /proc here (scripts/as-macos.sh hides it)")
def test_with_proc_the_linux_readers_are_used():
    assert capabilities.probe_sample_peak() == Probe(True, "clear_refs+VmHWM")
    assert capabilities.probe_process_tree() == Probe(True, "/proc")


def test_the_subreaper_is_linux_only():
    assert capabilities.probe_subreaper("darwin") == Probe(False, "prctl", "no subreaper on this system")
    if sys.platform.startswith("linux"):
        assert capabilities.probe_subreaper().on


def test_native_windows_gets_one_line():
    assert "Linux and macOS only" in capabilities.unsupported_system("nt")
    assert capabilities.unsupported_system("posix") is None


# --- the memory limit chosen from them ----------------------------------------------------------------

REFUSED = "the address-space limit is refused on this system (ValueError: x)"


def plan(chosen, address_space=True, resident=True, watchdog=True, default=9600.0):
    return memory.plan(chosen, default, address_space, "" if address_space else REFUSED, resident,
                       "" if resident else "no resident-memory reading: psutil cannot read processes here", watchdog)


def test_the_address_space_limit_where_the_system_enforces_it():
    assert plan(None) == memory.Plan("address_space", 9600.0)
    assert plan(500, watchdog=False) == memory.Plan("address_space", 500)
    assert plan(0) == memory.Plan("off")
    assert plan(None, default=None).kind == "off"  # physical memory unknown: no default


def test_else_the_resident_limit_where_workers_have_watchdogs():
    p = plan(500, address_space=False)
    assert p == memory.Plan("resident", 500, f"500 MB resident, read every 50 ms by each worker's watchdog ({REFUSED})")
    assert plan(None, address_space=False).kind == "resident"


def test_the_default_is_off_where_no_limit_can_be_kept_and_a_limit_asked_for_is_a_usage_error():
    assert plan(None, address_space=False, watchdog=False) == memory.Plan(
        "off", None, f"off ({REFUSED}; -n 0 has no watchdog to read the resident memory)")
    assert plan(None, address_space=False, resident=False).why.startswith(f"off ({REFUSED}; no resident-memory reading")
    with pytest.raises(memory.LimitUnavailable, match=r"^--batt-max-memory 500: no memory limit can be kept here .*"
                                                      r"-n 0 has no watchdog.*: use -n 1 or more, or --batt-max-memory 0$"):
        plan(500, address_space=False, watchdog=False)
    with pytest.raises(memory.LimitUnavailable, match=r"no resident-memory reading.*\): use --batt-max-memory 0$"):
        plan(500, address_space=False, resident=False)


# --- what the run says ----------------------------------------------------------------------------------

ON = Probe(True, "x")


def test_all_on_says_nothing_and_each_off_is_named_in_one_line():
    assert capabilities.header_line("address_space", "", ON, ON, ON, ON) is None
    assert capabilities.header_line("off", "", ON, ON, ON, ON) is None  # --batt-max-memory 0: the user's choice
    line = capabilities.header_line("off", "off (not enforced)", Probe(False, "ru_maxrss", "no clear_refs"),
                                    Probe(False, "forks", "no process list"), Probe(False, "prctl", "no subreaper"),
                                    Probe(False, "psutil", "no start time"))
    assert line == ("batt: memory limit: off (not enforced); memory peak: per process, not per sample (no clear_refs); "
                    "leftover processes: Python forks only (no process list); orphaned grandchildren: Python forks only "
                    "(no subreaper); run time: from plugin load (no start time)")
    assert "\n" not in line


def test_the_results_file_records_which_protections_were_on():
    assert capabilities.protections("resident", 500, Probe(False, "ru_maxrss"), Probe(True, "psutil"), Probe(False, "prctl"),
                                    ON) == {"memory_limit": "resident", "memory_limit_mb": 500, "memory_peak": "process",
                                            "leftover_processes": "psutil", "subreaper": False, "start_time": True}
    assert capabilities.protections("off", None, Probe(False, "none"), Probe(False, "forks"), ON, ON)["memory_peak"] == "off"


def test_a_watchdog_note_of_the_resident_limit_is_an_error_naming_the_limit():
    note = {"nodeid": "t::demo[0]", "doing": "solve call", "memory_mb": 612.5, "limit_mb": 500}
    status, message = handoff.crash_status(note, "", 10, 2, "gw0")
    assert status == "error"
    assert message.startswith("solve call went past the memory limit: 612.5 MB resident, over --batt-max-memory 500 MB")
    assert handoff.crash_status({"doing": "solve call"}, "", 10, 2, "gw0")[0] == "timeout"


# --- processes where no list finds them -----------------------------------------------------------------

def test_forks_are_found_where_no_process_list_or_subreaper_finds_them(tmp_path):
    """In a process of its own: the fork hook, once registered, stays for the process's life."""
    script = textwrap.dedent("""
        import os, signal, subprocess, sys, time
        from pytest_batt.isolation import processes
        processes.make_subreaper()  # Linux: the orphan is then ours to reap (this machine's init may not reap it)
        forks = processes.Forks()
        forks.start()
        child = os.fork()
        if child == 0:
            if os.fork() == 0:  # a grandchild whose parent exits at once: orphaned
                time.sleep(60)
            os._exit(0)
        os.waitpid(child, 0)
        popen = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        time.sleep(0.3)
        found = forks.alive()
        print(len(found), popen.pid in found, child in found)
        for pid in found:
            os.kill(pid, signal.SIGKILL)
        popen.kill()
        time.sleep(0.3)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        print(len(forks.alive()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout
    # the orphaned grandchild only: the child exited, and a process started by exec (Popen) does not register
    assert out.split("\n")[:2] == ["1 False False", "0"]


def test_the_processes_of_a_sample_are_found_by_the_mechanism_probed(monkeypatch):
    if not capabilities.process_tree().on:
        pytest.skip("no process list here (no /proc: scripts/as-macos.sh)")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        try:
            found = processes.descendants()
            monkeypatch.setattr(capabilities, "process_tree", lambda: Probe(True, "psutil"))
            assert child.pid in found and child.pid in processes.descendants()
            monkeypatch.setattr(capabilities, "process_tree", lambda: Probe(False, "forks"))
            assert child.pid not in processes.descendants()  # exec'd, not a Python fork: nothing finds it
        finally:
            child.kill()
