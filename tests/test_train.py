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
    assert list(history) == ["loss", "val_loss", "val_miou", "val_dice"]
    assert history.epochs == 5
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_miou"][-1] > max(before + 0.2, 0.5)
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
