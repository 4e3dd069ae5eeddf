"""isolation.integrity: a batt that patches pytest-batt's modules is seen, by identity only."""

import sys
import types

import pytest_batt.grids
import pytest_batt.judging
import pytest_batt.reference
from pytest_batt.isolation import integrity


def changed_by(action):
    before = integrity.snapshot()
    action()
    return not integrity.unchanged(before, integrity.snapshot())


def test_nothing_done_is_unchanged():
    assert not changed_by(lambda: None)
    assert not changed_by(lambda: sum(range(1000)))


def test_rebinding_a_name_is_seen(monkeypatch):
    assert changed_by(lambda: monkeypatch.setattr(pytest_batt.grids, "fingerprint", lambda grid: "forged"))


def test_writing_the_namespace_dict_is_seen(monkeypatch):
    assert changed_by(lambda: monkeypatch.setitem(vars(pytest_batt.judging), "judge", lambda rec, expected: rec))


def test_a_name_added_or_removed_is_seen(monkeypatch):
    assert changed_by(lambda: monkeypatch.setattr(pytest_batt.grids, "extra", 1, raising=False))
    monkeypatch.undo()
    assert changed_by(lambda: monkeypatch.delattr(pytest_batt.grids, "fingerprint"))


def test_a_module_planted_or_replaced_in_sys_modules_is_seen(monkeypatch):
    assert changed_by(lambda: monkeypatch.setitem(sys.modules, "pytest_batt.planted", types.ModuleType("pytest_batt.planted")))
    monkeypatch.undo()
    fake = types.ModuleType("pytest_batt.grids")
    fake.__dict__.update(vars(pytest_batt.grids))  # the same names and values, another module object
    assert changed_by(lambda: monkeypatch.setitem(sys.modules, "pytest_batt.grids", fake))


class Liar:
    """Says it equals anything, and notes that it was asked."""

    asked = 0

    def __eq__(self, other):
        Liar.asked += 1
        return True

    __hash__ = object.__hash__


def test_an_object_that_says_it_is_equal_is_still_seen_and_never_asked(monkeypatch):
    Liar.asked = 0
    assert changed_by(lambda: monkeypatch.setattr(pytest_batt.judging, "judge", Liar()))
    assert Liar.asked == 0


def test_what_no_import_puts_in_sys_modules_counts_as_a_patch(monkeypatch):
    assert changed_by(lambda: monkeypatch.setitem(sys.modules, 42, types.ModuleType("x")))
    monkeypatch.undo()
    assert changed_by(lambda: monkeypatch.setitem(sys.modules, "pytest_batt.odd", object()))


def test_the_reference_batt_is_a_batt_not_pytest_batt(monkeypatch):
    """The embedded reference batt may memoise in its own module globals, as any batt may."""
    assert not changed_by(lambda: monkeypatch.setattr(pytest_batt.reference, "memo_for_test", {}, raising=False))


def test_a_module_of_another_package_with_the_prefix_is_watched_too(monkeypatch):
    """pytest_batt_x sorts among pytest-batt's names: watched as the old check watched it (harmless)."""
    mod = types.ModuleType("pytest_batt_other")
    monkeypatch.setitem(sys.modules, "pytest_batt_other", mod)
    assert changed_by(lambda: setattr(mod, "x", 1))


def test_a_broken_snapshot_is_never_unchanged():
    assert not integrity.unchanged(integrity.BROKEN, integrity.BROKEN)


def test_a_watch_takes_one_snapshot_a_sample_and_still_sees_a_patch(monkeypatch):
    watch = integrity.Watch()
    before = watch.before()
    assert watch.unchanged_since(before)
    # the last snapshot serves as the next "before" (taken again after a sample only where version tags cannot be read)
    assert (watch.before() is before) == integrity.DictVersions.usable()
    reused = watch.before()
    monkeypatch.setattr(pytest_batt.grids, "fingerprint", lambda grid: "forged")
    assert not watch.unchanged_since(reused)
    last = watch.before()
    monkeypatch.setitem(sys.modules, "some_module_imported_between_samples", types.ModuleType("x"))
    assert watch.before() is not last  # something was imported: a fresh snapshot


def test_a_watch_takes_no_snapshot_while_no_watched_dict_is_written(monkeypatch):
    """O(1) per sample: with CPython's dict version tags, a sample that wrote none of the watched
    dicts costs no snapshot; one that rebinds a name, plants a module or rebinds between samples is seen."""
    if not integrity.DictVersions.usable():
        import pytest

        pytest.skip("no dict version tags on this Python: one snapshot a sample (tested above)")
    taken = []
    real = integrity._taken
    monkeypatch.setattr(integrity, "_taken", lambda: taken.append(1) or real())
    watch = integrity.Watch()
    before = watch.before()
    for _ in range(5):
        assert watch.unchanged_since(before)
        assert watch.before() is before
    assert len(taken) == 1
    with monkeypatch.context() as m:  # during a sample
        m.setattr(pytest_batt.grids, "fingerprint", lambda grid: "forged")
        assert not watch.unchanged_since(before)
    assert not watch.unchanged_since(watch.before())  # put back: a change again, against the forged snapshot
    before = watch.before()
    assert watch.unchanged_since(before)
    vars(pytest_batt.judging)["judge"] = vars(pytest_batt.judging)["judge"]  # the same object written back: tag moves
    assert watch.unchanged_since(before)  # compared by identity: nothing changed
    before = watch.before()
    with monkeypatch.context() as m:  # a module replaced in sys.modules (the same size)
        fake = type(pytest_batt.grids)("pytest_batt.grids")
        fake.__dict__.update(vars(pytest_batt.grids))
        m.setitem(sys.modules, "pytest_batt.grids", fake)
        assert not watch.unchanged_since(before)
    before = watch.before()
    assert not watch.unchanged_since(before)  # the real module back in its place
    before = watch.before()
    assert watch.unchanged_since(before)
    monkeypatch.setattr(pytest_batt.grids, "fingerprint", lambda grid: "forged")  # between samples
    assert not watch.unchanged_since(watch.before())
