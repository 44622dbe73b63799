"""Pretrained models: the input their weights expect, and weights loaded from a local file.

A model built with ImageNet weights takes the course's usual input (RGB in [0, 1]) and
converts it first, in an ``imagenet_input`` layer without parameters, to what the
weights were trained on.  ``pretrained=<path>`` loads the weights from a file written
by ``write_fake_imagenet_weights`` (real names and shapes, random values), so all of
this runs without network.  Full-size models are built one at a time and freed.
"""

import gc
import hashlib
import json
import re

import numpy as np
import pytest
import torch

from coursekit.models import build, count_params, summary, transfer_weights, write_fake_imagenet_weights

# What each weights' input convention computes, written out here from keras.applications' and
# torchvision's documentation rather than taken from coursekit
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def preprocess(images: np.ndarray, mode: str) -> np.ndarray:
    """RGB N×H×W×3 images in [0, 1], as the weights of ``mode`` were trained on them."""
    if mode == "torch":
        return (images - IMAGENET_MEAN) / IMAGENET_STD
    if mode == "caffe":
        return images[..., ::-1] * 255 - CAFFE_MEAN_BGR
    return images * 2 - 1


def images(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(1, height, width, 3)).astype(np.float32)


def run_torch(model, x_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))).numpy()


def free(*models) -> None:
    del models
    gc.collect()


# --- the conversion layer -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["torch", "caffe", "tf"])
def test_imagenet_input_computes_what_each_weights_expect_and_has_no_weights(mode):
    import keras

    from coursekit.models.keras.imagenet import ImageNetInput as KerasImageNetInput
    from coursekit.models.torch.imagenet import ImageNetInput as TorchImageNetInput

    x = images(5, 7)
    expected = preprocess(x, mode)
    # keras.applications' own preprocessing takes [0, 255] RGB: a second, independent reference
    reference = keras.applications.imagenet_utils.preprocess_input(x * 255, mode=mode, data_format="channels_last")
    np.testing.assert_allclose(expected, reference, rtol=1e-5, atol=1e-4)
    layer = KerasImageNetInput(mode)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-4)
    assert layer.weights == [] and KerasImageNetInput.from_config(layer.get_config()).mode == mode
    module = TorchImageNetInput(mode)
    out = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    assert list(module.parameters()) == [] and list(module.buffers()) == [] and module.state_dict() == {}


def test_imagenet_input_refuses_unknown_modes_and_other_channel_counts():
    with pytest.raises(ValueError, match="imagenet_input must be None or one of"):
        build("fcn8s", "torch", num_classes=3, width=4, imagenet_input="imagenet")
    for framework in ("torch", "keras"):
        with pytest.raises(ValueError, match="needs in_channels=3"):
            build("resnet34_unet", framework, in_channels=1, num_classes=3, width=4, imagenet_input="torch")


# --- models without pretrained weights are unchanged --------------------------------------------

# Computed from the code before the conversion existed (width 4, 3 classes, seed 0): trainable and all
# parameters (the same in both frameworks), a digest of the torch state-dict keys and shapes, module and
# buffer names, a digest of the Keras layer names and types and weight paths and shapes, and the sum
# of |logits| of each framework for ``images(*SIZES[name], seed=1)``.
UNCHANGED = {
    "fcn32s": ((526055, 562919), "32d854fa27ad68a5", "f17a53d72139a98f", 76.63186645507812, 0.3088744878768921),
    "fcn16s": ((526298, 535514), "1d05af15c66264da", "eae01fcf302dbe01", 513.7821655273438, 10.352961540222168),
    "fcn8s": ((526493, 528797), "8fa33b922f24d58c", "91b721e1708fa79a", 249.41241455078125, 81.01522827148438),
    "segnet": ((116619, 117611), "568a623371b9e3b6", "5ff0e7e665064845", 573.035888671875, 0.0005783727392554283),
    "vgg_segnet": ((116529, 117527), "aac9fdab28ce6281", "7d6352f5025cd2ca", 2746.791015625, 0.027793128043413162),
    "mobilenet_unet": ((205007, 207991), "ccf313fc905e8c17", "2069217283666638", 1463.77099609375, 157.6240234375),
    "resnet34_unet": ((86232, 87420), "e406e6f077739d01", "93d5ecb33573e27c", 1905.690185546875, 0.9304514527320862),
}
SIZES = {"fcn32s": (40, 36), "fcn16s": (40, 36), "fcn8s": (40, 36), "segnet": (32, 64), "vgg_segnet": (32, 64),
         "mobilenet_unet": (64, 64), "resnet34_unet": (64, 64)}


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", list(UNCHANGED))
def test_models_without_pretrained_weights_are_unchanged(name):
    import keras

    counts, torch_digest, keras_digest, torch_sum, keras_sum = UNCHANGED[name]
    x = images(*SIZES[name], seed=1)
    torch.manual_seed(0)
    t = build(name, "torch", num_classes=3, width=4)
    keras.utils.set_random_seed(0)
    k = build(name, "keras", num_classes=3, width=4)
    assert (count_params(t), count_params(t, trainable_only=False)) == counts
    assert (count_params(k), count_params(k, trainable_only=False)) == counts
    names = [[[key, list(v.shape)] for key, v in t.state_dict().items()], [n for n, _ in t.named_modules()],
             [n for n, _ in t.named_buffers()]]
    assert digest(names) == torch_digest, names[1]
    layers = [[[layer.name, type(layer).__name__] for layer in k.layers], [[v.path, list(v.shape)] for v in k.weights]]
    assert digest(layers) == keras_digest, layers[0]
    assert not any("imagenet" in n for n in names[1]) and not any("imagenet" in n for n, _ in layers[0])
    np.testing.assert_allclose(np.abs(run_torch(t, x)).sum(), torch_sum, rtol=1e-3)
    np.testing.assert_allclose(np.abs(np.asarray(k(x, training=False))).sum(), keras_sum, rtol=1e-3)


@pytest.mark.parametrize("name, mode", [("fcn8s", "caffe"), ("segnet", "torch"), ("vgg_segnet", "torch"),
                                        ("mobilenet_unet", "tf"), ("resnet34_unet", "torch")])
def test_the_conversion_adds_no_parameters_in_either_framework(name, mode):
    plain, plain_keras = build(name, "torch", num_classes=3, width=4), build(name, "keras", num_classes=3, width=4)
    t = build(name, "torch", num_classes=3, width=4, imagenet_input=mode)
    k = build(name, "keras", num_classes=3, width=4, imagenet_input=mode)
    counts = (count_params(plain), count_params(plain, trainable_only=False))
    assert (count_params(t), count_params(t, trainable_only=False)) == counts
    assert (count_params(k), count_params(k, trainable_only=False)) == counts
    assert list(t.state_dict()) == list(plain.state_dict())
    assert [w.path for w in k.weights] == [w.path for w in plain_keras.weights]
    # no row of its own in the layer table, in either framework
    assert str(summary(t, SIZES[name])) == str(summary(plain, SIZES[name]))
    assert str(summary(k, SIZES[name])) == str(summary(plain_keras, SIZES[name]))


# --- weights from a local file: torch -----------------------------------------------------------


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("imagenet_weights")


@pytest.fixture(scope="module")
def torch_vgg16_file(weights_dir):
    return write_fake_imagenet_weights("vgg16", "torch", weights_dir / "vgg16.pth", seed=1)


@pytest.fixture(scope="module")
def torch_resnet34_file(weights_dir):
    return write_fake_imagenet_weights("resnet34_unet", "torch", weights_dir / "resnet34.pth", seed=2)


def test_fake_torch_files_have_torchvisions_keys_and_parameter_counts(torch_vgg16_file, torch_resnet34_file,
                                                                       weights_dir):
    def parameters(state):  # torchvision's published counts leave out batch-norm statistics
        return sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var",
                                                                          "num_batches_tracked")))

    vgg16 = torch.load(torch_vgg16_file, weights_only=True)
    assert parameters(vgg16) == 138_357_544 and len(vgg16) == 32
    assert vgg16["classifier.0.weight"].shape == (4096, 25088) and vgg16["features.28.bias"].shape == (512,)
    free(vgg16)
    resnet34 = torch.load(torch_resnet34_file, weights_only=True)
    assert parameters(resnet34) == 21_797_672 and resnet34["fc.weight"].shape == (1000, 512)
    assert resnet34["bn1.running_var"].min() > 0
    vgg16_bn = torch.load(write_fake_imagenet_weights("segnet", "torch", weights_dir / "vgg16_bn.pth"),
                          weights_only=True)
    assert parameters(vgg16_bn) == 138_365_992 and "features.41.running_var" in vgg16_bn


def test_torch_fcn8s_loads_a_weights_file_and_converts_its_input_first(torch_vgg16_file):
    state = torch.load(torch_vgg16_file, weights_only=True)
    model = build("fcn8s", "torch", num_classes=21, pretrained=torch_vgg16_file)
    for key in ("features.0.weight", "features.0.bias", "features.28.weight"):
        assert torch.equal(model.state_dict()[key], state[key])
    assert torch.equal(model.fc6.weight, state["classifier.0.weight"].view(4096, 512, 7, 7))
    assert torch.equal(model.fc7.bias, state["classifier.3.bias"])
    free(state)
    assert model.imagenet_input.mode == "torch"
    x = images(40, 36)  # not a multiple of 32: the model pads, after converting
    converted = run_torch(model, x)
    model.imagenet_input = None  # the same weights without the conversion, fed the converted input
    np.testing.assert_allclose(converted, run_torch(model, preprocess(x, "torch")), rtol=1e-4, atol=1e-4)
    assert not np.allclose(converted, run_torch(model, x), atol=1e-2)
    free(model)


@pytest.mark.parametrize("name", ["segnet", "vgg_segnet"])
def test_torch_segnets_load_vgg16_bn_from_a_file_and_convert_their_input(name, weights_dir):
    path = weights_dir / "vgg16_bn.pth"
    if not path.exists():
        write_fake_imagenet_weights("vgg16_bn", "torch", path)
    state = torch.load(path, weights_only=True)
    model = build(name, "torch", num_classes=5, pretrained=str(path))
    for key in ("0.weight", "1.running_var", "41.bias"):
        assert torch.equal(model.features.state_dict()[key], state[f"features.{key}"])
    x = images(32, 64)
    converted = run_torch(model, x)
    model.imagenet_input = None
    np.testing.assert_allclose(converted, run_torch(model, preprocess(x, "torch")), rtol=1e-4, atol=1e-4)


def test_torch_resnet34_unet_loads_a_file_and_hands_weights_and_conversion_to_keras(torch_resnet34_file):
    state = torch.load(torch_resnet34_file, weights_only=True)
    model = build("resnet34_unet", "torch", num_classes=2, pretrained=torch_resnet34_file)
    assert torch.equal(model.encoder.layer4[2].bn2.running_mean, state["layer4.2.bn2.running_mean"])
    assert torch.equal(model.encoder.conv1.weight, state["conv1.weight"])
    assert model.encoder.imagenet_input.mode == "torch"
    x = images(64, 64)
    converted = run_torch(model, x)
    model.encoder.imagenet_input = None
    np.testing.assert_allclose(converted, run_torch(model, preprocess(x, "torch")), rtol=1e-4, atol=1e-4)
    model = build("resnet34_unet", "torch", num_classes=2, pretrained=torch_resnet34_file)
    # the Keras twin must make the same conversion, or the weights would see another input
    with pytest.raises(ValueError, match="build the Keras model with imagenet_input='torch'"):
        transfer_weights(model, build("resnet34_unet", "keras", num_classes=2))
    twin = transfer_weights(model, build("resnet34_unet", "keras", num_classes=2, imagenet_input="torch"))
    assert twin.get_layer("encoder_imagenet_input").mode == "torch"
    np.testing.assert_allclose(np.asarray(twin(x, training=False)), run_torch(model, x).transpose(0, 2, 3, 1),
                               rtol=1e-3, atol=1e-3)


# --- weights from a local file: Keras -----------------------------------------------------------


def test_keras_fcn8s_loads_the_applications_h5_file_and_converts_its_input_first(weights_dir):
    import h5py

    path = write_fake_imagenet_weights("fcn8s", "keras", weights_dir / "vgg16.h5", seed=4)
    with h5py.File(path) as file:  # the layout keras.applications downloads: a group per layer name
        assert [n.decode() for n in file.attrs["layer_names"]][1:3] == ["block1_conv1", "block1_conv2"]
        kernel = np.asarray(file["block1_conv1"]["block1_conv1/kernel:0"])
        fc1 = np.asarray(file["fc1"]["fc1/kernel:0"])
    model = build("fcn8s", "keras", num_classes=21, pretrained=path)
    np.testing.assert_array_equal(model.get_layer("features_0").get_weights()[0], kernel)
    np.testing.assert_array_equal(model.get_layer("fc6").get_weights()[0], fc1.reshape(7, 7, 512, 4096))
    free(fc1)
    assert model.get_layer("imagenet_input").mode == "caffe"
    assert [layer.name for layer in model.layers[:3]] == ["image", "imagenet_input", "pad"]
    x = images(40, 36)
    converted = np.asarray(model(x, training=False))
    plain = build("fcn8s", "keras", num_classes=21)  # no conversion, same weights
    plain.set_weights(model.get_weights())
    free(model)
    np.testing.assert_allclose(converted, np.asarray(plain(preprocess(x, "caffe"), training=False)),
                               rtol=1e-4, atol=1e-3)
    free(plain)


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_keras_mobilenet_unet_loads_either_file_format_and_hands_its_conversion_to_torch(suffix, weights_dir):
    import keras

    path = write_fake_imagenet_weights("mobilenet", "keras", weights_dir / f"mobilenet{suffix}", alpha=0.25, seed=5)
    reference = keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=0.25, include_top=False,
                                             weights=None)
    reference.load_weights(path)  # Keras reads the file as coursekit does
    model = build("mobilenet_unet", "keras", num_classes=2, width_multiplier=0.25, pretrained=path)
    for name in ("conv1", "conv_dw_7_bn", "conv_pw_13"):
        for ours, theirs in zip(model.get_layer(f"encoder_{name}").get_weights(),
                                reference.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    x = images(64, 64)
    converted = np.asarray(model(x, training=False))
    plain = build("mobilenet_unet", "keras", num_classes=2, width_multiplier=0.25)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(converted, np.asarray(plain(preprocess(x, "tf"), training=False)),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="build the torch model with imagenet_input='tf'"):
        transfer_weights(model, build("mobilenet_unet", "torch", num_classes=2, width_multiplier=0.25))
    twin = transfer_weights(model, build("mobilenet_unet", "torch", num_classes=2, width_multiplier=0.25,
                                         imagenet_input="tf"))
    np.testing.assert_allclose(run_torch(twin, x).transpose(0, 2, 3, 1), converted, rtol=1e-3, atol=1e-3)


# --- bad files ----------------------------------------------------------------------------------


def test_a_missing_file_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "vgg16.pth"
    for name, framework in [("fcn8s", "torch"), ("resnet34_unet", "torch"), ("segnet", "torch"),
                            ("fcn8s", "keras"), ("mobilenet_unet", "keras")]:
        with pytest.raises(FileNotFoundError, match=re.escape(f"'{missing}' does not exist")):
            build(name, framework, num_classes=2, pretrained=missing)


def test_a_torch_file_that_does_not_fit_names_the_key_and_both_shapes(torch_resnet34_file, torch_vgg16_file,
                                                                      tmp_path):
    state = torch.load(torch_resnet34_file, weights_only=True)
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 5, 5)
    torch.save(state, tmp_path / "wrong_shape.pth")
    with pytest.raises(ValueError, match=r"wrong_shape.pth'.*'layer2.0.conv1.weight' has shape \(128, 64, 5, 5\), "
                                         r"the model needs \(128, 64, 3, 3\)"):
        build("resnet34_unet", "torch", num_classes=2, pretrained=tmp_path / "wrong_shape.pth")
    del state["layer2.0.conv1.weight"]
    torch.save(state, tmp_path / "missing_key.pth")
    with pytest.raises(ValueError, match=r"missing_key.pth' has no key 'layer2.0.conv1.weight'"):
        build("resnet34_unet", "torch", num_classes=2, pretrained=tmp_path / "missing_key.pth")
    # VGG16 without batch norm is not what SegNet's VGG16-BN encoder needs
    with pytest.raises(ValueError, match=r"vgg16.pth' has no key 'features.1.weight'"):
        build("segnet", "torch", num_classes=2, pretrained=torch_vgg16_file)
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"could not read weights file .*text.pth' as a torch state dict"):
        build("resnet34_unet", "torch", num_classes=2, pretrained=tmp_path / "text.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=r"list.pth' does not hold a state dict"):
        build("resnet34_unet", "torch", num_classes=2, pretrained=tmp_path / "list.pth")


def test_a_keras_file_that_does_not_fit_names_the_layer_and_both_shapes(weights_dir, tmp_path):
    import h5py

    narrow = write_fake_imagenet_weights("mobilenet", "keras", tmp_path / "narrow.h5", alpha=0.25)
    with pytest.raises(ValueError, match=r"narrow.h5': conv1/kernel has shape \(3, 3, 3, 8\), "
                                         r"keras.applications.MobileNet\(alpha=0.5, include_top=False\) "
                                         r"needs \(3, 3, 3, 16\)"):
        build("mobilenet_unet", "keras", num_classes=2, width_multiplier=0.5, pretrained=narrow)
    narrow3 = write_fake_imagenet_weights("mobilenet", "keras", tmp_path / "narrow.weights.h5", alpha=0.25)
    with pytest.raises(ValueError, match=r"narrow.weights.h5': conv1/kernel has shape \(3, 3, 3, 8\)"):
        build("mobilenet_unet", "keras", num_classes=2, width_multiplier=0.5, pretrained=narrow3)
    with h5py.File(narrow, "a") as file:
        del file["conv_pw_13_bn"]
    with pytest.raises(ValueError, match=r"narrow.h5' has no layer 'conv_pw_13_bn'"):
        build("mobilenet_unet", "keras", num_classes=2, width_multiplier=0.25, pretrained=narrow)
    (tmp_path / "text.h5").write_text("not HDF5")
    with pytest.raises(ValueError, match=r"could not read weights file .*text.h5' as HDF5"):
        build("mobilenet_unet", "keras", num_classes=2, width_multiplier=0.25, pretrained=tmp_path / "text.h5")


def test_weights_only_exist_where_the_framework_has_them():
    with pytest.raises(ValueError, match="no ImageNet weights for 'resnet34_unet' in 'keras'"):
        write_fake_imagenet_weights("resnet34_unet", "keras", "unused.h5")
    with pytest.raises(ValueError, match="no ImageNet weights for 'mobilenet' in 'torch'"):
        write_fake_imagenet_weights("mobilenet", "torch", "unused.pth")
    with pytest.raises(ValueError, match="ends in .h5"):
        write_fake_imagenet_weights("vgg16", "keras", "vgg16.keras")
    with pytest.raises(ValueError, match="width_multiplier=1.0"):
        build("fcn8s", "torch", num_classes=2, width=4, pretrained="unused.pth")
