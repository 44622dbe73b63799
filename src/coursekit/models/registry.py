"""One constructor for every model, in either framework."""

from __future__ import annotations

import importlib
import sys

# name -> (torch "module:callable", keras "module:callable")
_MODELS = {
    "tiny_fcn": ("coursekit.models.torch.tiny_fcn:TinyFCN", "coursekit.models.keras.tiny_fcn:tiny_fcn"),
}
for _name, _module in [("fcn32s", "fcn"), ("fcn16s", "fcn"), ("fcn8s", "fcn"),
                       ("segnet", "segnet"), ("vgg_segnet", "segnet"),
                       ("unet", "unet"), ("unet_bn", "unet"), ("unet_valid", "unet"),
                       ("mobilenet_unet", "encoder_unet"), ("resnet34_unet", "encoder_unet")]:
    _MODELS[_name] = (f"coursekit.models.torch.{_module}:{_name}", f"coursekit.models.keras.{_module}:{_name}")


def names() -> list[str]:
    """The names :func:`build` accepts."""
    return sorted(_MODELS)


def build(name: str, framework: str = "torch", *, in_channels: int = 3, num_classes: int, **config):
    """Build model ``name`` as a ``torch.nn.Module`` or a ``keras.Model``; it returns logits."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(names())}")
    if framework not in ("torch", "keras"):
        raise ValueError(f"framework must be 'torch' or 'keras', got {framework!r}")
    target = _MODELS[name][0 if framework == "torch" else 1]
    module, attribute = target.split(":")
    constructor = getattr(importlib.import_module(module), attribute)
    return constructor(in_channels=in_channels, num_classes=num_classes, **config)


def count_params(model, trainable_only: bool = True) -> int:
    """Number of parameters; batch-norm running statistics are not trainable in either framework."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        params = [p for p in model.parameters() if p.requires_grad or not trainable_only]
        total = sum(p.numel() for p in params)
        if not trainable_only:
            total += sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
        return int(total)
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(int(w.numpy().size) for w in weights))
