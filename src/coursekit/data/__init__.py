"""Data: synthetic datasets made on the fly, the course's medical datasets, augmentation, tiling, loaders.

Transforms and tiling are taught in chapter 4 (U-Net), the loaders in chapter 5 (medical image data).
"""

from .adapters import to_tf_dataset, to_torch_loader
from .base import ArrayDataset
from .datasets import (
    ABDOMEN_WINDOW,
    CAMVID_CLASSES,
    DATASET_NAMES,
    LUNG_WINDOW,
    SEGNET_CAMVID_CLASS_WEIGHTS,
    DataFallbackWarning,
    FileDataset,
    how_to_get,
    load_dataset,
    sample_file,
)
from .download import ChecksumError, DownloadError, RegistrationRequired, data_root, download
from .io import DatasetError, DatasetNotFound, read_image, read_mask, read_stack, read_volume
from .synthetic import SHAPE_CLASSES, cells, membranes, shapes, vessels
from .tiling import predict_tiled, tile_grid
from .transforms import Compose, unet_augmentation

__all__ = ["ArrayDataset", "SHAPE_CLASSES", "shapes", "cells", "membranes", "vessels", "load_dataset",
           "DATASET_NAMES", "ABDOMEN_WINDOW", "LUNG_WINDOW", "CAMVID_CLASSES", "SEGNET_CAMVID_CLASS_WEIGHTS",
           "sample_file",
           "FileDataset", "DataFallbackWarning", "how_to_get", "download", "data_root",
           "DownloadError", "ChecksumError", "RegistrationRequired", "DatasetError", "DatasetNotFound",
           "read_image", "read_mask", "read_stack", "read_volume", "to_torch_loader", "to_tf_dataset",
           "predict_tiled", "tile_grid", "Compose", "unet_augmentation"]
