"""Chapter 2 (FCN): its checkers accept right answers and reject plausible wrong ones;
its figures show what they claim to."""

import numpy as np
import pytest
import torch

from coursekit import exercises, viz
from coursekit.exercises import ExerciseFailed
from coursekit.exercises.fcn import PREDICTION_STACK
from coursekit.models.common import bilinear_kernel as coursekit_bilinear_kernel

# ---------------------------------------------------------------------------
# bilinear kernel


def right_bilinear(size):
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - np.abs(np.arange(size) - centre) / factor
    return np.outer(taps, taps)


def test_bilinear_checker_accepts_the_right_kernel_and_coursekit_agrees():
    assert "hidden cases pass" in repr(exercises.check_bilinear_kernel(right_bilinear))
    exercises.check_bilinear_kernel(lambda size: coursekit_bilinear_kernel(1, size)[0, 0])


@pytest.mark.parametrize("wrong", [
    lambda size: np.outer(*(2 * [1 - np.abs(np.arange(size) - size / 2) / ((size + 1) // 2)])),   # centre off by 1/2
    lambda size: np.outer(*(2 * [1 - np.abs(np.arange(size) - (size - 1) / 2) / (size / 2)])),   # factor size/2
    lambda size: 1 - np.abs(np.arange(size) - (size - 1) / 2) / ((size + 1) // 2),               # 1-D only
    lambda size: right_bilinear(size) / right_bilinear(size).sum(),                               # normalised
])
def test_bilinear_checker_rejects_plausible_mistakes(wrong):
    with pytest.raises(ExerciseFailed, match="bilinear_kernel"):
        exercises.check_bilinear_kernel(wrong)


def test_bilinear_kernel_is_bilinear_interpolation_in_the_interior():
    """The fact the chapter teaches: kernel 2f, stride f, padding f/2 is bilinear ×f (half-pixel centres)."""
    factor = 4
    layer = torch.nn.ConvTranspose2d(1, 1, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(right_bilinear(2 * factor)).float()[None, None])
        x = torch.rand(1, 1, 6, 7)
        ours = layer(x)
        reference = torch.nn.functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape
    inner = (..., slice(factor, -factor), slice(factor, -factor))
    assert torch.allclose(ours[inner], reference[inner], atol=1e-6)


# ---------------------------------------------------------------------------
# transposed convolution output size


def test_transposed_size_checker_accepts_the_formula_and_torch_agrees():
    def right(size, kernel, stride, padding=0, output_padding=0):
        return (size - 1) * stride - 2 * padding + kernel + output_padding

    exercises.check_transposed_output_size(right)

    def from_torch(size, kernel, stride, padding=0, output_padding=0):
        layer = torch.nn.ConvTranspose1d(1, 1, kernel, stride=stride, padding=padding, output_padding=output_padding)
        return layer(torch.zeros(1, 1, size)).shape[-1]

    exercises.check_transposed_output_size(from_torch)


@pytest.mark.parametrize("wrong", [
    lambda size, kernel, stride, padding=0, output_padding=0: size * stride - 2 * padding + kernel + output_padding,
    lambda size, kernel, stride, padding=0, output_padding=0: (size - 1) * stride - padding + kernel + output_padding,
    lambda size, kernel, stride, padding=0, output_padding=0: (size - 1) * stride - 2 * padding + kernel,
    lambda size, kernel, stride, padding=0, output_padding=0: size * stride,
])
def test_transposed_size_checker_rejects_plausible_mistakes(wrong):
    with pytest.raises(ExerciseFailed, match="transposed_output_size"):
        exercises.check_transposed_output_size(wrong)


# ---------------------------------------------------------------------------
# fully connected layer as a convolution


def test_linear_to_conv_checker_accepts_torch_layout_and_it_is_right():
    exercises.check_linear_to_conv(lambda w, channels, size: w.reshape(len(w), channels, size, size))
    linear = torch.nn.Linear(3 * 4 * 4, 5)
    conv = torch.nn.Conv2d(3, 5, 4)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(5, 3, 4, 4))
        conv.bias.copy_(linear.bias)
        x = torch.rand(2, 3, 4, 4)
        assert torch.allclose(linear(x.flatten(1)), conv(x).flatten(1), atol=1e-6)


@pytest.mark.parametrize("wrong", [
    lambda w, channels, size: w.reshape(len(w), size, size, channels).transpose(0, 3, 1, 2),  # Keras' flatten order
    lambda w, channels, size: w.reshape(len(w), channels, size, size).transpose(0, 1, 3, 2),  # rows and columns
    lambda w, channels, size: w.reshape(channels, len(w), size, size),                        # in and out swapped
])
def test_linear_to_conv_checker_rejects_plausible_mistakes(wrong):
    with pytest.raises(ExerciseFailed, match="linear_to_conv"):
        exercises.check_linear_to_conv(wrong)


# ---------------------------------------------------------------------------
# predict a shape


def stack_module():
    layers = []
    channels = 3
    for kind, out, kernel, stride, padding in PREDICTION_STACK:
        if kind == "conv":
            layers += [torch.nn.Conv2d(channels, out, kernel, stride, padding), torch.nn.ReLU()]
            channels = out
        else:
            layers.append(torch.nn.MaxPool2d(kernel, stride, padding))
    return torch.nn.Sequential(*layers)


def test_stack_prediction_accepts_what_torch_computes():
    shape = tuple(stack_module()(torch.zeros(1, 3, 100, 84)).shape)
    assert shape == (1, 10, 10, 8)
    assert "hidden cases pass" in repr(exercises.check_stack_prediction((shape, 8, 32)))
    exercises.check_stack_prediction([torch.Size(shape), 8, 32])


@pytest.mark.parametrize("answer, hint", [
    (((1, 10, 11, 9), 8, 32), "rounds down"),       # pooling rounded up
    (((1, 10, 8, 10), 8, 32), "height and width"),  # axes swapped
    (((1, 64, 10, 8), 8, 32), "channels"),          # channels of the 5×5 convolution
    (((10, 10, 8), 8, 32), "four sizes"),           # batch axis missing
    (((1, 10, 10, 8), 16, 32), "stride"),
    (((1, 10, 10, 8), 8, 21), "receptive field"),   # kernels summed, strides ignored
    (((1, 10, 10, 8), 8), "three"),
])
def test_stack_prediction_rejects_wrong_parts_with_a_hint_and_without_the_answer(answer, hint):
    with pytest.raises(ExerciseFailed, match=hint) as failure:
        exercises.check_stack_prediction(answer)
    assert "(1, 10, 10, 8)" not in str(failure.value) and "32" not in str(failure.value).replace("32 ", "")


# ---------------------------------------------------------------------------
# figures


def test_transposed_conv2d_matches_torch():
    x, kernel = np.random.default_rng(0).normal(size=(3, 4)), np.random.default_rng(1).normal(size=(4, 4))
    for stride, padding in ((2, 0), (2, 1), (3, 1), (1, 0)):
        layer = torch.nn.ConvTranspose2d(1, 1, 4, stride=stride, padding=padding, bias=False)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(kernel)[None, None])
            expected = layer(torch.from_numpy(x).float()[None, None]).numpy()[0, 0]
        assert np.allclose(viz.transposed_conv2d(x, kernel, stride, padding), expected, atol=1e-5)


RECEPTIVE_ROWS = [("input", 1, 1), ("conv1_1", 1, 3), ("pool1", 2, 4), ("conv2_1", 2, 8), ("pool2", 4, 10)]


def test_the_receptive_field_figure_plots_the_fields_and_strides_and_frames_what_a_unit_sees():
    image = np.random.default_rng(0).uniform(size=(32, 32, 3))
    fig = viz.plot_receptive_field(RECEPTIVE_ROWS, image=image, show=("pool1", "pool2"), centre=(10, 12))
    growth, seen = fig.axes
    fields, strides = growth.lines[:2]
    assert fields.get_ydata().tolist() == [1, 3, 4, 8, 10] and strides.get_ydata().tolist() == [1, 1, 2, 2, 4]
    assert [t.get_text() for t in growth.texts] == ["4", "10"]  # the fields of the layers in `show`
    np.testing.assert_array_equal(seen.images[0].get_array(), image)
    squares = [(p.get_xy(), p.get_width(), p.get_label()) for p in seen.patches]
    assert squares == [((10.0, 8.0), 4.0, "pool1: 4×4"), ((7.0, 5.0), 10.0, "pool2: 10×10")]  # centred at (12, 10)


def test_the_transposed_convolution_figure_shows_the_overlaps_and_the_cropped_sum():
    x, kernel = np.array([[1.0, 2.0], [0.5, 1.0]]), right_bilinear(4)
    fig = viz.plot_transposed_conv(x, kernel, stride=2, padding=1)
    inputs, scatter, output = fig.axes[:3]
    assert [t.get_text() for t in inputs.texts] == ["1", "2", "0.5", "1"]
    coverage = scatter.images[0].get_array()
    assert coverage.shape == (6, 6) and coverage[2:4, 2:4].tolist() == [[4, 4], [4, 4]] and coverage[0, 0] == 1
    footprints = [p.get_xy() for p in scatter.patches[:4]]  # one kernel copy per input pixel, stride 2 apart
    assert [(round(u), round(v)) for u, v in footprints] == [(0, 0), (2, 0), (0, 2), (2, 2)]
    np.testing.assert_allclose(output.images[0].get_array(), viz.transposed_conv2d(x, kernel, 2, 1))
    assert output.images[0].get_array().shape == (4, 4) and "1 cropped per side" in output.get_title()


def test_the_checkerboard_figure_draws_each_output_and_its_unevenness():
    fig = viz.plot_checkerboard([("k3 s2", np.ones((3, 3)), 2, 0), ("bilinear", right_bilinear(4), 2, 1)])
    uneven, even = fig.axes
    np.testing.assert_array_equal(uneven.images[0].get_array(), viz.transposed_conv2d(np.ones((6, 6)),
                                                                                      np.ones((3, 3)), 2))
    assert set(np.unique(uneven.images[0].get_array()[3:-3, 3:-3])) == {1, 2, 4}  # 1, 2 or 4 copies overlap
    assert "interior max/min = 4.00" in uneven.get_title() and "interior max/min = 1.00" in even.get_title()


def test_compare_outlines_draws_masks_scores_and_the_true_outline_on_predictions_only():
    masks = np.zeros((2, 16, 16), np.int64)
    masks[:, 4:10, 4:10] = 1
    images = np.random.default_rng(2).uniform(size=(2, 16, 16, 3))
    fig = viz.compare_outlines(images, masks, {"a": masks, "b": np.zeros_like(masks)}, viz.palette(2),
                               ["background", "square"], scores={"a": [1, 0.5], "b": [0, 0]})
    image, truth, a, b = fig.axes[4:8]  # the second row
    np.testing.assert_array_equal(image.images[0].get_array(), images[1])
    np.testing.assert_array_equal(truth.images[0].get_array(), viz.colorize_mask(masks[1], viz.palette(2)))
    assert (b.images[0].get_array() == 0).all()
    assert [t.get_text() for t in a.texts] == ["BF1 0.50"] and [t.get_text() for t in b.texts] == ["BF1 0.00"]
    assert not truth.collections and len(a.collections) == len(b.collections) == 1  # the true outline
    outline = a.collections[0].get_paths()[0].vertices  # half-way between the square's pixels and the next
    assert outline.min(axis=0).tolist() == [3.5, 3.5] and outline.max(axis=0).tolist() == [9.5, 9.5]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["background", "square", "true outline"]


def test_stack_prediction_left_as_the_student_stub_is_not_answered():
    with pytest.raises(ExerciseFailed, match="not answered yet"):
        exercises.check_stack_prediction(...)


def test_compare_outlines_keeps_the_image_frame_and_fits_many_classes():
    masks = np.zeros((1, 12, 12), np.int64)
    masks[0, :5, 7:] = 3  # touches the border: its outline is closed there
    names = [f"class {i}" for i in range(21)]
    fig = viz.compare_outlines(np.zeros((1, 12, 12, 3)), masks, {"model": masks}, viz.palette(21, kind="voc"),
                               names)
    panel = fig.axes[2]
    assert panel.get_xlim() == (-0.5, 11.5) and panel.get_ylim() == (11.5, -0.5)
    assert fig.legends[0]._ncols == 6
