import numpy as np
import pytest

from coursekit import metrics


def loop_scores(target, prediction, num_classes, ignore_index=None):
    """An independent computation, one class at a time with boolean masks."""
    keep = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    t, p = target[keep], prediction[keep]
    iou, dice = [], []
    for c in range(num_classes):
        inter = np.sum((t == c) & (p == c))
        union = np.sum((t == c) | (p == c))
        size = np.sum(t == c) + np.sum(p == c)
        iou.append(inter / union if union else np.nan)
        dice.append(2 * inter / size if size else np.nan)
    accuracy = np.mean(t == p) if t.size else np.nan
    return np.array(iou), np.array(dice), accuracy


def loop_recall(target, prediction, num_classes):
    """Per class, the share of its true pixels predicted as it, one class at a time (nan where absent)."""
    return np.array([np.mean(prediction[target == c] == c) if np.any(target == c) else np.nan
                     for c in range(num_classes)])


@pytest.mark.parametrize("seed", range(8))
def test_scores_match_an_independent_computation(seed):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 7))
    shape = (int(rng.integers(1, 4)), int(rng.integers(3, 20)), int(rng.integers(3, 20)))
    # draw from fewer classes than exist, so some classes are absent from both
    used = rng.choice(num_classes, size=max(1, num_classes - 2), replace=False)
    target = rng.choice(used, size=shape)
    prediction = np.where(rng.uniform(size=shape) < 0.6, target, rng.choice(used, size=shape))
    iou, dice, accuracy = loop_scores(target, prediction, num_classes)
    np.testing.assert_allclose(metrics.iou_per_class(target, prediction, num_classes), iou, equal_nan=True)
    np.testing.assert_allclose(metrics.dice_per_class(target, prediction, num_classes), dice, equal_nan=True)
    assert metrics.pixel_accuracy(target, prediction, num_classes) == pytest.approx(accuracy)
    assert metrics.mean_iou(target, prediction, num_classes) == pytest.approx(np.nanmean(iou))
    assert metrics.mean_dice(target, prediction, num_classes) == pytest.approx(np.nanmean(dice))
    recall = loop_recall(target, prediction, num_classes)
    np.testing.assert_allclose(metrics.class_accuracy_per_class(target, prediction, num_classes), recall,
                               equal_nan=True)
    assert metrics.mean_class_accuracy(target, prediction, num_classes) == pytest.approx(np.nanmean(recall))
    if len(used) < num_classes:  # the case covers classes absent from both
        assert np.isnan(iou).any()


@pytest.mark.parametrize("seed", range(4))
def test_ignore_index_leaves_pixels_out(seed):
    rng = np.random.default_rng(100 + seed)
    target = rng.integers(0, 3, size=(12, 12))
    target[rng.uniform(size=target.shape) < 0.3] = 255
    prediction = rng.integers(0, 3, size=(12, 12))
    iou, dice, accuracy = loop_scores(target, prediction, 3, ignore_index=255)
    np.testing.assert_allclose(metrics.iou_per_class(target, prediction, 3, ignore_index=255), iou, equal_nan=True)
    assert metrics.pixel_accuracy(target, prediction, 3, ignore_index=255) == pytest.approx(accuracy)
    cm = metrics.confusion_matrix(target, prediction, 3, ignore_index=255)
    assert cm.sum() == np.sum(target != 255)


def test_confusion_matrix_rows_are_truth_and_columns_predictions():
    cm = metrics.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


def test_absent_class_is_nan_and_skipped_but_a_missed_class_scores_zero():
    target = np.array([[0, 0], [1, 1]])
    prediction = np.array([[0, 0], [0, 0]])
    iou = metrics.iou_per_class(target, prediction, 3)
    assert iou[1] == 0.0 and np.isnan(iou[2])
    assert metrics.mean_iou(target, prediction, 3) == pytest.approx((0.5 + 0.0) / 2)


def test_means_are_nan_when_nothing_is_scored():
    target = np.full((2, 2), 255)
    assert np.isnan(metrics.mean_iou(target, np.zeros((2, 2), int), 2, ignore_index=255))
    assert np.isnan(metrics.pixel_accuracy(target, np.zeros((2, 2), int), 2, ignore_index=255))


def test_dice_from_iou_holds_for_every_class():
    rng = np.random.default_rng(5)
    target, prediction = rng.integers(0, 4, (30, 30)), rng.integers(0, 4, (30, 30))
    iou = metrics.iou_per_class(target, prediction, 4)
    np.testing.assert_allclose(metrics.dice_from_iou(iou), metrics.dice_per_class(target, prediction, 4))


def test_scores_bundle_agrees_with_the_single_functions():
    rng = np.random.default_rng(9)
    target, prediction = rng.integers(0, 3, (10, 10)), rng.integers(0, 3, (10, 10))
    result = metrics.scores(target, prediction, 3)
    assert result["mean_iou"] == pytest.approx(metrics.mean_iou(target, prediction, 3))
    assert result["mean_dice"] == pytest.approx(metrics.mean_dice(target, prediction, 3))
    assert result["pixel_accuracy"] == pytest.approx(metrics.pixel_accuracy(target, prediction, 3))
    assert result["mean_class_accuracy"] == pytest.approx(metrics.mean_class_accuracy(target, prediction, 3))
    summed = metrics.ConfusionMatrix(3).update(target[:4], prediction[:4]).update(target[4:], prediction[4:])
    assert summed.mean_class_accuracy() == pytest.approx(result["mean_class_accuracy"])
    np.testing.assert_allclose(summed.scores()["class_accuracy_per_class"], result["class_accuracy_per_class"])


def test_class_accuracy_counts_classes_alike_where_pixel_accuracy_counts_pixels():
    # 98 road pixels all right, 2 pole pixels all missed: pixel accuracy 0.98, class average 0.5
    target = np.array([0] * 98 + [1] * 2)
    prediction = np.zeros(100, int)
    assert metrics.pixel_accuracy(target, prediction, 3) == pytest.approx(0.98)
    assert metrics.mean_class_accuracy(target, prediction, 3) == pytest.approx(0.5)  # class 2 absent: skipped
    # a class only predicted, never true, has no accuracy: it costs IoU but not recall
    assert np.isnan(metrics.class_accuracy_per_class(target, np.full(100, 2), 3)[2])


@pytest.mark.parametrize("target, prediction, message", [
    (np.zeros((2, 2), int), np.zeros((2, 3), int), "shape"),
    (np.zeros((2, 2), int), np.zeros((2, 2)), "integer"),
    (np.array([[0, 5]]), np.array([[0, 1]]), "label 5"),
    (np.array([[0, 1]]), np.array([[0, -1]]), "label -1"),
])
def test_bad_input_gets_a_clear_error(target, prediction, message):
    with pytest.raises((ValueError, TypeError), match=message):
        metrics.confusion_matrix(target, prediction, 3)
