"""What keeps one program from harming the next, without pytest machinery: the interpreter put back
after each program, the rails, the running slot and the backstop thread."""

from __future__ import annotations

import builtins
import gc
import json
import os
import resource
import signal
import sys
import threading
import time
import warnings

import pytest

from pytest_batt.isolation import process_state
from pytest_batt.isolation.backstop import Backstop
from pytest_batt.isolation.process_state import DictVersions, Interpreter, Modules
from pytest_batt.isolation.slot import Slot, encode_text, read
from pytest_batt.programs.library import Library, Program
from pytest_batt.programs.limits import ProgramTimeout
from pytest_batt.programs.rails import MAX_FORKS, Rails, Refused, open_fds

I = ((1, 2), (3, 4))
FLIPPED = ((2, 1), (4, 3))


def flip(g):
    return [list(r)[::-1] for r in g]


# --- the interpreter, put back after each program ---------------------------------------------

def test_the_dict_versions_are_trusted_only_where_the_probe_finds_them_working():
    if not DictVersions.usable():
        pytest.skip("no dict version tags on this Python: the dicts are compared instead")
    d = {"a": 1}
    v = DictVersions([d])
    before = v.read()
    assert v.read() == before
    d["a"] = 2
    assert v.read() != before


@pytest.mark.parametrize("versions", [True, False], ids=["tags", "compared"])
def test_each_kind_of_change_is_put_back_and_named(tmp_path, monkeypatch, versions):
    if not versions:
        monkeypatch.setitem(process_state._VERSIONS_OK, "ok", False)
    monkeypatch.chdir(tmp_path)
    state = Interpreter()
    assert state.restore() is None
    length, stdout, path, cwd = builtins.len, sys.stdout, list(sys.path), os.getcwd()
    limit, handler, interval = sys.getrecursionlimit(), signal.getsignal(signal.SIGTERM), sys.getswitchinterval()
    filters = list(warnings.filters)
    try:
        builtins.len = lambda x: 0
        builtins.extra_name = 1
        sys.stdout = None
        sys.path.insert(0, "/nowhere")
        os.environ["PYTEST_BATT_TEST_VAR"] = "1"
        os.chdir("/")
        sys.setrecursionlimit(77)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        sys.setswitchinterval(0.5)
        gc.disable()
        warnings.simplefilter("ignore")
        changed = state.restore()
        assert builtins.len is length and not hasattr(builtins, "extra_name")
        assert sys.stdout is stdout and sys.path == path and "PYTEST_BATT_TEST_VAR" not in os.environ
        assert os.getcwd() == cwd and sys.getrecursionlimit() == limit and signal.getsignal(signal.SIGTERM) == handler
        assert signal.SIGALRM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        assert sys.getswitchinterval() == interval and gc.isenabled()
        assert warnings.filters == filters
        text = ", ".join(changed)
        for name in ("builtins (extra_name, len)", "sys.stdout/stderr/stdin", "sys.path", "the environment",
                     "the working directory", "the recursion limit", "the SIGTERM handler", "the signal mask",
                     "the switch interval", "the garbage collector", "the warnings filters"):
            assert name in text
        assert state.restore() is None  # all put back: nothing more to say
    finally:
        builtins.len, sys.stdout = length, stdout
        gc.enable()


def test_a_deleted_working_directory_and_a_rebound_environment_are_survived(tmp_path, monkeypatch):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(tmp_path)
    state = Interpreter()
    environ = os.environ
    os.chdir(gone)
    gone.rmdir()
    os.environ = {}  # noqa: B003
    changed = state.restore()
    assert os.environ is environ and os.getcwd() == str(tmp_path)
    assert "the environment" in changed and "the working directory" in changed


@pytest.mark.parametrize("versions", [True, False], ids=["tags", "compared"])
def test_sys_modules_and_the_json_modules_are_put_back_and_new_imports_kept(monkeypatch, versions):
    if not versions:
        monkeypatch.setitem(process_state._VERSIONS_OK, "ok", False)
    state = Interpreter(Modules(("json", "json.encoder")))
    dumps, json_mod = json.dumps, sys.modules["json"]
    try:
        json.dumps = lambda *a, **k: "garbage"
        sys.modules["json"] = None
        import colorsys  # noqa: F401  (a legitimate import: kept)
        changed = state.restore(False)
        assert json.dumps is dumps and sys.modules["json"] is json_mod and "colorsys" in sys.modules
        assert "sys.modules['json']" in changed and "json.dumps" in changed
        assert state.restore(False) is None
    finally:
        json.dumps, sys.modules["json"] = dumps, json_mod


def test_the_next_program_gets_the_interpreter_as_it_was_and_the_changer_is_named():
    def changer(g):
        builtins.len = lambda x: 0
        sys.setrecursionlimit(60)
        return g

    def counter(g):
        assert len([1, 2]) == 2 and sys.getrecursionlimit() > 60
        return flip(g)

    length = builtins.len
    try:
        lib = Library([Program(0, "a.py::p", changer, None), Program(1, "b.py::p", counter, None)], "tuple", 5.0)
        o, _ = lib("t", (), I, None, "")
        assert [c[2] for c in o] == ["a.py::p", "b.py::p"] and o[1][3] == FLIPPED
        note = lib.take_note()
        assert "a.py::p changed the interpreter (builtins (len), the recursion limit)" in note and "b.py::p" not in note
    finally:
        builtins.len = length


# --- rails --------------------------------------------------------------------------------------

class on:
    """The rails, on for the ``with`` block only (pytest's own capture uses dup2 around a test)."""

    def __enter__(self):
        self.rails = Rails()
        self.rails.on()
        return self.rails

    def __exit__(self, *exc):
        self.rails.uninstall()


def test_the_calls_that_would_end_or_cut_off_the_process_are_refused():
    with on() as rails:
        refused = _refused(rails)
    os.kill(os.getpid(), 0)  # signal 0 only asks whether a process exists
    assert refused == 15


def test_the_run_summary_counts_each_kind_of_fault_from_a_librarys_own_notes():
    from pytest_batt.programs import summary_lines

    def slow(g):
        while True:
            pass

    def raiser(g):
        raise ValueError("a.py::p raised too")  # its message names another program: not counted

    def exiter(g):
        os._exit(3)

    def changer(g):
        sys.path.insert(0, "/nowhere")
        return g

    funcs = {"a.py::p": flip, "t.py::p": slow, "r.py::p": raiser, "x.py::p": exiter, "c.py::p": changer}
    lib = Library([Program(i, sid, f, None) for i, (sid, f) in enumerate(funcs.items())], "tuple", 0.2)
    lib("t", (), I, None, "")  # the library puts its rails on for the call
    results = {"tasks": {"t": {"samples": [{"error": lib.take_note()}]}}}

    class Batt:
        func = lib

    assert summary_lines(results, Batt()) == ["programs that timed out: 1: t.py::p (1 sample)",
                                              "programs that raised: 1: r.py::p (1 sample)",
                                              "programs that changed the interpreter: 1: c.py::p (1 sample)",
                                              "programs that were refused a call: 1: x.py::p (1 sample)"]


def _refused(rails):
    for call in (lambda: os._exit(3), lambda: os.kill(os.getpid(), signal.SIGKILL), lambda: os.kill(os.getppid(), signal.SIGTERM),
                 lambda: os.kill(0, signal.SIGTERM), lambda: os.killpg(os.getpgid(0), signal.SIGTERM), os.abort,
                 lambda: signal.raise_signal(signal.SIGTERM),
                 lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGKILL),
                 lambda: os.close(sorted(rails.protected)[0]), lambda: os.dup2(0, 1),
                 lambda: os.execv(sys.executable, [sys.executable, "-c", "pass"]), os.setsid, os.setpgrp, lambda: os.nice(5),
                 lambda: resource.setrlimit(resource.RLIMIT_CPU, (1, 1))):
        with pytest.raises(Refused, match="refused by pytest-batt"):
            call()
    os.kill(os.getpid(), 0)
    return len(rails.refused)


def test_a_program_may_close_what_it_opened_and_closerange_spares_the_rest(tmp_path):
    with on() as rails:
        fd = os.open(tmp_path / "f", os.O_CREAT | os.O_WRONLY)
        other = os.open(tmp_path / "g", os.O_CREAT | os.O_WRONLY)
        os.close(fd)  # its own: closed
        os.closerange(0, 1 << 20)
        refused = list(rails.refused)
        protected = rails.protected
    with pytest.raises(OSError):
        os.fstat(other)
    assert all(_open(fd) for fd in protected)  # every descriptor the process had lives
    assert refused == ["os.closerange(0, 1048576)"]


def _open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_the_recursion_limit_is_capped_and_forks_are_counted():
    limit = sys.getrecursionlimit()
    with on() as rails:
        sys.setrecursionlimit(10**6)
        capped, cap = sys.getrecursionlimit(), rails.recursion
        sys.setrecursionlimit(limit)
    assert capped == cap < 10**6 and MAX_FORKS > 0 and rails.forks == 0


def test_off_puts_back_every_original_and_threads_of_ours_pass(tmp_path):
    originals = (os._exit, os.kill, os.close, signal.raise_signal, sys.setrecursionlimit, threading.Thread.start)
    r = Rails()
    r.on()
    r.off()
    refused = []

    def ours():  # a thread that was there before the call (the backstop, xdist's channel) is not a program
        try:
            os.kill(os.getpid(), 0)
        except Refused:
            refused.append(1)

    t = threading.Thread(target=ours)  # off: every call passes through, even from a new thread
    t.start()
    t.join()
    r.uninstall()
    assert (os._exit, os.kill, os.close, signal.raise_signal, sys.setrecursionlimit, threading.Thread.start) == originals
    t = threading.Thread(target=ours)
    t.start()
    t.join()
    assert refused == []
    assert 0 in open_fds()


# --- the running slot ---------------------------------------------------------------------------

def test_the_slot_says_which_sample_call_and_program_run_and_outlives_its_writer(tmp_path):
    slot = Slot(str(tmp_path / "gw0.slot"))
    slot.sample("batt/t::demo[0]", "t", "demo", 0)
    slot.call(10.0, 12.0)
    slot.program(3, 11.0, 13.0, encode_text("dir/é.py::p"))
    got = read(slot.path)
    fields = (got.pid, got.call_soft, got.call_hard, got.index, got.program_soft, got.program_hard)
    assert fields == (os.getpid(), 10.0, 12.0, 3, 11.0, 13.0)
    assert json.loads(got.sample) == ["batt/t::demo[0]", "t", "demo", 0] and got.program == "dir/é.py::p"
    slot.no_program()
    slot.program(4, 0.0, 0.0, encode_text("x"))  # a shorter id than the last: only its bytes count
    assert read(slot.path).program == "x"
    slot.sample_done()
    assert read(slot.path).sample == "" and read(str(tmp_path / "none")) is None
    long = encode_text("é" * 2000)
    assert len(long) <= 1024 and long[4:].decode()  # cut at a character boundary


# --- the backstop -------------------------------------------------------------------------------

def looping(g):
    while True:
        pass


@pytest.mark.parametrize("defeat", ["ignore", "cancel", "block", "replace"])
def test_a_program_that_defeats_its_timer_is_stopped_at_its_limit(tmp_path, defeat):
    """Without the backstop these loops would run until the sample's timeout; with it, each costs
    its limit plus the backstop's margin, and the next program still runs and is credited."""
    def defeater(g):
        if defeat == "ignore":
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
        elif defeat == "cancel":
            signal.setitimer(signal.ITIMER_REAL, 0)
        elif defeat == "block":
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        else:
            signal.signal(signal.SIGALRM, lambda *a: None)
        return looping(g)

    slot = Slot(str(tmp_path / "main.slot"))
    backstop = Backstop(slot, ProgramTimeout, ProgramTimeout)
    backstop.start()
    lib = Library([Program(0, "bad.py::p", defeater, None), Program(1, "good.py::p", flip, None)], "list", 0.3)
    lib.attach(slot, 2.0, backstop)
    handler = signal.getsignal(signal.SIGALRM)
    try:
        t0 = time.monotonic()
        o, _ = lib("t", (), I, None, "")
        took = time.monotonic() - t0
    finally:
        backstop.stop()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])
    assert [c[2] for c in o] == ["good.py::p"] and o[0][3] == FLIPPED
    note = lib.take_note()
    assert "bad.py::p timed out after 0.3 s" in note
    assert 0.3 <= took < 0.3 + 2.0  # the backstop's, before the hard deadline (limit + grace) would end the worker
    assert signal.getsignal(signal.SIGALRM) == handler  # the call's own timer, as it was


def test_what_cannot_be_stopped_in_the_process_is_handed_to_on_stuck(tmp_path):
    slot = Slot(str(tmp_path / "main.slot"))
    stuck = []
    backstop = Backstop(slot, ProgramTimeout, ProgramTimeout, on_stuck=lambda running, what: stuck.append((running.index, what)))
    now = time.monotonic()
    slot.program(5, now - 1.0, now - 0.01, encode_text("p"))
    assert backstop.tick(time.monotonic()) == "stuck" and stuck == [(5, "program")]
    assert backstop.tick(time.monotonic()) is None  # once


def test_a_quarantined_program_is_not_run_again():
    calls = []

    def bad(g):
        calls.append(1)
        return g

    lib = Library([Program(0, "bad.py::p", bad, None), Program(1, "good.py::p", flip, None)], "tuple")
    lib.quarantine(frozenset({"bad.py::p"}))
    o, _ = lib("t", (), I, None, "")
    assert [c[2] for c in o] == ["good.py::p"] and calls == []
    lib.quarantine(frozenset())
    assert len(lib("t", (), I, None, "")[0]) == 2 and calls == [1]


def _cut_to_here(headroom):
    """Set the recursion limit ``headroom`` above the lowest this frame can set, as a batt can."""
    limit = 1
    while True:
        try:
            sys.setrecursionlimit(limit)
            break
        except RecursionError:  # below the current depth
            limit += 1
    sys.setrecursionlimit(limit + headroom - 1)


@pytest.mark.parametrize("headroom", [1, 3, 30])
def test_a_recursion_limit_cut_to_the_batts_depth_is_put_back_before_anything_else(headroom):
    from pytest_batt.isolation.guard import Guard, call_batt

    before = sys.getrecursionlimit()
    call = call_batt(lambda: _cut_to_here(headroom), Guard(), "solve call", (), lambda value: value)
    assert call.status == "ok" and sys.getrecursionlimit() == before, call


def test_a_program_that_cuts_the_recursion_limit_to_its_depth_is_named_and_the_next_runs():
    def cutter(g):  # the lowest limit it can set, from its own frame
        limit = 1
        while True:
            try:
                sys.setrecursionlimit(limit)
                return g
            except RecursionError:
                limit += 1

    before = sys.getrecursionlimit()
    lib = Library([Program(0, "a.py::p", cutter, None), Program(1, "b.py::p", flip, None)], "tuple", 5.0)
    o, _ = lib("t", (), I, None, "")
    assert sys.getrecursionlimit() == before
    assert [c[2] for c in o] == ["a.py::p", "b.py::p"] and o[1][3] == FLIPPED
    assert "a.py::p changed the interpreter (the recursion limit)" in lib.take_note()
