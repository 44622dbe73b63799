"""Chapter 6 (Scoring medical segmentation): its checkers accept right answers and reject plausible wrong
ones; its figures show what they claim to; its profile row fits the chapter's split."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import assert_rejected_showing_the_case

from coursekit import exercises, viz  # noqa: E402
from coursekit.profiles import settings_for  # noqa: E402
from coursekit.viz.core import ERROR_COLOURS  # noqa: E402

# --- answers a student might write --------------------------------------------------------


def _dice(t, p):
    size = t.sum() + p.sum()
    return 2 * (t & p).sum() / size if size else float("nan")


def good_dice_pair(targets, predictions, empty=None, pooled_as_mean=False, swapped=False):
    targets, predictions = np.asarray(targets) > 0, np.asarray(predictions) > 0
    scores = np.array([_dice(t, p) for t, p in zip(targets, predictions)])
    if empty is not None:
        scores = np.where(np.isnan(scores), empty, scores)
    defined = scores[~np.isnan(scores)]
    mean = defined.mean() if defined.size else float("nan")
    pooled = mean if pooled_as_mean else _dice(targets, predictions)
    return (pooled, mean) if swapped else (mean, pooled)


def good_split(height, width, tile, stride, val_fraction, seed=0):
    border = width - round(val_fraction * width)
    tops = range(0, height - tile + 1, stride)
    return ([(t, left) for t in tops for left in range(0, border - tile + 1, stride)],
            [(t, left) for t in tops for left in range(border, width - tile + 1, stride)])


def leaky_split(height, width, tile, stride, val_fraction, seed=0):  # the exercise's buggy code
    corners = [(t, left) for t in range(0, height - tile + 1, stride) for left in range(0, width - tile + 1, stride)]
    order = np.random.default_rng(seed).permutation(len(corners))
    count = round(val_fraction * len(corners))
    return [corners[i] for i in order[count:]], [corners[i] for i in order[:count]]


def split_crossing_the_border(height, width, tile, stride, val_fraction, seed=0):
    border = width - round(val_fraction * width)
    tops = range(0, height - tile + 1, stride)
    return ([(t, left) for t in tops for left in range(0, border, stride) if left + tile <= width],
            [(t, left) for t in tops for left in range(border, width - tile + 1, stride)])


def split_validation_on_the_left(height, width, tile, stride, val_fraction, seed=0):
    val_width = round(val_fraction * width)
    tops = range(0, height - tile + 1, stride)
    return ([(t, left) for t in tops for left in range(val_width, width - tile + 1, stride)],
            [(t, left) for t in tops for left in range(0, val_width - tile + 1, stride)])


def split_ignoring_the_stride(height, width, tile, stride, val_fraction, seed=0):
    return good_split(height, width, tile, tile, val_fraction)


# --- the checkers --------------------------------------------------------------------------


def test_right_answers_pass():
    assert exercises.check_dice_per_image_and_pooled(good_dice_pair).cases >= 5
    assert exercises.check_split_tiles(good_split).cases >= 4


WRONG = {
    "empty images score 1": (exercises.check_dice_per_image_and_pooled,
                             lambda t, p: good_dice_pair(t, p, empty=1.0)),
    "empty images score 0": (exercises.check_dice_per_image_and_pooled,
                             lambda t, p: good_dice_pair(t, p, empty=0.0)),
    "pooled is the mean": (exercises.check_dice_per_image_and_pooled,
                           lambda t, p: good_dice_pair(t, p, pooled_as_mean=True)),
    "pair in the wrong order": (exercises.check_dice_per_image_and_pooled,
                                lambda t, p: good_dice_pair(t, p, swapped=True)),
    "the leaky split": (exercises.check_split_tiles, leaky_split),
    "training tiles cross the border": (exercises.check_split_tiles, split_crossing_the_border),
    "validation on the left": (exercises.check_split_tiles, split_validation_on_the_left),
    "stride ignored": (exercises.check_split_tiles, split_ignoring_the_stride),
}


@pytest.mark.parametrize("case", sorted(WRONG))
@pytest.mark.filterwarnings("ignore:invalid value encountered", "ignore:Mean of empty slice")
def test_plausible_wrong_answers_are_rejected_with_the_failing_input(case):
    checker, answer = WRONG[case]
    assert_rejected_showing_the_case(checker, answer)


def test_the_leak_is_named_as_shared_pixels():
    with pytest.raises(exercises.ExerciseFailed, match="pixels are in a training tile and in a validation tile"):
        exercises.check_split_tiles(leaky_split)


def test_unanswered_and_crashing_answers():
    def stub(*args):
        raise NotImplementedError

    for checker in (exercises.check_dice_per_image_and_pooled, exercises.check_split_tiles):
        with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
            checker(stub)
    with pytest.raises(exercises.ExerciseFailed, match=r"hidden case 1 of \d+ raised ZeroDivisionError"):
        exercises.check_split_tiles(lambda *args: 1 / 0)
    with pytest.raises(exercises.ExerciseFailed, match="return a pair"):
        exercises.check_split_tiles(lambda *args: [(0, 0)])


def test_every_checker_of_the_chapter_is_exported():
    for name in ("check_dice_per_image_and_pooled", "check_split_tiles"):
        assert name in exercises.__all__ and callable(getattr(exercises, name))


# --- the figures -----------------------------------------------------------------------------


def test_the_region_split_shades_the_regions_and_scores_the_validation_tiles_row_by_row():
    image = np.random.default_rng(1).uniform(size=(32, 64, 1))
    fig = viz.plot_region_split(image, slice(0, 24), slice(32, 64), tile=16, scores=[0.5, np.nan, 0.7, 0.9])
    ax = fig.axes[0]
    train, val, gap = ((p.get_x() + 0.5, p.get_width()) for p in ax.patches[:3])
    assert (train, val, gap) == ((0, 24), (32, 32), (24, 8))
    tiles = [(p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches[3:]]
    assert tiles == [(32, 0), (48, 0), (32, 16), (48, 16)]
    assert [(t.get_position(), t.get_text()) for t in ax.texts] == [((40, 8), "0.50"), ((56, 8), "–"),
                                                                    ((40, 24), "0.70"), ((56, 24), "0.90")]


def test_tile_scores_are_dots_at_their_foreground_and_the_pooled_dice_a_line():
    fig = viz.plot_tile_scores([0.1, 0.2, 0.0], {"a": [0.5, 0.9, np.nan]}, {"a": 0.8})
    ax = fig.axes[0]
    assert ax.collections[0].get_offsets().tolist() == [[0.1, 0.5], [0.2, 0.9]]  # the undefined tile left out
    assert list(ax.lines[0].get_ydata()) == [0.8, 0.8]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a: mean over tiles 0.700"]
    assert "pooled 0.800" in [t.get_text().strip() for t in ax.texts]


def test_the_field_of_view_figure_colours_each_error_and_zooms_on_the_rim():
    size = 40
    yy, xx = np.mgrid[0:size, 0:size]
    fov = np.hypot(yy - size / 2, xx - size / 2) < 15
    truth = ((xx == 20) & fov).astype(np.int64)
    prediction = (((xx == 20) & (yy < 20)) | (xx == 30)).astype(np.int64)  # half found, a line outside too
    fig = viz.plot_field_of_view(np.zeros((size, size, 3)), truth, prediction, fov, zoom=10)
    _, field, errors, zoom = fig.axes
    np.testing.assert_array_equal(field.images[0].get_array(), fov)
    shown = errors.images[0].get_array()
    found, missed, false = ERROR_COLOURS.values()
    assert (shown[(xx == 20) & (yy < 20) & fov] == found).all()
    assert (shown[(xx == 20) & (yy >= 20) & fov] == missed).all()
    assert (shown[xx == 30] == false).all() and (shown[(xx != 20) & (xx != 30)] == 0).all()
    rim_row, rim_col = 20, np.nonzero(fov)[1].max()  # where the field of view reaches the right side
    np.testing.assert_array_equal(zoom.images[0].get_array(), shown[rim_row - 5:rim_row + 5, rim_col - 5:rim_col + 5])
    assert errors.patches[0].get_xy() == (rim_col - 5 - 0.5, rim_row - 5 - 0.5)


def test_touching_nuclei_merged_into_one_object_are_red_with_white_true_outlines():
    size = 20
    instances = np.zeros((size, size), np.int64)
    instances[5:10, 5:10], instances[5:10, 10:15] = 1, 2
    predicted = (instances > 0).astype(np.int64)  # one component over both nuclei
    fig = viz.plot_instances(np.zeros((size, size)), instances, predicted, merged=[1], title="merged")
    truth, objects = (ax.images[0].get_array() for ax in fig.axes)
    white = (truth == 1).all(axis=-1)
    assert white[5, 5] and white[7, 9] and white[7, 10] and not white[7, 7]  # the shared border is outlined
    assert (truth[~white] == 0).all() and (objects[white] == 1).all()
    assert objects[7, 7].tolist() == [1.0, 0.15, 0.15] and (objects[instances == 0] == 0).all()
    assert fig._suptitle.get_text() == "merged"


# --- the profile row -------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_the_profile_row_fits_the_chapter(profile):
    s = settings_for("medical", profile)
    # the chapter splits a 512×512 image into a training region (about 216 columns wide) and a 512×256
    # validation region scored as val_images square tiles
    assert s.image_size <= 216 and s.image_size % 16 == 0
    tile = np.sqrt(512 * 256 / s.val_images)
    assert tile == int(tile) and 512 % tile == 0 and 256 % tile == 0
    assert s.width >= 1 and s.epochs >= 1 and s.train_images >= s.batch_size
