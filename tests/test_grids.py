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
        ([[1, 10]], "outside colours"),
        ([[-1]], "outside colours"),
        ([[True]], "boolean"),
        ([[1.0]], "not an int"),
        ([["1"]], "not an int"),
        ("12", "not a sequence"),
        (None, "not a sequence"),
        ([[0] * 31], "larger than 30x30"),
        ([[0]] * 31, "larger than 30x30"),
        (np.zeros((2, 2, 2), dtype=int), "3 dimensions"),
        ([1, 2], "row 0 is a int"),
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
def test_one_int_rule_for_grid_cells_and_differ_values(value, expected):
    """grids.as_int is the rule; a grid cell and a differ row's size or last_t follow it alike."""
    from pytest_batt import contract

    got = grids.as_int(value)
    assert got == expected and (got is None or type(got) is int)
    assert grids.try_grid([[value]]) == (None if expected is None or expected > 9 else ((expected,),))
    assert contract.normalise_rows([(value, "None", "d", (value, "x"))]) == [(expected, "None", "d", expected)]
