"""Chapter 7's comparison on road scenes: the same five models trained alike on CamVid, in the ISBI file.

    python -m benchmarks.compare_architectures --dataset camvid --threads 1 --jobs 2   # 30 runs: ~45 min, 2 cores
    python -m benchmarks.compare_architectures --dataset camvid --models segnet --frameworks torch --seeds 0

Every model trains as chapter 3 trains SegNet on CamVid (the profile row
``segnet_camvid``): the 367 training frames at the row's size, plain
cross-entropy with void ignored, Adam, a cosine schedule, the row's epochs and
batch size, and the seed set before the model is built, so that SegNet's runs
here repeat those of ``benchmarks.segnet_camvid``.  FCN-8s starts from
:func:`coursekit.models.he_initialise`, as on ISBI.  Each run is timed as on
ISBI and scored on the 233 test frames (void ignored) with global accuracy,
class average accuracy, mIoU, the IoU of every class and the boundary F1.

The runs go into the ISBI comparison's file, under the key ``camvid`` (and
into its ``.npz``, under names that begin :data:`coursekit.results.CAMVID_PREFIX`),
so one file holds both datasets; the ISBI part must be there first.  Runs of
that part which a command did not rerun are kept when they were measured on
this machine with the same settings.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from coursekit.results import CAMVID, CAMVID_PREFIX, COMPARISON_SCHEMA, prediction_key

from . import compare_architectures as isbi
from . import machine, segnet_camvid, write_results

EXPERIMENT = "segnet_camvid"  # chapter 3's CamVid row: every model trains as SegNet does there
LOSS = "cross_entropy"
SHOWN = 3  # test frames whose predictions the chapter shows
PER_COMMAND = ("seeds", "models", "frameworks", "initialisation")  # settings that list what one command ran


def frame_settings(spec: dict):
    """The profile row's :class:`coursekit.profiles.Settings` with the spec's numbers (a command's overrides)."""
    from coursekit.profiles import settings_for

    row = settings_for(EXPERIMENT, spec["profile"])
    return replace(row, **{k: spec[k] for k in row.as_dict() if k in spec})


def shown_frames(count: int) -> np.ndarray:
    """Positions of the test frames the chapter shows: first, middle and last."""
    return np.unique(np.linspace(0, count - 1, min(SHOWN, count)).round().astype(int))


def scores(truth: np.ndarray, predicted: np.ndarray, num_classes: int, void: int) -> dict:
    """The numbers every CamVid row and baseline carries (void pixels scored by none)."""
    from coursekit import metrics

    found = metrics.scores(truth, predicted, num_classes, void)
    return {"pixel_accuracy": float(found["pixel_accuracy"]),
            "mean_class_accuracy": float(found["mean_class_accuracy"]), "mean_iou": float(found["mean_iou"]),
            "boundary_f1": float(metrics.mean_boundary_f1(truth, predicted, num_classes, ignore_index=void)),
            "iou_per_class": [float(v) for v in found["iou_per_class"]]}


def measure(spec: dict) -> dict:
    """Train ``spec["model"]`` on CamVid in ``spec["framework"]``; time it and score it on the test frames."""
    import coursekit
    from coursekit import train
    from coursekit.models import build, count_params, he_initialise

    framework = spec["framework"]
    if framework == "keras":
        from coursekit.runtime import import_tensorflow

        import_tensorflow()
    run = coursekit.setup(framework=framework, profile=spec["profile"], seed=spec["seed"], verbose=False)
    settings = frame_settings(spec)
    train_set, test_set = segnet_camvid.camvid_frames(settings, download=spec["profile"] == "full")
    num_classes, void = len(train_set.classes), train_set.ignore_index
    reset = isbi._reset_peak_rss()
    rss_before = isbi._status_mb("VmRSS")
    coursekit.seed(spec["seed"])  # where benchmarks.segnet_camvid seeds, so that SegNet's runs repeat its runs
    model = build(spec["model"], run.framework, in_channels=3, num_classes=num_classes, width=settings.width)
    started_from = isbi.initialisation(spec["model"], False)
    if started_from == "he_initialise":
        he_initialise(model, train_set.class_frequencies(), seed=spec["seed"])

    clock = isbi.EpochClock()
    with contextlib.redirect_stdout(clock):
        history = train.fit(model, train_set, None, loss=LOSS, epochs=settings.epochs, lr=settings.lr,
                            schedule=isbi.SCHEDULE, batch_size=settings.batch_size, seed=spec["seed"],
                            device=run.device)
    epoch_seconds = clock.epoch_seconds()

    predicted, per_image = isbi.timed_predictions(model, test_set.images)
    np.save(spec["predictions_file"], predicted[shown_frames(len(predicted))].astype(np.uint8))
    return {"params": count_params(model), "device": run.device, "initialisation": started_from,
            **isbi.costs(epoch_seconds, per_image, history, framework, rss_before, reset),
            **scores(test_set.masks, predicted, num_classes, void)}


# --- In the parent ------------------------------------------------------------------------------------------


def earlier_file(out: Path):
    """The ISBI comparison at ``out``, read and checked before any training (the CamVid part joins it)."""
    from coursekit.results import read_comparison

    if not out.exists():
        raise SystemExit(f"{out}: no such file; the CamVid runs join the ISBI comparison's file, so run "
                         "python -m benchmarks.compare_architectures (ISBI 2012) first")
    return read_comparison(out)


def run_key(row: dict) -> tuple:
    return row["model"], row["framework"], row["seed"]


def kept_rows(part: dict, earlier: dict | None, tag: str) -> list[dict]:
    """The rows of the file's earlier CamVid part that this command did not rerun, when that part was measured
    on the same machine with the same settings (else none: the part is replaced, and the command says so)."""
    if not earlier:
        return []
    same = ({k: v for k, v in earlier.get("settings", {}).items() if k not in PER_COMMAND}
            == {k: v for k, v in part["settings"].items() if k not in PER_COMMAND}
            and earlier.get("machine", {}).get("tag") == tag)
    if not same:
        print("the file's CamVid runs were measured with other settings or on another machine; replaced",
              file=sys.stderr)
        return []
    rerun = {run_key(row) for row in part["rows"]}
    return [row for row in earlier["rows"] if run_key(row) not in rerun]


def main(options, out: Path, described: dict) -> dict:
    """Train every (seed, model, framework) of ``options`` on CamVid and merge them into the file at ``out``."""
    from coursekit import baselines

    existing = earlier_file(out)  # a missing or malformed file is refused now, not after the runs
    chosen = isbi.settings(options, EXPERIMENT)
    train_set, test_set = segnet_camvid.camvid_frames(frame_settings({**chosen, "profile": options.profile}),
                                                      download=options.profile == "full")
    num_classes, void = len(train_set.classes), train_set.ignore_index
    majority = baselines.MajorityClass().fit(train_set.images, train_set.masks, ignore_index=void)
    baseline_rows = [{"name": "majority class",
                      **scores(test_set.masks, majority.predict(test_set.images), num_classes, void)}]
    shown = shown_frames(len(test_set))
    arrays = {CAMVID_PREFIX + "images": (np.clip(test_set.images[shown], 0, 1) * 255).round().astype(np.uint8),
              CAMVID_PREFIX + "truth": test_set.masks[shown].astype(np.uint8)}

    load_start, started = machine.load_average(), time.perf_counter()
    runs = [(seed, model, framework) for seed in options.seeds for model in options.models
            for framework in options.frameworks]
    with tempfile.TemporaryDirectory() as scratch:
        def one(run: tuple) -> dict:
            seed, model, framework = run
            predictions_file = Path(scratch) / f"{prediction_key(model, framework, seed)}.npy"
            spec = {"model": model, "framework": framework, "profile": options.profile, "seed": seed, **chosen,
                    "predictions_file": str(predictions_file)}
            found = isbi.run_row("compare_camvid", spec, options.timeout)
            if found["status"] == "ok":
                arrays[CAMVID_PREFIX + prediction_key(model, framework, seed)] = np.load(predictions_file)
            print(f"compare (CamVid): seed {seed} {model} {framework}: {found['status']}"
                  + (f", test mIoU {found['mean_iou']:.3f}, {found['seconds_per_epoch']:.1f} s/epoch"
                     if found["status"] == "ok" else ""), file=sys.stderr, flush=True)
            return found

        with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
            rows = list(pool.map(one, runs))

    part = {"schema": COMPARISON_SCHEMA, "dataset": CAMVID, "date": machine.now(), "machine": described,
            "versions": machine.versions(), "profile": options.profile, "threads": options.threads or "default",
            "runs_at_once": options.jobs, "note": options.note,
            "command": shlex.join(["python", "-m", "benchmarks.compare_architectures", *options.argv]),
            "settings": {**chosen, "models": options.models, "frameworks": options.frameworks, "loss": LOSS,
                         "schedule": isbi.SCHEDULE, "seeds": options.seeds, "optimizer": "adam",
                         "initialisation": {m: isbi.initialisation(m, False) for m in options.models},
                         "augmentation": "none", "data_source": train_set.source, "scored_on": "test",
                         "classes": list(train_set.classes), "palette": np.asarray(train_set.palette).tolist(),
                         "ignore_index": void},
            "baselines": baseline_rows, "rows": rows,
            "predictions": {"prefix": CAMVID_PREFIX, "test_frames": shown.tolist(),
                            "size": list(arrays[CAMVID_PREFIX + "truth"].shape[1:])},
            "seconds": round(time.perf_counter() - started, 1),
            "load_average": {"start": load_start, "end": machine.load_average()}}
    earlier = existing.results.get(CAMVID)
    kept = kept_rows(part, earlier, described["tag"])
    if kept:
        print(f"{out}: kept {len(kept)} earlier CamVid run(s) this command did not rerun", file=sys.stderr)
        part.update(rows=kept + rows, seconds=round(earlier["seconds"] + part["seconds"], 1),
                    earlier_commands=earlier.get("earlier_commands", []) + [earlier["command"]])
        ran, settings = part["rows"], part["settings"]
        settings.update(models=list(dict.fromkeys(r["model"] for r in ran)),
                        frameworks=list(dict.fromkeys(r["framework"] for r in ran)),
                        seeds=sorted({r["seed"] for r in ran}),
                        initialisation={**earlier["settings"]["initialisation"], **settings["initialisation"]})
        for row in kept:
            key = CAMVID_PREFIX + prediction_key(row["model"], row["framework"], row["seed"])
            if row["status"] == "ok":
                arrays[key] = existing.predictions[key]
    isbi_arrays = {k: v for k, v in existing.predictions.items() if not k.startswith(CAMVID_PREFIX)}
    isbi.write_npz({**isbi_arrays, **arrays}, out.with_suffix(".npz"))
    write_results({**existing.results, CAMVID: part}, out)
    print(f"results written to {out} (CamVid part; {part['seconds'] / 60:.1f} min)", file=sys.stderr)
    return part


def carried_over(out: Path, described: dict) -> tuple[dict | None, dict]:
    """The CamVid part of the file at ``out`` and its arrays, for an ISBI run that rewrites the file: kept when it
    was measured on this machine (it does not depend on the ISBI runs), else dropped."""
    from coursekit.results import ResultsFileError, read_comparison

    if not out.exists():
        return None, {}
    try:
        existing = read_comparison(out)
    except ResultsFileError as err:
        print(f"{err}; its CamVid part (if any) is not carried over", file=sys.stderr)
        return None, {}
    part = existing.results.get(CAMVID)
    if part is None or part.get("machine", {}).get("tag") != described["tag"]:
        return None, {}
    return part, {k: v for k, v in existing.predictions.items() if k.startswith(CAMVID_PREFIX)}
