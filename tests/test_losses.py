import numpy as np
import pytest
import tensorflow as tf
import torch

from coursekit import losses


def softmax(z, axis):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def sample(seed, classes=4, shape=(2, 6, 7)):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(shape[0], classes) + shape[1:]).astype(np.float32)
    labels = rng.integers(0, classes, size=shape)
    return logits, labels


def both(name, logits, labels, **options):
    t = losses.get_loss(name, "torch", **options)(torch.from_numpy(logits), torch.from_numpy(labels))
    k = losses.get_loss(name, "keras", **options)(labels, tf.constant(np.moveaxis(logits, 1, -1)))
    return float(t), float(k)


@pytest.mark.parametrize("seed", range(3))
def test_cross_entropy_matches_numpy_in_both_frameworks(seed):
    logits, labels = sample(seed)
    p = softmax(logits, 1)
    expected = -np.mean(np.log(np.take_along_axis(p, labels[:, None], 1)))
    t, k = both("cross_entropy", logits, labels)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


def test_weighted_and_ignored_cross_entropy_agree_across_frameworks():
    logits, labels = sample(7)
    labels[0, :2] = 255
    t, k = both("cross_entropy", logits, labels, class_weights=[0.5, 1.0, 2.0, 3.0], ignore_index=255)
    assert t == pytest.approx(k, rel=1e-5)
    p = softmax(logits, 1)
    keep = labels != 255
    safe = np.where(keep, labels, 0)
    w = np.array([0.5, 1.0, 2.0, 3.0])[safe] * keep
    nll = -np.log(np.take_along_axis(p, safe[:, None], 1)[:, 0])
    assert t == pytest.approx((nll * w).sum() / w.sum(), rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_soft_dice_matches_numpy_in_both_frameworks(seed):
    logits, labels = sample(seed)
    p = softmax(logits, 1)
    g = np.moveaxis(np.eye(4)[labels], -1, 1)
    axes = (0, 2, 3)
    expected = 1 - np.mean((2 * (p * g).sum(axes) + 1) / (p.sum(axes) + g.sum(axes) + 1))
    t, k = both("dice", logits, labels)
    assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


def test_soft_dice_of_a_perfect_confident_prediction_is_zero():
    labels = np.random.default_rng(0).integers(0, 3, size=(1, 5, 5))
    logits = np.moveaxis(np.eye(3)[labels], -1, 1).astype(np.float32) * 50
    t, k = both("dice", logits, labels)
    assert t == pytest.approx(0, abs=1e-5) and k == pytest.approx(0, abs=1e-5)


def test_binary_losses_with_one_channel():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 1, 5, 5)).astype(np.float32)
    target = (rng.uniform(size=(2, 5, 5)) > 0.5).astype(np.float32)
    s = 1 / (1 + np.exp(-logits[:, 0]))
    bce = -np.mean(target * np.log(s) + (1 - target) * np.log(1 - s))
    dice = 1 - (2 * (s * target).sum() + 1) / (s.sum() + target.sum() + 1)
    for name, expected in (("bce", bce), ("dice", dice)):
        t, k = both(name, logits, target)
        assert t == pytest.approx(expected, rel=1e-5) and k == pytest.approx(expected, rel=1e-5)


def test_losses_have_gradients():
    logits, labels = sample(1)
    x = torch.from_numpy(logits).requires_grad_()
    losses.get_loss("cross_entropy+dice", "torch")(x, torch.from_numpy(labels)).backward()
    assert x.grad.abs().sum() > 0


def test_combined_loss_is_the_sum():
    logits, labels = sample(2)
    combined = both("cross_entropy+dice", logits, labels)
    parts = np.add(both("cross_entropy", logits, labels), both("dice", logits, labels))
    np.testing.assert_allclose(combined, parts, rtol=1e-5)


@pytest.mark.parametrize("name, framework, message", [("hinge", "torch", "unknown loss"),
                                                      ("dice", "jax", "framework")])
def test_bad_names_are_refused(name, framework, message):
    with pytest.raises(ValueError, match=message):
        losses.get_loss(name, framework)
