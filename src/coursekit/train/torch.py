"""The torch side of :mod:`coursekit.train`: a plain training loop."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..losses import get_loss
from .common import Evaluation, History, batches, check_metrics, epoch_line


def _device_of(model) -> torch.device:
    return next(model.parameters()).device


def _to_tensor(images: np.ndarray, device) -> torch.Tensor:
    """``N×H×W×C`` NumPy images to an ``N×C×H×W`` float tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().to(device)


def fit(model, train_data, val_data, *, loss, epochs, lr, batch_size, metrics, seed, device, verbose) -> History:
    metrics = check_metrics(metrics)
    loss_fn = get_loss(loss, "torch")
    if device is not None:
        model.to(device)
    device = _device_of(model)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history = History()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        for index in batches(len(train_data), batch_size, rng):
            index = np.sort(index)
            x = _to_tensor(train_data.images[index], device)
            y = torch.from_numpy(train_data.masks[index]).to(device)
            optimizer.zero_grad(set_to_none=True)
            value = loss_fn(model(x), y)
            value.backward()
            optimizer.step()
            total += value.item() * len(index)
            seen += len(index)
        values = {"loss": total / seen}
        if val_data is not None:
            scores = evaluate(model, val_data, loss=loss, metrics=metrics, batch_size=batch_size)
            values.update({f"val_{k}": v for k, v in scores.items()})
        history.add(values)
        if verbose:
            print(epoch_line(epoch, epochs, values, time.perf_counter() - start), flush=True)
    return history


@torch.no_grad()
def _logits(model, images: np.ndarray) -> torch.Tensor:
    return model(_to_tensor(images, _device_of(model)))


def evaluate(model, data, *, loss, metrics, batch_size) -> dict:
    metrics = check_metrics(metrics)
    loss_fn = get_loss(loss, "torch") if loss else None
    was_training = model.training
    model.eval()
    acc = Evaluation(max(data.num_classes, 2))
    for index in batches(len(data), batch_size):
        logits = _logits(model, data.images[index])
        target = torch.from_numpy(data.masks[index]).to(logits.device)
        value = loss_fn(logits, target).item() if loss_fn else None
        acc.update(_labels(logits), data.masks[index], value)
    model.train(was_training)
    return acc.result(metrics, with_loss=loss_fn is not None)


def _labels(logits: torch.Tensor) -> np.ndarray:
    """Class indices from logits: argmax over classes, or a 0.5 threshold for one channel."""
    labels = (logits[:, 0] > 0) if logits.shape[1] == 1 else logits.argmax(1)
    return labels.long().cpu().numpy()


def predict(model, images, batch_size) -> np.ndarray:
    was_training = model.training
    model.eval()
    out = [_labels(_logits(model, images[i])) for i in batches(len(images), batch_size)]
    model.train(was_training)
    return np.concatenate(out)
