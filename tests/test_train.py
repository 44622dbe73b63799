import dataclasses

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
    before = train.evaluate(model, val_set, metrics=("mean_iou",))["mean_iou"]
    history = train.fit(model, train_set, val_set, loss="cross_entropy", epochs=5, lr=5e-3, batch_size=16)
    assert list(history) == ["loss", "mean_iou", "mean_dice", "val_loss", "val_mean_iou", "val_mean_dice"]
    assert history.epochs == 5
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_mean_iou"][-1] > max(before + 0.2, 0.5)
    assert history["mean_iou"][-1] > history["mean_iou"][0]
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 5 and "val_mean_iou" in lines[-1]
    assert "| epoch |" in history.table()


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_predict_and_evaluate_agree(framework, data):
    _, val_set = data
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    predicted = train.predict(model, val_set.images, batch_size=10)
    assert predicted.shape == val_set.masks.shape and predicted.dtype == np.int64
    from coursekit import metrics

    expected = metrics.mean_iou(val_set.masks, predicted, 4)
    assert train.evaluate(model, val_set, metrics=("mean_iou",))["mean_iou"] == pytest.approx(expected)


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
    assert list(history) == ["loss", "mean_iou", "mean_dice"]
    assert (history["mean_iou"][0], history["mean_dice"][0]) == pytest.approx(expected, abs=1e-6)


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


# --- ignore_index through fit and evaluate -------------------------------------------------------

IGNORED = 255


def with_ignored_block(data, declared=True):
    """``data`` with a square of every mask labelled IGNORED, which the dataset declares (or not)."""
    from coursekit.data import ArrayDataset

    masks = data.masks.copy()
    masks[:, 6:14, 4:16] = IGNORED
    return ArrayDataset(data.images, masks, data.classes, data.palette, data.source,
                        ignore_index=IGNORED if declared else None)


def _train_mode_logits(model, framework, images):
    """The logits of the model's training-mode forward pass, channels last, leaving the model as it is."""
    if framework == "torch":
        import copy

        import torch

        twin = copy.deepcopy(model).train()
        with torch.no_grad():
            return twin(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    import keras

    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return np.asarray(twin(images, training=True))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_ignored_pixels_are_neither_trained_on_nor_scored_while_training(framework):
    """One batch of the whole set: the epoch's loss and scores are those of the first forward pass, ignored
    pixels left out, as coursekit.losses and coursekit.metrics leave them out."""
    import tensorflow as tf

    from coursekit import losses, metrics

    data = with_ignored_block(shapes(12, 24, seed=5))
    seed_everything(0)
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    logits = _train_mode_logits(model, framework, data.images)
    history = train.fit(model, data, loss="cross_entropy+dice", epochs=1, lr=1e-3, batch_size=len(data),
                        metrics=("mean_iou", "pixel_accuracy"), verbose=False)
    expected_loss = float(losses.get_loss("cross_entropy+dice", "keras", ignore_index=IGNORED)(
        data.masks, tf.constant(logits)))
    predicted = logits.argmax(-1)
    assert history["loss"][0] == pytest.approx(expected_loss, rel=1e-4)
    assert history["mean_iou"][0] == pytest.approx(metrics.mean_iou(data.masks, predicted, 4, IGNORED), abs=1e-6)
    assert history["pixel_accuracy"][0] == pytest.approx(
        metrics.pixel_accuracy(data.masks, predicted, 4, IGNORED), abs=1e-6)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_evaluate_scores_only_the_pixels_that_are_not_ignored(framework):
    from coursekit import losses, metrics

    train_set, val_set = with_ignored_block(shapes(32, 24, seed=7)), with_ignored_block(shapes(8, 24, seed=8))
    seed_everything(0)
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    history = train.fit(model, train_set, val_set, loss="cross_entropy+dice", epochs=2,
                        lr=5e-3, batch_size=8, metrics=("mean_iou", "mean_dice", "pixel_accuracy"), verbose=False)
    assert all(np.isfinite(values).all() for values in history.values())
    predicted = train.predict(model, val_set.images)
    expected = metrics.scores(val_set.masks, predicted, 4, ignore_index=IGNORED)
    names = ("mean_iou", "mean_dice", "pixel_accuracy", "mean_class_accuracy", "boundary_f1")
    scores = train.evaluate(model, val_set, names, loss="cross_entropy", batch_size=3)
    assert scores["mean_iou"] == pytest.approx(expected["mean_iou"])
    assert scores["mean_class_accuracy"] == pytest.approx(expected["mean_class_accuracy"])
    assert scores["mean_dice"] == pytest.approx(expected["mean_dice"])
    assert scores["pixel_accuracy"] == pytest.approx(expected["pixel_accuracy"])
    assert scores["boundary_f1"] == pytest.approx(metrics.mean_boundary_f1(val_set.masks, predicted, 4,
                                                                           ignore_index=IGNORED))
    assert np.isfinite(scores["loss"])
    # the last epoch's validation scores are those of the trained model
    assert history["val_mean_iou"][-1] == pytest.approx(expected["mean_iou"])
    assert history["val_pixel_accuracy"][-1] == pytest.approx(expected["pixel_accuracy"])
    # the pixels left out are those of the block alone: scoring the rest of the set gives the same numbers
    outside = np.ones(val_set.masks.shape, bool)
    outside[:, 6:14, 4:16] = False
    assert scores["pixel_accuracy"] == pytest.approx(np.mean(predicted[outside] == val_set.masks[outside]))
    if framework == "torch":
        import torch

        with torch.no_grad():
            logits = model.eval()(torch.from_numpy(val_set.images.transpose(0, 3, 1, 2).copy()))
        whole = losses.cross_entropy(logits, torch.from_numpy(val_set.masks), ignore_index=IGNORED)
        assert train.evaluate(model, val_set, (), loss="cross_entropy", batch_size=len(val_set))["loss"] == \
            pytest.approx(float(whole), rel=1e-5)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_ignore_index_keyword_equals_the_one_the_dataset_declares(framework):
    declared = with_ignored_block(shapes(16, 24, seed=9))
    pair = (declared.images, declared.masks)
    runs = []
    for data, keyword in ((declared, {}), (pair, {"ignore_index": IGNORED})):
        seed_everything(0)
        model = build("tiny_fcn", framework, num_classes=4, width=4)
        history = train.fit(model, data, data, loss="cross_entropy", epochs=1, lr=1e-3, batch_size=8,
                            verbose=False, **keyword)
        runs.append((history, train.evaluate(model, data, ("mean_iou", "mean_dice"), loss="cross_entropy", **keyword)))
    (history_declared, scores_declared), (history_keyword, scores_keyword) = runs
    for key in history_declared:
        assert history_keyword[key] == pytest.approx(history_declared[key], rel=1e-6), key
    assert scores_keyword == pytest.approx(scores_declared, rel=1e-6)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_a_label_out_of_range_is_refused_by_fit_and_evaluate_alike(framework):
    data = with_ignored_block(shapes(8, 24, seed=10))
    data.masks[2, 0, 0] = 7  # neither a class (0..3) nor the ignore index
    model = build("tiny_fcn", framework, num_classes=4, width=4)
    message = r"holds label 7, outside 0\.\.3 \(num_classes=4, ignore_index=255\)"
    with pytest.raises(ValueError, match="train_data.*" + message):
        train.fit(model, data, loss="cross_entropy", epochs=1, lr=1e-3, verbose=False)
    with pytest.raises(ValueError, match="val_data.*" + message):
        train.fit(model, with_ignored_block(shapes(8, 24, seed=11)), data, loss="cross_entropy", epochs=1, lr=1e-3,
                  verbose=False)
    with pytest.raises(ValueError, match="data.*" + message):
        train.evaluate(model, data)
    with pytest.raises(ValueError, match="data.*" + message):
        train.evaluate(model, data, loss="cross_entropy")
    # 255 itself is out of range when no ignore index is given: it is no longer dropped without a word
    undeclared = with_ignored_block(shapes(8, 24, seed=10), declared=False)
    undeclared_message = r"holds label 255, outside 0\.\.3 \(num_classes=4, ignore_index=None\)"
    with pytest.raises(ValueError, match=undeclared_message):
        train.fit(model, undeclared, loss="cross_entropy", epochs=1, lr=1e-3, verbose=False)
    with pytest.raises(ValueError, match=undeclared_message):
        train.evaluate(model, (undeclared.images, undeclared.masks))


def test_ignore_index_must_be_an_integer_and_agree_between_the_datasets():
    data = shapes(4, 16, seed=0)
    model = build("tiny_fcn", "torch", num_classes=4, width=4)
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        train.fit(model, data, loss="cross_entropy", epochs=1, lr=1e-3, ignore_index=255.0, verbose=False)
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        train.evaluate(model, data, ignore_index="255")
    other = dataclasses.replace(with_ignored_block(shapes(4, 24, seed=1)), ignore_index=-1)
    with pytest.raises(ValueError, match="ignore different labels"):
        train.fit(model, with_ignored_block(shapes(4, 24, seed=2)), other, loss="cross_entropy", epochs=1, lr=1e-3,
                  verbose=False)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_one_channel_models_train_and_score_around_ignored_pixels(framework):
    """Binary Dice + BCE on one logit channel: the losses whose ignore_index was missing or unused."""
    from coursekit import metrics
    from coursekit.data import cells

    data = with_ignored_block(cells(8, 32, seed=3))
    seed_everything(0)
    model = build("tiny_fcn", framework, in_channels=1, num_classes=1, width=4)
    history = train.fit(model, data, data, loss="bce+dice", epochs=2, lr=5e-3, batch_size=4, verbose=False)
    assert all(np.isfinite(values).all() for values in history.values())
    predicted = train.predict(model, data.images)
    assert history["val_mean_iou"][-1] == pytest.approx(metrics.mean_iou(data.masks, predicted, 2, IGNORED))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_weighted_loss_ignores_pixels_too(framework):
    """Weights of 2 everywhere double the first step's loss, ignored pixels left out of both."""
    data = with_ignored_block(shapes(8, 24, seed=6))
    weighted = (data.images, data.masks, np.full(data.masks.shape, 2.0, np.float32))
    runs = []
    for train_data, loss in ((data, "cross_entropy"), (weighted, "weighted_cross_entropy")):
        seed_everything(0)
        model = build("tiny_fcn", framework, num_classes=4, width=4)
        runs.append(train.fit(model, train_data, data, loss=loss, epochs=1, lr=1e-3, batch_size=8,
                              ignore_index=IGNORED, verbose=False))
    plain, doubled = runs
    assert doubled["loss"][0] == pytest.approx(2 * plain["loss"][0], rel=1e-5)
    assert doubled["val_loss"][0] == pytest.approx(plain["val_loss"][0], rel=1e-4)


def test_fit_passes_every_option_of_its_signature_and_no_other():
    import dataclasses
    import inspect

    from coursekit.train import common

    options = {field.name for field in dataclasses.fields(common.Options)}
    arguments = set(inspect.signature(train.fit).parameters) - {"model", "train_data", "val_data"}
    assert options == arguments


# --- the weighted loss, value for value ---------------------------------------------------------


def _one_by_one_convolutions(channels: int, seed: int = 3):
    """A 1×1 convolution from 3 channels to ``channels``, with the same weights in torch and Keras."""
    import keras
    import torch

    rng = np.random.default_rng(seed)
    kernel = rng.normal(0, 1, (3, channels)).astype(np.float32)
    bias = rng.normal(0, 0.1, channels).astype(np.float32)
    torch_model = torch.nn.Conv2d(3, channels, 1)
    with torch.no_grad():
        torch_model.weight.copy_(torch.from_numpy(kernel.T.reshape(channels, 3, 1, 1).copy()))
        torch_model.bias.copy_(torch.from_numpy(bias))
    inputs = keras.Input((None, None, 3))
    keras_model = keras.Model(inputs, keras.layers.Conv2D(channels, 1)(inputs))
    keras_model.set_weights([kernel.reshape(1, 1, 3, channels), bias])
    return {"torch": torch_model, "keras": keras_model}, kernel, bias


def _numpy_weighted_cross_entropy(logits, masks, weights, ignore_index=None):
    """The U-Net paper's weighted cross-entropy over the counted pixels, written out in NumPy."""
    counted = np.ones(masks.shape, bool) if ignore_index is None else masks != ignore_index
    labels = np.where(counted, masks, 0)
    if logits.shape[-1] == 1:  # binary cross-entropy of sigmoid(logits)
        x = logits[..., 0].astype(np.float64)
        per_pixel = np.logaddexp(0, x) - labels * x
    else:
        log_p = logits - np.logaddexp.reduce(logits.astype(np.float64), axis=-1, keepdims=True)
        per_pixel = -np.take_along_axis(log_p, labels[..., None], -1)[..., 0]
    return (per_pixel * weights * counted).sum() / max(counted.sum(), 1)


@pytest.mark.parametrize("channels", [4, 1])
@pytest.mark.parametrize("ignore_index", [None, IGNORED])
def test_both_frameworks_train_on_the_weighted_loss_of_each_pixel(channels, ignore_index):
    """One batch of the whole set: the epoch's loss is the weighted cross-entropy of the first forward pass, each
    pixel weighed by its own weight (ignored pixels, heavy here, count for nothing), the same in torch and Keras."""
    data = shapes(6, 16, seed=4)
    masks = data.masks if channels > 1 else (data.masks > 0).astype(np.int64)
    if ignore_index is not None:
        masks = masks.copy()
        masks[:, 3:9, 2:12] = ignore_index
    weights = np.random.default_rng(1).uniform(0.2, 5.0, masks.shape).astype(np.float32)
    if ignore_index is not None:
        weights[masks == ignore_index] = 100.0
    models, kernel, bias = _one_by_one_convolutions(channels)
    expected = _numpy_weighted_cross_entropy(data.images @ kernel + bias, masks, weights, ignore_index)
    for framework, model in models.items():
        history = train.fit(model, (data.images, masks, weights), loss="weighted_cross_entropy", epochs=1, lr=1e-3,
                            batch_size=len(data), ignore_index=ignore_index, verbose=False)
        assert history["loss"][0] == pytest.approx(expected, rel=1e-5), framework


def test_keras_training_scores_count_every_batch_of_the_epoch():
    """A learning rate too small to change a prediction: the epoch's scores over three batches are the scores of
    the whole set, whatever the weights, so no batch's counts were lost or weighed."""
    from coursekit import metrics

    data = shapes(6, 16, seed=4)
    models, kernel, bias = _one_by_one_convolutions(4)
    predicted = (data.images @ kernel + bias).argmax(-1)
    weights = np.random.default_rng(2).uniform(0.2, 5.0, data.masks.shape).astype(np.float32)
    history = train.fit(models["keras"], (data.images, data.masks, weights), loss="weighted_cross_entropy",
                        epochs=1, lr=1e-12, batch_size=2, metrics=("mean_iou", "pixel_accuracy"), verbose=False)
    assert history["mean_iou"][0] == pytest.approx(metrics.mean_iou(data.masks, predicted, 4), abs=1e-9)
    assert history["pixel_accuracy"][0] == pytest.approx(metrics.pixel_accuracy(data.masks, predicted, 4), abs=1e-9)


def test_the_keras_training_confusion_compiles_under_xla_and_counts_like_numpy():
    """Keras turns XLA on by itself on a GPU; the training metric must compile there too."""
    import keras

    from coursekit.train.keras import TrainingConfusion

    rng = np.random.default_rng(0)
    images = rng.random((2, 8, 8, 3)).astype(np.float32)
    masks = rng.integers(0, 4, (2, 8, 8))
    masks[0, 0] = 255  # ignored
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 1)])
    confusion = TrainingConfusion(3, ignore_index=255)
    masks[masks == 3] = 255
    model.compile(optimizer="sgd", loss=lambda y, p: keras.ops.mean(p) * 0.0, metrics=[confusion], jit_compile=True)
    model.train_on_batch(images, masks)
    predicted = np.argmax(np.asarray(model(images)), axis=-1)  # lr is irrelevant: the loss has no gradient
    from coursekit.metrics import confusion_matrix

    np.testing.assert_array_equal(confusion.matrix(), confusion_matrix(masks, predicted, 3, 255))


def test_keras_predict_uses_the_compiled_step_and_gives_the_eager_models_labels(data, caplog):
    """The Keras engine predicts through Keras' compiled step; the labels are those of calling the model eagerly,
    also for a last, smaller batch, and many models trained in one session print no warning about retracing."""
    import keras

    _, val_set = data
    images = val_set.images[:7]
    for seed in range(7):  # enough new models for TensorFlow's retracing warning to fire if it were let through
        seed_everything(seed)
        model = build("tiny_fcn", "keras", num_classes=4, width=4)
        compiled = []
        step = model.predict_on_batch
        model.predict_on_batch = lambda batch, sizes=compiled, step=step: sizes.append(len(batch)) or step(batch)
        predicted = train.predict(model, images, batch_size=3)
        eager = np.asarray(keras.ops.convert_to_numpy(model(images, training=False))).argmax(-1)
        np.testing.assert_array_equal(predicted, eager)
        assert compiled == [3, 3, 1]
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
