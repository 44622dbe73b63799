"""Models of the course, in PyTorch (``models.torch``) and Keras (``models.keras``).

``build(name, framework, ...)`` makes any of them; ``count_params`` counts
trainable parameters the same way in both frameworks.
"""

from .registry import build, count_params, names

__all__ = ["build", "count_params", "names"]
