"""Models of the course, in PyTorch (``models.torch``) and Keras (``models.keras``).

``build(name, framework, ...)`` makes any of them; ``count_params`` counts
trainable parameters the same way in both frameworks; ``transfer_weights``
copies weights from a model in one framework to its twin in the other;
``summary`` prints the same layer table for both; ``forward`` gives a model's
class scores in its own layout (chapter 1); ``count_multiply_adds`` counts a
model's convolution arithmetic (chapter 7) and ``gradient_reach`` the input
pixels one output pixel sees (chapter 6); ``he_initialise``
starts a deep plain network trained from scratch (chapter 2).
``write_fake_imagenet_weights`` writes a weights file that ``build(...,
pretrained=<path>)`` loads like the real ImageNet weights, for a run without network.
"""

from .cost import count_multiply_adds, decoder_memory, gradient_reach
from .init import he_initialise
from .pretrained import write_fake_imagenet_weights
from .registry import Summary, build, count_params, forward, names, summary
from .transfer import transfer_weights

__all__ = ["Summary", "build", "count_multiply_adds", "count_params", "decoder_memory", "forward", "gradient_reach",
           "he_initialise", "names", "summary", "transfer_weights", "write_fake_imagenet_weights"]
