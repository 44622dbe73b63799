import pickle

import numpy as np
import pytest

from coursekit.data import ArrayDataset, shapes
from coursekit.data.adapters import to_tf_dataset, to_torch_loader
from coursekit.data.transforms import Flip, unet_augmentation

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def data():
    return shapes(7, 32, seed=0)


def torch_batches(loader):
    return [(images.permute(0, 2, 3, 1).numpy(), masks.numpy()) for images, masks in loader]


def tf_batches(dataset):
    return [(images.numpy(), masks.numpy()) for images, masks in dataset]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for (images_a, masks_a), (images_b, masks_b) in zip(a, b):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(masks_a, masks_b)


def test_layouts_and_types(data):
    images, masks = next(iter(to_torch_loader(data, 4, shuffle=False)))
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    assert masks.shape == (4, 32, 32) and masks.dtype == torch.int64
    images, masks = next(iter(to_tf_dataset(data, 4, shuffle=False)))
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
    assert masks.shape == (4, 32, 32) and masks.dtype == tf.int64


def test_without_transform_both_give_the_dataset_in_order(data):
    expected = [(data.images[i:i + 3], data.masks[i:i + 3]) for i in (0, 3, 6)]
    assert_same_batches(torch_batches(to_torch_loader(data, 3, shuffle=False)), expected)
    assert_same_batches(tf_batches(to_tf_dataset(data, 3, shuffle=False)), expected)


def test_transforms_are_applied(data):
    mirror = Flip(1)
    expected = [(data.images[:, :, ::-1][i:i + 4], data.masks[:, :, ::-1][i:i + 4]) for i in (0, 4)]
    assert_same_batches(torch_batches(to_torch_loader(data, 4, shuffle=False, transform=mirror)), expected)
    assert_same_batches(tf_batches(to_tf_dataset(data, 4, shuffle=False, transform=mirror)), expected)


def test_same_seed_same_augmented_batches_in_both_frameworks(data):
    augment = unet_augmentation(crop_size=24, elastic_p=1.0)
    loader = to_torch_loader(data, 3, shuffle=False, transform=augment, seed=5)
    dataset = to_tf_dataset(data, 3, shuffle=False, transform=augment, seed=5)
    first = torch_batches(loader)
    assert_same_batches(first, tf_batches(dataset))
    assert first[0][0].shape == (3, 24, 24, 3)
    # a second pass is a new epoch: new augmentations, again the same in both
    second = torch_batches(loader)
    assert not np.array_equal(first[0][0], second[0][0])
    assert_same_batches(second, tf_batches(dataset))


def test_shuffled_orders_agree_and_change_with_the_epoch():
    # the mask's first pixel numbers the item, so the order can be read off the batches
    images = np.zeros((10, 4, 4, 1), np.float32)
    masks = np.broadcast_to(np.arange(10)[:, None, None], (10, 4, 4)).astype(np.int64)
    data = ArrayDataset(images, masks, tuple(map(str, range(10))), np.zeros((10, 3), np.uint8), "synthetic")
    loader = to_torch_loader(data, 4, shuffle=True, seed=1)
    dataset = to_tf_dataset(data, 4, shuffle=True, seed=1)

    def order(batches):
        return np.concatenate([masks[:, 0, 0] for _, masks in batches]).tolist()

    first, second = order(torch_batches(loader)), order(torch_batches(loader))
    assert sorted(first) == list(range(10)) and first != list(range(10)) and first != second
    assert order(tf_batches(dataset)) == first and order(tf_batches(dataset)) == second


def test_worker_processes_give_the_same_batches(data):
    augment = unet_augmentation(elastic_p=1.0)
    single = torch_batches(to_torch_loader(data, 4, shuffle=True, transform=augment, seed=2))
    workers = torch_batches(to_torch_loader(data, 4, shuffle=True, transform=augment, seed=2, num_workers=2))
    assert_same_batches(single, workers)
    # where workers are spawned (macOS, Windows) the items travel pickled: they must come back whole
    loader = to_torch_loader(data, 4, shuffle=False, transform=augment, seed=2)
    copied = pickle.loads(pickle.dumps(loader.dataset))
    np.testing.assert_array_equal(copied[(0, 3)][0].numpy(), loader.dataset[(0, 3)][0].numpy())


def test_drop_last_and_an_empty_dataset(data):
    assert len(list(to_torch_loader(data, 3, shuffle=False, drop_last=True))) == 2
    assert len(list(to_tf_dataset(data, 3, shuffle=False, drop_last=True))) == 2
    # Keras reads the number of batches per epoch from the cardinality
    assert to_tf_dataset(data, 3, shuffle=False).cardinality().numpy() == 3
    assert to_tf_dataset(data, 3, shuffle=False, drop_last=True).cardinality().numpy() == 2
    empty = shapes(1, 16)
    empty.images, empty.masks = empty.images[:0], empty.masks[:0]
    with pytest.raises(ValueError, match="empty"):
        to_torch_loader(empty, 2, shuffle=False)
