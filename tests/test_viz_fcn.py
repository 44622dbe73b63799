"""What chapter 2's figures compute and draw (coursekit.viz.fcn), beyond test_ch02_fcn.py: the scatter of a
transposed convolution by hand, and the receptive-field figure without an image."""

import numpy as np

from coursekit import viz


def test_a_transposed_convolution_scatters_one_scaled_kernel_per_input_pixel():
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = viz.transposed_conv2d(np.array([[1.0, 10.0]]), kernel, stride=1)
    assert out.tolist() == [[1, 12, 20], [3, 34, 40]]  # the two copies overlap in the middle column
    assert viz.transposed_conv2d(np.ones((2, 2)), np.ones((3, 3)), stride=2, padding=1).tolist() == [
        [1, 2, 1], [2, 4, 2], [1, 2, 1]]


def test_the_receptive_field_figure_without_an_image_draws_one_panel_and_skips_unknown_layers():
    rows = [("input", 1, 1), ("conv", 1, 3), ("pool", 2, 4)]
    fig = viz.plot_receptive_field(rows, show=("pool", "pool5"))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == ["4"]  # pool5 is not a layer of these rows
    assert [label.get_text() for label in ax.get_xticklabels()] == ["input", "conv", "pool"]
    assert [list(line.get_xdata()) for line in ax.lines[2:]] == [[2, 2]]  # one dotted marker, at pool


def test_compare_outlines_without_classes_has_no_legend_and_limits_the_rows():
    masks = np.zeros((5, 6, 6), np.int64)
    fig = viz.compare_outlines(np.zeros((5, 6, 6, 3)), masks, {"model": masks}, viz.palette(2), max_rows=2)
    assert not fig.legends and len(fig.axes) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image", "truth", "model"]
    assert not fig.axes[2].collections  # an empty truth has no outline to draw
