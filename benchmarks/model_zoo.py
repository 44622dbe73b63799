"""The model zoo table: every model's size at full width and its forward time at the quick size.

Prints the Markdown table of the book's "Model zoo" appendix (book/model_zoo.md):

    python benchmarks/model_zoo.py > /tmp/zoo.md

Parameter counts are exact ("all weights" adds what Keras counts beyond the
trainable ones: batch-norm statistics and the FCNs' fixed bilinear
up-sampling); forward times are the median of several runs of a batch of 4
images at the quick profile's size (64×64, first-stage width 16;
188×188 for the unpadded U-Net, its smallest input), on whatever machine runs
it, so compare them only within one table.
"""

from __future__ import annotations

import gc
import statistics
import time

import numpy as np

import coursekit
from coursekit.models import build, count_params

# name, full-size configuration, full input size (sources: the page's prose)
ZOO = [
    ("fcn32s", dict(num_classes=21), 512),
    ("fcn16s", dict(num_classes=21), 512),
    ("fcn8s", dict(num_classes=21), 512),
    ("segnet", dict(num_classes=21), 512),
    ("vgg_segnet", dict(num_classes=21), 512),
    ("unet", dict(num_classes=21), 512),
    ("unet_bn", dict(num_classes=1), 512),
    ("unet_valid", dict(in_channels=1, num_classes=2), 572),
    ("mobilenet_unet", dict(num_classes=21), 512),
    ("resnet34_unet", dict(num_classes=21), 512),
]
QUICK_SIZE, QUICK_WIDTH, BATCH, REPEATS = 64, 16, 4, 5


def full_size_row(name: str, config: dict, size: int) -> tuple[int, int, int, str]:
    import torch

    model = build(name, "torch", **config)
    channels = config.get("in_channels", 3)
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, channels, size, size))
    torch_count = count_params(model)
    del model
    keras_model = build(name, "keras", **config)
    keras_count, keras_all = count_params(keras_model), count_params(keras_model, trainable_only=False)
    del keras_model
    gc.collect()
    shape = f"{size}²×{channels} → {out.shape[2]}²×{out.shape[1]}"
    return torch_count, keras_count, keras_all, shape


def median_ms(run) -> float:
    run()  # warm-up: first calls build graphs and caches
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def quick_forward_ms(name: str, config: dict) -> tuple[float, float]:
    import torch

    channels = config.get("in_channels", 3)
    size = 188 if name == "unet_valid" else QUICK_SIZE
    x = np.random.default_rng(0).normal(size=(BATCH, size, size, channels)).astype(np.float32)
    model = build(name, "torch", width=QUICK_WIDTH, **config).eval()
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        torch_ms = median_ms(lambda: model(xt))
    keras_model = build(name, "keras", width=QUICK_WIDTH, **config)
    keras_ms = median_ms(lambda: keras_model.predict_on_batch(x))
    return torch_ms, keras_ms


def main() -> None:
    coursekit.setup(profile="quick", verbose=False)
    print("| model | trainable (torch) | trainable (Keras) | all weights (Keras) | input → output | "
          "ms torch | ms Keras |")
    print("|---|--:|--:|--:|---|--:|--:|")
    for name, config, size in ZOO:
        torch_count, keras_count, keras_all, shape = full_size_row(name, config, size)
        torch_ms, keras_ms = quick_forward_ms(name, config)
        print(f"| `{name}` | {torch_count:,} | {keras_count:,} | {keras_all:,} | {shape} | "
              f"{torch_ms:.0f} | {keras_ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
