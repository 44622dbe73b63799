"""Losses for segmentation, in PyTorch and in Keras/TensorFlow, with equal values.

Taught in chapter 1 (Losses).  Models return *logits*; each loss applies the
softmax (several classes) or the sigmoid (one channel) itself, which is both
numerically safer and what the frameworks' own losses expect.

Each function takes the framework's own tensors in its own layout and
dispatches on their type:

* torch: ``logits`` ``N×C×H×W``, ``target`` ``N×H×W`` class indices
  (or ``N×1×H×W`` / ``N×H×W`` 0-1 floats for the binary losses);
* TensorFlow: ``logits`` ``N×H×W×C``, ``target`` ``N×H×W`` (channels last).

:func:`get_loss` returns a callable with the framework's own argument order:
``loss(logits, target)`` for torch, ``loss(y_true, y_pred)`` for Keras.
"""

from __future__ import annotations

import sys


def _is_torch(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_valid(target, ignore_index, dtype):
    """Target with ignored pixels set to class 0, and a 0/1 mask of the pixels that count."""
    import torch

    if ignore_index is None:
        return target, torch.ones_like(target, dtype=dtype)
    ignored = target == ignore_index
    return torch.where(ignored, 0, target), (~ignored).to(dtype)


def _tf_valid(target, ignore_index):
    import tensorflow as tf

    if ignore_index is None:
        return target, tf.ones_like(target, tf.float32)
    ignored = target == ignore_index
    return tf.where(ignored, 0, target), tf.cast(~ignored, tf.float32)


def cross_entropy(logits, target, class_weights=None, ignore_index: int | None = None):
    """Mean pixel-wise cross-entropy of softmax(logits) against class indices.

    With ``class_weights`` each pixel's term is multiplied by the weight of its
    true class and the mean is taken over the weights (as torch does).
    Pixels labelled ``ignore_index`` count for nothing.
    """
    if _is_torch(logits):
        import torch
        import torch.nn.functional as F

        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=logits.dtype,
                                                                     device=logits.device)
        return F.cross_entropy(logits, target.long(), weight=weight,
                               ignore_index=-100 if ignore_index is None else ignore_index)
    import tensorflow as tf

    safe_target, weight = _tf_valid(tf.cast(target, tf.int32), ignore_index)
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_target,
                                                               logits=tf.cast(logits, tf.float32))
    if class_weights is not None:
        weight = weight * tf.gather(tf.constant(class_weights, tf.float32), safe_target)
    return tf.reduce_sum(per_pixel * weight) / tf.maximum(tf.reduce_sum(weight), 1e-12)


def bce_with_logits(logits, target, pos_weight: float | None = None):
    """Mean binary cross-entropy of sigmoid(logits) against 0/1 targets.

    ``logits`` may carry a channel axis of size 1 (``N×1×H×W`` in torch,
    ``N×H×W×1`` in TensorFlow); ``target`` may or may not.
    """
    if _is_torch(logits):
        import torch
        import torch.nn.functional as F

        if logits.ndim == target.ndim + 1:
            logits = logits.squeeze(1)
        weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), pos_weight=weight)
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    if len(logits.shape) == len(target.shape) + 1:
        logits = tf.squeeze(logits, -1)
    target = tf.cast(target, tf.float32)
    if pos_weight is None:
        per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
    else:
        per_pixel = tf.nn.weighted_cross_entropy_with_logits(labels=target, logits=logits, pos_weight=pos_weight)
    return tf.reduce_mean(per_pixel)


def soft_dice_loss(logits, target, smooth: float = 1.0, ignore_index: int | None = None):
    """One minus the mean soft Dice over classes.

    For each class ``c`` the probabilities ``p`` and the one-hot target ``g`` are
    summed over the whole batch:  ``D_c = (2 Σ p g + s) / (Σ p + Σ g + s)``.
    ``smooth`` (``s``) keeps the ratio defined for a class absent from the batch
    and from the prediction (then ``D_c = 1``).  With one logit channel the
    loss is the binary Dice of sigmoid(logits) against a 0/1 target.
    """
    if _is_torch(logits):
        import torch
        import torch.nn.functional as F

        if logits.shape[1] == 1:
            probs = torch.sigmoid(logits)
            onehot = target.reshape(probs.shape).to(probs.dtype)
            valid = torch.ones_like(probs)
        else:
            probs = torch.softmax(logits, dim=1)
            safe, valid = _torch_valid(target.long(), ignore_index, probs.dtype)
            onehot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
            valid = valid.unsqueeze(1)
        dims = (0,) + tuple(range(2, probs.ndim))
        probs, onehot = probs * valid, onehot * valid
        intersection = (probs * onehot).sum(dims)
        sizes = probs.sum(dims) + onehot.sum(dims)
        return 1 - ((2 * intersection + smooth) / (sizes + smooth)).mean()
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    if logits.shape[-1] == 1:
        probs = tf.sigmoid(logits)
        onehot = tf.reshape(tf.cast(target, tf.float32), tf.shape(probs))
        valid = tf.ones_like(probs)
    else:
        probs = tf.nn.softmax(logits, axis=-1)
        safe, valid = _tf_valid(tf.cast(target, tf.int32), ignore_index)
        onehot = tf.one_hot(safe, logits.shape[-1])
        valid = valid[..., None]
    axes = list(range(len(probs.shape) - 1))
    probs, onehot = probs * valid, onehot * valid
    intersection = tf.reduce_sum(probs * onehot, axes)
    sizes = tf.reduce_sum(probs, axes) + tf.reduce_sum(onehot, axes)
    return 1 - tf.reduce_mean((2 * intersection + smooth) / (sizes + smooth))


LOSSES = {"cross_entropy": cross_entropy, "bce": bce_with_logits, "dice": soft_dice_loss}


def get_loss(name: str, framework: str, **options):
    """A loss callable in the framework's own calling convention.

    ``name`` is a key of :data:`LOSSES`, or several joined by ``+`` (for example
    ``"cross_entropy+dice"``), whose values are added.  torch gets
    ``loss(logits, target)``; Keras gets ``loss(y_true, y_pred)``.
    """
    parts = name.split("+")
    unknown = [p for p in parts if p not in LOSSES]
    if unknown:
        raise ValueError(f"unknown loss {unknown[0]!r}; choose from {sorted(LOSSES)} (joined with '+')")
    if framework not in ("torch", "keras"):
        raise ValueError(f"framework must be 'torch' or 'keras', got {framework!r}")

    def total(logits, target):
        return sum(LOSSES[p](logits, target, **options) for p in parts)

    if framework == "torch":
        return total

    def keras_loss(y_true, y_pred):
        return total(y_pred, y_true)

    keras_loss.__name__ = name.replace("+", "_plus_")
    return keras_loss
