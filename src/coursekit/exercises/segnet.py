"""Checkers for chapter 3 (SegNet)."""

from __future__ import annotations

__all__: list[str] = []
