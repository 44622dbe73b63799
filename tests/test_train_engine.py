"""coursekit.train's engine: resume equivalence, checkpoints, divergence, mixed precision, schedules, progress."""

import contextlib
import io
import json
import math
import os
import time

import numpy as np
import pytest
import torch

from coursekit import train
from coursekit.data import shapes
from coursekit.models import build
from coursekit.runtime import seed_everything
from coursekit.train import checkpoint, common

FRAMEWORKS = ["torch", "keras"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models train fastest on one thread, and OpenMP's threads stall when other processes share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return shapes(32, 32, seed=5), shapes(8, 32, seed=6)


def dropout_model(framework: str):
    """A small net whose training depends on dropout's random draws."""
    if framework == "torch":
        from torch import nn

        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.3),
                             nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Dropout(0.3), nn.Conv2d(8, 4, 1))
    import keras
    from keras import layers

    inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.SpatialDropout2D(0.3)(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, layers.Conv2D(4, 1)(x))


def new_model(framework: str, kind: str = "tiny_fcn", seed: int = 0):
    seed_everything(seed)
    if kind == "tiny_fcn":
        return build("tiny_fcn", framework, num_classes=4, width=4)
    return dropout_model(framework)


def state_of(model) -> list[np.ndarray]:
    """Every number the model holds: weights, batch-norm statistics, dropout seed states."""
    if isinstance(model, torch.nn.Module):
        return [t.detach().cpu().numpy().copy() for t in model.state_dict().values()]
    return [np.array(v.numpy()) for v in model.variables]


def assert_same_state(a, b):
    sa, sb = state_of(a), state_of(b)
    assert len(sa) == len(sb)
    for x, y in zip(sa, sb):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


FIT = dict(loss="cross_entropy", lr=1e-2, batch_size=8, verbose=False)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_one_epoch_then_resume_ends_as_a_straight_run(framework, data, tmp_path):
    straight = new_model(framework)
    expected = train.fit(straight, *data, epochs=3, **FIT)
    train.fit(new_model(framework), *data, epochs=1, checkpoint_dir=tmp_path, **FIT)
    resumed = new_model(framework, seed=99)  # different initial weights: the checkpoint must decide
    history = train.fit(resumed, *data, epochs=3, checkpoint_dir=tmp_path, **FIT)
    assert history.epochs == 3 and list(history) == list(expected)
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=0, atol=1e-6)
    assert_same_state(resumed, straight)


class Disconnected(Exception):
    """Stands in for a runtime that goes away between two epochs."""


class GoneAfterTheFirstEpoch(io.StringIO):
    """A notebook's output that goes away while the first epoch's line is printed, after its checkpoint."""

    def write(self, text):
        if text.startswith("epoch 1/"):
            raise Disconnected
        return super().write(text)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_interrupted_run_with_dropout_and_cosine_schedule_resumes_exactly(framework, data, tmp_path, capsys):
    settings = dict(FIT, epochs=3, schedule="cosine", verbose=True)
    straight = new_model(framework, "dropout")
    expected = train.fit(straight, *data, **settings)
    with pytest.raises(Disconnected), contextlib.redirect_stdout(GoneAfterTheFirstEpoch()):
        train.fit(new_model(framework, "dropout"), *data, checkpoint_dir=tmp_path, **settings)
    capsys.readouterr()
    resumed = new_model(framework, "dropout", seed=7)
    history = train.fit(resumed, *data, checkpoint_dir=tmp_path, **settings)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"resumed from {tmp_path}") and out[0].endswith(": 1 of 3 epochs done")
    assert [line.split(" - ")[0] for line in out[1:]] == ["epoch 2/3", "epoch 3/3"]
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=0, atol=1e-6)
    assert_same_state(resumed, straight)


def test_dropout_draws_are_part_of_the_state(data, tmp_path):
    """Without the restored random state the resumed run would differ: the equivalence test can fail."""
    straight = new_model("torch", "dropout")
    train.fit(straight, *data, epochs=2, **FIT)
    train.fit(new_model("torch", "dropout"), *data, epochs=1, checkpoint_dir=tmp_path, **FIT)
    saved = torch.load(tmp_path / checkpoint.TORCH_FILE, weights_only=True)
    saved["torch_rng"] = torch.manual_seed(123).get_state()
    torch.save(saved, tmp_path / checkpoint.TORCH_FILE)
    resumed = new_model("torch", "dropout")
    train.fit(resumed, *data, epochs=2, checkpoint_dir=tmp_path, **FIT)
    assert any(not np.allclose(x, y) for x, y in zip(state_of(straight), state_of(resumed)))


def test_torch_checkpoint_is_plain_tensors_and_values(data, tmp_path):
    train.fit(new_model("torch"), *data, epochs=2, checkpoint_dir=tmp_path, schedule="plateau", **FIT)
    assert sorted(os.listdir(tmp_path)) == [checkpoint.TORCH_FILE]  # no temporary file left behind
    state = torch.load(tmp_path / checkpoint.TORCH_FILE, weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    assert {"model", "optimizer", "scaler", "schedule", "random", "torch_rng", "settings"} <= set(state)
    assert state["schedule"]["kind"] == "plateau" and state["random"]["shuffle"]["bit_generator"] == "PCG64"


def test_keras_checkpoint_is_weights_arrays_and_json(data, tmp_path):
    model = new_model("keras")
    train.fit(model, *data, epochs=2, checkpoint_dir=tmp_path, **FIT)
    files = sorted(os.listdir(tmp_path))
    assert files == ["keras-epoch0002.state.npz", "keras-epoch0002.weights.h5", checkpoint.KERAS_FILE]
    manifest = json.loads((tmp_path / checkpoint.KERAS_FILE).read_text())
    assert manifest["epoch"] == 2 and manifest["weights"] == "keras-epoch0002.weights.h5"
    with np.load(tmp_path / manifest["arrays"], allow_pickle=False) as arrays:
        assert len(arrays.files) == len(manifest["optimizer_variables"]) + len(manifest["model_variables"])
        assert int(arrays["optimizer_0000"]) == 2 * 4  # the optimiser's step count: 2 epochs of 4 batches


def test_a_failed_write_leaves_the_previous_checkpoint_whole(data, tmp_path, monkeypatch):
    train.fit(new_model("torch"), *data, epochs=1, checkpoint_dir=tmp_path, **FIT)
    before = (tmp_path / checkpoint.TORCH_FILE).read_bytes()

    def full_disk(state, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        train.fit(new_model("torch"), *data, epochs=2, checkpoint_dir=tmp_path, **FIT)
    assert os.listdir(tmp_path) == [checkpoint.TORCH_FILE]
    assert (tmp_path / checkpoint.TORCH_FILE).read_bytes() == before


def checkpoint_bytes(directory) -> dict:
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_nan_in_the_data_stops_training_and_keeps_the_last_good_checkpoint(framework, data, tmp_path):
    train_set, val_set = data
    train.fit(new_model(framework), train_set, val_set, epochs=1, checkpoint_dir=tmp_path, **FIT)
    good = checkpoint_bytes(tmp_path)
    broken = (np.full_like(train_set.images, np.nan), train_set.masks)
    with pytest.raises(train.TrainingDiverged, match=r"epoch 2, step 1\b") as caught:
        train.fit(new_model(framework), broken, val_set, epochs=3, checkpoint_dir=tmp_path, **FIT)
    assert isinstance(caught.value, FloatingPointError) and math.isnan(caught.value.value)
    assert checkpoint_bytes(tmp_path) == good


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_nonfinite_loss_names_its_epoch_and_step(bad, data, tmp_path):
    calls = []

    def loss_that_breaks(logits, target):
        calls.append(1)
        value = torch.nn.functional.cross_entropy(logits, target)
        return value * bad if len(calls) == 4 + 3 else value  # 4 batches an epoch: step 3 of epoch 2

    with pytest.raises(train.TrainingDiverged, match="epoch 2, step 3") as caught:
        train.fit(new_model("torch"), data[0], epochs=3, checkpoint_dir=tmp_path, **dict(FIT, loss=loss_that_breaks))
    assert (caught.value.epoch, caught.value.step) == (2, 3)
    state = torch.load(tmp_path / checkpoint.TORCH_FILE, weights_only=True)
    assert state["epoch"] == 1 and all(torch.isfinite(t).all() for t in state["model"].values()
                                       if t.is_floating_point())


def test_bf16_autocast_runs_on_the_cpu(data):
    model = new_model("torch")
    seen = []
    model.classifier.register_forward_hook(lambda module, args, out: seen.append(out.dtype) if module.training
                                           else None)
    history = train.fit(model, *data, epochs=1, amp="bf16", **FIT)
    assert set(seen) == {torch.bfloat16}
    assert all(math.isfinite(v) for values in history.values() for v in values)
    seen.clear()
    train.fit(model, *data, epochs=1, amp="auto", **FIT)  # "auto" is full precision on a CPU
    assert set(seen) == {torch.float32}


def test_keras_amp_confirms_the_policy_the_model_was_built_with(data):
    with pytest.raises(ValueError, match="set_global_policy"):
        train.fit(new_model("keras"), *data, epochs=1, amp="bf16", **FIT)


def test_gradient_clipping_bounds_each_step(data):
    for framework in FRAMEWORKS:
        model = new_model(framework)
        before = state_of(model)
        train.fit(model, *data, epochs=1, optimizer="sgd", grad_clip=1e-9, **dict(FIT, lr=1.0))
        moved = max(np.abs(a - b).max() for a, b in zip(before, state_of(model)) if a.dtype.kind == "f")
        # 4 steps with momentum, each gradient scaled to norm 1e-9; batch-norm statistics still move, so look at
        # the convolution weights, which are the first entry in both frameworks
        assert np.abs(state_of(model)[0] - before[0]).max() < 1e-7, framework
        assert moved > 1e-3  # the running statistics did change: the test looks at a model that trained


def test_cosine_and_plateau_schedules():
    cosine = common.Schedule("cosine", 0.1, epochs=2, steps_per_epoch=5)
    assert cosine.lr(1, 1) == pytest.approx(0.1)
    assert cosine.lr(2, 1) == pytest.approx(0.05)  # half-way through the run
    assert cosine.lr(2, 5) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 9 / 10)))
    plateau = common.Schedule("plateau", 0.1, epochs=10, steps_per_epoch=5)
    for loss in (1.0, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7):
        plateau.end_epoch(loss)
    assert plateau.lr(8, 1) == pytest.approx(0.025)  # stalled twice for two epochs: halved twice
    restored = common.Schedule("plateau", 0.1, epochs=10, steps_per_epoch=5)
    restored.load_state_dict(plateau.state_dict())
    assert restored.state_dict() == plateau.state_dict()
    assert common.Schedule(None, 0.1, 3, 5).lr(3, 5) == 0.1


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_checkpoint_of_another_model_is_refused(framework, data, tmp_path):
    train.fit(new_model(framework), *data, epochs=1, checkpoint_dir=tmp_path, **FIT)
    other = build("tiny_fcn", framework, num_classes=4, width=8)
    with pytest.raises(ValueError, match="resume=False"):
        train.fit(other, *data, epochs=2, checkpoint_dir=tmp_path, **FIT)
    history = train.fit(other, *data, epochs=1, checkpoint_dir=tmp_path, resume=False, **FIT)
    assert history.epochs == 1


def test_resuming_with_changed_settings_warns(data, tmp_path):
    train.fit(new_model("torch"), *data, epochs=1, checkpoint_dir=tmp_path, **FIT)
    with pytest.warns(UserWarning, match=r"lr 0.01 -> 0.001") as caught:
        train.fit(new_model("torch"), *data, epochs=2, checkpoint_dir=tmp_path, **dict(FIT, lr=1e-3))
    assert caught[0].filename == __file__  # the warning points at the reader's call of fit


@pytest.mark.parametrize("argument, value, message", [
    ("optimizer", "rmsprop", "unknown optimizer 'rmsprop'"),
    ("schedule", "step", "unknown schedule 'step'"),
    ("amp", "fp8", "amp must be one of"),
    ("epochs", 0, "epochs must be"),
    ("lr", -1.0, "lr must be a positive number"),
    ("grad_clip", 0, "grad_clip must be"),
    ("metrics", ("mean_iou", "accuracy_at_k"), "unknown metric 'accuracy_at_k'"),
    ("metrics", ("miou",), "unknown metric 'miou' \\('miou' is called 'mean_iou', as in coursekit.metrics\\)"),
])
def test_bad_arguments_are_named(argument, value, message, data):
    settings = dict(FIT, epochs=1)
    settings[argument] = value
    with pytest.raises(ValueError, match=message):
        train.fit(new_model("torch"), *data, **settings)


def test_a_file_is_not_a_checkpoint_dir(data, tmp_path):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="notes.txt exists and is not a directory"):
        train.fit(new_model("torch"), *data, epochs=1, checkpoint_dir=tmp_path / "notes.txt", **FIT)


def test_bad_data_is_named(data):
    images = data[0].images
    with pytest.raises(TypeError, match="train_data must be an ArrayDataset"):
        train.fit(new_model("torch"), images, epochs=1, **FIT)
    with pytest.raises(ValueError, match="val_data: images must be N×H×W×C"):
        train.fit(new_model("torch"), data[0], (images, images[..., 0][:, :16]), epochs=1, **FIT)


def test_compile_is_left_to_gpus(data):
    with pytest.warns(UserWarning, match="GPU only"):
        history = train.fit(new_model("torch"), *data, epochs=1, compile=True, **FIT)
    assert history.epochs == 1


class Terminal(io.StringIO):
    """Standard error as a terminal shows it: a place where a person watches a progress bar."""

    def isatty(self):
        return True


def test_the_progress_bar_shows_the_loss_and_leaves_one_line_per_epoch(data, capsys):
    def slow_cross_entropy(logits, target):
        time.sleep(0.12)  # a step slower than tqdm's redraw interval (0.1 s), as a person watching sees them
        return torch.nn.functional.cross_entropy(logits, target)

    terminal = Terminal()
    with contextlib.redirect_stderr(terminal):
        history = train.fit(new_model("torch"), *data, epochs=2, **dict(FIT, loss=slow_cross_entropy, verbose=True))
    out = capsys.readouterr().out
    assert [line.split(" - ")[0] for line in out.splitlines()] == ["epoch 1/2", "epoch 2/2"]
    assert f"loss {history['loss'][1]:.3f} - mean_iou {history['mean_iou'][1]:.3f}" in out
    bar = terminal.getvalue()
    assert "epoch 2/2" in bar and "4/4" in bar  # tqdm's bar over the epoch's 4 batches, on standard error
    assert "loss=" in bar and "mean_iou=" in bar and "mean_dice=" in bar  # with the running loss and training scores
    terminal = Terminal()
    with contextlib.redirect_stderr(terminal):
        train.fit(new_model("torch"), *data, epochs=1, **FIT)  # verbose=False: nothing at all
    assert capsys.readouterr().out == "" and terminal.getvalue() == ""


def test_without_a_terminal_there_is_no_bar_only_the_epoch_lines(data, capsys):
    train.fit(new_model("torch"), *data, epochs=2, **dict(FIT, verbose=True))
    out, err = capsys.readouterr()
    assert [line.split(" - ")[0] for line in out.splitlines()] == ["epoch 1/2", "epoch 2/2"]
    assert err == ""


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tiled_prediction_goes_through_coursekit_data_tiling(framework, data):
    model = new_model(framework)
    images = data[1].images[:2]
    whole = train.predict(model, images)
    assert np.array_equal(train.predict(model, images, tiled=True, tile_size=32), whole)  # one tile per image
    big = np.concatenate([images[0], images[1]], axis=1)  # 32×64
    masks = train.predict(model, [big, images[0]], tiled=True, tile_size=32, output_size=16)
    assert [m.shape for m in masks] == [(32, 64), (32, 32)] and masks[0].dtype == np.int64
    assert train.predict(model, images[0]).shape == (32, 32)
    with pytest.raises(ValueError, match="tile_size"):
        train.predict(model, images, tiled=True)


def test_evaluate_accepts_image_mask_pairs_and_loss_callables(data):
    model = new_model("torch")
    val = data[1]
    by_dataset = train.evaluate(model, val, ("mean_iou", "pixel_accuracy"), loss="cross_entropy", batch_size=3)
    by_pair = train.evaluate(model, (val.images, val.masks), ("mean_iou", "pixel_accuracy"),
                             loss=torch.nn.functional.cross_entropy, batch_size=8)
    assert by_pair == pytest.approx(by_dataset)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_boundary_scores_over_batches_equal_those_of_the_whole_set(framework, data):
    from coursekit import metrics

    model = new_model(framework)
    train.fit(model, *data, epochs=1, **FIT)
    val = data[1]
    predicted = train.predict(model, val.images)
    scores = train.evaluate(model, val, ("mean_iou", "boundary_f1", "hd95"), batch_size=3)
    assert scores["mean_iou"] == pytest.approx(metrics.mean_iou(val.masks, predicted, 4))
    assert scores["boundary_f1"] == pytest.approx(metrics.mean_boundary_f1(val.masks, predicted, 4))
    assert scores["hd95"] == pytest.approx(metrics.mean_hd95(val.masks, predicted, 4))


def test_boundary_scores_combine_batches_per_image():
    from coursekit import metrics

    target = shapes(7, 32, seed=9).masks
    predicted = np.roll(target, 1, axis=2)  # every outline one pixel off: finite, non-trivial scores
    predicted[3] = 0  # one image where the objects vanish: HD95 inf there, skipped nowhere
    whole = {"boundary_f1": metrics.mean_boundary_f1(target, predicted, 4),
             "hd95": metrics.mean_hd95(target[:3], predicted[:3], 4)}
    assert 0 < whole["boundary_f1"] < 1 and 0 < whole["hd95"] < np.inf
    for images, name in ((7, "boundary_f1"), (3, "hd95")):
        acc = common.Evaluation(4, (name,))
        for start in range(0, images, 2):
            acc.update(predicted[start:min(start + 2, images)], target[start:min(start + 2, images)])
        assert acc.result((name,), with_loss=False)[name] == pytest.approx(whole[name])


def test_class_indices_equal_argmax_ties_included():
    from coursekit.train.torch import class_indices

    logits = torch.randn(3, 5, 7, 9)
    logits[:, 3] = logits[:, 1]  # ties between channels 1 and 3: the first one wins, as with argmax
    assert torch.equal(class_indices(logits), logits.argmax(1))


def test_an_engine_that_leaves_out_a_step_of_the_loop_cannot_be_made():
    from coursekit.train.common import Trainer

    class WithoutValidation(Trainer):
        def seed(self, seed): ...
        def set_lr(self, lr): ...
        def train_mode(self): ...
        def step(self, index): ...
        def floats(self, handles): ...
        def reset_training_confusion(self): ...
        def training_confusion(self): ...
        def save(self, directory, state): ...
        def load(self, directory): ...

    with pytest.raises(TypeError, match="validate"):
        WithoutValidation()
