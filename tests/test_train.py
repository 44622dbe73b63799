import numpy as np
import pytest

from coursekit import train
from coursekit.data import shapes
from coursekit.models import build
from coursekit.runtime import seed_everything


@pytest.fixture(scope="module")
def data():
    return shapes(256, 32, seed=11), shapes(24, 32, seed=12)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_fit_learns_and_reports_the_same_history_keys(framework, data, capsys):
    train_set, val_set = data
    seed_everything(0)
    model = build("tiny_fcn", framework, num_classes=4, width=8)
    before = train.evaluate(model, val_set, metrics=("miou",))["miou"]
    history = train.fit(model, train_set, val_set, loss="cross_entropy", epochs=5, lr=5e-3, batch_size=16)
    assert list(history) == ["loss", "miou", "dice", "val_loss", "val_miou", "val_dice"]
    assert history.epochs == 5
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_miou"][-1] > max(before + 0.2, 0.5)
    assert history["miou"][-1] > history["miou"][0]
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 5 and "val_miou" in lines[-1]
    assert "| epoch |" in history.table()


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_predict_and_evaluate_agree(framework, data):
    _, val_set = data
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    predicted = train.predict(model, val_set.images, batch_size=10)
    assert predicted.shape == val_set.masks.shape and predicted.dtype == np.int64
    from coursekit import metrics

    expected = metrics.mean_iou(val_set.masks, predicted, 4)
    assert train.evaluate(model, val_set, metrics=("miou",))["miou"] == pytest.approx(expected)


def test_evaluate_does_not_change_the_training_mode():
    model = build("tiny_fcn", "torch", num_classes=4, width=4)
    model.train()
    train.evaluate(model, shapes(4, 16, seed=0))
    assert model.training


def test_unknown_models_and_metrics_are_refused(data):
    with pytest.raises(TypeError, match="torch.nn.Module or a keras.Model"):
        train.fit(object(), *data, loss="dice", epochs=1, lr=1e-3)
    model = build("tiny_fcn", "torch", num_classes=4, width=4)
    with pytest.raises(ValueError, match="unknown metric"):
        train.evaluate(model, data[1], metrics=("accuracy_at_k",))


def _train_mode_scores(model, framework, data):
    """mIoU and Dice of the model's training-mode predictions on all of ``data`` at once (one batch)."""
    from coursekit import metrics

    if framework == "torch":
        import copy

        import torch

        twin = copy.deepcopy(model).train()
        with torch.no_grad():
            logits = twin(torch.from_numpy(data.images.transpose(0, 3, 1, 2).copy())).numpy()
        predicted = logits.argmax(1)
    else:
        import keras

        twin = keras.models.clone_model(model)
        twin.set_weights(model.get_weights())
        predicted = np.asarray(twin(data.images, training=True)).argmax(-1)
    return (metrics.mean_iou(data.masks, predicted, data.num_classes),
            metrics.mean_dice(data.masks, predicted, data.num_classes))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_training_metrics_score_the_batches_as_the_model_saw_them(framework):
    """With the whole set in one batch, the epoch's training scores are those of the forward pass before the step."""
    data = shapes(12, 24, seed=5)
    seed_everything(0)
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    expected = _train_mode_scores(model, framework, data)
    history = train.fit(model, data, loss="cross_entropy", epochs=1, lr=1e-3, batch_size=len(data), verbose=False)
    assert list(history) == ["loss", "miou", "dice"]
    assert (history["miou"][0], history["dice"][0]) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_weight_maps_reach_the_loss(framework):
    """Weights of 2 everywhere double the first step's loss; validation keeps the unweighted cross-entropy."""
    data = shapes(8, 24, seed=6)
    weighted = (data.images, data.masks, np.full(data.masks.shape, 2.0, np.float32))
    runs = []
    for train_data, loss in ((data, "cross_entropy"), (weighted, "weighted_cross_entropy")):
        seed_everything(0)
        model = build("tiny_fcn", framework, num_classes=4, width=4)
        runs.append(train.fit(model, train_data, data, loss=loss, epochs=1, lr=1e-3, batch_size=8, verbose=False))
    plain, doubled = runs
    assert doubled["loss"][0] == pytest.approx(2 * plain["loss"][0], rel=1e-5)
    assert doubled["val_loss"][0] == pytest.approx(plain["val_loss"][0], rel=1e-4)


def test_weight_maps_and_the_weighted_loss_come_together():
    data = shapes(4, 16, seed=0)
    model = build("tiny_fcn", "torch", num_classes=4, width=4)
    with pytest.raises(ValueError, match="needs a weight per pixel"):
        train.fit(model, data, loss="weighted_cross_entropy", epochs=1, lr=1e-3, verbose=False)
    ones = np.ones(data.masks.shape, np.float32)
    with pytest.raises(ValueError, match="does not use them"):
        train.fit(model, (data.images, data.masks, ones), loss="dice", epochs=1, lr=1e-3, verbose=False)
    with pytest.raises(ValueError, match="weight_maps must be N×H×W"):
        train.fit(model, (data.images, data.masks, ones[:, :8]), loss="weighted_cross_entropy", epochs=1, lr=1e-3)
