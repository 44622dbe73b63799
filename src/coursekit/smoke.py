"""Smoke mode: the full profile's code at full size, with every training cut to a couple of steps.

``COURSEKIT_SMOKE=1`` together with ``COURSEKIT_PROFILE=full`` runs a chapter top to
bottom with the full profile's image sizes, widths, batch sizes, datasets and
models, in either framework, on a machine that could never train it: a CPU
proves that the full profile's path runs (``python -m benchmarks.smoke``, ``make
smoke-full``).  Nothing in a chapter changes, and neither do the numbers it
gets: :meth:`coursekit.runtime.Run.settings` gives the full profile's settings,
every field of them (:data:`CUT_FIELDS` is empty), image counts and epochs
included, so that the data is the full profile's.  The cuts are where the
steps are taken:

* :func:`coursekit.train.fit` runs at most :data:`EPOCHS` epoch(s) of at most
  :data:`STEPS` optimizer steps (the first batches of the epoch's shuffled
  order, at the full batch size), validates on the first :data:`IMAGES`
  validation images, times every step and records it with the epochs and
  steps it was asked for (:func:`record`), from which the smoke runner
  estimates the full training's time;
* :func:`coursekit.train.evaluate` scores the first :data:`IMAGES` images of a
  set; :func:`coursekit.train.predict` predicts the first :data:`IMAGES` of a
  set and returns class 0 for the others, so that the masks keep their shape;
* ``build(..., pretrained=True)`` reads a weights file with the real names and
  shapes and random values from ``$COURSEKIT_PRETRAINED_DIR`` (written there by
  the smoke runner, or here when it is missing) instead of downloading.

A cell that asserts something about a trained model's quality carries the tag
:data:`CLAIM_TAG`; the smoke runner skips its assertions and reports them as
skipped.  Without ``COURSEKIT_SMOKE`` none of this happens: the code paths are
the ones a normal run takes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

ENV = "COURSEKIT_SMOKE"
LOG_ENV = "COURSEKIT_SMOKE_LOG"              # a JSON-lines file the smoke runner reads: steps, cuts, weights
PRETRAINED_ENV = "COURSEKIT_PRETRAINED_DIR"  # where pretrained=True finds its (fake) ImageNet weights

EPOCHS = 1   # epochs of every training
STEPS = 2    # optimizer steps per epoch
IMAGES = 2   # images a validation, an evaluation or a prediction of a set looks at
CUT_FIELDS = ()  # the fields of profiles.Settings that smoke mode changes: none (fit cuts what it runs)
CLAIM_TAG = "trained-claim"  # the tag of a cell that asserts a trained model's quality

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def enabled() -> bool:
    """Whether ``COURSEKIT_SMOKE`` asks for smoke mode (``1``/``true``/``yes``/``on``; unset, ``0``... is off)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"environment variable {ENV} is {value!r}; expected 1 (smoke mode) or 0")


def cut_epochs(epochs: int) -> int:
    return min(epochs, EPOCHS)


def cut_steps(steps: int) -> int:
    return min(steps, STEPS)


def record(event: str, **values) -> None:
    """Append one JSON line ``{"event": event, ...}`` to ``$COURSEKIT_SMOKE_LOG``, if it is set."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "time": round(time.time(), 3), **values}, default=str)
    with open(path, "a") as log:
        log.write(line + "\n")


def read_log(path) -> list[dict]:
    """The events a run recorded (an absent file: none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- Pretrained weights -------------------------------------------------------------------


def weights_name(backbone: str, framework: str, alpha: float = 1.0) -> str:
    """The file name of ``backbone``'s fake ImageNet weights for ``framework`` in the weights folder."""
    width = "" if alpha == 1.0 else f"-alpha{alpha:g}"
    return f"{backbone}{width}-{framework}" + (".pth" if framework == "torch" else ".h5")


def pretrained_file(name: str, framework: str, config: dict) -> str | None:
    """In smoke mode, the weights file ``build(name, framework, pretrained=True, **config)`` reads instead of
    downloading; None where nothing changes (not smoke mode, no ``$COURSEKIT_PRETRAINED_DIR``, ``pretrained``
    not True, or a model without ImageNet weights in this framework, which then fails as it always does).

    A missing file is written (random values, the real names and shapes) and the writing recorded.
    """
    if config.get("pretrained") is not True or not enabled() or not os.environ.get(PRETRAINED_ENV):
        return None
    from .models.pretrained import imagenet_weights

    try:
        backbone = imagenet_weights(name, framework)
    except ValueError:
        return None
    alpha = float(config.get("width_multiplier", 1.0)) if backbone == "mobilenet" else 1.0
    path = Path(os.environ[PRETRAINED_ENV]).expanduser() / weights_name(backbone, framework, alpha)
    if not path.is_file():
        from .models.pretrained import write_fake_imagenet_weights

        path.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        write_fake_imagenet_weights(backbone, framework, path, alpha=alpha)
        record("weights_written", backbone=backbone, framework=framework, path=str(path),
               seconds=round(time.perf_counter() - start, 2))
    return str(path)


# --- Data ---------------------------------------------------------------------------------


def first_images(arrays):
    """A :class:`coursekit.train.common.Arrays` cut to its first :data:`IMAGES` images."""
    if len(arrays) <= IMAGES:
        return arrays
    weights = None if arrays.weight_maps is None else arrays.weight_maps[:IMAGES]
    return dataclasses.replace(arrays, images=arrays.images[:IMAGES], masks=arrays.masks[:IMAGES],
                               weight_maps=weights)
