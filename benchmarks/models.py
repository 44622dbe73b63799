"""Training throughput and peak memory of every model, in both frameworks, at both profiles' sizes.

Each model is timed at the image size, width and batch of its chapter's row
in :mod:`coursekit.profiles`, once per profile.  Every measurement runs in a
fresh process (:mod:`benchmarks.worker`), so its peak resident memory is its
own.  On a GPU the torch step is the engine's default there (mixed precision,
channels-last); on a CPU, and for Keras, it is fp32 as the models are built.
"""

from __future__ import annotations

import sys

from coursekit.data import SHAPE_CLASSES
from coursekit.models import count_params
from coursekit.models.unet_sizes import output_size_for
from coursekit.profiles import settings_for

from . import steps
from .model_zoo import ZOO
from .worker import run_in_child

# The profile row (chapter) that sizes each model.
EXPERIMENT = {"tiny_fcn": "basics", "fcn32s": "fcn", "fcn16s": "fcn", "fcn8s": "fcn", "segnet": "segnet",
              "vgg_segnet": "segnet", "unet": "unet", "unet_bn": "unet", "unet_valid": "unet",
              "mobilenet_unet": "unet", "resnet34_unet": "unet"}
# Inputs and classes as the tutorials and the model zoo page build each model; chapter 1 trains the tiny FCN
# on the synthetic shapes.
CONFIG = {"tiny_fcn": {"num_classes": len(SHAPE_CLASSES)}, **{name: config for name, config, _ in ZOO}}

# The full size is the papers' width, which the profile row gives for every model but MobileNet v1:
# its first stage has 32 channels at the paper's size, where the U-Net row says 64.
PAPER_WIDTH = {"mobilenet_unet": 32}

# (warm-up steps, timed steps, batch or None for the profile's) per device and size.  A CPU takes
# seconds per step at the full sizes, so it times a few steps of a small batch there.
PLAN = {("cpu", "quick"): (2, 5, None), ("cpu", "full"): (1, 3, 1),
        ("cuda", "quick"): (5, 20, None), ("cuda", "full"): (5, 20, None)}


def valid_input(size: int) -> int:
    """The smallest input at least ``size`` that the unpadded U-Net takes."""
    while True:
        try:
            output_size_for(size)
            return size
        except ValueError:
            size += 1


def plan(device: str, size: str, options) -> tuple[int, int, int | None]:
    """Warm-up steps, timed steps and batch (None: the profile's) for ``size`` on ``device``, after the options."""
    warmup, timed, batch = PLAN[device, size]
    return (warmup if options.warmup is None else options.warmup), (options.steps or timed), batch


def spec_for(model: str, framework: str, size: str, device: str, options) -> dict:
    """What one measurement trains: the model at the profile row's sizes, or the options' overrides."""
    settings = settings_for(EXPERIMENT[model], size)
    warmup, timed, batch = plan(device, size, options)
    config = {"in_channels": 3, **CONFIG[model]}
    image_size = options.image_size or settings.image_size
    return {"model": model, "framework": framework, "size": size, "device": device,
            "image_size": valid_input(image_size) if model == "unet_valid" else image_size,
            "width": options.width or (size == "full" and PAPER_WIDTH.get(model)) or settings.width,
            "batch_size": batch or settings.batch_size,
            "in_channels": config["in_channels"], "num_classes": config["num_classes"],
            "warmup": warmup, "steps": timed}


def _torch(spec: dict) -> dict:
    import torch

    images, masks = steps.batch(spec)
    model = steps.build_model(spec, "torch").to(spec["device"])
    dtype, channels_last = None, False
    if spec["device"] == "cuda":  # what coursekit.train.fit does there by default (amp="auto")
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        channels_last = True
    step = steps.torch_step(model, images, masks, spec["num_classes"], dtype=dtype, channels_last=channels_last)
    steps.clock(step, spec["warmup"])
    seconds = steps.clock(step, spec["steps"])
    precision = "fp32" if dtype is None else f"{str(dtype).removeprefix('torch.')} autocast, channels-last"
    return {"params": count_params(model), "seconds": seconds, "precision": precision,
            "peak_gpu_mb": steps.torch_peak_gpu_mb()}


def _keras(spec: dict) -> dict:
    from coursekit.runtime import import_tensorflow

    import_tensorflow()  # memory growth and a quiet start, before Keras loads TensorFlow
    images, masks = steps.batch(spec)
    model = steps.build_model(spec, "keras")
    step = steps.keras_step(model, images, masks, spec["num_classes"])
    steps.clock(step, spec["warmup"])
    seconds = steps.clock(step, spec["steps"])
    return {"params": count_params(model), "seconds": seconds, "precision": "fp32",
            "peak_gpu_mb": steps.keras_peak_gpu_mb()}


def measure(spec: dict) -> dict:
    """In the child: time ``spec["steps"]`` training steps after ``spec["warmup"]`` untimed ones."""
    result = (_torch if spec["framework"] == "torch" else _keras)(spec)
    per_step = steps.median(result["seconds"])
    return {**result, "seconds_per_step": per_step, "images_per_second": spec["batch_size"] / per_step}


def run(options, device: str) -> dict:
    """The section: one row per model, framework and profile size."""
    rows = []
    for size in options.sizes:
        for model in options.models:
            for framework in options.frameworks:
                spec = spec_for(model, framework, size, device, options)
                row = {**spec, "params": None, "precision": None, "seconds_per_step": None, "images_per_second": None,
                       "peak_gpu_mb": None,
                       **run_in_child("train_step", spec, options.timeout)}
                print(f"models: {model} {framework} {size}: {row['status']}, "
                      f"{row['images_per_second'] or 0:.2f} images/s", file=sys.stderr, flush=True)
                rows.append(row)
    return {"status": "measured", "device": device, "note": note(device, options), "rows": rows}


def note(device: str, options) -> str:
    """How the steps were timed, size by size, in words for the tables."""
    parts = []
    for size in options.sizes:
        warmup, timed, batch = plan(device, size, options)
        parts.append(f"{size} sizes: {f'batch {batch}' if batch else 'the profile batch'}, {warmup} warm-up + "
                     f"{timed} timed steps (median) on {device}")
    return "; ".join(parts)
