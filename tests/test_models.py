import numpy as np
import pytest
import torch

from coursekit.models import build, count_params, names


@pytest.mark.parametrize("width, classes", [(4, 2), (8, 4), (16, 21)])
def test_tiny_fcn_has_equal_trainable_parameters_in_both_frameworks(width, classes):
    t = build("tiny_fcn", "torch", num_classes=classes, width=width)
    k = build("tiny_fcn", "keras", num_classes=classes, width=width)
    # 6 convolutions without bias, 6 batch norms (scale and shift), a 1×1 classifier with bias
    w = width
    expected = (3 * 9 * w + w * 9 * w + w * 9 * 2 * w + 2 * w * 9 * 2 * w + 2 * w * 9 * 4 * w
                + 4 * w * 9 * 4 * w + 2 * (w + w + 2 * w + 2 * w + 4 * w + 4 * w) + 4 * w * classes + classes)
    assert count_params(t) == count_params(k) == expected
    # running statistics are counted only when asked for
    assert count_params(t, trainable_only=False) == count_params(k, trainable_only=False) > expected


@pytest.mark.parametrize("height, width", [(32, 32), (48, 64), (20, 36)])
def test_tiny_fcn_output_has_the_input_size(height, width):
    t = build("tiny_fcn", "torch", num_classes=3, width=4)
    k = build("tiny_fcn", "keras", num_classes=3, width=4)
    assert tuple(t(torch.zeros(1, 3, height, width)).shape) == (1, 3, height, width)
    assert tuple(k(np.zeros((1, height, width, 3), np.float32)).shape) == (1, height, width, 3)


def test_tiny_fcn_refuses_sizes_it_cannot_take():
    t = build("tiny_fcn", "torch", num_classes=3, width=4)
    with pytest.raises(ValueError, match="divisible by 4"):
        t(torch.zeros(1, 3, 30, 32))


def test_gradients_reach_the_first_layer():
    t = build("tiny_fcn", "torch", num_classes=3, width=4)
    t(torch.randn(2, 3, 16, 16)).sum().backward()
    assert t.stage1[0].conv.weight.grad.abs().sum() > 0


def test_registry_knows_its_models_and_refuses_others():
    assert "tiny_fcn" in names()
    with pytest.raises(ValueError, match="unknown model"):
        build("fcn1000s", "torch", num_classes=2)
    with pytest.raises(ValueError, match="framework"):
        build("tiny_fcn", "mxnet", num_classes=2)


@pytest.mark.parametrize("direction", ["torch_to_keras", "keras_to_torch"])
def test_transfer_weights_makes_the_twins_compute_the_same_function(direction):
    from coursekit.models import transfer_weights

    t = build("tiny_fcn", "torch", num_classes=3, width=4)
    k = build("tiny_fcn", "keras", num_classes=3, width=4)
    # non-trivial batch-norm statistics, so that they are checked too
    t.train()
    with torch.no_grad():
        for _ in range(3):
            t(torch.randn(4, 3, 16, 16) * 2 + 1)
    if direction == "keras_to_torch":
        transfer_weights(t, k)
        t = build("tiny_fcn", "torch", num_classes=3, width=4)
        transfer_weights(k, t)
    else:
        transfer_weights(t, k)
    t.eval()
    x = np.random.default_rng(0).normal(size=(2, 24, 32, 3)).astype(np.float32)
    out_t = t(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)
    out_k = np.asarray(k(x, training=False))
    np.testing.assert_allclose(out_t, out_k, atol=1e-4)


def test_transfer_weights_refuses_models_that_differ():
    from coursekit.models import transfer_weights

    t = build("tiny_fcn", "torch", num_classes=3, width=4)
    with pytest.raises(ValueError, match="shapes"):
        transfer_weights(t, build("tiny_fcn", "keras", num_classes=3, width=8))
    with pytest.raises(TypeError):
        transfer_weights(build("tiny_fcn", "keras", num_classes=3, width=4), object())


@pytest.mark.parametrize("name", [n for n in names() if n != "unet_valid"])
def test_summaries_of_twins_list_the_same_layers_and_parameters(name):
    from coursekit.models import summary

    t = build(name, "torch", num_classes=3, width=8)
    k = build(name, "keras", num_classes=3, width=8)
    rows_t, rows_k = summary(t, (64, 64)).rows, summary(k, (64, 64)).rows
    assert sorted((n, p) for n, _, p in rows_t) == sorted((n, p) for n, _, p in rows_k)
    assert summary(t, (64, 64)).total == count_params(t, trainable_only=False) == count_params(k, trainable_only=False)
    if name in ("tiny_fcn", "unet", "unet_bn", "fcn8s", "segnet"):
        assert rows_t == rows_k  # same order of the forward pass, same H×W×C shapes
    assert "total" in str(summary(t, (64, 64)))


@pytest.mark.parametrize("name, argument, expected", [("unet", "base_width", 16), ("fcn8s", "width_multiplier", 0.25),
                                                       ("mobilenet_unet", "width_multiplier", 0.5)])
def test_width_means_channels_of_the_first_stage_for_every_model(name, argument, expected):
    assert count_params(build(name, "torch", num_classes=2, width=16)) == \
        count_params(build(name, "torch", num_classes=2, **{argument: expected}))


def _constructors(name):
    import importlib

    from coursekit.models import registry

    found = []
    for target in registry._MODELS[name]:
        module, attribute = target.split(":")
        found.append(getattr(importlib.import_module(module), attribute))
    return found


@pytest.mark.parametrize("name", names())
def test_the_twins_take_the_same_arguments_all_keyword_only_after_num_classes(name):
    import inspect

    torch_signature, keras_signature = (inspect.signature(c) for c in _constructors(name))
    described = [[(p.name, p.kind, p.default) for p in s.parameters.values()]
                 for s in (torch_signature, keras_signature)]
    assert described[0] == described[1]
    names = [p for p, _, _ in described[0]]
    assert names[:2] == ["in_channels", "num_classes"] and "input_size" in names and "head" in names[2:] or \
        name == "tiny_fcn"
    assert all(kind is inspect.Parameter.KEYWORD_ONLY for _, kind, _ in described[0][2:])


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("name, size, multiple", [("tiny_fcn", 30, 4), ("segnet", 48, 32), ("unet", 40, 16),
                                                  ("mobilenet_unet", 48, 32)])
def test_an_input_size_the_model_cannot_take_is_refused_when_building(framework, name, size, multiple):
    with pytest.raises(ValueError, match=f"(?i){name}.*divisible by {multiple}, got {size}×{size}"):
        build(name, framework, num_classes=2, width=4, input_size=(size, size))


def test_the_keras_unet_refuses_an_unfit_image_as_the_torch_one_does():
    import torch

    keras_model = build("unet", "keras", num_classes=2, width=4, depth=2)
    torch_model = build("unet", "torch", num_classes=2, width=4, depth=2)
    for call in (lambda: keras_model(np.zeros((1, 18, 20, 3), np.float32)),
                 lambda: torch_model(torch.zeros(1, 3, 18, 20))):
        with pytest.raises(ValueError, match="unet needs a height and width divisible by 4, got 18×20"):
            call()
