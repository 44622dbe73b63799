"""Focal, Dice + BCE, class-weighted and border-weighted losses: values against NumPy, both frameworks."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
import torch

from coursekit import losses


def softmax(z, axis):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sample(seed, classes=4, shape=(2, 6, 7)):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(shape[0], classes) + shape[1:]).astype(np.float32)
    labels = rng.integers(0, classes, size=shape)
    return logits, labels


def binary_sample(seed, shape=(2, 6, 7)):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(shape[0], 1) + shape[1:]).astype(np.float32)
    target = (rng.uniform(size=shape) > 0.6).astype(np.int64)
    return logits, target


def both(name, logits, labels, **options):
    """The loss by name in torch (N×C×H×W) and in Keras (N×H×W×C) on the same values."""
    t = losses.get_loss(name, "torch", **options)(torch.from_numpy(logits), torch.from_numpy(labels))
    k = losses.get_loss(name, "keras", **options)(labels, tf.constant(np.moveaxis(logits, 1, -1)))
    return float(t), float(k)


def numpy_focal(logits, labels, gamma, alpha=None, ignore_index=None):
    keep = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    safe = np.where(keep, labels, 0)
    pt = np.take_along_axis(softmax(logits.astype(np.float64), 1), safe[:, None], 1)[:, 0]
    term = -((1 - pt) ** gamma) * np.log(pt)
    if alpha is not None:
        term = term * np.asarray(alpha)[safe]
    return (term * keep).sum() / keep.sum()


def numpy_binary_focal(logits, target, gamma, alpha=None):
    p = sigmoid(logits[:, 0].astype(np.float64))
    y = target.astype(np.float64)
    pt = np.where(y == 1, p, 1 - p)
    term = -((1 - pt) ** gamma) * np.log(pt)
    if alpha is not None:
        a0, a1 = (1 - alpha, alpha) if np.ndim(alpha) == 0 else alpha
        term = term * np.where(y == 1, a1, a0)
    return term.mean()


# --- focal -------------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma, alpha, ignore", [(2.0, None, None), (0.5, None, None),
                                                  (2.0, [0.25, 1.0, 2.0, 0.5], None), (3.0, None, 255)])
def test_focal_matches_numpy_in_both_frameworks(gamma, alpha, ignore):
    logits, labels = sample(1)
    if ignore is not None:
        labels[0, :3] = ignore
    expected = numpy_focal(logits, labels, gamma, alpha, ignore)
    t, k = both("focal", logits, labels, gamma=gamma, alpha=alpha, ignore_index=ignore)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


def test_focal_with_gamma_zero_is_cross_entropy_and_gamma_shrinks_it():
    logits, labels = sample(2)
    ce = both("cross_entropy", logits, labels)
    np.testing.assert_allclose(both("focal", logits, labels, gamma=0), ce, rtol=1e-5)
    # (1 - p_t)^γ <= 1 shrinks every term, more so as γ grows
    values = [both("focal", logits, labels, gamma=g)[0] for g in (0, 1, 2, 5)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_focal_discounts_easy_pixels_more_than_hard_ones():
    # one pixel classified right with confidence, one wrong: focal keeps the hard one's share
    logits = np.array([[[[4.0, -2.0]], [[0.0, 0.0]]]], np.float32)  # 1×2×1×2
    labels = np.array([[[0, 0]]])
    easy, hard = (torch.from_numpy(logits[..., i:i + 1]) for i in (0, 1))
    target = torch.from_numpy(labels[..., :1])
    ratio_easy = losses.focal_loss(easy, target) / losses.cross_entropy(easy, target)
    ratio_hard = losses.focal_loss(hard, target) / losses.cross_entropy(hard, target)
    assert ratio_easy < 0.001 and ratio_hard > 0.5


@pytest.mark.parametrize("alpha", [None, 0.25, (0.3, 2.0)])
def test_binary_focal_with_one_channel(alpha):
    logits, target = binary_sample(3)
    expected = numpy_binary_focal(logits, target, 2.0, alpha)
    t, k = both("focal", logits, target, alpha=alpha)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)
    # a target with its own channel axis gives the same value
    with_channel = losses.focal_loss(torch.from_numpy(logits), torch.from_numpy(target[:, None]), alpha=alpha)
    assert float(with_channel) == pytest.approx(expected, rel=1e-5)


def test_binary_focal_ignores_pixels():
    logits, target = binary_sample(4)
    target[1] = 255
    t, k = both("focal", logits, target, ignore_index=255)
    expected = numpy_binary_focal(logits[:1], target[:1], 2.0)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


def test_focal_runs_under_bf16_autocast_and_returns_float32():
    logits, labels = sample(5)
    x = torch.from_numpy(logits).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = losses.get_loss("focal", "torch")(x.bfloat16(), torch.from_numpy(labels))
    value.backward()
    assert value.dtype == torch.float32 and x.grad.abs().sum() > 0
    assert float(value.detach()) == pytest.approx(numpy_focal(logits, labels, 2.0), rel=0.05)


@pytest.mark.parametrize("logits, options, message", [
    (sample(0)[0], {"gamma": -1}, "gamma"),
    (sample(0)[0], {"alpha": [1.0, 2.0]}, "one weight per class"),
    (sample(0)[0], {"alpha": 0.25}, "one weight per class"),
    (binary_sample(0)[0], {"alpha": 1.5}, r"\[0, 1\]"),
    (binary_sample(0)[0], {"alpha": [1, 2, 3]}, "pair"),
])
def test_focal_refuses_bad_options(logits, options, message):
    labels = np.zeros((2, 6, 7), np.int64)
    with pytest.raises(ValueError, match=message):
        losses.focal_loss(torch.from_numpy(logits), torch.from_numpy(labels), **options)


# --- Dice + BCE and option routing -------------------------------------------------------------


def test_bce_plus_dice_routes_each_option_to_its_part():
    logits, target = binary_sample(6)
    s, y = sigmoid(logits[:, 0].astype(np.float64)), target.astype(np.float64)
    pos_weight, smooth = 3.0, 0.25
    bce = -np.mean(pos_weight * y * np.log(s) + (1 - y) * np.log(1 - s))
    dice = 1 - (2 * (s * y).sum() + smooth) / (s.sum() + y.sum() + smooth)
    t, k = both("bce+dice", logits, target, pos_weight=pos_weight, smooth=smooth)
    assert t == pytest.approx(bce + dice, rel=1e-5) and k == pytest.approx(bce + dice, rel=1e-5)


def test_options_of_one_part_no_longer_break_another():
    # class_weights belongs to cross_entropy only; dice used to receive it and fail
    logits, labels = sample(7)
    weights = [0.5, 1.0, 2.0, 3.0]
    combined = both("cross_entropy+dice", logits, labels, class_weights=weights)
    parts = np.add(both("cross_entropy", logits, labels, class_weights=weights), both("dice", logits, labels))
    np.testing.assert_allclose(combined, parts, rtol=1e-5)


def test_an_option_no_part_takes_is_refused_by_name():
    with pytest.raises(ValueError, match="'gamma'.*'bce\\+dice'"):
        losses.get_loss("bce+dice", "torch", gamma=2.0)
    with pytest.raises(ValueError, match="'smoth'"):
        losses.get_loss("dice", "keras", smoth=1.0)


def test_focal_plus_dice_by_name():
    logits, labels = sample(8)
    combined = both("focal+dice", logits, labels, gamma=1.0, smooth=2.0)
    parts = np.add(both("focal", logits, labels, gamma=1.0), both("dice", logits, labels, smooth=2.0))
    np.testing.assert_allclose(combined, parts, rtol=1e-5)


def test_new_losses_trace_in_a_keras_graph_with_unknown_sizes():
    logits, target = binary_sample(9)
    spec = (tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None, None, None, 1], tf.float32))
    for name in ("focal", "bce+dice"):
        graph = tf.function(losses.get_loss(name, "keras"), input_signature=spec)
        eager = losses.get_loss(name, "keras")(target, tf.constant(np.moveaxis(logits, 1, -1)))
        traced = graph(tf.constant(target, tf.float32), tf.constant(np.moveaxis(logits, 1, -1)))
        assert float(traced) == pytest.approx(float(eager), rel=1e-6)


# --- class-weighted cross-entropy and weights from frequencies ---------------------------------


@pytest.mark.parametrize("seed", range(2))
def test_class_weighted_cross_entropy_matches_numpy_in_both_frameworks(seed):
    logits, labels = sample(10 + seed)
    weights = losses.class_frequency_weights(labels, 4)
    p = softmax(logits.astype(np.float64), 1)
    nll = -np.log(np.take_along_axis(p, labels[:, None], 1)[:, 0])
    expected = (nll * weights[labels]).sum() / weights[labels].sum()
    t, k = both("cross_entropy", logits, labels, class_weights=weights)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)
    assert t != pytest.approx(both("cross_entropy", logits, labels)[0], rel=1e-4)


def test_median_frequency_weights_by_hand():
    # image 1: 6 pixels of class 0, 2 of class 1; image 2: 4 of class 0, 4 of class 2
    masks = np.array([[[0, 0, 0, 0], [0, 0, 1, 1]], [[0, 0, 2, 2], [0, 0, 2, 2]]])
    frequency = np.array([10 / 16, 2 / 8, 4 / 8])  # class pixels / pixels of the images holding the class
    expected = np.median(frequency) / frequency
    np.testing.assert_allclose(losses.class_frequency_weights(masks, 3), expected)
    np.testing.assert_allclose(losses.class_frequency_weights(list(masks), 3), expected)  # a list of images
    assert losses.class_frequency_weights(masks, 3)[2] == pytest.approx(1.0)  # the median class weighs 1


def test_inverse_frequency_weights_average_one_over_pixels():
    labels = np.random.default_rng(3).choice(3, size=(4, 9, 9), p=[0.7, 0.2, 0.1])
    weights = losses.class_frequency_weights(labels, 3, method="inverse_frequency")
    assert weights[labels].mean() == pytest.approx(1.0)
    assert weights[0] < weights[1] < weights[2]


def test_frequency_weights_skip_ignored_pixels_and_warn_about_absent_classes():
    masks = np.array([[0, 0, 1, 255], [0, 0, 1, 255]])
    with pytest.warns(UserWarning, match=r"\[2\]"):
        weights = losses.class_frequency_weights(masks, 3, ignore_index=255)
    np.testing.assert_allclose(weights, [np.median([4 / 6, 2 / 6]) / (4 / 6), np.median([4 / 6, 2 / 6]) / (2 / 6), 0])


@pytest.mark.parametrize("masks, options, message", [
    (np.array([[0, 3]]), {}, "label 3"),
    (np.zeros((2, 2)), {}, "integer"),
    (np.zeros((2, 2), int), {"method": "log"}, "method"),
    (np.full((2, 2), 255), {"ignore_index": 255}, "no counted pixel"),
    (np.zeros((1, 1, 2, 2), int), {}, "H×W or N×H×W"),
])
def test_frequency_weights_refuse_bad_input(masks, options, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError), match=message):
            losses.class_frequency_weights(masks, 3, **options)


# --- the U-Net paper's border weights -----------------------------------------------------------


def two_cells(gap=2):
    """Two 10×8 rectangles side by side, ``gap`` background columns apart, in a 40×40 image."""
    instances = np.zeros((40, 40), np.int64)
    instances[5:15, 5:13] = 1
    instances[5:15, 13 + gap:21 + gap] = 2
    return instances


def direct_weight(instances, y, x, w0, sigma, w_c):
    """Eq. 2 of the U-Net paper at one pixel, distances measured point by point."""
    if instances[y, x] > 0:
        return w_c[1]
    distances = sorted(np.min(np.hypot(*(np.argwhere(instances == n) - [y, x]).T))
                       for n in np.unique(instances[instances > 0]))
    return w_c[0] + w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))


def test_border_weight_is_large_between_close_cells_and_class_weight_far_away():
    instances = two_cells(gap=2)
    w = losses.unet_weight_map(instances, w0=10, sigma=5)
    n_cell = (instances > 0).sum()
    w_c = (1.0, (instances.size - n_cell) / n_cell)  # background is the frequent class here
    # in the gap: d1 = 1, d2 = 2
    assert w[10, 13] == pytest.approx(1 + 10 * np.exp(-9 / 50), rel=1e-6)
    assert w[10, 13] > 9
    assert w[38, 38] == pytest.approx(w_c[0], abs=1e-6)  # far from both cells
    np.testing.assert_allclose(w[instances > 0], w_c[1], rtol=1e-6)  # cells: class weight only
    assert w.dtype == np.float32 and w.shape == instances.shape


@pytest.mark.parametrize("y, x", [(10, 14), (3, 14), (16, 2), (20, 20), (0, 39), (10, 25)])
def test_border_weight_equals_a_direct_computation(y, x):
    instances = two_cells(gap=3)
    instances[25:30, 8:12] = 7  # a third cell, numbered out of order
    w_c = (0.5, 2.0)
    w = losses.unet_weight_map(instances, w0=8, sigma=4, class_weights=w_c)
    assert w[y, x] == pytest.approx(direct_weight(instances, y, x, 8, 4, w_c), rel=1e-6)


def test_one_cell_has_no_border_term_and_a_batch_is_the_stack_of_its_images():
    one = np.zeros((20, 20), np.int64)
    one[5:10, 5:10] = 3
    w = losses.unet_weight_map(one, class_weights=(1.0, 4.0))
    np.testing.assert_array_equal(w, np.where(one > 0, 4.0, 1.0))
    batch = np.stack([two_cells()[:20, :20], one])
    np.testing.assert_array_equal(losses.unet_weight_map(batch),
                                  np.stack([losses.unet_weight_map(b) for b in batch]))


def test_weight_map_of_the_synthetic_cells():
    from coursekit.data import synthetic

    data = synthetic.cells(2, size=64, seed=1, touching=0.8)
    w = losses.unet_weight_map(data.instances)
    assert w.shape == data.instances.shape and np.isfinite(w).all()
    background = data.instances == 0
    assert w[background].max() > w[background].min() + 5  # gaps between touching nuclei stand out


@pytest.mark.parametrize("instances, options, message", [
    (np.zeros((2, 2, 2, 2), int), {}, "H×W or N×H×W"),
    (np.zeros((4, 4)), {}, "integer"),
    (-np.ones((4, 4), int), {}, "positive"),
    (np.zeros((4, 4), int), {"sigma": 0}, "sigma"),
    (np.zeros((4, 4), int), {"class_weights": (1, 2, 3)}, "pair"),
])
def test_weight_map_refuses_bad_input(instances, options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        losses.unet_weight_map(instances, **options)


# --- weighted_cross_entropy ---------------------------------------------------------------------


def weighted_both(logits, target, weight_map, **options):
    t = losses.weighted_cross_entropy(torch.from_numpy(logits), torch.from_numpy(target), weight_map, **options)
    k = losses.weighted_cross_entropy(tf.constant(np.moveaxis(logits, 1, -1)), target, weight_map, **options)
    return float(t), float(k)


def test_weighted_cross_entropy_matches_numpy_in_both_frameworks():
    instances = np.stack([two_cells(), two_cells(gap=4)])[:, :20, :24]
    target = (instances > 0).astype(np.int64)
    logits = np.random.default_rng(11).normal(size=(2, 2, 20, 24)).astype(np.float32)
    w = losses.unet_weight_map(instances)
    nll = -np.log(np.take_along_axis(softmax(logits.astype(np.float64), 1), target[:, None], 1)[:, 0])
    expected = (w * nll).mean()
    t, k = weighted_both(logits, target, w)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)
    # torch accepts its own tensor as the weight map too
    assert float(losses.weighted_cross_entropy(torch.from_numpy(logits), torch.from_numpy(target),
                                               torch.from_numpy(w))) == pytest.approx(expected, rel=1e-5)


def test_weighted_cross_entropy_with_unit_weights_is_cross_entropy_and_ignores_pixels():
    logits, labels = sample(12)
    labels[1, 2:] = 255
    ones = np.ones(labels.shape, np.float32)
    np.testing.assert_allclose(weighted_both(logits, labels, ones, ignore_index=255),
                               both("cross_entropy", logits, labels, ignore_index=255), rtol=1e-5)


def test_weighted_cross_entropy_with_one_channel():
    logits, target = binary_sample(13)
    w = np.random.default_rng(13).uniform(0.5, 3, size=target.shape).astype(np.float32)
    s, y = sigmoid(logits[:, 0].astype(np.float64)), target
    expected = (w * -(y * np.log(s) + (1 - y) * np.log(1 - s))).mean()
    t, k = weighted_both(logits, target, w)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


def test_weighted_cross_entropy_has_gradients_and_checks_the_map_shape():
    logits, labels = sample(14)
    x = torch.from_numpy(logits).requires_grad_()
    losses.weighted_cross_entropy(x, torch.from_numpy(labels), np.ones(labels.shape)).backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="weight_map has shape"):
        losses.weighted_cross_entropy(x, torch.from_numpy(labels), np.ones((2, 6, 6)))
    with pytest.raises(ValueError, match="weight_map has shape"):
        losses.weighted_cross_entropy(tf.constant(np.moveaxis(logits, 1, -1)), labels, np.ones((6, 7)))


@pytest.mark.parametrize("name, channels", [("dice", 1), ("bce+dice", 1), ("focal", 1), ("focal", 3),
                                            ("cross_entropy+dice", 3)])
def test_keras_compiled_loss_equals_the_loss_on_the_model_output(name, channels):
    # Keras squeezes a one-channel y_pred to y_true's rank before calling a loss function;
    # a one-channel loss must still read it as one channel, not as W classes.
    import keras

    rng = np.random.default_rng(15)
    x = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, max(channels, 2), size=(4, 8, 8))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(channels, 3, padding="same")])
    loss = losses.get_loss(name, "keras")
    model.compile(optimizer="adam", loss=loss)
    compiled = model.evaluate(x, y, batch_size=len(x), verbose=0)
    direct = float(loss(y, model(x)))
    assert compiled == pytest.approx(direct, rel=1e-5)
    assert direct == pytest.approx(both(name, np.moveaxis(np.array(model(x)), -1, 1).copy(), y)[0], rel=1e-5)


# --- ignore_index in every loss, and logits that do not fit the target ---------------------------

IGNORED = 255


def with_ignored_pixels(labels):
    """``labels`` with a block and a column labelled IGNORED, and the mask of the pixels that still count."""
    labels = labels.copy()
    labels[0, 1:4, 2:6] = IGNORED
    labels[1, :, -1] = IGNORED
    return labels, labels != IGNORED


def counted_pixels(logits, labels, keep):
    """The counted pixels alone, as one image one pixel wide: ``1×C×M×1`` logits and a ``1×M×1`` target.

    Every loss here is a mean, or a ratio of sums, over pixels, so on these it is the loss of those pixels alone.
    """
    picked = np.moveaxis(logits, 1, -1)[keep]  # M×C
    return np.ascontiguousarray(picked.T[None, :, :, None]), labels[keep][None, :, None]


LOSS_CASES = [("cross_entropy", 4, {}), ("cross_entropy", 4, {"class_weights": [0.5, 1.0, 2.0, 3.0]}),
              ("dice", 4, {}), ("dice", 1, {}), ("dice", 1, {"smooth": 0.1}),
              ("bce", 1, {}), ("bce", 1, {"pos_weight": 3.0}),
              ("focal", 4, {}), ("focal", 1, {"alpha": 0.25}),
              ("cross_entropy+dice", 4, {}), ("bce+dice", 1, {}), ("focal+dice", 1, {})]


def logits_and_labels(channels, seed):
    return sample(seed, classes=channels) if channels > 1 else binary_sample(seed)


@pytest.mark.parametrize("name, channels, options", LOSS_CASES)
def test_ignored_pixels_count_for_nothing_in_both_frameworks(name, channels, options):
    logits, labels = logits_and_labels(channels, 21)
    labels, keep = with_ignored_pixels(labels)
    expected = both(name, *counted_pixels(logits, labels, keep), **options)
    np.testing.assert_allclose(both(name, logits, labels, ignore_index=IGNORED, **options), expected, rtol=1e-5)


def test_one_channel_dice_ignores_pixels_as_numpy_does():
    logits, target = binary_sample(22)
    target, keep = with_ignored_pixels(target)
    s, y = sigmoid(logits[:, 0].astype(np.float64)) * keep, np.where(keep, target, 0)
    expected = 1 - (2 * (s * y).sum() + 1) / (s.sum() + y.sum() + 1)
    t, k = both("dice", logits, target, ignore_index=IGNORED)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


def test_one_channel_weighted_cross_entropy_ignores_pixels():
    logits, target = binary_sample(23)
    target, keep = with_ignored_pixels(target)
    w = np.random.default_rng(23).uniform(0.5, 3, size=target.shape).astype(np.float32)
    s, y = sigmoid(logits[:, 0].astype(np.float64)), np.where(keep, target, 0)
    expected = (w * -(y * np.log(s) + (1 - y) * np.log(1 - s)))[keep].mean()
    t, k = weighted_both(logits, target, w, ignore_index=IGNORED)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name, channels", [("cross_entropy", 4), ("dice", 4), ("dice", 1), ("bce", 1),
                                            ("focal", 4), ("focal", 1), ("cross_entropy+dice", 4)])
def test_a_batch_of_ignored_pixels_only_costs_nothing_in_both_frameworks(name, channels):
    # a random crop that holds only ignored pixels must not turn the loss into NaN (0 / 0) and stop training
    logits, labels = logits_and_labels(channels, 24)
    labels = np.full_like(labels, IGNORED)
    assert both(name, logits, labels, ignore_index=IGNORED) == pytest.approx((0.0, 0.0), abs=1e-7)
    x = torch.from_numpy(logits).requires_grad_()
    losses.get_loss(name, "torch", ignore_index=IGNORED)(x, torch.from_numpy(labels)).backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().max()) == pytest.approx(0.0, abs=1e-7)


SHAPE_CASES = [("cross_entropy", 3), ("dice", 3), ("dice", 1), ("bce", 1), ("focal", 3), ("focal", 1),
               ("bce+dice", 1)]


def torch_loss(name, logits, target):
    return losses.get_loss(name, "torch")(torch.from_numpy(logits), torch.from_numpy(target))


def keras_loss(name, logits, target):
    return losses.get_loss(name, "keras")(target, tf.constant(logits))


@pytest.mark.parametrize("name, channels", SHAPE_CASES)
def test_a_target_of_another_size_is_refused_with_both_shapes(name, channels):
    target = np.zeros((2, 9, 8), np.int64)  # one row too many
    with pytest.raises(ValueError, match=rf"logits N×C×H×W = \(2, {channels}, 8, 8\) do not match "
                                         r"target N×H×W = \(2, 9, 8\).*expected.*\(2, 8, 8\)"):
        torch_loss(name, np.zeros((2, channels, 8, 8), np.float32), target)
    with pytest.raises(ValueError, match=rf"logits N×H×W×C = \(2, 8, 8, {channels}\) do not match "
                                         r"target N×H×W = \(2, 9, 8\).*expected.*\(2, 8, 8\)"):
        keras_loss(name, np.zeros((2, 8, 8, channels), np.float32), target)


@pytest.mark.parametrize("name, channels", SHAPE_CASES)
def test_a_target_of_another_batch_size_is_refused(name, channels):
    target = np.zeros((3, 8, 8), np.int64)
    with pytest.raises(ValueError, match=r"do not match target N×H×W = \(3, 8, 8\)"):
        torch_loss(name, np.zeros((2, channels, 8, 8), np.float32), target)
    with pytest.raises(ValueError, match=r"do not match target N×H×W = \(3, 8, 8\)"):
        keras_loss(name, np.zeros((2, 8, 8, channels), np.float32), target)


@pytest.mark.parametrize("name", ["cross_entropy", "dice", "focal", "cross_entropy+dice"])
def test_one_hot_targets_and_channels_first_keras_logits_are_refused(name):
    # torch: a one-hot N×C×H×W target where class indices N×H×W are expected
    with pytest.raises(ValueError, match=r"target N×H×W = \(2, 3, 8, 8\).*expected.*\(2, 8, 8\)"):
        torch_loss(name, np.zeros((2, 3, 8, 8), np.float32), np.zeros((2, 3, 8, 8), np.int64))
    # Keras: torch's channels-first layout, so that the last axis is not the classes
    with pytest.raises(ValueError, match=r"logits N×H×W×C = \(2, 3, 8, 8\) do not match target N×H×W = \(2, 8, 8\)"):
        keras_loss(name, np.zeros((2, 3, 8, 8), np.float32), np.zeros((2, 8, 8), np.int64))


def test_weighted_cross_entropy_refuses_a_target_of_another_size():
    logits, target = np.zeros((2, 3, 8, 8), np.float32), np.zeros((2, 8, 9), np.int64)
    with pytest.raises(ValueError, match=r"logits N×C×H×W = \(2, 3, 8, 8\) do not match target N×H×W = \(2, 8, 9\)"):
        losses.weighted_cross_entropy(torch.from_numpy(logits), torch.from_numpy(target), np.ones((2, 8, 9)))
    with pytest.raises(ValueError, match=r"logits N×H×W×C = \(2, 8, 8, 3\) do not match target N×H×W = \(2, 8, 9\)"):
        losses.weighted_cross_entropy(tf.zeros((2, 8, 8, 3)), target, np.ones((2, 8, 9)))


def test_targets_that_fit_are_still_taken():
    # one channel: the target may keep its channel axis; Keras may hand over one-channel logits squeezed
    logits, target = binary_sample(25)
    expected = both("bce+dice", logits, target)
    assert float(torch_loss("bce+dice", logits, target[:, None])) == pytest.approx(expected[0], rel=1e-6)
    squeezed = np.moveaxis(logits, 1, -1)[..., 0]
    assert float(keras_loss("bce+dice", squeezed, target)) == pytest.approx(expected[1], rel=1e-6)
    assert float(keras_loss("bce+dice", squeezed[..., None], target[..., None])) == pytest.approx(expected[1], rel=1e-6)
