"""One ``fit``, ``evaluate`` and ``predict`` for torch and Keras models.

Taught in chapter 1 (Training).  The framework is read off the model, the
arguments are the same, and the history has the same keys for both:
``loss`` (mean training loss over the epoch's batches) and, when validation
data is given, ``val_loss`` and ``val_<metric>`` for each metric.
"""

from __future__ import annotations

import sys

from .common import METRICS, History


def _framework_of(model) -> str:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return "keras"
    raise TypeError(f"expected a torch.nn.Module or a keras.Model, got {type(model).__name__}")


def _engine(model):
    if _framework_of(model) == "torch":
        from . import torch as engine
    else:
        from . import keras as engine
    return engine


def fit(model, train_data, val_data=None, *, loss, epochs: int, lr: float, batch_size: int = 16,
        metrics=("miou", "dice"), seed: int = 0, device=None, verbose: bool = True) -> History:
    """Train ``model`` on an :class:`~coursekit.data.ArrayDataset` with Adam; return its history.

    ``loss`` is a name understood by :func:`coursekit.losses.get_loss`.  After
    each epoch the model is evaluated on ``val_data`` and one line is printed.
    ``device`` (``run.device``) moves a torch model there first; Keras places
    its work itself and ignores it.
    """
    return _engine(model).fit(model, train_data, val_data, loss=loss, epochs=epochs, lr=lr,
                              batch_size=batch_size, metrics=metrics, seed=seed, device=device,
                              verbose=verbose)


def evaluate(model, data, *, loss=None, metrics=("miou", "dice"), batch_size: int = 32) -> dict:
    """Mean loss (if ``loss`` is given) and metrics of ``model`` on ``data``, in eval mode."""
    return _engine(model).evaluate(model, data, loss=loss, metrics=metrics, batch_size=batch_size)


def predict(model, images, batch_size: int = 32):
    """Class-index masks (``N×H×W`` NumPy int64) for ``N×H×W×C`` float images."""
    return _engine(model).predict(model, images, batch_size=batch_size)


__all__ = ["History", "METRICS", "evaluate", "fit", "predict"]
