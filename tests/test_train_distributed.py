"""Data-parallel ``coursekit.train.fit`` (appendix: Past one GPU): torchrun with DDP, Keras under MirroredStrategy.

Each test starts fresh Python processes, because torchrun launches them and
TensorFlow fixes its devices when it starts.  Run as a script, this file is
what those processes execute: ``python tests/test_train_distributed.py torch|keras OUT``.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit.train import common

# SGD steps in proportion to the gradient, so a gradient summed where it should be averaged shows in the weights
FIT = dict(loss="cross_entropy", optimizer="sgd", lr=5e-2, batch_size=8, seed=3)
# 21 images in batches of 8: torch shares the last batch of 5 as 3 + 2, and weighs the shares to be exact
TRAIN_IMAGES, VAL_IMAGES, SIZE = 21, 6, 16


def _data(train_images: int = TRAIN_IMAGES):
    from coursekit.data import shapes

    return shapes(train_images, SIZE, seed=1), shapes(VAL_IMAGES, SIZE, seed=2)


# --- torch --------------------------------------------------------------------------------


def torch_net(seed: int = 0, dropout: bool = False):
    """Convolutions and ReLUs: without batch norm, whose statistics are the share's by design, several processes
    must match one up to float rounding.  Dropout draws differ by process: for the resume test only."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1)]
    if dropout:
        layers.insert(2, nn.Dropout2d(0.3))
    return nn.Sequential(*layers)


def torch_run(out: Path) -> None:
    """Under torchrun, what every process does: a two-epoch fit; with dropout, another, and one epoch resumed to two."""
    import torch

    from coursekit import train

    plain = torch_net()
    history = train.fit(plain, *_data(), epochs=2, **FIT)
    quiet = dict(FIT, verbose=False)
    straight = torch_net(dropout=True)
    train.fit(straight, *_data(), epochs=2, **quiet)
    train.fit(torch_net(dropout=True), *_data(), epochs=1, checkpoint_dir=out / "checkpoint", **quiet)
    resumed = torch_net(seed=99, dropout=True)  # other weights: the checkpoint must decide
    train.fit(resumed, *_data(), epochs=2, checkpoint_dir=out / "checkpoint", **quiet)
    torch.save({"plain": plain.state_dict(), "straight": straight.state_dict(), "resumed": resumed.state_dict(),
                "history": dict(history)}, out / f"rank{os.environ['RANK']}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(*args, **env) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **env})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def _assert_same_weights(a: dict, b: dict, atol: float) -> None:
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=0, atol=atol, err_msg=name)


@pytest.fixture(scope="module")
def torchrun(tmp_path_factory):
    """Two CPU processes (gloo) started as a student starts them; their output folder and what they printed."""
    out = tmp_path_factory.mktemp("torchrun")
    result = _script("-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                     f"--master_port={_free_port()}", __file__, "torch", str(out))
    return out, result.stdout


def _ranks(out: Path) -> list[dict]:
    import torch

    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_two_processes_train_as_one_process_on_the_whole_batch(torchrun):
    from coursekit import train

    out, stdout = torchrun
    ranks = _ranks(out)
    for key in ("plain", "straight", "resumed"):
        _assert_same_weights(ranks[0][key], ranks[1][key], atol=0)  # DDP keeps the processes' weights identical
    assert ranks[0]["history"] == ranks[1]["history"]
    assert sum(line.startswith("epoch") for line in stdout.splitlines()) == 2  # the first process's only

    alone = torch_net()
    expected = train.fit(alone, *_data(), epochs=2, verbose=False, **FIT)
    for key in expected:
        np.testing.assert_allclose(ranks[0]["history"][key], expected[key], rtol=0, atol=1e-5, err_msg=key)
    _assert_same_weights(ranks[0]["plain"], alone.state_dict(), atol=1e-5)


def test_a_resumed_run_draws_each_process_dropout_where_it_stopped(torchrun):
    """The checkpoint keeps every process's random state: resumed, the run ends as the straight one; and the first
    process's file holds the bare model, which loads in a single process."""
    import torch

    out, _ = torchrun
    ranks = _ranks(out)
    _assert_same_weights(ranks[0]["resumed"], ranks[0]["straight"], atol=1e-6)
    saved = torch.load(out / "checkpoint" / "last.pt", weights_only=True)
    assert saved["epoch"] == 2 and len(saved["process_rng"]) == 2
    single = torch_net(seed=99, dropout=True)
    single.load_state_dict(saved["model"])  # the bare model's names: no "module." prefix from DDP
    _assert_same_weights(single.state_dict(), ranks[0]["resumed"], atol=0)


@pytest.mark.parametrize("examples, batch_size, processes, message", [
    (16, 6, 4, "batch_size 6 cannot be shared equally by 4"),
    (17, 8, 2, "the last batch of each epoch holds 1 of the 17"),
])
def test_batches_the_processes_cannot_share_are_refused(examples, batch_size, processes, message):
    with pytest.raises(ValueError, match=message):
        common.check_split(examples, batch_size, processes)
    for fine in ((16, 8, 2), (21, 8, 2), (6, 8, 2)):  # whole batches; a last batch of 5, or one of 6, shared
        common.check_split(*fine)


def test_a_batch_is_split_into_contiguous_shares():
    index = np.arange(10, 15)
    assert [common.share_of(index, part, 2).tolist() for part in range(2)] == [[10, 11, 12], [13, 14]]


# --- Keras ------------------------------------------------------------------------------------


def keras_net():
    import keras
    from keras import layers

    inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, layers.Conv2D(4, 1)(x))


def keras_run(out: Path) -> None:
    """Two logical CPUs, set before TensorFlow starts; the same fit with and without MirroredStrategy."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from coursekit import train
    from coursekit.losses import get_loss

    cross_entropy = get_loss("cross_entropy", "keras")
    report = {}
    for name in ("alone", "mirrored"):
        sizes = []

        def loss(y_true, y_pred, sizes=sizes):
            sizes.append(y_pred.shape[0])  # Keras traces the step once per input shape: the batch each replica saw
            return cross_entropy(y_true, y_pred)

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if name == "mirrored" else None

        def new_model(strategy=strategy):
            with strategy.scope() if strategy else contextlib.nullcontext():  # the one change a student makes
                keras.utils.set_random_seed(0)
                return keras_net()

        # 16 images: Keras weighs the replicas' shares equally, which is exact for equal shares only
        model = new_model()
        history = train.fit(model, *_data(16), epochs=2, verbose=False, **dict(FIT, loss=loss))
        report[name] = {"history": dict(history), "sizes": sorted(set(sizes)),
                        "weights": [w.tolist() for w in model.get_weights()]}
        # the U-Net loss: each replica's share of the weight maps travels with its share of the batch
        train_set, val_set = _data(16)
        maps = np.random.default_rng(0).uniform(0.2, 5.0, train_set.masks.shape).astype(np.float32)
        model = new_model()
        history = train.fit(model, (train_set.images, train_set.masks, maps), val_set, epochs=2, verbose=False,
                            **dict(FIT, loss="weighted_cross_entropy"))
        report[f"{name}, weighted"] = {"history": dict(history), "weights": [w.tolist() for w in model.get_weights()]}
    (out / "keras.json").write_text(json.dumps(report))


def test_keras_under_mirrored_strategy_shares_each_batch_and_keeps_the_history(tmp_path):
    _script(__file__, "keras", str(tmp_path))
    report = json.loads((tmp_path / "keras.json").read_text())
    alone, mirrored = report["alone"], report["mirrored"]
    assert 8 in alone["sizes"] and 4 not in alone["sizes"]
    assert 4 in mirrored["sizes"] and 8 not in mirrored["sizes"]  # each replica got half of every batch
    for key in alone["history"]:
        np.testing.assert_allclose(mirrored["history"][key], alone["history"][key], rtol=0, atol=1e-5, err_msg=key)
    for a, b in zip(alone["weights"], mirrored["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=0, atol=1e-5)
    alone, mirrored = report["alone, weighted"], report["mirrored, weighted"]
    assert alone["history"]["loss"][0] > 1.5 * report["alone"]["history"]["loss"][0]  # the maps' mean weight is 2.6
    for key in alone["history"]:
        np.testing.assert_allclose(mirrored["history"][key], alone["history"][key], rtol=0, atol=1e-5, err_msg=key)
    for a, b in zip(alone["weights"], mirrored["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=0, atol=1e-5)


if __name__ == "__main__":
    {"torch": torch_run, "keras": keras_run}[sys.argv[1]](Path(sys.argv[2]))
