"""Chapter 7's comparison: FCN-8s, SegNet and the U-Nets trained alike on ISBI 2012, one results file.

    python -m benchmarks.compare_architectures                       # the profile coursekit.setup picks
    python -m benchmarks.compare_architectures --profile quick --threads 1
    python -m benchmarks.compare_architectures --models fcn8s,unet_bn --frameworks torch --seeds 0 \\
        --epochs 1 --image-size 32 --width 2 --train-images 8 --out smoke/compare-smoke-quick.json   # a smoke test
    python -m benchmarks.compare_architectures --dataset camvid --threads 1 --jobs 2   # the same models on CamVid

Every model sees the same data: ISBI 2012 split by slice as chapter 4 splits it
(the last third of the stack held out, at most ``val_images`` slices), the same
augmented training tiles drawn from the same seed, the same loss, learning-rate
schedule, epochs and batch size (the ``compare`` row of
:mod:`coursekit.profiles`).  FCN-8s, the one network without batch norm or a
start of its own, begins from :func:`coursekit.models.he_initialise` as in
chapter 2 (``--default-init`` leaves it at the framework's default, for the
chapter's exercise).  The whole experiment is repeated for each seed (default
0, 1 and 2: tiles, weights and batch order all follow it), so that the chapter
can show the spread of every number.  Each (seed, model, framework) trains in a fresh process
(:func:`benchmarks.worker.run_in_child`), so its peak memory is its own.  The
two baselines are scored on the same held-out slices.

The JSON results file says where and how it was measured (machine, versions,
date, profile, settings, command, load average); beside it, with the same
stem, an ``.npz`` holds three held-out crops, their truth and every run's
prediction, for the chapter's pictures.  Chapter 7 reads both with
:func:`coursekit.results.load_comparison`, which shares this file's schema
(:data:`coursekit.results.COMPARISON_SCHEMA` and the keys beside it).

``--dataset camvid`` trains the same models on CamVid instead and adds them to
the same file (:mod:`benchmarks.compare_camvid`); a later ISBI run keeps them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from coursekit import baselines, metrics
from coursekit.models import names
from coursekit.profiles import settings_for
from coursekit.results import CAMVID, COMPARISON_SCHEMA, DEFAULT_INIT, RESULTS, comparison_file_name, prediction_key

from . import comma_separated, limit_threads, machine, write_results
from .worker import ROOT, run_in_child

EXPERIMENT = "compare"
DEFAULT_MODELS = ("fcn8s", "segnet", "unet", "unet_bn", "resnet34_unet")
DEFAULT_SEEDS = (0, 1, 2)
HE_START = ("fcn8s",)  # no batch norm and no start of its own: chapter 2's he_initialise, as chapter 2 trains it
LOSS = "cross_entropy+dice"
SCHEDULE = "cosine"
NUM_CLASSES = 2  # ISBI 2012: membrane (0), cell (1)
HARD_CLASS = 0  # the membrane: a fifth of the pixels, and the class the task is about
SAMPLES = 3  # held-out slices whose crops the chapter shows
CROP = 256  # side of those crops


# --- The data: the same for every model ---------------------------------------------------------


def load_isbi():
    """ISBI 2012 from disk, or the samples coursekit ships (``.source`` says which)."""
    from coursekit.data import DataFallbackWarning, load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataFallbackWarning)  # the results file records the source
        return load_dataset("isbi2012")


def split(data, val_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out slice numbers, as chapter 4 splits: one block at the end of the stack.

    A third of the slices, at least one and at most ``val_images``: neighbouring
    sections show the same cells, so scattered held-out slices would be seen in training.
    """
    held_out = max(1, min(val_images, len(data) // 3))
    return np.arange(len(data) - held_out), np.arange(len(data) - held_out, len(data))


def training_tiles(data, ids, size: int, count: int, seed: int):
    """``count`` tiles of ``size`` pixels cut at random from slices ``ids`` and augmented (chapter 4's recipe)."""
    from coursekit.data import ArrayDataset, transforms

    augment = transforms.unet_augmentation(crop_size=size)
    images, masks, rng = data.images[ids], data.masks[ids], np.random.default_rng(seed)
    pairs = [augment(images[i], masks[i], rng) for i in rng.integers(0, len(images), count)]
    return ArrayDataset(np.stack([p[0] for p in pairs]).astype(np.float32), np.stack([p[1] for p in pairs]),
                        data.classes, data.palette, data.source)


def sample_slices(val_ids: np.ndarray) -> np.ndarray:
    """Positions (within the held-out slices) of the ones shown: first, middle and last."""
    return np.unique(np.linspace(0, len(val_ids) - 1, min(SAMPLES, len(val_ids))).round().astype(int))


def crop_window(height: int, width: int) -> tuple[slice, slice]:
    """The centre ``CROP``×``CROP`` window (smaller images: all of it)."""
    h, w = min(CROP, height), min(CROP, width)
    top, left = (height - h) // 2, (width - w) // 2
    return slice(top, top + h), slice(left, left + w)


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """The numbers every row and baseline carries: the hard class's Dice first."""
    dice = metrics.dice_per_class(truth, predicted, NUM_CLASSES)
    return {"membrane_dice": float(dice[HARD_CLASS]), "cell_dice": float(dice[1 - HARD_CLASS]),
            "mean_iou": float(metrics.mean_iou(truth, predicted, NUM_CLASSES)),
            "boundary_f1": float(metrics.mean_boundary_f1(truth, predicted, NUM_CLASSES))}


# --- In the child: train one model, time it, score it -----------------------------------------------


class EpochClock(io.TextIOBase):
    """Stands in for stdout during ``fit``: notes the time each epoch's line is printed."""

    def __init__(self):
        self.start = time.perf_counter()
        self.stamps: list[float] = []
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("epoch "):
                self.stamps.append(time.perf_counter())
                self.lines.append(line)
        return len(text)

    def epoch_seconds(self) -> list[float]:
        edges = [self.start, *self.stamps]
        return [round(b - a, 4) for a, b in zip(edges, edges[1:])]


def _status_mb(field: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MiB, from /proc (Linux only)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Start the kernel's peak-RSS count afresh from the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _peak_gpu_mb(framework: str) -> float | None:
    from . import steps

    return steps.torch_peak_gpu_mb() if framework == "torch" else steps.keras_peak_gpu_mb()


def measure(spec: dict) -> dict:
    """Train ``spec["model"]`` in ``spec["framework"]`` on the shared tiles; score it on the held-out slices."""
    import coursekit
    from coursekit import train
    from coursekit.models import build, count_params, he_initialise

    framework = spec["framework"]
    if framework == "keras":
        from coursekit.runtime import import_tensorflow

        import_tensorflow()  # memory growth and a quiet start, before Keras loads TensorFlow
    run = coursekit.setup(framework=framework, profile=spec["profile"], seed=spec["seed"], verbose=False)
    data = load_isbi()
    train_ids, val_ids = split(data, spec["val_images"])
    tiles = training_tiles(data, train_ids, spec["image_size"], spec["train_images"], spec["seed"])
    val_images, val_masks = data.images[val_ids].astype(np.float32), data.masks[val_ids]
    # what the model adds (weights, activations, optimiser state) above the framework, data and tiles
    reset = _reset_peak_rss()
    rss_before = _status_mb("VmRSS")
    model = build(spec["model"], framework, in_channels=data.images.shape[-1], num_classes=NUM_CLASSES,
                  width=spec["width"])
    started_from = initialisation(spec["model"], spec.get("default_init", False))
    if started_from == "he_initialise":
        he_initialise(model, tiles.class_frequencies(), seed=spec["seed"])
    device = {"device": run.device} if framework == "torch" else {}

    clock = EpochClock()
    with contextlib.redirect_stdout(clock):
        history = train.fit(model, tiles, loss=LOSS, epochs=spec["epochs"], lr=spec["lr"],
                            batch_size=spec["batch_size"], schedule=SCHEDULE, metrics=("mean_dice",),
                            seed=spec["seed"], **device)
    epoch_seconds = clock.epoch_seconds()

    predictions, per_image = timed_predictions(model, val_images)
    window = crop_window(*val_masks.shape[1:3])
    shown = predictions[sample_slices(val_ids)][(slice(None), *window)].astype(np.uint8)
    np.save(spec["predictions_file"], shown)
    return {"params": count_params(model), "device": run.device, "initialisation": started_from,
            "data_source": data.source, **costs(epoch_seconds, per_image, history, framework, rss_before, reset),
            **scores(val_masks, predictions)}


def timed_predictions(model, images) -> tuple[np.ndarray, list[float]]:
    """Each image predicted on its own and timed, after one untimed call (kernels, graph tracing)."""
    from coursekit import train

    train.predict(model, images[:1], batch_size=1)
    predictions, seconds = [], []
    for image in images:
        start = time.perf_counter()
        predictions.append(train.predict(model, image[None], batch_size=1)[0])
        seconds.append(time.perf_counter() - start)
    return np.stack(predictions), seconds


def costs(epoch_seconds: list[float], per_image: list[float], history: dict, framework: str,
          rss_before: float | None, peak_was_reset: bool) -> dict:
    """What one run cost, as every row records it: time per epoch and per image, its losses, its memory."""
    peak = _status_mb("VmHWM") if peak_was_reset else None
    return {"epoch_seconds": epoch_seconds,
            "seconds_per_epoch": float(np.median(epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds)),
            "first_epoch_seconds": epoch_seconds[0] if epoch_seconds else None,
            "train_seconds": round(sum(epoch_seconds), 3),
            "inference_seconds_per_image": float(np.median(per_image)),
            "final_loss": history["loss"][-1], "loss": history["loss"],
            "peak_gpu_mb": _peak_gpu_mb(framework), "rss_before_model_mb": rss_before,
            "added_rss_mb": round(peak - rss_before, 1) if peak is not None and rss_before is not None else None}


# --- In the parent: the rows, the baselines, the files ------------------------------------------------


def run_row(task: str, spec: dict, timeout: float) -> dict:
    """One run of ``task`` (``measure`` in a child process) as a row of the results: what it measured, its
    status, its wall time and its peak memory."""
    began = time.perf_counter()
    result = run_in_child(task, spec, timeout)
    return peak_memory({"model": spec["model"], "framework": spec["framework"], "seed": spec["seed"],
                        "status": result.pop("status", "ok"), **result,
                        "wall_seconds": round(time.perf_counter() - began, 1)})


def peak_memory(row: dict) -> dict:
    """``row`` with ``peak_memory_mb`` and what it measures: on a GPU what torch / TensorFlow allocated at most;
    on a CPU the host memory the model added to its process (weights, activations, optimiser state) above the
    framework and the data (where /proc cannot tell that, the whole process's peak RSS)."""
    if row.get("peak_gpu_mb") is not None:
        row["peak_memory_mb"], row["peak_memory_kind"] = row["peak_gpu_mb"], "GPU allocated"
    elif row.get("added_rss_mb") is not None:
        row["peak_memory_mb"], row["peak_memory_kind"] = row["added_rss_mb"], "host RSS added by the model"
    else:
        row["peak_memory_mb"], row["peak_memory_kind"] = row.get("peak_rss_mb"), "host RSS of the process"
    return row


def initialisation(model: str, default_init: bool) -> str:
    """How ``model`` starts, as the results file records it."""
    if model not in HE_START:
        return "as built"  # the constructor's own start (the plain U-Net's, for one, is the paper's)
    return "the framework's default" if default_init else "he_initialise"


def seed_list(text: str) -> list[int]:
    """``--seeds 0,1,2``: distinct non-negative integers, in the order given."""
    try:
        seeds = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct non-negative integers such as 0,1,2 (got {text!r})")
    return seeds


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_architectures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["auto", "quick", "full"], default="auto",
                        help="whose sizes (auto: full with a CUDA GPU, else quick, as coursekit.setup decides)")
    parser.add_argument("--frameworks", type=comma_separated(["torch", "keras"]), default=["torch", "keras"],
                        help="comma-separated (default: torch,keras)")
    parser.add_argument("--models", type=comma_separated([n for n in names() if n not in ("tiny_fcn", "unet_valid")]),
                        default=list(DEFAULT_MODELS), help=f"comma-separated (default: {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--out", type=Path,
                        help="the results file (default: benchmarks/results/compare-<machine>-<profile>.json)")
    parser.add_argument("--threads", type=int, help="CPU threads per process (default: the frameworks' own)")
    parser.add_argument("--seeds", type=seed_list, default=list(DEFAULT_SEEDS),
                        help="comma-separated; each seed repeats the whole experiment: tiles, weights, shuffling "
                             f"(default: {','.join(map(str, DEFAULT_SEEDS))})")
    parser.add_argument("--default-init", action="store_true",
                        help="start FCN-8s from the framework's default initialiser instead of he_initialise")
    parser.add_argument("--dataset", choices=["isbi2012", "camvid"], default="isbi2012",
                        help="isbi2012 (default), or camvid: the same models on road scenes, added to the ISBI "
                             "file (benchmarks.compare_camvid)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at once (CamVid only; default 1: one run's time is then its own)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per (model, framework)")
    parser.add_argument("--note", default="", help="a remark stored with the results")
    smoke = parser.add_argument_group("overrides of the profile row (smoke tests)")
    for name in ("epochs", "image_size", "width", "train_images", "val_images", "batch_size"):
        smoke.add_argument("--" + name.replace("_", "-"), type=int, dest=name)
    smoke.add_argument("--lr", type=float)
    options = parser.parse_args(argv)
    options.argv = sys.argv[1:] if argv is None else list(argv)
    if options.dataset != "camvid" and options.jobs != 1:
        parser.error("--jobs applies to --dataset camvid only")
    return options


def settings(options, experiment: str = EXPERIMENT) -> dict:
    """The profile row of ``experiment`` with the options' overrides, as stored in the results file."""
    row = settings_for(experiment, options.profile)
    overrides = {k: getattr(options, k) for k in row.as_dict() if getattr(options, k, None) is not None}
    return replace(row, **overrides).as_dict()


def write_npz(arrays: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    os.replace(temporary, path)


def default_out(described: dict, profile: str, variant: str | None = None) -> Path:
    """``benchmarks/results/compare-<machine tag>-<profile>[-<variant>].json``, the name the chapter's reader
    looks for."""
    return ROOT / RESULTS / comparison_file_name(described["tag"], profile, variant)


def main(argv=None) -> dict:
    options = parse(argv)
    if options.threads:
        limit_threads(options.threads)
    described = machine.machine()
    options.profile = options.profile if options.profile != "auto" else ("full" if described["gpu"] else "quick")
    variant = DEFAULT_INIT if options.default_init else None
    out = options.out or default_out(described, options.profile, variant)
    from . import compare_camvid  # not at the top: it builds on this module

    if options.dataset == "camvid":
        return compare_camvid.main(options, out, described)
    chosen = settings(options)
    camvid_part, camvid_arrays = compare_camvid.carried_over(out, described)  # a rerun on ISBI keeps CamVid's
    load_start = machine.load_average()
    started = time.perf_counter()

    data = load_isbi()
    train_ids, val_ids = split(data, chosen["val_images"])
    train_images, train_masks = data.images[train_ids], data.masks[train_ids]
    val_images, val_masks = data.images[val_ids], data.masks[val_ids]
    baseline_rows = []
    for name, baseline in (("majority class", baselines.MajorityClass()),
                           ("Otsu threshold", baselines.OtsuThreshold())):
        baseline.fit(train_images, train_masks)
        baseline_rows.append({"name": name, **scores(val_masks, baseline.predict(val_images))})

    shown, window = sample_slices(val_ids), crop_window(*val_masks.shape[1:3])
    grey = np.clip(val_images[shown][(slice(None), *window)].mean(axis=-1), 0, 1)
    arrays = {"images": (grey * 255).round().astype(np.uint8),
              "truth": val_masks[shown][(slice(None), *window)].astype(np.uint8),
              "slices": val_ids[shown].astype(np.int64),
              "window": np.array([window[0].start, window[1].start], np.int64)}

    rows = []
    runs = [(seed, model, framework) for seed in options.seeds for model in options.models
            for framework in options.frameworks]
    with tempfile.TemporaryDirectory() as scratch:
        for seed, model, framework in runs:
            key = prediction_key(model, framework, seed)
            predictions_file = Path(scratch) / f"{key}.npy"
            spec = {"model": model, "framework": framework, "profile": options.profile, "seed": seed,
                    "default_init": options.default_init, **chosen, "predictions_file": str(predictions_file)}
            row = run_row("compare", spec, options.timeout)
            if row["status"] == "ok":
                arrays[key] = np.load(predictions_file)
            rows.append(row)
            print(f"compare: seed {seed} {model} {framework}: {row['status']}"
                  + (f", membrane Dice {row['membrane_dice']:.3f}, {row['seconds_per_epoch']:.1f} s/epoch"
                     if row["status"] == "ok" else ""), file=sys.stderr, flush=True)

    results = {"schema": COMPARISON_SCHEMA, "date": machine.now(), "machine": described, "versions": machine.versions(),
               "profile": options.profile, "variant": variant, "threads": options.threads or "default",
               "note": options.note,
               "command": shlex.join(["python", "-m", "benchmarks.compare_architectures", *options.argv]),
               "settings": {**chosen, "models": options.models, "frameworks": options.frameworks, "loss": LOSS,
                            "schedule": SCHEDULE, "seeds": options.seeds, "optimizer": "adam",
                            "initialisation": {m: initialisation(m, options.default_init) for m in options.models},
                            "augmentation": "coursekit.data.transforms.unet_augmentation",
                            "data_source": data.source, "training_slices": train_ids.tolist(),
                            "held_out_slices": val_ids.tolist(), "classes": list(data.classes),
                            "palette": np.asarray(data.palette).tolist(), "hard_class": data.classes[HARD_CLASS]},
               "baselines": baseline_rows, "rows": rows,
               "predictions": {"file": out.with_suffix(".npz").name, "slices": arrays["slices"].tolist(),
                               "window": arrays["window"].tolist(), "size": list(arrays["truth"].shape[1:])},
               "seconds": round(time.perf_counter() - started, 1),
               "load_average": {"start": load_start, "end": machine.load_average()}}
    if camvid_part is not None:
        results[CAMVID], arrays = camvid_part, {**arrays, **camvid_arrays}
    write_npz(arrays, out.with_suffix(".npz"))
    write_results(results, out)
    print(f"results written to {out} ({results['seconds'] / 60:.1f} min)", file=sys.stderr)
    return results


if __name__ == "__main__":
    finished = main()
    sys.exit(0 if all(row["status"] == "ok" for row in finished["rows"]) else 1)
