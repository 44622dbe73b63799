"""The optional activation at the end of a Keras model (see ``coursekit.models.common.check_head``)."""

from __future__ import annotations

from keras import layers


def add_head(logits, head):
    """Logits, or their softmax over the classes or their sigmoid, as ``head`` asks."""
    return logits if head is None else layers.Activation(head, name="head")(logits)
