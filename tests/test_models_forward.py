"""models.forward and models.gradient_reach: one call for a model of either framework, so that a chapter
runs with only its own framework installed."""

import numpy as np
import pytest

from coursekit.models import build, decoder_memory, forward, gradient_reach, transfer_weights


@pytest.fixture(scope="module")
def twins():
    torch_model = build("tiny_fcn", "torch", in_channels=1, num_classes=2, width=4)
    keras_model = build("tiny_fcn", "keras", in_channels=1, num_classes=2, width=4)
    transfer_weights(torch_model, keras_model)
    return torch_model, keras_model


def test_forward_gives_each_framework_its_own_layout_and_twins_the_same_scores(twins):
    torch_model, keras_model = twins
    images = np.random.default_rng(0).normal(size=(2, 24, 32, 1)).astype(np.float32)
    from_torch, from_keras = forward(torch_model, images), forward(keras_model, images)
    assert from_torch.shape == (2, 2, 24, 32) and from_keras.shape == (2, 24, 32, 2)
    assert isinstance(from_torch, np.ndarray) and isinstance(from_keras, np.ndarray)
    np.testing.assert_allclose(from_torch.transpose(0, 2, 3, 1), from_keras, atol=1e-4)
    assert torch_model.training, "forward restores the model's training mode"
    with pytest.raises(ValueError, match=r"N×H×W×C, got shape \(24, 32, 1\)"):
        forward(torch_model, images[0])


def test_gradient_reach_is_the_same_window_in_both_frameworks(twins):
    torch_model, keras_model = twins
    reach = gradient_reach(torch_model, 64)
    assert reach.shape == (64, 64) and reach.dtype == bool
    np.testing.assert_array_equal(reach, gradient_reach(keras_model, 64))
    rows, columns = np.nonzero(reach)
    # two 3×3 convolutions per stage at strides 1, 2 and 4: 1 + 4 + 8 + 16 = 29 pixels, widened by the
    # bilinear up-sampling of the last stage; centred on the output pixel
    assert 29 <= np.ptp(rows) + 1 <= 40 and np.ptp(columns) + 1 == np.ptp(rows) + 1
    assert rows.min() <= 32 <= rows.max() and not reach[0].any()
    assert torch_model.training, "gradient_reach restores the model's training mode"


def test_a_model_whose_scores_ignore_the_input_reaches_nothing():
    """With its classifier's weights at zero, no input pixel moves a score: the reach is empty."""
    import torch

    model = build("tiny_fcn", "torch", in_channels=1, num_classes=2, width=2)
    classifier = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        classifier.weight.zero_()
    assert not gradient_reach(model, 32).any()
    with pytest.raises(TypeError, match="torch or Keras model; got list"):
        gradient_reach([], 8)


@pytest.mark.parametrize("name", ["segnet", "fcn8s", "unet"])
def test_decoder_memory_is_the_same_in_both_frameworks(name):
    images = np.random.default_rng(0).uniform(size=(1, 64, 64, 3)).astype(np.float32)
    kept = {framework: decoder_memory(build(name, framework, num_classes=21, width=8), images)
            for framework in ("torch", "keras")}
    assert kept["torch"] == kept["keras"] and kept["torch"]


def test_decoder_memory_counts_what_segnet_and_fcn8s_keep():
    """By hand for width 8 on 64×64: SegNet's five poolings keep 8, 16, 32, 64, 64 channels of 32², 16², …, 2²
    int64 indices and receive float32 maps twice as wide and high; FCN-8s keeps 21 scores on pool3's 8×8 and
    pool4's 4×4 grids."""
    images = np.zeros((1, 64, 64, 3), np.float32)
    channels, sides = (8, 16, 32, 64, 64), (32, 16, 8, 4, 2)
    segnet = decoder_memory(build("segnet", "torch", num_classes=21, width=8), images)
    assert segnet["indices"] == [c * s * s * 8 for c, s in zip(channels, sides)]
    assert segnet["pooled maps"] == [c * (2 * s) ** 2 * 4 for c, s in zip(channels, sides)]
    fcn8s = decoder_memory(build("fcn8s", "torch", num_classes=21, width=8), images)
    assert fcn8s == {"score maps": [21 * 8 * 8 * 4, 21 * 4 * 4 * 4]}
    with pytest.raises(TypeError, match="knows SegNet, FCN-8s and U-Net"):
        decoder_memory(build("vgg_segnet", "torch", num_classes=21, width=8), images)
