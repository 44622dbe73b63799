"""The synthetic stand-ins for DSB 2018 (cells), ISBI 2012 (membranes) and DRIVE (vessels)."""

import numpy as np
import pytest
from scipy import ndimage

from coursekit.data import ArrayDataset, cells, membranes, vessels


def touching_pairs(instances: np.ndarray) -> set:
    """Pairs of different objects that share an edge (4-neighbours)."""
    pairs = set()
    for a, b in ((instances[:, :-1], instances[:, 1:]), (instances[:-1], instances[1:])):
        border = (a != b) & (a > 0) & (b > 0)
        pairs |= {tuple(sorted(p)) for p in zip(a[border], b[border])}
    return pairs


@pytest.mark.parametrize("make", [cells, membranes, vessels])
def test_deterministic_by_seed_and_well_typed(make):
    a, b, c = make(2, 64, seed=1), make(2, 64, seed=1), make(2, 64, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.masks, c.masks)
    assert isinstance(a, ArrayDataset) and a.source == "synthetic" and a.num_classes == 2
    assert a.images.dtype == np.float32 and a.masks.dtype == np.int64
    assert 0 <= a.images.min() and a.images.max() <= 1
    assert set(np.unique(a.masks)) == {0, 1}


@pytest.mark.parametrize("make", [cells, membranes, vessels])
def test_too_small_is_refused(make):
    with pytest.raises(ValueError, match="size"):
        make(1, 16)
    with pytest.raises(ValueError, match="n >= 1"):
        make(0)


def test_cells_bright_nuclei_with_instances_that_touch():
    data = cells(6, 96, seed=0)
    assert data.images.shape == (6, 96, 96, 1) and data.classes == ("background", "nucleus")
    np.testing.assert_array_equal(data.masks, data.instances > 0)
    inside, outside = data.images[..., 0][data.masks == 1], data.images[..., 0][data.masks == 0]
    assert inside.mean() > outside.mean() + 0.25
    assert 0.05 < data.masks.mean() < 0.35
    for instances in data.instances:
        numbers = np.unique(instances)
        np.testing.assert_array_equal(numbers, np.arange(len(numbers)))  # 0, 1, 2, ... with no gaps
        for number in numbers[1:]:  # each nucleus is one piece
            assert ndimage.label(instances == number)[1] == 1
    assert sum(len(touching_pairs(instances)) for instances in data.instances) >= 6
    assert not touching_pairs(cells(3, 96, seed=0, touching=0.0).instances[0])


def test_membranes_are_thin_dark_and_close_cells():
    data = membranes(4, 128, seed=0)
    assert data.images.shape == (4, 128, 128, 1) and data.classes == ("membrane", "cell")
    assert data.instances is None
    assert 0.6 < data.masks.mean() < 0.9  # ISBI 2012: about 78 % cell interior
    image = data.images[..., 0]
    assert image[data.masks == 0].mean() < image[data.masks == 1].mean() - 0.2
    for mask in data.masks:
        assert ndimage.label(mask)[1] >= 15  # membranes enclose many separate cells
        # membranes are thin: apart from a few junctions, none is 7 px thick
        assert ndimage.binary_erosion(mask == 0, iterations=3).sum() < 0.03 * mask.size


def test_vessels_branch_inside_a_circular_field_of_view():
    data = vessels(4, 128, seed=0)
    assert data.images.shape == (4, 128, 128, 3) and data.classes == ("background", "vessel")
    assert data.fov.shape == (4, 128, 128) and data.fov.dtype == bool
    assert data.fov[0].sum() == pytest.approx(np.pi * (0.47 * 128) ** 2, rel=0.02)
    assert not data.masks[~data.fov].any() and not data.images[~data.fov].any()
    for image, mask, fov in zip(data.images, data.masks, data.fov):
        assert 0.04 < mask[fov].mean() < 0.25  # DRIVE: about 12 % of the field of view
        green = image[..., 1]
        assert green[mask == 1].mean() < green[(mask == 0) & fov].mean() - 0.05  # blood absorbs green
        sizes = np.bincount(ndimage.label(mask, np.ones((3, 3)))[0].ravel())[1:]
        assert sizes.max() > 0.9 * sizes.sum()  # one connected tree, not scattered specks
    widths = ndimage.distance_transform_edt(data.masks[0])
    assert (widths[data.masks[0] == 1] <= 1).mean() > 0.4  # most vessel pixels lie in thin vessels
