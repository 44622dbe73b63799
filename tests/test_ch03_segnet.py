"""Chapter 3 (SegNet): its checkers accept the right answers and reject plausible wrong ones; its figures draw."""

import matplotlib
import numpy as np
import pytest
import torch
from conftest import assert_rejected_showing_the_case
from torch import nn

from coursekit import exercises, viz
from coursekit.exercises.segnet import SHAPES_QUESTION, segnet_shapes
from coursekit.models import build

matplotlib.use("Agg")


# --- pooling and unpooling ---------------------------------------------------------------

def good_pool(x):
    values, indices = nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x)[None, None])
    return values[0, 0].numpy(), indices[0, 0].numpy()


def good_unpool(values, indices, shape):
    out = np.zeros(shape)
    out.flat[indices.ravel()] = values.ravel()
    return out


def pool_with_swapped_axes(x):  # flat index computed with the height where the width belongs
    values, indices = good_pool(x)
    rows, columns = np.divmod(indices, x.shape[1])
    return values, rows * x.shape[0] + columns


def pool_with_window_positions(x):  # the position inside the 2×2 window (0..3), not in the map
    values, indices = good_pool(x)
    rows, columns = np.divmod(indices, x.shape[1])
    return values, (rows % 2) * 2 + columns % 2


def unpool_nearest(values, indices, shape):
    return np.kron(values, np.ones((2, 2)))


def unpool_swapped_axes(values, indices, shape):
    out = np.zeros(shape)
    rows, columns = np.divmod(indices, shape[0])
    out[rows.ravel() % shape[0], columns.ravel() % shape[1]] = values.ravel()
    return out


def unpool_ignoring_shape(values, indices, shape):
    return good_unpool(values, indices, (2 * values.shape[0], 2 * values.shape[1]))


def test_right_answers_pass():
    assert exercises.check_max_pool_with_indices(good_pool).cases >= 5
    assert exercises.check_max_unpool(good_unpool).cases >= 5


WRONG = {
    "pool, row and column swapped": (exercises.check_max_pool_with_indices, pool_with_swapped_axes),
    "pool, position inside the window": (exercises.check_max_pool_with_indices, pool_with_window_positions),
    "pool, min instead of max": (exercises.check_max_pool_with_indices, lambda x: good_pool(-x)),
    "unpool, nearest up-sampling": (exercises.check_max_unpool, unpool_nearest),
    "unpool, row and column swapped": (exercises.check_max_unpool, unpool_swapped_axes),
    "unpool, twice the pooled size": (exercises.check_max_unpool, unpool_ignoring_shape),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_plausible_wrong_answers_are_rejected_with_the_failing_input(case):
    checker, answer = WRONG[case]
    assert_rejected_showing_the_case(checker, answer)


def test_pooling_that_returns_one_array_is_told_to_return_a_pair():
    with pytest.raises(exercises.ExerciseFailed, match="pair"):
        exercises.check_max_pool_with_indices(lambda x: good_pool(x)[0])


def test_an_unanswered_exercise_says_so():
    def stub(*args):
        raise NotImplementedError

    for checker in (exercises.check_max_pool_with_indices, exercises.check_max_unpool,
                    exercises.check_vgg_segnet_fix):
        with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
            checker(stub)


def test_the_figures_pooling_agrees_with_both_frameworks():
    from coursekit.models.keras.segnet import MaxPoolingWithArgmax, MaxUnpooling2D

    x = np.random.default_rng(0).normal(size=(6, 10)).astype(np.float32)
    values, indices = viz.segnet.pool_with_indices(x)
    torch_values, torch_indices = good_pool(x)
    np.testing.assert_array_equal(values, torch_values)
    np.testing.assert_array_equal(indices, torch_indices)
    unpooled = viz.segnet.unpool(values, indices, x.shape)
    torch_unpooled = nn.MaxUnpool2d(2)(torch.from_numpy(torch_values)[None, None],
                                       torch.from_numpy(torch_indices)[None, None])
    np.testing.assert_array_equal(unpooled, torch_unpooled[0, 0].numpy())
    keras_values, argmax = MaxPoolingWithArgmax()(x[None, :, :, None])
    np.testing.assert_array_equal(MaxUnpooling2D()([keras_values, argmax]).numpy()[0, :, :, 0], unpooled)


# --- predict a shape ---------------------------------------------------------------------

RIGHT_SHAPES = {"indices": (2, 256, 28, 40), "unpooled": (2, 256, 56, 80), "output": (2, 21, 224, 320)}


def test_the_shapes_answer_passes():
    assert exercises.check_segnet_shapes(RIGHT_SHAPES).cases == 3


@pytest.mark.parametrize("pool", [1, 2, 3, 4, 5])
def test_the_reference_shapes_are_the_real_models(pool):
    """The checker works its answer out from the architecture; here the real SegNet runs (on the meta device)."""
    q = SHAPES_QUESTION
    caught = {}
    with torch.device("meta"):
        model = build("segnet", "torch", num_classes=q["num_classes"])
        poolings = [layer for layer in model.features if isinstance(layer, nn.MaxPool2d)]

        def keep_indices(module, inputs, output):
            caught["indices"] = tuple(output[1].shape)

        def keep_decoder_input(module, inputs):
            caught["unpooled"] = tuple(inputs[0].shape)

        poolings[pool - 1].register_forward_hook(keep_indices)
        model.decoder[f"stage{pool}"].register_forward_pre_hook(keep_decoder_input)
        caught["output"] = tuple(model(torch.zeros(q["batch"], 3, q["height"], q["width"])).shape)
    assert caught == segnet_shapes(**q, pool=pool)


@pytest.mark.parametrize("wrong, says", [
    ({**RIGHT_SHAPES, "indices": (2, 28, 40, 256)}, "channels come second"),
    ({**RIGHT_SHAPES, "unpooled": (2, 256, 80, 56)}, "swapped"),
    ({**RIGHT_SHAPES, "indices": (2, 128, 56, 80)}, "wrong channels and height and width"),
    ({**RIGHT_SHAPES, "output": (21, 224, 320)}, "four axes"),
    ({**RIGHT_SHAPES, "unpooled": (2, 512, 56, 80)}, "wrong channels"),
])
def test_wrong_shapes_are_named_without_the_answer(wrong, says):
    with pytest.raises(exercises.ExerciseFailed, match=says) as failure:
        exercises.check_segnet_shapes(wrong)
    for shape in RIGHT_SHAPES.values():
        assert str(shape) not in str(failure.value)


def test_a_shapes_answer_missing_a_key_is_told_which():
    with pytest.raises(exercises.ExerciseFailed, match="output"):
        exercises.check_segnet_shapes({k: v for k, v in RIGHT_SHAPES.items() if k != "output"})


# --- the seed's bug ----------------------------------------------------------------------

def seed_like(resampling, end=None):
    """The notebook's seed VGG-SegNet with the decoder's five resampling layers given: "up", "pool" or "transpose"."""
    import keras
    from keras import layers

    def builder(input_shape, n_classes, width):
        def conv_bn_relu(x, filters):
            x = layers.Conv2D(filters, 3, padding="same")(x)
            return layers.Activation("relu")(layers.BatchNormalization()(x))

        w = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        inputs = keras.Input(input_shape)
        x = inputs
        for filters, convs in zip(w, (2, 2, 3, 3, 3)):
            for _ in range(convs):
                x = conv_bn_relu(x, filters)
            x = layers.MaxPooling2D(2)(x)
        stages = ((w[4], w[4], w[4]), (w[4], w[4], w[2]), (w[2], w[2], w[1]), (w[1], w[0]), (w[0],))
        for kind, widths in zip(resampling, stages):
            if kind == "up":
                x = layers.UpSampling2D(2)(x)
            elif kind == "pool":
                x = layers.MaxPooling2D(2, padding="same")(x)
            else:
                x = layers.Conv2DTranspose(x.shape[-1], 2, strides=2)(x)
            for filters in widths:
                x = conv_bn_relu(x, filters)
        x = layers.BatchNormalization()(layers.Conv2D(n_classes, 1)(x))
        if end == "resize":
            x = layers.Resizing(*input_shape[:2], interpolation="nearest")(x)
        return keras.Model(inputs, layers.Activation("softmax")(x))

    return builder


SEED = ("up", "pool", "up", "pool", "pool")


def test_the_fixed_seed_passes():
    assert exercises.check_vgg_segnet_fix(seed_like(("up",) * 5)).cases == 3


@pytest.mark.parametrize("builder, says", [
    (seed_like(SEED), "the output is"),
    (seed_like(("up", "up", "up", "pool", "up")), "the output is"),                  # one pooling left
    (seed_like(("up", "transpose", "up", "transpose", "transpose")), "parameters"),  # learned up-sampling
    (seed_like(SEED, end="resize"), "wrong resolution"),                             # resized at the end
])
def test_wrong_fixes_are_rejected(builder, says):
    with pytest.raises(exercises.ExerciseFailed, match=says):
        exercises.check_vgg_segnet_fix(builder)


def test_the_seed_as_printed_has_the_right_count_and_8x8_scores():
    """The design's fact, on the notebook's re-creation (built, never run)."""
    from coursekit.models import count_params

    seed = seed_like(SEED)((512, 512, 3), 21, 64)
    assert tuple(seed.output.shape[1:]) == (8, 8, 21)
    assert count_params(seed, trainable_only=False) == 29_460_329


# --- figures -------------------------------------------------------------------------------

def test_the_unpooling_figure_draws_five_grids_with_numbers():
    fig = viz.plot_unpooling()
    grids = [ax for ax in fig.axes if ax.images]
    assert len(grids) == 5
    texts = [t.get_text() for t in grids[3].texts]  # the unpooled map: the four maxima and twelve zeros
    assert sorted(texts) == sorted(["6", "4", "5", "8"] + ["0"] * 12)
    assert sorted(t.get_text() for t in grids[4].texts) == sorted(["6", "4", "5", "8"] * 4)
    matplotlib.pyplot.close(fig)


def test_the_unpooling_figure_refuses_odd_sides():
    with pytest.raises(ValueError, match="even"):
        viz.plot_unpooling(np.ones((3, 4)))


def test_the_memory_figure_draws_a_bar_per_row_and_refuses_empty_sizes():
    fig = viz.plot_decoder_memory([("a", 2**20), ("b", 2**10)])
    assert len(fig.axes[0].patches) == 2
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="positive"):
        viz.plot_decoder_memory([("a", 0)])


def test_compare_decoders_draws_the_true_outline_over_each_prediction_and_scores_it():
    from coursekit.data import shapes

    data = shapes(2, size=32, seed=0)
    wrong = np.zeros_like(data.masks)
    fig = viz.compare_decoders(data.images, data.masks, {"right": data.masks, "background": wrong},
                               data.palette, data.classes)
    titles = [ax.get_title() for ax in fig.axes]
    assert "right\nboundary F1 1.00" in titles and any(t.startswith("background") for t in titles)
    predictions = [ax for ax in fig.axes if len(ax.images) == 2]  # the prediction, and the outline over it
    assert len(predictions) == 4
    outline = predictions[0].images[1].get_array()
    assert outline[..., 3].any() and (outline[..., 3] > 0).sum() < outline[..., 3].size / 2
    matplotlib.pyplot.close(fig)


# --- median frequency balancing ----------------------------------------------------------------------------

def balancing_weights(masks, num_classes, ignore_index, *, all_images=False, count_void=False, invert=False):
    """The exercise's answer, and (by its switches) three plausible wrong ones."""
    counts, exposure = np.zeros(num_classes), np.zeros(num_classes)
    for image in masks:
        labels = image.ravel() if count_void else image[image != ignore_index]
        here = np.bincount(labels[labels != ignore_index], minlength=num_classes)
        counts += here
        exposure += labels.size if all_images else np.where(here > 0, labels.size, 0)
    frequency = counts / exposure
    return frequency / np.median(frequency) if invert else np.median(frequency) / frequency


def test_median_frequency_weights_right_and_wrong():
    assert exercises.check_median_frequency_weights(balancing_weights).cases == 4
    for wrong in ({"all_images": True}, {"count_void": True}, {"invert": True}):
        with pytest.raises(exercises.ExerciseFailed, match="expected"):
            exercises.check_median_frequency_weights(lambda *a, w=wrong: balancing_weights(*a, **w))


# --- Build it: a SegNet decoder stage, in both frameworks --------------------------------------------------


def decoder_stage_builder(framework, *, indices=True, order="unpool first", batch_norm=True, bias=True,
                          last_relu=True, epsilon=1e-5):
    """``decoder_stage(in_channels, widths)`` with one plausible mistake chosen by the keywords; none: the solution."""
    if framework == "torch":
        import torch.nn.functional as F

        class DecoderStage(nn.Module):
            def __init__(self, in_channels, widths):
                super().__init__()
                self.unpool = nn.MaxUnpool2d(2, 2)
                layers = []
                for position, width in enumerate(widths):
                    layers.append(nn.Conv2d(in_channels, width, 3, padding=1, bias=bias))
                    if batch_norm:
                        layers.append(nn.BatchNorm2d(width, eps=epsilon))
                    if last_relu or position < len(widths) - 1:
                        layers.append(nn.ReLU())
                    in_channels = width
                self.convs = nn.Sequential(*layers)

            def forward(self, x, where):
                if order == "convolve first":
                    return self.unpool(self.convs(x), where)
                if not indices:
                    return self.convs(F.interpolate(x, scale_factor=2, mode="nearest"))
                return self.convs(self.unpool(x, where))

        return DecoderStage

    import keras
    from keras import layers

    from coursekit.models.keras.segnet import MaxUnpooling2D

    def decoder_stage(in_channels, widths):
        values = keras.Input((None, None, in_channels))
        argmax = keras.Input((None, None, in_channels), dtype="int64")
        first = order == "convolve first"
        x = values if first else MaxUnpooling2D()([values, argmax]) if indices else layers.UpSampling2D(2)(values)
        for position, width in enumerate(widths):
            x = layers.Conv2D(width, 3, padding="same", use_bias=bias)(x)
            if batch_norm:
                x = layers.BatchNormalization(epsilon=epsilon)(x)
            if last_relu or position < len(widths) - 1:
                x = layers.ReLU()(x)
        return keras.Model([values, argmax], MaxUnpooling2D()([x, argmax]) if first else x)

    return decoder_stage


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_decoder_stage_solution_passes_for_all_five_stages_on_two_image_sizes(framework):
    assert exercises.check_segnet_decoder_stage(decoder_stage_builder(framework), framework).cases == 10


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("mistake, says", [
    ({"indices": False}, "this is nearest-neighbour up-sampling followed by the right convolutions"),
    ({"batch_norm": False}, "the block does not hold the weights it should"),
    ({"bias": False}, "the block does not hold the weights it should"),
    ({"last_relu": False}, "the output has negative values"),
    ({"epsilon": 1e-3}, "nearly: the output differs from SegNet's"),
])
def test_the_decoder_stage_checker_names_each_plausible_mistake(framework, mistake, says):
    with pytest.raises(exercises.ExerciseFailed, match=says):
        exercises.check_segnet_decoder_stage(decoder_stage_builder(framework, **mistake), framework)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_decoder_stage_checker_tells_convolving_before_unpooling(framework):
    says = r"(?s)is wrong: the convolutions ran before the unpooling.*stage5"
    with pytest.raises(exercises.ExerciseFailed, match=says):
        exercises.check_segnet_decoder_stage(decoder_stage_builder(framework, order="convolve first"), framework)


def test_the_decoder_stage_checker_tells_a_forgotten_unpooling():
    class NoUnpooling(nn.Module):
        def __init__(self, in_channels, widths):
            super().__init__()
            self.inner = decoder_stage_builder("torch")(in_channels, widths)

        def forward(self, x, where):
            return self.inner.convs(x)

    with pytest.raises(exercises.ExerciseFailed, match="the output has the input's height and width"):
        exercises.check_segnet_decoder_stage(NoUnpooling, "torch")


def test_the_decoder_stage_left_as_the_student_stub_is_not_answered():
    def decoder_stage(in_channels, widths):
        raise NotImplementedError

    with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
        exercises.check_segnet_decoder_stage(decoder_stage, "torch")


def test_without_keras_the_fix_is_not_checked_and_says_why(tmp_path):
    """A PyTorch-only install cannot build the tutorial's Keras model: the checker says so instead of failing."""
    import os
    import subprocess
    import sys

    from conftest import hide_other_framework

    code = ("from coursekit import exercises\n"
            "result = exercises.check_vgg_segnet_fix(lambda *case: None)\n"
            "assert isinstance(result, exercises.NotChecked), result\n"
            "print(repr(result))\n")
    result = subprocess.run([sys.executable, "-c", code], env=hide_other_framework(dict(os.environ), "torch"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not checked here" in result.stdout and "Keras is not installed" in result.stdout
