"""The paper estimate of the full profile on a T4 (benchmarks/t4.py; the performance appendix prints it)."""

import json

import pytest
import torch
from conftest import ROOT

from benchmarks import t4
from coursekit.models import build, count_multiply_adds, count_params
from coursekit.profiles import settings_for
from coursekit.results import RESULTS, SMOKE_PREFIX

SMOKE_FILES = sorted((ROOT / RESULTS).glob(f"{SMOKE_PREFIX}*.json"))


def test_every_chapter_is_listed():
    chapters = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.md"))
    assert sorted(t4.TRAININGS) == chapters


@pytest.mark.parametrize("path", SMOKE_FILES, ids=lambda p: p.name)
def test_the_trainings_are_those_the_smoke_run_saw_at_the_profile_s_sizes(path):
    """The list of trainings is written by hand; the full-profile smoke run recorded what each chapter trained."""
    runs = json.loads(path.read_text())["runs"]
    for chapter, trainings in t4.TRAININGS.items():
        seen = runs[chapter]["keras"]["trainings"]  # Keras names its models as the registry does
        assert [r["model"] for r in seen] == [t.model for t in trainings], chapter
        assert len(runs[chapter]["torch"]["trainings"]) == len(trainings), chapter
        for record, training in zip(seen, trainings):
            settings = settings_for(training.row, "full")
            assert tuple(record["image_shape"]) == (*settings.image_shape, training.in_channels), (chapter, record)
            assert (record["batch_size"], record["train_images"], record["epochs_requested"]) == (
                settings.batch_size, settings.train_images, settings.epochs), (chapter, record)


def test_counts_on_the_meta_device_equal_counts_of_a_real_model():
    training = t4.Training("segnet", "segnet", 4)
    counted = t4.cost(training, "quick")
    settings = settings_for("segnet", "quick")
    model = build("segnet", "torch", num_classes=4, width=settings.width)
    shape = (3, *settings.image_shape)
    assert counted.multiply_adds == count_multiply_adds(model, shape) > 0
    assert counted.weights == count_params(model)
    assert counted.index_values > 0  # SegNet keeps its pooling indices
    assert counted.images_seen == settings.epochs * settings.train_images


def test_layer_outputs_count_every_leaf_layer_s_values():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2, return_indices=True))
    floats, integers = t4._layer_outputs(model, 3, 8, 10)
    assert (floats, integers) == (5 * 8 * 10 * 2 + 5 * 4 * 5, 5 * 4 * 5)


def test_minutes_and_memory_follow_the_stated_rates():
    cost = t4.Cost(t4.Training("unet", "unet", 2), (256, 256), batch_size=4, images_seen=1000,
                   multiply_adds=10**10, weights=10**6, activation_values=10**7, index_values=0)
    assert cost.minutes("torch") == pytest.approx(3 * 10**13 / t4.RATE["mixed"] / 60)
    assert cost.minutes("keras") / cost.minutes("torch") == pytest.approx(1198 / 428)
    assert cost.training_gib("keras") == pytest.approx((4 * 10**7 * 4 + 16 * 10**6) / 2**30)
    assert cost.training_gib("torch") == pytest.approx((4 * 10**7 * 2 + 16 * 10**6) / 2**30)


def test_every_chapter_fits_a_t4_on_paper():
    """The goals of the performance appendix: a chapter that outgrows them is resized in profiles.py."""
    for estimate in t4.estimates():
        if estimate["costs"]:
            for framework in t4.PRECISION:
                assert estimate[f"{framework}_minutes"] <= t4.GOAL_MINUTES, (estimate["chapter"], framework)
                assert estimate[f"{framework}_gib"] <= t4.GOAL_GIB, (estimate["chapter"], framework)


def test_a_chapter_too_big_for_the_goals_is_reported(monkeypatch):
    monkeypatch.setitem(t4.TRAININGS, "04_unet", [t4.Training("unet_bn", "unet", 2, in_channels=1)] * 5)
    estimate = t4.chapter_estimate("04_unet")
    assert estimate["keras_minutes"] > t4.GOAL_MINUTES
    assert t4._verdict(estimate) == "**too big**"
    assert "**too big**" in t4.table()
