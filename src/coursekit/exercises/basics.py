"""Checkers for chapter 1 (Segmentation basics): one-hot masks, the IoU of one class, soft Dice, a Dice loss
that trains and one training step, the last two in the framework the chapter runs."""

from __future__ import annotations

import numpy as np

from .core import ExerciseFailed, Passed, as_array_like, not_answered, run_cases

__all__ = ["check_class_iou", "check_one_hot", "check_soft_dice", "check_soft_dice_loss", "check_training_step"]


def _label_images(rng, count, num_classes, shape=(4, 5)):
    return [rng.integers(0, num_classes, shape) for _ in range(count)]


def check_one_hot(student_fn) -> Passed:
    """Chapter 1, exercise "one-hot masks": ``one_hot(mask, num_classes, ignore_index)`` -> ``H×W×C`` float32 of 0/1.

    A pixel labelled ``ignore_index`` (``None``: there is none) gets a row of
    zeros, so that it counts for no class; the hidden cases put it above the
    classes (255, as PASCAL VOC) and right after them (``num_classes``, as
    CamVid's void).
    """
    rng = np.random.default_rng(101)
    cases = [(np.array([[0, 1], [2, 1]]), 3, None), (np.zeros((2, 3), np.int64), 2, None)]
    cases += [(m, 4, None) for m in _label_images(rng, 2, 4)]
    cases += [(np.array([[1, 1]]), 5, None)]  # classes 0, 2, 3, 4 absent: their planes stay empty
    cases += [(np.array([[0, 255], [2, 1]]), 3, 255)]
    for void in (255, 4):
        mask = rng.integers(0, 4, (4, 5))
        mask[rng.random((4, 5)) < 0.3] = void
        cases.append((mask, 4, void))

    def reference(mask, num_classes, ignore_index):
        return (np.asarray(mask)[..., None] == np.arange(num_classes)).astype(np.float32)

    return run_cases("one_hot", student_fn, cases, reference, compare=_compare_one_hot,
                     names=("mask", "num_classes", "ignore_index"))


def _compare_one_hot(expected, got, case) -> str | None:
    mask, num_classes, ignore_index = case
    got, refused = as_array_like(expected, got)
    if refused:
        return refused
    if got.shape == (*expected.shape[:-1], num_classes + 1):
        return "one plane too many: ignored pixels get no plane of their own, only a row of zeros"
    if got.shape != expected.shape:
        return ""
    if np.allclose(got, expected):
        return None
    if ignore_index is not None:
        void = np.asarray(mask) == ignore_index
        if np.allclose(got[~void], expected[~void]):
            return "right for every class pixel, but an ignored pixel must be a row of zeros"
    return ""


def _reference_iou(target, prediction, cls):
    t, p = target == cls, prediction == cls
    union = np.logical_or(t, p).sum()
    return float(np.logical_and(t, p).sum() / union) if union else float("nan")


def check_class_iou(student_fn) -> Passed:
    """Chapter 1, exercise "IoU of one class": ``class_iou(target, prediction, cls)``.

    A class absent from both target and prediction has IoU ``nan``.
    """
    rng = np.random.default_rng(202)
    cases = [(np.array([[0, 1], [1, 1]]), np.array([[1, 1], [0, 1]]), 1),
             (np.array([[0, 0], [0, 0]]), np.array([[0, 0], [0, 0]]), 1),   # absent from both
             (np.array([[2, 2], [0, 0]]), np.array([[0, 0], [0, 0]]), 2)]   # missed entirely
    for t, p in zip(_label_images(rng, 4, 3), _label_images(rng, 4, 3)):
        cases.append((t, p, int(rng.integers(0, 3))))
    return run_cases("class_iou", student_fn, cases, _reference_iou, names=("target", "prediction", "cls"))


def check_soft_dice(student_fn) -> Passed:
    """Chapter 1, exercise "soft Dice": ``soft_dice(probs, target, smooth=1.0)`` for one class.

    ``probs`` are predicted probabilities, ``target`` 0/1, both ``H×W``;
    the answer is ``(2 Σ p g + s) / (Σ p + Σ g + s)``.
    """
    rng = np.random.default_rng(303)
    cases = [(np.array([[0.9, 0.2], [0.1, 0.8]]), np.array([[1.0, 0.0], [0.0, 1.0]]), 1.0),
             (np.zeros((2, 2)), np.zeros((2, 2)), 1.0),   # empty class, empty prediction: Dice 1
             (np.full((2, 2), 0.5), np.ones((2, 2)), 0.0)]
    for _ in range(4):
        cases.append((rng.uniform(size=(3, 4)), (rng.uniform(size=(3, 4)) > 0.5).astype(np.float64),
                      float(rng.choice([1.0, 0.5]))))

    def reference(probs, target, smooth=1.0):
        return float((2 * (probs * target).sum() + smooth) / (probs.sum() + target.sum() + smooth))

    return run_cases("soft_dice", student_fn, cases, reference, names=("probs", "target", "smooth"))


# --- Build it: the loss and the training step that train.fit hides (both frameworks) -------------------


def _check_framework(framework: str) -> None:
    if framework not in ("torch", "keras"):
        raise ValueError(f"framework must be 'torch' or 'keras' (run.framework), got {framework!r}")


def _dice_cases(rng) -> list[tuple]:
    cases = []
    for shape in ((2, 3, 4, 5), (1, 4, 3, 3), (3, 2, 4, 4)):
        n, c, h, w = shape
        labels = rng.integers(0, c, (n, h, w))
        if c > 2:
            labels[labels == c - 1] = 0  # one class absent from the batch: it scores 1, by the smoothing
        cases.append((rng.normal(size=shape).astype(np.float32) * 2, labels))
    return cases


def _value_and_gradient(loss_fn, logits: np.ndarray, labels: np.ndarray, framework: str):
    """The loss of N×C×H×W ``logits`` (given to Keras channels-last) and its gradient, back in N×C×H×W."""
    message = ("the loss carries no gradient back to the logits: compute it with the framework's own operations "
               "on probabilities (no argmax, no NumPy, no .item() inside)")
    if framework == "torch":
        import torch

        z = torch.tensor(logits, requires_grad=True)
        value = loss_fn(z, torch.from_numpy(labels))
        if not isinstance(value, torch.Tensor) or not value.requires_grad:
            raise ValueError(message)
        (gradient,) = torch.autograd.grad(value.sum(), z)
        return float(value.detach()), gradient.numpy()
    import tensorflow as tf

    z = tf.Variable(logits.transpose(0, 2, 3, 1))
    with tf.GradientTape() as tape:
        value = loss_fn(z, tf.constant(labels))
    gradient = tape.gradient(value, z) if isinstance(value, (tf.Tensor, tf.Variable)) else None
    if gradient is None:
        raise ValueError(message)
    return float(value), gradient.numpy().transpose(0, 3, 1, 2)


def check_soft_dice_loss(student_fn, framework: str = "torch") -> Passed:
    """Chapter 1, exercise "A Dice loss that trains": ``soft_dice_loss(logits, target)`` in ``framework``.

    ``logits`` are the framework's own tensor (torch ``N×C×H×W``, Keras
    ``N×H×W×C``), ``target`` the ``N×H×W`` class indices; the answer is chapter
    1's soft Dice loss with ``s = 1``, sums over the whole batch, mean over all
    classes.  Its value and its gradient with respect to the logits must both
    match :func:`coursekit.losses.soft_dice_loss`.
    """
    _check_framework(framework)
    from ..losses import soft_dice_loss

    def graded(fn):
        return lambda logits, labels: _value_and_gradient(fn, logits, labels, framework)

    return run_cases("soft_dice_loss", graded(student_fn), _dice_cases(np.random.default_rng(101)),
                     graded(soft_dice_loss), tol=1e-5, names=("logits (N×C×H×W)", "target"), show_values=False,
                     compare=_compare_value_and_gradient)


def _compare_value_and_gradient(expected, got, case) -> str | None:
    (value, gradient), (got_value, got_gradient) = expected, got
    if abs(value - got_value) > 1e-5:
        return f"the loss is {got_value:.6f}, expected {value:.6f}"
    if not np.allclose(gradient, got_gradient, atol=1e-5):
        return (f"the value is right but the gradient is not (largest difference "
                f"{np.abs(gradient - got_gradient).max():.2e}): is something computed outside the graph?")
    return None


def _tiny_model(framework: str, seed: int):
    """3 input channels -> 3 classes, two convolutions, no batch norm: a step is then one exact update."""
    rng = np.random.default_rng(seed)
    first = rng.normal(scale=0.3, size=(4, 3, 3, 3)).astype(np.float32)   # out, in, kh, kw
    second = rng.normal(scale=0.3, size=(3, 4, 1, 1)).astype(np.float32)
    biases = rng.normal(scale=0.1, size=4).astype(np.float32), rng.normal(scale=0.1, size=3).astype(np.float32)
    if framework == "torch":
        import torch
        from torch import nn

        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1))
        with torch.no_grad():
            for conv, kernel, bias in ((model[0], first, biases[0]), (model[2], second, biases[1])):
                conv.weight.copy_(torch.from_numpy(kernel))
                conv.bias.copy_(torch.from_numpy(bias))
        return model, torch.optim.SGD(model.parameters(), lr=0.5)
    import keras

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.ReLU(), keras.layers.Conv2D(3, 1)])
    model.layers[0].set_weights([first.transpose(2, 3, 1, 0), biases[0]])
    model.layers[2].set_weights([second.transpose(2, 3, 1, 0), biases[1]])
    return model, keras.optimizers.SGD(learning_rate=0.5)


def _weights(model, framework: str) -> list[np.ndarray]:
    if framework == "torch":
        return [p.detach().numpy().copy() for p in model.parameters()]
    return [w.numpy().copy() for w in model.trainable_weights]


def _reference_step(framework: str):
    if framework == "torch":
        import torch.nn.functional as F

        def step(model, optimizer, images, masks):
            model.train()
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), masks)
            loss.backward()
            optimizer.step()
            return loss.item()
        return step
    import keras
    import tensorflow as tf

    def step(model, optimizer, images, masks):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(masks, model(images, training=True),
                                                                               from_logits=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
        return float(loss)
    return step


def check_training_step(student_fn, framework: str = "torch") -> Passed:
    """Chapter 1, exercise "One training step": ``training_step(model, optimizer, images, masks)`` -> loss.

    One step of what ``train.fit`` repeats: scores for the batch, the mean
    cross-entropy over its pixels, its gradients, one update by ``optimizer``;
    it returns the loss (a float) of the weights *before* the update.  The
    checker runs two steps on a small model from the same start as a
    reference and compares both losses and the weights after each step.
    ``images`` are the framework's batch (torch ``N×3×H×W``, Keras ``N×H×W×3``).
    """
    _check_framework(framework)
    reference = _reference_step(framework)
    rng = np.random.default_rng(7)
    cases = [((2, 6, 6), 11), ((3, 5, 7), 12), ((1, 8, 8), 13)]
    for number, ((n, h, w), seed) in enumerate(cases, 1):
        where = f"training_step: hidden case {number} of {len(cases)}"
        shown = f"input: a batch of {n} images of {h}×{w} and their masks, 3 classes"
        images = rng.uniform(size=(n, 3, h, w)).astype(np.float32)
        masks = rng.integers(0, 3, (n, h, w))
        if framework == "torch":
            import torch

            batch = (torch.from_numpy(images), torch.from_numpy(masks))
        else:
            batch = (images.transpose(0, 2, 3, 1), masks)
        theirs, ours = _tiny_model(framework, seed), _tiny_model(framework, seed)
        for step in (1, 2):
            expected = reference(*ours, *batch)
            try:
                got = student_fn(*theirs, *batch)
            except NotImplementedError:
                raise not_answered("training_step") from None
            except Exception as err:
                raise ExerciseFailed(f"{where} raised {type(err).__name__}: {err}\n{shown}, step {step}") from err
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise ExerciseFailed(f"{where}: return the loss as a number, got {type(got).__name__}\n{shown}") \
                    from None
            if abs(got - expected) > 1e-5:
                raise ExerciseFailed(f"{where}, step {step}: the loss returned is {got:.6f}, expected {expected:.6f}"
                                     f" (the mean cross-entropy of the batch, before the update)\n{shown}")
            difference = max(float(np.abs(a - b).max())
                             for a, b in zip(_weights(theirs[0], framework), _weights(ours[0], framework)))
            if difference > 1e-5:
                hint = (" Were the gradients of the first step still there (zero them before each backward pass)?"
                        if step == 2 else " Were the gradients computed and applied once, by the optimizer?")
                raise ExerciseFailed(f"{where}: after step {step} the weights differ from the expected ones by up "
                                     f"to {difference:.2e}.{hint}\n{shown}")
    return Passed("training_step", len(cases))
