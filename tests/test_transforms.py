import numpy as np
import pytest

from coursekit.data import shapes
from coursekit.data.transforms import (
    Compose,
    ElasticCrop,
    ElasticDeform,
    Flip,
    IntensityJitter,
    RandomCrop,
    Rotate90,
    adjust_intensity,
    elastic_field,
    flip,
    rotate90,
    unet_augmentation,
    upsample_displacements,
    warp,
    window_displacements,
)


def marked_pair(height=20, width=30, at=(3, 7)):
    """A blank image and mask with one pixel marked in both, to follow it through a transform."""
    image = np.zeros((height, width, 2), np.float32)
    mask = np.zeros((height, width), np.int64)
    image[at] = (1.0, 0.5)
    mask[at] = 5
    return image, mask


def marks(image, mask):
    image_at = tuple(np.argwhere(image[..., 0] == 1.0)[0])
    mask_at = tuple(np.argwhere(mask == 5)[0])
    return image_at, mask_at


@pytest.mark.parametrize("transform, expected", [
    (lambda i, m: flip(i, m, 0), (16, 7)),
    (lambda i, m: flip(i, m, 1), (3, 22)),
    (lambda i, m: rotate90(i, m, 1), (22, 3)),  # counter-clockwise: column 7 of 30 becomes row 30 - 1 - 7
    (lambda i, m: rotate90(i, m, 2), (16, 22)),
    (lambda i, m: rotate90(i, m, 3), (7, 16)),
])
def test_exact_transforms_move_image_and_mask_together(transform, expected):
    image, mask = transform(*marked_pair())
    assert marks(image, mask) == (expected, expected)
    assert image[expected].tolist() == [1.0, 0.5]  # every channel moved with it


def test_random_crop_moves_the_mark_and_has_the_size():
    rng = np.random.default_rng(0)
    for _ in range(20):
        image, mask = RandomCrop((12, 15))(*marked_pair(at=(10, 14)), rng)
        assert image.shape == (12, 15, 2) and mask.shape == (12, 15)
        if (mask == 5).any():
            image_at, mask_at = marks(image, mask)
            assert image_at == mask_at
        else:
            assert not (image[..., 0] == 1.0).any()


def test_random_crop_larger_than_the_image_is_an_error():
    image, mask = marked_pair(20, 30)
    with pytest.raises(ValueError, match="cannot crop 21×10"):
        RandomCrop((21, 10))(image, mask, np.random.default_rng(0))


def test_intensity_jitter_changes_the_image_only_and_stays_in_range():
    data = shapes(1, 32, seed=0)
    image, mask = data[0]
    jittered, same_mask = IntensityJitter(0.3, 0.5)(image, mask, np.random.default_rng(1))
    assert same_mask is mask
    assert not np.allclose(jittered, image) and jittered.dtype == np.float32
    assert 0.0 <= jittered.min() and jittered.max() <= 1.0
    brighter = adjust_intensity(np.full((2, 2, 1), 0.5, np.float32), brightness=0.2)
    np.testing.assert_allclose(brighter, 0.7)
    stretched = adjust_intensity(np.array([[[0.4], [0.6]]], np.float32), contrast=2.0)
    np.testing.assert_allclose(stretched.ravel(), [0.3, 0.7], atol=1e-6)


def test_zero_displacement_is_the_identity():
    image, mask = shapes(1, 40, seed=3)[0]
    warped, warped_mask = warp(image, mask, np.zeros((2, 40, 40)))
    np.testing.assert_allclose(warped, image, atol=1e-5)
    np.testing.assert_array_equal(warped_mask, mask)


def mirrored_nearest_warp(mask, field):
    """Reference: round each sampling position, mirror it into the image as numpy.pad(mode='reflect')."""
    rows, cols = np.indices(mask.shape)
    index = []
    for grid, offset, size in ((rows, field[0], mask.shape[0]), (cols, field[1], mask.shape[1])):
        nearest = np.rint(grid + offset).astype(int) % (2 * size - 2)
        index.append(np.where(nearest >= size, 2 * size - 2 - nearest, nearest))
    return mask[tuple(index)]


def blocky_labels(size=48, block=8, classes=4, seed=0):
    """Labels in square blocks, touching the borders, so mirrored samples matter."""
    coarse = np.random.default_rng(seed).integers(0, classes, (size // block, size // block))
    return np.kron(coarse, np.ones((block, block), np.int64))


def test_elastic_mask_is_the_nearest_warp_of_the_mask_with_the_same_field():
    mask = blocky_labels()
    image = np.zeros((*mask.shape, 1), np.float32)
    field = elastic_field(mask.shape, np.random.default_rng(7), sigma=10.0)
    _, warped_mask = warp(image, mask, field)
    assert warped_mask.dtype == np.int64
    np.testing.assert_array_equal(warped_mask, mirrored_nearest_warp(mask, field))
    assert not np.array_equal(warped_mask, mask)


def test_elastic_deformation_keeps_the_label_set_and_moves_the_image_with_the_mask():
    mask = blocky_labels(64, block=16, classes=5, seed=1)
    colours = np.random.default_rng(2).uniform(0, 1, (5, 3)).astype(np.float32)
    image = colours[mask]
    warped, warped_mask = ElasticDeform()(image, mask, np.random.default_rng(4))
    assert warped_mask.dtype == mask.dtype and warped.dtype == np.float32
    assert set(np.unique(warped_mask)) == set(np.unique(mask))
    # inside a region (away from label edges, where bicubic rings) the image has the region's colour
    padded = np.pad(warped_mask, 2, mode="edge")
    interior = np.ones(mask.shape, bool)
    for dy in range(5):
        for dx in range(5):
            interior &= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]] == warped_mask
    assert interior.mean() > 0.5
    error = np.abs(warped[interior] - colours[warped_mask[interior]])
    assert np.mean(error < 0.02) > 0.99 and error.max() < 0.1


def test_the_image_is_resampled_bicubic():
    # cubic interpolation reproduces a parabola away from the borders; linear interpolation is off by 2.5e-3
    x = np.arange(60, dtype=np.float64)
    image = np.tile(((x - 30) / 10) ** 2, (40, 1))[..., None].astype(np.float32)
    field = np.stack([np.zeros((40, 60)), np.full((40, 60), 0.5)])
    warped, _ = warp(image, np.zeros((40, 60), np.int64), field)
    np.testing.assert_allclose(warped[:, 12:-12, 0], np.tile(((x[12:-12] + 0.5 - 30) / 10) ** 2, (40, 1)), atol=1e-4)


def test_displacement_field_has_the_papers_scale_at_the_grid_nodes_and_is_smooth():
    size, draws = 65, 200  # an odd size puts the middle node on a pixel
    nodes = np.ix_([0, 1], [0, 32, 64], [0, 32, 64])
    rng = np.random.default_rng(0)
    at_nodes, steps = [], []
    for _ in range(draws):
        field = elastic_field((size, size), rng, sigma=10.0)
        at_nodes.append(field[nodes].ravel())
        steps.append(np.abs(np.diff(field, axis=1)).max())
    assert 9.5 < np.std(at_nodes) < 10.5  # 3600 samples: the estimate is within ±3 %
    assert abs(np.mean(at_nodes)) < 0.5
    assert np.median(steps) < 2.0  # neighbouring pixels move alike: smooth, not noise


def test_upsampling_passes_through_the_coarse_displacements():
    coarse = np.random.default_rng(3).normal(0, 10, (2, 3, 3))
    dense = upsample_displacements(coarse, (21, 41))
    np.testing.assert_allclose(dense[:, ::10, ::20], coarse, atol=1e-9)


def test_upsampling_is_smooth_without_a_kink_at_the_middle_node():
    # the curvature (second difference) changes gradually through the middle node; linear interpolation
    # would be straight on both sides (zero curvature) and bend only at the node
    coarse = np.random.default_rng(5).normal(0, 10, (2, 3, 3))
    curvature = np.diff(upsample_displacements(coarse, (41, 41)), 2, axis=-1)  # index 19 is the node, column 20
    jump = np.abs(curvature[..., 19] - curvature[..., [18, 20]].mean(-1))
    assert (jump < 0.25 * np.abs(curvature).max(-1)).all()


def test_same_seed_same_result_other_seed_other_result():
    image, mask = shapes(1, 48, seed=5)[0]
    augment = unet_augmentation(crop_size=40, flip_p=0.5, rotate_p=0.5, jitter_p=1.0, elastic_p=1.0)
    a = augment(image, mask, np.random.default_rng(11))
    b = augment(image, mask, np.random.default_rng(11))
    c = augment(image, mask, np.random.default_rng(12))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (40, 40, 3) and a[1].dtype == np.int64


def test_compose_applies_steps_with_their_probabilities():
    image, mask = marked_pair()
    always = Compose([Flip(1), (Flip(0), 1.0)])
    never = Compose([(Flip(1), 0.0), (Rotate90(), 0.0)])
    assert marks(*always(image, mask, np.random.default_rng(0))) == ((16, 22), (16, 22))
    assert marks(*never(image, mask, np.random.default_rng(0))) == ((3, 7), (3, 7))
    sometimes = Compose([(Flip(1), 0.3)])
    flipped = [marks(*sometimes(image, mask, np.random.default_rng(s)))[1][1] == 22 for s in range(400)]
    assert 0.22 < np.mean(flipped) < 0.38


def test_masks_with_several_label_maps_move_together():
    image, mask = marked_pair()
    stacked = np.stack([mask, 2 * mask], axis=-1)
    field = elastic_field(mask.shape, np.random.default_rng(0), sigma=3.0)
    _, warped = warp(image, stacked, field)
    np.testing.assert_array_equal(warped[..., 1], 2 * warped[..., 0])


@pytest.mark.parametrize("mask, match", [
    (np.zeros((8, 8), np.float32), "integer"),
    (np.zeros((8, 9), np.int64), "8×9"),
])
def test_bad_masks_are_refused(mask, match):
    with pytest.raises(ValueError, match=match):
        flip(np.zeros((8, 8, 1), np.float32), mask, 1)


def test_bad_probability_is_refused():
    with pytest.raises(ValueError, match="probability"):
        Compose([(Flip(1), 1.5)])


def test_a_window_of_the_field_is_the_whole_fields_window():
    coarse = np.random.default_rng(0).normal(0, 10, (2, 3, 3))
    whole = upsample_displacements(coarse, (96, 80))
    np.testing.assert_allclose(window_displacements(coarse, (96, 80), (30, 12), (40, 24)), whole[:, 30:70, 12:36])


def _largest_strain(field):
    return max(np.abs(np.gradient(component, axis=axis)).max() for component in field for axis in (0, 1))


def test_the_elastic_crop_strains_a_tile_as_the_whole_image_not_four_times_more():
    """The same 3×3 grid and sigma drawn over a 128-pixel tile instead of the 512-pixel image strains it four times
    as much; the elastic crop draws the grid over the image, so its tiles keep the image's strain."""
    tile, image = [], []
    for seed in range(60):
        coarse = np.random.default_rng(seed).normal(0, 10.0, (2, 3, 3))
        tile.append(_largest_strain(upsample_displacements(coarse, (128, 128))))
        image.append(_largest_strain(upsample_displacements(coarse, (512, 512))))
        for corner in ((0, 0), (192, 320), (384, 384)):  # a window is strained as much as its part of the image
            window = _largest_strain(window_displacements(coarse, (512, 512), corner, (128, 128)))
            assert window <= image[-1] + 1e-9
    assert 3.5 < np.median(tile) / np.median(image) < 4.5


def test_the_elastic_crop_is_the_plain_crop_without_deformation_and_keeps_the_labels():
    image, mask = shapes(1, 96, seed=3)[0]
    top, left = RandomCrop(40).corner(image.shape, np.random.default_rng(8))
    plain = (image[top:top + 40, left:left + 40], mask[top:top + 40, left:left + 40])
    for step in (ElasticCrop(40, probability=0.0), ElasticCrop(40, sigma=0.0, probability=1.0)):
        got = step(image, mask, np.random.default_rng(8))
        np.testing.assert_allclose(got[0], plain[0], atol=1e-6)
        np.testing.assert_array_equal(got[1], plain[1])
    deformed = ElasticCrop(40, sigma=6.0, probability=1.0)(image, mask, np.random.default_rng(8))
    assert deformed[0].shape == (40, 40, 3) and not np.array_equal(deformed[1], plain[1])
    assert set(np.unique(deformed[1])) <= set(np.unique(mask))
    with pytest.raises(ValueError, match="cannot crop 100×100 from a 96×96 image"):
        ElasticCrop(100)(image, mask, np.random.default_rng(0))


class _FixedDraws:
    """Stands in for the generator: the crop's corner, "deform", and every node displaced 5 rows down."""

    def __init__(self, corner):
        self.corners = list(corner)

    def integers(self, low, high):
        return self.corners.pop(0)

    def random(self):
        return 0.0

    def normal(self, loc, scale, size):
        return np.stack([np.full(size[1:], 5.0), np.zeros(size[1:])])


def test_what_moves_into_an_elastic_crop_comes_from_the_image_around_it():
    """A uniform shift of 5 rows shows the 5 rows below the tile, real image, where deforming the cut tile alone
    would mirror the tile's own last rows back in."""
    image = np.arange(64 * 64, dtype=np.float32).reshape(64, 64, 1) / 4096
    mask = (np.arange(64)[:, None] * np.ones(64, np.int64)).astype(np.int64)  # each row labelled by its number
    got_image, got_mask = ElasticCrop(16, sigma=3.0, probability=1.0)(image, mask, _FixedDraws((20, 30)))
    np.testing.assert_array_equal(got_mask, mask[25:41, 30:46])
    np.testing.assert_allclose(got_image, image[25:41, 30:46], atol=1e-5)
