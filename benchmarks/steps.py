"""One training step on a fixed batch, written by hand in each framework, and a clock for it.

The model sections time this step rather than ``coursekit.train.fit``: what a
model costs is measured here, what the engine adds on top is measured once,
by the overhead section.  Each step is forward, loss, backward and an Adam
update, and returns only when the device has finished it.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from coursekit.losses import get_loss
from coursekit.models import build
from coursekit.models.unet_sizes import output_size_for

# Small enough that no model diverges within the few steps timed.
LR = 1e-4


def loss_name(num_classes: int) -> str:
    """One output channel is a binary task: BCE on logits; otherwise cross-entropy over the classes."""
    return "bce" if num_classes == 1 else "cross_entropy"


def output_size(model: str, image_size: int) -> int:
    """The unpadded U-Net predicts only the centre of its input; every other model the whole image."""
    return output_size_for(image_size) if model == "unet_valid" else image_size


def batch(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """Random images ``N×H×W×C`` and a mask of the model's output size (random values time the same)."""
    rng = np.random.default_rng(0)
    size, out = spec["image_size"], output_size(spec["model"], spec["image_size"])
    images = rng.normal(size=(spec["batch_size"], size, size, spec["in_channels"])).astype(np.float32)
    masks = rng.integers(0, max(spec["num_classes"], 2), size=(spec["batch_size"], out, out))
    return images, masks.astype(np.float32 if spec["num_classes"] == 1 else np.int64)


def build_model(spec: dict, framework: str):
    return build(spec["model"], framework, in_channels=spec["in_channels"], num_classes=spec["num_classes"],
                 width=spec["width"])


def torch_step(model, images, masks, num_classes, *, dtype=None, channels_last=False, compile=False):
    """A step of ``model`` (already on its device) in autocast ``dtype`` (None: fp32), as the engine steps."""
    import torch

    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)
    if channels_last:  # tensor cores read NHWC natively; model and input must both be in it
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(masks).to(device)
    forward = torch.compile(model) if compile else model
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    # fp16's narrow range needs the loss scaled so small gradients do not vanish; bf16 does not
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    loss_fn = get_loss(loss_name(num_classes), "torch")
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            value = loss_fn(forward(x), y)
        if scaler is None:
            value.backward()
            optimizer.step()
        else:
            scaler.scale(value).backward()
            scaler.step(optimizer)
            scaler.update()
        if device.type == "cuda":  # kernels run asynchronously: the clock must wait for them
            torch.cuda.synchronize()

    return step


def keras_step(model, images, masks, num_classes):
    """A compiled ``train_on_batch`` step; it returns the loss as a number, so it waits for the device."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR), loss=get_loss(loss_name(num_classes), "keras"))
    return lambda: model.train_on_batch(images, masks)


def clock(step, steps: int) -> list[float]:
    """Seconds of each of ``steps`` calls of ``step``."""
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def torch_peak_gpu_mb() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def keras_peak_gpu_mb() -> float | None:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
