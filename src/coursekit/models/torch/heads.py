"""The optional activation at the end of a PyTorch model (see ``coursekit.models.common.check_head``)."""

from __future__ import annotations

import torch


def apply_head(logits: torch.Tensor, head) -> torch.Tensor:
    """Logits, or their softmax over the classes or their sigmoid, as ``head`` asks."""
    if head == "softmax":
        return torch.softmax(logits, dim=1)
    return torch.sigmoid(logits) if head == "sigmoid" else logits
