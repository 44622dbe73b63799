"""Chapter 5 (Medical image data): its checkers accept right answers and reject plausible wrong ones;
its figures show what they claim to."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import assert_rejected_showing_the_case

from coursekit import exercises, viz  # noqa: E402

# --- answers a student might write --------------------------------------------------------


def good_window(hu, level, width):
    return np.clip((np.asarray(hu, float) - (level - width / 2)) / width, 0, 1)


# --- the checkers --------------------------------------------------------------------------


def test_right_answers_pass():
    assert exercises.check_ct_window(good_window).cases >= 5
    assert exercises.check_slice_batch_shapes((45, 256, 256, 1), (45, 1, 256, 256)).cases == 2


WRONG = {
    "window without clipping": (exercises.check_ct_window,
                                lambda hu, level, width: (np.asarray(hu) - (level - width / 2)) / width),
    "window twice as wide": (exercises.check_ct_window,
                             lambda hu, level, width: np.clip((np.asarray(hu) - (level - width)) / (2 * width), 0, 1)),
    "window divided by half the width": (exercises.check_ct_window,
                                         lambda hu, level, width: np.clip(
                                             (np.asarray(hu) - (level - width / 2)) / (width / 2), 0, 1)),
    "window not shifted": (exercises.check_ct_window,
                           lambda hu, level, width: np.clip(np.asarray(hu) / width, 0, 1)),
}


@pytest.mark.parametrize("case", sorted(WRONG))
@pytest.mark.filterwarnings("ignore:invalid value encountered", "ignore:Mean of empty slice")
def test_plausible_wrong_answers_are_rejected_with_the_failing_input(case):
    checker, answer = WRONG[case]
    assert_rejected_showing_the_case(checker, answer)


@pytest.mark.parametrize("keras_shape, torch_shape, hint", [
    ((90, 512, 512, 1), (90, 1, 512, 512), "before resampling"),
    ((45, 1, 256, 256), (45, 1, 256, 256), "wrong order"),
    ((45, 512, 512, 1), (45, 1, 512, 512), "still 512 pixels"),
    ((180, 256, 256, 1), (180, 1, 256, 256), "fewer, not more"),
    ((45, 256, 256, 1), (45, 256, 256, 1), "wrong order"),
])
def test_wrong_slice_shapes_get_a_hint(keras_shape, torch_shape, hint):
    with pytest.raises(exercises.ExerciseFailed, match=hint):
        exercises.check_slice_batch_shapes(keras_shape, torch_shape)


def test_unanswered_and_crashing_answers():
    with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
        exercises.check_slice_batch_shapes(..., (45, 1, 256, 256))

    def stub(*args):
        raise NotImplementedError

    with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
        exercises.check_ct_window(stub)


def test_every_checker_of_the_chapter_is_exported():
    for name in ("check_ct_window", "check_slice_batch_shapes"):
        assert name in exercises.__all__ and callable(getattr(exercises, name))


# --- the figures -----------------------------------------------------------------------------


def test_show_volume_draws_three_planes_with_physical_aspect():
    volume = np.random.default_rng(0).uniform(size=(12, 14, 10)).astype(np.float32)
    labels = (volume > 0.7).astype(np.int64)
    fig = viz.show_volume(volume, (1.0, 1.0, 3.0), labels=labels, colours=viz.palette(2),
                          classes=("other", "thing"), title="test")
    axes = fig.axes
    assert len(axes) == 3
    assert [a.get_title().split()[0] for a in axes] == ["axial", "coronal", "sagittal"]
    assert axes[1].get_images()[0].get_array().shape[:2] == (10, 12)  # coronal: superior-inferior × right-left
    with pytest.raises(ValueError, match="X×Y×Z"):
        viz.show_volume(volume[0])


def test_each_window_maps_its_range_to_black_and_white_and_outlines_the_labels():
    hu = np.linspace(-1000, 1000, 64 * 64).reshape(64, 64)
    labels = np.zeros((64, 64), np.int64)
    labels[20:40, 20:40] = 1
    fig = viz.plot_windows(hu, {"abdomen": (-100, 200), "lung": (-1000, 400)}, labels=labels,
                           colours=viz.palette(2), classes=("background", "liver"))
    histogram, abdomen, lung = fig.axes[:3]
    assert sum(bar.get_height() for bar in histogram.patches) == hu.size  # every value lies in -1100..1100
    assert [line.get_xdata().tolist() for line in histogram.lines] == [[-100, 200], [-1000, 400]]
    np.testing.assert_allclose(abdomen.images[0].get_array(), np.clip((hu + 100) / 300, 0, 1), atol=1e-6)
    np.testing.assert_allclose(lung.images[0].get_array(), np.clip((hu + 1000) / 1400, 0, 1), atol=1e-6)
    assert abdomen.get_title() == "abdomen: -100 to 200 HU" and len(abdomen.collections) == 1  # the liver


def test_foreground_fractions_are_bars_smallest_first_real_data_in_colour():
    fig = viz.plot_foreground_fractions(["a", "b", "c"], [0.2, 0.001, 0.05], ["disk", "synthetic", "download"])
    ax = fig.axes[0]
    bars = ax.patches[:3]
    assert [bar.get_width() for bar in bars] == [0.001, 0.05, 0.2]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["b", "c", "a"]
    grey, blue = (0.733, 0.733, 0.733), (0.263, 0.388, 0.847)
    assert [tuple(np.round(bar.get_facecolor()[:3], 3)) for bar in bars] == [grey, blue, blue]
    assert [t.get_text() for t in ax.texts] == ["0.10%", "5.00%", "20.00%"]
