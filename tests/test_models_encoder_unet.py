import sys
import types

import numpy as np
import pytest
import torch

from coursekit.models import build, count_params, transfer_weights

MODELS = ["mobilenet_unet", "resnet34_unet"]
FRAMEWORKS = ["torch", "keras"]
NARROW = 0.25


def run(model, framework: str, x: np.ndarray) -> np.ndarray:
    """Eval-mode output, channels last, of a model on channels-last input ``x``."""
    if framework == "torch":
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    return np.asarray(model(x, training=False))


# --- sizes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name", MODELS)
def test_output_has_the_input_size(name, framework):
    model = build(name, framework, num_classes=3, width_multiplier=NARROW)
    for height, width in [(64, 64), (96, 96), (128, 128), (64, 96)]:
        out = run(model, framework, np.zeros((1, height, width, 3), np.float32))
        assert out.shape == (1, height, width, 3)


@pytest.mark.parametrize("name", MODELS)
def test_sizes_not_divisible_by_32_are_refused_clearly(name):
    t = build(name, "torch", num_classes=2, width_multiplier=NARROW)
    with pytest.raises(ValueError, match="divisible by 32"):
        t(torch.zeros(1, 3, 70, 70))
    k = build(name, "keras", num_classes=2, width_multiplier=NARROW)
    with pytest.raises(ValueError, match="divisible by 32"):
        k(np.zeros((1, 70, 64, 3), np.float32))
    with pytest.raises(ValueError, match="divisible by 32"):
        build(name, "keras", num_classes=2, width_multiplier=NARROW, input_size=(64, 70))


# --- parameter counts ----------------------------------------------------------------------------

RESNET34_WITHOUT_FC = 21_284_672  # torchvision's resnet34 (21,797,672) minus fc (512 × 1000 + 1000)
MOBILENET_V1_NO_TOP = 3_206_976   # keras.applications.MobileNet(alpha=1.0, include_top=False), trainable


def conv_bn(in_channels: int, out_channels: int, kernel: int) -> int:
    """Weights of a convolution without bias followed by batch norm (scale and shift)."""
    return in_channels * out_channels * kernel * kernel + 2 * out_channels


def resnet34_unet_params(classes: int) -> int:
    def decoder_block(c_in, c_out):
        middle = c_in // 4
        return conv_bn(c_in, middle, 1) + conv_bn(middle, middle, 3) + conv_bn(middle, c_out, 1)

    blocks = decoder_block(512, 256) + decoder_block(256, 128) + decoder_block(128, 64) + decoder_block(64, 64)
    head = (64 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * classes * 4 + classes)
    return RESNET34_WITHOUT_FC + blocks + head


def mobilenet_unet_params(classes: int) -> int:
    stages = (conv_bn(1024 + 512, 512, 3) + conv_bn(512 + 256, 256, 3) + conv_bn(256 + 128, 128, 3)
              + conv_bn(128 + 64, 64, 3) + conv_bn(64, 32, 3))
    return MOBILENET_V1_NO_TOP + stages + 32 * classes * 9 + classes


EXPECTED = {("resnet34_unet", 21): 21_643_989, ("resnet34_unet", 1): 21_641_409,
            ("mobilenet_unet", 21): 12_633_781, ("mobilenet_unet", 1): 12_628_001}


@pytest.mark.parametrize("name, classes", sorted(EXPECTED))
def test_full_size_parameter_counts(name, classes):
    formula = resnet34_unet_params if name == "resnet34_unet" else mobilenet_unet_params
    t = build(name, "torch", num_classes=classes)
    k = build(name, "keras", num_classes=classes)
    assert count_params(t) == count_params(k) == formula(classes) == EXPECTED[name, classes]
    assert count_params(t, trainable_only=False) == count_params(k, trainable_only=False)


@pytest.mark.parametrize("name", MODELS)
def test_narrow_models_have_equal_trainable_counts_in_both_frameworks(name):
    t = build(name, "torch", in_channels=1, num_classes=4, width_multiplier=NARROW)
    k = build(name, "keras", in_channels=1, num_classes=4, width_multiplier=NARROW)
    assert count_params(t) == count_params(k) < EXPECTED[name, 1] / 10


# --- the two frameworks compute the same function ------------------------------------------------

def trained_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """A few training-mode passes give batch norm non-trivial statistics, so they are compared too."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 3, 64, 64) * 2 + 1)
    return model


@pytest.mark.parametrize("direction", ["torch_to_keras", "keras_to_torch"])
@pytest.mark.parametrize("name", MODELS)
def test_transfer_weights_makes_the_twins_compute_the_same_function(name, direction):
    t = trained_statistics(build(name, "torch", num_classes=3, width_multiplier=NARROW))
    k = build(name, "keras", num_classes=3, width_multiplier=NARROW)
    transfer_weights(t, k)
    if direction == "keras_to_torch":
        t = transfer_weights(k, build(name, "torch", num_classes=3, width_multiplier=NARROW))
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    out_t, out_k = run(t, "torch", x), run(k, "keras", x)
    assert np.abs(out_t).max() > 1e-2  # a real function, not zeros
    np.testing.assert_allclose(out_t, out_k, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_the_first_layer(name):
    t = build(name, "torch", num_classes=3, width_multiplier=NARROW)
    t(torch.randn(2, 3, 64, 64)).sum().backward()
    assert t.encoder.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_heads_turn_logits_into_probabilities(framework):
    x = np.random.default_rng(1).normal(size=(1, 64, 64, 3)).astype(np.float32)
    softmax = run(build("mobilenet_unet", framework, num_classes=3, width_multiplier=NARROW, head="softmax"),
                  framework, x)
    np.testing.assert_allclose(softmax.sum(axis=-1), 1.0, atol=1e-5)
    sigmoid = run(build("resnet34_unet", framework, num_classes=1, width_multiplier=NARROW, head="sigmoid"),
                  framework, x)
    assert ((sigmoid > 0) & (sigmoid < 1)).all()
    with pytest.raises(ValueError, match="head"):
        build("resnet34_unet", framework, num_classes=1, head="relu")


# --- backbones and pretrained weights ------------------------------------------------------------

def torchvision_resnet34_keys() -> list[str]:
    """torchvision's resnet34 state-dict keys without fc, written from its architecture."""
    def batch_norm(prefix):
        return [f"{prefix}.{s}" for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]

    keys = ["conv1.weight"] + batch_norm("bn1")
    for stage, blocks in enumerate([3, 4, 6, 3], start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            keys += [f"{prefix}.conv1.weight"] + batch_norm(f"{prefix}.bn1")
            keys += [f"{prefix}.conv2.weight"] + batch_norm(f"{prefix}.bn2")
            if stage > 1 and block == 0:
                keys += [f"{prefix}.downsample.0.weight"] + batch_norm(f"{prefix}.downsample.1")
    return keys


def test_torch_resnet34_has_torchvisions_state_dict_keys_and_size():
    from coursekit.models.torch.resnet import resnet34

    backbone = resnet34()
    assert list(backbone.state_dict()) == torchvision_resnet34_keys()
    assert count_params(backbone) == RESNET34_WITHOUT_FC
    shapes = {key: tuple(value.shape) for key, value in backbone.state_dict().items()}
    assert shapes["conv1.weight"] == (64, 3, 7, 7)
    assert shapes["layer4.0.downsample.0.weight"] == (512, 256, 1, 1)


def test_torch_pretrained_resnet34_loads_torchvisions_weights_without_fc(monkeypatch):
    from coursekit.models.torch.resnet import ResNet34

    imagenet = ResNet34().state_dict()
    imagenet.update({"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    imagenet["conv1.weight"] = torch.full((64, 3, 7, 7), 0.5)
    weights = types.SimpleNamespace(IMAGENET1K_V1=types.SimpleNamespace(get_state_dict=lambda **_: imagenet))
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    monkeypatch.setitem(sys.modules, "torchvision.models", types.SimpleNamespace(ResNet34_Weights=weights))
    model = build("resnet34_unet", "torch", num_classes=2, pretrained=True)
    assert torch.equal(model.encoder.conv1.weight, imagenet["conv1.weight"])
    with pytest.raises(ValueError, match="width_multiplier=1.0"):
        build("resnet34_unet", "torch", num_classes=2, width_multiplier=NARROW, pretrained=True)


def test_torch_pretrained_resnet34_without_torchvision_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes the import fail even where it is installed
    with pytest.raises(ImportError, match="install torchvision"):
        build("resnet34_unet", "torch", num_classes=2, pretrained=True)


def test_frameworks_without_imagenet_weights_explain_where_to_get_them():
    with pytest.raises(ValueError, match="torchvision has no MobileNet v1"):
        build("mobilenet_unet", "torch", num_classes=2, pretrained=True)
    with pytest.raises(ValueError, match="keras.applications has no ResNet34"):
        build("resnet34_unet", "keras", num_classes=2, pretrained=True)


def test_keras_mobilenet_has_the_application_layers_so_imagenet_weights_copy_by_name():
    import keras

    from coursekit.models.keras.mobilenet import mobilenet_v1

    application = keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=NARROW,
                                               include_top=False, weights=None)
    ours = mobilenet_v1(width_multiplier=NARROW)
    shapes = {layer.name: [w.shape for w in layer.weights] for layer in application.layers if layer.weights}
    assert shapes == {layer.name: [w.shape for w in layer.weights] for layer in ours.layers if layer.weights}
    assert len(shapes) == 2 + 13 * 4


def test_keras_pretrained_mobilenet_unet_copies_the_application_weights(monkeypatch):
    import keras

    application = keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=NARROW,
                                               include_top=False, weights=None)
    monkeypatch.setattr(keras.applications, "MobileNet", lambda **_: application)  # no download in tests
    model = build("mobilenet_unet", "keras", num_classes=2, width_multiplier=NARROW, pretrained=True)
    for name in ["conv1", "conv_dw_7", "conv_pw_13"]:
        for ours, theirs in zip(model.get_layer(f"encoder_{name}").get_weights(),
                                application.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ValueError, match="3 input channels"):
        build("mobilenet_unet", "keras", in_channels=1, num_classes=2, width_multiplier=NARROW, pretrained=True)
