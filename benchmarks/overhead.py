"""What ``coursekit.train.fit`` costs over a plain hand-written loop: the same U-Net, side by side.

Both train chapter 4's narrow U-Net (the quick profile's row) on the same
synthetic images with Adam, on the same batches in the same order from the
same seeds and without validation, so they do the same arithmetic; the
section checks that they end with the same weights.  The time of an epoch is
taken in steady state: from the start of the second training step to the end
of the run, per step, times the steps of an epoch.  The first step, which pays
the one-time costs (Keras tracing its graph, first allocations), is left out
of both.  The runs of the two alternate, so a busy machine slows both alike;
the ratio is of medians.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from coursekit.data import SHAPE_CLASSES
from coursekit.losses import get_loss
from coursekit.profiles import settings_for

from . import steps
from .worker import run_in_child

EPOCHS = 2  # so that the work done between epochs is inside the timed part too


def _order(n: int, batch_size: int, epochs: int):
    """The batches fit visits: a permutation per epoch from ``default_rng(seed)``, each batch sorted."""
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield np.sort(order[start:start + batch_size])


def _torch_plain(model, data, spec, epochs: int) -> None:
    """The loop a student writes: batch, forward, loss, backward, step, read the loss."""
    import torch

    loss_fn = get_loss("cross_entropy", "torch")
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"], eps=1e-8)
    device = next(model.parameters()).device
    torch.manual_seed(0)  # dropout draws the same masks as in fit, which seeds the same way
    model.train()
    for index in _order(len(data), spec["batch_size"], epochs):
        x = torch.from_numpy(np.ascontiguousarray(data.images[index].transpose(0, 3, 1, 2))).to(device)
        if device.type == "cuda":  # fit trains in channels-last on a GPU: the same layout, the same arithmetic
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(data.masks[index]).to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()  # as a student prints it; reading it waits for the device, as fit's reading does


def _keras_plain(model, data, spec, epochs: int) -> None:
    """Keras' own plain loop: compile once, then ``train_on_batch`` on each batch."""
    import keras

    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=spec["lr"], epsilon=1e-8),
                  loss=get_loss("cross_entropy", "keras"))
    for index in _order(len(data), spec["batch_size"], epochs):
        model.train_on_batch(data.images[index], data.masks[index])


def _fit(model, data, spec, epochs: int) -> None:
    from coursekit import train

    train.fit(model, data, loss="cross_entropy", epochs=epochs, lr=spec["lr"], batch_size=spec["batch_size"],
              amp="off", verbose=False)


def _fresh(spec):
    """The U-Net with the same initial weights every time (built from the same seed)."""
    framework = spec["framework"]
    if framework == "torch":
        import torch

        torch.manual_seed(0)
        model = steps.build_model(spec, "torch").to(spec["device"])
        if spec["device"] == "cuda":
            model.to(memory_format=torch.channels_last)
        return model
    import keras

    keras.utils.set_random_seed(0)
    return steps.build_model(spec, "keras")


def _weights(model) -> list[np.ndarray]:
    if hasattr(model, "state_dict"):
        return [t.detach().cpu().double().numpy() for t in model.state_dict().values()]
    return [np.asarray(w, np.float64) for w in model.get_weights()]


class StepClock:
    """Notes when each training step of ``model`` starts, in fit and in the plain loop alike."""

    def __init__(self, model):
        self.starts = []
        if hasattr(model, "register_forward_pre_hook"):  # torch: each step begins with the forward pass
            model.register_forward_pre_hook(lambda *_: self.starts.append(time.perf_counter()))
        else:  # Keras: fit and the plain loop both step through the model's train_on_batch
            step = model.train_on_batch

            def timed(*args, **kwargs):
                self.starts.append(time.perf_counter())
                return step(*args, **kwargs)

            model.train_on_batch = timed

    def seconds_per_step(self, end: float) -> float:
        """Steady state: from the start of the second step to ``end``."""
        return (end - self.starts[1]) / (len(self.starts) - 1)


def _timed(train, spec, data):
    """Seconds per epoch in steady state, and the trained model."""
    model = _fresh(spec)
    clock = StepClock(model)
    # both loops end by reading the last loss, which waits for the device: the clock may stop here
    train(model, data, spec, EPOCHS)
    end = time.perf_counter()
    return clock.seconds_per_step(end) * math.ceil(len(data) / spec["batch_size"]), model


def measure(spec: dict) -> dict:
    """In the child: alternate plain loop and fit, ``spec["repeats"]`` times; seconds per epoch of each."""
    if spec["framework"] == "keras":
        from coursekit.runtime import import_tensorflow

        import_tensorflow()
    from coursekit.data import shapes

    data = shapes(spec["images"], size=spec["image_size"], seed=1)
    runs = {"plain": _torch_plain if spec["framework"] == "torch" else _keras_plain, "fit": _fit}
    _timed(_fit, spec, data)  # warm-up: first calls pay for lazy imports and allocations
    per_epoch, models = {name: [] for name in runs}, {}
    for _ in range(spec["repeats"]):
        for name, train in runs.items():
            seconds, models[name] = _timed(train, spec, data)
            per_epoch[name].append(seconds)
    difference = max(float(np.abs(a - b).max()) for a, b in zip(_weights(models["plain"]), _weights(models["fit"])))
    plain, fit = steps.median(per_epoch["plain"]), steps.median(per_epoch["fit"])
    return {"plain_s": plain, "fit_s": fit, "ratio": fit / plain, "plain_all": per_epoch["plain"],
            "fit_all": per_epoch["fit"], "max_weight_difference": difference}


def spec_for(framework: str, device: str, options) -> dict:
    settings = settings_for("unet", "quick")
    return {"model": "unet", "framework": framework, "device": device,
            "image_size": options.image_size or settings.image_size, "width": options.width or settings.width,
            "batch_size": settings.batch_size, "lr": settings.lr, "in_channels": 3, "num_classes": len(SHAPE_CLASSES),
            "images": options.overhead_images, "epochs": EPOCHS, "repeats": options.repeats}


def run(options, device: str) -> dict:
    """The section: one row per framework."""
    rows = []
    for framework in options.frameworks:
        spec = spec_for(framework, device, options)
        row = {**spec, "plain_s": None, "fit_s": None, "ratio": None, "max_weight_difference": None,
               **run_in_child("overhead", spec, options.timeout)}
        print(f"overhead: {framework}: {row['status']}, ratio {row['ratio'] or 0:.3f}", file=sys.stderr, flush=True)
        rows.append(row)
    return {"status": "measured", "device": device, "rows": rows}
