"""What the torch and Keras engines share: metrics by name, history, epoch lines."""

from __future__ import annotations

import numpy as np

from .. import metrics as M

# name -> score computed from a confusion matrix
METRICS = {
    "miou": lambda cm: M._nanmean(M.iou_from_confusion(cm)),
    "dice": lambda cm: M._nanmean(M.dice_from_confusion(cm)),
    "pixel_accuracy": M.pixel_accuracy_from_confusion,
}


def check_metrics(names) -> tuple[str, ...]:
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; choose from {sorted(METRICS)}")
    return tuple(names)


class History(dict):
    """Per-epoch values by name (``loss``, ``val_loss``, ``val_miou``, ...)."""

    def add(self, values: dict) -> None:
        for key, value in values.items():
            self.setdefault(key, []).append(float(value))

    @property
    def epochs(self) -> int:
        return len(self.get("loss", []))

    def table(self) -> str:
        """The history as a Markdown table, one row per epoch."""
        keys = list(self)
        lines = ["| epoch | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for e in range(self.epochs):
            lines.append(f"| {e + 1} | " + " | ".join(f"{self[k][e]:.4f}" for k in keys) + " |")
        return "\n".join(lines)


class Evaluation:
    """Accumulates a loss and a confusion matrix over batches."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.confusion = np.zeros((num_classes, num_classes), np.int64)
        self.loss_sum = 0.0
        self.count = 0

    def update(self, predicted: np.ndarray, target: np.ndarray, loss: float | None = None) -> None:
        self.confusion += M.confusion_matrix(target, predicted, self.num_classes)
        if loss is not None:
            self.loss_sum += float(loss) * len(target)
        self.count += len(target)

    def result(self, metric_names, with_loss: bool) -> dict:
        out = {"loss": self.loss_sum / max(self.count, 1)} if with_loss else {}
        out.update({name: METRICS[name](self.confusion) for name in metric_names})
        return out


def batches(n: int, batch_size: int, rng: np.random.Generator | None = None):
    """Index arrays of consecutive batches, shuffled when ``rng`` is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def epoch_line(epoch: int, epochs: int, values: dict, seconds: float) -> str:
    shown = " - ".join(f"{k} {v:.3f}" for k, v in values.items())
    return f"epoch {epoch:>{len(str(epochs))}}/{epochs} - {seconds:.1f}s - {shown}"
