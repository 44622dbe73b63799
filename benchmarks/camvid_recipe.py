"""Can chapter 3's SegNet be trained better on CamVid in the same budget? ``python -m benchmarks.camvid_recipe``.

Chapter 3 trains SegNet on CamVid with the profile row ``segnet_camvid``
(Adam, cosine schedule, plain cross-entropy, no augmentation).  A change to that
recipe must be chosen without looking at the test frames it is scored on, and
CamVid's own validation split is a poor judge of it: its 101 frames all come
from the drive ``0016E5``, which also gives 204 of the 367 training frames,
while 171 of the 233 test frames come from a drive (``Seq05VD``) that no
training frame comes from.  So this benchmark holds one whole training drive
out (``0006R0``, 101 frames), trains on the other 266 training frames, and
scores mIoU, global and class average accuracy on the held-out drive: a
validation that asks what the test asks, whether the model carries over to a
street it has not seen.

Each *variant* changes one thing of the recipe (:data:`VARIANTS`): the learning
rate, the batch size, the loss (a Dice term, the focal loss, softened class
weights), the number of epochs or the width, or an augmentation drawn anew for
every epoch (a random left-right mirror, or brightness and contrast jitter;
``coursekit.data.transforms``).  An augmented run trains one pass over
``epochs`` augmented copies of the frames, which with the per-step cosine
schedule is the same number of steps at the same rates as ``epochs`` passes.
Every run trains in its own process (``--jobs`` at once, ``--threads`` each)
for seeds 0-2 in both frameworks; the table printed at the end
(:meth:`coursekit.results.CamVidRecipes.table`, which chapter 3 prints too)
pairs every variant's run with the recipe's run of the same framework and seed.  The file is
``benchmarks/results/camvid-recipe-<machine>-quick.json``.

    python -m benchmarks.camvid_recipe                          # 72 runs, 2 at a time: about 80 minutes on 2 cores
    python -m benchmarks.camvid_recipe --variants width_12      # adds 6 runs to the file, keeping the others
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import shlex
import sys
import threading
import time
from pathlib import Path

import numpy as np

from coursekit.results import CAMVID_RECIPE_PREFIX, CAMVID_RECIPE_SCHEMA, RESULTS, read_camvid_recipes

from . import comma_separated, limit_threads, machine, with_earlier_runs, write_results
from .worker import ROOT, run_in_child

EXPERIMENT = "segnet_camvid"
HELD_OUT_DRIVE = "0006R0"
FRAMEWORKS = ("torch", "keras")
# name -> (settings changed, as factors of the profile row's or values; the augmentation of every epoch)
VARIANTS = {
    "recipe": ({}, None),
    "lr_half": ({"lr": 0.5}, None),
    "lr_double": ({"lr": 2.0}, None),
    "batch_4": ({"batch_size": 4}, None),
    "mirror": ({}, "mirror"),
    "jitter": ({}, "jitter"),
    # the loss, for the thin and small classes that plain cross-entropy leaves at zero: a soft Dice term beside
    # it (every class's overlap counts alike), the focal loss (pixels already right count less), or the median
    # frequency weights softened to their square root (the full weights cost the common classes too much)
    "dice": ({"loss": "cross_entropy+dice"}, None),
    "focal": ({"loss": "focal"}, None),
    "sqrt_mfb": ({"weights_power": 0.5}, None),
    # compute rather than recipe: what 4 epochs fewer cost, what 6 more or a wider network would buy
    "epochs_10": ({"epochs": 10}, None),
    "epochs_20": ({"epochs": 20}, None),
    "width_12": ({"width": 12}, None),    # (12/8)² = 2.25 times the convolutions' arithmetic
}
LOSS_CHANGES = ("loss", "weights_power")  # changes of the loss, not of the profile row's settings


def file_name(machine_tag: str) -> str:
    """``camvid-recipe-<machine tag>-quick.json``: what :func:`coursekit.results.load_camvid_recipes` looks for."""
    return f"{CAMVID_RECIPE_PREFIX}{machine_tag}-quick.json"


def run_key(row: dict) -> tuple:
    """What makes two rows the same run: framework, variant and seed."""
    return row["framework"], row["variant"], row["seed"]


def in_table_order(variants: dict) -> dict:
    """``variants`` ordered as :data:`VARIANTS` lists them (the order of the table), any other after them."""
    return {**{name: variants[name] for name in VARIANTS if name in variants}, **variants}


def variant_settings(settings, variant: str):
    """The profile row's settings as ``variant`` changes them (a learning rate is scaled, the rest replaced)."""
    changes, _ = VARIANTS[variant]
    replaced = {key: (settings.lr * value if key == "lr" else value) for key, value in changes.items()
                if key not in LOSS_CHANGES}
    return dataclasses.replace(settings, **replaced)


def variant_loss(variant: str, framework: str, masks, num_classes: int, void: int):
    """The loss ``variant`` trains with: a name :func:`coursekit.train.fit` knows, or a weighted cross-entropy."""
    from coursekit import losses

    changes, _ = VARIANTS[variant]
    if "weights_power" not in changes:
        return changes.get("loss", "cross_entropy")
    weights = losses.class_frequency_weights(masks, num_classes, ignore_index=void) ** changes["weights_power"]
    return losses.get_loss("cross_entropy", framework, class_weights=weights, ignore_index=void)


def augmentation(variant: str):
    """The step every epoch applies to each frame and its mask (``None``: the frames as they are)."""
    from coursekit.data import transforms

    kind = VARIANTS[variant][1]
    if kind == "mirror":
        return transforms.Compose([(transforms.Flip(1), 0.5)])
    if kind == "jitter":
        return transforms.Compose([transforms.IntensityJitter()])
    return None


def split_by_drive(frames, names: list[str], drive: str = HELD_OUT_DRIVE):
    """``(the frames of every other drive, the frames of drive)``: CamVid's file names begin with their drive."""
    if len(names) != len(frames.images):
        raise ValueError(f"{len(names)} names for {len(frames.images)} frames: the list and the frames differ")
    held = np.array([Path(name).name.startswith(drive + "_") for name in names])
    if not held.any() or held.all():
        raise ValueError(f"no training frame comes from drive {drive!r}, or every one does: cannot hold it out "
                         f"(drives seen: {sorted({Path(n).name.split('_')[0] for n in names})})")

    def part(chosen):
        return dataclasses.replace(frames, images=frames.images[chosen], masks=frames.masks[chosen])
    return part(~held), part(held)


def augmented_copies(frames, step, copies: int, seed: int):
    """``copies`` passes of ``step`` over every frame, stacked: one epoch over them is ``copies`` augmented epochs."""
    rng = np.random.default_rng(seed)
    pairs = [step(image, mask, rng) for _ in range(copies) for image, mask in zip(frames.images, frames.masks)]
    return dataclasses.replace(frames, images=np.stack([p[0] for p in pairs]).astype(np.float32),
                               masks=np.stack([p[1] for p in pairs]))


def measure(spec: dict) -> dict:
    """Train one SegNet on every training drive but one, as ``spec["variant"]`` says; score it on that drive."""
    import coursekit
    from coursekit import metrics, train
    from coursekit.data import load_dataset
    from coursekit.models import build

    run = coursekit.setup(framework=spec["framework"], profile="quick", seed=spec["seed"], verbose=False)
    settings = variant_settings(dataclasses.replace(run.settings(EXPERIMENT), **spec.get("overrides", {})),
                                spec["variant"])
    on_disk = load_dataset("camvid", split="train", size=settings.image_shape, fallback=False)
    frames = on_disk.load()
    fitted, held_out = split_by_drive(frames, [example["name"] for example in on_disk.examples])
    epochs, step, trained_on = settings.epochs, augmentation(spec["variant"]), len(fitted.images)
    if step is not None:
        fitted, epochs = augmented_copies(fitted, step, settings.epochs, spec["seed"]), 1
    num_classes, void = len(frames.classes), frames.ignore_index
    coursekit.seed(spec["seed"])
    model = build("segnet", run.framework, num_classes=num_classes, width=settings.width)
    began = time.perf_counter()
    loss = variant_loss(spec["variant"], run.framework, fitted.masks, num_classes, void)
    train.fit(model, fitted, None, loss=loss, epochs=epochs, lr=settings.lr, schedule="cosine",
              batch_size=settings.batch_size, seed=spec["seed"], device=run.device, verbose=False)
    seconds = time.perf_counter() - began
    scores = metrics.scores(held_out.masks, train.predict(model, held_out.images), num_classes, void)
    return {**{name: float(scores[name]) for name in ("mean_iou", "pixel_accuracy", "mean_class_accuracy")},
            "trained_on": trained_on, "scored_on": len(held_out.images), "training_seconds": round(seconds, 1)}


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", type=comma_separated(FRAMEWORKS), default=list(FRAMEWORKS))
    parser.add_argument("--seeds", type=comma_separated(("0", "1", "2")), default=["0", "1", "2"])
    parser.add_argument("--variants", type=comma_separated(tuple(VARIANTS)), default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, help="instead of the profile's (a smoke test)")
    parser.add_argument("--width", type=int, help="instead of the profile's (a smoke test)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per run (default 1)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one run may take")
    parser.add_argument("--out", help="results file (default: benchmarks/results/camvid-recipe-<machine>-quick.json)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    from coursekit.profiles import settings_for

    options = parse(argv)
    limit_threads(options.threads)
    described = machine.machine()
    out = Path(options.out) if options.out else ROOT / RESULTS / file_name(machine.tag(described))
    overrides = {key: value for key, value in (("epochs", options.epochs), ("width", options.width))
                 if value is not None}
    specs = [{"framework": framework, "seed": int(seed), "variant": variant, "overrides": overrides}
             for framework in options.frameworks for variant in options.variants for seed in options.seeds]
    earlier = read_camvid_recipes(out).results if out.exists() else None  # a malformed file is refused now
    started, done, lock = time.perf_counter(), [], threading.Lock()
    results = {"schema": CAMVID_RECIPE_SCHEMA, "date": machine.now(), "machine": described,
               "versions": machine.versions(), "profile": "quick", "held_out_drive": HELD_OUT_DRIVE,
               "settings": {**settings_for(EXPERIMENT, "quick").as_dict(), **overrides, "model": "segnet",
                            "optimizer": "adam", "schedule": "cosine", "loss": "cross_entropy"},
               "variants": {name: {"changes": changes, "augmentation": kind}
                            for name, (changes, kind) in VARIANTS.items() if name in options.variants},
               "threads_per_run": options.threads, "runs_at_once": options.jobs,
               "command": shlex.join(["python", "-m", "benchmarks.camvid_recipe",
                                      *(sys.argv[1:] if argv is None else argv)])}
    order = {run_key(spec): place for place, spec in enumerate(specs)}

    def file_now() -> dict:
        """The file as it stands: this command's finished runs (in planned order) and the earlier ones kept."""
        rows = sorted(done, key=lambda row: order[run_key(row)])
        now = {**results, "rows": rows, "complete": len(done) == len(specs),
               "seconds": round(time.perf_counter() - started, 1)}
        both = with_earlier_runs(now, earlier, out, run_key, ("schema", "settings", "held_out_drive"))
        if both is not now:
            both["variants"] = in_table_order({**earlier["variants"], **now["variants"]})
        return both

    def one(spec: dict) -> None:
        row = {**spec, **run_in_child("camvid_recipe", spec, options.timeout)}
        print(f"camvid_recipe: {spec}: {row['status']}"
              + (f", held-out mIoU {row['mean_iou']:.3f}" if row["status"] == "ok" else ""), file=sys.stderr,
              flush=True)
        with lock:  # the file holds every run finished so far: an interrupted command loses only the runs under way
            done.append(row)
            write_results(file_now(), out)

    with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
        list(pool.map(one, specs))
    results = file_now()
    print(read_camvid_recipes(out).table())
    print(f"results written to {out} ({results['seconds'] / 60:.1f} min)", file=sys.stderr)
    return results


if __name__ == "__main__":
    finished = main()
    sys.exit(0 if all(row["status"] == "ok" for row in finished["rows"]) else 1)
