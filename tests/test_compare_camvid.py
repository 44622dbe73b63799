"""Chapter 7 on road scenes: the comparison's CamVid runs, kept in the ISBI file, and how the chapter reads them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit import results, viz

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DISCUSSED = ("fcn8s", "segnet", "unet", "unet_bn", "resnet34_unet")
TINY = ["--dataset", "camvid", "--profile", "quick", "--epochs", "1", "--width", "2", "--train-images", "8",
        "--val-images", "4", "--threads", "1", "--seeds", "0", "--frameworks", "torch"]
DATA = Path(os.environ.get("COURSEKIT_DATA", ROOT.parent / "shared" / "data")) / "camvid"
needs_camvid = pytest.mark.skipif(not DATA.is_dir(), reason="CamVid is not on this machine (../shared/data/camvid)")


def committed() -> Path:
    found = sorted(RESULTS.glob("compare-*-quick.json"))
    assert found, "no committed quick-profile comparison"
    return found[0]


def command(*options: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]))
    return subprocess.run([sys.executable, "-m", "benchmarks.compare_architectures", *options], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def isbi_only_copy(folder: Path) -> Path:
    """The committed comparison without its CamVid part: the file a first CamVid command joins."""
    target = folder / "compare-test-quick.json"
    content = json.loads(committed().read_text())
    content.pop(results.CAMVID, None)
    target.write_text(json.dumps(content))
    with np.load(committed().with_suffix(".npz")) as arrays:
        np.savez(target.with_suffix(".npz"), **{k: arrays[k] for k in arrays.files
                                                if not k.startswith(results.CAMVID_PREFIX)})
    return target


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    """Two tiny CamVid commands into a copy of the ISBI file: FCN-8s, then SegNet (torch, seed 0)."""
    if not DATA.is_dir():
        pytest.skip("CamVid is not on this machine")
    out = isbi_only_copy(tmp_path_factory.mktemp("camvid"))
    before = json.loads(out.read_text())
    for model in ("fcn8s", "segnet"):
        finished = command(*TINY, "--models", model, "--out", str(out))
        assert finished.returncode == 0, finished.stderr[-3000:]
    return out, before, finished.stderr


@needs_camvid
def test_the_camvid_runs_join_the_isbi_file_and_leave_its_runs_alone(joined):
    out, before, _ = joined
    after = json.loads(out.read_text())
    assert {k: v for k, v in after.items() if k != results.CAMVID} == before
    loaded = results.read_comparison(out)
    assert loaded.datasets == [results.ISBI, results.CAMVID] and loaded.on(results.ISBI) is loaded
    with np.load(out.with_suffix(".npz")) as written, np.load(committed().with_suffix(".npz")) as original:
        isbi = [k for k in original.files if not k.startswith(results.CAMVID_PREFIX)]
        assert all(np.array_equal(written[k], original[k]) for k in isbi), "an ISBI array changed"
        added = {k for k in written.files if k not in isbi}
    assert added == {results.CAMVID_PREFIX + k for k in ("images", "truth", "fcn8s__torch__seed0",
                                                         "segnet__torch__seed0")}


@needs_camvid
def test_a_second_command_keeps_the_runs_it_did_not_rerun(joined):
    out, _, stderr = joined
    camvid = results.read_comparison(out).on(results.CAMVID)
    assert sorted(camvid.models) == ["fcn8s", "segnet"] and camvid.frameworks == ["torch"]
    assert "kept 1 earlier CamVid run" in stderr
    assert len(camvid.results["earlier_commands"]) == 1 and "--models fcn8s" in camvid.results["earlier_commands"][0]


@needs_camvid
def test_the_camvid_part_says_how_it_was_trained_and_scored(joined):
    camvid = results.read_comparison(joined[0]).on(results.CAMVID)
    s = camvid.settings
    assert (s["image_height"], s["image_size"], s["train_images"], s["val_images"], s["width"], s["epochs"]) == \
        (128, 160, 8, 4, 2, 1), "the profile row segnet_camvid with the command's overrides"
    assert s["loss"] == "cross_entropy" and s["data_source"] == "disk" and s["ignore_index"] == 11
    assert s["initialisation"] == {"fcn8s": "he_initialise", "segnet": "as built"}
    assert "data: CamVid (disk), 8 training frames at 128×160 px,\nscored on 4 test frames" in camvid.describe()
    for row in camvid.rows():
        assert 0 <= row["mean_iou"] <= row["pixel_accuracy"] <= 1 and len(row["iou_per_class"]) == 11
        assert camvid.prediction(row["model"], "torch").shape == (3, 128, 160)
    assert camvid.predictions["images"].shape == (3, 128, 160, 3) and camvid.predictions["images"].dtype == np.uint8
    assert camvid.baselines["majority class"]["mean_class_accuracy"] == pytest.approx(1 / 11, abs=0.02)
    table = str(viz.comparison_table(camvid))
    assert "class average accuracy" in table and "membrane" not in table and "ms / image" not in table
    assert "parameters" not in table
    assert "s / epoch" in table and "median training epoch" in table


@needs_camvid
def test_an_isbi_rerun_keeps_the_camvid_part(joined, tmp_path):
    from benchmarks import compare_camvid

    out = tmp_path / joined[0].name
    shutil.copy(joined[0], out)
    shutil.copy(joined[0].with_suffix(".npz"), out.with_suffix(".npz"))
    written = results.read_comparison(out)
    part, arrays = compare_camvid.carried_over(out, written.results["machine"])
    assert part == written.results[results.CAMVID]
    assert set(arrays) == {k for k in written.predictions if k.startswith(results.CAMVID_PREFIX)} and arrays
    assert compare_camvid.carried_over(out, {**written.results["machine"], "tag": "another-machine"}) == (None, {})


def test_the_camvid_command_refuses_a_missing_isbi_file_before_training(tmp_path):
    finished = command(*TINY, "--models", "fcn8s", "--out", str(tmp_path / "compare-none-quick.json"))
    assert finished.returncode != 0 and "compare-none-quick.json: no such file" in finished.stderr
    assert "compare (CamVid)" not in finished.stderr, "it trained before finding the file missing"
    assert not list(tmp_path.iterdir())


def test_jobs_are_for_camvid_only():
    finished = command("--jobs", "2", "--models", "fcn8s")
    assert finished.returncode == 2 and "--jobs applies to --dataset camvid only" in finished.stderr


@pytest.fixture
def camvid_copy(tmp_path):
    target = tmp_path / "compare-test-quick.json"
    shutil.copy(committed(), target)
    shutil.copy(committed().with_suffix(".npz"), target.with_suffix(".npz"))
    return target


@pytest.mark.parametrize("change, message", [
    (lambda r: r[results.CAMVID]["rows"][0].pop("mean_class_accuracy"), "its camvid part: row 1"),
    (lambda r: r[results.CAMVID]["settings"].pop("ignore_index"), "its camvid part: settings lack ignore_index"),
    (lambda r: r[results.CAMVID]["baselines"][0].pop("pixel_accuracy"), "its camvid part: baseline 1 lacks"),
    (lambda r: r[results.CAMVID].update(schema=1), "its camvid part: schema 1"),
])
def test_a_malformed_camvid_part_is_named(camvid_copy, change, message):
    content = json.loads(camvid_copy.read_text())
    change(content)
    camvid_copy.write_text(json.dumps(content))
    with pytest.raises(results.ComparisonFileError) as raised:
        results.read_comparison(camvid_copy)
    assert str(camvid_copy) in str(raised.value) and message in str(raised.value)


def test_a_missing_camvid_prediction_is_named(camvid_copy):
    with np.load(camvid_copy.with_suffix(".npz")) as arrays:
        kept = {k: arrays[k] for k in arrays.files if k != results.CAMVID_PREFIX + "unet__keras__seed1"}
    np.savez(camvid_copy.with_suffix(".npz"), **kept)
    with pytest.raises(results.ComparisonFileError, match="missing the array.*camvid__unet__keras__seed1"):
        results.read_comparison(camvid_copy)


def test_predictions_of_another_shape_are_named_per_dataset(camvid_copy):
    with np.load(camvid_copy.with_suffix(".npz")) as arrays:
        changed = {k: arrays[k] for k in arrays.files}
    changed[results.CAMVID_PREFIX + "unet__keras__seed1"] = changed[results.CAMVID_PREFIX + "truth"][:, :64]
    np.savez(camvid_copy.with_suffix(".npz"), **changed)
    with pytest.raises(results.ComparisonFileError, match="the CamVid truth and predictions differ in shape"):
        results.read_comparison(camvid_copy)
    changed.pop(results.CAMVID_PREFIX + "unet__keras__seed1")
    changed["unet__keras__seed1"] = changed["truth"][:, :64]
    np.savez(camvid_copy.with_suffix(".npz"), **changed)
    with pytest.raises(results.ComparisonFileError, match="the images, truth and predictions differ in shape"):
        results.read_comparison(camvid_copy)


def test_a_file_without_camvid_runs_says_how_to_add_them(tmp_path):
    loaded = results.read_comparison(isbi_only_copy(tmp_path))
    assert loaded.datasets == [results.ISBI]
    with pytest.raises(KeyError, match="--dataset camvid"):
        loaded.on(results.CAMVID)


# --- The committed runs, as chapter 7 reads them -------------------------------------------------------------


def test_the_committed_comparison_holds_the_five_models_on_camvid_for_three_seeds():
    camvid = results.load_comparison("quick", download=False).on(results.CAMVID)
    assert set(camvid.models) == set(DISCUSSED) and set(camvid.frameworks) == {"torch", "keras"}
    assert not camvid.failed() and camvid.seeds == [0, 1, 2]
    assert all(len(camvid.runs(m, f)) == 3 for m in DISCUSSED for f in ("torch", "keras"))
    assert camvid.settings["data_source"] == "disk" and camvid.settings["val_images"] == 233
    majority = camvid.baselines["majority class"]["mean_iou"]
    assert all(r["mean_iou"] > majority + 0.1 for r in camvid.rows()), "a run that did not learn the scenes"


def test_the_class_table_averages_each_class_over_the_seeds():
    camvid = results.load_comparison("quick", download=False).on(results.CAMVID)
    table = viz.class_iou_table(camvid, "keras")
    assert table.header == ["class", *(viz.model_label(m) for m in camvid.models)]
    assert [row[0] for row in table.body] == list(camvid.settings["classes"])
    car = camvid.settings["classes"].index("car")
    expected = np.mean([r["iou_per_class"][car] for r in camvid.runs("unet_bn", "keras")])
    assert table.body[car][1 + camvid.models.index("unet_bn")] == f"{expected:.3f}"
    columns = np.array([[float(v) for v in row[1:]] for row in table.body])
    mious = [camvid.spread(m, "keras", "mean_iou").mean for m in camvid.models]
    assert np.allclose(columns.mean(axis=0), mious, atol=2e-3), "the mIoU is the mean of the table's column"


def test_segnet_on_camvid_repeats_chapter_3s_runs():
    """The comparison trains every model as chapter 3's sweep trains SegNet: its SegNet runs are those runs."""
    camvid = results.load_comparison("quick", download=False).on(results.CAMVID)
    sweep = results.load_camvid_sweep("quick", download=False)
    assert camvid.results["machine"]["tag"] == sweep.results["machine"]["tag"]
    for framework in ("torch", "keras"):
        for seed in (0, 1, 2):
            chapter_3 = [r for r in sweep.rows("none") if r["framework"] == framework and r["seed"] == seed]
            assert len(chapter_3) == 1
            here = camvid.row("segnet", framework, seed)
            assert here["mean_iou"] == pytest.approx(chapter_3[0]["mean_iou"], abs=2e-3), (framework, seed)


# --- The exercise "do the two datasets agree?" ---------------------------------------------------------------


def same_order_right(first, second):
    place = {m: i for i, m in enumerate(second)}
    pairs = [(a, b) for i, a in enumerate(first) for b in first[i + 1:]]
    return sum(place[a] < place[b] for a, b in pairs) / len(pairs)


def same_order_neighbours_only(first, second):  # compares each model with the next one only
    place = {m: i for i, m in enumerate(second)}
    return sum(place[a] < place[b] for a, b in zip(first, first[1:])) / (len(first) - 1)


def same_order_same_places(first, second):  # the share of models at the same place
    return sum(a == b for a, b in zip(first, second)) / len(first)


def same_order_count(first, second):  # the count, not the fraction
    return same_order_right(first, second) * len(first) * (len(first) - 1) / 2


def test_the_agreement_checker_accepts_the_right_answer_and_rejects_plausible_wrong_ones():
    from coursekit import exercises
    from coursekit.exercises import ExerciseFailed

    assert exercises.check_pairs_in_same_order(same_order_right).cases >= 5
    for wrong in (same_order_neighbours_only, same_order_same_places, same_order_count):
        with pytest.raises(ExerciseFailed):
            exercises.check_pairs_in_same_order(wrong)


def test_what_the_exercise_says_of_the_committed_orders_holds():
    """'The two datasets agree on about half the pairs in each framework, little more than chance would.'"""
    comparison = results.load_comparison("quick", download=False)
    for framework in ("torch", "keras"):
        isbi, road = ([m["model"] for m in sorted(source.summaries(framework), key=lambda m: -m["mean_iou"])]
                      for source in (comparison, comparison.on(results.CAMVID)))
        assert isbi[0] == road[0], "the solution says the leader is the same"
        assert 0.4 <= same_order_right(isbi, road) <= 0.7, framework
