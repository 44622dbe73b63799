"""Checkpoints that survive a disconnected runtime (chapter 1, Training; used by every chapter).

Each file is written to a temporary name in the same directory, flushed to
disk, then renamed over the old one: a rename within a directory is atomic,
so a runtime that dies mid-write leaves the previous checkpoint whole.  This
holds on a local disk and on Google Drive mounted in Colab alike.

Nothing is ever unpickled:

* torch: one file, ``last.pt``, a dict of tensors and plain Python values,
  read with ``torch.load(weights_only=True)``.
* Keras: ``keras-epochNNNN.weights.h5`` (the model's weights),
  ``keras-epochNNNN.state.npz`` (optimiser variables and the model's other
  variables, such as dropout's random-seed state; read with
  ``allow_pickle=False``) and ``last.json`` (epoch, history, random states,
  settings, and the names of the other two).  ``last.json`` is written last
  and is what a resumed run reads, so the three always belong together;
  older epochs' files are removed after it is in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

TORCH_FILE = "last.pt"
KERAS_FILE = "last.json"
FORMAT = 1


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    ``suffix`` is kept at the end of the temporary name for writers that insist
    on one (Keras wants ``.weights.h5``).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the rename must not reach the disk before the data does
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _check(state: dict, path: Path, framework: str) -> dict:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a coursekit checkpoint of format {FORMAT}; "
                         "pass resume=False or another checkpoint_dir")
    if state.get("framework") != framework:
        raise ValueError(f"{path} was written by the {state.get('framework')} engine, not {framework}")
    state["path"] = str(path)
    return state


# --- torch --------------------------------------------------------------------------------


def save_torch(directory: Path, state: dict) -> Path:
    import torch

    path = Path(directory) / TORCH_FILE
    with atomic_path(path, ".pt") as tmp:
        torch.save(state, tmp)
    return path


def load_torch(directory: Path) -> dict | None:
    """The checkpoint in ``directory``, or ``None`` when there is none."""
    import torch

    path = Path(directory) / TORCH_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"checkpoint {path} could not be read ({type(err).__name__}: {err}); "
                         "delete it or pass resume=False") from err
    return _check(state, path, "torch")


# --- Keras --------------------------------------------------------------------------------


def _extra_variables(model) -> list:
    """The model's variables that ``save_weights`` leaves out (random-seed states of dropout layers)."""
    saved = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in saved]


def _numpy(variable) -> np.ndarray:
    return np.array(variable.numpy())


def save_keras(directory: Path, model, optimizer, state: dict) -> Path:
    directory = Path(directory)
    stem = f"keras-epoch{state['epoch']:04d}"
    weights, arrays = directory / f"{stem}.weights.h5", directory / f"{stem}.state.npz"
    with atomic_path(weights, ".weights.h5") as tmp, warnings.catch_warnings():
        # Keras 3.15 hands TensorFlow tensors to NumPy 2 in a way NumPy calls deprecated; nothing to act on here
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="__array__ implementation")
        model.save_weights(tmp)
    optimizer_vars, model_vars = list(optimizer.variables), _extra_variables(model)
    with atomic_path(arrays, ".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **{f"optimizer_{i:04d}": _numpy(v) for i, v in enumerate(optimizer_vars)},
                 **{f"model_{i:04d}": _numpy(v) for i, v in enumerate(model_vars)})
    manifest = {**state, "weights": weights.name, "arrays": arrays.name,
                "optimizer_variables": [v.path for v in optimizer_vars],
                "model_variables": [v.path for v in model_vars]}
    path = directory / KERAS_FILE
    with atomic_path(path, ".json") as tmp, open(tmp, "w") as f:
        json.dump(manifest, f)
    for old in directory.glob("keras-epoch*"):
        if old.name not in (weights.name, arrays.name):
            old.unlink(missing_ok=True)
    return path


def _assign(variables, arrays, what: str, path: Path) -> None:
    if len(variables) != len(arrays):
        raise ValueError(f"checkpoint {path} holds {len(arrays)} {what} variables, this run has {len(variables)}: "
                         "was it written for another model or optimiser? Pass resume=False or another checkpoint_dir")
    for variable, value in zip(variables, arrays):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"checkpoint {path}: {what} variable {variable.path} has shape {tuple(variable.shape)}"
                             f" here but {value.shape} in the checkpoint")
        variable.assign(value)


def load_keras(directory: Path, model, optimizer) -> dict | None:
    """Restore model and optimiser from ``directory``; return the manifest, or ``None`` when there is none."""
    path = Path(directory) / KERAS_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"checkpoint {path} could not be read ({err}); delete it or pass resume=False") from err
    state = _check(state, path, "keras")
    if not optimizer.built:  # built first, so that load_weights finds the optimiser's variables to fill
        optimizer.build(model.trainable_variables)
    try:
        with warnings.catch_warnings():
            # Keras 3.15 warns about containers of a functional model that hold no weights of their own
            warnings.filterwarnings("ignore", message="Skipping nested container")
            warnings.filterwarnings("ignore", category=DeprecationWarning, message="__array__ implementation")
            model.load_weights(Path(directory) / state["weights"])
    except (ValueError, KeyError) as err:
        raise ValueError(f"checkpoint {path} does not fit this model ({err}); "
                         "pass resume=False or another checkpoint_dir") from err
    with np.load(Path(directory) / state["arrays"], allow_pickle=False) as stored:
        _assign(optimizer.variables, [stored[f"optimizer_{i:04d}"] for i in range(len(state["optimizer_variables"]))],
                "optimiser", path)
        _assign(_extra_variables(model), [stored[f"model_{i:04d}"] for i in range(len(state["model_variables"]))],
                "model", path)
    return state
