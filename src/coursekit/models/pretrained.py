"""ImageNet weights files for a machine without network: what ``pretrained=<path>`` reads.

``build(name, framework, ..., pretrained=True)`` downloads ImageNet weights
(torchvision's in PyTorch, keras.applications' in Keras); ``pretrained=<path>``
reads the same weights from a local file in the framework's own format:

* torch: a state dict saved with ``torch.save`` under torchvision's key names,
  for example ``torch.save(torchvision.models.vgg16(weights="DEFAULT").state_dict(), "vgg16.pth")``;
* Keras: the ``.h5`` file keras.applications downloads (in ``~/.keras/models``),
  or a ``.weights.h5`` written by ``keras.applications.VGG16(...).save_weights``.

A missing file, a missing key or a shape that does not fit is an error naming
the file and the first key (or layer) at fault.  :func:`write_fake_imagenet_weights`
writes such a file with the real names and shapes and random values, so that a
full-size run without network (a smoke test of the full profile) goes through
the same loading, name mapping and input conversion as with the real weights.

Which weights each model loads, and the input they were trained on (see
``coursekit.models.common``):

==============================  =========  ==============================  ===========
model                           framework  weights                         input mode
==============================  =========  ==============================  ===========
fcn32s, fcn16s, fcn8s           torch      torchvision vgg16               "torch"
fcn32s, fcn16s, fcn8s           keras      keras.applications VGG16        "caffe"
segnet, vgg_segnet              torch      torchvision vgg16_bn            "torch"
resnet34_unet                   torch      torchvision resnet34            "torch"
mobilenet_unet                  keras      keras.applications MobileNet    "tf"
==============================  =========  ==============================  ===========

The other combinations have no ImageNet weights in their framework: build the
pretrained twin and copy its weights with ``transfer_weights`` into a model built
with the same ``imagenet_input``.
"""

from __future__ import annotations

from .common import MODEL_BACKBONE, WEIGHTS_INPUT


def imagenet_weights(arch: str, framework: str) -> str:
    """The backbone whose ImageNet weights ``arch`` (a backbone or a model name) loads in ``framework``."""
    backbone = MODEL_BACKBONE.get(arch, arch)
    if (backbone, framework) not in WEIGHTS_INPUT:
        known = ", ".join(f"{b} ({f})" for b, f in WEIGHTS_INPUT)
        raise ValueError(f"no ImageNet weights for {arch!r} in {framework!r}; there are: {known}")
    return backbone


def write_fake_imagenet_weights(arch: str, framework: str, path, *, alpha: float = 1.0, seed: int = 0) -> str:
    """Write an ImageNet weights file with the real names and shapes and random values; return its path.

    ``arch`` is a backbone ("vgg16", "vgg16_bn", "resnet34" in torch; "vgg16",
    "mobilenet" in Keras) or a model built on one ("fcn8s", "segnet",
    "resnet34_unet", "mobilenet_unet" ...).  The file is what
    ``build(..., pretrained=path)`` reads: a ``torch.save`` state dict under
    torchvision's keys, or a Keras ``.h5`` (the layout keras.applications
    downloads, with layer names) / ``.weights.h5`` (Keras 3's ``save_weights``).
    ``alpha`` is MobileNet's width (0.25, 0.5, 0.75 or 1.0).  The values are
    drawn from ``seed``: He-scaled kernels, positive batch-norm variances, so that
    activations stay finite through the network.  A full-size VGG16 file is
    about 550 MB.
    """
    backbone = imagenet_weights(arch, framework)
    if framework == "torch":
        from .torch.imagenet import write_fake_weights

        return write_fake_weights(backbone, path, seed=seed)
    from .keras.imagenet import write_fake_weights

    return write_fake_weights(backbone, path, alpha=alpha, seed=seed)
