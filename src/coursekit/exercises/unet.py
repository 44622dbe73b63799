"""Checkers for chapter 4 (U-Net)."""

from __future__ import annotations

__all__: list[str] = []
