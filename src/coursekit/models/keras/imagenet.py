"""What ImageNet weights need, in Keras: the input they were trained on, and reading them from a file.

**The input.**  Every model of the course takes RGB images in [0, 1].
keras.applications' weights were trained on something else, each family on
its own convention (``keras.applications.imagenet_utils.preprocess_input``
calls them modes): VGG16 on "caffe" input (``x * 255``, RGB to BGR, minus
ImageNet's mean pixel (103.939, 116.779, 123.68) in BGR order), MobileNet on
"tf" input (``x * 2 - 1``).  :class:`ImageNetInput` makes that conversion inside
the model, as its first layer, so that data pipelines stay the same for
pretrained and from-scratch models.  It also knows torchvision's convention
("torch": ``(x - mean) / std`` with ImageNet's mean and std), for a Keras twin
that receives torchvision's weights with ``transfer_weights``.  Models built
without pretrained weights have no such layer.

**A local file.**  ``pretrained=<path>`` loads the weights keras.applications
would download from an HDF5 file instead: the ``.h5`` it downloads (Keras 2's
layout: a group per layer, found by the layer's name), or a ``.weights.h5``
written by Keras 3's ``save_weights`` (groups in the order of the model's
layers).  :func:`load_weights_file` checks every layer's weights against the
application model and names the first that is missing or has another shape.
:func:`write_fake_weights` writes such a file with random values, for a run
on a machine without network.
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np
from keras import layers, ops

from ..common import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, check_imagenet_input


@keras.saving.register_keras_serializable(package="coursekit")
class ImageNetInput(layers.Layer):
    """Convert RGB images in [0, 1] (N×H×W×3) to the input ImageNet weights were trained on.

    ``mode`` is "caffe" (keras.applications' VGG16: ``x * 255``, RGB to BGR, minus
    the mean pixel (103.939, 116.779, 123.68) in BGR order), "tf" (keras.applications'
    MobileNet: ``x * 2 - 1``) or "torch" (torchvision's weights: ``(x - mean) / std``
    with ImageNet's mean and std).  It has no weights.
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        check_imagenet_input(mode, 3)
        self.mode = mode

    def call(self, x):
        if self.mode == "tf":
            return x * 2.0 - 1.0
        if self.mode == "torch":
            return (x - ops.cast(IMAGENET_MEAN, x.dtype)) / ops.cast(IMAGENET_STD, x.dtype)
        return ops.flip(x, axis=-1) * 255.0 - ops.cast(CAFFE_MEAN_BGR, x.dtype)  # channel 0 becomes B

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def apply_imagenet_input(x, mode: str | None, name: str = "imagenet_input"):
    """``x`` converted for ImageNet weights of ``mode``, or ``x`` itself for None (no layer: the model is unchanged)."""
    return x if mode is None else ImageNetInput(mode, name=name)(x)


def _snake_case(name: str) -> str:
    """A class name as Keras 3 names a layer's group in a ``.weights.h5`` file (``keras.src.utils.naming``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def read_weights_file(path: str, reference: keras.Model, what: str) -> dict:
    """The arrays in the HDF5 file ``path`` for each layer of ``reference`` that has weights, by layer name.

    Knows Keras 2's layout (what keras.applications downloads: a group per layer
    name, its ``weight_names`` in order) and Keras 3's ``.weights.h5`` (groups
    ``layers/<class name>_<n>/vars/<i>`` in the order of ``reference.layers``, without
    the layers' names).  A missing layer is a ValueError naming it.
    """
    import h5py

    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"could not read weights file {path!r} as HDF5 ({what}'s weights, "
                         f"an .h5 or .weights.h5 file): {error}") from error
    arrays = {}
    with file:
        root = file["model_weights"] if "model_weights" in file else file
        if "layer_names" in root.attrs:  # Keras 2's layout, what keras.applications downloads
            for layer in reference.layers:
                if not layer.weights:
                    continue
                if layer.name not in root:
                    raise ValueError(f"weights file {path!r} has no layer {layer.name!r}, which {what} needs "
                                     f"with weights of shapes {[tuple(w.shape) for w in layer.weights]}; "
                                     f"it has {[_text(n) for n in root.attrs['layer_names']][:6]} ...")
                group = root[layer.name]
                arrays[layer.name] = [np.asarray(group[_text(n)]) for n in group.attrs["weight_names"]]
            return arrays
        if "layers" not in root:
            raise ValueError(f"weights file {path!r} is neither Keras 2's .h5 layout (no 'layer_names') nor "
                             f"Keras 3's .weights.h5 (no 'layers' group); expected {what}'s weights")
        used: dict = {}
        for layer in reference.layers:  # Keras 3 names each group after the layer's class, counted
            name = _snake_case(type(layer).__name__)
            used[name] = used.get(name, -1) + 1
            group = name if used[name] == 0 else f"{name}_{used[name]}"
            if not layer.weights:
                continue
            variables = root.get(f"layers/{group}/vars")
            if variables is None:
                raise ValueError(f"weights file {path!r} has no group 'layers/{group}/vars' for layer "
                                 f"{layer.name!r} of {what} (shapes {[tuple(w.shape) for w in layer.weights]}); "
                                 "was it saved from that model?")
            arrays[layer.name] = [np.asarray(variables[str(i)]) for i in range(len(variables))]
    return arrays


def load_weights_file(reference: keras.Model, path: str, what: str) -> keras.Model:
    """Set ``reference``'s weights from the file ``path``, after checking every layer's names and shapes.

    ``reference`` is the keras.applications model (``weights=None``) whose weights
    the file holds; ``what`` names it in errors.  The first layer whose weights are
    missing or shaped otherwise is a ValueError naming the file, the layer, the
    weight and both shapes; nothing is set then.
    """
    arrays = read_weights_file(path, reference, what)
    for layer in reference.layers:
        if not layer.weights:
            continue
        found = arrays[layer.name]
        if len(found) != len(layer.weights):
            raise ValueError(f"weights file {path!r}: layer {layer.name!r} has {len(found)} weights, {what} "
                             f"needs {len(layer.weights)} ({', '.join(w.name for w in layer.weights)})")
        for weight, array in zip(layer.weights, found):
            if tuple(array.shape) != tuple(weight.shape):
                raise ValueError(f"weights file {path!r}: {layer.name}/{weight.name} has shape "
                                 f"{tuple(array.shape)}, {what} needs {tuple(weight.shape)}")
    for layer in reference.layers:
        if layer.weights:
            layer.set_weights(arrays[layer.name])
    return reference


def application(arch: str, alpha: float = 1.0, weights=None) -> keras.Model:
    """The keras.applications model whose weights ``pretrained`` loads for ``arch`` ("vgg16" or "mobilenet").

    VGG16 with its classifier (FCN turns fc1 and fc2 into fc6 and fc7); MobileNet
    without, at 224×224 and width ``alpha``, as coursekit's encoder uses it.
    """
    if arch == "vgg16":
        return keras.applications.VGG16(weights=weights, include_top=True)
    if arch == "mobilenet":
        return keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=alpha, include_top=False,
                                            weights=weights)
    raise ValueError(f"no keras.applications weights for {arch!r} here; known: vgg16, mobilenet")


def fake_array(layer, weight, rng: np.random.Generator) -> np.ndarray:
    """Random values that behave like trained ones: He-scaled kernels, positive variances."""
    shape, name = tuple(weight.shape), weight.name
    if name in ("kernel", "depthwise_kernel"):
        fan_in = int(np.prod(shape[:2] if name == "depthwise_kernel" else shape[:-1]))
        values = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    elif name in ("gamma", "moving_variance"):
        values = rng.uniform(0.5, 1.5, shape)
    else:  # bias, beta, moving_mean
        values = rng.normal(0.0, 0.1, shape)
    return values.astype(np.float32)


def write_fake_weights(arch: str, path, alpha: float = 1.0, seed: int = 0) -> str:
    """Write keras.applications' ``arch`` weights file with the real layer names and shapes and random values.

    A path ending in ``.weights.h5`` gets Keras 3's ``save_weights`` format; any other
    ``.h5`` (or ``.hdf5``) the Keras 2 layout keras.applications downloads, with the
    layers' names.  ``build(..., pretrained=path)`` loads either, through the same
    name mapping, shape checks and input conversion as the real weights.
    """
    path = os.fspath(path)
    if not path.endswith((".h5", ".hdf5")):
        raise ValueError(f"a Keras weights file ends in .h5 (as keras.applications downloads it) or .weights.h5 "
                         f"(Keras 3's save_weights), got {path!r}")
    reference = application(arch, alpha)
    rng = np.random.default_rng(seed)
    if path.endswith(".weights.h5"):
        for layer in reference.layers:
            if layer.weights:
                layer.set_weights([fake_array(layer, w, rng) for w in layer.weights])
        reference.save_weights(path)
        return path
    import h5py

    with h5py.File(path, "w") as file:  # Keras 2's layout, as keras.applications' downloads have it
        file.attrs["layer_names"] = np.array([layer.name.encode("utf8") for layer in reference.layers])
        file.attrs["backend"] = b"tensorflow"
        file.attrs["keras_version"] = keras.__version__.encode("utf8")
        for layer in reference.layers:
            group = file.create_group(layer.name)
            names = [f"{layer.name}/{weight.name}:0" for weight in layer.weights]
            group.attrs["weight_names"] = np.array([n.encode("utf8") for n in names], dtype="S")
            for name, weight in zip(names, layer.weights):
                group.create_dataset(name, data=fake_array(layer, weight, rng))
    return path
