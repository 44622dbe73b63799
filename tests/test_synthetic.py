import numpy as np
import pytest

from coursekit.data import ArrayDataset, shapes


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = shapes(4, 32, seed=1), shapes(4, 32, seed=1), shapes(4, 32, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.masks, c.masks)


def test_types_ranges_and_classes():
    data = shapes(16, 48, seed=0)
    assert data.images.shape == (16, 48, 48, 3) and data.images.dtype == np.float32
    assert data.masks.shape == (16, 48, 48) and data.masks.dtype == np.int64
    assert 0 <= data.images.min() and data.images.max() <= 1
    assert set(np.unique(data.masks)) == {0, 1, 2, 3}
    assert data.classes[0] == "background" and data.num_classes == 4
    assert data.palette.shape == (4, 3) and data.source == "synthetic"
    freq = data.class_frequencies()
    assert freq.sum() == pytest.approx(1) and freq[0] > 0.5  # background dominates


def test_instances_lie_inside_objects_and_each_has_one_class():
    data = shapes(8, 64, seed=4, max_objects=4)
    assert ((data.instances > 0) == (data.masks > 0)).all()
    for inst, mask in zip(data.instances, data.masks):
        for obj in np.unique(inst)[1:]:
            assert len(np.unique(mask[inst == obj])) == 1


def test_class_colours_make_hue_follow_class():
    def mean_colour_per_class(data):
        return np.array([data.images[data.masks == c].mean(0) for c in (1, 2, 3)])

    coloured = mean_colour_per_class(shapes(64, 48, seed=5))
    random = mean_colour_per_class(shapes(64, 48, seed=5, class_colours=False))
    # with class colours: orange discs (red high, blue low), purple squares (blue high, green low),
    # cyan triangles (green and blue high, red low); with random colours the means are alike
    assert coloured[0, 0] > coloured[0, 2] + 0.3
    assert coloured[1, 2] > coloured[1, 1] + 0.3
    assert coloured[2, 1] > coloured[2, 0] + 0.3
    assert np.ptp(random, axis=0).max() < 0.5 * np.ptp(coloured, axis=0).max()


@pytest.mark.parametrize("kwargs", [dict(n=0), dict(n=2, size=8)])
def test_bad_sizes_are_refused(kwargs):
    with pytest.raises(ValueError):
        shapes(**kwargs)


def test_dataset_checks_its_arrays():
    images = np.zeros((2, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="mask"):
        ArrayDataset(images, np.zeros((2, 8, 9), np.int64), ("a", "b"), np.zeros((2, 3), np.uint8), "disk")
    with pytest.raises(ValueError, match="palette"):
        ArrayDataset(images, np.zeros((2, 8, 8), np.int64), ("a", "b", "c"), np.zeros((2, 3), np.uint8), "disk")
    data = ArrayDataset(images, np.zeros((2, 8, 8), np.int64), ("a", "b"), np.zeros((2, 3), np.uint8), "disk")
    image, mask = data[1]
    assert image.shape == (8, 8, 3) and mask.shape == (8, 8) and len(data) == 2


def test_dataset_declares_and_checks_its_ignore_index():
    images, palette = np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 3), np.uint8)
    masks = np.zeros((2, 8, 8), np.int64)
    masks[0, :2] = 1
    masks[1, :4] = 255
    assert ArrayDataset(images, masks, ("a", "b"), palette, "disk").ignore_index is None
    data = ArrayDataset(images, masks, ("a", "b"), palette, "disk", ignore_index=np.int64(255))
    assert data.ignore_index == 255 and type(data.ignore_index) is int
    # ignored pixels belong to no class: 16 of the 96 counted pixels are class 1
    np.testing.assert_allclose(data.class_frequencies(), [80 / 96, 16 / 96])
    with pytest.raises(ValueError, match="ignore_index 1 is class 'b'"):
        ArrayDataset(images, masks, ("a", "b"), palette, "disk", ignore_index=1)
    for bad in (255.0, "255", True):
        with pytest.raises(TypeError, match="ignore_index must be an integer"):
            ArrayDataset(images, masks, ("a", "b"), palette, "disk", ignore_index=bad)


def test_dataset_checks_its_field_of_view_and_slices():
    images, palette = np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 3), np.uint8)
    masks = np.zeros((2, 8, 8), np.int64)
    fov = np.zeros((2, 8, 8), bool)
    fov[:, 1:7, 1:7] = True
    data = ArrayDataset(images, masks, ("a", "b"), palette, "disk", fov=fov, slices=[("ct.nii.gz", np.int64(3)),
                                                                                     ["ct.nii.gz", 4]])
    assert data.fov[1].sum() == 36 and data.slices == [("ct.nii.gz", 3), ("ct.nii.gz", 4)]
    assert type(data.slices[0][1]) is int
    plain = ArrayDataset(images, masks, ("a", "b"), palette, "disk")
    assert plain.fov is None and plain.slices is None
    with pytest.raises(ValueError, match=r"fov have shape \(2, 8, 7\), masks \(2, 8, 8\)"):
        ArrayDataset(images, masks, ("a", "b"), palette, "disk", fov=fov[..., :7])
    with pytest.raises(ValueError, match="fov must be a bool array.*got dtype uint8.*fov > 0"):
        ArrayDataset(images, masks, ("a", "b"), palette, "disk", fov=fov.astype(np.uint8) * 255)
    with pytest.raises(ValueError, match="slices has 1 entries for 2 images"):
        ArrayDataset(images, masks, ("a", "b"), palette, "disk", slices=[("ct.nii.gz", 0)])
    for bad in (("ct.nii.gz", 1.0), (3, 1), ("ct.nii.gz",), "ct.nii.gz", ("ct.nii.gz", True)):
        with pytest.raises(ValueError, match=r"slices\[1\] is .*\(volume file name, slice index\) pair"):
            ArrayDataset(images, masks, ("a", "b"), palette, "disk", slices=[("ct.nii.gz", 0), bad])
