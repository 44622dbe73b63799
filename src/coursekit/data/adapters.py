"""From a coursekit dataset to batches for PyTorch or Keras (chapter 4).

A dataset is anything with ``len`` and indexing to ``(image, mask)``: image
``H×W×C`` (or ``H×W``) in [0, 1], mask ``H×W`` class indices (see
:class:`coursekit.data.ArrayDataset`).  Both adapters read the same items and
apply the same ``transform`` (a callable ``(image, mask, rng) -> (image,
mask)``, such as :class:`coursekit.data.transforms.Compose`) with the same
random numbers, so with the same ``seed`` a PyTorch loader and a tf.data
dataset give the same batches, augmented ones included:

* item ``i`` in epoch ``e`` is transformed with ``numpy.random.default_rng([seed, e, i])``,
  so an item's augmentation does not depend on the batch order or on which
  worker process loads it;
* with ``shuffle=True`` epoch ``e`` visits the items in the order
  ``default_rng([seed, e]).permutation(len(dataset))``.

Every pass over the loader or the dataset is a new epoch with new random
numbers.  PyTorch gets ``N×C×H×W`` float32 images and ``N×H×W`` int64 (long)
masks; TensorFlow ``N×H×W×C`` float32 and ``N×H×W`` int64, the layout each
framework's convolutions and losses expect.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

Transform = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


class _Items:
    """Items of a dataset, transformed with random numbers fixed by (seed, epoch, index)."""

    def __init__(self, dataset, transform: Transform | None, seed: int):
        if len(dataset) == 0:
            raise ValueError("the dataset is empty: there is nothing to batch")
        self.dataset, self.transform, self.seed = dataset, transform, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def order(self, epoch: int, shuffle: bool) -> np.ndarray:
        if shuffle:
            return np.random.default_rng([self.seed, epoch]).permutation(len(self))
        return np.arange(len(self))

    def get(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        image, mask = self.dataset[index]
        image, mask = np.asarray(image, np.float32), np.asarray(mask)
        if image.ndim == 2:
            image = image[..., None]
        if self.transform is not None:
            image, mask = self.transform(image, mask, np.random.default_rng([self.seed, epoch, index]))
        if image.ndim != 3 or mask.shape != image.shape[:2]:
            raise ValueError(f"item {index}: expected an H×W×C image and an H×W mask, got shapes "
                             f"{image.shape} and {mask.shape}")
        return np.ascontiguousarray(image, np.float32), np.ascontiguousarray(mask, np.int64)


# --- PyTorch ------------------------------------------------------------------
# DataLoader takes any object with __len__ and __getitem__ as a dataset and any
# iterable with __len__ as a sampler; plain classes keep torch out of the import
# and can be pickled into worker processes.


class _TorchItems:
    def __init__(self, items: _Items):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]):
        import torch

        image, mask = self.items.get(*key)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), torch.from_numpy(mask)


class _EpochSampler:
    """Yields ``(epoch, index)`` so that the item knows its epoch, in every worker process."""

    def __init__(self, items: _Items, shuffle: bool):
        self.items, self.shuffle = items, shuffle
        self.epochs = itertools.count()

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        epoch = next(self.epochs)
        return iter([(epoch, int(index)) for index in self.items.order(epoch, self.shuffle)])


def to_torch_loader(dataset, batch_size: int, shuffle: bool, transform: Transform | None = None, seed: int = 0,
                    num_workers: int = 0, drop_last: bool = False):
    """A ``torch.utils.data.DataLoader`` of (``N×C×H×W`` float32, ``N×H×W`` int64) batches.

    Items in a batch must have one size: give a ``transform`` that crops, or a
    dataset whose images share a size.
    """
    from torch.utils.data import DataLoader

    items = _Items(dataset, transform, seed)
    return DataLoader(_TorchItems(items), batch_size=batch_size, sampler=_EpochSampler(items, shuffle),
                      num_workers=num_workers, drop_last=drop_last)


# --- TensorFlow ---------------------------------------------------------------


def to_tf_dataset(dataset, batch_size: int, shuffle: bool, transform: Transform | None = None, seed: int = 0,
                  drop_last: bool = False):
    """A ``tf.data.Dataset`` of (``N×H×W×C`` float32, ``N×H×W`` int64) batches, for ``keras.Model.fit``.

    Items come from a Python generator (``tf.data.Dataset.from_generator``):
    the transforms run in Python, as for PyTorch, so they are the same NumPy
    code in both frameworks.  As for PyTorch, items in a batch must share a size.
    """
    import tensorflow as tf

    items = _Items(dataset, transform, seed)
    channels = items.get(0, 0)[0].shape[-1]
    epochs = itertools.count()

    def generate():
        epoch = next(epochs)
        for index in items.order(epoch, shuffle):
            yield items.get(epoch, int(index))

    signature = (tf.TensorSpec((None, None, channels), tf.float32), tf.TensorSpec((None, None), tf.int64))
    data = tf.data.Dataset.from_generator(generate, output_signature=signature)
    # a generator's length is unknown to tf.data; Keras needs it to know where an epoch ends
    data = data.apply(tf.data.experimental.assert_cardinality(len(items)))
    return data.batch(batch_size, drop_remainder=drop_last).prefetch(tf.data.AUTOTUNE)
