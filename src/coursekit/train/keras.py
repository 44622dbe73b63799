"""The Keras side of :mod:`coursekit.train`: the same loop as torch around ``train_on_batch``.

Taught in chapter 1 (Training).  Keras' ``model.fit`` shuffles and keeps its
state in ways a checkpoint cannot restore exactly, so the shared loop
(``common.run``) drives one compiled ``train_on_batch`` per batch instead: the
same batches in the same order as torch, the same history, the same
checkpoints and resume.  Keras compiles the step itself (with XLA where it
can), so ``compile`` and ``device`` are not needed here.

A model built inside a ``tf.distribute.MirroredStrategy`` scope trains on all
the strategy's devices (appendix: Past one GPU): each replica gets a
contiguous share of every batch, and Keras averages their gradients.  That is
the whole batch's step when the shares are equal; an epoch's last batch that
does not split evenly weighs its replicas' shares equally (torch's engine
weighs them by size).
"""

from __future__ import annotations

import logging

import numpy as np

from ..losses import get_loss, pixel_cross_entropy
from ..runtime import import_tensorflow
from . import checkpoint
from .common import (
    Evaluation,
    Options,
    Trainer,
    as_arrays,
    check_checkpoint_dir,
    check_data_labels,
    check_metrics,
    check_split,
    check_weighting,
    labels_from_logits,
    prepare,
    run,
    share_of,
)

import_tensorflow()  # before Keras, so TensorFlow's start-up noise stays out of the chapter

import keras  # noqa: E402


class _ExpectedRetracing(logging.Filter):
    """Drops TensorFlow's warning that functions were traced again: every new model traces its own steps.

    A chapter that trains several models compiles a training and a predict
    step for each, which TensorFlow counts as "retracing" and warns about in
    the chapter's output, although nothing is traced twice for one model.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_ExpectedRetracing())

_MIXED = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def _optimizer(name: str, lr: float, clip: float | None):
    # epsilon and weight decay as torch's defaults, so the two engines take the same steps
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8, global_clipnorm=clip)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=1e-2, epsilon=1e-8, global_clipnorm=clip)
    return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, global_clipnorm=clip)


def _check_amp(model, amp: str) -> None:
    """Keras fixes a layer's precision when it is built, so ``amp`` can only confirm the model's policy."""
    policy = getattr(model.dtype_policy, "name", str(model.dtype_policy))
    if amp in _MIXED and policy != _MIXED[amp]:
        raise ValueError(f"amp={amp!r} needs a Keras model built under the {_MIXED[amp]!r} policy, this one computes "
                         f"in {policy!r}: call keras.mixed_precision.set_global_policy({_MIXED[amp]!r}) before "
                         "building the model (amp='auto' trains it as built)")
    if amp == "off" and policy.startswith("mixed"):
        raise ValueError(f"amp='off' but the model was built under the {policy!r} policy; build it under "
                         "'float32' or pass amp='auto'")


class TrainingConfusion(keras.metrics.Metric):
    """The confusion matrix of the training batches, counted inside Keras' compiled step.

    Keras clears it before every ``train_on_batch``, so it holds one batch's
    counts: the engine adds them up over the epoch.  Its result is the pixel
    accuracy, which Keras' logs show.  Pixels count once each whatever their
    loss weight (``sample_weight``).  Under a distribution strategy each
    replica counts its share; reading the counts sums the replicas'.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, name: str = "training_confusion"):
        super().__init__(name=name)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.counts = self.add_variable(shape=(num_classes * num_classes,), initializer="zeros", dtype="int64",
                                        name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        k = self.num_classes
        ops = keras.ops
        if y_pred.shape[-1] == 1:
            predicted = ops.cast(y_pred[..., 0] > 0, "int64")
        else:
            predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int64")
        target = ops.cast(ops.reshape(y_true, ops.shape(predicted)), "int64")
        valid = ops.logical_and(target >= 0, target < k)  # the labels were checked: what is outside is ignored
        if self.ignore_index is not None:  # an ignore index inside 0..k-1 leaves out that label too
            valid = ops.logical_and(valid, target != self.ignore_index)
        # Counted as one-hot rows of truth times one-hot columns of prediction: a matrix product compiles
        # under XLA, which Keras turns on by itself on a GPU, where a bincount does not.  Invalid pixels
        # go to an extra truth row that is dropped.  float32 counts exactly up to 2**24 pixels a batch.
        truth = ops.one_hot(ops.reshape(ops.where(valid, target, k), (-1,)), k + 1, dtype="float32")
        guess = ops.one_hot(ops.reshape(predicted, (-1,)), k, dtype="float32")
        counts = ops.matmul(ops.transpose(truth), guess)[:k]
        self.counts.assign_add(ops.cast(ops.reshape(counts, (-1,)), "int64"))

    def result(self):
        matrix = keras.ops.reshape(self.counts, (self.num_classes, self.num_classes))
        total = keras.ops.maximum(keras.ops.sum(matrix), 1)
        return keras.ops.cast(keras.ops.trace(matrix), "float32") / keras.ops.cast(total, "float32")

    def reset_state(self):
        self.counts.assign(keras.ops.zeros_like(self.counts))

    def matrix(self) -> np.ndarray:
        """The counts as a ``num_classes×num_classes`` array (true class by row)."""
        return np.asarray(self.counts.numpy()).reshape(self.num_classes, self.num_classes)


def _loss_fn(loss, ignore_index: int | None = None):
    """The loss by name, told which label to ignore; a callable is the caller's own and is used as it is."""
    if not isinstance(loss, str):
        return loss
    return get_loss(loss, "keras") if ignore_index is None else get_loss(loss, "keras", ignore_index=ignore_index)


class WeightedCrossEntropy(keras.losses.Loss):
    """:func:`coursekit.losses.weighted_cross_entropy` with the weight map as Keras' per-pixel ``sample_weight``.

    ``call`` returns each pixel's cross-entropy, 0 where the label is ignored,
    times (pixels / counted pixels).  Keras multiplies it by ``sample_weight``
    and divides the sum by the number of pixels, which leaves
    ``Σ w · CE / counted pixels``: the value of ``weighted_cross_entropy``.
    Keras reduces the per-pixel values itself, so under a distribution strategy
    it also divides each replica's loss by the number of replicas.
    """

    def __init__(self, ignore_index: int | None = None):
        super().__init__(name="weighted_cross_entropy")
        self.ignore_index = ignore_index

    def call(self, y_true, y_pred):
        per_pixel, counted = pixel_cross_entropy(y_pred, y_true, self.ignore_index, name="weighted_cross_entropy")
        pixels = keras.ops.cast(keras.ops.size(counted), counted.dtype)
        return per_pixel * counted * (pixels / keras.ops.maximum(keras.ops.sum(counted), 1.0))


def _per_example(loss):
    """``loss`` returned once per image, for training under a distribution strategy.

    Replicas add up their gradients, so Keras divides each replica's loss by
    their number, but only when it reduces the loss itself (Keras 3.15's
    ``reduce_values`` leaves a loss that is already one number alone, as
    coursekit's are); the same value for every image reduces to the same mean.
    """
    def per_example(y_true, y_pred):
        value = loss(y_true, y_pred)
        return value if len(value.shape) else value * keras.ops.ones(keras.ops.shape(y_pred)[:1], value.dtype)

    return per_example


class KerasTrainer(Trainer):
    framework = "keras"

    def __init__(self, model, train, val, opts: Options):
        _check_amp(model, opts.amp)
        self.model, self.train, self.val, self.opts = model, train, val, opts
        self.weighted = check_weighting(opts.loss, train)
        if self.weighted:  # validation scores the model, not the training objective: unweighted cross-entropy
            self.loss_fn = WeightedCrossEntropy(opts.ignore_index)
            self.val_loss_fn = _loss_fn("cross_entropy", opts.ignore_index)
        else:
            self.loss_fn = self.val_loss_fn = _loss_fn(opts.loss, opts.ignore_index)
        channels = model.output_shape[-1]
        if val is not None:
            check_data_labels(val, channels, opts.ignore_index, "val_data")
        classes = check_data_labels(train, channels, opts.ignore_index, "train_data")
        # the strategy the model was built under (or none): Keras wants optimiser and metric made in its scope
        self.strategy = model.distribute_strategy
        self.replicas = self.strategy.num_replicas_in_sync
        with self.strategy.scope():
            # a mixed_float16 model gets Keras' loss-scale optimiser from compile() itself
            self.confusion = TrainingConfusion(classes, opts.ignore_index)
            model.compile(optimizer=_optimizer(opts.optimizer, opts.lr, opts.grad_clip),
                          loss=self._compiled_loss(),
                          metrics=[self.confusion])
        self.optimizer = model.optimizer
        self.reset_training_confusion()
        if self.replicas > 1:
            check_split(len(train), opts.batch_size, self.replicas)
            # Keras 3 builds the compiled loss and metrics from the first batch's shapes, which per-replica values
            # lack: one plain batch builds them (Keras clears its counts before the first training batch)
            model.test_on_batch(*self._batch(np.arange(1)))

    def _compiled_loss(self):
        """The loss given to Keras: under a strategy, a coursekit loss (one number) becomes one value per image,
        so that Keras divides it by the number of replicas; the weighted loss is per pixel already."""
        if self.replicas > 1 and not isinstance(self.loss_fn, keras.losses.Loss):
            return _per_example(self.loss_fn)
        return self.loss_fn

    def seed(self, seed: int) -> None:
        keras.utils.set_random_seed(seed)

    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate = lr

    def train_mode(self) -> None:
        pass  # train_on_batch runs the layers in training mode

    def _batch(self, index: np.ndarray) -> tuple:
        """Images, masks and, for the weighted loss, the weight maps as Keras' per-pixel ``sample_weight``."""
        batch = (self.train.images[index], self.train.masks[index])
        return (*batch, self.train.weight_maps[index]) if self.weighted else batch

    def _per_replica(self, values: np.ndarray):
        """Each replica's contiguous share of ``values``, made on its device."""
        def share(context):
            part = share_of(values, context.replica_id_in_sync_group, context.num_replicas_in_sync)
            return keras.ops.convert_to_tensor(part)

        return self.strategy.experimental_distribute_values_from_function(share)

    def step(self, index: np.ndarray) -> float:
        batch = self._batch(index)
        if self.replicas > 1:
            batch = tuple(self._per_replica(values) for values in batch)
        logs = self.model.train_on_batch(*batch, return_dict=True)
        self.epoch_confusion += self.confusion.matrix()  # Keras clears the batch's counts at the next step
        return float(logs["loss"])

    def reset_training_confusion(self) -> None:
        self.epoch_confusion = np.zeros((self.confusion.num_classes,) * 2, np.int64)

    def training_confusion(self) -> np.ndarray:
        return self.epoch_confusion.copy()

    def floats(self, handles: list) -> list[float]:
        return handles

    def validate(self) -> dict:
        return evaluate(self.model, self.val, loss=self.val_loss_fn, metrics=self.opts.metrics,
                        batch_size=self.opts.batch_size, ignore_index=self.opts.ignore_index)

    def save(self, directory, state: dict):
        return checkpoint.save_keras(check_checkpoint_dir(directory), self.model, self.optimizer, state)

    def load(self, directory) -> dict | None:
        return checkpoint.load_keras(directory, self.model, self.optimizer)


def fit(model, train_data, val_data, opts: Options):
    train, val, opts = prepare(train_data, val_data, opts)
    return run(KerasTrainer(model, train, val, opts), train, val is not None, opts)


def _logits(model, images: np.ndarray) -> np.ndarray:
    if model.distribute_strategy.num_replicas_in_sync > 1:
        # predict_on_batch gives every replica the whole batch and returns their outputs end to end
        return np.asarray(keras.ops.convert_to_numpy(model(images, training=False)), np.float32)
    # Keras' compiled predict step (traced once per model, again at most for a last, smaller batch): on a CPU
    # it takes a third of the time of calling the model eagerly, for the same numbers
    return np.asarray(model.predict_on_batch(images), np.float32)


def evaluate(model, data, *, loss, metrics, batch_size, ignore_index=None) -> dict:
    metrics = check_metrics(metrics)
    data = as_arrays(data, "data")
    ignore_index = data.ignore_index if ignore_index is None else ignore_index
    loss_fn = _loss_fn(loss, ignore_index) if loss else None
    acc = Evaluation(data.num_classes, metrics, ignore_index)
    for start in range(0, len(data), batch_size):
        part = slice(start, start + batch_size)
        logits = _logits(model, data.images[part])
        if start == 0:
            acc.check_labels(data.masks, logits.shape[-1])
        value = float(loss_fn(data.masks[part], logits)) if loss_fn else None
        acc.update(labels_from_logits(logits), data.masks[part], value, channels=logits.shape[-1])
    return acc.result(metrics, with_loss=loss_fn is not None)


def predict(model, images, batch_size) -> np.ndarray:
    return np.concatenate([labels_from_logits(_logits(model, images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])
