"""SegNet on CamVid with and without class balancing, over seeds and frameworks: ``python -m benchmarks.segnet_camvid``.

Chapter 3 trains SegNet on CamVid once, live; whether median-frequency class
balancing helps is a comparison, and one run's answer is an anecdote.  This
command trains the chapter's model (``build("segnet")``, the profile row
``segnet_camvid``) on the 367 training frames for seeds 0-2 under both
frameworks, with three losses:

* ``none``: plain cross-entropy, as the chapter's live run;
* ``median_frequency``: cross-entropy weighted by
  ``losses.class_frequency_weights`` of the training masks;
* ``segnet``: weighted by the weights SegNet's authors trained CamVid with
  (``data.SEGNET_CAMVID_CLASS_WEIGHTS``).

The decoder is compared too, with plain cross-entropy: ``segnet`` (the
encoder's pooling indices, as every run above), ``segnet_nearest`` (the same
network, nearest-neighbour up-sampling instead of the indices) and
``vgg_segnet`` (nearest up-sampling and a 1×1 classifier with batch norm).

Each run is scored on the 233 test frames (void ignored) with global
accuracy, class average accuracy, mIoU, the IoU of every class and the mean
boundary F1, and trains
in its own process with ``--threads`` threads (``--jobs`` at once).  The file
``benchmarks/results/camvid-segnet-<machine>-<profile>.json`` is read by the
chapter with :func:`coursekit.results.load_camvid_sweep`.  A command that
runs some of the runs keeps the others already in that file, when the file
was measured on this machine with the same settings.

    python -m benchmarks.segnet_camvid                        # 30 runs, 2 at a time: about an hour on 2 cores
    python -m benchmarks.segnet_camvid --frameworks torch --seeds 0 --balancing none
    python -m benchmarks.segnet_camvid --balancing none --decoders vgg_segnet   # adds 6 runs to the file
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import shlex
import sys
import time
from pathlib import Path

from coursekit.results import CAMVID_SWEEP_SCHEMA, RESULTS, camvid_sweep_file_name

from . import comma_separated, limit_threads, machine, with_earlier_runs, write_results
from .worker import ROOT, run_in_child

EXPERIMENT = "segnet_camvid"
BALANCING = ("none", "median_frequency", "segnet")
DECODERS = ("segnet", "segnet_nearest", "vgg_segnet")  # each compared with plain cross-entropy
FRAMEWORKS = ("torch", "keras")


def class_weights(balancing: str, masks, num_classes: int, ignore_index: int):
    """The loss's class weights for one kind of balancing (``None`` for plain cross-entropy)."""
    from coursekit import losses
    from coursekit.data import SEGNET_CAMVID_CLASS_WEIGHTS

    if balancing == "median_frequency":
        return losses.class_frequency_weights(masks, num_classes, ignore_index=ignore_index)
    if balancing == "segnet":
        return SEGNET_CAMVID_CLASS_WEIGHTS
    return None


def build_decoder(decoder: str, framework: str, num_classes: int, width: int, in_channels: int = 3):
    """The chapter's SegNet with one of :data:`DECODERS` (``segnet_nearest``: SegNet without its indices)."""
    from coursekit.models import build

    options = {"upsampling": "nearest"} if decoder == "segnet_nearest" else {}
    return build("segnet" if options else decoder, framework, in_channels=in_channels, num_classes=num_classes,
                 width=width, **options)


def plan(balancings, decoders, frameworks, seeds) -> list[tuple[str, str, str, int]]:
    """(decoder, balancing, framework, seed) of every run: every balancing with SegNet's own decoder, every other
    decoder with plain cross-entropy."""
    runs = [("segnet", b, f, s) for b in balancings for f in frameworks for s in seeds] if "segnet" in decoders else []
    if "none" in balancings:
        runs += [(d, "none", f, s) for d in decoders if d != "segnet" for f in frameworks for s in seeds]
    return runs


def camvid_frames(settings, download: bool = False):
    """The first ``settings.train_images`` training frames and ``settings.val_images`` test frames of CamVid,
    resized to ``settings.image_shape``, from ``../shared/data`` or, with ``download``, the registry (as the
    chapters' full profile fetches them); no fallback: a run without CamVid fails."""
    from coursekit.data import load_dataset

    frames = []
    for split, count in (("train", settings.train_images), ("test", settings.val_images)):
        loaded = load_dataset("camvid", split=split, size=settings.image_shape, fallback=False,
                              download=download).load()
        frames.append(dataclasses.replace(loaded, images=loaded.images[:count], masks=loaded.masks[:count]))
    return tuple(frames)


def measure(spec: dict) -> dict:
    """Train one SegNet on CamVid as ``spec`` says and score it on the test frames (run in a child process)."""
    import coursekit
    from coursekit import losses, metrics, train

    run = coursekit.setup(framework=spec["framework"], profile=spec["profile"], seed=spec["seed"], verbose=False)
    settings = dataclasses.replace(run.settings(EXPERIMENT), **spec.get("overrides", {}))
    train_set, test_set = camvid_frames(settings, download=spec["profile"] == "full")
    num_classes, void = len(train_set.classes), train_set.ignore_index
    weights = class_weights(spec["balancing"], train_set.masks, num_classes, void)
    loss = "cross_entropy" if weights is None else losses.get_loss(
        "cross_entropy", run.framework, class_weights=weights, ignore_index=void)
    coursekit.seed(spec["seed"])
    model = build_decoder(spec.get("decoder", "segnet"), run.framework, num_classes, settings.width)
    began = time.perf_counter()
    train.fit(model, train_set, None, loss=loss, epochs=settings.epochs, lr=settings.lr, schedule="cosine",
              batch_size=settings.batch_size, seed=spec["seed"], device=run.device, verbose=False)
    seconds = time.perf_counter() - began
    predicted = train.predict(model, test_set.images)
    scores = metrics.scores(test_set.masks, predicted, num_classes, void)
    return {"boundary_f1": float(metrics.mean_boundary_f1(test_set.masks, predicted, num_classes, ignore_index=void)),
            "pixel_accuracy": float(scores["pixel_accuracy"]),
            "mean_class_accuracy": float(scores["mean_class_accuracy"]), "mean_iou": float(scores["mean_iou"]),
            "iou_per_class": [float(v) for v in scores["iou_per_class"]],
            "class_weights": None if weights is None else [float(w) for w in weights],
            "training_seconds": round(seconds, 1)}


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", type=comma_separated(FRAMEWORKS), default=list(FRAMEWORKS))
    parser.add_argument("--seeds", type=comma_separated(("0", "1", "2")), default=["0", "1", "2"])
    parser.add_argument("--balancing", type=comma_separated(BALANCING), default=list(BALANCING))
    parser.add_argument("--decoders", type=comma_separated(DECODERS), default=list(DECODERS))
    parser.add_argument("--profile", choices=("quick", "full"), default="quick")
    parser.add_argument("--epochs", type=int, help="instead of the profile's (a smoke test)")
    parser.add_argument("--width", type=int, help="instead of the profile's (a smoke test)")
    parser.add_argument("--train-frames", type=int, help="only the first N training frames (a smoke test)")
    parser.add_argument("--test-frames", type=int, help="only the first N test frames (a smoke test)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per run (default 1)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one run may take")
    parser.add_argument("--out", help="results file (default: benchmarks/results/"
                                      "camvid-segnet-<machine>-<profile>.json)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    options = parse(argv)
    limit_threads(options.threads)
    described = machine.machine()
    out = Path(options.out) if options.out else ROOT / RESULTS / camvid_sweep_file_name(machine.tag(described),
                                                                                    options.profile)
    given = {"epochs": options.epochs, "width": options.width, "train_images": options.train_frames,
             "val_images": options.test_frames}
    overrides = {key: value for key, value in given.items() if value is not None}
    specs = [{"framework": framework, "seed": int(seed), "balancing": balancing, "decoder": decoder,
              "profile": options.profile, "overrides": overrides}
             for decoder, balancing, framework, seed in plan(options.balancing, options.decoders, options.frameworks,
                                                             options.seeds)]
    earlier = earlier_results(out)  # a malformed file is refused now, not after an hour of training
    load_start, started = machine.load_average(), time.perf_counter()

    def one(spec: dict) -> dict:
        row = {**spec, **run_in_child("camvid", spec, options.timeout)}
        print(f"segnet_camvid: {spec}: {row['status']}"
              + (f", test mIoU {row['mean_iou']:.3f}" if row["status"] == "ok" else ""), file=sys.stderr, flush=True)
        return row

    with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
        rows = list(pool.map(one, specs))
    from coursekit.profiles import settings_for

    results = {"schema": CAMVID_SWEEP_SCHEMA, "date": machine.now(), "machine": described,
               "versions": machine.versions(), "profile": options.profile,
               "settings": {**settings_for(EXPERIMENT, options.profile).as_dict(), **overrides, "model": "segnet",
                            "optimizer": "adam", "schedule": "cosine", "scored_on": "test"},
               "threads_per_run": options.threads, "runs_at_once": options.jobs,
               "command": shlex.join(["python", "-m", "benchmarks.segnet_camvid",
                                      *(sys.argv[1:] if argv is None else argv)]),
               "rows": rows, "seconds": round(time.perf_counter() - started, 1),
               "load_average": {"start": load_start, "end": machine.load_average()}}
    write_results(merged(results, earlier, out), out)
    print(f"results written to {out} ({results['seconds'] / 60:.1f} min)", file=sys.stderr)
    return results


def run_key(row: dict) -> tuple:
    """What makes two rows the same run: decoder, balancing, framework and seed."""
    return row.get("decoder", "segnet"), row["balancing"], row["framework"], row["seed"]


def earlier_results(out: Path) -> dict | None:
    """What the file at ``out`` holds, checked (:func:`coursekit.results.read_camvid_sweep` names a fault), or
    ``None`` where there is none yet."""
    from coursekit.results import read_camvid_sweep

    return read_camvid_sweep(out).results if out.exists() else None


def merged(results: dict, earlier: dict | None, out: Path) -> dict:
    """``results`` with the runs of ``earlier`` (the file at ``out``) that this command did not rerun, when that
    file was measured with the same settings on the same machine (:func:`benchmarks.with_earlier_runs`)."""
    return with_earlier_runs(results, earlier, out, run_key, ("schema", "profile", "settings"))


if __name__ == "__main__":
    finished = main()
    sys.exit(0 if all(row["status"] == "ok" for row in finished["rows"]) else 1)
