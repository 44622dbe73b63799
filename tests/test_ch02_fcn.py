"""Chapter 2 (FCN): its checkers accept right answers and reject plausible wrong ones;
its figures show what they claim to."""

import re

import numpy as np
import pytest
import torch
from conftest import ROOT

from coursekit import exercises, viz
from coursekit.exercises import ExerciseFailed
from coursekit.exercises.fcn import PREDICTION_STACK
from coursekit.models.common import bilinear_kernel as coursekit_bilinear_kernel

# ---------------------------------------------------------------------------
# bilinear up-sampling weights


def right_bilinear(size):
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - np.abs(np.arange(size) - centre) / factor
    return np.outer(taps, taps)


def right_bilinear_weights(channels, factor, layout):
    weights = np.zeros((channels, channels, 2 * factor, 2 * factor))
    weights[np.arange(channels), np.arange(channels)] = right_bilinear(2 * factor)
    return weights if layout == "torch" else weights.transpose(2, 3, 1, 0)


def test_the_bilinear_weights_checker_accepts_the_right_weights_and_coursekit_agrees():
    assert "hidden cases pass" in repr(exercises.check_bilinear_weights(right_bilinear_weights))
    exercises.check_bilinear_weights(lambda c, f, layout: coursekit_bilinear_kernel(c, 2 * f) if layout == "torch"
                                     else coursekit_bilinear_kernel(c, 2 * f).transpose(2, 3, 1, 0))


@pytest.mark.parametrize("wrong, says", [
    (lambda c, f, layout: right_bilinear_weights(c, f, "torch"), "k × k × out × in"),       # torch layout for Keras
    (lambda c, f, layout: np.broadcast_to(right_bilinear_weights(1, f, layout), right_bilinear_weights(c, f, layout)
                                          .shape), "off the diagonal is 0"),                  # every pair of channels
    (lambda c, f, layout: right_bilinear_weights(c, f, layout) / (2 * f) ** 2, "bilinear_weights"),  # normalised
    (lambda c, f, layout: right_bilinear_weights(c, f, layout)[..., ::2, ::2] if layout == "torch"
     else right_bilinear_weights(c, f, layout), "bilinear_weights"),                          # kernel f, not 2f
])
def test_the_bilinear_weights_checker_rejects_plausible_mistakes(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
        exercises.check_bilinear_weights(wrong)


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
    def right(size, kernel, stride, padding=0, output_padding=0, dilation=1):
        return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1

    exercises.check_transposed_output_size(right)

    def from_torch(size, kernel, stride, padding=0, output_padding=0, dilation=1):
        layer = torch.nn.ConvTranspose1d(1, 1, kernel, stride=stride, padding=padding, output_padding=output_padding,
                                         dilation=dilation)
        return layer(torch.zeros(1, 1, size)).shape[-1]

    exercises.check_transposed_output_size(from_torch)


@pytest.mark.parametrize("wrong", [
    lambda size, kernel, stride, padding=0, output_padding=0, dilation=1:
        size * stride - 2 * padding + kernel + output_padding,                                  # the port's bug
    lambda size, kernel, stride, padding=0, output_padding=0, dilation=1:
        (size - 1) * stride - 2 * padding + kernel + output_padding,                            # dilation ignored
    lambda size, kernel, stride, padding=0, output_padding=0, dilation=1:
        (size - 1) * stride - 2 * padding + dilation * kernel + output_padding,                 # dilation times k
    lambda size, kernel, stride, padding=0, output_padding=0, dilation=1:
        (size - 1) * stride - padding + dilation * (kernel - 1) + output_padding + 1,           # padding once
])
def test_transposed_size_checker_rejects_plausible_mistakes(wrong):
    with pytest.raises(ExerciseFailed, match="transposed_output_size"):
        exercises.check_transposed_output_size(wrong)


# ---------------------------------------------------------------------------
# fully connected layer as a convolution


def right_linear_to_conv(weight, channels, size, layout):
    if layout == "torch":
        return weight.reshape(len(weight), channels, size, size)
    return weight.reshape(size, size, channels, weight.shape[1])


def test_linear_to_conv_checker_accepts_both_layouts_and_they_are_right():
    exercises.check_linear_to_conv(right_linear_to_conv)
    linear = torch.nn.Linear(3 * 4 * 4, 5)
    conv = torch.nn.Conv2d(3, 5, 4)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(right_linear_to_conv(linear.weight.numpy(), 3, 4, "torch")))
        conv.bias.copy_(linear.bias)
        x = torch.rand(2, 3, 4, 4)
        assert torch.allclose(linear(x.flatten(1)), conv(x).flatten(1), atol=1e-6)
    # Keras' order by hand: a Dense kernel reading a flattened H×W×C map, as a H×W×C×out convolution kernel
    kernel = np.random.default_rng(0).normal(size=(4 * 4 * 3, 5))
    x = np.random.default_rng(1).normal(size=(4, 4, 3))
    conv_kernel = right_linear_to_conv(kernel, 3, 4, "keras")
    np.testing.assert_allclose(x.reshape(-1) @ kernel, np.einsum("hwc,hwco->o", x, conv_kernel))


@pytest.mark.parametrize("wrong, says", [
    (lambda w, c, s, layout: right_linear_to_conv(w, c, s, "torch") if layout == "torch"
     else w.T.reshape(w.shape[1], c, s, s), "size × size × channels × out"),              # torch's code for Keras
    (lambda w, c, s, layout: right_linear_to_conv(w, c, s, "torch") if layout == "torch"
     else w.reshape(c, s, s, w.shape[1]).transpose(1, 2, 0, 3), "numbers sit in the wrong places"),  # channel-first
    (lambda w, c, s, layout: w.reshape(len(w), s, s, c).transpose(0, 3, 1, 2) if layout == "torch"
     else right_linear_to_conv(w, c, s, "keras"), "numbers sit in the wrong places"),     # Keras' order for torch
])
def test_linear_to_conv_checker_rejects_plausible_mistakes(wrong, says):
    with pytest.raises(ExerciseFailed, match=says):
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


def test_compare_outlines_can_put_the_models_down_and_the_images_across():
    masks = np.zeros((3, 16, 16), np.int64)
    masks[:, 4:10, 4:10] = 1
    masks[2, 0, 0] = 1
    images = np.random.default_rng(3).uniform(size=(3, 16, 16, 3))
    predictions = {"a": masks, "b": np.zeros_like(masks), "c": 1 - masks}
    fig = viz.compare_outlines(images, masks, predictions, viz.palette(2), ["background", "square"],
                               scores={n: [0.1, 0.2, 0.3] for n in predictions}, models_down=True)
    grid = np.array(fig.axes[:15]).reshape(5, 3)  # a row per panel, a column per image
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["image", "truth", "a", "b", "c"]
    assert all(ax.get_ylabel() == "" for ax in grid[:, 1:].ravel())
    np.testing.assert_array_equal(grid[0, 2].images[0].get_array(), images[2])
    np.testing.assert_array_equal(grid[4, 2].images[0].get_array(), viz.colorize_mask(1 - masks[2], viz.palette(2)))
    assert [t.get_text() for t in grid[3, 1].texts] == ["BF1 0.20"]


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


# --- Chapter 2 on CamVid ----------------------------------------------------------------------------------


def test_the_fcn_camvid_row_matches_chapter_three_as_the_chapters_say():
    """Chapters 2 and 3 say their CamVid runs use the same frames at the same size (so their scores compare),
    and chapter 2 that FCN-32s scores a quick frame on a 4×5 grid: sizes 32 divides."""
    from coursekit import profiles

    for profile in profiles.PROFILES:
        fcn, segnet = profiles.TABLE["fcn_camvid"][profile], profiles.TABLE["segnet_camvid"][profile]
        assert fcn.image_shape == segnet.image_shape
        assert (fcn.train_images, fcn.val_images) == (segnet.train_images, segnet.val_images) == (367, 233)
        assert all(side % 32 == 0 for side in fcn.image_shape)
    height, width = profiles.TABLE["fcn_camvid"]["quick"].image_shape
    assert (height // 32, width // 32) == (4, 5)
    chapter = (ROOT / "notebooks" / "02_fcn.md").read_text()
    assert 'run.settings("fcn_camvid")' in chapter and "4×5 cells" in chapter
    assert 'loss="cross_entropy", epochs=road.epochs' in chapter  # plain cross-entropy, as chapter 3's SegNet
    assert 'loss="cross_entropy", epochs=camvid.epochs' in (ROOT / "notebooks" / "03_segnet.md").read_text()


# --- Build it: FCN-8s's fusion of scores, in both frameworks ---------------------------------------------

FUSION_LAYERS = ("upscore2", "upscore_pool4", "final_upscore")
ANSWER_CODE = re.compile(r"\[(\.\.\.|:) *,|\w\((score|up)|\+ *score")  # the answer's slice, calls, sums


def fuse_fcn8s_solution(framework):
    """The chapter's hidden solution, with ``framework`` for the chapter's ``run.framework``."""
    def fuse_fcn8s(model, score_fr, score_pool4, score_pool3, size):
        """FCN-8s's fusion: the model's own up-samplings, its two skips, and the crop to `size`."""
        names = ("upscore2", "upscore_pool4", "final_upscore")
        if framework == "torch":
            upscore2, upscore_pool4, final_upscore = (getattr(model, name) for name in names)
        else:
            upscore2, upscore_pool4, final_upscore = (model.get_layer(name) for name in names)
        scores = upscore2(score_fr) + score_pool4       # stride 32 -> 16
        scores = upscore_pool4(scores) + score_pool3    # stride 16 -> 8
        scores = final_upscore(scores)                  # stride 8 -> 1: the padded image
        height, width = size
        if framework == "torch":
            return scores[:, :, :height, :width]
        return scores[:, :height, :width, :]
    return fuse_fcn8s


def bilinear_resize(framework, factor):
    """Fixed bilinear interpolation ×``factor``: what a student may use instead of the model's layers."""
    if framework == "torch":
        return lambda x: torch.nn.functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    import keras

    return lambda x: keras.ops.image.resize(x, (x.shape[1] * factor, x.shape[2] * factor), interpolation="bilinear")


def fuse_fcn8s_mistaken(framework, *, crop="top-left", skips=("pool4", "pool3"), resize=(), swap=False,
                        pool3_first=False, layer="final_upscore"):
    """A fusion with one plausible mistake, chosen by the keywords; with none it is the solution."""
    def fuse_fcn8s(model, score_fr, score_pool4, score_pool3, size):
        get = (lambda name: getattr(model, name)) if framework == "torch" else model.get_layer
        up = {name: bilinear_resize(framework, 8 if name == "final_upscore" else 2) if name in resize
              else get(layer if name == "final_upscore" else name) for name in FUSION_LAYERS}
        if swap:
            up["upscore2"], up["upscore_pool4"] = up["upscore_pool4"], up["upscore2"]
        first, second = (score_pool3, score_pool4) if pool3_first else (score_pool4, score_pool3)
        scores = up["upscore2"](score_fr)
        if "pool4" in skips:
            scores = scores + first
        scores = up["upscore_pool4"](scores)
        if "pool3" in skips:
            scores = scores + second
        scores = up["final_upscore"](scores)
        if crop is None:
            return scores
        if crop == "resize":
            if framework == "torch":
                return torch.nn.functional.interpolate(scores, size=size, mode="bilinear", align_corners=False)
            import keras

            return keras.ops.image.resize(scores, size, interpolation="bilinear")
        height, width = size
        padded_height, padded_width = (scores.shape[-2:] if framework == "torch" else scores.shape[1:3])
        top, left = (0, 0) if crop == "top-left" else ((padded_height - height) // 2, (padded_width - width) // 2)
        if framework == "torch":
            return scores[:, :, top:top + height, left:left + width]
        return scores[:, top:top + height, left:left + width, :]
    return fuse_fcn8s


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_fcn8s_fusion_solution_passes_and_so_does_a_fusion_written_another_way(framework):
    assert exercises.check_fcn8s_fusion(fuse_fcn8s_solution(framework), framework).cases == 3
    assert exercises.check_fcn8s_fusion(fuse_fcn8s_mistaken(framework), framework).cases == 3

    def linear_pieces(model, score_fr, score_pool4, score_pool3, size):
        """The up-samplings have no bias, so each term may be up-sampled on its own and the results added."""
        layer = (lambda name: getattr(model, name)) if framework == "torch" else model.get_layer
        up2, up_pool4, up8 = (layer(name) for name in FUSION_LAYERS)
        scores = up8(up_pool4(up2(score_fr))) + up8(up_pool4(score_pool4)) + up8(score_pool3)
        return scores[..., :size[0], :size[1]] if framework == "torch" else scores[:, :size[0], :size[1]]

    assert exercises.check_fcn8s_fusion(linear_pieces, framework).cases == 3


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_fcn8s_fusion_solution_is_what_the_model_computes_from_an_image(framework):
    """The premise of the exercise, checked without the checker: on a real forward pass (an image of a size
    that 32 does not divide), the solution applied to the model's own score maps gives the model's output."""
    from coursekit.models import build

    image = np.random.default_rng(5).uniform(size=(2, 3, 45, 70)).astype(np.float32)
    model = build("fcn8s", framework, num_classes=4, width=2)
    names = ("score_fr", "score_pool4", "score_pool3")
    if framework == "torch":
        maps = {}
        hooks = [getattr(model, name).register_forward_hook(lambda module, args, output, name=name:
                                                            maps.setdefault(name, output)) for name in names]
        with torch.no_grad():
            logits = model.eval()(torch.from_numpy(image))
            fused = fuse_fcn8s_solution("torch")(model, *(maps[name] for name in names), (45, 70))
        for hook in hooks:
            hook.remove()
        logits, fused = logits.numpy(), fused.numpy()
    else:
        import keras

        probe = keras.Model(model.input, [model.get_layer(name).output for name in names] + [model.output])
        *maps, logits = probe(image.transpose(0, 2, 3, 1))
        fused = keras.ops.convert_to_numpy(fuse_fcn8s_solution("keras")(model, *maps, (45, 70)))
        logits = keras.ops.convert_to_numpy(logits)
    assert fused.shape == logits.shape and np.abs(logits).max() > 0
    np.testing.assert_allclose(fused, logits, atol=1e-5)


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("mistake, says", [
    ({"crop": None}, r"is wrong: the scores have the padded image's size \(the scores themselves are right\)"),
    ({"crop": "centre"}, "is wrong: the crop keeps another part .* on which sides did the model pad"),
    ({"skips": ("pool4",)}, "is wrong: score_pool3 was never added: this is FCN-16s's fusion"),
    ({"skips": ("pool3",)}, "is wrong: score_pool4 was never added"),
    ({"skips": ()}, "is wrong: neither skip was added"),
    ({"resize": ("upscore2", "upscore_pool4")},
     "is wrong: the model's upscore2 was never called: .*learned layers .* a fixed interpolation gives other"),
    ({"resize": ("final_upscore",)}, "is wrong: the model's final_upscore was never called"),
    ({"swap": True}, "is wrong: the model's upscore2 was applied to a 4×6 map, the grid of score_pool4: "
                     "each up-sampling has its own place"),
    ({"crop": "resize"}, r"is wrong: the scores differ from the model's by up to \d.* though each up-sampling "
                         r"was applied to a map of the right grid: .*cropped \(not resized\)"),
    ({"layer": "upscore8"}, r"hidden case 1 of 3 raised \w+(.|\n)*input:(.|\n)*the model is a (torch|keras)\.\S+: "
                            r"(its layers are its attributes|its get_layer method)"),
    ({"pool3_first": True}, r"hidden case 1 of 3 raised \w+(.|\n)*input:(.|\n)*grids 32, 16 and 8 times coarser "
                            r"than the padded image \(score_fr 2×3, score_pool4 4×6, score_pool3 8×12\)"),
])
def test_the_fcn8s_fusion_checker_names_each_plausible_mistake_without_the_answer(framework, mistake, says):
    with pytest.raises(ExerciseFailed, match="fuse_fcn8s: hidden case 1 of 3") as failure:
        exercises.check_fcn8s_fusion(fuse_fcn8s_mistaken(framework, **mistake), framework)
    report = str(failure.value)
    assert re.search(says, report), report
    assert "input: the score maps of a batch of 2 images of 45×70 pixels (padded inside the model to 64×96)" in report
    assert not ANSWER_CODE.search(report), report


def test_the_fcn8s_fusion_checker_shows_the_shapes_in_the_frameworks_layout():
    with pytest.raises(ExerciseFailed, match=r"score_fr: shape \(2, 2, 3, 3\)(.|\n)*expected: shape \(2, 45, 70, 3\)"):
        exercises.check_fcn8s_fusion(fuse_fcn8s_mistaken("keras", crop=None), "keras")
    with pytest.raises(ExerciseFailed, match=r"score_fr: shape \(2, 3, 2, 3\)(.|\n)*expected: shape \(2, 3, 45, 70\)"):
        exercises.check_fcn8s_fusion(fuse_fcn8s_mistaken("torch", crop=None), "torch")


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_fcn8s_fusion_left_as_the_student_stub_is_not_answered(framework):
    def fuse_fcn8s(model, score_fr, score_pool4, score_pool3, size):
        raise NotImplementedError

    with pytest.raises(ExerciseFailed, match="fuse_fcn8s: not answered yet"):
        exercises.check_fcn8s_fusion(fuse_fcn8s, framework)


def test_the_fcn8s_fusion_checker_refuses_an_unknown_framework_and_an_answer_that_is_not_a_tensor():
    with pytest.raises(ValueError, match="run.framework"):
        exercises.check_fcn8s_fusion(fuse_fcn8s_solution("torch"), "jax")
    with pytest.raises(ExerciseFailed, match="is wrong: the scores have the wrong shape"):
        exercises.check_fcn8s_fusion(lambda *args: 0.0, "torch")
