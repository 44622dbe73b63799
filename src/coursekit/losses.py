"""Losses for segmentation, in PyTorch and in Keras/TensorFlow, with equal values.

Taught in chapter 1 (Losses: cross-entropy, soft Dice and their sum, used by chapters 2-6),
SegNet's median-frequency class balancing in chapter 3 (on CamVid), the border-weighted loss in
chapter 4 (U-Net), class weights from inverse frequencies in chapter 5 (Medical image data).
The focal loss is here for readers who train on unbalanced data; no chapter teaches it yet.

Models return *logits*; each loss applies the softmax (several classes) or the sigmoid (one
channel) itself, which is both numerically safer and what the frameworks' own losses expect.

Each function takes the framework's own tensors in its own layout and
dispatches on their type:

* torch: ``logits`` ``N×C×H×W``, ``target`` ``N×H×W`` class indices
  (or ``N×1×H×W`` / ``N×H×W`` 0-1 floats for the binary losses);
* TensorFlow: ``logits`` ``N×H×W×C``, ``target`` ``N×H×W`` (channels last).

A target of another shape is refused with both shapes named, rather than
broadcast or reshaped into a wrong but finite loss.  In every loss, pixels
labelled ``ignore_index`` count for nothing: not in a mean, a sum or a
denominator, so that a batch of ignored pixels only costs 0.

:func:`get_loss` returns a callable with the framework's own argument order:
``loss(logits, target)`` for torch, ``loss(y_true, y_pred)`` for Keras.

Two helpers work on NumPy label images before training: :func:`class_frequency_weights`
(weights for ``cross_entropy``'s ``class_weights``) and :func:`unet_weight_map` (per-pixel
weights for :func:`weighted_cross_entropy`).
"""

from __future__ import annotations

import inspect
import sys
import warnings

import numpy as np


def _is_torch(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _shape(x) -> tuple | None:
    """The shape as a tuple (``None`` for a size Keras does not know while it traces), or ``None`` for unknown rank."""
    shape = getattr(x, "shape", None)
    try:
        return tuple(None if d is None else int(d) for d in (np.shape(x) if shape is None else shape))
    except (TypeError, ValueError):  # a TensorShape of unknown rank cannot be iterated
        return None


def _layout(ndim: int, channels_last: bool, with_channels: bool = True) -> str:
    """``N×C×H×W``, ``N×H×W×C``, ``N×H×W`` ... for a tensor of ``ndim`` axes, to name shapes in an error."""
    spatial = ndim - 2 if with_channels else ndim - 1
    axes = ["N", *("DHW"[-spatial:] if 0 < spatial <= 3 else [f"S{i + 1}" for i in range(max(spatial, 0))])]
    if with_channels:
        axes.insert(len(axes) if channels_last else 1, "C")
    return "×".join(axes)


def _same(shape, expected) -> bool:
    return len(shape) == len(expected) and all(a is None or b is None or a == b for a, b in zip(shape, expected))


def _check_target(loss: str, logits, target, channels_last: bool, may_match_logits: bool,
                  pixels_need_one_channel: bool = False) -> None:
    """Refuse a target whose pixels are not the logits' pixels, before broadcasting or a reshape hides it.

    The target normally holds one value per pixel: the logits' shape without
    the channel axis.  ``may_match_logits``: a target of the logits' own shape
    is fine too (a one-channel target that keeps its channel axis, or the
    one-channel logits Keras hands over without it).
    ``pixels_need_one_channel``: one value per pixel fits one logit channel
    only (binary cross-entropy has no class index to pick a channel with).
    """
    logits_shape, target_shape = _shape(logits), _shape(target)
    if logits_shape is None or target_shape is None or len(logits_shape) < 2:
        return
    channel = len(logits_shape) - 1 if channels_last else 1
    pixels = logits_shape[:channel] + logits_shape[channel + 1:]
    channels = logits_shape[channel]
    expected = [] if pixels_need_one_channel and channels not in (1, None) else [pixels]
    if may_match_logits:
        expected.append(logits_shape)
    if any(_same(target_shape, shape) for shape in expected):
        return
    raise ValueError(f"{loss}: logits {_layout(len(logits_shape), channels_last)} = {logits_shape} do not match "
                     f"target {_layout(len(logits_shape) - 1, channels_last, with_channels=False)} = {target_shape}; "
                     f"expected a target of shape {' or '.join(str(shape) for shape in expected)}")


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
    return tf.where(ignored, tf.zeros_like(target), target), tf.cast(~ignored, tf.float32)


def _tf_logits(loss: str, logits, target):
    """float32 logits that keep their channel axis, once their shape is checked against the target's.

    Keras squeezes a one-channel axis off ``y_pred`` before it calls a loss
    function when ``y_true`` has none, so logits with the target's rank are
    one-channel logits.
    """
    import tensorflow as tf

    _check_target(loss, logits, target, channels_last=True, may_match_logits=True)
    logits = tf.cast(logits, tf.float32)
    return logits[..., None] if len(logits.shape) == len(target.shape) else logits


def _torch_binary(logits, target, ignore_index):
    """One-channel logits as N×H×W, the 0/1 target as floats (ignored pixels 0), and the mask of counted pixels."""
    import torch

    x = logits[:, 0]
    y = target.reshape(x.shape)
    valid = torch.ones_like(x) if ignore_index is None else (y != ignore_index).to(x.dtype)
    return x, torch.where(valid > 0, y.to(x.dtype), torch.zeros_like(x)), valid


def _tf_binary(logits, target, ignore_index):
    import tensorflow as tf

    x = logits[..., 0]
    y = tf.reshape(target, tf.shape(x))
    valid = tf.ones_like(x) if ignore_index is None else tf.cast(y != ignore_index, tf.float32)
    return x, tf.where(valid > 0, tf.cast(y, tf.float32), tf.zeros_like(x)), valid


def cross_entropy(logits, target, class_weights=None, ignore_index: int | None = None):
    """Mean pixel-wise cross-entropy of softmax(logits) against class indices.

    With ``class_weights`` each pixel's term is multiplied by the weight of its
    true class and the mean is taken over the weights (as torch does).
    Pixels labelled ``ignore_index`` count for nothing.
    """
    if _is_torch(logits):
        import torch
        import torch.nn.functional as F

        _check_target("cross_entropy", logits, target, channels_last=False, may_match_logits=False)
        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=logits.dtype,
                                                                     device=logits.device)
        if ignore_index is None:
            return F.cross_entropy(logits, target.long(), weight=weight)
        # torch's own mean divides by the counted pixels' weight, 0 in a batch of ignored pixels only: NaN
        safe, valid = _torch_valid(target.long(), ignore_index, torch.float32)
        per_pixel = F.cross_entropy(logits, safe, weight=weight, reduction="none")
        counted = valid if weight is None else weight.float()[safe] * valid
        return (per_pixel * valid).sum() / counted.sum().clamp_min(1e-12)
    import tensorflow as tf

    _check_target("cross_entropy", logits, target, channels_last=True, may_match_logits=False)
    safe_target, weight = _tf_valid(tf.cast(target, tf.int32), ignore_index)
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_target,
                                                               logits=tf.cast(logits, tf.float32))
    if class_weights is not None:
        weight = weight * tf.gather(tf.constant(class_weights, tf.float32), safe_target)
    return tf.reduce_sum(per_pixel * weight) / tf.maximum(tf.reduce_sum(weight), 1e-12)


def bce_with_logits(logits, target, pos_weight: float | None = None, ignore_index: int | None = None):
    """Mean binary cross-entropy of sigmoid(logits) against 0/1 targets.

    ``logits`` may carry a channel axis of size 1 (``N×1×H×W`` in torch,
    ``N×H×W×1`` in TensorFlow); ``target`` may or may not.  Pixels labelled
    ``ignore_index`` count for nothing.
    """
    if _is_torch(logits):
        import torch
        import torch.nn.functional as F

        _check_target("bce_with_logits", logits, target, channels_last=False, may_match_logits=True,
                      pixels_need_one_channel=True)
        if logits.ndim == target.ndim + 1:
            logits = logits.squeeze(1)
        weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
        if ignore_index is None:
            return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), pos_weight=weight)
        valid = target != ignore_index
        y = torch.where(valid, target, torch.zeros_like(target)).to(logits.dtype)
        per_pixel = F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight, reduction="none")
        return torch.where(valid, per_pixel, torch.zeros_like(per_pixel)).sum() / valid.sum().clamp_min(1)
    import tensorflow as tf

    _check_target("bce_with_logits", logits, target, channels_last=True, may_match_logits=True,
                  pixels_need_one_channel=True)
    logits = tf.cast(logits, tf.float32)
    if len(logits.shape) == len(target.shape) + 1:
        logits = tf.squeeze(logits, -1)
    target = tf.cast(target, tf.float32)
    valid = None if ignore_index is None else tf.cast(target != ignore_index, tf.float32)
    if valid is not None:
        target = target * valid
    if pos_weight is None:
        per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
    else:
        per_pixel = tf.nn.weighted_cross_entropy_with_logits(labels=target, logits=logits, pos_weight=pos_weight)
    if valid is None:
        return tf.reduce_mean(per_pixel)
    return tf.reduce_sum(per_pixel * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


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

        _check_target("soft_dice_loss", logits, target, channels_last=False, may_match_logits=logits.shape[1] == 1)
        if logits.shape[1] == 1:
            probs = torch.sigmoid(logits)
            safe, valid = _torch_valid(target.reshape(probs.shape), ignore_index, probs.dtype)
            onehot = safe.to(probs.dtype)
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

    logits = _tf_logits("soft_dice_loss", logits, target)
    if logits.shape[-1] == 1:
        probs = tf.sigmoid(logits)
        onehot, valid = _tf_valid(tf.reshape(tf.cast(target, tf.float32), tf.shape(probs)), ignore_index)
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


def _binary_alpha(alpha):
    """``(background, foreground)`` weights from a scalar (Lin et al.'s foreground alpha) or a pair."""
    if np.ndim(alpha) == 0:
        a = float(alpha)
        if not 0 <= a <= 1:
            raise ValueError(f"a scalar alpha is the foreground weight and must lie in [0, 1], got {a}")
        return 1 - a, a
    pair = [float(a) for a in np.ravel(alpha)]
    if len(pair) != 2:
        raise ValueError(f"with one logit channel alpha is a scalar or a (background, foreground) pair, "
                         f"got {len(pair)} values")
    return tuple(pair)


def _class_alpha(alpha, num_classes: int):
    if np.ndim(alpha) == 0 or np.size(alpha) != num_classes:
        raise ValueError(f"with {num_classes} logit channels alpha must hold one weight per class, "
                         f"got {np.ravel(alpha).tolist()}")
    return [float(a) for a in np.ravel(alpha)]


def focal_loss(logits, target, gamma: float = 2.0, alpha=None, ignore_index: int | None = None):
    """Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection", eq. 5), mean over pixels.

    ``FL = -α_t (1 - p_t)^γ log p_t``, where ``p_t`` is the probability given to
    the true class: the factor ``(1 - p_t)^γ`` shrinks the loss of pixels the
    model already gets right, so the many easy background pixels stop drowning
    the few hard ones.  ``gamma=0`` without ``alpha`` is plain cross-entropy.

    * Several logit channels: ``p = softmax(logits)``; ``alpha`` is ``None`` or
      one weight per class (for example from :func:`class_frequency_weights`).
    * One logit channel: ``p = sigmoid(logits)`` against a 0/1 target; ``alpha``
      is ``None``, a scalar ``a`` (weight ``a`` for the foreground and ``1 - a``
      for the background, the paper's convention; it used 0.25), or a
      ``(background, foreground)`` pair.

    Unlike ``cross_entropy``'s ``class_weights`` the result is the plain mean over
    the counted pixels, not normalised by the weights.  Pixels labelled
    ``ignore_index`` count for nothing.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if _is_torch(logits):
        import torch
        import torch.nn.functional as F

        _check_target("focal_loss", logits, target, channels_last=False, may_match_logits=logits.shape[1] == 1)
        logits = logits.float()  # (1 - p)^γ loses its precision in bf16 / fp16
        if logits.shape[1] == 1:
            x, y, valid = _torch_binary(logits, target, ignore_index)
            ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
            p = torch.sigmoid(x)
            term = ce * (1 - (p * y + (1 - p) * (1 - y))) ** gamma
            if alpha is not None:
                a0, a1 = _binary_alpha(alpha)
                term = term * (a1 * y + a0 * (1 - y))
        else:
            safe, valid = _torch_valid(target.long(), ignore_index, logits.dtype)
            log_pt = torch.log_softmax(logits, 1).gather(1, safe.unsqueeze(1)).squeeze(1)
            term = -((1 - log_pt.exp()) ** gamma) * log_pt
            if alpha is not None:
                weights = torch.tensor(_class_alpha(alpha, logits.shape[1]), dtype=logits.dtype,
                                       device=logits.device)
                term = term * weights[safe]
        return (term * valid).sum() / valid.sum().clamp_min(1)
    import tensorflow as tf

    logits = _tf_logits("focal_loss", logits, target)
    if logits.shape[-1] == 1:
        x, y, valid = _tf_binary(logits, target, ignore_index)
        ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
        p = tf.sigmoid(x)
        term = ce * (1 - (p * y + (1 - p) * (1 - y))) ** gamma
        if alpha is not None:
            a0, a1 = _binary_alpha(alpha)
            term = term * (a1 * y + a0 * (1 - y))
    else:
        safe, valid = _tf_valid(tf.cast(target, tf.int32), ignore_index)
        log_pt = tf.reduce_sum(tf.one_hot(safe, logits.shape[-1]) * tf.nn.log_softmax(logits, -1), -1)
        term = -((1 - tf.exp(log_pt)) ** gamma) * log_pt
        if alpha is not None:
            term = term * tf.gather(tf.constant(_class_alpha(alpha, logits.shape[-1]), tf.float32), safe)
    return tf.reduce_sum(term * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


def pixel_cross_entropy(logits, target, ignore_index: int | None = None, name: str = "pixel_cross_entropy"):
    """Each pixel's cross-entropy and a 0/1 map of the pixels that count, both ``N×H×W`` float32.

    Softmax cross-entropy against class indices, or for one logit channel the
    binary cross-entropy of sigmoid(logits) against a 0/1 target; a pixel
    labelled ``ignore_index`` gets 0 in the map (and class 0 in place of its
    label, so that its term is finite).  :func:`weighted_cross_entropy` weighs
    and averages these terms; Keras training in :mod:`coursekit.train` hands
    them to Keras, which weighs them by its per-pixel ``sample_weight``.
    ``name`` is the loss that error messages name.
    """
    if _is_torch(logits):
        import torch.nn.functional as F

        _check_target(name, logits, target, channels_last=False, may_match_logits=logits.shape[1] == 1)
        logits = logits.float()
        if logits.shape[1] == 1:
            x, y, valid = _torch_binary(logits, target, ignore_index)
            return F.binary_cross_entropy_with_logits(x, y, reduction="none"), valid
        safe, valid = _torch_valid(target.long(), ignore_index, logits.dtype)
        return F.cross_entropy(logits, safe, reduction="none"), valid
    import tensorflow as tf

    logits = _tf_logits(name, logits, target)
    if logits.shape[-1] == 1:
        x, y, valid = _tf_binary(logits, target, ignore_index)
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x), valid
    safe, valid = _tf_valid(tf.cast(target, tf.int32), ignore_index)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits), valid


def weighted_cross_entropy(logits, target, weight_map, ignore_index: int | None = None):
    """Cross-entropy with a weight per pixel: the U-Net paper's energy (Ronneberger et al. 2015, eq. 1).

    ``E = Σ_x w(x) · (-log p_ℓ(x)(x))``, here divided by the number of counted
    pixels so that its scale does not depend on the image size.  ``weight_map``
    has the target's per-pixel shape (``N×H×W``) in either framework and may be a
    NumPy array or a tensor; :func:`unet_weight_map` makes the paper's one.  With
    one logit channel the per-pixel term is the binary cross-entropy of
    sigmoid(logits) against a 0/1 target.  Pixels labelled ``ignore_index``
    count for nothing.  Taught in chapter 4 (U-Net).
    """
    per_pixel, valid = pixel_cross_entropy(logits, target, ignore_index, name="weighted_cross_entropy")
    if _is_torch(logits):
        import torch

        weight = torch.as_tensor(weight_map, dtype=per_pixel.dtype, device=per_pixel.device)
        _check_weight_map(tuple(weight.shape), tuple(per_pixel.shape))
        return (per_pixel * weight * valid).sum() / valid.sum().clamp_min(1)
    import tensorflow as tf

    weight = tf.cast(weight_map, tf.float32)
    _check_weight_map(tuple(weight.shape), tuple(per_pixel.shape))
    return tf.reduce_sum(per_pixel * weight * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


def _check_weight_map(weight_shape, pixel_shape) -> None:
    # Dimensions unknown while Keras traces the graph (None) are not compared.
    if len(weight_shape) != len(pixel_shape) or any(
            w is not None and p is not None and w != p for w, p in zip(weight_shape, pixel_shape)):
        raise ValueError(f"weight_map has shape {weight_shape} but the loss has one value per pixel in "
                         f"shape {pixel_shape} (the target's N×H×W)")


# ---------------------------------------------------------------------------
# Weights computed from label images (NumPy), before training.


def _label_images(masks, name: str) -> list[np.ndarray]:
    """One 2-D integer array per image, from an ``H×W`` array, an ``N×H×W`` array or a list of them."""
    if isinstance(masks, (list, tuple)):
        images = [np.asarray(m) for m in masks]
    else:
        array = np.asarray(masks)
        images = [array] if array.ndim == 2 else list(array) if array.ndim == 3 else None
        if images is None:
            raise ValueError(f"{name} must be H×W or N×H×W, got shape {array.shape}")
    for image in images:
        if image.ndim != 2:
            raise ValueError(f"each image of {name} must be H×W, got shape {image.shape}")
        if not np.issubdtype(image.dtype, np.integer):
            raise TypeError(f"{name} must hold integer labels, not {image.dtype}")
    if not images:
        raise ValueError(f"{name} holds no image")
    return images


def class_frequency_weights(masks, num_classes: int, method: str = "median_frequency",
                            ignore_index: int | None = None) -> np.ndarray:
    """Class weights for ``cross_entropy(class_weights=...)`` from how often each class occurs in ``masks``.

    ``masks`` is an ``H×W`` label image, an ``N×H×W`` batch or a list of label
    images.  Two rules:

    * ``"median_frequency"`` (median frequency balancing, Eigen & Fergus 2015,
      "Predicting Depth, Surface Normals and Semantic Labels with a Common
      Multi-Scale Convolutional Architecture"; used to train SegNet):
      ``f_c`` = pixels of class ``c`` / pixels of the images in which ``c``
      appears, and ``w_c = median(f) / f_c``.  The class at the median frequency
      weighs 1, rarer classes more, commoner ones less.
    * ``"inverse_frequency"``: ``w_c = n / (K n_c)`` for ``n`` counted pixels of
      which ``n_c`` are of class ``c`` and ``K`` classes present, so that the
      mean weight over the pixels is 1.

    Pixels labelled ``ignore_index`` are not counted.  A class found in no mask
    gets weight 0 (it is never a pixel's true class there) and a warning, since
    weights computed on a subset missing a class would make that class count
    for nothing later.  Chapter 3 (SegNet) teaches ``"median_frequency"`` on CamVid and sets it beside the
    weights SegNet's authors used; chapter 5 (Medical image data) uses ``"inverse_frequency"``.
    """
    if method not in ("median_frequency", "inverse_frequency"):
        raise ValueError(f"method must be 'median_frequency' or 'inverse_frequency', got {method!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    counts = np.zeros(num_classes, np.int64)       # pixels of each class
    exposure = np.zeros(num_classes, np.int64)     # pixels of the images in which each class appears
    for image in _label_images(masks, "masks"):
        labels = image[image != ignore_index] if ignore_index is not None else image.ravel()
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels[(labels < 0) | (labels >= num_classes)][0]
            raise ValueError(f"masks hold label {bad}, outside 0..{num_classes - 1} "
                             f"(num_classes={num_classes}, ignore_index={ignore_index})")
        here = np.bincount(labels, minlength=num_classes)
        counts += here
        exposure += np.where(here > 0, labels.size, 0)
    present = counts > 0
    if not present.any():
        raise ValueError("masks hold no counted pixel, so no class frequency can be measured")
    if not present.all():
        warnings.warn(f"classes {np.flatnonzero(~present).tolist()} occur in no mask and get weight 0",
                      stacklevel=2)
    weights = np.zeros(num_classes, np.float64)
    if method == "median_frequency":
        frequency = counts[present] / exposure[present]
        weights[present] = np.median(frequency) / frequency
    else:
        weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def unet_weight_map(instances, w0: float = 10.0, sigma: float = 5.0, class_weights=None) -> np.ndarray:
    """The U-Net paper's per-pixel loss weights (Ronneberger et al. 2015, eq. 2), from instance masks.

    ``w(x) = w_c(x) + w0 · exp(-(d1(x) + d2(x))² / (2σ²))``, where ``d1`` and ``d2``
    are the distances (in pixels) from ``x`` to the nearest and the
    second-nearest cell.  The border term is added on background pixels only: it
    is large in the thin gaps between touching cells, which the network must
    learn to keep as background so that the cells come out separate.  With fewer
    than two cells in an image there is no second-nearest cell and no border
    term.

    ``instances`` is an ``H×W`` (or ``N×H×W``) integer image: 0 for background,
    and one positive number per cell (the ``instances`` of
    :func:`coursekit.data.synthetic.cells`).  ``w_c`` balances the two classes
    (background 0, cell 1): with ``class_weights=None`` each image's more
    frequent class weighs 1 and the other ``n_frequent / n_rare``; or give a
    ``(background, cell)`` pair, for example from :func:`class_frequency_weights`
    over the training set.  The paper uses ``w0 = 10`` and ``σ ≈ 5`` pixels.
    Returns float32 weights of the same shape, for :func:`weighted_cross_entropy`.
    Taught in chapter 4 (U-Net).
    """
    from scipy.ndimage import distance_transform_edt

    if w0 < 0 or sigma <= 0:
        raise ValueError(f"need w0 >= 0 and sigma > 0, got w0={w0}, sigma={sigma}")
    array = np.asarray(instances)
    if array.ndim == 3:
        return np.stack([unet_weight_map(image, w0, sigma, class_weights) for image in array])
    if array.ndim != 2:
        raise ValueError(f"instances must be H×W or N×H×W, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"instances must hold integer instance numbers, not {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"instances must be 0 (background) or a positive instance number, found {array.min()}")
    cell = array > 0
    if class_weights is None:
        sizes = np.array([(~cell).sum(), cell.sum()])
        balance = np.where(sizes > 0, sizes.max() / np.maximum(sizes, 1), 1.0)
    else:
        balance = np.asarray(class_weights, np.float64).ravel()
        if balance.size != 2:
            raise ValueError(f"class_weights is a (background, cell) pair, got {balance.tolist()}")
    weights = balance[cell.astype(np.int64)]
    numbers = np.unique(array[cell])
    if numbers.size >= 2:
        # Keep the two smallest distances seen so far rather than a stack of one map per cell.
        d1 = np.full(array.shape, np.inf)
        d2 = np.full(array.shape, np.inf)
        for number in numbers:
            d = distance_transform_edt(array != number)
            d2 = np.minimum(d2, np.maximum(d1, d))
            d1 = np.minimum(d1, d)
        border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
        weights = weights + np.where(cell, 0.0, border)
    return weights.astype(np.float32)


LOSSES = {"cross_entropy": cross_entropy, "bce": bce_with_logits, "dice": soft_dice_loss, "focal": focal_loss}


def _options_of(loss) -> set[str]:
    """The keyword options a loss takes besides ``logits`` and ``target``."""
    return set(list(inspect.signature(loss).parameters)[2:])


def get_loss(name: str, framework: str, **options):
    """A loss callable in the framework's own calling convention.

    ``name`` is a key of :data:`LOSSES`, or several joined by ``+`` (for example
    ``"cross_entropy+dice"``, or ``"bce+dice"`` for one-channel outputs), whose
    values are added.  Each option goes to the parts that take it
    (``get_loss("bce+dice", "torch", smooth=0.5, pos_weight=3.0)`` gives
    ``smooth`` to the Dice and ``pos_weight`` to the BCE); an option that no part
    takes is an error.  torch gets ``loss(logits, target)``; Keras gets
    ``loss(y_true, y_pred)``.
    """
    parts = name.split("+")
    unknown = [p for p in parts if p not in LOSSES]
    if unknown:
        raise ValueError(f"unknown loss {unknown[0]!r}; choose from {sorted(LOSSES)} (joined with '+')")
    if framework not in ("torch", "keras"):
        raise ValueError(f"framework must be 'torch' or 'keras', got {framework!r}")
    taken = [_options_of(LOSSES[p]) for p in parts]
    unused = sorted(set(options) - set().union(*taken))
    if unused:
        offered = {p: sorted(t) for p, t in zip(parts, taken)}
        raise ValueError(f"option {unused[0]!r} is taken by no part of loss {name!r}; options by part: {offered}")
    calls = [(LOSSES[p], {k: v for k, v in options.items() if k in t}) for p, t in zip(parts, taken)]

    def total(logits, target):
        return sum(loss(logits, target, **kwargs) for loss, kwargs in calls)

    if framework == "torch":
        return total

    def keras_loss(y_true, y_pred):
        return total(y_pred, y_true)

    keras_loss.__name__ = name.replace("+", "_plus_")
    return keras_loss
