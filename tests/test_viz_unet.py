"""What chapter 4's U-Net figures draw (coursekit.viz.unet), beyond test_ch04_unet.py: the shapes read
from either twin's stages, the same-padded U, the first overlap tile, and the error colours."""

import numpy as np
import pytest

from coursekit import viz
from coursekit.models import build
from coursekit.viz.core import ERROR_COLOURS


def test_a_keras_u_net_built_for_one_size_gives_the_shapes_of_a_torch_one_run_at_it():
    config = dict(in_channels=2, num_classes=3, width=4, depth=3)
    keras_shapes = viz.unet_shapes(build("unet_bn", "keras", input_size=(48, 32), **config), (48, 32))
    torch_shapes = viz.unet_shapes(build("unet_bn", "torch", **config), (48, 32))
    assert keras_shapes == torch_shapes
    assert keras_shapes.encoder == ((48, 32, 4), (24, 16, 8), (12, 8, 16)) and keras_shapes.bottom == (6, 4, 32)
    assert keras_shapes.up == keras_shapes.decoder == keras_shapes.encoder
    assert keras_shapes.output == (48, 32, 3) and keras_shapes.input == (48, 32, 2)


def test_unet_shapes_refuses_a_model_without_stages_naming_it():
    segnet = build("segnet", "torch", in_channels=1, num_classes=2, width=4)
    with pytest.raises(TypeError, match="U-Net .* with its stages, got SegNet"):
        viz.unet_shapes(segnet, 32)


def test_the_same_padded_u_copies_its_skips_without_cropping():
    shapes = viz.unet_shapes(build("unet", "torch", in_channels=3, num_classes=5, width=8, depth=2), 32)
    ax = viz.draw_unet(shapes, title="small")
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("copy") == 2 and not [t for t in texts if "crop" in t]
    # a level's map, its up-sampled input and its output have one shape: nothing is lost at the borders
    assert texts.count("32²×8") == 3 and texts.count("16²×16") == 3 and texts.count("8²×32") == 1
    assert ax.get_title() == "small"


def test_the_first_overlap_tile_shows_where_the_mirrored_border_ends():
    from coursekit.data.tiling import tile_grid

    image = np.random.default_rng(0).uniform(size=(40, 40, 3)).astype(np.float32)
    _, tile = viz.plot_overlap_tile(image, 44, 20)
    (top, _), (left, _) = tile_grid((40, 40), 44, 20).padding
    horizontal, vertical = tile.lines
    assert horizontal.get_ydata()[0] == top - 0.5 and vertical.get_xdata()[0] == left - 0.5
    kept = tile.patches[0]  # the part of the tile's prediction that is kept
    margin = (44 - 20) // 2
    assert kept.get_xy() == (margin - 0.5, margin - 0.5) and kept.get_width() == 20


def test_error_image_blends_each_kind_of_error_by_alpha_and_leaves_the_rest():
    image = np.full((1, 4, 1), 0.5, np.float32)
    truth, prediction = np.array([[1, 1, 0, 0]]), np.array([[1, 0, 1, 0]])
    rgb = viz.error_image(image, truth, prediction, cls=1, alpha=0.5)
    expected = [0.5 * 0.5 + 0.5 * np.asarray(colour) for colour in ERROR_COLOURS.values()] + [[0.5] * 3]
    np.testing.assert_allclose(rgb[0], expected, atol=1e-6)
