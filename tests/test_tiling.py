import numpy as np
import pytest
from scipy import ndimage

from coursekit.data.tiling import keras_predict_fn, predict_tiled, tile_grid, torch_predict_fn

RADIUS = 2  # a 5×5 box filter sees 2 pixels on each side


def box_same(batch):
    """A 'same' model: 5×5 mean with zero padding, so its border is wrong and must be discarded."""
    return ndimage.uniform_filter(batch, size=(1, 5, 5, 1), mode="constant")


def box_valid(batch):
    """A 'valid' model: the same 5×5 mean, output 4 pixels smaller than the input."""
    return box_same(batch)[:, RADIUS:-RADIUS, RADIUS:-RADIUS]


def whole_image(predict_fn, image, radius, same: bool):
    """The reference: one pass over the whole image with mirrored borders of the model's reach."""
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")[None]
    scores = predict_fn(padded)[0]
    return scores[radius:-radius, radius:-radius] if same else scores


@pytest.fixture
def image():
    return np.random.default_rng(0).uniform(0, 1, (45, 37, 3)).astype(np.float32)


@pytest.mark.parametrize("tile, output", [(16, 12), ((20, 14), (16, 10)), (9, 5)])
def test_valid_model_tiled_equals_whole_image(image, tile, output):
    tiled = predict_tiled(box_valid, image, tile, output, batch_size=3)
    assert tiled.shape == (45, 37, 3)
    np.testing.assert_allclose(tiled, whole_image(box_valid, image, RADIUS, same=False), atol=1e-5)


@pytest.mark.parametrize("tile, output", [(16, 12), (16, 8), (24, 20)])
def test_same_model_tiled_equals_whole_image_when_the_border_is_discarded(image, tile, output):
    tiled = predict_tiled(box_same, image, tile, output, batch_size=4)
    np.testing.assert_allclose(tiled, whole_image(box_same, image, RADIUS, same=True), atol=1e-5)


def test_same_model_without_overlap_shows_seams(image):
    # the overlap rule is needed: whole tiles of a zero-padded model disagree along the tile edges
    tiled = predict_tiled(box_same, image, 16)
    error = np.abs(tiled - whole_image(box_same, image, RADIUS, same=True)).max(-1)
    assert error[15:17].max() > 0.05 and error[5:11, 5:11].max() < 1e-5


def test_image_smaller_than_a_tile_and_grayscale_images(image):
    small = image[:7, :5, 0]
    tiled = predict_tiled(box_valid, small, 20, 16)
    assert tiled.shape == (7, 5, 1)
    np.testing.assert_allclose(tiled, whole_image(box_valid, small[..., None], RADIUS, same=False), atol=1e-5)


def test_tile_grid_covers_the_image_with_mirrored_context():
    grid = tile_grid((45, 37), (16, 14), (12, 10))
    assert grid.margin == (2, 2)
    assert grid.padding == ((2, 2 + 48 - 45), (2, 2 + 40 - 37))
    rows = sorted({y for y, _ in grid.positions})
    cols = sorted({x for _, x in grid.positions})
    assert rows == [0, 12, 24, 36] and cols == [0, 10, 20, 30]
    assert len(grid.positions) == 16


def test_paper_tile_from_the_unet_sizes():
    from coursekit.models.unet_sizes import input_size_for

    grid = tile_grid((512, 512), input_size_for(388), 388)
    assert grid.tile_size == (572, 572) and grid.margin == (92, 92) and len(grid.positions) == 4


@pytest.mark.parametrize("tile, output, match", [(16, 13, "even"), (10, 12, "must not exceed"), (0, None, "positive")])
def test_bad_tile_sizes_are_refused(image, tile, output, match):
    with pytest.raises(ValueError, match=match):
        predict_tiled(box_valid, image, tile, output)


def test_a_model_of_unexpected_output_size_is_refused(image):
    with pytest.raises(ValueError, match="returned 14×14 scores"):
        predict_tiled(lambda batch: batch[:, 1:-1, 1:-1], image, 16, 12)


def test_torch_conv_model_tiled_equals_whole_image(image):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    valid = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 3))
    predict = torch_predict_fn(valid)
    tiled = predict_tiled(predict, image, 20, 16, batch_size=2)
    assert tiled.shape == (45, 37, 2)
    np.testing.assert_allclose(tiled, whole_image(predict, image, RADIUS, same=False), atol=1e-5)
    assert valid.training  # the wrapper gives the training mode back


def test_torch_unpadded_unet_tiles_exactly_when_the_step_keeps_the_pooling_phase():
    torch = pytest.importorskip("torch")
    from coursekit.models.torch.unet import unet_valid
    from coursekit.models.unet_sizes import input_size_for

    torch.manual_seed(0)
    predict = torch_predict_fn(unet_valid(in_channels=1, num_classes=2, base_width=4, depth=2))
    output = 20  # a multiple of 2**depth, so every tile meets the pooling grid in the same phase
    tile = input_size_for(output, depth=2)
    image = np.random.default_rng(1).uniform(0, 1, (44, 36, 1)).astype(np.float32)
    margin = (tile - output) // 2
    np.testing.assert_allclose(predict_tiled(predict, image, tile, output),
                               whole_image(predict, image, margin, same=False), atol=1e-5)


def test_torch_unpadded_unet_depth_3_tiles_meet_the_pooling_grid_at_another_phase():
    torch = pytest.importorskip("torch")
    from coursekit.models.torch.unet import unet_valid
    from coursekit.models.unet_sizes import input_size_for

    torch.manual_seed(0)
    predict = torch_predict_fn(unet_valid(in_channels=1, num_classes=2, base_width=4, depth=3))
    output, image = 12, np.random.default_rng(1).uniform(0, 1, (28, 28, 1)).astype(np.float32)  # 12 is 4 mod 8
    tile = input_size_for(output, depth=3)
    reference = whole_image(predict, image, (tile - output) // 2, same=False)
    error = np.abs(predict_tiled(predict, image, tile, output) - reference)
    assert error[:output, :output].max() < 1e-5  # the first tile has the whole-image pass's phase
    assert error[output:, output:].max() > 1e-2  # the others are shifted by 12, not a multiple of 8


def test_keras_conv_model_tiled_equals_whole_image(image):
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    same = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(2, 3, padding="same")])
    predict = keras_predict_fn(same)
    tiled = predict_tiled(predict, image, 24, 20, batch_size=4)
    assert tiled.shape == (45, 37, 2)
    np.testing.assert_allclose(tiled, whole_image(predict, image, RADIUS, same=True), atol=1e-5)
