"""Datasets: synthetic ones made on the fly, and the shape they all share."""

from .base import ArrayDataset
from .synthetic import SHAPE_CLASSES, shapes

__all__ = ["ArrayDataset", "SHAPE_CLASSES", "shapes"]
