import numpy as np
import pytest
import torch

from coursekit.models import build, count_params, transfer_weights
from coursekit.models.unet_sizes import input_size_for, output_size_for, skip_crop, stage_names


def conv(in_channels, out_channels, kernel=3, bias=True):
    return kernel * kernel * in_channels * out_channels + (out_channels if bias else 0)


def expected_trainable(name, in_channels, num_classes, base_width, depth=4, conv_bias=True):
    """Counted by hand: two 3×3 convolutions a level (+ batch norm's scale and shift for unet_bn),
    a 2×2 (transposed) convolution per up-sampling, a 1×1 classifier.  Biases everywhere but
    before batch norm when conv_bias=False."""
    w = [base_width * 2 ** level for level in range(depth + 1)]
    bn = 2 if name == "unet_bn" else 0

    def level(i, o):
        return conv(i, o, 3, conv_bias) + conv(o, o, 3, conv_bias) + 2 * bn * o

    total = level(in_channels, w[0]) + sum(level(w[k - 1], w[k]) for k in range(1, depth + 1))
    total += sum(conv(w[k + 1], w[k], 2) + level(2 * w[k], w[k]) for k in range(depth))
    return total + conv(w[0], num_classes, 1)


def batch_norm_statistics(base_width, depth=4):
    """Running mean and variance of every batch-norm channel: two batch norms a level, down, bottom and up."""
    w = [base_width * 2 ** level for level in range(depth + 1)]
    channels = 2 * sum(w) + 2 * sum(w[:depth])
    return 2 * channels


# --- parameter counts of the seeds and the paper (built, never run) -------------------


def test_unet_has_the_keras_tutorials_31_033_045_parameters():
    # Unet((512, 512, 3), 21) with a plain 1×1 classifier; the variant with an extra 3×3 conv to
    # 2 channels before it would have 31,032,897, so the count tells the two apart.
    expected = expected_trainable("unet", 3, 21, 64)
    assert expected == 31_033_045
    t = build("unet", "torch", in_channels=3, num_classes=21)
    k = build("unet", "keras", in_channels=3, num_classes=21, input_size=(512, 512))
    assert count_params(t) == count_params(k) == count_params(k, trainable_only=False) == expected
    assert k.output_shape == (None, 512, 512, 21)


def test_unet_bn_has_the_keras_seeds_31_055_297_parameters_with_batch_norm_statistics():
    k = build("unet_bn", "keras", in_channels=3, num_classes=1, head="sigmoid", input_size=(512, 512))
    t = build("unet_bn", "torch", in_channels=3, num_classes=1)
    trainable = expected_trainable("unet_bn", 3, 1, 64)
    assert count_params(k, trainable_only=False) == trainable + batch_norm_statistics(64) == 31_055_297
    assert count_params(t) == count_params(k) == trainable
    assert count_params(t, trainable_only=False) == 31_055_297


def test_unet_bn_has_the_pytorch_seeds_7_765_985_parameters_at_base_width_32():
    t = build("unet_bn", "torch", in_channels=3, num_classes=1, base_width=32)
    k = build("unet_bn", "keras", in_channels=3, num_classes=1, base_width=32)
    assert count_params(t) == count_params(k) == expected_trainable("unet_bn", 3, 1, 32) == 7_765_985


def test_unet_valid_is_the_papers_network():
    t = build("unet_valid", "torch", in_channels=1, num_classes=2)
    k = build("unet_valid", "keras", in_channels=1, num_classes=2, input_size=(572, 572))
    assert count_params(t) == count_params(k) == expected_trainable("unet_valid", 1, 2, 64)
    # 23 convolutional layers in total (Ronneberger et al., 2015)
    assert sum(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in t.modules()) == 23
    assert sum(bool(layer.weights) for layer in k.layers) == 23
    assert k.output_shape == (None, 388, 388, 2)


@pytest.mark.parametrize("name, config", [
    ("unet", dict(base_width=4)), ("unet", dict(base_width=8, depth=3)),
    ("unet_bn", dict(base_width=4)), ("unet_bn", dict(base_width=4, conv_bias=False)),
    ("unet_valid", dict(base_width=4)), ("unet_valid", dict(base_width=8, depth=2)),
])
def test_narrow_twins_have_equal_trainable_parameters(name, config):
    t = build(name, "torch", in_channels=3, num_classes=5, **config)
    k = build(name, "keras", in_channels=3, num_classes=5, **config)
    assert count_params(t) == count_params(k) == expected_trainable(name, 3, 5, **config)


# --- sizes --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["unet", "unet_bn"])
@pytest.mark.parametrize("height, width", [(32, 32), (48, 64), (16, 80)])
def test_same_padded_unets_keep_the_input_size(name, height, width):
    t = build(name, "torch", in_channels=3, num_classes=3, base_width=4).eval()
    k = build(name, "keras", in_channels=3, num_classes=3, base_width=4)
    assert tuple(t(torch.zeros(1, 3, height, width)).shape) == (1, 3, height, width)
    assert tuple(k(np.zeros((1, height, width, 3), np.float32)).shape) == (1, height, width, 3)


@pytest.mark.parametrize("name", ["unet", "unet_bn"])
def test_same_padded_unets_refuse_sizes_not_divisible_by_16(name):
    t = build(name, "torch", in_channels=3, num_classes=3, base_width=4)
    with pytest.raises(ValueError, match="divisible by 16"):
        t(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match="divisible by 16"):
        build(name, "keras", in_channels=3, num_classes=3, base_width=4, input_size=(32, 40))


def test_valid_sizes_follow_the_papers_figure():
    assert input_size_for(388) == 572 and output_size_for(572) == 388
    # Fig. 1: the skips are cropped 568 -> 392, 280 -> 200, 136 -> 104, 64 -> 56
    assert [skip_crop(level) for level in range(4)] == [(568 - 392) // 2, (280 - 200) // 2,
                                                       (136 - 104) // 2, (64 - 56) // 2]


def test_valid_input_sizes_are_12_modulo_16_from_188():
    # every size before a pooling is even, and the decoder's maps stay at least 4 pixels wide
    works = []
    for size in range(1, 700):
        try:
            works.append(output_size_for(size) > 0)
        except ValueError:
            works.append(False)
    assert works == [size % 16 == 12 and size >= 188 for size in range(1, 700)]
    for output_size in (4, 20, 388, 404):
        assert output_size_for(input_size_for(output_size)) == output_size


def test_valid_size_helpers_explain_sizes_that_do_not_work():
    with pytest.raises(ValueError, match="cannot produce 390 pixels.*388, 404"):
        input_size_for(390)
    with pytest.raises(ValueError, match="cannot take 570 pixels.*556, 572"):
        output_size_for(570)
    with pytest.raises(ValueError, match="smallest input is 188"):
        output_size_for(172)


@pytest.mark.parametrize("height, width", [(188, 188), (204, 188), (220, 252)])
def test_unet_valid_output_size(height, width):
    t = build("unet_valid", "torch", in_channels=1, num_classes=2, base_width=4).eval()
    k = build("unet_valid", "keras", in_channels=1, num_classes=2, base_width=4)
    expected = (output_size_for(height), output_size_for(width))
    assert tuple(t(torch.zeros(1, 1, height, width)).shape[-2:]) == expected
    assert tuple(k(np.zeros((1, height, width, 1), np.float32)).shape[1:3]) == expected


def test_unet_valid_refuses_sizes_it_cannot_take():
    t = build("unet_valid", "torch", in_channels=1, num_classes=2, base_width=4)
    with pytest.raises(ValueError, match="cannot take 570"):
        t(torch.zeros(1, 1, 570, 572))
    with pytest.raises(ValueError, match="cannot take 570"):
        build("unet_valid", "keras", in_channels=1, num_classes=2, base_width=4, input_size=(572, 570))


# --- behaviour ----------------------------------------------------------------------


@pytest.mark.parametrize("name, size", [("unet", 32), ("unet_bn", 32), ("unet_valid", 188)])
def test_gradients_reach_the_first_layer(name, size):
    t = build(name, "torch", in_channels=3, num_classes=3, base_width=4)
    t(torch.randn(2, 3, size, size)).sum().backward()
    assert t.encoder[0][0].conv.weight.grad.abs().sum() > 0


def test_heads_are_applied_and_checked():
    x = torch.randn(1, 3, 16, 16)
    probabilities = build("unet", "torch", num_classes=4, base_width=4, head="softmax").eval()(x)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(1, 16, 16))
    k = build("unet_bn", "keras", num_classes=1, base_width=4, head="sigmoid")
    out = np.asarray(k(np.random.default_rng(0).normal(size=(1, 16, 16, 3)).astype(np.float32) * 50))
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="head"):
        build("unet", "torch", num_classes=4, head="relu")
    with pytest.raises(ValueError, match="head"):
        build("unet_valid", "keras", num_classes=4, head="relu")


@pytest.mark.parametrize("direction", ["torch_to_keras", "keras_to_torch"])
@pytest.mark.parametrize("name, size", [("unet", 32), ("unet_bn", 32), ("unet_valid", 188)])
def test_transfer_weights_makes_the_twins_compute_the_same_function(name, size, direction):
    config = dict(in_channels=3, num_classes=3, base_width=4)
    t, k = build(name, "torch", **config), build(name, "keras", **config)
    # non-trivial batch-norm statistics, so that they are checked too
    t.train()
    with torch.no_grad():
        for _ in range(3):
            t(torch.randn(2, 3, size, size) * 2 + 1)
    transfer_weights(t, k)
    if direction == "keras_to_torch":
        t = build(name, "torch", **config)
        transfer_weights(k, t)
    t.eval()
    # a non-square input catches height and width swapped; for unet_valid 204 is the next valid size
    x = np.random.default_rng(0).normal(size=(2, size, size + 16, 3)).astype(np.float32)
    out_t = t(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)
    out_k = np.asarray(k(x, training=False))
    assert np.abs(out_t).max() > 0
    np.testing.assert_allclose(out_t, out_k, atol=1e-4)


# --- stages --------------------------------------------------------------------------


def test_stage_names_run_down_the_contracting_path_and_up_the_expanding_one():
    assert stage_names(2) == ("encoder_0", "encoder_1", "bottom", "decoder_1_up", "decoder_1", "decoder_0_up",
                              "decoder_0", "classifier")


@pytest.mark.parametrize("name, size, depth", [("unet", 32, 3), ("unet_bn", 32, 2), ("unet_valid", 140, 3)])
def test_the_twins_stages_have_the_same_names_and_compute_the_same_maps(name, size, depth):
    import keras

    config = dict(in_channels=2, num_classes=3, base_width=4, depth=depth)
    t, k = build(name, "torch", **config).eval(), build(name, "keras", **config)
    transfer_weights(t, k)
    assert t.depth == k.depth == depth
    assert tuple(t.stages) == tuple(k.stages) == stage_names(depth)
    x = np.random.default_rng(1).normal(size=(1, size, size, 2)).astype(np.float32)
    maps = {}
    hooks = [module.register_forward_hook(lambda m, i, out, key=key: maps.__setitem__(key, out.detach().numpy()))
             for key, module in t.stages.items()]
    t(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    for hook in hooks:
        hook.remove()
    keras_maps = keras.Model(k.inputs, [layer.output for layer in k.stages.values()])([x], training=False)
    for stage, keras_map in zip(k.stages, keras_maps):
        np.testing.assert_allclose(maps[stage].transpose(0, 2, 3, 1), np.asarray(keras_map), atol=1e-4,
                                   err_msg=stage)


def test_a_keras_stage_is_the_map_the_next_layer_takes_and_the_stages_are_read_only():
    k = build("unet", "keras", in_channels=1, num_classes=2, base_width=4)  # dropout ends the deepest level
    assert k.stages["encoder_3"].output is k.get_layer("encoder_3_pool").input  # the skip, after the dropout
    assert k.stages["classifier"].output is k.output
    with pytest.raises(TypeError):
        k.stages["bottom"] = k.get_layer("classifier")
