"""What a model costs in arithmetic and memory, beside its parameters (:func:`coursekit.models.count_params`).

Chapter 7 (Comparing the architectures) counts the multiply-adds each model
does on one slice, to explain why the model with the most parameters is not
the slowest; chapter 3 (SegNet) measures what each decoder keeps from its
encoder (:func:`decoder_memory`).
"""

from __future__ import annotations

import numpy as np

from .registry import _is_keras, _is_torch, probe_forward

__all__ = ["count_multiply_adds", "decoder_memory", "gradient_reach"]


def count_multiply_adds(model, input_shape) -> int:
    """Multiply-adds of every convolution of ``model`` (torch or Keras) on one input of ``input_shape`` (``C×H×W``).

    A convolution costs one multiply-add per output value per input value it
    reads: ``outputs × in_channels / groups × kernel area``; a transposed
    convolution the same per *input* value.  Batch norm, activations and pooling
    are left out: they are cheap in arithmetic, though not always in time.
    Twin models give the same count in both frameworks.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape is one input's channels, height and width (C, H, W); got {tuple(input_shape)}")
    if _is_torch(model):
        return _torch_multiply_adds(model, input_shape)
    if _is_keras(model):
        return _keras_multiply_adds(model, input_shape)
    raise TypeError(f"count_multiply_adds counts a torch or Keras model's convolutions; got {type(model).__name__}")


def _torch_multiply_adds(model, input_shape) -> int:
    import torch

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


def _sublayers(layer):
    """Every layer inside ``layer``, nested models included, depth first."""
    for inner in getattr(layer, "layers", None) or []:
        yield inner
        yield from _sublayers(inner)


def _keras_multiply_adds(model, input_shape) -> int:
    import keras

    channels, height, width = input_shape
    total = 0

    def counting(layer, call):
        """``layer.call`` that adds the layer's multiply-adds, read from its real input and output shapes."""
        def counted(inputs, *args, **kwargs):
            nonlocal total
            output = call(inputs, *args, **kwargs)
            area = int(np.prod(layer.kernel_size))
            if isinstance(layer, keras.layers.Conv2DTranspose):
                total += int(np.prod(inputs.shape[1:])) * layer.filters // getattr(layer, "groups", 1) * area
            elif isinstance(layer, keras.layers.DepthwiseConv2D):
                total += int(np.prod(output.shape[1:])) * area
            else:
                total += int(np.prod(output.shape[1:])) * (inputs.shape[-1] // layer.groups) * area
            return output
        return counted

    # Keras has no forward hooks: each convolution's call is wrapped on the instance for one pass, then unwrapped
    convolutions = [layer for layer in _sublayers(model)
                    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose,
                                          keras.layers.DepthwiseConv2D))]
    for layer in convolutions:
        layer.call = counting(layer, layer.call)
    try:
        model(np.zeros((1, height, width, channels), np.float32), training=False)
    finally:
        for layer in convolutions:
            del layer.call  # the class's own call again
    return int(total)


def gradient_reach(model, size: int, in_channels: int = 1, class_index: int = 1, seed: int = 0) -> np.ndarray:
    """The input pixels that reach the centre pixel's ``class_index`` score, as a ``size``×``size`` boolean mask.

    Measured, not computed from the layers: the score of the centre output pixel
    is differentiated with respect to a random input (drawn from NumPy with
    ``seed``), and a pixel reaches it where the gradient is not zero.  Works for
    torch and Keras models alike, in eval mode.  Chapter 6 compares the extent
    with the size of the objects it segments.  Measure a trained model: at random
    weights, ReLUs that happen to be off for the probe cut paths that training opens.
    """
    image = np.random.default_rng(seed).normal(size=(1, size, size, in_channels)).astype(np.float32)
    centre = size // 2
    if _is_torch(model):
        import torch

        probe = torch.from_numpy(image).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
        was_training = model.training
        model.eval()
        try:
            model(probe.to(next(model.parameters()).device))[0, class_index, centre, centre].backward()
        finally:
            model.train(was_training)
        gradient = probe.grad[0].abs().sum(0).numpy()
    elif _is_keras(model):
        import tensorflow as tf

        probe = tf.constant(image)
        with tf.GradientTape() as tape:
            tape.watch(probe)
            score = model(probe, training=False)[0, centre, centre, class_index]
        gradient = np.abs(tape.gradient(score, probe).numpy()[0]).sum(-1)
    else:
        raise TypeError(f"gradient_reach measures a torch or Keras model; got {type(model).__name__}")
    return gradient > 0


def decoder_memory(model, images) -> dict[str, list[int]]:
    """What the decoder of a SegNet, an FCN-8s or a U-Net keeps from its encoder, in bytes per tensor.

    ``images`` (``N×H×W×C`` NumPy) run through ``model`` (torch or Keras) in eval
    mode, and every tensor the decoder will need is caught as the encoder makes
    it: ``{"indices": [...], "pooled maps": [...]}`` for SegNet (its pooling
    indices, and the maps each pooling receives: what it would keep if it passed
    whole maps), ``{"score maps": [...]}`` for FCN-8s (pool3's and pool4's class
    scores), ``{"skips": [...]}`` for U-Net (each encoder level's output).  The
    sizes are those the framework stores (indices as 64-bit integers in both).
    Chapter 3 compares them ("What the indices save").
    """
    images = np.asarray(images, np.float32)
    if _is_torch(model):
        return _torch_decoder_memory(model, images)
    if _is_keras(model):
        return _keras_decoder_memory(model, images)
    raise TypeError(f"decoder_memory measures a torch or Keras model; got {type(model).__name__}")


def _torch_decoder_memory(model, images) -> dict[str, list[int]]:
    import torch
    from torch import nn

    store, hooks = {}, []

    def catch(kind, pick):
        def hook(module, inputs, output):  # returns None: the output is left as it is
            tensor = pick(inputs, output)
            store.setdefault(kind, []).append(tensor.element_size() * tensor.nelement())
        return hook

    if hasattr(model, "score_pool3"):  # FCN-8s, in the order pool3, pool4 whatever order forward runs them in
        store["score maps"] = [0, 0]
        for position, layer in enumerate((model.score_pool3, model.score_pool4)):
            def hook(module, inputs, output, position=position):
                store["score maps"][position] = output.element_size() * output.nelement()
            hooks.append(layer.register_forward_hook(hook))
    elif isinstance(getattr(model, "encoder", None), nn.ModuleList):  # U-Net: each level's output is its skip
        for level in model.encoder:
            hooks.append(level.register_forward_hook(catch("skips", lambda i, o: o)))
    else:  # SegNet: the poolings that return their indices
        for layer in getattr(model, "features", []):
            if isinstance(layer, nn.MaxPool2d) and layer.return_indices:
                hooks.append(layer.register_forward_hook(catch("indices", lambda i, o: o[1])))
                hooks.append(layer.register_forward_hook(catch("pooled maps", lambda i, o: i[0])))
    if not hooks:
        raise TypeError(f"decoder_memory knows SegNet, FCN-8s and U-Net; {type(model).__name__} is none of them")
    try:
        with torch.no_grad():
            forward_images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
            was_training = model.training
            model.eval()
            try:
                model(forward_images.to(next(model.parameters()).device))
            finally:
                model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    return store


def _keras_decoder_memory(model, images) -> dict[str, list[int]]:
    import keras

    from .keras.segnet import MaxPoolingWithArgmax

    names = {layer.name for layer in model.layers}
    pools = [layer for layer in model.layers if isinstance(layer, MaxPoolingWithArgmax)]
    if "score_pool3" in names:
        kinds = {"score maps": [model.get_layer(n).output for n in ("score_pool3", "score_pool4")]}
    elif "encoder_0_pool" in names:  # U-Net: what each level pools is its skip
        levels = sorted((n for n in names if n.startswith("encoder_") and n.endswith("_pool")),
                        key=lambda n: int(n.split("_")[1]))
        kinds = {"skips": [model.get_layer(n).input for n in levels]}
    elif pools:
        kinds = {"indices": [p.output[1] for p in pools], "pooled maps": [p.input for p in pools]}
    else:
        raise TypeError(f"decoder_memory knows SegNet, FCN-8s and U-Net; {model.name} is none of them")
    tensors = [t for group in kinds.values() for t in group]
    outputs = iter(keras.Model(model.input, tensors)(images, training=False))  # a probe model returns them
    return {kind: [np.asarray(next(outputs)).nbytes for _ in group] for kind, group in kinds.items()}
