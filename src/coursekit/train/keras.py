"""The Keras side of :mod:`coursekit.train`: ``model.fit`` with the same arguments and history."""

from __future__ import annotations

import time

import keras
import numpy as np

from ..losses import get_loss
from .common import Evaluation, History, batches, check_metrics, epoch_line


class _EpochEnd(keras.callbacks.Callback):
    """Evaluates on the validation set after each epoch and prints coursekit's epoch line."""

    def __init__(self, val_data, loss, metrics, batch_size, epochs, history, verbose):
        super().__init__()
        self.val_data, self.loss, self.metrics = val_data, loss, metrics
        self.batch_size, self.epochs, self.history, self.verbose = batch_size, epochs, history, verbose

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = {"loss": float(logs["loss"])}
        if self.val_data is not None:
            scores = evaluate(self.model, self.val_data, loss=self.loss, metrics=self.metrics,
                              batch_size=self.batch_size)
            values.update({f"val_{k}": v for k, v in scores.items()})
        self.history.add(values)
        if self.verbose:
            print(epoch_line(epoch + 1, self.epochs, values, time.perf_counter() - self.start), flush=True)


def fit(model, train_data, val_data, *, loss, epochs, lr, batch_size, metrics, seed, device, verbose) -> History:
    metrics = check_metrics(metrics)
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=get_loss(loss, "keras"))
    history = History()
    callback = _EpochEnd(val_data, loss, metrics, batch_size, epochs, history, verbose)
    model.fit(train_data.images, train_data.masks, batch_size=batch_size, epochs=epochs, shuffle=True,
              verbose=0, callbacks=[callback])
    return history


def _labels(logits: np.ndarray) -> np.ndarray:
    labels = (logits[..., 0] > 0) if logits.shape[-1] == 1 else logits.argmax(-1)
    return labels.astype(np.int64)


def evaluate(model, data, *, loss, metrics, batch_size) -> dict:
    metrics = check_metrics(metrics)
    loss_fn = get_loss(loss, "keras") if loss else None
    acc = Evaluation(max(data.num_classes, 2))
    for index in batches(len(data), batch_size):
        logits = model(data.images[index], training=False)
        value = float(loss_fn(data.masks[index], logits)) if loss_fn else None
        acc.update(_labels(np.asarray(logits)), data.masks[index], value)
    return acc.result(metrics, with_loss=loss_fn is not None)


def predict(model, images, batch_size) -> np.ndarray:
    return np.concatenate([_labels(np.asarray(model(images[i], training=False)))
                           for i in batches(len(images), batch_size)])
