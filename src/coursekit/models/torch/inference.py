"""Running a PyTorch model for its answers rather than for training.

A model in training mode updates batch norm's running statistics and applies
dropout on every call, and autograd records every operation for a backward pass
that never comes.  :func:`eval_mode` switches both off for a block of code and
then puts the model back as it was, so that predicting in the middle of a
training run (chapter 1's "Look at the results") changes nothing.
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Evaluation mode and no gradients inside the block; the model's own mode is restored after, even on error."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
