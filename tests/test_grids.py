from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from pytest_batt import grids


def test_lists_tuples_and_arrays_normalise_to_the_same_tuples():
    expected = ((0, 7), (7, 0))
    assert grids.to_grid([[0, 7], [7, 0]]) == expected
    assert grids.to_grid(((0, 7), (7, 0))) == expected
    assert grids.to_grid(np.array([[0, 7], [7, 0]])) == expected
    assert grids.to_grid(np.array([[0, 7], [7, 0]], dtype=np.int8)) == expected
    cell = grids.to_grid(np.array([[3]]))[0][0]
    assert type(cell) is int


@pytest.mark.parametrize(
    "value, why",
    [
        ([], "no rows"),
        ([[]], "empty rows"),
        ([[1, 2], [3]], "ragged"),
        ([[1, 10]], r"cell \(0, 1\) is 10, not a colour 0\.\.9"),
        ([[-1]], r"cell \(0, 0\) is -1, not a colour"),
        ([[7.5]], r"cell \(0, 0\) is 7\.5, not a colour"),
        ([[1], [float("nan")]], r"cell \(1, 0\) is nan, not a colour"),
        ([[float("-inf")]], r"cell \(0, 0\) is -inf, not a colour"),
        (np.array([[1.0, 1.5]]), r"cell \(0, 1\) is 1\.5, not a colour"),
        ([["1"]], r"cell \(0, 0\) is '1', not a colour"),
        ([[None]], r"cell \(0, 0\) is None, not a colour"),
        ([[[7]]], r"cell \(0, 0\) is \[7\], not a colour"),
        ([[np.uint64(2**64 - 1)]], "not a colour"),
        ("12", "not a sequence"),
        (None, "not a sequence"),
        ([[0] * 31], "larger than 30x30"),
        ([[0]] * 31, "larger than 30x30"),
        (np.zeros((2, 2, 2), dtype=int), "3 dimensions"),
        ([1, 2], "row 0 is an int"),
    ],
)
def test_invalid_grids_say_which_rule_they_break(value, why):
    with pytest.raises(grids.GridError, match=why):
        grids.to_grid(value)
    assert grids.try_grid(value) is None


def test_edges_one_by_one_and_thirty_by_thirty_are_valid():
    assert grids.to_grid([[9]]) == ((9,),)
    big = grids.to_grid([[1] * 30] * 30)
    assert grids.shape(big) == (30, 30)


def test_fingerprint_depends_on_shape_and_content_only():
    a = grids.to_grid([[1, 2, 3, 4]])
    assert grids.fingerprint(a) == grids.fingerprint(grids.to_grid(np.array([[1, 2, 3, 4]])))
    assert grids.fingerprint(a) != grids.fingerprint(grids.to_grid([[1, 2], [3, 4]]))
    assert grids.fingerprint(a) != grids.fingerprint(grids.to_grid([[1, 2, 3, 5]]))


def test_differences_are_counted_and_located():
    a = ((1, 2), (3, 4))
    b = ((1, 2), (3, 5))
    assert grids.cells_differing(a, b) == 1
    assert grids.first_difference(a, b) == (1, 1)
    assert grids.cells_differing(a, ((1, 2),)) is None


def test_side_by_side_aligns_titled_blocks():
    lines = grids.side_by_side([("expected", ["12", "34"]), ("got", ["1"])])
    assert lines == ["expected   got", "12         1", "34"]


class _Index:
    def __init__(self, n):
        self.n = n

    def __index__(self):
        if self.n is None:
            raise RuntimeError("hostile __index__")
        return self.n


@pytest.mark.parametrize("value, expected", [
    (3, 3), (0, 0), (np.int64(7), 7), (np.uint8(2), 2), (_Index(4), 4),
    (True, None), (False, None), (np.bool_(True), None),  # bool is an int subclass, never a contract int
    (1.0, None), (np.float64(2.0), None), ("1", None), (None, None), (_Index(None), None),
])
def test_one_int_rule_for_differ_values_and_last_t(value, expected):
    """grids.as_int is the rule for a differ row's size and last_t (Phase 3 tests ``type(size) != int``)."""
    from pytest_batt import contract

    got = grids.as_int(value)
    assert got == expected and (got is None or type(got) is int)
    assert contract.normalise_rows([(value, "None", "d", (value, "x"))]) == [(expected, "None", "d", expected)]


@pytest.mark.parametrize("value, expected", [
    (7, 7), (0, 0), (9, 9), (7.0, 7), (-0.0, 0), (np.float64(7), 7), (np.float32(3), 3), (np.float16(2), 2),
    (np.int8(4), 4), (np.uint8(2), 2), (np.int64(9), 9), (True, 1), (False, 0), (np.bool_(True), 1),
    (Fraction(6, 2), 3), (Decimal("5"), 5),
])
def test_a_cell_counts_as_the_colour_it_equals(value, expected):
    """As Phase 3's ``==`` and the verifiers' numpy.array_equal count it; the canonical grid holds the int."""
    assert value == expected  # the premise: the cell equals that colour
    assert grids.colour(value) == expected and type(grids.colour(value)) is int
    grid = grids.to_grid([[value, 1], [2, value]])
    assert grid == ((expected, 1), (2, expected))
    assert all(type(v) is int for row in grid for v in row)


@pytest.mark.parametrize("value", [
    7.5, 0.1, -1, 10, -1.0, 10.0, float("nan"), float("inf"), float("-inf"), np.float64("nan"), np.float64(7.25),
    np.int64(10), "7", b"7", None, (7,), [7], _Index(4), object(), 2**70, Decimal("NaN"), Decimal("sNaN"),
])
def test_a_cell_that_equals_no_colour_makes_the_grid_invalid(value):
    assert grids.colour(value) is None
    grid, why = grids.check([[1, value]])
    assert grid is None and "cell (0, 1) is" in str(why) and str(why).endswith("not a colour 0..9")
    assert grids.try_grid([[1, value]]) is None


class _Claims:
    """No number, yet equal to everything and hashing like 7: the grid stays invalid."""

    def __eq__(self, other):
        return True

    def __hash__(self):
        return 7

    def __repr__(self):
        raise RuntimeError("hostile repr")


def test_an_object_that_only_claims_equality_is_no_colour_and_its_repr_cannot_break_the_message():
    grid, why = grids.check([[_Claims()]])
    assert grid is None and str(why).startswith("cell (0, 0) is <_Claims instance") and str(why).endswith("not a colour 0..9")
    grid, why = grids.check([["x" * 10_000]])
    assert grid is None and len(str(why)) < 100  # a cell's text is bounded
    grid, why = grids.check([[10**5000]])  # its repr raises (Python's int-to-str limit)
    assert grid is None and str(why) == "cell (0, 0) is a value of type int, not a colour 0..9"


@pytest.mark.parametrize("array, expected", [
    (np.array([[7.0, 0.0], [1.0, 9.0]]), ((7, 0), (1, 9))),
    (np.array([[7, 0]], dtype=np.float32), ((7, 0),)),
    (np.array([[True, False]]), ((1, 0),)),
    (np.array([[3]], dtype=np.uint8), ((3,),)),
])
def test_numpy_arrays_of_any_number_dtype_with_colour_values_are_grids(array, expected):
    grid = grids.to_grid(array)
    assert grid == expected and all(type(v) is int for row in grid for v in row)


def test_a_huge_array_is_refused_before_it_is_copied():
    with pytest.raises(grids.GridError, match="1000x1000, larger than 30x30"):
        grids.to_grid(np.zeros((1000, 1000)))


def test_invalid_grids_say_how_near_a_grid_they_came():
    """GridError.near orders a failure's invalid candidates: a bad cell, then bad rows, then no rows."""
    assert grids.check([[7.5]])[1].near == 0
    assert grids.check([[1, 2], [3]])[1].near == 1
    assert grids.check([[0] * 31])[1].near == 1
    assert grids.check(None)[1].near == 2
