"""On a GPU: fp32 against mixed precision (with channels-last, and with ``torch.compile``), side by side.

The paper-sized U-Net and FCN-8s (the full profile's rows: the papers'
widths) train in each variant in one process; blocks of steps of the
variants alternate, so a clock that drifts slows all alike, and each
variant's speed-up is the ratio of its median step time to fp32's.  Keras
fixes precision when a model is built, so its mixed variant is a second
model built under a ``mixed_*`` policy; Keras is channels-last already.
On a CPU the section is skipped.
"""

from __future__ import annotations

import sys

from coursekit.profiles import settings_for

from . import steps
from .models import CONFIG, EXPERIMENT
from .worker import run_in_child

MODELS = ("unet", "fcn8s")
TORCH_VARIANTS = ("fp32", "amp + channels-last", "amp + channels-last + compile")
KERAS_VARIANTS = ("fp32", "mixed")
WARMUP, STEPS, REPEATS = 3, 10, 3  # per variant: warm-up steps; timed steps per block, blocks
SKIPPED = "skipped: no GPU"


def _torch_steps(spec: dict, images, masks) -> dict:
    import torch

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    chosen = {"fp32": {}, "amp + channels-last": {"dtype": dtype, "channels_last": True},
              "amp + channels-last + compile": {"dtype": dtype, "channels_last": True, "compile": True}}
    made = {}
    for variant in spec["variants"]:
        torch.manual_seed(0)
        model = steps.build_model(spec, "torch").to(spec["device"])
        made[variant] = steps.torch_step(model, images, masks, spec["num_classes"], **chosen[variant])
    return {"steps": made, "amp": str(dtype).removeprefix("torch.")}


def _keras_policy() -> str:
    """bf16 where the GPU computes it natively (compute capability 8.0, Ampere, and newer), else fp16."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus and tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)) < (8, 0):
        return "mixed_float16"
    return "mixed_bfloat16"


def _keras_steps(spec: dict, images, masks) -> dict:
    import keras

    from coursekit.runtime import import_tensorflow

    import_tensorflow()
    policy = _keras_policy()
    made = {}
    for variant in spec["variants"]:
        keras.mixed_precision.set_global_policy(policy if variant == "mixed" else "float32")
        made[variant] = steps.keras_step(steps.build_model(spec, "keras"), images, masks, spec["num_classes"])
    keras.mixed_precision.set_global_policy("float32")
    return {"steps": made, "amp": policy}


def _warm(made: dict, warmup: int) -> dict:
    """Warm every variant up; a variant that fails (``torch.compile`` without a compiler) becomes an error row."""
    failed = {}
    for variant, step in list(made.items())[1:]:
        try:
            steps.clock(step, warmup)
        except Exception as err:  # any failure of one variant must not lose the others
            failed[variant] = f"error: {type(err).__name__}: {err}"[:300]
            del made[variant]
    steps.clock(next(iter(made.values())), warmup)  # fp32, the baseline: its failure fails the measurement
    return failed


def measure(spec: dict) -> dict:
    """In the child: every variant warmed up, then ``repeats`` rounds of one block of steps per variant."""
    images, masks = steps.batch(spec)
    made = (_torch_steps if spec["framework"] == "torch" else _keras_steps)(spec, images, masks)
    failed = _warm(made["steps"], spec["warmup"])
    seconds = {variant: [] for variant in made["steps"]}
    for _ in range(spec["repeats"]):
        for variant, step in made["steps"].items():
            seconds[variant] += steps.clock(step, spec["steps"])
    medians = {variant: steps.median(values) for variant, values in seconds.items()}
    baseline = medians[spec["variants"][0]]
    variants = [{"variant": v, "status": "ok", "seconds_per_step": s, "images_per_second": spec["batch_size"] / s,
                 "speedup": baseline / s} for v, s in medians.items()]
    return {"amp": made["amp"], "variants": variants + [{"variant": v, "status": e} for v, e in failed.items()]}


def spec_for(model: str, framework: str, device: str, options) -> dict:
    settings = settings_for(EXPERIMENT[model], "full")
    return {"model": model, "framework": framework, "device": device, "in_channels": 3,
            "num_classes": CONFIG[model]["num_classes"], "image_size": options.image_size or settings.image_size,
            "width": options.width or settings.width, "batch_size": settings.batch_size,
            "variants": list(TORCH_VARIANTS if framework == "torch" else KERAS_VARIANTS),
            "warmup": WARMUP if options.warmup is None else options.warmup, "steps": options.steps or STEPS,
            "repeats": options.repeats}


def run(options, device: str) -> dict:
    """The section: one row per model, framework and variant; skipped without a GPU."""
    if device != "cuda":
        return {"status": SKIPPED, "device": device, "rows": []}
    rows = []
    for model in MODELS:
        for framework in options.frameworks:
            spec = spec_for(model, framework, device, options)
            result = run_in_child("precision", spec, options.timeout)
            common = {k: v for k, v in spec.items() if k != "variants"}
            for variant in result.get("variants") or [{"variant": v} for v in spec["variants"]]:
                rows.append({**common, "status": result["status"], "amp": result.get("amp"), "seconds_per_step": None,
                             "images_per_second": None, "speedup": None, **variant})
            print(f"precision: {model} {framework}: {result['status']}", file=sys.stderr, flush=True)
    return {"status": "measured", "device": device, "rows": rows}
