import numpy as np
import pytest

from coursekit.baselines import MajorityClass, OtsuThreshold, otsu_threshold
from coursekit.data import shapes


def test_otsu_threshold_splits_two_grey_levels_between_them():
    rng = np.random.default_rng(0)
    grey = np.concatenate([rng.normal(0.2, 0.03, 500), rng.normal(0.7, 0.03, 300)]).clip(0, 1)
    t = otsu_threshold(grey)
    assert 0.25 < t < 0.6  # anywhere in the empty gap between the two groups
    assert ((grey >= t) == (np.arange(800) >= 500)).all()


def test_otsu_threshold_of_a_flat_image_is_its_value():
    assert otsu_threshold(np.full(10, 0.4)) == pytest.approx(0.4)


def test_otsu_learns_which_side_is_which_class():
    rng = np.random.default_rng(1)
    masks = (rng.uniform(size=(4, 16, 16)) > 0.7).astype(np.int64)
    images = np.where(masks == 1, 0.1, 0.9)[..., None] + rng.normal(0, 0.02, (4, 16, 16, 1))  # class 1 is dark
    model = OtsuThreshold().fit(images, masks)
    assert (model.dark_label_, model.bright_label_) == (1, 0)
    assert (model.predict(images) == masks).all()


def test_majority_class_predicts_the_most_frequent_training_class():
    data = shapes(8, 32, seed=0)
    model = MajorityClass().fit(data.images, data.masks)
    assert model.label_ == np.bincount(data.masks.ravel()).argmax()
    assert (model.predict(data.images[:2]) == model.label_).all()


def test_baselines_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="N×H×W matching"):
        MajorityClass().fit(np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 5), np.int64))
    with pytest.raises(ValueError, match="N×H×W×C"):
        OtsuThreshold().predict(np.zeros((4, 4)))


def test_otsu_names_a_rare_dark_class_even_where_the_other_class_dominates_both_sides():
    """ISBI 2012's case: cells outnumber membranes on the dark side too, yet the dark side is the membrane."""
    rng = np.random.default_rng(2)
    masks = np.ones((2, 40, 40), np.int64)
    masks[:, ::5, :] = 0  # thin dark membranes: 20 % of the pixels
    grey = np.where(masks == 0, 0.2, 0.8)
    grey[:, 1::5, :] = grey[:, 2::5, :] = 0.2  # dark cell pixels: two thirds of the dark side is cell
    images = (grey + rng.normal(0, 0.02, grey.shape))[..., None]
    model = OtsuThreshold().fit(images, masks)
    assert (model.dark_label_, model.bright_label_) == (0, 1)
