"""Models of the course, in PyTorch (``models.torch``) and Keras (``models.keras``).

``build(name, framework, ...)`` makes any of them; ``count_params`` counts
trainable parameters the same way in both frameworks; ``transfer_weights``
copies weights from a model in one framework to its twin in the other.
"""

from .registry import build, count_params, names
from .transfer import transfer_weights

__all__ = ["build", "count_params", "names", "transfer_weights"]
