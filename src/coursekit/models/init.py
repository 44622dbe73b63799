"""Starting weights for a deep plain network trained from scratch: taught in chapter 2 (FCN).

A stack of sixteen convolutions without batch norm, such as FCN's VGG16, loses its
signal from layer to layer under the frameworks' default initialisations, and its
deepest path then learns nothing in a short run.  :func:`he_initialise` draws every
convolution's weights with He et al.'s variance ``2 / fan-in`` (2015, "Delving Deep
into Rectifiers"), which keeps the signal's scale through ReLUs, and starts the
classifier's bias at the log class prior.  Chapter 7's comparison starts FCN-8s the
same way.
"""

from __future__ import annotations

import sys

import numpy as np


def he_initialise(model, class_frequencies=None, seed: int = 0, classifier: str = "score_fr"):
    """He-normal weights for every plain convolution, zero biases; the classifier's bias at log prior.

    Transposed convolutions keep their start (FCN's bilinear up-sampling).
    ``class_frequencies`` (each class's share of the training pixels, for example
    ``ArrayDataset.class_frequencies()``) sets the bias of the layer named
    ``classifier``, so that the first guess is the class prior rather than a
    uniform one (Lin et al. 2017); without it that bias starts at zero too.  The
    weights come from NumPy's generator seeded with ``seed``, drawn in torch's
    layout and transposed for Keras, so that twins start from the same numbers.
    Returns the model.
    """
    rng = np.random.default_rng(seed)
    torch = sys.modules.get("torch")
    is_torch = torch is not None and isinstance(model, torch.nn.Module)
    if is_torch:
        layers = [(name, layer) for name, layer in model.named_modules() if type(layer) is torch.nn.Conv2d]
        shapes = [tuple(layer.weight.shape) for _, layer in layers]  # out × in × kh × kw
        fan_ins = [int(np.prod(shape[1:])) for shape in shapes]
        outs = [shape[0] for shape in shapes]
    else:
        import keras

        layers = [(layer.name, layer) for layer in model.layers if type(layer) is keras.layers.Conv2D]
        shapes = [tuple(np.array(layer.kernel.shape)[[3, 2, 0, 1]]) for _, layer in layers]  # as torch's
        fan_ins = [int(np.prod(shape[1:])) for shape in shapes]
        outs = [shape[0] for shape in shapes]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no plain convolution to initialise")
    for (name, layer), shape, fan_in, out in zip(layers, shapes, fan_ins, outs):
        weight = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        bias = np.zeros(out, np.float32)
        if name == classifier and class_frequencies is not None:
            if len(class_frequencies) != out:
                raise ValueError(f"class_frequencies has {len(class_frequencies)} values but {classifier} scores "
                                 f"{out} classes")
            bias = np.log(np.maximum(np.asarray(class_frequencies, np.float64), 1e-6)).astype(np.float32)
        _set(layer, weight, bias, is_torch)
    return model


def _set(layer, weight: np.ndarray, bias: np.ndarray, is_torch: bool) -> None:
    if is_torch:
        import torch

        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight))
            if layer.bias is not None:
                layer.bias.copy_(torch.from_numpy(bias))
    else:
        weight = weight.transpose(2, 3, 1, 0)  # drawn as torch lays it out, so that the twins start alike
        layer.set_weights([weight, bias] if layer.use_bias else [weight])
