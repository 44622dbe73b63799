"""One constructor for every model, in either framework."""

from __future__ import annotations

import importlib
import sys

import numpy as np

# name -> (torch "module:callable", keras "module:callable")
_MODELS = {
    "tiny_fcn": ("coursekit.models.torch.tiny_fcn:tiny_fcn", "coursekit.models.keras.tiny_fcn:tiny_fcn"),
}
for _name, _module in [("fcn32s", "fcn"), ("fcn16s", "fcn"), ("fcn8s", "fcn"),
                       ("segnet", "segnet"), ("vgg_segnet", "segnet"),
                       ("unet", "unet"), ("unet_bn", "unet"), ("unet_valid", "unet"),
                       ("mobilenet_unet", "encoder_unet"), ("resnet34_unet", "encoder_unet")]:
    _MODELS[_name] = (f"coursekit.models.torch.{_module}:{_name}", f"coursekit.models.keras.{_module}:{_name}")


# ``build(..., width=w)`` sets every model's width the same way: ``w`` channels in
# its first stage.  Each model spells this in its own terms: (argument, channels
# of the first stage at the argument's value 1).
_WIDTH_ARGUMENT = {
    "tiny_fcn": ("width", 1),
    "unet": ("base_width", 1), "unet_bn": ("base_width", 1), "unet_valid": ("base_width", 1),
    "mobilenet_unet": ("width_multiplier", 32),
}
for _name in ("fcn32s", "fcn16s", "fcn8s", "segnet", "vgg_segnet", "resnet34_unet"):
    _WIDTH_ARGUMENT[_name] = ("width_multiplier", 64)


def names() -> list[str]:
    """The names :func:`build` accepts."""
    return sorted(_MODELS)


def build(name: str, framework: str = "torch", *, in_channels: int = 3, num_classes: int, **config):
    """Build model ``name`` as a ``torch.nn.Module`` or a ``keras.Model``; it returns logits.

    ``width`` (the channels of the first stage, as in the profiles' table) works
    for every model; each model's own setting (``base_width``,
    ``width_multiplier``) may be given instead.  Other keywords go to the model.

    Every constructor has the same shape in both frameworks:
    ``(in_channels, num_classes, *, <its widths>, head=None, ..., input_size=None)``.
    ``input_size`` (height, width) fixes a Keras model's input shape; in both
    frameworks it is checked against the model's size rule when the model is
    built, so an unfit size fails here and not deep inside the first batch.

    **Pretrained weights.**  FCN-32s/16s/8s, SegNet, VGG-SegNet, MobileNet-U-Net
    and ResNet34-U-Net take ``pretrained``: ``True`` downloads ImageNet weights
    for the encoder (where the framework has them; the table is in
    ``coursekit.models.pretrained``), a path (str or ``os.PathLike``) reads them
    from a local file in the framework's format (a ``torch.save`` state dict under
    torchvision's names; a keras.applications ``.h5`` / ``.weights.h5``), and
    ``write_fake_imagenet_weights`` writes such a file for a run without network.
    The input is the course's usual one either way, RGB in [0, 1] (N×C×H×W in
    torch, N×H×W×C in Keras): a pretrained model converts it first, in a layer
    without parameters called ``imagenet_input`` (``encoder.imagenet_input`` in
    the U-Nets), to what its weights were trained on: torchvision's
    ``(x - mean) / std`` with ImageNet's mean (0.485, 0.456, 0.406) and std
    (0.229, 0.224, 0.225) ("torch"), keras.applications' VGG16 ``x * 255`` in BGR
    minus (103.939, 116.779, 123.68) ("caffe"), its MobileNet ``x * 2 - 1`` ("tf").
    ``imagenet_input="torch" | "caffe" | "tf"`` gives a model that conversion
    without loading weights: the twin that receives a pretrained model's weights
    through ``transfer_weights`` needs it.  A model built without either has no
    such layer and is unchanged.  In smoke mode (:mod:`coursekit.smoke`)
    ``pretrained=True`` reads a file of random weights from
    ``$COURSEKIT_PRETRAINED_DIR`` instead of downloading.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(names())}")
    if framework not in ("torch", "keras"):
        raise ValueError(f"framework must be 'torch' or 'keras', got {framework!r}")
    argument, unit = _WIDTH_ARGUMENT[name]
    if "width" in config and argument != "width":
        width = config.pop("width")
        config[argument] = width if unit == 1 else width / unit
    target = _MODELS[name][0 if framework == "torch" else 1]
    module, attribute = target.split(":")
    constructor = getattr(importlib.import_module(module), attribute)
    from .. import smoke

    fake = smoke.pretrained_file(name, framework, config)  # smoke mode: local weights instead of a download
    if fake is None:
        return constructor(in_channels=in_channels, num_classes=num_classes, **config)
    try:
        model = constructor(in_channels=in_channels, num_classes=num_classes, **{**config, "pretrained": fake})
    except Exception as error:  # recorded, so that a chapter that falls back quietly still fails its smoke run
        smoke.record("pretrained", model=name, framework=framework, path=fake, ok=False,
                     error=f"{type(error).__name__}: {error}"[:300])
        raise
    smoke.record("pretrained", model=name, framework=framework, path=fake, ok=True)
    return model


def _is_torch(model) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _is_keras(model) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def framework_of(model) -> str:
    """``"torch"`` or ``"keras"``: the framework ``model`` belongs to, without importing either."""
    if _is_torch(model):
        return "torch"
    if _is_keras(model):
        return "keras"
    raise TypeError(f"expected a torch.nn.Module or a keras.Model, got {type(model).__name__}")


def forward(model, images) -> np.ndarray:
    """The model's class scores for ``images``, in eval mode, as NumPy in the model's own layout.

    ``images`` is ``N×H×W×C`` as all of coursekit's data; the scores come back
    ``N×classes×H×W`` from a torch model and ``N×H×W×classes`` from a Keras one, so
    that a chapter can set twins side by side with only the framework it has
    (chapter 1 introduces it, where the two layouts are first compared).
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be N×H×W×C, got shape {images.shape}")
    if _is_torch(model):
        import torch

        from .torch.inference import eval_mode

        device = next(model.parameters()).device
        with eval_mode(model):
            return model(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)).cpu().numpy()
    return np.asarray(model(images, training=False))


def count_params(model, trainable_only: bool = True) -> int:
    """Number of parameters; batch-norm running statistics are not trainable in either framework."""
    if _is_torch(model):
        params = [p for p in model.parameters() if p.requires_grad or not trainable_only]
        total = sum(p.numel() for p in params)
        if not trainable_only:
            total += sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
        return int(total)
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(int(w.numpy().size) for w in weights))


class Summary:
    """Layer, output shape (H×W×C in both frameworks) and parameters of every layer that has weights."""

    def __init__(self, rows: list[tuple[str, str, int]], total: int):
        self.rows, self.total = rows, total

    def __str__(self) -> str:
        width = max([len(r[0]) for r in self.rows] + [5])
        lines = [f"{'layer':<{width}}  {'output shape':>16}  {'parameters':>12}"]
        lines += [f"{n:<{width}}  {s:>16}  {p:>12,}" for n, s, p in self.rows]
        lines.append(f"{'total':<{width}}  {'':>16}  {self.total:>12,}")
        return "\n".join(lines)

    __repr__ = __str__


def _shape_hwc(shape, channels_first: bool) -> str:
    dims = list(shape[1:])
    if channels_first and len(dims) == 3:
        dims = dims[1:] + dims[:1]
    return "×".join(str(int(d)) for d in dims)


def summary(model, input_size=(64, 64), in_channels: int = 3) -> Summary:
    """One table format for both frameworks: a row per layer with weights, in the order of the forward pass.

    Layers are named as in the Keras twin (the torch module path with ``_``),
    so the two frameworks' summaries of twin models are the same table.
    ``input_size`` is the (height, width) of the zeros run through the model.
    """
    height, width = input_size
    if _is_torch(model):
        return _torch_summary(model, height, width, in_channels)
    return _keras_summary(model, height, width, in_channels)


def probe_forward(model, hooks: list, in_channels: int, height: int, width: int) -> None:
    """Run one batch of zeros through a torch model in eval mode so its forward ``hooks`` record, then remove them.

    The model's training mode is restored, even when the pass fails.
    """
    import torch

    from .torch.inference import eval_mode

    try:
        with eval_mode(model):
            model(torch.zeros(1, in_channels, height, width, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()


def _torch_summary(model, height, width, in_channels) -> Summary:
    rows, hooks = [], []
    for name, module in model.named_modules():
        # running statistics count too, as Keras counts a batch norm's moving mean and variance
        own = sum(p.numel() for p in module.parameters(recurse=False))
        own += sum(b.numel() for n, b in module.named_buffers(recurse=False) if n != "num_batches_tracked")
        if own:
            hooks.append(module.register_forward_hook(
                lambda m, i, out, name=name, own=own: rows.append((name.replace(".", "_"),
                                                                    _shape_hwc(out.shape, True), own))))
    probe_forward(model, hooks, in_channels, height, width)
    return Summary(rows, count_params(model, trainable_only=False))


def _keras_summary(model, height, width, in_channels) -> Summary:
    import keras
    import numpy as np

    from .transfer import _keras_layers

    layers = list(_keras_layers(model).values())
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe([np.zeros((1, height, width, in_channels), np.float32)], training=False)
    rows = [(layer.name, _shape_hwc(out.shape, False), int(sum(np.prod(w.shape) for w in layer.weights)))
            for layer, out in zip(layers, outputs)]
    return Summary(rows, count_params(model, trainable_only=False))
