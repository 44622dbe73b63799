"""What chapter 5's volume figure draws (coursekit.viz.medical.show_volume): each plane in the radiologists'
orientation, at its physical aspect, with the labels over it.  The other figures of chapters 5 and 6 are tested
in test_ch05_medical_data.py and test_ch06_medical_evaluation.py."""

import numpy as np
import pytest

from coursekit import viz

SHAPE = (6, 8, 5)  # right-left, posterior-anterior, inferior-superior (RAS+)


def corner_volume():
    """Zeros, and one bright voxel at the patient's right, front and top, on each plane through the centre."""
    volume = np.zeros(SHAPE, np.float32)
    centre = tuple(s // 2 for s in SHAPE)
    volume[-1, -1, centre[2]] = 1  # axial plane: right and anterior
    volume[-1, centre[1], -1] = 1  # coronal plane: right and superior
    volume[centre[0], -1, -1] = 1  # sagittal plane: anterior and superior
    return volume


def test_each_plane_puts_the_bright_corner_top_left_as_radiologists_show_it():
    fig = viz.show_volume(corner_volume(), spacing=(1.0, 2.0, 4.0))
    for ax, rows_by_columns in zip(fig.axes, ((8, 6), (5, 6), (5, 8))):
        shown = ax.images[0].get_array()
        assert shown.shape == rows_by_columns
        assert shown[0, 0] == 1 and shown.sum() == 1  # right (or anterior) on the left, anterior/superior on top
    assert [[t.get_text() for t in ax.texts] for ax in fig.axes] == [["R", "L", "A", "P"], ["R", "L", "S", "I"],
                                                                       ["A", "P", "S", "I"]]
    assert [ax.get_aspect() for ax in fig.axes] == [2.0, 4.0, 2.0]  # rows' spacing over columns' spacing


def test_the_planes_go_through_the_given_voxel_and_say_which_slice():
    volume = np.zeros(SHAPE, np.float32)
    volume[:, :, 1] = 1
    fig = viz.show_volume(volume, position=(0, 0, 1))
    assert fig.axes[0].images[0].get_array().min() == 1  # the axial plane is slice 1, all bright
    assert [ax.get_title() for ax in fig.axes] == ["axial (slice 1)", "coronal (slice 0)", "sagittal (slice 0)"]


def test_labels_are_blended_over_the_planes_and_named_in_a_legend():
    volume = corner_volume()
    labels = (volume > 0).astype(np.int64)
    colours = viz.palette(2)
    fig = viz.show_volume(volume, labels=labels, colours=colours, classes=("other", "marked"), alpha=0.5)
    axial = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(axial[0, 0], 0.5 + 0.5 * colours[1] / 255)
    assert (axial[1:] == 0).all()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["marked"]


def test_a_single_slice_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"X×Y×Z volume, got shape \(8, 5\)"):
        viz.show_volume(np.zeros((8, 5)))
