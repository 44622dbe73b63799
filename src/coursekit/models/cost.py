"""What a model costs in arithmetic, beside what it costs in parameters (:func:`coursekit.models.count_params`).

Chapter 6 (Comparing the architectures) counts the multiply-adds each model
does on one slice, to explain why the model with the most parameters is not
the slowest.
"""

from __future__ import annotations

import numpy as np

from .registry import probe_forward

__all__ = ["count_multiply_adds"]


def count_multiply_adds(model, input_shape) -> int:
    """Multiply-adds of every convolution of a torch ``model`` on one input of ``input_shape`` (``C×H×W``).

    A convolution costs one multiply-add per output value per input value it
    reads: ``outputs × in_channels / groups × kernel area``; a transposed
    convolution the same per *input* value.  Batch norm, activations and pooling
    are left out: they are cheap in arithmetic, though not always in time.
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"count_multiply_adds counts a torch model's convolutions; got {type(model).__name__} "
                        "(build the model with framework 'torch')")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape is one input's channels, height and width (C, H, W); got {tuple(input_shape)}")
    total = 0

    def convolution(module, inputs, output):
        nonlocal total
        per_value = module.in_channels // module.groups * int(np.prod(module.kernel_size))
        total += output.numel() * per_value

    def transposed(module, inputs, output):
        nonlocal total
        total += inputs[0].numel() * module.out_channels // module.groups * int(np.prod(module.kernel_size))

    hooks = []
    for module in model.modules():
        if isinstance(module, torch.nn.ConvTranspose2d):
            hooks.append(module.register_forward_hook(transposed))
        elif isinstance(module, torch.nn.Conv2d):
            hooks.append(module.register_forward_hook(convolution))
    probe_forward(model, hooks, *input_shape)  # removes the hooks
    return int(total)
