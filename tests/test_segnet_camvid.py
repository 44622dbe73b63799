"""Chapter 3 on CamVid: the balancing sweep (benchmarks/segnet_camvid.py), its reader, what the chapter says of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit import losses, profiles, results
from coursekit.baselines import MajorityClass
from coursekit.data import CAMVID_CLASSES, SEGNET_CAMVID_CLASS_WEIGHTS, load_dataset

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATA = Path(os.environ.get("COURSEKIT_DATA", ROOT.parent / "shared" / "data"))


def committed() -> list[Path]:
    return sorted(RESULTS.glob("camvid-segnet-*-quick.json"))


# --- The committed sweep, and the chapter's statements about it ----------------------------------------


def test_a_quick_profile_sweep_is_committed_and_complete():
    assert committed(), "run python -m benchmarks.segnet_camvid and commit its file"
    sweep = results.read_camvid_sweep(committed()[-1])
    assert [r["status"] for r in sweep.results["rows"]] == ["ok"] * 30
    runs = {(r["framework"], r["seed"], r["balancing"]) for r in sweep.rows()}
    assert runs == {(f, s, b) for f in ("torch", "keras") for s in (0, 1, 2)
                    for b in ("none", "median_frequency", "segnet")}
    for decoder in ("segnet", "segnet_nearest", "vgg_segnet"):
        plain = sweep.rows("none", decoder)
        assert sorted((r["framework"], r["seed"]) for r in plain) == sorted(
            (f, s) for f in ("torch", "keras") for s in (0, 1, 2)), decoder
        assert all("boundary_f1" in r for r in plain), f"{decoder}: a plain run without boundary F1"
    # the file was measured with the profile the chapter trains with, not an older one
    quick = profiles.TABLE["segnet_camvid"]["quick"].as_dict()
    assert {k: sweep.settings[k] for k in quick} == quick
    for row in sweep.rows():
        assert len(row["iou_per_class"]) == len(CAMVID_CLASSES)
        assert 0 <= row["mean_iou"] <= row["pixel_accuracy"] <= 1


def test_what_chapter_3_says_of_balancing_holds_in_the_committed_runs():
    """Both weightings lower global accuracy and mIoU in every pair of runs, global accuracy the most, and
    raise class average accuracy in five pairs of six; SegNet's weights move further than ours."""
    sweep = results.read_camvid_sweep(committed()[-1])
    for way in ("median_frequency", "segnet"):
        assert len(sweep.paired("mean_class_accuracy", way, "none")) == 6
        assert max(sweep.paired("pixel_accuracy", way, "none")) < 0, f"{way} lowers global accuracy"
        assert max(sweep.paired("mean_iou", way, "none")) < 0, f"{way} lowers mIoU"
        assert min(sweep.paired("pixel_accuracy", way, "none")) < min(sweep.paired("mean_iou", way, "none"))
        assert sum(gain > 0 for gain in sweep.paired("mean_class_accuracy", way, "none")) == 5
    assert np.mean(sweep.values("segnet", "pixel_accuracy")) < np.mean(sweep.values("median_frequency",
                                                                                     "pixel_accuracy"))
    # "the authors' weights weigh the sign class more than twice as much as ours"
    ours = dict(zip(CAMVID_CLASSES, sweep.rows("median_frequency")[0]["class_weights"]))
    assert SEGNET_CAMVID_CLASS_WEIGHTS[CAMVID_CLASSES.index("sign")] > 2 * ours["sign"]


def higher_in(sweep, score, left, right) -> dict[str, int]:
    """In how many pairs of runs, per framework, ``left``'s score beat ``right``'s."""
    return {f: sum(g > 0 for g in sweep.decoders_paired(score, left, right, framework=f)) for f in ("torch", "keras")}


def test_what_chapter_3_says_of_the_decoders_on_camvid_holds_in_the_committed_runs():
    """No comparison holds in all six pairs; the indices win boundary F1 in five of six and mIoU in two (none in
    Keras); VGG-SegNet beats nearest SegNet on both scores in every torch pair and loses in every Keras pair; each
    mean mIoU lies inside the other two decoders' ranges."""
    sweep = results.read_camvid_sweep(committed()[-1])
    assert higher_in(sweep, "boundary_f1", "segnet", "segnet_nearest") in ({"torch": 3, "keras": 2},
                                                                           {"torch": 2, "keras": 3})
    assert higher_in(sweep, "mean_iou", "segnet", "segnet_nearest") == {"torch": 2, "keras": 0}
    for score in ("mean_iou", "boundary_f1"):
        assert higher_in(sweep, score, "vgg_segnet", "segnet_nearest") == {"torch": 3, "keras": 0}
    pairs = [("segnet", "segnet_nearest"), ("vgg_segnet", "segnet_nearest"), ("segnet", "vgg_segnet")]
    for score in ("pixel_accuracy", "mean_class_accuracy", "mean_iou", "boundary_f1"):
        for left, right in pairs:
            wins = sum(higher_in(sweep, score, left, right).values())
            assert 0 < wins < 6, f"{left} against {right} on {score} holds in every pair: the chapter says none does"
    gains = sweep.decoders_paired("boundary_f1", "segnet", "segnet_nearest")
    assert max(gains) < 0.05, "the indices' boundary F1 lead is 'at most a few points'"
    decoders = ("segnet", "segnet_nearest", "vgg_segnet")
    for decoder in decoders:
        mean = np.mean(sweep.values("none", "mean_iou", decoder))
        for other in set(decoders) - {decoder}:
            assert min(sweep.values("none", "mean_iou", other)) <= mean <= max(sweep.values("none", "mean_iou", other))


@pytest.mark.skipif(not (DATA / "camvid" / "train").is_dir(), reason="needs the CamVid frames of ../shared/data")
def test_every_run_beats_the_majority_class_by_far():
    sweep = results.read_camvid_sweep(committed()[-1])
    train = load_dataset("camvid", root=DATA, split="train", size=(128, 160), fallback=False).load()
    test = load_dataset("camvid", root=DATA, split="test", size=(128, 160), fallback=False).load()
    from coursekit import metrics

    majority = MajorityClass().fit(train.images, train.masks, ignore_index=train.ignore_index)
    floor = metrics.mean_iou(test.masks, majority.predict(test.images), len(CAMVID_CLASSES),
                             ignore_index=test.ignore_index)
    assert floor < 0.05
    for decoder in ("segnet", "segnet_nearest", "vgg_segnet"):
        assert min(sweep.values("none", "mean_iou", decoder)) > floor + 0.15, decoder


# --- The reader ------------------------------------------------------------------------------------------


def sweep_file(tmp_path, rows, changes=None) -> Path:
    content = {"schema": results.CAMVID_SWEEP_SCHEMA, "date": "2026-12-04T00:00:00+00:00",
               "machine": {"cpu": "test CPU", "cores": 2}, "profile": "quick",
               "settings": {"image_size": 160, "image_height": 128, "width": 8, "epochs": 14, "batch_size": 8,
                            "lr": 0.002, "schedule": "cosine"}, "rows": rows, **(changes or {})}
    path = tmp_path / "camvid-segnet-test-quick.json"
    path.write_text(json.dumps(content))
    return path


def row(framework, seed, balancing, mean_iou, status="ok"):
    return {"framework": framework, "seed": seed, "balancing": balancing, "status": status, "mean_iou": mean_iou,
            "pixel_accuracy": 0.7, "mean_class_accuracy": 0.4, "iou_per_class": [mean_iou] * 11}


def test_paired_differences_join_runs_of_one_framework_and_seed(tmp_path):
    rows = [row("torch", 0, "none", 0.30), row("torch", 1, "none", 0.20), row("keras", 0, "none", 0.25),
            row("torch", 1, "segnet", 0.26), row("torch", 0, "segnet", 0.31), row("keras", 1, "segnet", 0.9),
            row("keras", 0, "segnet", 0.1, status="error: out of memory")]
    sweep = results.read_camvid_sweep(sweep_file(tmp_path, rows))
    assert sweep.values("none", "mean_iou") == [0.30, 0.20, 0.25]
    # keras seed 1 has no plain run, keras seed 0 no balanced one that trained: neither is paired
    assert sweep.paired("mean_iou", "segnet", "none") == pytest.approx([0.06, 0.01])
    assert "6 runs" in sweep.describe() and "128×160" in sweep.describe()


def test_decoders_are_paired_on_plain_runs_and_kept_out_of_the_balancing_rows(tmp_path):
    rows = [row("torch", 0, "none", 0.30), row("keras", 0, "none", 0.28),
            {**row("torch", 0, "none", 0.22), "decoder": "segnet_nearest"},
            {**row("keras", 0, "none", 0.25), "decoder": "segnet_nearest"},
            {**row("torch", 0, "none", 0.26), "decoder": "vgg_segnet"}]
    sweep = results.read_camvid_sweep(sweep_file(tmp_path, rows))
    assert sweep.values("none", "mean_iou") == [0.30, 0.28]  # rows without a decoder are SegNet's own
    assert sweep.values("none", "mean_iou", "segnet_nearest") == [0.22, 0.25]
    assert sweep.decoders_paired("mean_iou", "segnet", "segnet_nearest") == pytest.approx([0.08, 0.03])
    assert sweep.decoders_paired("mean_iou", "segnet", "vgg_segnet") == pytest.approx([0.04])
    assert sweep.decoders_paired("mean_iou", "segnet", "segnet_nearest", framework="keras") == pytest.approx([0.03])


def test_the_plan_balances_segnet_only_and_compares_decoders_on_plain_cross_entropy():
    from benchmarks.segnet_camvid import BALANCING, DECODERS, plan

    runs = plan(BALANCING, DECODERS, ("torch", "keras"), (0, 1, 2))
    assert len(runs) == len(set(runs)) == 3 * 6 + 2 * 6
    assert {(d, b) for d, b, _, _ in runs} == {("segnet", b) for b in BALANCING} | {
        ("segnet_nearest", "none"), ("vgg_segnet", "none")}
    assert plan(("segnet",), DECODERS, ("torch",), (0,)) == [("segnet", "segnet", "torch", 0)]
    assert plan(BALANCING, ("vgg_segnet",), ("torch",), (0,)) == [("vgg_segnet", "none", "torch", 0)]


@pytest.mark.parametrize("change, message", [
    ({"schema": 99}, "schema 99"),
    ({"rows": [{"framework": "torch", "seed": 0, "status": "ok"}]}, "row 1 lacks balancing"),
    ({"rows": [{"framework": "torch", "seed": 0, "balancing": "none", "status": "ok", "mean_iou": 0.3}]},
     "row 1 lacks pixel_accuracy"),
])
def test_a_malformed_sweep_file_is_refused_naming_it_and_the_fault(tmp_path, change, message):
    path = sweep_file(tmp_path, [row("torch", 0, "none", 0.3)], change)
    with pytest.raises(results.ResultsFileError, match=message) as error:
        results.read_camvid_sweep(path)
    assert str(path) in str(error.value)


def test_load_without_a_file_says_where_it_looked_and_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "search_folders", lambda: [tmp_path])
    with pytest.raises(FileNotFoundError, match=r"benchmarks.segnet_camvid") as error:
        results.load_camvid_sweep(download=False)
    assert str(tmp_path) in str(error.value)


# --- The benchmark ---------------------------------------------------------------------------------------


def test_the_losses_of_the_three_ways_of_balancing():
    from benchmarks.segnet_camvid import class_weights

    masks = np.array([[[0, 0, 0, 1], [0, 0, 11, 2]]])
    assert class_weights("none", masks, 3, 11) is None
    assert np.array_equal(class_weights("segnet", masks, 3, 11), SEGNET_CAMVID_CLASS_WEIGHTS)
    assert np.allclose(class_weights("median_frequency", masks, 3, 11),
                       losses.class_frequency_weights(masks, 3, ignore_index=11))


@pytest.mark.skipif(not (DATA / "camvid" / "train").is_dir(), reason="needs the CamVid frames of ../shared/data")
def test_a_smoke_run_writes_a_file_the_chapters_reader_accepts(tmp_path):
    out = tmp_path / "camvid-segnet-smoke-quick.json"
    env = dict(os.environ, COURSEKIT_DATA=str(DATA), PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]))
    subprocess.run([sys.executable, "-m", "benchmarks.segnet_camvid", "--frameworks", "torch", "--seeds", "0",
                    "--balancing", "none,segnet", "--decoders", "segnet,vgg_segnet",
                    "--epochs", "1", "--width", "2", "--train-frames", "8",
                    "--test-frames", "4", "--out", str(out)], cwd=ROOT, env=env, check=True, timeout=600)
    sweep = results.read_camvid_sweep(out)
    assert [r["balancing"] for r in sweep.rows()] == ["none", "segnet"]
    assert sweep.settings["epochs"] == 1 and sweep.settings["train_images"] == 8
    assert sweep.rows("segnet")[0]["class_weights"] == pytest.approx(SEGNET_CAMVID_CLASS_WEIGHTS.tolist())
    assert len(sweep.paired("mean_iou", "segnet", "none")) == 1
    assert len(sweep.decoders_paired("boundary_f1", "segnet", "vgg_segnet")) == 1


def test_a_rerun_keeps_the_runs_it_did_not_redo_and_replaces_a_file_of_other_settings(tmp_path, capsys):
    from benchmarks.segnet_camvid import earlier_results, merged

    out = sweep_file(tmp_path, [row("torch", 0, "none", 0.30), row("torch", 0, "segnet", 0.25)],
                     {"command": "first", "seconds": 10.0, "machine": {"tag": "cpu-test"}})
    earlier = earlier_results(out)
    now = {**earlier, "command": "second", "seconds": 5.0,
           "rows": [row("torch", 0, "segnet", 0.27), {**row("torch", 0, "none", 0.2), "decoder": "vgg_segnet"}]}
    both = merged(now, earlier, out)
    assert [(r["balancing"], r.get("decoder"), r["mean_iou"]) for r in both["rows"]] == [
        ("none", None, 0.30), ("segnet", None, 0.27), ("none", "vgg_segnet", 0.2)]
    assert both["command"] == "second" and both["earlier_commands"] == ["first"] and both["seconds"] == 15.0
    other = {**now, "settings": {**now["settings"], "epochs": 28}}
    assert merged(other, earlier, out) is other
    assert "replaced" in capsys.readouterr().err
    assert merged(now, earlier_results(tmp_path / "none-yet.json"), out) is now


def test_a_malformed_results_file_is_refused_before_any_training(tmp_path, monkeypatch):
    from benchmarks import segnet_camvid

    out = tmp_path / "camvid-segnet-test-quick.json"
    out.write_text("{not json")
    monkeypatch.setattr(segnet_camvid, "run_in_child", lambda *a: pytest.fail("trained despite a broken file"))
    with pytest.raises(results.ResultsFileError, match="camvid-segnet-test-quick.json"):
        segnet_camvid.main(["--frameworks", "torch", "--seeds", "0", "--balancing", "none", "--decoders", "segnet",
                            "--out", str(out)])
    assert out.read_text() == "{not json"


def test_the_default_file_name_is_the_one_the_reader_looks_for(tmp_path, monkeypatch):
    name = results.camvid_sweep_file_name("cpu-test-2-cores", "quick")
    shutil.copy(committed()[-1], tmp_path / name)
    monkeypatch.setattr(results, "search_folders", lambda: [tmp_path])
    assert results.load_camvid_sweep(download=False).path == tmp_path / name


# --- What the chapter's CamVid section builds on -----------------------------------------------------------


def test_the_camvid_row_gives_sizes_five_poolings_divide():
    for profile in profiles.PROFILES:
        settings = profiles.TABLE["segnet_camvid"][profile]
        height, width = settings.image_shape
        assert height % 32 == 0 and width % 32 == 0 and height < width
    assert profiles.TABLE["segnet"]["quick"].image_shape == (64, 64)  # square rows stay square


def test_the_majority_class_leaves_void_out():
    masks = np.array([[[11, 11, 11], [11, 3, 3]]])
    images = np.zeros((1, 2, 3, 3), np.float32)
    assert MajorityClass().fit(images, masks).label_ == 11
    assert MajorityClass().fit(images, masks, ignore_index=11).label_ == 3
