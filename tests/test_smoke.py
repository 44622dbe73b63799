"""Smoke mode (COURSEKIT_SMOKE=1, coursekit.smoke) and its runner (python -m benchmarks.smoke).

Smoke mode must change nothing but the number of steps: the full profile's sizes, widths, batch sizes, data and
models stay; and without it, training runs every step of every epoch.  Every chapter cell that asserts something
about a model trained in the chapter carries the tag the runner skips.
"""

import ast
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest
import yaml
from conftest import ROOT

from benchmarks import smoke as runner
from coursekit import smoke, train
from coursekit.data import ChecksumError, DownloadError, download, shapes
from coursekit.models import build, registry
from coursekit.profiles import TABLE, Settings, settings_for
from coursekit.results import EXPERIMENT_PREFIXES, SMOKE_PREFIX
from coursekit.runtime import describe, seed_everything

fetching = sys.modules["coursekit.data.download"]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.md"))


@pytest.fixture
def smoke_on(monkeypatch, tmp_path):
    """Smoke mode with a log; returns the log's path."""
    log = tmp_path / "smoke.jsonl"
    monkeypatch.setenv(smoke.ENV, "1")
    monkeypatch.setenv(smoke.LOG_ENV, str(log))
    return log


@pytest.fixture
def smoke_off(monkeypatch):
    monkeypatch.delenv(smoke.ENV, raising=False)
    monkeypatch.delenv(smoke.LOG_ENV, raising=False)


# --- Settings: smoke mode changes the steps, nothing else -------------------------------------


def test_smoke_mode_cuts_no_field_of_the_settings():
    """The cuts are fit's (epochs, steps) and evaluate's and predict's (images); the settings are the profile's.
    A field ever cut here must be named in CUT_FIELDS, which the next test then lets differ, and nothing else."""
    assert smoke.CUT_FIELDS == ()
    assert set(smoke.CUT_FIELDS) <= {f.name for f in dataclasses.fields(Settings)}


@pytest.mark.parametrize("experiment", sorted(TABLE))
def test_smoke_settings_agree_with_the_full_profile_except_the_cut_fields(experiment, monkeypatch):
    from coursekit.runtime import setup

    monkeypatch.setenv(smoke.ENV, "1")
    run = setup("torch", "full", verbose=False)
    assert run.smoke
    full, cut = settings_for(experiment, "full"), run.settings(experiment)
    for field in dataclasses.fields(Settings):
        mine, theirs = getattr(cut, field.name), getattr(full, field.name)
        if field.name in smoke.CUT_FIELDS:
            assert 1 <= mine <= theirs, f"{experiment}.{field.name}: {mine} is not a cut of {theirs}"
        else:
            assert mine == theirs, f"{experiment}.{field.name}: smoke mode has {mine!r}, the full profile {theirs!r}"
    assert cut.image_shape == full.image_shape


def test_setup_reads_smoke_mode_and_says_so(monkeypatch):
    from coursekit.runtime import setup

    monkeypatch.setenv(smoke.ENV, "1")
    run = setup("torch", "full", verbose=False)
    assert run.smoke and run.settings("unet") == settings_for("unet", "full") and "SMOKE MODE" in describe(run)
    monkeypatch.setenv(smoke.ENV, "0")
    run = setup("torch", "full", verbose=False)
    assert not run.smoke and run.settings("unet") == settings_for("unet", "full") and "SMOKE" not in describe(run)


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("yes", True), ("", False), ("0", False),
                                             ("false", False)])
def test_the_switch(monkeypatch, value, expected):
    monkeypatch.setenv(smoke.ENV, value)
    assert smoke.enabled() is expected


def test_an_unknown_switch_value_is_refused(monkeypatch):
    monkeypatch.setenv(smoke.ENV, "full")
    with pytest.raises(ValueError, match=smoke.ENV):
        smoke.enabled()


# --- Training, evaluation, prediction ---------------------------------------------------------


def _count_steps(monkeypatch, framework):
    """Count the optimizer steps and the images each validation scores."""
    module = __import__(f"coursekit.train.{framework}", fromlist=["x"])
    trainer = module.TorchTrainer if framework == "torch" else module.KerasTrainer
    seen = {"steps": 0, "validated": []}
    step, evaluate = trainer.step, module.evaluate

    def counted_step(self, index):
        seen["steps"] += 1
        return step(self, index)

    def counted_evaluate(model, data, **kwargs):
        seen["validated"].append(len(data))
        return evaluate(model, data, **kwargs)

    monkeypatch.setattr(trainer, "step", counted_step)
    monkeypatch.setattr(module, "evaluate", counted_evaluate)
    return seen


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_fit_in_smoke_mode_stops_after_the_cut(framework, smoke_on, monkeypatch, capsys):
    seen = _count_steps(monkeypatch, framework)
    seed_everything(0)
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    history = train.fit(model, shapes(40, 16, seed=1), shapes(10, 16, seed=2), loss="cross_entropy", epochs=3,
                        lr=1e-3, batch_size=4)  # 10 steps an epoch
    assert history.epochs == smoke.EPOCHS and seen["steps"] == smoke.EPOCHS * smoke.STEPS
    assert seen["validated"] == [smoke.IMAGES] * smoke.EPOCHS
    (event,) = smoke.read_log(smoke_on)
    assert event["event"] == "fit" and event["framework"] == framework
    assert (event["epochs_requested"], event["steps_per_epoch_requested"]) == (3, 10)
    assert (event["epochs_run"], event["steps_per_epoch_run"]) == (smoke.EPOCHS, smoke.STEPS)
    assert event["image_shape"] == [16, 16, 3] and event["batch_size"] == 4 and event["train_images"] == 40
    assert len(event["step_seconds"]) == smoke.STEPS and all(s > 0 for s in event["step_seconds"])
    assert "smoke mode: 2 step(s) of 30" in capsys.readouterr().out


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_fit_without_smoke_mode_runs_every_step_of_every_epoch(framework, smoke_off, monkeypatch, capsys):
    seen = _count_steps(monkeypatch, framework)
    seed_everything(0)
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    history = train.fit(model, shapes(40, 16, seed=1), shapes(10, 16, seed=2), loss="cross_entropy", epochs=3,
                        lr=1e-3, batch_size=4)
    assert history.epochs == 3 and seen["steps"] == 30 and seen["validated"] == [10, 10, 10]
    assert "smoke mode" not in capsys.readouterr().out


def test_fit_gives_the_same_history_with_smoke_mode_unset_or_off(monkeypatch):
    """Off is off: "0" takes exactly the path an unset variable takes."""
    histories = []
    for value in (None, "0"):
        if value is None:
            monkeypatch.delenv(smoke.ENV, raising=False)
        else:
            monkeypatch.setenv(smoke.ENV, value)
        seed_everything(0)
        model = build("tiny_fcn", "torch", num_classes=4, width=4)
        histories.append(train.fit(model, shapes(12, 16, seed=1), shapes(4, 16, seed=2), loss="cross_entropy",
                                   epochs=2, lr=1e-3, batch_size=4, verbose=False))
    assert histories[0] == histories[1] and histories[0].epochs == 2


def test_predict_and_evaluate_look_at_two_images_in_smoke_mode(monkeypatch, tmp_path):
    seed_everything(0)
    model = build("tiny_fcn", "torch", num_classes=4, width=4)
    data = shapes(5, 16, seed=3)
    monkeypatch.delenv(smoke.ENV, raising=False)
    every = train.predict(model, data.images)
    every_tiled = train.predict(model, list(data.images), tiled=True, tile_size=8)
    head = train.evaluate(model, (data.images[:smoke.IMAGES], data.masks[:smoke.IMAGES]), metrics=("mean_iou",))
    whole = train.evaluate(model, data, metrics=("mean_iou",))
    monkeypatch.setenv(smoke.ENV, "1")
    cut = train.predict(model, data.images)
    assert cut.shape == every.shape and cut.dtype == every.dtype
    assert np.array_equal(cut[:smoke.IMAGES], every[:smoke.IMAGES]) and not cut[smoke.IMAGES:].any()
    assert train.evaluate(model, data, metrics=("mean_iou",)) == head != whole
    assert np.array_equal(train.predict(model, data.images[0]), every[0])  # one image is one image
    tiled = train.predict(model, list(data.images), tiled=True, tile_size=8)
    assert len(tiled) == 5 and np.array_equal(tiled[1], every_tiled[1]) and not np.any(tiled[-1])
    assert tiled[-1].shape == every_tiled[-1].shape


# --- Pretrained weights -----------------------------------------------------------------------


def fake_constructor(in_channels, num_classes, pretrained=False, fail=False):
    if fail:
        raise ValueError("the weights do not fit")
    return {"in_channels": in_channels, "num_classes": num_classes, "pretrained": pretrained}


@pytest.fixture
def fake_model(monkeypatch):
    """A model 'fake_fcn' whose constructor returns its arguments, with VGG16's ImageNet weights in torch."""
    monkeypatch.setitem(registry._MODELS, "fake_fcn", (f"{__name__}:fake_constructor",) * 2)
    monkeypatch.setitem(registry._WIDTH_ARGUMENT, "fake_fcn", ("width", 1))
    from coursekit.models import common

    monkeypatch.setitem(common.MODEL_BACKBONE, "fake_fcn", "vgg16")


def test_pretrained_true_reads_the_weights_folder_in_smoke_mode(fake_model, smoke_on, monkeypatch, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "vgg16-torch.pth").write_bytes(b"stand-in")  # present, so nothing is written
    monkeypatch.setenv(smoke.PRETRAINED_ENV, str(weights))
    assert build("fake_fcn", "torch", num_classes=2, pretrained=True)["pretrained"] == str(weights / "vgg16-torch.pth")
    assert build("fake_fcn", "torch", num_classes=2)["pretrained"] is False
    with pytest.raises(ValueError, match="do not fit"):
        build("fake_fcn", "torch", num_classes=2, pretrained=True, fail=True)
    events = smoke.read_log(smoke_on)
    assert [(e["event"], e["ok"]) for e in events] == [("pretrained", True), ("pretrained", False)]
    assert "do not fit" in events[1]["error"]
    # without smoke mode pretrained=True is passed on as it is (a download)
    monkeypatch.setenv(smoke.ENV, "0")
    assert build("fake_fcn", "torch", num_classes=2, pretrained=True)["pretrained"] is True


def test_pretrained_files_are_named_by_backbone_and_framework(smoke_on, monkeypatch, tmp_path):
    monkeypatch.setenv(smoke.PRETRAINED_ENV, str(tmp_path))
    for name in ("fcn8s.pth", "vgg16-keras.h5", "mobilenet-alpha0.5-keras.h5"):
        (tmp_path / name).write_bytes(b"")
    assert smoke.weights_name("vgg16", "torch") == "vgg16-torch.pth"
    assert smoke.pretrained_file("fcn8s", "keras", {"pretrained": True}) == str(tmp_path / "vgg16-keras.h5")
    assert smoke.pretrained_file("mobilenet_unet", "keras", {"pretrained": True, "width_multiplier": 0.5}) == \
        str(tmp_path / "mobilenet-alpha0.5-keras.h5")
    assert smoke.pretrained_file("unet", "torch", {"pretrained": True}) is None  # no ImageNet weights: as always
    assert smoke.pretrained_file("fcn8s", "keras", {"pretrained": "/some/file.h5"}) is None  # a path is a path


# --- Downloads from a mirror ------------------------------------------------------------------


def _mirror(tmp_path, monkeypatch, data: bytes, digest: str):
    folder = tmp_path / "mirror"
    (folder / "tiny" / "sub").mkdir(parents=True)
    (folder / "tiny" / "sub" / "a.bin").write_bytes(data)
    remote = fetching.RemoteFile("https://example.invalid/never/a.bin", "sub/a.bin", digest)
    monkeypatch.setitem(fetching.REGISTRY, "tiny", fetching.Mirror((remote,), "a test", "none", "1 kB", True))
    monkeypatch.setenv(fetching.MIRROR_ENV, folder.as_uri())

    def no_network(timeout, progress):
        raise AssertionError("a file:// mirror must not use the network's downloader")

    monkeypatch.setattr(fetching, "_downloader", no_network)
    return folder


def test_the_download_mirror_serves_every_file_from_a_file_url(tmp_path, monkeypatch):
    data = b"the mirrored bytes"
    _mirror(tmp_path, monkeypatch, data, hashlib.sha256(data).hexdigest())
    target = download("tiny", tmp_path / "root", progress=False)
    assert (target / "sub" / "a.bin").read_bytes() == data
    record = json.loads((target / fetching.MARKER).read_text())["files"]["sub/a.bin"]
    assert record["url"] == (tmp_path / "mirror").as_uri() + "/tiny/sub/a.bin" and record["verified"]


def test_a_mirror_is_checked_as_the_original_is(tmp_path, monkeypatch):
    _mirror(tmp_path, monkeypatch, b"other bytes", hashlib.sha256(b"the real bytes").hexdigest())
    with pytest.raises(ChecksumError):
        download("tiny", tmp_path / "root", progress=False, retries=0)
    assert not (tmp_path / "root" / "tiny" / "sub" / "a.bin").exists()


def test_without_a_mirror_the_sources_are_the_registry_s(monkeypatch):
    monkeypatch.delenv(fetching.MIRROR_ENV, raising=False)
    files = fetching.REGISTRY["isbi2012"].files
    assert fetching._from_mirror("isbi2012", files) is files
    monkeypatch.setenv(fetching.MIRROR_ENV, "ftp://somewhere")
    with pytest.raises(DownloadError, match=fetching.MIRROR_ENV):
        fetching._from_mirror("isbi2012", files)


# --- The runner skips the claim cells, and only those -----------------------------------------


def test_skip_assertions_keeps_the_rest_of_the_cell():
    source, skipped = runner.skip_assertions("x = 3\nfor i in range(2):\n    assert x > 10, 'this run'\ny = x\n")
    assert skipped == ["x > 10"]
    space = {}
    exec(source, space)  # the rewritten cell runs, and defines what the original defined
    assert space["y"] == 3 and not any(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(source)))


def _tiny_notebook(path, tagged: bool):
    cells = [nbformat.v4.new_code_cell("value = 1"),
             nbformat.v4.new_code_cell('score = value * 2\nassert score > 100, "no model beats that in this run"\n'
                                       'print("after the claim", score)'),
             nbformat.v4.new_code_cell("assert score == 2  # what the claim cell defined is there")]
    if tagged:
        cells[1].metadata["tags"] = ["remove-input", smoke.CLAIM_TAG]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_the_runner_skips_the_assertions_of_tagged_cells(tmp_path):
    kept = tmp_path / "executed.ipynb"
    result = runner.execute(_tiny_notebook(tmp_path / "tiny.ipynb", tagged=True), timeout=120, cwd=tmp_path,
                            keep=kept)
    assert result["status"] == "ok", result
    assert result["skipped_claims"] == [{"cell": 1, "first_line": "score = value * 2", "assertions": ["score > 100"]}]
    printed = "".join(o.get("text", "") for o in nbformat.read(kept, as_version=4).cells[1].outputs)
    assert f"{runner.SKIPPED}assert score > 100" in printed and "after the claim 2" in printed


def test_the_runner_fails_an_untagged_assertion(tmp_path):
    result = runner.execute(_tiny_notebook(tmp_path / "tiny.ipynb", tagged=False), timeout=120, cwd=tmp_path)
    assert result["status"].startswith("error: AssertionError") and result["skipped_claims"] == []
    assert result["failed_cell"]["cell"] == 1 and "this run" in result["failed_cell"]["error"]


def test_a_run_in_a_child_process_reports_steps_memory_and_skipped_claims(tmp_path, monkeypatch):
    """One run as the runner makes it: a child process, a kernel, the smoke log read back."""
    text = tmp_path / "tiny_chapter.md"
    notebook = jupytext.reads(
        "```{code-cell} ipython3\nimport coursekit\nfrom coursekit import train\nfrom coursekit.data import shapes\n"
        "run = coursekit.setup()\nmodel = coursekit.build('tiny_fcn', run.framework, num_classes=4, width=4)\n"
        "history = train.fit(model, shapes(40, 16, seed=1), loss='cross_entropy', epochs=5, lr=1e-3, batch_size=4)\n"
        "```\n\n```{code-cell} ipython3\n:tags: [trained-claim]\n\n"
        "assert history['loss'][-1] < 0.01, 'not in two steps'\n```\n", fmt="md:myst")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(notebook, text, fmt="md:myst")
    environment = dict(runner.os.environ, COURSEKIT_PROFILE="full", COURSEKIT_SMOKE="1")
    row = runner.run_one(text, "torch", tmp_path / "work", environment, timeout=300)
    assert row["passed"], row
    (training,) = row["trainings"]
    assert (training["epochs_run"], training["steps_per_epoch_run"]) == (1, 2)
    assert training["full_training_seconds_estimate"] is not None and row["step_seconds"] > 0
    assert row["peak_rss_mb"] > 100 and row["skipped_claims"][0]["assertions"] == ["history['loss'][-1] < 0.01"]


def test_summarise_reads_the_steady_step_and_fails_on_pretrained_errors():
    events = [{"event": "fit", "model": "FCN", "framework": "torch", "image_shape": [352, 480, 3], "batch_size": 8,
               "train_images": 367, "epochs_requested": 40, "steps_per_epoch_requested": 46, "epochs_run": 1,
               "steps_per_epoch_run": 2, "step_seconds": [9.0, 3.0]},
              {"event": "pretrained", "model": "fcn8s", "framework": "torch", "path": "w", "ok": False, "error": "x"}]
    summary = runner.summarise(events)
    assert summary["step_seconds"] == 3.0 and summary["full_training_seconds_estimate"] == 3 * 46 * 40
    assert summary["pretrained"] == [{"model": "fcn8s", "framework": "torch", "path": "w", "ok": False, "error": "x"}]


# --- The chapters' claim cells carry the tag --------------------------------------------------

MUTATORS = {"append", "extend", "update", "setdefault", "add", "insert"}


def _trains(node) -> bool:
    """``train.fit(...)`` (or ``coursekit.fit``): it trains its first argument in place."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fit"
            and isinstance(node.func.value, ast.Name) and node.func.value.id in ("train", "coursekit"))


def _base(node):
    while isinstance(node, (ast.Subscript, ast.Attribute, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class TrainedValues:
    """Which names hold a trained model or what came out of one, followed cell by cell through a chapter.

    A model passed to ``train.fit`` is trained; a name assigned from an expression that reads a trained name (or
    calls ``train.fit``, or a function of the chapter that does or reads one) holds a trained value; so does a
    container a trained value is stored into.  Assigning an untrained value to a plain name clears it.
    """

    def __init__(self):
        self.names, self.functions = set(), {}

    def reads(self, node) -> bool:
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Name) and sub.id in self.names) or _trains(sub):
                return True
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in self.functions:
                trains, free = self.functions[sub.func.id]
                if trains or free & self.names:
                    return True
        return False

    def _effects(self, node):
        for sub in ast.walk(node):
            if _trains(sub) and sub.args and _base(sub.args[0]):
                self.names.add(_base(sub.args[0]))
            if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in MUTATORS
                    and _base(sub.func.value) and any(self.reads(a) for a in sub.args)):
                self.names.add(_base(sub.func.value))

    def _assign(self, target, trained: bool, clears: bool = True):
        if isinstance(target, ast.Name):
            if trained:
                self.names.add(target.id)
            elif clears:
                self.names.discard(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assign(element, trained, clears)
        elif isinstance(target, ast.Starred):
            self._assign(target.value, trained, clears)
        elif trained and _base(target):  # x[i] = ... or x.a = ...: x holds it now
            self.names.add(_base(target))

    def block(self, body, claims: list):
        for node in body:
            self.statement(node, claims)

    def statement(self, node, claims: list):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            free = {s.id for s in ast.walk(node) if isinstance(s, ast.Name) and isinstance(s.ctx, ast.Load)}
            self.functions[node.name] = (any(_trains(s) for s in ast.walk(node)), free)
        elif isinstance(node, ast.Assert):
            if self.reads(node.test):
                claims.append(node)
        elif isinstance(node, ast.Assign):
            trained = self.reads(node.value)
            self._effects(node.value)
            for target in node.targets:
                self._assign(target, trained)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            self._effects(node.value)
            self._assign(node.target, self.reads(node.value), clears=isinstance(node, ast.AnnAssign))
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self._effects(node.iter)
            self._assign(node.target, self.reads(node.iter))
            for _ in range(2):  # what the end of the loop's body stores, its start reads on the next turn
                self.block(node.body, claims)
            self.block(node.orelse, claims)
        elif isinstance(node, (ast.While, ast.If)):
            self._effects(node.test)
            self.block(node.body, claims)
            self.block(node.orelse, claims)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self._effects(item.context_expr)
                if item.optional_vars is not None:
                    self._assign(item.optional_vars, self.reads(item.context_expr))
            self.block(node.body, claims)
        elif isinstance(node, ast.Try):
            for part in (node.body, *[h.body for h in node.handlers], node.orelse, node.finalbody):
                self.block(part, claims)
        else:
            self._effects(node)


def claim_cells(sources) -> list[int]:
    """Indexes of the code cells (their sources, in order) that assert on a trained model or its output."""
    values, found = TrainedValues(), []
    for index, source in enumerate(sources):
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython syntax: no assertions of ours to find
            continue
        claims = []
        values.block(tree.body, claims)
        if claims:
            found.append(index)
    return found


def test_the_claim_finder_finds_assertions_on_trained_models_only():
    sources = [
        "model = build('unet')\nassert forward(model, x).shape == (1, 2)",          # untrained: a shape check
        "history = train.fit(model, data, epochs=3)",
        "predictions = {}\nfor name in names:\n    predictions[name] = train.predict(model, images)",
        "scores = {n: metrics.dice(masks, p) for n, p in predictions.items()}",
        "best = max(scores.values())\nassert best > 0.7, 'the U-Net wins in this run'",  # a claim
        "model = build('unet')\nassert count_params(model) == 31",                   # a new, untrained model
        "def score(m):\n    return metrics.dice(masks, train.predict(m, images))\n",
        "assert history['loss'][-1] < history['loss'][0]",                            # a claim
        "items = []\nitems.append(scores['unet'])\nassert items",                     # a claim through a list
    ]
    assert claim_cells(sources) == [4, 7, 8]


def _code_cells(path):
    return [cell for cell in jupytext.read(path).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_assertion_on_a_trained_model_is_tagged_and_nothing_else(path):
    cells = _code_cells(path)
    claims = {cells[i].source.strip().splitlines()[0] for i in claim_cells([c.source for c in cells])}
    tagged = {c.source.strip().splitlines()[0] for c in cells if smoke.CLAIM_TAG in c.metadata.get("tags", [])}
    assert claims - tagged == set(), f"{path.name}: cells assert on a trained model without the tag {smoke.CLAIM_TAG}"
    assert tagged - claims == set(), f"{path.name}: tagged {smoke.CLAIM_TAG}, but no assertion on a trained model"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_assertion_about_this_run_is_tagged(path):
    """A second, plainer net: an assertion whose message speaks of "this run" states a trained model's result."""
    for cell in _code_cells(path):
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        about_this_run = [n for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.msg is not None
                          and "this run" in ast.unparse(n.msg)]
        if about_this_run:
            assert smoke.CLAIM_TAG in cell.metadata.get("tags", []), f"{path.name}: {cell.source.splitlines()[0]}"


def test_the_tags_are_in_both_files_of_each_chapter():
    for path in CHAPTERS:
        stored = json.loads(path.with_suffix(".ipynb").read_text())
        from_ipynb = [c["metadata"].get("tags", []) for c in stored["cells"] if c["cell_type"] == "code"]
        from_text = [c.metadata.get("tags", []) for c in _code_cells(path)]
        assert from_ipynb == from_text, f"{path.name}: run jupytext --update --to ipynb"


# --- Where it runs ------------------------------------------------------------------------------


def test_the_smoke_results_are_not_taken_for_a_benchmark_run():
    assert SMOKE_PREFIX in EXPERIMENT_PREFIXES


def test_make_smoke_full_runs_the_runner():
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\nsmoke-full:", 1)[1].split("\n\n", 1)[0]
    assert target.startswith(" install") and "-m benchmarks.smoke" in target
    assert "smoke-full" in makefile.split(".PHONY:", 1)[1].splitlines()[0]


def test_the_smoke_workflow_runs_weekly_and_on_demand_and_keeps_the_results():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "smoke.yml").read_text())
    triggers = workflow[True]  # YAML reads the key `on` as True
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    (job,) = workflow["jobs"].values()
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "make smoke-full" in runs and "make test" not in runs
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and "benchmarks/results/smoke-*.json" in uploads[0]["with"]["path"]
    assert uploads[0]["if"] == "${{ !cancelled() }}"


def test_the_results_say_the_same_on_every_machine(tmp_path):
    data = tmp_path / "shared" / "data"
    work = tmp_path / "coursekit-smoke-x1"
    relative = os.path.relpath(data, runner.ROOT)
    row = {"status": f"error: {data}/camvid/train/a.png is not a PNG",
           "pretrained": [{"path": f"{work}/weights/vgg16-torch.pth", "ok": True}],
           "data": {"mirror": data.resolve().as_uri(), "source": str(data)}, "seconds": 1.5}
    written = runner.portable(row, runner.local_places(work, data))
    assert written == {"status": f"error: {relative}/camvid/train/a.png is not a PNG",
                       "pretrained": [{"path": "<work folder>/weights/vgg16-torch.pth", "ok": True}],
                       "data": {"mirror": f"file://{relative}", "source": relative}, "seconds": 1.5}


def test_the_data_may_be_given_as_a_relative_path(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    prepared = runner.prepare_data(Path("data"), tmp_path / "run")
    assert prepared["mirror"] == (tmp_path / "data").as_uri()
