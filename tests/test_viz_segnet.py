"""What chapter 3's figures draw (coursekit.viz.segnet): the numbers of pooling and unpooling, the bars of
the decoders' memory, and the true outlines over each decoder's prediction."""

import numpy as np
import pytest

from coursekit import viz
from coursekit.metrics import boundary_f1_per_class
from coursekit.viz.segnet import pool_with_indices, unpool

FEATURE_MAP = np.array([[0.0, 3, 1, 9, 2, 2],
                        [7, 1, 4, 2, 8, 1]])  # one row of three windows, their maxima at three corners


def test_pooling_keeps_each_windows_maximum_and_its_flat_index_and_unpooling_puts_it_back():
    values, indices = pool_with_indices(FEATURE_MAP)
    assert values.tolist() == [[7, 9, 8]] and indices.tolist() == [[6, 3, 10]]
    assert unpool(values, indices, (2, 6)).tolist() == [[0, 0, 0, 9, 0, 0], [7, 0, 0, 0, 8, 0]]


def test_a_tie_goes_to_the_first_position_in_reading_order_as_in_torch():
    assert pool_with_indices(np.ones((2, 2)))[1].tolist() == [[0]]


def test_the_unpooling_figure_draws_the_map_the_maxima_their_indices_and_both_up_samplings():
    fig = viz.plot_unpooling(FEATURE_MAP)
    source, pooled, indices, unpooled, nearest = (ax for ax in fig.axes if ax.images)
    np.testing.assert_array_equal(source.images[0].get_array(), FEATURE_MAP)
    np.testing.assert_array_equal(pooled.images[0].get_array(), [[7, 9, 8]])
    assert [t.get_text() for t in indices.texts] == ["6\n(1,0)", "3\n(0,3)", "10\n(1,4)"]
    np.testing.assert_array_equal(unpooled.images[0].get_array(), unpool(*pool_with_indices(FEATURE_MAP), (2, 6)))
    np.testing.assert_array_equal(nearest.images[0].get_array(), [[7, 7, 9, 9, 8, 8]] * 2)
    framed = sorted((round(p.get_y() + 0.45), round(p.get_x() + 0.45)) for p in source.patches)
    assert framed == [(0, 3), (1, 0), (1, 4)]  # (row, column) of each maximum
    grey = [t.get_text() for t in unpooled.texts if t.get_color() == "#aaaaaa"]
    assert grey == ["0"] * 9  # the cells no maximum returns to


def test_the_memory_figure_draws_one_bar_per_row_top_down_in_mib():
    fig = viz.plot_decoder_memory([("SegNet indices", 3 * 2**20), ("U-Net skips", 2**10)], title="kept")
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda bar: -bar.get_y())  # top first
    assert [bar.get_width() for bar in bars] == [3.0, 1 / 1024]
    assert [t.get_text() for t in ax.texts] == ["3.00 MiB", "1 KiB"]
    assert {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()} == {"SegNet indices": 1,
                                                                                  "U-Net skips": 0}
    assert ax.get_xscale() == "log" and ax.get_title() == "kept"


def test_the_memory_figure_refuses_a_row_without_bytes():
    with pytest.raises(ValueError, match="positive number of bytes"):
        viz.plot_decoder_memory([("a", 2**20), ("b", -1)])


def test_compare_decoders_outlines_the_truth_in_white_over_each_prediction():
    masks = np.zeros((1, 8, 8), np.int64)
    masks[0, 2:5, 3:7] = 1
    images = np.random.default_rng(0).uniform(size=(1, 8, 8, 3))
    colours = viz.palette(2)
    shifted, empty = np.roll(masks, 1, axis=2), np.zeros_like(masks)
    fig = viz.compare_decoders(images, masks, {"exact": masks, "shifted": shifted, "empty": empty}, colours,
                               ("bg", "box"))
    image, truth, exact, moved, missed = fig.axes
    np.testing.assert_array_equal(image.images[0].get_array(), images[0])
    np.testing.assert_array_equal(truth.images[0].get_array(), viz.colorize_mask(masks[0], colours))
    np.testing.assert_array_equal(moved.images[0].get_array(), viz.colorize_mask(shifted[0], colours))
    outline = exact.images[1].get_array()
    assert (outline[..., 3] > 0).tolist() == (outline[..., :3] == 1).all(axis=-1).tolist()  # opaque means white
    edges = outline[..., 3] > 0
    assert edges[1, 3] and edges[4, 3] and edges[2, 6] and not edges[3, 4]  # above, on and right of the box
    score = np.nanmean(boundary_f1_per_class(masks[0], empty[0], 2))
    assert exact.get_title() == "exact\nboundary F1 1.00" and missed.get_title() == f"empty\nboundary F1 {score:.2f}"
    assert score < 1
