"""One ``fit``, ``evaluate`` and ``predict`` for torch and Keras models.

Taught in chapter 1 (Training) and used by every later chapter.  The framework
is read off the model, the arguments are the same, and the history has the
same keys for both: ``loss`` (mean training loss over the epoch's batches)
and the epoch's confusion-matrix metrics of those batches (``mean_iou``, ``mean_dice``,
``pixel_accuracy``: as the model scored while it trained), then, when
validation data is given, ``val_loss`` and ``val_<metric>`` for each metric.
Checkpoints (``checkpoint_dir``) let a run that was cut off, as a Colab
runtime is, continue where it stopped with the same result as if it had never
stopped.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import smoke
from ..metrics import check_ignore_index
from ..models.registry import framework_of
from .common import (
    METRICS,
    PER_IMAGE_METRICS,
    History,
    Options,
    TrainingDiverged,
    as_arrays,
    check_metrics,
    labels_from_logits,
)


def _engine(model):
    if framework_of(model) == "torch":
        from . import torch as engine
    else:
        from . import keras as engine
    return engine


def fit(model, train_data, val_data=None, *, loss, epochs: int, lr: float, batch_size: int = 16,
        optimizer: str = "adam", metrics=("mean_iou", "mean_dice"), ignore_index: int | None = None,
        checkpoint_dir=None, resume: bool = True, amp="auto", schedule: str | None = None,
        grad_clip: float | None = None, compile: bool = False, seed: int = 0, device=None,
        verbose: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    ``train_data`` and ``val_data`` are :class:`~coursekit.data.ArrayDataset`\\ s
    (or ``(images, masks)`` pairs); each epoch visits the training images once
    in a shuffled order drawn from ``seed``.  ``loss`` is a name understood by
    :func:`coursekit.losses.get_loss` (or a callable in the framework's own
    argument order).  ``optimizer`` is ``"adam"``, ``"adamw"`` or ``"sgd"``
    (momentum 0.9), at learning rate ``lr``; ``schedule`` changes the rate:
    ``None``, ``"cosine"`` (down to 0 over the run) or ``"plateau"`` (halved
    when the validation loss stalls); ``grad_clip`` caps the gradients' global
    norm.  After each epoch the model is scored on ``val_data`` with
    ``metrics`` and one line is printed; while an epoch runs, a terminal or a
    notebook with widgets shows a progress bar with the running loss, which
    disappears when the epoch ends.  ``verbose=False`` prints nothing.

    ``ignore_index``: the mask value of pixels that belong to no class (PASCAL
    VOC's 255 on object borders).  They are neither trained on (the loss, when
    given by name, leaves them out; a callable loss must do so itself) nor
    scored, in the training metrics and the validation ones alike.  Not given,
    it is the one the data declares (``ArrayDataset.ignore_index``).  Any
    other label outside ``0 .. num_classes-1`` is refused before training
    starts, with the error :func:`evaluate` gives.

    ``checkpoint_dir``: after each epoch, model, optimiser, schedule, history
    and every random state are saved there (atomically; see
    :mod:`coursekit.train.checkpoint`).  With ``resume=True`` a later call
    continues from the last saved epoch and ends exactly as an uninterrupted
    run would (same device, same seeds); ``resume=False`` starts afresh.  A
    Google Drive folder keeps checkpoints across Colab sessions.

    ``loss="weighted_cross_entropy"`` weighs every pixel's cross-entropy by a
    weight map (chapter 4: :func:`coursekit.losses.unet_weight_map`): the
    training data then carries ``weight_maps`` (an ``ArrayDataset`` field, or an
    ``(images, masks, weight_maps)`` triple).  Validation scores the model, not
    the objective, so its ``val_loss`` is then the unweighted cross-entropy.

    A NaN or infinite training loss raises :class:`TrainingDiverged` naming the
    epoch and step; the state that produced it is not saved.

    torch only: ``device`` (``run.device``) moves the model there first.
    ``amp="auto"`` trains in mixed precision on a CUDA GPU (bf16 autocast where
    the GPU supports it, else fp16 with a gradient scaler) and in full
    precision elsewhere; ``"bf16"``/``"fp16"`` force autocast to that type, on a
    CPU too; ``"off"`` never.  On a GPU convolutional models use channels-last
    memory, and ``compile=True`` runs the step through ``torch.compile``.
    Keras fixes precision when a model is built (``keras.mixed_precision``), so
    there ``amp`` only checks the model's policy, and ``device`` and
    ``compile`` are not needed.

    Smoke mode (``COURSEKIT_SMOKE=1``, :mod:`coursekit.smoke`) trains at most one
    epoch of two steps, validates on two images, and prints and records the
    time of each step.

    Past one GPU (appendix): the same script started as ``torchrun
    --nproc_per_node=N script.py`` trains a torch model data-parallel in N
    processes, one per GPU, with ``DistributedDataParallel``; a Keras model
    built inside ``with tf.distribute.MirroredStrategy().scope():`` trains on
    all the strategy's GPUs.  Either way ``batch_size`` is the global batch,
    which N must divide: each process or replica trains on its share, the
    step and the history are those of the whole batch, and torch's first
    process alone prints and writes checkpoints (see
    :mod:`coursekit.train.distributed`, also for batch norm).
    """
    given = locals()
    engine = _engine(model)  # refuses a model of neither framework before the options are checked
    opts = Options(**{option.name: given[option.name] for option in dataclasses.fields(Options)})
    return engine.fit(model, train_data, val_data, opts)


def evaluate(model, data, metrics=("mean_iou", "mean_dice"), *, loss=None, batch_size: int = 32,
             ignore_index: int | None = None) -> dict:
    """Mean loss (if ``loss`` is given) and ``metrics`` of ``model`` on ``data``, in eval mode.

    ``metrics`` are names, those of the functions in :mod:`coursekit.metrics` that
    score a whole set: ``"mean_iou"``, ``"mean_dice"`` and ``"pixel_accuracy"`` come
    from the confusion matrix summed over all batches (so they do not depend
    on ``batch_size``); ``"boundary_f1"`` and ``"hd95"`` (chapter 6) are scored
    per image and class, as :func:`coursekit.metrics.mean_boundary_f1` and
    :func:`coursekit.metrics.mean_hd95` score the whole set.  Pixels labelled
    ``ignore_index`` (by default the one the data declares) count in neither
    the loss nor the metrics, as in :func:`fit`; any other label outside the
    classes is an error.  Smoke mode (:mod:`coursekit.smoke`) scores the first
    two images only.
    """
    engine = _engine(model)
    metrics = check_metrics(metrics)
    if smoke.enabled():
        arrays = as_arrays(data, "data")
        data = smoke.first_images(arrays)
        smoke.record("evaluate", images=len(arrays), scored=len(data))
    return engine.evaluate(model, data, loss=loss, metrics=metrics, batch_size=batch_size,
                           ignore_index=check_ignore_index(ignore_index))


def _predict_tiled(model, framework, images, tile_size, output_size, batch_size):
    from ..data import tiling

    if tile_size is None:
        raise ValueError("tiled=True needs tile_size (the model's input tile) and, for a same-size model, "
                         "output_size (the centre to keep); see coursekit.data.tiling")
    predict_fn = tiling.torch_predict_fn(model) if framework == "torch" else tiling.keras_predict_fn(model)
    return [labels_from_logits(tiling.predict_tiled(predict_fn, image, tile_size, output_size, batch_size))
            for image in images]


def predict(model, images, batch_size: int = 32, *, tiled: bool = False, tile_size=None, output_size=None):
    """Class-index masks (NumPy int64) for float images, in eval mode.

    ``images`` is ``N×H×W×C`` (masks ``N×H×W``) or one ``H×W×C`` image (mask
    ``H×W``).  ``tiled=True`` predicts each image tile by tile with mirrored
    borders (chapter 4, U-Net; :func:`coursekit.data.tiling.predict_tiled`):
    ``tile_size`` is the input tile, ``output_size`` the part of each tile's
    prediction that is kept.  Tiled, ``images`` may also be a list of images of
    different sizes, and a list of masks comes back.

    Smoke mode (:mod:`coursekit.smoke`) predicts the first two images of a set
    and gives the others class 0 everywhere, in masks of the usual shape.
    """
    framework = framework_of(model)
    if tiled:
        single = isinstance(images, np.ndarray) and images.ndim == 3
        if not single and smoke.enabled() and len(images) > smoke.IMAGES:
            return _smoke_predict_tiled(model, framework, images, tile_size, output_size, batch_size)
        masks = _predict_tiled(model, framework, [images] if single else images, tile_size, output_size,
                               batch_size)
        if single:
            return masks[0]
        return np.stack(masks) if isinstance(images, np.ndarray) else masks
    images = np.asarray(images)
    if images.ndim == 3:
        return predict(model, images[None], batch_size)[0]
    if images.ndim != 4:
        raise ValueError(f"images must be N×H×W×C or one H×W×C image, got shape {images.shape}")
    if smoke.enabled() and len(images) > smoke.IMAGES:
        predicted = _engine(model).predict(model, images[:smoke.IMAGES], batch_size=batch_size)
        smoke.record("predict", images=len(images), predicted=len(predicted))
        masks = np.zeros((len(images), *predicted.shape[1:]), predicted.dtype)
        masks[:len(predicted)] = predicted
        return masks
    return _engine(model).predict(model, images, batch_size=batch_size)


def _smoke_predict_tiled(model, framework, images, tile_size, output_size, batch_size):
    """Smoke mode: the first images of a set predicted tile by tile, class 0 everywhere in the others."""
    predicted = _predict_tiled(model, framework, images[:smoke.IMAGES], tile_size, output_size, batch_size)
    smoke.record("predict", images=len(images), predicted=len(predicted), tiled=True)
    masks = predicted + [np.zeros(np.shape(image)[:2], predicted[0].dtype) for image in images[smoke.IMAGES:]]
    return np.stack(masks) if isinstance(images, np.ndarray) else masks


__all__ = ["History", "METRICS", "PER_IMAGE_METRICS", "TrainingDiverged", "evaluate", "fit", "predict"]
