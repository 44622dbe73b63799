"""Chapter 4 (U-Net): its checkers accept right answers and reject plausible wrong ones;
its figures show what they claim to."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from scipy import ndimage  # noqa: E402

from coursekit import exercises, viz  # noqa: E402
from coursekit.models import build  # noqa: E402
from coursekit.profiles import settings_for  # noqa: E402

# --- answers a student might write --------------------------------------------------------


def good_output_size(input_size, depth):
    size = input_size
    for _ in range(depth):
        size -= 4
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= 4
    for _ in range(depth):
        size = 2 * size - 4
    return size if size >= 1 else None


def output_size_without_the_even_check(input_size, depth):
    size = input_size
    for _ in range(depth):
        size = (size - 4) // 2
    size -= 4
    for _ in range(depth):
        size = 2 * size - 4
    return size if size >= 1 else None


def output_size_one_pixel_per_conv(input_size, depth):  # 3×3 valid takes 2 pixels, not 1
    size = input_size
    for _ in range(depth):
        size -= 2
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= 2
    for _ in range(depth):
        size = 2 * size - 2
    return size if size >= 1 else None


def output_size_without_the_bottom(input_size, depth):
    size = input_size
    for _ in range(depth):
        size -= 4
        if size < 2 or size % 2:
            return None
        size //= 2
    for _ in range(depth):
        size = 2 * size - 4
    return size if size >= 1 else None


def good_warp(image, mask, field, mask_order=0, swap=False, mode="mirror"):
    yy, xx = np.indices(image.shape[:2], dtype=np.float64)
    coords = [yy + field[1], xx + field[0]] if swap else [yy + field[0], xx + field[1]]
    warped = np.stack([ndimage.map_coordinates(image[..., c], coords, order=3, mode=mode)
                       for c in range(image.shape[-1])], axis=-1)
    warped_mask = ndimage.map_coordinates(mask, coords, order=mask_order, mode=mode)
    return np.clip(warped, image.min(), image.max()), warped_mask


def good_border_weights(instances, w0=10.0, sigma=5.0, d1_only=False, on_cells=False, square_sigma=True):
    numbers = [n for n in np.unique(instances) if n > 0]
    if len(numbers) < 2:
        return np.zeros(instances.shape)
    distances = np.sort(np.stack([ndimage.distance_transform_edt(instances != n) for n in numbers]), axis=0)
    d1, d2 = distances[0], distances[1]
    total = 2 * d1 if d1_only else d1 + d2
    spread = 2 * sigma**2 if square_sigma else 2 * sigma
    border = w0 * np.exp(-total**2 / spread)
    return border if on_cells else np.where(instances > 0, 0.0, border)


# --- checkers --------------------------------------------------------------------------------


def test_right_answers_pass():
    assert exercises.check_valid_output_size(good_output_size).cases >= 10
    assert exercises.check_valid_unet_shapes((1, 1024, 24, 24), (1, 2, 324, 324)).cases == 2
    assert exercises.check_warp_pair(good_warp).cases >= 5
    assert exercises.check_border_weights(good_border_weights).cases >= 5


WRONG = {
    "output size, odd sizes not refused": (exercises.check_valid_output_size, output_size_without_the_even_check),
    "output size, one pixel per convolution": (exercises.check_valid_output_size, output_size_one_pixel_per_conv),
    "output size, bottom level forgotten": (exercises.check_valid_output_size, output_size_without_the_bottom),
    "warp, mask interpolated bicubically": (exercises.check_warp_pair,
                                            lambda i, m, f: good_warp(i, m, f, mask_order=3)),
    "warp, mask interpolated linearly": (exercises.check_warp_pair,
                                         lambda i, m, f: good_warp(i, m, f, mask_order=1)),
    "warp, field components swapped": (exercises.check_warp_pair, lambda i, m, f: good_warp(i, m, f, swap=True)),
    "warp, zeros outside instead of mirror": (exercises.check_warp_pair,
                                              lambda i, m, f: good_warp(i, m, f, mode="constant")),
    "border weights, nearest cell counted twice": (exercises.check_border_weights,
                                                   lambda x, w0, s: good_border_weights(x, w0, s, d1_only=True)),
    "border weights, on the cells too": (exercises.check_border_weights,
                                         lambda x, w0, s: good_border_weights(x, w0, s, on_cells=True)),
    "border weights, sigma not squared": (exercises.check_border_weights,
                                          lambda x, w0, s: good_border_weights(x, w0, s, square_sigma=False)),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_plausible_wrong_answers_are_rejected_with_the_failing_input(case):
    checker, answer = WRONG[case]
    with pytest.raises(exercises.ExerciseFailed, match="expected|never had") as failure:
        checker(answer)
    assert "input" in str(failure.value) or "never had" in str(failure.value)


@pytest.mark.parametrize("bottom, output, hint", [
    ((1, 24, 24, 1024), (1, 324, 324, 2), "channels last"),
    ((1, 1024, 31, 31), (1, 2, 508, 508), "same-padded"),
    ((1, 512, 24, 24), (1, 2, 324, 324), "count the channels"),
    ((1, 1024, 24, 24), (1, 2, 388, 388), "walk the height"),
])
def test_shape_answers_that_are_wrong_get_a_hint_not_the_answer(bottom, output, hint):
    with pytest.raises(exercises.ExerciseFailed, match=hint) as failure:
        exercises.check_valid_unet_shapes(bottom, output)
    assert "324" not in str(failure.value).replace(str(output), "")


def test_an_unanswered_exercise_says_so():
    def unanswered(*args):
        raise NotImplementedError

    with pytest.raises(exercises.ExerciseFailed, match="not answered"):
        exercises.check_valid_output_size(unanswered)


# --- figures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, size", [("unet", 64), ("unet_bn", 64), ("unet_valid", 188)])
def test_unet_shapes_are_the_same_in_both_frameworks_and_follow_the_paper(name, size):
    shapes = {fw: viz.unet_shapes(build(name, fw, in_channels=1, num_classes=2, width=4), size)
              for fw in ("torch", "keras")}
    assert shapes["torch"] == shapes["keras"]
    s = shapes["torch"]
    assert s.input == (size, size, 1) and s.output[2] == 2 and s.encoder[0][2] == 4 and s.bottom[2] == 64
    if name == "unet_valid":
        assert s.output[:2] == (4, 4) and [s.crop(level) for level in range(4)] == [88, 40, 16, 4]
    else:
        assert s.output[:2] == (size, size) and all(s.crop(level) == 0 for level in range(4))


def test_unet_shapes_of_the_paper_network():
    s = viz.unet_shapes(build("unet_valid", "torch", in_channels=1, num_classes=2, width=64), 572)
    assert s.encoder[0] == (568, 568, 64) and s.bottom == (28, 28, 1024) and s.output == (388, 388, 2)
    assert s.up[0] == (392, 392, 64)


def test_unet_shapes_refuses_other_models():
    with pytest.raises(TypeError, match="U-Net"):
        viz.unet_shapes(object(), 64)


def test_the_u_is_labelled_with_the_shapes_of_the_model_that_was_built():
    shapes = viz.unet_shapes(build("unet_valid", "torch", in_channels=1, num_classes=2, width=4), 188)
    ax = viz.draw_unet(shapes)
    texts = [t.get_text() for t in ax.texts]
    for level in range(4):
        side, _, channels = shapes.encoder[level]
        assert f"{side}²×{channels}" in texts
    assert "4²×64" in texts and "input\n188²×1" in texts and "1×1 conv\n4²×2\n(class scores)" in texts
    assert [t for t in texts if "crop" in t] == ["copy, crop 88 px a side", "copy, crop 40 px a side",
                                                 "copy, crop 16 px a side", "crop 4"]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == 2 * 4 + 1
    encoder_widths = [box.get_width() for box in boxes[:4]]
    assert encoder_widths == sorted(encoder_widths) and encoder_widths[0] < encoder_widths[-1]  # more channels


def test_the_overlap_tile_figure_mirrors_the_image_and_shows_one_tile():
    from coursekit.data.tiling import tile_grid

    image = np.random.default_rng(0).uniform(size=(64, 64, 1)).astype(np.float32)
    left, right = viz.plot_overlap_tile(image, 48, 20, tile=1)
    grid = tile_grid((64, 64), 48, 20)
    padded = np.pad(np.repeat(image, 3, axis=-1), (*grid.padding, (0, 0)), mode="reflect")
    np.testing.assert_array_equal(left.images[0].get_array(), padded)
    y, x = grid.positions[1]
    np.testing.assert_array_equal(right.images[0].get_array(), padded[y:y + 48, x:x + 48])
    frame = left.patches[0]  # the real image inside its mirrored surroundings
    (top, _), (side, _) = grid.padding
    assert frame.get_xy() == (side - 0.5, top - 0.5) and (frame.get_width(), frame.get_height()) == (64, 64)
    assert len(left.patches) == 1 + len(grid.positions) + 2  # frame, output tiles, the input tile and its output


def test_the_weight_map_figure_shows_the_weights_and_one_colour_per_instance():
    instances = np.zeros((8, 8), np.int64)
    instances[1:3, 1:3], instances[5:7, 4:7] = 1, 2
    weights = np.random.default_rng(1).uniform(size=(8, 8))
    axes = viz.plot_weight_map(np.zeros((8, 8)), instances, weights, title="weights")
    np.testing.assert_array_equal(axes[2].images[0].get_array(), weights)
    colours = axes[1].images[0].get_array()
    assert (colours[instances == 0] == 0).all()
    first, second = colours[1, 1], colours[5, 4]
    assert (colours[instances == 1] == first).all() and (colours[instances == 2] == second).all()
    assert first.any() and second.any() and (first != second).any()


def test_the_elastic_figure_warps_image_grid_and_mask_alike():
    rng = np.random.default_rng(2)
    image = rng.uniform(size=(32, 32, 1)).astype(np.float32)
    mask = (image[..., 0] > 0.5).astype(np.int64)
    field = np.stack([np.full((32, 32), 2.0), np.zeros((32, 32))])  # every pixel takes the one two rows down
    axes = viz.plot_elastic(image, mask, field, viz.palette(2), ("background", "thing"), grid_step=8)
    original, deformed = (axes[k].images[0].get_array() for k in (0, 1))
    np.testing.assert_allclose(deformed[:-2], original[2:], atol=1e-5)  # the picture and its grid lines
    mask_before, mask_after = (axes[k].images[0].get_array() for k in (2, 3))
    np.testing.assert_allclose(mask_before, viz.blend(image, mask, viz.palette(2), 0.45, skip_background=False))
    np.testing.assert_allclose(mask_after[:-2], mask_before[2:], atol=1e-5)
    arrows = axes[0].collections[0]
    assert set(arrows.V.ravel().tolist()) == {2.0} and set(arrows.U.ravel().tolist()) == {0.0}


def test_show_errors_draws_the_crop_of_truth_prediction_and_errors():
    rng = np.random.default_rng(3)
    image = rng.uniform(size=(1, 16, 16, 1)).astype(np.float32)
    truth = (rng.uniform(size=(1, 16, 16)) > 0.5).astype(np.int64)
    prediction = 1 - truth
    crop = (slice(2, 10), slice(4, 12))
    colours, classes = viz.palette(2), ("background", "membrane")
    fig = viz.show_errors(image, truth, prediction, 1, "membrane", colours, classes, crop=crop, names=["slice 7"])
    shown = [ax.images[0].get_array() for ax in fig.axes]
    np.testing.assert_allclose(shown[0], viz.blend(image[0][crop], truth[0][crop], colours))
    np.testing.assert_allclose(shown[1], viz.blend(image[0][crop], prediction[0][crop], colours))
    np.testing.assert_allclose(shown[2], viz.error_image(image[0][crop], truth[0][crop], prediction[0][crop], 1))
    assert [ax.get_title() for ax in fig.axes] == ["slice 7: truth", "slice 7: prediction",
                                                  "slice 7: membrane: errors"]


def test_tile_seams_are_red_where_the_tiles_disagree_with_the_whole_image():
    image = np.zeros((32, 32, 1), np.float32)
    whole = np.zeros((32, 32), np.int64)
    tiled = whole.copy()
    tiled[15:17, :] = 1  # the seam between two rows of 16² tiles
    fig = viz.show_tile_seams(image, whole, tiled, whole, 16, 8)
    seams, overlapped = fig.axes
    red = np.isclose(seams.images[0].get_array(), (1.0, 0.1, 0.1)).all(axis=-1)
    assert red.tolist() == (tiled == 1).tolist() and not np.any(overlapped.images[0].get_array())
    assert seams.get_title() == "16² tiles, no overlap: 6.25% of pixels differ"
    assert [line.get_ydata()[0] for line in seams.lines if line.get_ydata()[0] == line.get_ydata()[1]] == [15.5]
    assert "0.00% of pixels differ" in overlapped.get_title()


def test_error_image_colours_each_kind_of_error():
    truth = np.array([[1, 1, 0, 0]])
    prediction = np.array([[1, 0, 1, 0]])
    rgb = viz.error_image(np.zeros((1, 4, 1)), truth, prediction, cls=1, alpha=1.0)
    assert rgb[0, 0, 1] > 0.7 and rgb[0, 1, 2] > 0.9 and rgb[0, 2, 0] > 0.9 and (rgb[0, 3] == 0).all()


def test_profile_row_trains_on_tiles_a_u_net_can_take():
    for profile in ("quick", "full"):
        settings = settings_for("unet", profile)
        assert settings.image_size % 16 == 0  # four poolings


# --- Build it: a decoder level of the paper's U-Net, in both frameworks -----------------------------------


def decoder_level_answer(framework, *, crop="centre", order="up first", resize=False):
    """``decoder_level(x, skip, up, conv1, conv2)`` with one plausible mistake chosen by the keywords."""
    def decoder_level(x, skip, up, conv1, conv2):
        x = up(x)
        if framework == "torch":
            import torch
            import torch.nn.functional as F

            (h, w), (big_h, big_w) = x.shape[-2:], skip.shape[-2:]
        else:
            import keras

            (h, w), (big_h, big_w) = x.shape[1:3], skip.shape[1:3]
        top, left = ((big_h - h) // 2, (big_w - w) // 2) if crop == "centre" else (0, 0)
        if framework == "torch":
            skip = F.interpolate(skip, size=(h, w)) if resize else skip[..., top:top + h, left:left + w]
            parts = [x, skip] if order == "up first" else [skip, x]
            return conv2(conv1(torch.cat(parts, dim=1)))
        skip = keras.ops.image.resize(skip, (h, w)) if resize else skip[:, top:top + h, left:left + w, :]
        parts = [x, skip] if order == "up first" else [skip, x]
        return conv2(conv1(keras.ops.concatenate(parts, axis=-1)))

    return decoder_level


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_decoder_level_solution_passes_on_every_level_and_both_image_shapes(framework):
    assert exercises.check_unet_decoder_level(decoder_level_answer(framework), framework).cases == 8


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("mistake, says", [
    ({"crop": "corner"}, "the skip is cropped at its top-left corner"),
    ({"order": "skip first"}, "the skip comes first in the concatenation"),
    ({"resize": True}, "crop the skip \\(not resize it\\)"),
])
def test_the_decoder_level_checker_names_each_plausible_mistake(framework, mistake, says):
    with pytest.raises(exercises.ExerciseFailed, match=says):
        exercises.check_unet_decoder_level(decoder_level_answer(framework, **mistake), framework)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_a_decoder_level_without_the_crop_is_told_to_crop_the_skip(framework):
    def uncropped(x, skip, up, conv1, conv2):
        x = up(x)
        if framework == "torch":
            import torch

            return conv2(conv1(torch.cat([x, skip], dim=1)))
        import keras

        return conv2(conv1(keras.ops.concatenate([x, skip], axis=-1)))

    with pytest.raises(exercises.ExerciseFailed, match="(?s)raised .*crop it to the up-sampled map's height and width"):
        exercises.check_unet_decoder_level(uncropped, framework)


def test_the_decoder_level_left_as_the_student_stub_is_not_answered():
    def decoder_level(x, skip, up, conv1, conv2):
        raise NotImplementedError

    with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
        exercises.check_unet_decoder_level(decoder_level, "keras")
