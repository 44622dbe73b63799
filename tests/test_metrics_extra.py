"""Streaming confusion matrix, boundary F1 and HD95: hand-made cases and a brute-force point-set check."""

import numpy as np
import pytest

from coursekit import metrics

# --- ConfusionMatrix -----------------------------------------------------------------------------


@pytest.mark.parametrize("ignore_index", [None, 255])
def test_streaming_confusion_matrix_equals_all_batches_at_once(ignore_index):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, size=(10, 9, 11))
    prediction = np.where(rng.uniform(size=target.shape) < 0.5, target, rng.integers(0, 4, size=target.shape))
    if ignore_index is not None:
        target[rng.uniform(size=target.shape) < 0.2] = ignore_index
    stream = metrics.ConfusionMatrix(4, ignore_index=ignore_index)
    for start, stop in ((0, 3), (3, 4), (4, 10)):  # unequal batches, as a last short batch is
        stream.update(target[start:stop], prediction[start:stop])
    whole = metrics.scores(target, prediction, 4, ignore_index)
    np.testing.assert_array_equal(stream.matrix, whole["confusion"])
    assert stream.mean_iou() == pytest.approx(whole["mean_iou"])
    assert stream.mean_dice() == pytest.approx(whole["mean_dice"])
    assert stream.pixel_accuracy() == pytest.approx(whole["pixel_accuracy"])
    np.testing.assert_allclose(stream.iou_per_class(), whole["iou_per_class"])
    np.testing.assert_allclose(stream.dice_per_class(), whole["dice_per_class"])
    # a mean of per-batch mIoUs is not the dataset's mIoU
    per_batch = [metrics.mean_iou(target[a:b], prediction[a:b], 4, ignore_index) for a, b in ((0, 3), (3, 4), (4, 10))]
    assert np.mean(per_batch) != pytest.approx(whole["mean_iou"], abs=1e-6)


def test_confusion_matrix_reset_copy_and_absent_classes():
    stream = metrics.ConfusionMatrix(3)
    assert np.isnan(stream.mean_iou()) and np.isnan(stream.pixel_accuracy())  # nothing seen yet
    stream.update(np.array([0, 0, 1]), np.array([0, 1, 1]))
    stream.matrix[0, 0] = 100  # a copy: the counts are not changed from outside
    np.testing.assert_array_equal(stream.matrix, [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    assert np.isnan(stream.iou_per_class()[2])  # class 2 absent from both: skipped in the mean
    assert stream.mean_iou() == pytest.approx((0.5 + 0.5) / 2)
    stream.reset()
    assert stream.matrix.sum() == 0


@pytest.mark.parametrize("num_classes", [0, 2.5])
def test_confusion_matrix_refuses_a_bad_class_count(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        metrics.ConfusionMatrix(num_classes)


def test_confusion_matrix_update_checks_labels():
    with pytest.raises(ValueError, match="label 3"):
        metrics.ConfusionMatrix(3).update(np.array([0, 3]), np.array([0, 1]))


# --- brute force --------------------------------------------------------------------------------


def brute_boundary_points(mask):
    """Pixels of the mask with a 4-neighbour outside the mask or outside the image, by loops."""
    h, w = mask.shape
    points = []
    for y in range(h):
        for x in range(w):
            if not mask[y, x]:
                continue
            neighbours = ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1))
            if any(not (0 <= a < h and 0 <= b < w) or not mask[a, b] for a, b in neighbours):
                points.append((y, x))
    return np.array(points, float).reshape(-1, 2)


def brute_directed(a, b, spacing=(1.0, 1.0)):
    """For each point of ``a``, the distance to the nearest point of ``b``, comparing every pair."""
    diff = (a[:, None, :] - b[None, :, :]) * np.asarray(spacing)
    return np.sqrt((diff**2).sum(-1)).min(1)


def brute_scores(t_mask, p_mask, tolerance, spacing=(1.0, 1.0)):
    if not t_mask.any() and not p_mask.any():
        return np.nan, np.nan
    if not t_mask.any() or not p_mask.any():
        return 0.0, np.inf
    t, p = brute_boundary_points(t_mask), brute_boundary_points(p_mask)
    precision = np.mean(brute_directed(p, t) <= tolerance)
    recall = np.mean(brute_directed(t, p) <= tolerance)
    bf = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    hd95 = np.percentile(np.concatenate([brute_directed(p, t, spacing), brute_directed(t, p, spacing)]), 95)
    return bf, hd95


def random_blobs(rng, shape, num_classes):
    """Label images with a few rectangles, so that boundaries are neither trivial nor pure noise."""
    labels = np.zeros(shape, np.int64)
    for _ in range(rng.integers(1, 5)):
        y0, x0 = rng.integers(0, shape[0] - 1), rng.integers(0, shape[1] - 1)
        labels[y0:y0 + rng.integers(1, 7), x0:x0 + rng.integers(1, 7)] = rng.integers(1, num_classes)
    return labels


@pytest.mark.parametrize("seed", range(10))
def test_boundary_scores_match_a_brute_force_point_set_computation(seed):
    rng = np.random.default_rng(seed)
    num_classes, shape = 4, (int(rng.integers(6, 14)), int(rng.integers(6, 14)))
    target = random_blobs(rng, shape, num_classes)
    prediction = random_blobs(rng, shape, num_classes) if seed % 3 else rng.integers(0, num_classes, shape)
    tolerance = float(rng.choice([0, 1, 1.5, 2, 3]))
    spacing = (float(rng.uniform(0.5, 2)), float(rng.uniform(0.5, 2)))
    expected = np.array([brute_scores(target == c, prediction == c, tolerance, spacing)
                         for c in range(num_classes)])
    np.testing.assert_allclose(metrics.boundary_f1_per_class(target, prediction, num_classes, tolerance),
                               expected[:, 0], equal_nan=True)
    np.testing.assert_allclose(metrics.hd95_per_class(target, prediction, num_classes, spacing=spacing),
                               expected[:, 1], equal_nan=True)


def test_ignored_pixels_are_outside_every_class_in_both():
    rng = np.random.default_rng(42)
    target = random_blobs(rng, (12, 12), 3)
    prediction = random_blobs(rng, (12, 12), 3)
    target[:, 9:] = 255
    keep = target != 255
    expected = np.array([brute_scores((target == c) & keep, (prediction == c) & keep, 1) for c in range(3)])
    np.testing.assert_allclose(metrics.boundary_f1_per_class(target, prediction, 3, 1, ignore_index=255),
                               expected[:, 0], equal_nan=True)
    np.testing.assert_allclose(metrics.hd95_per_class(target, prediction, 3, ignore_index=255),
                               expected[:, 1], equal_nan=True)


# --- hand-made cases -----------------------------------------------------------------------------


def square(shift=(0, 0), size=40, side=20, at=10):
    labels = np.zeros((size, size), np.int64)
    y, x = at + shift[0], at + shift[1]
    labels[y:y + side, x:x + side] = 1
    return labels


def test_boundary_of_a_square_is_its_ring_and_the_frame_counts():
    ring = metrics.boundary(square(size=9, side=5, at=2) == 1)
    assert ring.sum() == 16 and ring[2, 2] and not ring[4, 4]  # a 5×5 square's outline has 16 pixels
    full = metrics.boundary(np.ones((4, 5), bool))
    assert full.sum() == 2 * 4 + 2 * 5 - 4  # the image frame
    cube = metrics.boundary(np.pad(np.ones((3, 3, 3), bool), 1))
    assert cube.sum() == 26  # every voxel of a 3×3×3 cube but the centre


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("axis", [0, 1])
def test_a_square_shifted_by_k_pixels(k, axis):
    shift = (k, 0) if axis == 0 else (0, k)
    target, prediction = square(), square(shift)
    hd95 = metrics.hd95_per_class(target, prediction, 2)
    assert hd95[1] == pytest.approx(k)
    for tolerance in (k, k + 0.5, k + 3):
        assert metrics.boundary_f1_per_class(target, prediction, 2, tolerance)[1] == pytest.approx(1.0)
    below = metrics.boundary_f1_per_class(target, prediction, 2, k - 0.5)[1]
    assert 0 < below < 1
    # a pixel 2 units tall and 0.5 wide: a shift of k columns is 0.5 k, of k rows 2 k
    spaced = metrics.hd95_per_class(target, prediction, 2, spacing=(2.0, 0.5))[1]
    assert spaced == pytest.approx(k * (2.0 if axis == 0 else 0.5))


def test_boundary_f1_rises_with_the_tolerance():
    target, prediction = square(), square((3, 2))
    scores = [metrics.boundary_f1_per_class(target, prediction, 2, t)[1] for t in (0, 1, 2, 3, 4)]
    assert all(a <= b for a, b in zip(scores, scores[1:])) and scores[0] < scores[-1] == 1.0


def test_identical_masks_score_perfectly():
    labels = random_blobs(np.random.default_rng(1), (15, 15), 3)
    present = [c for c in range(3) if (labels == c).any()]
    np.testing.assert_allclose(metrics.boundary_f1_per_class(labels, labels, 3, 0)[present], 1.0)
    np.testing.assert_allclose(metrics.hd95_per_class(labels, labels, 3)[present], 0.0)


def test_hd95_ignores_a_few_stray_pixels_that_the_hausdorff_distance_would_not():
    target = square(size=60, side=40)
    prediction = target.copy()
    prediction[58, 1] = 1  # one far stray pixel
    t_to_p, p_to_t = metrics.surface_distances(target == 1, prediction == 1)
    assert max(t_to_p.max(), p_to_t.max()) == pytest.approx(9 * np.sqrt(2))  # the Hausdorff distance
    assert metrics.hd95_per_class(target, prediction, 2)[1] == pytest.approx(0.0)


# --- empty masks -------------------------------------------------------------------------------


def test_empty_mask_rules():
    target = np.zeros((10, 10), np.int64)
    target[2:6, 2:6] = 1
    prediction = np.zeros((10, 10), np.int64)  # class 1 missed; class 2 in neither
    bf = metrics.boundary_f1_per_class(target, prediction, 3)
    hd = metrics.hd95_per_class(target, prediction, 3)
    assert bf[1] == 0.0 and hd[1] == np.inf  # in one only
    assert np.isnan(bf[2]) and np.isnan(hd[2])  # in neither
    assert metrics.mean_boundary_f1(target, prediction, 3) == pytest.approx(bf[0] / 2)  # class 2 skipped
    assert metrics.mean_hd95(target, prediction, 3) == np.inf
    prediction_only = np.where(target == 1, 2, 0)  # class 2 predicted where there is none
    assert metrics.hd95_per_class(target, prediction_only, 3)[2] == np.inf
    assert metrics.boundary_f1_per_class(target, prediction_only, 3)[2] == 0.0


def test_a_batch_averages_each_class_over_the_images_where_it_is_defined():
    a, b = square(), square((2, 0))
    empty = np.zeros_like(a)
    target = np.stack([a, a, empty])
    prediction = np.stack([a, b, empty])
    # class 1: images 0 and 1 count (HD95 0 and 2), image 2 has it in neither and is skipped
    assert metrics.hd95_per_class(target, prediction, 2)[1] == pytest.approx(1.0)
    f1 = metrics.boundary_f1_per_class(target, prediction, 2, 1)[1]
    assert f1 == pytest.approx((1.0 + metrics.boundary_f1_per_class(a, b, 2, 1)[1]) / 2)
    all_empty = np.zeros((2, 5, 5), np.int64)
    assert np.isnan(metrics.hd95_per_class(all_empty, all_empty, 2)[1])
    assert np.isnan(metrics.mean_hd95(np.full((5, 5), 9), np.zeros((5, 5), int), 2, ignore_index=9))


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.boundary_f1_per_class(np.zeros((4, 4), int), np.zeros((4, 4), int), 2, -1), "tolerance"),
    (lambda: metrics.hd95_per_class(np.zeros((4, 4), int), np.zeros((4, 4), int), 2, spacing=(1,)), "spacing"),
    (lambda: metrics.hd95_per_class(np.zeros((4, 4), int), np.zeros((4, 4), int), 2, spacing=(1, 0)), "spacing"),
    (lambda: metrics.hd95_per_class(np.zeros((4, 4), int), np.zeros((4, 5), int), 2), "shape"),
    (lambda: metrics.hd95_per_class(np.zeros((1, 1, 4, 4), int), np.zeros((1, 1, 4, 4), int), 2), "N×H×W"),
    (lambda: metrics.boundary_f1_per_class(np.zeros((4, 4)), np.zeros((4, 4)), 2), "integer"),
    (lambda: metrics.surface_distances(np.zeros((4, 4)), np.ones((4, 4))), "non-empty"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_match_objects_counts_matches_specks_misses_and_merges_by_hand():
    from coursekit.metrics import match_objects

    truth = np.zeros((10, 12), np.int64)
    truth[1:4, 1:4] = 1      # found exactly
    truth[6:9, 1:4] = 2      # missed
    truth[1:4, 6:8] = 3      # these two are predicted as one object: a merge, no match
    truth[1:4, 9:11] = 4
    predicted = np.zeros((10, 12), np.int64)
    predicted[1:4, 1:4] = 1
    predicted[1:4, 6:11] = 1
    predicted[8, 10] = 1     # a speck of one pixel
    found = match_objects(truth, predicted)
    assert (found.true, found.predicted, found.matched) == (4, 3, 1)
    assert found.f1 == pytest.approx(2 * 1 / (4 + 3))
    assert len(found.merged) == 1 and set(np.unique(truth[found.labels == found.merged[0]])) == {0, 3, 4}
    assert found.labels.max() == 3


def test_match_objects_is_perfect_on_the_truth_and_undefined_on_nothing():
    from coursekit.metrics import match_objects

    truth = np.zeros((6, 6), np.int64)
    truth[0:2, 0:2], truth[3:6, 3:6] = 1, 7  # instance numbers need not be consecutive
    found = match_objects(truth, truth > 0)
    assert (found.true, found.predicted, found.matched, found.merged, found.f1) == (2, 2, 2, [], 1.0)
    assert np.isnan(match_objects(np.zeros((3, 3), np.int64), np.zeros((3, 3))).f1)
    with pytest.raises(ValueError, match="same shape"):
        match_objects(truth, truth[:5])
    with pytest.raises(ValueError, match="whole numbers"):
        match_objects(truth.astype(float), truth)
