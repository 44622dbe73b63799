import numpy as np
import pytest

from coursekit import viz
from coursekit.train import History


def test_palette_starts_black_has_distinct_colours_and_voc_matches_voc():
    colours = viz.palette(30)
    assert colours.shape == (30, 3) and colours.dtype == np.uint8
    assert tuple(colours[0]) == (0, 0, 0)
    assert len({tuple(c) for c in colours}) == 30
    voc = viz.palette(4, kind="voc")
    assert [tuple(c) for c in voc] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    with pytest.raises(ValueError):
        viz.palette(3, kind="rainbow")


def test_colorize_maps_each_label_to_its_colour():
    colours = viz.palette(3)
    mask = np.array([[0, 1], [2, 1]])
    image = viz.colorize_mask(mask, colours)
    assert image.shape == (2, 2, 3)
    np.testing.assert_array_equal(image[1, 0], colours[2])
    with pytest.raises(ValueError, match="palette has 3"):
        viz.colorize_mask(np.array([[3]]), colours)


def test_blend_leaves_background_and_tints_objects():
    image = np.full((2, 2, 3), 0.5, np.float32)
    mask = np.array([[0, 1], [0, 1]])
    out = viz.blend(image, mask, viz.palette(2), alpha=1.0)
    np.testing.assert_allclose(out[:, 0], 0.5)
    np.testing.assert_allclose(out[0, 1], viz.palette(2)[1] / 255)
    # uint8 and grey images are accepted too
    assert viz.blend((image * 255).astype(np.uint8)[..., 0], mask, viz.palette(2)).shape == (2, 2, 3)


def test_overlay_has_a_legend_naming_the_classes():
    ax = viz.overlay_mask(np.zeros((8, 8, 3)), np.eye(8, dtype=int), viz.palette(2), classes=("bg", "line"))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bg", "line"]


def test_grid_has_a_row_per_sample_and_a_column_per_kind():
    images = np.zeros((5, 8, 8, 3))
    masks = np.zeros((5, 8, 8), int)
    fig = viz.show_grid(images, masks, masks, max_rows=3)
    assert len(fig.axes) == 9
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image", "truth", "prediction"]
    assert len(viz.show_grid(images, max_rows=2).axes) == 2
    legend = viz.show_grid(images, masks, classes=("bg",), colours=viz.palette(1)).legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["bg"]


def test_history_plot_pairs_train_and_validation():
    history = History()
    history.add({"loss": 1.0, "val_loss": 1.2, "val_mean_iou": 0.3})
    history.add({"loss": 0.5, "val_loss": 0.7, "val_mean_iou": 0.5})
    fig = viz.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mean_iou"]
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1


def test_confusion_matrix_plot_normalises_rows():
    ax = viz.plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"])
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["0.00", "0.25", "0.75", "1.00"]


def test_blend_with_an_ignore_index_tints_class_0_and_leaves_void():
    """CamVid: class 0 is the sky, a class like the others; void (11) is what stays as the image was."""
    from coursekit.data.datasets import CAMVID_PALETTE

    image = np.full((1, 3, 3), 0.5, np.float32)
    mask = np.array([[0, 3, 11]])
    out = viz.blend(image, mask, CAMVID_PALETTE, alpha=1.0, ignore_index=11)
    np.testing.assert_allclose(out[0, 0], CAMVID_PALETTE[0] / 255)
    np.testing.assert_allclose(out[0, 1], CAMVID_PALETTE[3] / 255)
    np.testing.assert_allclose(out[0, 2], 0.5)
    # without it, class 0 is the background and stays untinted
    np.testing.assert_allclose(viz.blend(image, mask, CAMVID_PALETTE, alpha=1.0)[0, 0], 0.5)
