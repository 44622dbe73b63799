"""Chapter 7: the comparison script, the chapter's reader of its results, and the chapter's checkers."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from coursekit import exercises, results, viz
from coursekit.exercises import ExerciseFailed
from coursekit.models import count_multiply_adds

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DISCUSSED = ("fcn8s", "segnet", "unet", "unet_bn", "resnet34_unet")  # the models chapter 7 talks about
SMOKE = ["--epochs", "2", "--image-size", "32", "--width", "2", "--train-images", "8", "--val-images", "2",
         "--threads", "1", "--seeds", "0,1"]
SEEDS = [0, 1]
RUNS = {"torch": ["fcn8s", "unet_bn"], "keras": ["segnet", "unet"]}


# --- The script, in a tiny configuration ---------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Both smoke runs at once (one per framework, two models each): the two cores take one each."""
    folder = tmp_path_factory.mktemp("compare")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]))  # this checkout's coursekit
    running = {}
    for framework, models in RUNS.items():
        out = folder / f"compare-smoke-{framework}-quick.json"
        command = [sys.executable, "-m", "benchmarks.compare_architectures", "--profile", "quick", "--frameworks",
                   framework, "--models", ",".join(models), "--out", str(out), *SMOKE]
        running[framework] = (out, subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                                    stderr=subprocess.PIPE, text=True))
    finished = {}
    for framework, (out, process) in running.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        finished[framework] = out
    return finished


@pytest.mark.parametrize("framework", list(RUNS))
def test_smoke_run_writes_a_complete_results_file(smoke, framework):
    out = smoke[framework]
    written = json.loads(out.read_text())
    assert written["schema"] == results.COMPARISON_SCHEMA and written["profile"] == "quick"
    assert {"cpu", "cores", "gpu", "ram_gb", "os", "tag"} <= set(written["machine"])
    assert written["machine"]["tag"] and re.fullmatch(r"[a-z0-9-]+", written["machine"]["tag"])
    for package in ("python", "torch", "tensorflow", "keras", "numpy"):
        assert written["versions"][package], package
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", written["date"])
    assert written["command"].startswith("python -m benchmarks.compare_architectures") and "--epochs 2" in \
        written["command"]
    assert all(len(written["load_average"][when]) == 3 for when in ("start", "end"))
    settings = written["settings"]
    assert (settings["epochs"], settings["image_size"], settings["width"], settings["train_images"]) == (2, 32, 2, 8)
    assert settings["loss"] == "cross_entropy+dice" and settings["seeds"] == SEEDS
    assert settings["initialisation"] == {m: "he_initialise" if m == "fcn8s" else "as built"
                                          for m in RUNS[framework]}
    assert settings["frameworks"] == [framework] and settings["models"] == RUNS[framework]
    held_out, training = settings["held_out_slices"], settings["training_slices"]
    assert not set(held_out) & set(training), "split by slice: no slice both trains and scores"
    assert [b["name"] for b in written["baselines"]] == ["majority class", "Otsu threshold"]
    assert written["baselines"][0]["membrane_dice"] == 0.0  # the majority class never says membrane

    assert [(r["model"], r["framework"], r["seed"]) for r in written["rows"]] == \
        [(m, framework, seed) for seed in SEEDS for m in RUNS[framework]]
    for row in written["rows"]:
        assert row["status"] == "ok"
        from coursekit.models import build, count_params

        assert row["params"] == count_params(build(row["model"], "torch", in_channels=1, num_classes=2, width=2))
        assert len(row["epoch_seconds"]) == 2 and row["seconds_per_epoch"] == row["epoch_seconds"][1]
        assert row["first_epoch_seconds"] == row["epoch_seconds"][0]
        assert 0 < row["inference_seconds_per_image"] < 60
        assert row["peak_memory_mb"] > 0 and row["peak_memory_kind"] == "host RSS added by the model"
        assert row["peak_rss_mb"] > row["peak_memory_mb"]
        for key in ("membrane_dice", "cell_dice", "mean_iou", "boundary_f1"):
            assert 0.0 <= row[key] <= 1.0, key
        assert len(row["loss"]) == 2 and all(math.isfinite(v) for v in row["loss"])

    with np.load(out.with_suffix(".npz")) as arrays:
        shown = min(3, len(held_out))
        size = min(256, 512)
        assert arrays["images"].shape == arrays["truth"].shape == (shown, size, size)
        assert arrays["images"].dtype == arrays["truth"].dtype == np.uint8
        assert set(np.unique(arrays["truth"])) <= {0, 1}
        assert list(arrays["slices"]) == written["predictions"]["slices"] and set(arrays["slices"]) <= set(held_out)
        for model in RUNS[framework]:
            for seed in SEEDS:
                predicted = arrays[f"{model}__{framework}__seed{seed}"]
                assert predicted.shape == (shown, size, size) and predicted.dtype == np.uint8
                assert set(np.unique(predicted)) <= {0, 1}


@pytest.mark.parametrize("framework", list(RUNS))
def test_what_the_script_writes_the_chapters_reader_accepts(smoke, framework):
    """The writer and coursekit.results share one schema: a file just written passes the reader's checks."""
    loaded = results.read_comparison(smoke[framework])
    assert loaded.frameworks == [framework] and loaded.models == RUNS[framework] and loaded.seeds == SEEDS
    assert loaded.results["schema"] == results.COMPARISON_SCHEMA
    for model in RUNS[framework]:
        for seed in SEEDS:
            assert loaded.prediction(model, framework, seed).shape == loaded.predictions["truth"].shape
        assert [r["seed"] for r in loaded.runs(model, framework)] == SEEDS
        assert loaded.spread(model, framework, "membrane_dice").values == \
            tuple(loaded.row(model, framework, seed)["membrane_dice"] for seed in SEEDS)
    assert "profile quick" in loaded.describe()


def test_smoke_results_make_the_chapters_table(smoke):
    loaded = results.read_comparison(smoke["keras"])
    table = viz.comparison_table(loaded, mark="keras")
    assert "SegNet" in str(table) and "Otsu threshold" in str(table) and "mean over seeds 0, 1" in str(table)
    assert "**SegNet**" in table._repr_markdown_()
    segnet = next(line for line in table._repr_markdown_().splitlines() if line.startswith("| **SegNet**"))
    assert loaded.spread("segnet", "keras", "membrane_dice").format(".3f") in segnet  # mean (lowest–highest)


def test_one_run_of_several_seeds_must_be_named():
    """A file with several seeds gives no single run unless asked for one: one run is an anecdote."""
    rows = [{"model": m, "framework": "torch", "seed": seed, "status": "ok", "membrane_dice": dice}
            for m, seed, dice in (("a", 0, 0.5), ("b", 0, 0.7), ("a", 1, 0.9), ("b", 1, 0.6), ("a", 2, 0.4))]
    comparison = results.Comparison(Path("compare-x-quick.json"), {"rows": rows}, {})
    assert comparison.seeds == [0, 1, 2]
    with pytest.raises(ValueError, match=r"seeds \[0, 1, 2\]: say which with seed="):
        comparison.row("a", "torch")
    assert comparison.row("a", "torch", 1)["membrane_dice"] == 0.9
    with pytest.raises(KeyError, match="no trained run with seed 2"):
        comparison.row("b", "torch", 2)
    spread = comparison.spread("a", "torch", "membrane_dice")
    assert (spread.low, spread.high) == (0.4, 0.9) and spread.mean == pytest.approx(0.6)
    assert spread.format(".2f") == "0.60 (0.40–0.90)" and results.Spread((0.5,)).format(".2f") == "0.50"
    assert comparison.winners("torch", "membrane_dice") == {0: "b", 1: "a", 2: "a"}
    assert comparison.winners("torch", "membrane_dice", best=min) == {0: "a", 1: "b", 2: "a"}


def test_fcn8s_starts_from_he_initialise_unless_asked_not_to(monkeypatch, tmp_path):
    """Chapter 2 shows FCN-8s needs the careful start; the comparison gives it, with the run's seed."""
    import coursekit.models
    from benchmarks import compare_architectures

    called = []
    real = coursekit.models.he_initialise
    monkeypatch.setattr(coursekit.models, "he_initialise",
                        lambda model, frequencies, seed: called.append((frequencies, seed)) or real(model, frequencies,
                                                                                                    seed=seed))
    spec = {"framework": "torch", "profile": "quick", "seed": 4, "image_size": 32, "train_images": 4, "val_images": 1,
            "width": 2, "epochs": 1, "batch_size": 4, "lr": 1e-3}
    for model, default_init, expected in (("fcn8s", False, "he_initialise"), ("unet_bn", False, "as built"),
                                          ("fcn8s", True, "the framework's default")):
        called.clear()
        row = compare_architectures.measure({**spec, "model": model, "default_init": default_init,
                                             "predictions_file": str(tmp_path / f"{model}.npy")})
        assert row["initialisation"] == expected
        assert len(called) == (expected == "he_initialise")
        if called:
            frequencies, seed = called[0]
            assert seed == 4 and len(frequencies) == 2 and sum(frequencies) == pytest.approx(1.0)


def test_the_default_file_name_is_the_one_the_reader_looks_for(tmp_path, monkeypatch):
    from benchmarks.compare_architectures import default_out

    out = default_out({"tag": "cpu-amd-epyc-2-cores"}, "quick")
    assert out == RESULTS / "compare-cpu-amd-epyc-2-cores-quick.json"
    assert default_out({"tag": "x"}, "quick", results.DEFAULT_INIT).name == "compare-x-quick-default-init.json"
    copy = tmp_path / out.name
    shutil.copy(committed()[0], copy)
    shutil.copy(committed()[0].with_suffix(".npz"), copy.with_suffix(".npz"))
    monkeypatch.setattr(results, "search_folders", lambda: [tmp_path])
    assert results.load_comparison("quick", download=False).path == copy
    with pytest.raises(FileNotFoundError, match="compare-\\*-quick-default-init.json.*--default-init"):
        results.load_comparison("quick", variant=results.DEFAULT_INIT, download=False)
    variant = tmp_path / "compare-cpu-amd-epyc-2-cores-quick-default-init.json"
    shutil.copy(copy, variant)
    shutil.copy(copy.with_suffix(".npz"), variant.with_suffix(".npz"))
    assert results.load_comparison("quick", download=False).path == copy, "a variant never stands in for the main"
    assert results.load_comparison("quick", variant=results.DEFAULT_INIT, download=False).path == variant


def test_split_is_by_slice_and_keeps_one_slice_for_the_samples():
    from benchmarks.compare_architectures import split

    class Stack:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    train, held = split(Stack(30), 10)
    assert list(held) == list(range(20, 30)) and list(train) == list(range(20))
    train, held = split(Stack(3), 10)  # the samples shipped with coursekit
    assert list(held) == [2] and list(train) == [0, 1]


# --- The committed results, as the chapter reads them ---------------------------------------------------


def committed():
    """The main comparison files (``compare-<machine>-<profile>.json``), without the variants."""
    return sorted(p for p in RESULTS.glob("compare-*.json") if p.stem.rsplit("-", 1)[-1] in ("quick", "full"))


def committed_default_init():
    return sorted(RESULTS.glob(f"compare-*-quick-{results.DEFAULT_INIT}.json"))


def test_a_quick_profile_results_file_is_committed():
    assert any(path.name.endswith("-quick.json") for path in committed()), \
        "run python -m benchmarks.compare_architectures --profile quick and commit its two files"


@pytest.mark.parametrize("path", committed(), ids=lambda p: p.name)
def test_committed_results_parse_and_name_the_discussed_models(path):
    loaded = results.read_comparison(path)
    assert set(DISCUSSED) <= set(loaded.models), f"{path.name} lacks {set(DISCUSSED) - set(loaded.models)}"
    assert set(loaded.frameworks) == {"torch", "keras"}
    assert not loaded.failed()
    for model in DISCUSSED:
        assert len({r["params"] for f in ("torch", "keras") for r in loaded.runs(model, f)}) == 1
    assert loaded.seeds == [0, 1, 2], "the chapter shows the spread over seeds 0-2"
    assert all(len(loaded.runs(m, f)) == 3 for m in DISCUSSED for f in ("torch", "keras"))
    assert loaded.settings["initialisation"]["fcn8s"] == "he_initialise", "chapter 2's start, as the chapter says"
    assert loaded.settings["data_source"] == "disk", "the published numbers come from the real ISBI 2012"
    assert loaded.predictions["images"].shape[0] == 3
    assert path.name == f"compare-{loaded.results['machine']['tag']}-{loaded.profile}.json"


def test_a_default_init_file_is_committed_and_differs_from_the_main_one_only_in_the_start():
    """Chapter 7 sets FCN-8s from the frameworks' default initialisers beside FCN-8s from he_initialise."""
    assert committed_default_init(), "run python -m benchmarks.compare_architectures --profile quick " \
                                     "--models fcn8s --default-init and commit its two files"
    variant = results.load_comparison("quick", variant=results.DEFAULT_INIT, download=False)
    main = results.load_comparison("quick", download=False)
    assert variant.models == ["fcn8s"] and set(variant.frameworks) == {"torch", "keras"}
    assert variant.settings["initialisation"] == {"fcn8s": "the framework's default"}
    assert variant.results["variant"] == results.DEFAULT_INIT and variant.seeds == main.seeds
    differ = {k for k in main.settings if main.settings[k] != variant.settings.get(k)}
    assert differ == {"models", "initialisation"}, f"the two experiments also differ in {differ}"


def test_the_reader_finds_the_quick_file_and_falls_back_to_it():
    quick = results.load_comparison("quick", download=False)
    assert quick.profile == "quick" and not quick.fell_back
    if not list(RESULTS.glob("compare-*-full.json")):
        full = results.load_comparison("full", download=False)
        assert full.fell_back and full.profile == "quick"
        assert full.describe().startswith("no full-profile results yet")


# --- The reader's clear errors ------------------------------------------------------------------------


@pytest.fixture
def good_copy(tmp_path):
    source = committed()[0]
    target = tmp_path / "compare-test-quick.json"
    shutil.copy(source, target)
    shutil.copy(source.with_suffix(".npz"), target.with_suffix(".npz"))
    return target


def _edit(path, change):
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("rows"), "missing the key(s) rows"),
    (lambda r: r.update(schema=99), "schema 99"),
    (lambda r: r["rows"][0].pop("membrane_dice"), "lacks membrane_dice"),
    (lambda r: r["rows"][1].update(params=None), "lacks params"),
    (lambda r: r["settings"].pop("palette"), "settings lack palette"),
    (lambda r: r.update(rows=[]), "no rows"),
    (lambda r: [row.update(status="error: out of memory") for row in r["rows"]], "no row trained successfully"),
    (lambda r: r["baselines"][0].pop("mean_iou"), "baseline 1 lacks mean_iou"),
    (lambda r: r["rows"][2].pop("seed"), "lacks seed"),
    (lambda r: r["rows"].append(dict(r["rows"][0])), "the same (model, framework, seed) twice"),
    (lambda r: r["settings"].pop("seeds"), "settings lack seeds"),
])
def test_a_malformed_file_gets_an_error_naming_it_and_the_fault(good_copy, change, message):
    _edit(good_copy, change)
    with pytest.raises(results.ComparisonFileError) as raised:
        results.read_comparison(good_copy)
    assert str(good_copy) in str(raised.value) and message in str(raised.value)


def test_not_json_missing_file_and_missing_or_incomplete_npz(good_copy, tmp_path):
    with pytest.raises(results.ComparisonFileError, match="no such file"):
        results.read_comparison(tmp_path / "compare-nothing-quick.json")
    good_copy.with_suffix(".npz").rename(tmp_path / "aside.npz")
    with pytest.raises(results.ComparisonFileError, match=r"compare-test-quick\.npz: the predictions file"):
        results.read_comparison(good_copy)
    with np.load(tmp_path / "aside.npz") as arrays:
        kept = {k: arrays[k] for k in arrays.files if not k.startswith("unet_bn__")}
    np.savez(good_copy.with_suffix(".npz"), **kept)
    with pytest.raises(results.ComparisonFileError, match="missing the array.*unet_bn__torch__seed0"):
        results.read_comparison(good_copy)
    good_copy.write_text("{not json")
    with pytest.raises(results.ComparisonFileError, match="not valid JSON"):
        results.read_comparison(good_copy)


def test_no_results_anywhere_names_the_places_searched(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "search_folders", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(FileNotFoundError) as raised:
        results.load_comparison("full", download=False)
    assert str(tmp_path / "a") in str(raised.value) and "compare-*-quick.json" in str(raised.value)


def test_the_package_names_the_repository_and_branch_the_book_names():
    """_config.yml is the book's source of the repository; coursekit carries a copy for Colab, kept equal here."""
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert (results.REPOSITORY, results.BRANCH) == (repository["url"].rstrip("/"), repository["branch"]), \
        "the repository in src/coursekit/results.py differs from _config.yml's: change both"
    owner_name = results.REPOSITORY.removeprefix("https://github.com/")
    branch = results.BRANCH
    assert results.raw_url("x.json") == \
        f"https://raw.githubusercontent.com/{owner_name}/{branch}/benchmarks/results/x.json"
    assert results.listing_url() == \
        f"https://api.github.com/repos/{owner_name}/contents/benchmarks/results?ref={branch}"


def test_colab_downloads_the_committed_file_from_the_repository(tmp_path, monkeypatch):
    source = [p for p in committed() if p.name.endswith("-quick.json")][0]
    listing = [{"name": source.name}, {"name": "cpu-x.json"}, {"name": "claims-x.json"}]
    served = {results.listing_url(): json.dumps(listing).encode(),
              results.raw_url(source.name): source.read_bytes(),
              results.raw_url(source.with_suffix(".npz").name): source.with_suffix(".npz").read_bytes()}
    asked = []
    monkeypatch.setattr(results, "_fetch", lambda url: asked.append(url) or served[url])
    monkeypatch.setattr(results, "search_folders", lambda: [tmp_path / "checkout"])
    monkeypatch.setattr(results, "cache_folder", lambda: tmp_path / "cache")
    loaded = results.load_comparison("full", download=True)
    assert loaded.fell_back and loaded.path == tmp_path / "cache" / source.name
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [source.name, source.with_suffix(".npz").name]
    assert results.listing_url() in asked

    def offline(url):
        raise OSError("no network")

    monkeypatch.setattr(results, "_fetch", offline)
    monkeypatch.setattr(results, "cache_folder", lambda: tmp_path / "cache2")
    with pytest.raises(FileNotFoundError, match="no network"):
        results.load_comparison("quick", download=True)


# --- Figures and the multiply-add count ----------------------------------------------------------------


def test_figures_draw_every_model(good_copy):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loaded = results.read_comparison(good_copy)
    figure = viz.show_comparison(loaded, "torch")
    assert len(figure.axes) == 3 * (2 + len(loaded.models))
    figure = viz.plot_quality_cost(loaded, "keras")
    assert sum(ax.get_xscale() == "log" for ax in figure.axes) == 3 and figure.axes[-1].get_legend() is not None
    figure = viz.plot_training_losses(loaded, highlight=[("fcn8s", "keras", 1)])
    widths = sorted(line.get_linewidth() for line in figure.axes[1].get_lines())
    assert len(widths) == len(loaded.rows("keras")), "one line per run"
    assert widths[-1] == 3 and widths[-2] < 3, "the highlighted run alone is thick"
    plt.close("all")


def test_count_multiply_adds_counts_convolutions():
    import torch

    conv = torch.nn.Conv2d(1, 2, 3, padding=1)
    assert count_multiply_adds(conv, (1, 4, 4)) == 4 * 4 * 2 * 9
    up = torch.nn.ConvTranspose2d(2, 1, 2, stride=2)
    assert count_multiply_adds(up, (2, 3, 3)) == 2 * 3 * 3 * 1 * 4
    grouped = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)
    assert count_multiply_adds(grouped, (4, 5, 5)) == 5 * 5 * 4 * 9
    with pytest.raises(ValueError, match=r"\(C, H, W\); got \(4, 4\)"):
        count_multiply_adds(conv, (4, 4))
    with pytest.raises(TypeError, match="torch or Keras model.*got list"):
        count_multiply_adds([conv], (1, 4, 4))
    assert not conv._forward_hooks, "the counting hooks are removed"


@pytest.mark.parametrize("name", [*DISCUSSED, "mobilenet_unet"])
def test_twins_do_the_same_multiply_adds(name):
    """Keras has no forward hooks; its count wraps each convolution's call for one pass and must match torch's."""
    from coursekit.models import build

    keras_model = build(name, "keras", in_channels=1, num_classes=2, width=2)
    counted = count_multiply_adds(keras_model, (1, 64, 96))
    assert counted == count_multiply_adds(build(name, "torch", in_channels=1, num_classes=2, width=2), (1, 64, 96))
    assert counted > 0
    assert all("call" not in vars(layer) for layer in keras_model.layers), "the wrapped calls are removed"


def test_the_chapter_still_finds_the_moved_names_in_viz():
    """Chapter 7 calls viz.load_comparison, viz.model_label and viz.count_multiply_adds."""
    assert viz.load_comparison is results.load_comparison and viz.read_comparison is results.read_comparison
    assert viz.model_label("unet_bn") == "U-Net (BN)" and viz.model_label("new_model") == "new_model"
    assert viz.count_multiply_adds is count_multiply_adds


# --- The chapter's checkers ------------------------------------------------------------------------------


def pareto_right(costs, qualities):
    costs, qualities = np.asarray(costs, float), np.asarray(qualities, float)
    return np.array([i for i in range(len(costs))
                     if not np.any((costs <= costs[i]) & (qualities >= qualities[i])
                                   & ((costs < costs[i]) | (qualities > qualities[i])))], dtype=int)


def pareto_strict_both(costs, qualities):  # keeps a model that another beats at the same cost
    costs, qualities = np.asarray(costs, float), np.asarray(qualities, float)
    return np.array([i for i in range(len(costs))
                     if not np.any((costs < costs[i]) & (qualities > qualities[i]))], dtype=int)


def pareto_no_strictness(costs, qualities):  # identical twins knock each other out
    costs, qualities = np.asarray(costs, float), np.asarray(qualities, float)
    return np.array([i for i in range(len(costs))
                     if not np.any((costs <= costs[i]) & (qualities >= qualities[i]) & (np.arange(len(costs)) != i))],
                    dtype=int)


def pareto_higher_cost_better(costs, qualities):
    return pareto_right(-np.asarray(costs, float), qualities)


def test_pareto_checker_accepts_the_right_answer_and_rejects_plausible_wrong_ones():
    assert exercises.check_pareto_front(pareto_right).cases >= 5
    for wrong in (pareto_strict_both, pareto_no_strictness, pareto_higher_cost_better):
        with pytest.raises(ExerciseFailed):
            exercises.check_pareto_front(wrong)


def budget_right(budget, first_epoch, per_epoch):
    return 0 if budget < first_epoch else 1 + math.floor((budget - first_epoch) / per_epoch + 1e-9)


def test_budget_checker_accepts_the_right_answer_and_rejects_plausible_wrong_ones():
    assert exercises.check_epochs_for_budget(budget_right).cases >= 5
    wrong = [lambda b, f, p: math.floor(b / p),  # forgets the slow first epoch
             lambda b, f, p: 0 if b < f else 1 + math.ceil((b - f) / p),  # counts an unfinished epoch
             lambda b, f, p: 0 if b < f else math.floor((b - f) / p),  # off by one: forgets the first epoch itself
             lambda b, f, p: 0 if b < f else 1 + round((b - f) / p)]  # rounds to the nearest epoch
    for answer in wrong:
        with pytest.raises(ExerciseFailed):
            exercises.check_epochs_for_budget(answer)


def test_work_checker_accepts_the_right_model_and_rejects_the_others():
    assert exercises.check_fewest_multiply_adds("resnet34_unet", 4).cases == 2
    for wrong in ("fcn8s", "unet", "segnet"):  # the most parameters; the plain U-Net; the other encoder-decoder
        with pytest.raises(ExerciseFailed):
            exercises.check_fewest_multiply_adds(wrong, 4)
    with pytest.raises(ExerciseFailed, match="not answered"):
        exercises.check_fewest_multiply_adds(..., 4)
    with pytest.raises(ExerciseFailed, match="not one of"):
        exercises.check_fewest_multiply_adds("ResNet34-U-Net", 4)
