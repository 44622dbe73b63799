"""Copy weights between a PyTorch model and its Keras twin.

The course's models are written so that every PyTorch module that holds
parameters has a Keras layer of the same name, with the module path's dots
turned into underscores (``stage1.0.conv`` -> ``stage1_0_conv``).  The
layouts differ and are converted here:

==========================  ======================  ==========================
layer                       PyTorch weight          Keras kernel
==========================  ======================  ==========================
convolution                 out × in × kh × kw      kh × kw × in × out
depthwise convolution       in × 1 × kh × kw        kh × kw × in × 1
transposed convolution      in × out × kh × kw      kh × kw × out × in
dense / linear              out × in                in × out
batch norm                  weight, bias, running mean, running var  ->  gamma, beta, moving mean, moving variance
==========================  ======================  ==========================

A model built with pretrained weights converts its input first, as those weights
expect (an ``ImageNetInput`` layer without weights: torchvision's "torch" mean and
std, keras.applications' "caffe" VGG16 or "tf" MobileNet input).  The conversion
is part of the function the weights compute, so the twin that receives them must
make the same one: build it with ``imagenet_input=<the source's mode>``, for
example ``build("segnet", "keras", num_classes=21, imagenet_input="torch")`` to
receive a pretrained torch SegNet.  :func:`transfer_weights` refuses twins whose
conversions differ, rather than hand over weights that would then see another input.
"""

from __future__ import annotations

import sys

import numpy as np


def _torch_layers(model) -> dict:
    """Parameter-holding leaf modules by Keras-style name."""
    import torch.nn as nn

    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.Linear)
    return {name.replace(".", "_"): module for name, module in model.named_modules()
            if isinstance(module, kinds)}


def _keras_layers(model) -> dict:
    import keras

    layers = {}
    stack = list(model.layers)
    while stack:
        layer = stack.pop(0)
        if isinstance(layer, keras.Model):  # nested models (backbones) are walked into
            stack = list(layer.layers) + stack
        elif layer.weights:
            layers[layer.name] = layer
    return layers


def _torch_to_keras_arrays(module) -> list[np.ndarray]:
    import torch.nn as nn

    w = [p.detach().cpu().numpy() for p in (module.weight, module.bias) if p is not None]
    if isinstance(module, nn.BatchNorm2d):
        return w + [module.running_mean.cpu().numpy(), module.running_var.cpu().numpy()]
    if isinstance(module, nn.Linear):
        return [w[0].T] + w[1:]
    if isinstance(module, nn.ConvTranspose2d):
        return [w[0].transpose(2, 3, 1, 0)] + w[1:]
    if module.groups > 1:  # depthwise: in × 1 × kh × kw -> kh × kw × in × 1
        return [w[0].transpose(2, 3, 0, 1)] + w[1:]
    return [w[0].transpose(2, 3, 1, 0)] + w[1:]


def _keras_to_torch_arrays(module, arrays: list[np.ndarray]) -> list[np.ndarray]:
    import torch.nn as nn

    if isinstance(module, nn.BatchNorm2d):
        return arrays
    kernel, rest = arrays[0], arrays[1:]
    if isinstance(module, nn.Linear):
        return [kernel.T] + rest
    if isinstance(module, nn.ConvTranspose2d):
        return [kernel.transpose(3, 2, 0, 1)] + rest
    if module.groups > 1:
        return [kernel.transpose(2, 3, 0, 1)] + rest
    return [kernel.transpose(3, 2, 0, 1)] + rest


def _check_same_layers(torch_layers: dict, keras_layers: dict) -> None:
    missing = sorted(set(torch_layers) - set(keras_layers))
    extra = sorted(set(keras_layers) - set(torch_layers))
    if missing or extra:
        raise ValueError("the two models do not have the same layers: "
                         f"only in torch {missing[:5]}, only in Keras {extra[:5]}")


def imagenet_input_of(model) -> str | None:
    """The input conversion ("torch", "caffe" or "tf") a coursekit model makes first, or None if it makes none."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        from .torch.imagenet import ImageNetInput

        modes = [module.mode for module in model.modules() if isinstance(module, ImageNetInput)]
    else:
        from .keras.imagenet import ImageNetInput

        modes, stack = [], list(model.layers)
        while stack:  # nested models (backbones) are walked into
            layer = stack.pop(0)
            stack = list(getattr(layer, "layers", None) or []) + stack
            if isinstance(layer, ImageNetInput):
                modes.append(layer.mode)
    return modes[0] if modes else None


def _check_same_input(torch_model, keras_model) -> None:
    torch_mode, keras_mode = imagenet_input_of(torch_model), imagenet_input_of(keras_model)
    if torch_mode != keras_mode:
        def said(mode):
            return "converts no input" if mode is None else f"converts its input for {mode!r} ImageNet weights"
        if keras_mode is None:
            fix = f"build the Keras model with imagenet_input={torch_mode!r}"
        elif torch_mode is None:
            fix = f"build the torch model with imagenet_input={keras_mode!r}"
        else:
            fix = "build the model that receives the weights with the imagenet_input of the one that gives them"
        raise ValueError(f"the torch model {said(torch_mode)} and the Keras model {said(keras_mode)}, so the "
                         f"twins would not compute the same function: {fix} (see coursekit.models.transfer)")


def _check_batch_norm(module, layer) -> None:
    if abs(layer.epsilon - module.eps) > 1e-12:
        raise ValueError(f"batch norm {layer.name}: Keras epsilon {layer.epsilon} differs from torch eps {module.eps}")


def transfer_weights(src, dst):
    """Copy every weight of ``src`` into ``dst``, one a torch model, the other its Keras twin.

    Both must come from ``coursekit.models.build`` with the same name and
    configuration, including the same input conversion (``imagenet_input``, which
    ``pretrained`` brings; see the module docstring).  Returns ``dst``.  Afterwards
    the two compute the same function in eval mode (up to float rounding).
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(src, torch.nn.Module):
        torch_model, keras_model, to_keras = src, dst, True
    elif torch is not None and isinstance(dst, torch.nn.Module):
        torch_model, keras_model, to_keras = dst, src, False
    else:
        raise TypeError("transfer_weights needs one torch.nn.Module and one keras.Model")
    torch_layers, keras_layers = _torch_layers(torch_model), _keras_layers(keras_model)
    _check_same_layers(torch_layers, keras_layers)
    _check_same_input(torch_model, keras_model)
    for name, module in torch_layers.items():
        layer = keras_layers[name]
        if isinstance(module, torch.nn.BatchNorm2d):
            _check_batch_norm(module, layer)
        if to_keras:
            arrays = _torch_to_keras_arrays(module)
            expected = [tuple(w.shape) for w in layer.get_weights()]
            if [a.shape for a in arrays] != expected:
                raise ValueError(f"layer {name}: torch gives shapes {[a.shape for a in arrays]}, "
                                 f"Keras wants {expected}")
            layer.set_weights(arrays)
            continue
        arrays = _keras_to_torch_arrays(module, layer.get_weights())
        targets = [module.weight] + ([module.bias] if module.bias is not None else [])
        if isinstance(module, torch.nn.BatchNorm2d):
            targets += [module.running_mean, module.running_var]
        if [tuple(t.shape) for t in targets] != [a.shape for a in arrays]:
            raise ValueError(f"layer {name}: Keras gives shapes {[a.shape for a in arrays]}, "
                             f"torch wants {[tuple(t.shape) for t in targets]}")
        with torch.no_grad():
            for target, array in zip(targets, arrays):
                target.copy_(torch.from_numpy(np.ascontiguousarray(array)))
    return dst
