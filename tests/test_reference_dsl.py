"""Unit tests for the reference batt's grid DSL (small hand-made grids)."""
from __future__ import annotations

import numpy as np
import pytest

from pytest_batt.reference import dsl


def g(rows: list[list[int]]) -> np.ndarray:
    return dsl.to_array(rows)


def same(a: np.ndarray, rows: list[list[int]]) -> bool:
    return a.shape == np.array(rows).shape and bool((a == np.array(rows)).all())


A = g([[1, 2, 3],
       [4, 5, 6]])
ONE = g([[7]])
BIG = dsl.to_array(np.arange(900).reshape(30, 30) % 10)
UNI = g([[3, 3], [3, 3]])


# --- conversion ------------------------------------------------------------

def test_to_tuple_gives_python_ints() -> None:
    t = dsl.to_tuple(A)
    assert t == ((1, 2, 3), (4, 5, 6))
    assert all(type(v) is int for row in t for v in row)


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros((31, 2)), np.full((2, 2), 10),
                                 np.full((2, 2), -1), np.zeros(4), [[1]]])
def test_is_valid_rejects(bad: object) -> None:
    assert not dsl.is_valid(bad if not isinstance(bad, np.ndarray) else bad.astype(int))


def test_is_valid_accepts_extremes() -> None:
    assert dsl.is_valid(ONE) and dsl.is_valid(BIG)


def test_to_array_rejects_ragged() -> None:
    with pytest.raises(ValueError):
        dsl.to_array([[1, 2], [3]])


# --- geometry --------------------------------------------------------------

def test_rotations() -> None:
    assert same(dsl.rot90(A), [[4, 1], [5, 2], [6, 3]])
    assert same(dsl.rot180(A), [[6, 5, 4], [3, 2, 1]])
    assert same(dsl.rot270(A), [[3, 6], [2, 5], [1, 4]])
    assert same(dsl.rot90(dsl.rot270(A)), A.tolist())


def test_flips_and_transposes() -> None:
    assert same(dsl.flip_h(A), [[3, 2, 1], [6, 5, 4]])
    assert same(dsl.flip_v(A), [[4, 5, 6], [1, 2, 3]])
    assert same(dsl.transpose(A), [[1, 4], [2, 5], [3, 6]])
    assert same(dsl.antitranspose(A), [[6, 3], [5, 2], [4, 1]])
    assert same(dsl.identity(A), A.tolist())


def test_symmetries_on_1x1_and_30x30() -> None:
    for f in dsl.SYMMETRIES.values():
        assert same(f(ONE), [[7]])
        out = f(BIG)
        assert out.shape == (30, 30) and sorted(out.ravel()) == sorted(BIG.ravel())


def test_shift() -> None:
    assert same(dsl.shift(A, 1, 0), [[0, 0, 0], [1, 2, 3]])
    assert same(dsl.shift(A, 0, -1, 9), [[2, 3, 9], [5, 6, 9]])
    assert same(dsl.shift(A, 5, 5), [[0, 0, 0], [0, 0, 0]])


# --- colours ---------------------------------------------------------------

def test_color_stats() -> None:
    x = g([[0, 0, 1], [2, 2, 0]])
    assert dsl.color_counts(x) == {0: 3, 1: 1, 2: 2}
    assert dsl.palette(x) == {0, 1, 2}
    assert dsl.most_common_color(x) == 0
    assert dsl.least_common_color(x) == 1
    assert dsl.background_color(UNI) == 3
    assert dsl.most_common_color(g([[1, 2]])) == 1  # tie -> lowest


def test_colormap_fit_and_apply() -> None:
    a, b = g([[1, 2], [2, 3]]), g([[5, 6], [6, 3]])
    m = dsl.fit_colormap([(a, b)])
    assert m == {1: 5, 2: 6, 3: 3}
    assert same(dsl.apply_colormap(g([[3, 1, 4]]), m), [[3, 5, 4]])
    assert dsl.fit_colormap([(g([[1, 1]]), g([[2, 3]]))]) is None
    assert dsl.fit_colormap([(g([[1]]), g([[1, 1]]))]) is None


def test_replace_and_fill() -> None:
    assert same(dsl.replace_color(A, 5, 0), [[1, 2, 3], [4, 0, 6]])
    assert same(dsl.fill_all(A, 2), [[2, 2, 2], [2, 2, 2]])


# --- size ------------------------------------------------------------------

def test_bbox_and_crop() -> None:
    x = g([[0, 0, 0], [0, 4, 0], [0, 0, 5]])
    assert dsl.bbox(x != 0) == (1, 1, 2, 2)
    assert same(dsl.crop_to_content(x), [[4, 0], [0, 5]])
    assert same(dsl.crop(x, 0, 0, 0, 1), [[0, 0]])
    with pytest.raises(ValueError):
        dsl.crop_to_content(UNI)  # single colour: no content


def test_scale_up_down() -> None:
    assert same(dsl.scale_up(g([[1, 2]]), 2), [[1, 1, 2, 2], [1, 1, 2, 2]])
    assert same(dsl.scale_up(ONE, 1, 3), [[7, 7, 7]])
    assert same(dsl.scale_down(dsl.scale_up(A, 3), 3), A.tolist())
    with pytest.raises(ValueError):
        dsl.scale_down(A, 2)


def test_tile_and_mirrors() -> None:
    x = g([[1, 2]])
    assert same(dsl.tile(x, 2, 2), [[1, 2, 1, 2], [1, 2, 1, 2]])
    assert same(dsl.mirror_h(x), [[1, 2, 2, 1]])
    assert same(dsl.mirror_v(x), [[1, 2], [1, 2]])
    assert same(dsl.mirror_2x2(g([[1, 2], [3, 4]]))[:, :], [[1, 2, 2, 1], [3, 4, 4, 3],
                                                           [3, 4, 4, 3], [1, 2, 2, 1]])
    assert same(dsl.rot_tile_2x2(g([[1, 2], [3, 4]])), [[1, 2, 3, 1], [3, 4, 4, 2],
                                                        [2, 4, 4, 3], [1, 3, 2, 1]])
    with pytest.raises(ValueError):
        dsl.rot_tile_2x2(A)


def test_self_similar_007bbfb7_style() -> None:
    x = g([[0, 7], [7, 0]])
    out = dsl.self_similar(x)
    assert same(out, [[0, 0, 0, 7], [0, 0, 7, 0], [0, 7, 0, 0], [7, 0, 0, 0]])
    inv = dsl.self_similar(x, inverse=True)
    assert same(inv, [[0, 7, 0, 0], [7, 0, 0, 0], [0, 0, 0, 7], [0, 0, 7, 0]])
    assert same(dsl.self_similar(ONE), [[7]])
    with pytest.raises(ValueError):
        dsl.self_similar(np.ones((6, 6), dtype=dsl.DTYPE))


def test_compress_and_remove_lines() -> None:
    x = g([[1, 1, 2], [1, 1, 2], [3, 3, 4]])
    assert same(dsl.compress(x), [[1, 2], [3, 4]])
    y = g([[0, 0, 0], [0, 5, 0], [0, 0, 0]])
    assert same(dsl.remove_uniform_lines(y), [[5]])
    with pytest.raises(ValueError):
        dsl.remove_uniform_lines(UNI)


# --- objects ---------------------------------------------------------------

OBJS = g([[1, 1, 0, 0, 2],
          [1, 0, 0, 2, 0],
          [0, 0, 0, 0, 0],
          [3, 3, 3, 0, 0]])


def test_objects_connectivity() -> None:
    four = dsl.objects(OBJS, diagonal=False, bg=0)
    eight = dsl.objects(OBJS, diagonal=True, bg=0)
    assert sorted(o.size for o in four) == [1, 1, 3, 3]
    assert sorted(o.size for o in eight) == [2, 3, 3]
    o = eight[0]
    assert o.color == 1 and o.box == (0, 0, 1, 1) and o.height == 2 and o.width == 2
    assert o.shape_key() == ((0, 0), (0, 1), (1, 0))
    assert same(o.subgrid(0), [[1, 1], [1, 0]])


def test_objects_multicolour_and_empty() -> None:
    x = g([[1, 2], [0, 0]])
    assert len(dsl.objects(x, univalued=True, bg=0)) == 2
    multi = dsl.objects(x, univalued=False, bg=0)
    assert len(multi) == 1 and multi[0].ncolors == 2
    assert dsl.objects(UNI) == []
    assert dsl.objects(ONE, bg=0)[0].size == 1


def test_select_object() -> None:
    objs = dsl.objects(OBJS, diagonal=True, bg=0)
    assert dsl.select_object(objs, "smallest").color == 2
    with pytest.raises(ValueError):
        dsl.select_object(objs, "largest")  # tie between 1 and 3
    with pytest.raises(ValueError):
        dsl.select_object(objs, "odd_shape")  # all three shapes differ
    twins = dsl.objects(g([[1, 0, 1, 0, 2, 2]]), bg=0)
    assert dsl.select_object(twins, "odd_shape").color == 2
    assert dsl.select_object(twins, "odd_color").color == 2
    with pytest.raises(ValueError):
        dsl.select_object([], "largest")


def test_crop_keep_remove_objects() -> None:
    x = g([[0, 0, 0, 0], [0, 4, 4, 0], [0, 4, 4, 0], [0, 0, 0, 0], [5, 0, 0, 0]])
    assert same(dsl.crop_object(x, "largest", bg=0), [[4, 4], [4, 4]])
    assert same(dsl.keep_object(x, "smallest", bg=0),
                [[0, 0, 0, 0]] * 4 + [[5, 0, 0, 0]])
    assert (dsl.remove_small_objects(x, 1, bg=0)[4] == 0).all()
    assert dsl.remove_small_objects(x, 1, bg=0)[1, 1] == 4


# --- splitting and logic ---------------------------------------------------

SPLIT = g([[1, 0, 5, 1, 1],
           [0, 1, 5, 0, 1]])


def test_separators_and_cells() -> None:
    rows, cols, color = dsl.separator_lines(SPLIT)
    assert rows == [] and cols == [2] and color == 5
    cells = dsl.split_cells(SPLIT)
    assert len(cells) == 1 and len(cells[0]) == 2
    assert same(cells[0][1], [[1, 1], [0, 1]])
    with pytest.raises(ValueError):
        dsl.split_cells(ONE)


def test_split_halves() -> None:
    a, b = dsl.split_halves(SPLIT)
    assert same(a, [[1, 0], [0, 1]]) and same(b, [[1, 1], [0, 1]])
    top, bottom = dsl.split_halves(g([[1], [2]]), axis=0)
    assert same(top, [[1]]) and same(bottom, [[2]])
    with pytest.raises(ValueError):
        dsl.split_halves(g([[1, 2, 3], [4, 5, 6]]), axis=1)  # no separator


@pytest.mark.parametrize("op,expected", [
    ("and", [[3, 0], [0, 3]]), ("or", [[3, 3], [0, 3]]), ("xor", [[0, 3], [0, 0]]),
    ("nor", [[0, 0], [3, 0]]), ("a_not_b", [[0, 0], [0, 0]]), ("b_not_a", [[0, 3], [0, 0]])])
def test_logic_halves(op: str, expected: list[list[int]]) -> None:
    assert same(dsl.logic_halves(SPLIT, op, 3, 0), expected)


def test_overlay_parts() -> None:
    x = g([[1, 0, 5, 0, 2], [0, 0, 5, 3, 0]])
    assert same(dsl.overlay_parts(x), [[1, 2], [3, 0]])
    assert same(dsl.overlay_parts(x, order_rev=True), [[1, 2], [3, 0]])


# --- filling, gravity, symmetry, lines ---------------------------------------

def test_fill_enclosed() -> None:
    x = g([[0, 0, 0, 0, 0], [0, 3, 3, 3, 0], [0, 3, 0, 3, 0], [0, 3, 3, 3, 0]])
    out = dsl.fill_enclosed(x, 4)
    assert out[2, 2] == 4 and (out[0] == 0).all()
    assert same(dsl.fill_enclosed(UNI, 1, 0), UNI.tolist())  # no background at all


def test_gravity() -> None:
    x = g([[1, 0], [0, 0], [0, 2]])
    assert same(dsl.gravity(x, "down", 0), [[0, 0], [0, 0], [1, 2]])
    assert same(dsl.gravity(x, "up", 0), [[1, 2], [0, 0], [0, 0]])
    assert same(dsl.gravity(x, "right", 0), [[0, 1], [0, 0], [0, 2]])
    assert same(dsl.gravity(x, "left", 0), [[1, 0], [0, 0], [2, 0]])
    assert same(dsl.gravity(ONE, "down"), [[7]])


def test_symmetry_complete() -> None:
    full = g([[1, 2, 2, 1], [3, 4, 4, 3], [3, 4, 4, 3], [1, 2, 2, 1]])
    broken = full.copy()
    broken[0, 0] = 9
    broken[2, 1] = 9
    assert same(dsl.symmetry_complete(broken, 9), full.tolist())
    with pytest.raises(ValueError):
        dsl.symmetry_complete(full, 9)  # nothing to repair


def test_periodic_complete() -> None:
    full = dsl.tile(g([[1, 2, 3], [2, 3, 1]]), 3, 3)
    broken = full.copy()
    broken[1:3, 2:5] = 0
    assert same(dsl.periodic_complete(broken, 0), full.tolist())
    with pytest.raises(ValueError):
        dsl.periodic_complete(g([[0, 0], [0, 0]]), 0)


def test_connect_and_rays() -> None:
    x = g([[2, 0, 0, 2], [0, 0, 0, 0], [2, 0, 0, 0]])
    assert same(dsl.connect_lines(x, True, False, 0), [[2, 2, 2, 2], [0, 0, 0, 0], [2, 0, 0, 0]])
    assert same(dsl.connect_lines(x, False, True, 0), [[2, 0, 0, 2], [2, 0, 0, 0], [2, 0, 0, 0]])
    y = g([[0, 0, 0], [0, 4, 0], [0, 0, 0]])
    assert same(dsl.extend_rays(y, "ud", 0), [[0, 4, 0], [0, 4, 0], [0, 4, 0]])
    assert same(dsl.extend_rays(y, "r", 0), [[0, 0, 0], [0, 4, 4], [0, 0, 0]])


def test_outline_objects() -> None:
    y = g([[0, 0, 0], [0, 4, 0], [0, 0, 0]])
    assert same(dsl.outline_objects(y, 1, True, 0), [[1, 1, 1], [1, 4, 1], [1, 1, 1]])
    assert same(dsl.outline_objects(y, 1, False, 0), [[0, 1, 0], [1, 4, 1], [0, 1, 0]])


def test_counting_outputs() -> None:
    x = g([[0, 3, 0], [3, 0, 8]])
    assert same(dsl.count_cells_row(x, 0), [[3, 3, 3]])
    assert same(dsl.colors_by_frequency(x, 0), [[3], [8]])
    with pytest.raises(ValueError):
        dsl.count_cells_row(UNI)


def test_big_grid_primitives_stay_valid() -> None:
    x = BIG.copy()
    for out in (dsl.gravity(x, "down"), dsl.fill_enclosed(x, 1), dsl.compress(x),
                dsl.connect_lines(x), dsl.remove_small_objects(x), dsl.scale_down(x, 2)):
        assert dsl.is_valid(out)
    assert len(dsl.objects(x, True, False, 0)) >= 1


def test_self_similar_color() -> None:
    x = g([[2, 0], [0, 1]])
    out = dsl.self_similar_color(x, 2)
    assert same(out, [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert same(dsl.self_similar_color(ONE, 3), [[0]])


def test_cells_majority() -> None:
    x = g([[1, 1, 5, 2, 2],
           [1, 3, 5, 2, 2]])
    assert same(dsl.cells_majority(x), [[1, 2]])


def test_fill_bboxes_and_color_bbox_fill() -> None:
    x = g([[3, 0, 0], [0, 3, 0], [0, 0, 0]])
    assert same(dsl.fill_bboxes(x, 7, True, 0), [[3, 7, 0], [7, 3, 0], [0, 0, 0]])
    y = g([[4, 0, 0], [0, 0, 0], [0, 0, 4]])
    assert same(dsl.color_bbox_fill(y, 0), [[4, 4, 4]] * 3)
    assert same(dsl.color_bbox_fill(UNI), UNI.tolist())


def test_lines_majority() -> None:
    x = g([[1, 1, 2], [3, 4, 4]])
    assert same(dsl.lines_majority(x, 1), [[1, 1, 1], [4, 4, 4]])
    assert same(dsl.lines_majority(g([[1, 2], [1, 3], [5, 3]]), 0), [[1, 3], [1, 3], [1, 3]])


def test_rays_diagonal_and_colour_filter() -> None:
    y = g([[0, 0, 0], [0, 4, 0], [0, 0, 6]])
    out = dsl.extend_rays(y, ["ul"], 0)
    assert out[0, 0] == 4 and out[1, 1] == 4 and out[2, 2] == 6
    only6 = dsl.extend_rays(y, "u", 0, colors=[6])
    assert same(only6, [[0, 0, 6], [0, 4, 6], [0, 0, 6]])


def test_connect_overwrite_and_colour() -> None:
    x = g([[0, 2, 0], [3, 0, 3], [0, 2, 0]])
    assert same(dsl.connect_lines(x, True, True, 0), [[0, 2, 0], [3, 3, 3], [0, 2, 0]])
    assert same(dsl.connect_lines(x, True, True, 0, overwrite=True),
                [[0, 2, 0], [3, 2, 3], [0, 2, 0]])
    assert same(dsl.connect_lines(x, True, False, 0, color=8), [[0, 2, 0], [3, 8, 3], [0, 2, 0]])


def test_periodic_complete_diagonal() -> None:
    full = dsl.to_array([[(r + c) % 3 + 1 for c in range(7)] for r in range(7)])
    broken = full.copy()
    broken[3:, 3:] = 0
    assert same(dsl.periodic_complete(broken, 0), full.tolist())


def test_background_prefers_black() -> None:
    assert dsl.background_color(g([[4, 4, 4], [4, 0, 0]])) == 0  # 0 nearly as common
    assert dsl.background_color(g([[4, 4, 4], [4, 4, 0]])) == 4
    assert dsl.background_color(ONE) == 7


def test_select_object_more_criteria() -> None:
    x = g([[1, 1, 0, 2, 0, 3, 3],
           [0, 0, 0, 0, 0, 0, 0],
           [4, 4, 4, 0, 5, 0, 5],
           [4, 0, 4, 0, 5, 5, 5],
           [4, 4, 4, 0, 0, 0, 0]])
    objs = dsl.objects(x, False, True, 0)
    assert dsl.select_object(objs, "common_shape").color == 1  # two horizontal dominoes
    assert dsl.select_object(objs, "has_hole").color == 4
    multi = dsl.objects(g([[1, 1, 0, 2], [1, 3, 0, 2]]), True, False, 0)
    assert dsl.select_object(multi, "most_accent").colors.count(3) == 1
    with pytest.raises(ValueError):
        dsl.select_object(objs, "no-such-criterion")


def test_object_gravity() -> None:
    x = g([[1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]])
    assert same(dsl.object_gravity(x, "down", 0), [[0, 0, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0]])
    assert same(dsl.object_gravity(x, "right", 0), [[0, 1, 1], [0, 0, 1], [0, 0, 0], [0, 0, 0]])
    stacked = g([[2, 0], [0, 0], [3, 0]])
    assert same(dsl.object_gravity(stacked, "down", 0), [[0, 0], [2, 0], [3, 0]])
    assert same(dsl.object_gravity(UNI, "up"), UNI.tolist())


def test_fold() -> None:
    x = g([[1, 0, 2, 0], [0, 0, 0, 3]])
    assert same(dsl.fold(x, 1), [[1, 2], [3, 0]])  # right half mirrored under the left
    assert same(dsl.fold(g([[1, 5, 2]]), 1, reverse=True), [[2]])


def test_colors_in_order() -> None:
    x = g([[3, 3, 1, 1, 2], [3, 3, 1, 2, 2]])
    assert same(dsl.colors_in_order(x, 1, bg=0), [[3, 1, 2]])
    assert same(dsl.colors_in_order(x.T, 0, bg=0), [[3], [1], [2]])
    with pytest.raises(ValueError):
        dsl.colors_in_order(UNI)


def test_split_squares() -> None:
    strip = g([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert [p.tolist() for p in dsl.split_squares(strip)] == [[[1, 2], [5, 6]], [[3, 4], [7, 8]]]
    with pytest.raises(ValueError):
        dsl.split_squares(g([[1, 2, 3], [4, 5, 6]]))


def test_invert_and_self_similar_block() -> None:
    x = g([[0, 7], [7, 7]])
    assert same(dsl.invert(x), [[7, 0], [0, 0]])
    assert same(dsl.invert(g([[3]]), 0), [[0]])
    with pytest.raises(ValueError):
        dsl.invert(A)
    out = dsl.self_similar(x, block=dsl.invert(x))
    assert same(out[:2, 2:], [[7, 0], [0, 0]]) and (out[:2, :2] == 0).all()


def test_scale_down_keeps_marks_with_fg() -> None:
    x = g([[0, 0, 0, 6], [0, 0, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0]])
    assert same(dsl.scale_down(x, 2), [[0, 0], [0, 0]])
    assert same(dsl.scale_down(x, 2, fg=True), [[0, 6], [2, 0]])


def test_symmetrize() -> None:
    x = g([[1, 0, 0], [2, 3, 0]])
    assert same(dsl.symmetrize(x, "h", 0), [[1, 0, 1], [2, 3, 2]])
    assert same(dsl.symmetrize(x, "v", 0), [[1, 3, 0], [2, 3, 0]])
    sq = g([[5, 0], [0, 0]])
    assert same(dsl.symmetrize(sq, "r", 0), [[5, 5], [5, 5]])
    with pytest.raises(ValueError):
        dsl.symmetrize(x, "r", 0)
